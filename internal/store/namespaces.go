package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

func getNamespace(ctx context.Context, t *tx, name string) (core.Namespace, error) {
	var n core.Namespace
	var created int64
	var userID, window sql.NullInt64
	var email sql.NullString
	err := t.queryRow(ctx, `SELECT id, name, kind, email, user_id, created_at, tag_expiration_s FROM namespaces WHERE name = ?`, name).
		Scan(&n.ID, &n.Name, &n.Kind, &email, &userID, &created, &window)
	if errors.Is(err, sql.ErrNoRows) {
		return n, core.Errorf(core.CodeNotFound, "namespace %q not found", name)
	}
	if err != nil {
		return n, fmt.Errorf("get namespace: %w", err)
	}
	n.Email, n.UserID, n.CreatedAt = email.String, userID.Int64, time.UnixMilli(created)
	n.TagExpirationS = -1
	if window.Valid {
		n.TagExpirationS = window.Int64
	}
	return n, nil
}

// SetNamespaceTagExpiration sets a namespace's time-machine window in
// seconds (Quay's tag_expiration_s), or core.CodeNotFound. The caller checks
// the value against the configured options.
func (db *DB) SetNamespaceTagExpiration(ctx context.Context, name string, seconds int64) error {
	if seconds < 0 {
		return core.Errorf(core.CodeInvalid, "tag_expiration_s must not be negative")
	}
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, name)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE namespaces SET tag_expiration_s = ? WHERE id = ?`, seconds, n.ID); err != nil {
			return fmt.Errorf("set tag expiration: %w", err)
		}
		kind := core.LogUserChangeTagExpiration
		if n.IsOrg() {
			kind = core.LogOrgChangeTagExpiration
		}
		return logAction(ctx, t, kind, n.ID, 0, auditMeta{"tag_expiration": seconds})
	})
}

// Namespace returns a user namespace or organization by name, or
// core.CodeNotFound.
func (db *DB) Namespace(ctx context.Context, name string) (core.Namespace, error) {
	var n core.Namespace
	err := db.read(ctx, func(t *tx) error {
		var err error
		n, err = getNamespace(ctx, t, name)
		return err
	})
	return n, err
}

// CreateOrganization creates an organization with an "owners" team (admin)
// whose only member is the creator.
func (db *DB) CreateOrganization(ctx context.Context, name, email string, creatorID int64) (core.Namespace, error) {
	var n core.Namespace
	err := db.write(ctx, func(t *tx) error {
		var err error
		n, err = createOrg(ctx, t, name, email, creatorID)
		return err
	})
	return n, err
}

func createOrg(ctx context.Context, t *tx, name, email string, creatorID int64) (core.Namespace, error) {
	if err := nameFree(ctx, t, name); err != nil {
		return core.Namespace{}, err
	}
	var id int64
	if err := t.queryRow(ctx, `INSERT INTO namespaces (name, kind, email, created_at) VALUES (?, 'org', ?, ?) RETURNING id`,
		name, nullString(email), t.now).Scan(&id); err != nil {
		return core.Namespace{}, fmt.Errorf("create organization: %w", err)
	}
	var teamID int64
	if err := t.queryRow(ctx, `INSERT INTO teams (namespace_id, name, role, description, created_at) VALUES (?, ?, 'admin', 'Organization owners', ?) RETURNING id`,
		id, core.OwnersTeam, t.now).Scan(&teamID); err != nil {
		return core.Namespace{}, fmt.Errorf("create owners team: %w", err)
	}
	if creatorID != 0 {
		if _, err := t.exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES (?, ?)`, teamID, creatorID); err != nil {
			return core.Namespace{}, fmt.Errorf("add owner: %w", err)
		}
	}
	if err := logAction(ctx, t, core.LogOrgCreate, id, 0, auditMeta{"email": email}); err != nil {
		return core.Namespace{}, err
	}
	return getNamespace(ctx, t, name)
}

// UpdateOrganization sets an organization's email.
func (db *DB) UpdateOrganization(ctx context.Context, name, email string) error {
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, name)
		if err != nil {
			return err
		}
		if !n.IsOrg() {
			return core.Errorf(core.CodeNotFound, "organization %q not found", name)
		}
		if _, err = t.exec(ctx, `UPDATE namespaces SET email = ? WHERE id = ?`, nullString(email), n.ID); err != nil {
			return err
		}
		return logAction(ctx, t, core.LogOrgChangeEmail, n.ID, 0, auditMeta{"email": email})
	})
}

// DeleteOrganization deletes an organization with its repositories, teams and
// robots.
func (db *DB) DeleteOrganization(ctx context.Context, name string) error {
	return db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, name)
		if err != nil {
			return err
		}
		if !n.IsOrg() {
			return core.Errorf(core.CodeNotFound, "organization %q not found", name)
		}
		if err := logAction(ctx, t, core.LogOrgDelete, n.ID, 0, nil); err != nil {
			return err
		}
		return deleteNamespace(ctx, t, n.ID)
	})
}

// deleteNamespace removes a namespace's repositories (their manifests, tags
// and permissions cascade; their blobs are queued for garbage collection),
// robots and the namespace itself.
func deleteNamespace(ctx context.Context, t *tx, id int64) error {
	rows, err := t.query(ctx, `SELECT id FROM repositories WHERE namespace_id = ? ORDER BY id`, id)
	if err != nil {
		return fmt.Errorf("namespace repositories: %w", err)
	}
	var repos []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return fmt.Errorf("namespace repositories: %w", err)
		}
		repos = append(repos, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("namespace repositories: %w", err)
	}
	for _, r := range repos {
		if err := queueRepositoryBlobs(ctx, t, r); err != nil {
			return err
		}
	}
	if _, err := t.exec(ctx, `DELETE FROM repositories WHERE namespace_id = ?`, id); err != nil {
		return fmt.Errorf("delete repositories: %w", err)
	}
	if _, err := t.exec(ctx, `DELETE FROM users WHERE robot_namespace_id = ?`, id); err != nil {
		return fmt.Errorf("delete robots: %w", err)
	}
	if _, err := t.exec(ctx, `DELETE FROM namespaces WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete namespace: %w", err)
	}
	return nil
}

// NamespaceRole returns a person's or robot's role in a namespace: admin for
// the owner of a user namespace, else the strongest team role in an
// organization (admin, creator, member), or "".
func (db *DB) NamespaceRole(ctx context.Context, userID int64, namespace string) (string, error) {
	var role string
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			if core.IsCode(err, core.CodeNotFound) {
				return nil
			}
			return err
		}
		role, err = namespaceRole(ctx, t, userID, n)
		return err
	})
	return role, err
}

func namespaceRole(ctx context.Context, t *tx, userID int64, n core.Namespace) (string, error) {
	if userID == 0 {
		return "", nil
	}
	if !n.IsOrg() {
		if n.UserID == userID {
			return core.TeamAdmin, nil
		}
		return "", nil
	}
	rows, err := t.query(ctx, `SELECT t.role FROM teams t JOIN team_members tm ON tm.team_id = t.id
		WHERE t.namespace_id = ? AND tm.user_id = ?`, n.ID, userID)
	if err != nil {
		return "", fmt.Errorf("namespace role: %w", err)
	}
	defer rows.Close()
	best := ""
	rank := map[string]int{core.TeamMember: 1, core.TeamCreator: 2, core.TeamAdmin: 3}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return "", err
		}
		if rank[r] > rank[best] {
			best = r
		}
	}
	return best, rows.Err()
}

// UserOrganizations lists the organizations a person or robot is a member of.
func (db *DB) UserOrganizations(ctx context.Context, userID int64) ([]core.Namespace, error) {
	var out []core.Namespace
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT DISTINCT n.name FROM namespaces n JOIN teams t ON t.namespace_id = n.id
			JOIN team_members tm ON tm.team_id = t.id WHERE tm.user_id = ? ORDER BY n.name`, userID)
		if err != nil {
			return fmt.Errorf("user organizations: %w", err)
		}
		var names []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			names = append(names, s)
		}
		rows.Close()
		for _, s := range names {
			n, err := getNamespace(ctx, t, s)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}
