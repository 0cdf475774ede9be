package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

const repoColumns = `r.id, n.name, r.name, r.full_name, r.visibility, r.state, r.description, r.created_at`

func scanRepo(row interface{ Scan(...any) error }) (core.Repository, error) {
	var r core.Repository
	var created int64
	err := row.Scan(&r.ID, &r.Namespace, &r.Name, &r.FullName, &r.Visibility, &r.State, &r.Description, &created)
	r.CreatedAt = time.UnixMilli(created)
	return r, err
}

// Repository returns a repository by its full name, or core.CodeNameUnknown.
func (db *DB) Repository(ctx context.Context, fullName string) (core.Repository, error) {
	var repo core.Repository
	err := db.read(ctx, func(t *tx) error {
		var err error
		repo, err = getRepo(ctx, t, fullName)
		return err
	})
	return repo, err
}

func getRepo(ctx context.Context, t *tx, fullName string) (core.Repository, error) {
	r, err := scanRepo(t.queryRow(ctx, `SELECT `+repoColumns+`
		FROM repositories r JOIN namespaces n ON n.id = r.namespace_id WHERE r.full_name = ?`, fullName))
	if errors.Is(err, sql.ErrNoRows) {
		return r, core.Errorf(core.CodeNameUnknown, "repository %q not found", fullName)
	}
	if err != nil {
		return r, fmt.Errorf("get repository: %w", err)
	}
	return r, nil
}

// EnsureRepository returns the repository, creating it (and its namespace) when
// missing, as a push does.
func (db *DB) EnsureRepository(ctx context.Context, fullName string) (core.Repository, error) {
	var repo core.Repository
	err := db.write(ctx, func(t *tx) error {
		var err error
		repo, err = ensureRepo(ctx, t, fullName)
		return err
	})
	return repo, err
}

func ensureRepo(ctx context.Context, t *tx, fullName string) (core.Repository, error) {
	r, err := getRepo(ctx, t, fullName)
	if err == nil || !core.IsCode(err, core.CodeNameUnknown) {
		return r, err
	}
	if err := oci.ValidateName(fullName); err != nil {
		return r, err
	}
	ns, name := oci.SplitName(fullName)
	if _, err := t.exec(ctx, `INSERT INTO namespaces (name, kind, created_at) VALUES (?, 'user', ?)
		ON CONFLICT (name) DO NOTHING`, ns, t.now); err != nil {
		return r, fmt.Errorf("create namespace: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO repositories (namespace_id, name, full_name, visibility, state, created_at)
		SELECT id, ?, ?, ?, ?, ? FROM namespaces WHERE name = ?
		ON CONFLICT (full_name) DO NOTHING`,
		name, fullName, core.VisibilityPrivate, core.RepoStateNormal, t.now, ns); err != nil {
		return r, fmt.Errorf("create repository: %w", err)
	}
	return getRepo(ctx, t, fullName)
}

// Catalog lists repository names in lexical order after last, at most n
// (n <= 0: all).
func (db *DB) Catalog(ctx context.Context, last string, n int) ([]string, error) {
	var names []string
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT full_name FROM repositories WHERE full_name > ? ORDER BY full_name`
		args := []any{last}
		if n > 0 {
			q += ` LIMIT ?`
			args = append(args, n)
		}
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			names = append(names, s)
		}
		return rows.Err()
	})
	return names, err
}
