package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// setTag points tag at manifest id: the current row (if any, and different)
// ends and a new row starts.
func setTag(ctx context.Context, t *tx, repoID int64, name string, manifestID int64) error {
	var curID, curManifest int64
	err := t.queryRow(ctx, `SELECT id, manifest_id FROM tags WHERE repository_id = ? AND name = ? AND lifetime_end IS NULL`,
		repoID, name).Scan(&curID, &curManifest)
	switch {
	case err == nil && curManifest == manifestID:
		return nil
	case err == nil:
		if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, t.now, curID); err != nil {
			return fmt.Errorf("end tag: %w", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("find tag: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO tags (repository_id, name, manifest_id, lifetime_start) VALUES (?, ?, ?, ?)`,
		repoID, name, manifestID, t.now); err != nil {
		return fmt.Errorf("start tag: %w", err)
	}
	return nil
}

// DeleteTag ends the current row of a tag, or returns core.CodeManifestUnknown.
func (db *DB) DeleteTag(ctx context.Context, repo, name string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE repository_id = ? AND name = ? AND lifetime_end IS NULL`,
			t.now, r.ID, name)
		if err != nil {
			return fmt.Errorf("delete tag: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errTagUnknown(name, repo)
		}
		return nil
	})
}

// Tags lists the current tag names of repo in lexical order after last, at
// most n (n <= 0: all), or core.CodeNameUnknown.
func (db *DB) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	var names []string
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		q := `SELECT name FROM tags WHERE repository_id = ? AND lifetime_end IS NULL AND name > ? ORDER BY name`
		args := []any{r.ID, last}
		if n > 0 {
			q += ` LIMIT ?`
			args = append(args, n)
		}
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("list tags: %w", err)
		}
		defer rows.Close()
		names = []string{}
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
