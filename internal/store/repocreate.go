package store

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

// NewRepository is a repository to create.
type NewRepository struct {
	FullName    string
	Visibility  string // public or private
	Description string
	// Creator gets admin on the repository (Quay's rule for people and
	// robots), and the organization's default permissions apply to it.
	CreatorID int64
	// CreateNamespace creates a missing namespace as an organization owned
	// by the creator (Quay's CREATE_NAMESPACE_ON_PUSH).
	CreateNamespace bool
}

// CreateRepository creates a repository, or returns core.CodeConflict if it
// exists.
func (db *DB) CreateRepository(ctx context.Context, nr NewRepository) (core.Repository, error) {
	var repo core.Repository
	err := db.write(ctx, func(t *tx) error {
		if _, err := getRepo(ctx, t, nr.FullName); err == nil {
			return core.Errorf(core.CodeConflict, "repository %q already exists", nr.FullName)
		}
		var err error
		repo, err = createRepo(ctx, t, nr)
		return err
	})
	return repo, err
}

// createRepo creates a repository (and, if asked, its namespace), gives the
// creator admin and applies the organization's default permissions.
func createRepo(ctx context.Context, t *tx, nr NewRepository) (core.Repository, error) {
	if err := oci.ValidateName(nr.FullName); err != nil {
		return core.Repository{}, err
	}
	nsName, name := oci.SplitName(nr.FullName)
	ns, err := getNamespace(ctx, t, nsName)
	if core.IsCode(err, core.CodeNotFound) && nr.CreateNamespace {
		ns, err = createOrg(ctx, t, nsName, "", nr.CreatorID)
	}
	if err != nil {
		return core.Repository{}, err
	}
	vis := nr.Visibility
	if vis != core.VisibilityPublic {
		vis = core.VisibilityPrivate
	}
	var id int64
	if err := t.queryRow(ctx, `INSERT INTO repositories (namespace_id, name, full_name, visibility, state, description, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, ns.ID, name, nr.FullName, vis, core.RepoStateNormal, nr.Description, t.now).Scan(&id); err != nil {
		return core.Repository{}, fmt.Errorf("create repository: %w", err)
	}
	if err := logAction(ctx, t, core.LogCreateRepo, 0, id, auditMeta{"visibility": vis}); err != nil {
		return core.Repository{}, err
	}
	if nr.CreatorID != 0 && ns.UserID != nr.CreatorID {
		if err := setPermission(ctx, t, id, nr.CreatorID, 0, core.RoleAdmin); err != nil {
			return core.Repository{}, err
		}
		if ns.IsOrg() {
			if err := applyPrototypes(ctx, t, ns.ID, id, nr.CreatorID); err != nil {
				return core.Repository{}, err
			}
		}
	}
	return getRepo(ctx, t, nr.FullName)
}

// RepositoryUpdate changes the fields that are set.
type RepositoryUpdate struct {
	Description *string
	Visibility  *string
	State       *string
}

// UpdateRepository applies an update.
func (db *DB) UpdateRepository(ctx context.Context, fullName string, up RepositoryUpdate) (core.Repository, error) {
	var repo core.Repository
	err := db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, fullName)
		if err != nil {
			return err
		}
		if up.Description != nil {
			if _, err := t.exec(ctx, `UPDATE repositories SET description = ? WHERE id = ?`, *up.Description, r.ID); err != nil {
				return fmt.Errorf("update repository: %w", err)
			}
			if err := logAction(ctx, t, core.LogSetRepoDescription, 0, r.ID, auditMeta{"description": *up.Description}); err != nil {
				return err
			}
		}
		if up.Visibility != nil {
			if _, err := t.exec(ctx, `UPDATE repositories SET visibility = ? WHERE id = ?`, *up.Visibility, r.ID); err != nil {
				return fmt.Errorf("update repository: %w", err)
			}
			if err := logAction(ctx, t, core.LogChangeRepoVisibility, 0, r.ID, auditMeta{"visibility": *up.Visibility}); err != nil {
				return err
			}
		}
		if up.State != nil {
			if _, err := t.exec(ctx, `UPDATE repositories SET state = ? WHERE id = ?`, *up.State, r.ID); err != nil {
				return fmt.Errorf("update repository: %w", err)
			}
			if err := logAction(ctx, t, core.LogChangeRepoState, 0, r.ID, auditMeta{"state_changed": *up.State}); err != nil {
				return err
			}
		}
		repo, err = getRepo(ctx, t, fullName)
		return err
	})
	return repo, err
}

// DeleteRepository deletes a repository with its tags, manifests, upload
// sessions and permissions, and enqueues JobRepositoryGC in the same
// transaction for what lives outside the database (upload bytes). Blob bytes
// are left to garbage collection.
func (db *DB) DeleteRepository(ctx context.Context, fullName string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, fullName)
		if err != nil {
			return err
		}
		uploads, err := repoUploads(ctx, t, r.ID)
		if err != nil {
			return err
		}
		if err := releaseRepositoryUsage(ctx, t, r.ID); err != nil {
			return err
		}
		if err := logAction(ctx, t, core.LogDeleteRepo, 0, r.ID, nil); err != nil {
			return err
		}
		if err := queueRepositoryBlobs(ctx, t, r.ID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM repositories WHERE id = ?`, r.ID); err != nil {
			return fmt.Errorf("delete repository: %w", err)
		}
		return db.enqueue(ctx, t, JobRepositoryGC, RepositoryGCArgs{Repository: fullName, Uploads: uploads})
	})
}

// queueRepositoryBlobs makes every blob a repository links or references a
// GC candidate, due at once, before its rows go with the repository: GC may
// have examined (and dequeued) them while they were referenced, and nothing
// else would queue them again.
func queueRepositoryBlobs(ctx context.Context, t *tx, repoID int64) error {
	for _, q := range []string{
		`INSERT INTO gc_blob_queue (digest, queued_at) SELECT DISTINCT digest, 0 FROM repository_blobs
			WHERE repository_id = ? ON CONFLICT (digest) DO NOTHING`,
		`INSERT INTO gc_blob_queue (digest, queued_at) SELECT DISTINCT mb.digest, 0 FROM manifest_blobs mb
			JOIN manifests m ON m.id = mb.manifest_id WHERE m.repository_id = ? ON CONFLICT (digest) DO NOTHING`,
	} {
		if _, err := t.exec(ctx, q, repoID); err != nil {
			return fmt.Errorf("queue repository blobs for gc: %w", err)
		}
	}
	return nil
}

func repoUploads(ctx context.Context, t *tx, repoID int64) ([]string, error) {
	rows, err := t.query(ctx, `SELECT id FROM uploads WHERE repository_id = ? ORDER BY id`, repoID)
	if err != nil {
		return nil, fmt.Errorf("repository uploads: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RepositoryFilter selects repositories for ListRepositories.
type RepositoryFilter struct {
	Namespace string // only this namespace, if set
	// PublicOnly lists only public repositories.
	PublicOnly bool
	// Viewer sees public repositories (when IncludePublic) and those it has a
	// role on; AllAccess (superuser) sees everything.
	ViewerID      int64
	IncludePublic bool
	AllAccess     bool
	After         string // full name to start after
	Limit         int
}

// readableClause is the SQL condition "the viewer can read repository r".
const readableClause = `(n.user_id = ?
	OR EXISTS (SELECT 1 FROM repository_permissions p WHERE p.repository_id = r.id AND p.user_id = ?)
	OR EXISTS (SELECT 1 FROM repository_permissions p JOIN team_members tm ON tm.team_id = p.team_id
		WHERE p.repository_id = r.id AND tm.user_id = ?)
	OR EXISTS (SELECT 1 FROM teams tt JOIN team_members tm ON tm.team_id = tt.id
		WHERE tt.namespace_id = r.namespace_id AND tt.role = 'admin' AND tm.user_id = ?))`

// ListRepositories lists the repositories a viewer may read, in name order.
func (db *DB) ListRepositories(ctx context.Context, f RepositoryFilter) ([]core.Repository, error) {
	var out []core.Repository
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT ` + repoColumns + ` FROM repositories r JOIN namespaces n ON n.id = r.namespace_id WHERE r.full_name > ?`
		args := []any{f.After}
		if f.Namespace != "" {
			q += ` AND n.name = ?`
			args = append(args, f.Namespace)
		}
		switch {
		case f.PublicOnly:
			q += ` AND r.visibility = 'public'`
		case f.AllAccess:
		default:
			cond := `(` + readableClause
			v := f.ViewerID
			args = append(args, v, v, v, v)
			if f.IncludePublic {
				cond += ` OR r.visibility = 'public'`
			}
			q += ` AND ` + cond + `)`
		}
		q += ` ORDER BY r.full_name`
		if f.Limit > 0 {
			q += ` LIMIT ?`
			args = append(args, f.Limit)
		}
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("list repositories: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRepo(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}
