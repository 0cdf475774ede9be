package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// tagRow is the current row of a tag (lifetime_end IS NULL).
type tagRow struct {
	id         int64
	manifestID int64
	expires    sql.NullInt64
	immutable  bool
}

// alive reports whether the row has not expired at now (Unix ms).
func (r tagRow) alive(now int64) bool { return !r.expires.Valid || r.expires.Int64 > now }

// end is when the row ends if it is ended now: now, or its expiry when that
// has passed already.
func (r tagRow) end(now int64) int64 {
	if r.alive(now) {
		return now
	}
	return r.expires.Int64
}

// currentTag returns the current row of a tag, which may have expired.
func currentTag(ctx context.Context, t *tx, repoID int64, name string) (tagRow, bool, error) {
	var r tagRow
	err := t.queryRow(ctx, `SELECT id, manifest_id, expires_at, immutable FROM tags
		WHERE repository_id = ? AND name = ? AND lifetime_end IS NULL`, repoID, name).
		Scan(&r.id, &r.manifestID, &r.expires, &r.immutable)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("find tag: %w", err)
	}
	return r, true, nil
}

// aliveTag returns the current, unexpired row of a tag, or
// core.CodeManifestUnknown.
func aliveTag(ctx context.Context, t *tx, repo core.Repository, name string) (tagRow, error) {
	r, found, err := currentTag(ctx, t, repo.ID, name)
	if err != nil {
		return r, err
	}
	if !found || !r.alive(t.now) {
		return r, errTagUnknown(name, repo.FullName)
	}
	return r, nil
}

// tagTarget is where setTag points a tag, and how.
type tagTarget struct {
	name       string
	manifestID int64
	expires    int64 // Unix ms when the new row expires; 0: never
	immutable  bool  // the new row's own flag
	reversion  bool
	op         string // the operation, for the immutability error: overwrite, move, restore
}

// setTag points a tag at a manifest: the current row (if any, and
// different) ends and a new row starts. An alive current row that is
// immutable (flag or policy) refuses to move. Pointing a tag at the manifest
// it already has changes no history, but applies the push's labels (see
// refreshTag). An immutable row never gets an expiry. With immutability off
// nothing is immutable and no row gets the flag.
func setTag(ctx context.Context, t *tx, repoID int64, rules immutabilityRules, tt tagTarget) error {
	tt.immutable = rules.flag(tt.immutable)
	cur, found, err := currentTag(ctx, t, repoID, tt.name)
	if err != nil {
		return err
	}
	if found && cur.alive(t.now) {
		reason := rules.ImmutableReason(tt.name, cur.immutable)
		if cur.manifestID == tt.manifestID {
			return refreshTag(ctx, t, cur, tt, reason != "")
		}
		if reason != "" {
			return core.ErrTagImmutable(tt.name, tt.op, reason)
		}
	}
	if found {
		if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, cur.end(t.now), cur.id); err != nil {
			return fmt.Errorf("end tag: %w", err)
		}
	}
	var expires sql.NullInt64
	if _, byPolicy := rules.Match(tt.name); tt.expires > 0 && !tt.immutable && !byPolicy {
		expires = sql.NullInt64{Int64: tt.expires, Valid: true}
	}
	if _, err := t.exec(ctx, `INSERT INTO tags (repository_id, name, manifest_id, lifetime_start, expires_at, immutable, reversion)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, repoID, tt.name, tt.manifestID, t.now, expires, tt.immutable, tt.reversion); err != nil {
		return fmt.Errorf("start tag: %w", err)
	}
	return nil
}

// refreshTag applies a re-push's labels to a tag that keeps its manifest: the
// immutable label sets the flag (and drops any expiry); the expiry label
// restarts the expiry unless the tag is immutable.
func refreshTag(ctx context.Context, t *tx, cur tagRow, tt tagTarget, immutable bool) error {
	var err error
	switch {
	case tt.immutable && !cur.immutable:
		_, err = t.exec(ctx, `UPDATE tags SET immutable = ?, expires_at = NULL WHERE id = ?`, true, cur.id)
	case tt.expires > 0 && !immutable:
		_, err = t.exec(ctx, `UPDATE tags SET expires_at = ? WHERE id = ?`, tt.expires, cur.id)
	}
	if err != nil {
		return fmt.Errorf("update tag: %w", err)
	}
	return nil
}

// DeleteTag ends the current row of a tag. A missing or expired tag is
// core.CodeManifestUnknown; an immutable one (flag or policy) is
// core.CodeTagImmutable.
func (db *DB) DeleteTag(ctx context.Context, repo, name string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		cur, err := aliveTag(ctx, t, r, name)
		if err != nil {
			return err
		}
		rules, err := loadImmutabilityRules(ctx, t, r.ID)
		if err != nil {
			return err
		}
		if reason := rules.ImmutableReason(name, cur.immutable); reason != "" {
			return core.ErrTagImmutable(name, "delete", reason)
		}
		if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, t.now, cur.id); err != nil {
			return fmt.Errorf("delete tag: %w", err)
		}
		return logTag(ctx, t, core.LogDeleteTag, r.ID, name, cur.manifestID, nil)
	})
}

// Tags lists the current, unexpired tag names of repo in lexical order after
// last, at most n (n <= 0: all), or core.CodeNameUnknown.
func (db *DB) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	var names []string
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		q := `SELECT name FROM tags WHERE repository_id = ? AND lifetime_end IS NULL
			AND (expires_at IS NULL OR expires_at > ?) AND name > ? ORDER BY name`
		args := []any{r.ID, t.now, last}
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

// tagExpired reports whether the newest row of a tag ended (or is due to
// end) by its expiry, so a lookup can answer "expired" rather than "unknown".
func tagExpired(ctx context.Context, t *tx, repo, name string) (bool, error) {
	var expires, end sql.NullInt64
	err := t.queryRow(ctx, `SELECT tg.expires_at, tg.lifetime_end FROM tags tg
		JOIN repositories r ON r.id = tg.repository_id
		WHERE r.full_name = ? AND tg.name = ? ORDER BY tg.lifetime_start DESC, tg.id DESC LIMIT 1`, repo, name).
		Scan(&expires, &end)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find expired tag: %w", err)
	}
	return expires.Valid && expires.Int64 <= t.now && (!end.Valid || end.Int64 >= expires.Int64), nil
}
