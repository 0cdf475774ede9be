package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// Session is a login session.
type Session struct {
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateSession stores a session under the hash of its id.
func (db *DB) CreateSession(ctx context.Context, idHash string, userID int64, csrf string, expires time.Time) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM sessions WHERE expires_at < ?`, t.now); err != nil {
			return fmt.Errorf("expire sessions: %w", err)
		}
		_, err := t.exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			idHash, userID, csrf, t.now, expires.UnixMilli())
		return err
	})
}

// SessionByHash returns a live session, or core.CodeNotFound.
func (db *DB) SessionByHash(ctx context.Context, idHash string) (Session, error) {
	var s Session
	err := db.read(ctx, func(t *tx) error {
		var created, expires int64
		err := t.queryRow(ctx, `SELECT user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?`,
			idHash, db.nowMs()).Scan(&s.UserID, &s.CSRFToken, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "session not found")
		}
		s.CreatedAt, s.ExpiresAt = time.UnixMilli(created), time.UnixMilli(expires)
		return err
	})
	return s, err
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return err
	})
}
