package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// CreateUpload records a new upload session for repo (created if needed).
func (db *DB) CreateUpload(ctx context.Context, repo, id string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := ensureRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO uploads (id, repository_id, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			id, r.ID, t.now, t.now); err != nil {
			return fmt.Errorf("create upload: %w", err)
		}
		return nil
	})
}

// Upload returns the session id of repo, or core.CodeBlobUploadUnknown (also
// when the session belongs to another repository).
func (db *DB) Upload(ctx context.Context, repo, id string) (core.Upload, error) {
	var u core.Upload
	err := db.read(ctx, func(t *tx) error {
		var created, updated int64
		err := t.queryRow(ctx, `SELECT u.id, u.repository_id, r.full_name, u.created_at, u.updated_at
			FROM uploads u JOIN repositories r ON r.id = u.repository_id
			WHERE u.id = ? AND r.full_name = ?`, id, repo).Scan(&u.ID, &u.RepositoryID, &u.Repository, &created, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeBlobUploadUnknown, "upload %q not found", id)
		}
		if err != nil {
			return fmt.Errorf("get upload: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
		return nil
	})
	return u, err
}

// TouchUpload marks a session as active now.
func (db *DB) TouchUpload(ctx context.Context, id string) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE uploads SET updated_at = ? WHERE id = ?`, t.now, id)
		return err
	})
}

// DeleteUpload ends a session. Missing sessions are not an error.
func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM uploads WHERE id = ?`, id)
		return err
	})
}

// StaleUploads lists sessions not touched since before, at most limit.
func (db *DB) StaleUploads(ctx context.Context, before time.Time, limit int) ([]string, error) {
	var ids []string
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT id FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?`, before.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("stale uploads: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// UploadExists reports whether a session id is recorded.
func (db *DB) UploadExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := db.read(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM uploads WHERE id = ?`, id).Scan(&n)
	})
	return n > 0, err
}
