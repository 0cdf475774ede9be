package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// TagHistoryQuery selects rows of a repository's tag history (Quay's tag
// list).
type TagHistoryQuery struct {
	// ActiveOnly lists only current, unexpired tags; otherwise rows that
	// ended within Window are listed too.
	ActiveOnly bool
	// Name keeps only one tag (Quay's specificTag).
	Name string
	// NameEq and NameLike filter names: equal, or containing the text
	// regardless of case (Quay's filter_tag_name=eq:… and like:…).
	NameEq   string
	NameLike string
	// Page (from 1) and Limit select a page, newest rows first.
	Page, Limit int
	// Window is the namespace's time-machine window.
	Window time.Duration
}

// TagHistory lists tag rows of repo, newest start first, and whether more
// follow the page. A repository that does not exist is core.CodeNameUnknown.
func (db *DB) TagHistory(ctx context.Context, repo string, q TagHistoryQuery) ([]core.Tag, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Page <= 0 {
		q.Page = 1
	}
	out := []core.Tag{}
	more := false
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		rules, err := loadImmutabilityRules(ctx, t, r.ID)
		if err != nil {
			return err
		}
		s := `SELECT tg.id, tg.name, m.digest, m.media_type, m.layers_size, tg.lifetime_start, tg.lifetime_end,
			tg.expires_at, tg.reversion, tg.immutable
			FROM tags tg JOIN manifests m ON m.id = tg.manifest_id WHERE tg.repository_id = ?`
		args := []any{r.ID}
		if q.ActiveOnly {
			s += ` AND tg.lifetime_end IS NULL AND (tg.expires_at IS NULL OR tg.expires_at > ?)`
			args = append(args, t.now)
		} else {
			s += ` AND (COALESCE(tg.lifetime_end, tg.expires_at) IS NULL OR COALESCE(tg.lifetime_end, tg.expires_at) >= ?)`
			args = append(args, t.now-q.Window.Milliseconds())
		}
		if q.Name != "" {
			s += ` AND tg.name = ?`
			args = append(args, q.Name)
		}
		if q.NameEq != "" {
			s += ` AND tg.name = ?`
			args = append(args, q.NameEq)
		}
		if q.NameLike != "" {
			s += ` AND LOWER(tg.name) LIKE ? ESCAPE '\'`
			args = append(args, "%"+escapeLike(strings.ToLower(q.NameLike))+"%")
		}
		s += ` ORDER BY tg.lifetime_start DESC, tg.name, tg.id DESC LIMIT ? OFFSET ?`
		args = append(args, q.Limit+1, (q.Page-1)*q.Limit)
		rows, err := t.query(ctx, s, args...)
		if err != nil {
			return fmt.Errorf("tag history: %w", err)
		}
		defer rows.Close()
		now := time.UnixMilli(t.now)
		for rows.Next() {
			var tg core.Tag
			var start int64
			var end, expires sql.NullInt64
			if err := rows.Scan(&tg.ID, &tg.Name, &tg.ManifestDigest, &tg.ManifestMediaType, &tg.LayersSize, &start,
				&end, &expires, &tg.Reversion, &tg.Immutable); err != nil {
				return err
			}
			tg.Start = time.UnixMilli(start)
			if end.Valid {
				tg.End = time.UnixMilli(end.Int64)
			}
			if expires.Valid {
				tg.Expires = time.UnixMilli(expires.Int64)
			}
			tg.Immutable = rules.flag(tg.Immutable)
			if _, ok := rules.Match(tg.Name); ok && tg.Current(now) {
				tg.Immutable = true
			}
			out = append(out, tg)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) > q.Limit {
			out, more = out[:q.Limit], true
		}
		return nil
	})
	return out, more, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// inHistory reports whether a tag of the repository pointed at a manifest at
// any time since cutoff (Unix ms), or still does.
func inHistory(ctx context.Context, t *tx, repoID, manifestID, cutoff int64) (bool, error) {
	var n int
	err := t.queryRow(ctx, `SELECT COUNT(*) FROM tags WHERE repository_id = ? AND manifest_id = ?
		AND (COALESCE(lifetime_end, expires_at) IS NULL OR COALESCE(lifetime_end, expires_at) >= ?)`,
		repoID, manifestID, cutoff).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("tag history: %w", err)
	}
	return n > 0, nil
}

// manifestRow finds a manifest of a repository by digest, deleted or not.
func manifestRow(ctx context.Context, t *tx, repo core.Repository, d digest.Digest) (id int64, deleted bool, err error) {
	var del sql.NullInt64
	err = t.queryRow(ctx, `SELECT id, deleted_at FROM manifests WHERE repository_id = ? AND digest = ?`, repo.ID, string(d)).Scan(&id, &del)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, core.Errorf(core.CodeManifestUnknown, "manifest %s not found in %s", d, repo.FullName)
	}
	if err != nil {
		return 0, false, fmt.Errorf("find manifest: %w", err)
	}
	return id, del.Valid, nil
}

// RestoreTag points a tag back at a manifest that a tag of the repository
// pointed at within the time-machine window (or still does), reviving the
// manifest if it was deleted. The new row is marked as a reversion. A
// manifest outside the window is core.CodeManifestUnknown; an immutable
// current tag is core.CodeTagImmutable; reviving a deleted manifest that
// takes its namespace over its Reject quota threshold is core.CodeDenied.
func (db *DB) RestoreTag(ctx context.Context, repo, name string, d digest.Digest, window time.Duration) error {
	return db.noteQuotaRefusal(ctx, db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		id, deleted, err := manifestRow(ctx, t, r, d)
		if err != nil {
			return err
		}
		ok, err := inHistory(ctx, t, r.ID, id, t.now-window.Milliseconds())
		if err != nil {
			return err
		}
		if !ok {
			return core.Errorf(core.CodeManifestUnknown,
				"manifest %s is not in the tag history of %s within the time-machine window (%s)", d, repo, window)
		}
		rules, err := loadImmutabilityRules(ctx, t, r.ID)
		if err != nil {
			return err
		}
		if deleted {
			res, err := t.exec(ctx, `UPDATE manifests SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL`, id)
			if err != nil {
				return fmt.Errorf("revive manifest: %w", err)
			}
			// Counted once, even when a push revived it meanwhile.
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("revive manifest: %w", err)
			} else if n == 1 {
				nsID, grown, err := countManifestUsage(ctx, t, id, 1)
				if err != nil {
					return err
				}
				// A restore that brings bytes back must fit the quota.
				if grown > 0 {
					if err := db.usageGrew(ctx, t, nsID); err != nil {
						return err
					}
				}
			}
		}
		if err := setTag(ctx, t, r.ID, rules, tagTarget{name: name, manifestID: id, reversion: true, op: "restore"}); err != nil {
			return err
		}
		return logTag(ctx, t, core.LogRevertTag, r.ID, name, id, nil)
	}))
}

// PurgeTag takes history out of the time machine, so it can no longer be
// restored (Quay's tag expire endpoint). With alive, the tag's current row
// ends, dated before the window; otherwise every row of the tag that pointed
// at d and ended within the window is moved before it, except immutable
// ones. It returns how many rows it changed; none is core.CodeManifestUnknown,
// and an immutable alive tag is core.CodeTagImmutable.
func (db *DB) PurgeTag(ctx context.Context, repo, name string, d digest.Digest, alive bool, window time.Duration) (int, error) {
	n := 0
	err := db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		gone := t.now - window.Milliseconds() - 1
		if alive {
			cur, err := aliveTag(ctx, t, r, name)
			if err != nil {
				return err
			}
			rules, err := loadImmutabilityRules(ctx, t, r.ID)
			if err != nil {
				return err
			}
			if reason := rules.ImmutableReason(name, cur.immutable); reason != "" {
				return core.ErrTagImmutable(name, "expire", reason)
			}
			if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, gone, cur.id); err != nil {
				return fmt.Errorf("expire tag: %w", err)
			}
			n = 1
			return logTag(ctx, t, core.LogPermanentlyDeleteTag, r.ID, name, cur.manifestID, nil)
		}
		id, _, err := manifestRow(ctx, t, r, d)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE repository_id = ? AND name = ? AND manifest_id = ?
			AND COALESCE(lifetime_end, expires_at) <= ? AND COALESCE(lifetime_end, expires_at) >= ? AND immutable = ?`,
			gone, r.ID, name, id, t.now, t.now-window.Milliseconds(), false)
		if err != nil {
			return fmt.Errorf("expire tag history: %w", err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("expire tag history: %w", err)
		}
		if affected == 0 {
			return core.Errorf(core.CodeManifestUnknown, "tag %q of %s has no history with %s within the time-machine window", name, repo, d)
		}
		n = int(affected)
		return logTag(ctx, t, core.LogPermanentlyDeleteTag, r.ID, name, id, nil)
	})
	return n, err
}
