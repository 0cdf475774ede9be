package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// RepositoryBlob returns the size of a blob linked to the repository, or
// core.CodeBlobUnknown.
func (db *DB) RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := db.read(ctx, func(t *tx) error {
		err := t.queryRow(ctx, `SELECT b.size FROM repository_blobs rb
			JOIN repositories r ON r.id = rb.repository_id
			JOIN blobs b ON b.digest = rb.digest
			WHERE r.full_name = ? AND rb.digest = ?`, repo, string(d)).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeBlobUnknown, "blob %s not found in %s", d, repo)
		}
		return err
	})
	return size, err
}

// CommitBlob records a blob whose bytes are committed to the blob store, links
// it to the repository (created if needed) and ends the upload session uploadID
// (if not empty), in one transaction.
func (db *DB) CommitBlob(ctx context.Context, repo string, d digest.Digest, size int64, uploadID string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := ensureRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`, string(d), size, t.now); err != nil {
			return fmt.Errorf("insert blob: %w", err)
		}
		if err := linkBlob(ctx, t, r.ID, d); err != nil {
			return err
		}
		if err := db.placeBlob(ctx, t, r.ID, d, true); err != nil {
			return err
		}
		if uploadID != "" {
			if _, err := t.exec(ctx, `DELETE FROM uploads WHERE id = ?`, uploadID); err != nil {
				return fmt.Errorf("end upload: %w", err)
			}
		}
		return nil
	})
}

func linkBlob(ctx context.Context, t *tx, repoID int64, d digest.Digest) error {
	if _, err := t.exec(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
		ON CONFLICT (repository_id, digest) DO NOTHING`, repoID, string(d), t.now); err != nil {
		return fmt.Errorf("link blob: %w", err)
	}
	// A new or renewed link starts the blob's grace period.
	return queueBlob(ctx, t, d, t.now)
}

// MountBlob links a blob into repo from the repository from (which must hold
// it), or, when from is empty, from any repository for which canRead returns
// true. It returns the blob's size, or core.CodeBlobUnknown when nothing could
// be mounted.
func (db *DB) MountBlob(ctx context.Context, repo, from string, d digest.Digest, canRead func(repo string) bool) (int64, error) {
	var size int64
	err := db.write(ctx, func(t *tx) error {
		var sources []string
		if from != "" {
			sources = []string{from}
		} else {
			rows, err := t.query(ctx, `SELECT r.full_name FROM repository_blobs rb
				JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = ? ORDER BY r.full_name LIMIT 100`, string(d))
			if err != nil {
				return fmt.Errorf("mount: %w", err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					rows.Close()
					return err
				}
				sources = append(sources, s)
			}
			rows.Close()
		}
		for _, src := range sources {
			if canRead != nil && !canRead(src) {
				continue
			}
			err := t.queryRow(ctx, `SELECT b.size FROM repository_blobs rb
				JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
				WHERE r.full_name = ? AND rb.digest = ?`, src, string(d)).Scan(&size)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("mount: %w", err)
			}
			r, err := ensureRepo(ctx, t, repo)
			if err != nil {
				return err
			}
			if err := linkBlob(ctx, t, r.ID, d); err != nil {
				return err
			}
			return db.placeBlob(ctx, t, r.ID, d, false)
		}
		return core.Errorf(core.CodeBlobUnknown, "blob %s not available for mount", d)
	})
	return size, err
}

// UnlinkBlob removes a blob from a repository. The bytes stay until garbage
// collection finds no reference to them.
func (db *DB) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return db.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM repository_blobs WHERE digest = ?
			AND repository_id = (SELECT id FROM repositories WHERE full_name = ?)`, string(d), repo)
		if err != nil {
			return fmt.Errorf("unlink blob: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeBlobUnknown, "blob %s not found in %s", d, repo)
		}
		return queueBlob(ctx, t, d, t.now)
	})
}
