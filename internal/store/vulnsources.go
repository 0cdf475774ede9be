package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// VulnSource is a vulnerability data source downloaded periodically: the
// validators of its last download, for conditional requests.
type VulnSource struct {
	URL          string
	ETag         string
	LastModified string
	// CheckedAt is the last download attempt; ChangedAt the last one that
	// brought new content; Error the last attempt's failure ("" if none).
	CheckedAt time.Time
	ChangedAt time.Time
	Error     string
}

// VulnSource returns the state of a source, or core.CodeNotFound before
// its first download.
func (db *DB) VulnSource(ctx context.Context, url string) (VulnSource, error) {
	s := VulnSource{URL: url}
	err := db.read(ctx, func(t *tx) error {
		var checked, changed int64
		err := t.queryRow(ctx, `SELECT etag, last_modified, checked_at, changed_at, error FROM vulndb_sources WHERE url = ?`, url).
			Scan(&s.ETag, &s.LastModified, &checked, &changed, &s.Error)
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "vulnerability source %s not downloaded yet", url)
		}
		if err != nil {
			return fmt.Errorf("vulnerability source: %w", err)
		}
		s.CheckedAt, s.ChangedAt = time.UnixMilli(checked), time.UnixMilli(changed)
		return nil
	})
	return s, err
}

// PutVulnSource records a download attempt of a source (CheckedAt and
// ChangedAt as given; zero ChangedAt keeps the stored one).
func (db *DB) PutVulnSource(ctx context.Context, s VulnSource) error {
	return db.write(ctx, func(t *tx) error {
		var changed int64
		if !s.ChangedAt.IsZero() {
			changed = s.ChangedAt.UnixMilli()
		}
		_, err := t.exec(ctx, `INSERT INTO vulndb_sources (url, etag, last_modified, checked_at, changed_at, error) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
			checked_at = excluded.checked_at, error = excluded.error,
			changed_at = CASE WHEN excluded.changed_at = 0 THEN vulndb_sources.changed_at ELSE excluded.changed_at END`,
			s.URL, s.ETag, s.LastModified, s.CheckedAt.UnixMilli(), changed, s.Error)
		if err != nil {
			return fmt.Errorf("put vulnerability source: %w", err)
		}
		return nil
	})
}
