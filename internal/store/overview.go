package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// NamespaceSummary is one namespace as the superuser panel lists it.
type NamespaceSummary struct {
	Name         string
	Kind         string // "user" or "org" (core.NamespaceUser, core.NamespaceOrg)
	Email        string
	CreatedAt    time.Time
	Repositories int64
	// UsageBytes is the online quota usage (namespace_usage.bytes).
	UsageBytes int64
	// QuotaBytes is the configured limit, 0 when none.
	QuotaBytes int64
}

// NamespaceSummaries lists every user namespace and organization in name
// order, with its repository count and storage usage. kind filters by
// namespace kind ("" lists both).
func (db *DB) NamespaceSummaries(ctx context.Context, kind string) ([]NamespaceSummary, error) {
	var out []NamespaceSummary
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT n.name, n.kind, n.email, n.created_at,
			(SELECT COUNT(*) FROM repositories r WHERE r.namespace_id = n.id),
			COALESCE((SELECT u.bytes FROM namespace_usage u WHERE u.namespace_id = n.id), 0),
			COALESCE((SELECT MAX(q.limit_bytes) FROM namespace_quotas q WHERE q.namespace_id = n.id), 0)
			FROM namespaces n`
		var args []any
		if kind != "" {
			q += ` WHERE n.kind = ?`
			args = append(args, kind)
		}
		q += ` ORDER BY n.name`
		rows, err := t.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("list namespaces: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s NamespaceSummary
			var email sql.NullString
			var created int64
			if err := rows.Scan(&s.Name, &s.Kind, &email, &created, &s.Repositories, &s.UsageBytes, &s.QuotaBytes); err != nil {
				return fmt.Errorf("scan namespace: %w", err)
			}
			s.Email, s.CreatedAt = email.String, time.UnixMilli(created)
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// StorageSummary is the registry's storage at a glance.
type StorageSummary struct {
	// Blobs and BlobBytes count every committed blob, shared or not.
	Blobs     int64
	BlobBytes int64
	// Repositories, Manifests and Tags count live rows (current tags,
	// manifests not deleted).
	Repositories int64
	Manifests    int64
	Tags         int64
}

// StorageSummary counts blobs, bytes, repositories, manifests and current
// tags of the whole registry.
func (db *DB) StorageSummary(ctx context.Context) (StorageSummary, error) {
	var s StorageSummary
	err := db.read(ctx, func(t *tx) error {
		if err := t.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs`).Scan(&s.Blobs, &s.BlobBytes); err != nil {
			return fmt.Errorf("count blobs: %w", err)
		}
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM repositories`).Scan(&s.Repositories); err != nil {
			return fmt.Errorf("count repositories: %w", err)
		}
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM manifests WHERE deleted_at IS NULL`).Scan(&s.Manifests); err != nil {
			return fmt.Errorf("count manifests: %w", err)
		}
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM tags WHERE lifetime_end IS NULL`).Scan(&s.Tags); err != nil {
			return fmt.Errorf("count tags: %w", err)
		}
		return nil
	})
	return s, err
}

// DeleteUserSessions signs a person out everywhere (a disabled account or a
// password changed by a superuser).
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return nil
	})
}
