package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// TagChange is a change to one tag through the API (Quay's PUT
// …/tag/{tag}). Unset fields leave things as they are.
type TagChange struct {
	// Manifest points the tag at this live manifest, creating the tag when
	// it does not exist.
	Manifest digest.Digest
	// Expiration sets (non-zero) or clears (zero) the tag's expiry.
	Expiration *time.Time
	// Immutable sets or clears the tag's own immutable flag.
	Immutable *bool
	// MayClearImmutable allows clearing the flag (Quay: repository admins).
	MayClearImmutable bool
}

// ChangeTag applies a TagChange in one transaction, in the order that lets
// one request both free and move a tag, or move and protect it: clearing the
// flag, moving, the expiry, setting the flag. A tag that must exist and does
// not (or has expired) is core.CodeManifestUnknown, as is a manifest that is
// not live; refusals by immutability are core.CodeTagImmutable; clearing
// the flag without MayClearImmutable is core.CodeDenied; making a tag with
// an expiry immutable is core.CodeInvalid. With immutability off
// (Options.DisableImmutableTags) Immutable is ignored.
func (db *DB) ChangeTag(ctx context.Context, repo, name string, c TagChange) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		rules, err := loadImmutabilityRules(ctx, t, r.ID)
		if err != nil {
			return err
		}
		if rules.off {
			// Quay ignores the flag while immutability is switched off.
			c.Immutable = nil
		}
		if c.Immutable != nil && !*c.Immutable {
			prev, err := clearImmutable(ctx, t, r, rules, name, c.MayClearImmutable)
			if err != nil {
				return err
			}
			if err := logTagImmutability(ctx, t, r.ID, name, false, prev); err != nil {
				return err
			}
		}
		if c.Manifest != "" {
			var id int64
			err := t.queryRow(ctx, `SELECT id FROM manifests WHERE repository_id = ? AND digest = ? AND deleted_at IS NULL`,
				r.ID, string(c.Manifest)).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return core.Errorf(core.CodeManifestUnknown, "manifest %s not found in %s", c.Manifest, repo)
			}
			if err != nil {
				return fmt.Errorf("find manifest: %w", err)
			}
			prev, found, err := currentTag(ctx, t, r.ID, name)
			if err != nil {
				return err
			}
			if err := setTag(ctx, t, r.ID, rules, tagTarget{name: name, manifestID: id, op: "move"}); err != nil {
				return err
			}
			if err := logTagMove(ctx, t, r.ID, name, id, prev, found && prev.alive(t.now)); err != nil {
				return err
			}
		}
		if c.Expiration != nil {
			if err := setExpiry(ctx, t, r, rules, name, *c.Expiration); err != nil {
				return err
			}
			if err := logTagExpiration(ctx, t, r.ID, name, *c.Expiration); err != nil {
				return err
			}
		}
		if c.Immutable != nil && *c.Immutable {
			cur, err := aliveTag(ctx, t, r, name)
			if err != nil {
				return err
			}
			if cur.expires.Valid {
				return core.Errorf(core.CodeInvalid, "cannot make tag %q immutable: it has an expiration; remove the expiration first", name)
			}
			if _, err := t.exec(ctx, `UPDATE tags SET immutable = ? WHERE id = ?`, true, cur.id); err != nil {
				return fmt.Errorf("set tag immutable: %w", err)
			}
			if err := logTagImmutability(ctx, t, r.ID, name, true, cur.immutable); err != nil {
				return err
			}
		}
		return nil
	})
}

// logTagImmutability logs a request that set or cleared a tag's own
// immutable flag (Quay's change_tag_immutability, logged even when the flag
// already had the value).
func logTagImmutability(ctx context.Context, t *tx, repoID int64, tag string, immutable, previous bool) error {
	return logAction(ctx, t, core.LogChangeTagImmutability, 0, repoID,
		auditMeta{"tag": tag, "immutable": immutable, "previous_immutable": previous})
}

// clearImmutable clears a tag's own flag and returns what it was.
func clearImmutable(ctx context.Context, t *tx, r core.Repository, rules immutabilityRules, name string, allowed bool) (bool, error) {
	cur, err := aliveTag(ctx, t, r, name)
	if err != nil {
		return false, err
	}
	if p, ok := rules.Match(name); ok {
		return false, core.ErrTagImmutable(name, "make mutable", "it matches the "+p.Describe())
	}
	if !cur.immutable {
		return false, nil
	}
	if !allowed {
		return false, core.Errorf(core.CodeDenied, "only repository administrators may make an immutable tag mutable")
	}
	if _, err := t.exec(ctx, `UPDATE tags SET immutable = ? WHERE id = ?`, false, cur.id); err != nil {
		return false, fmt.Errorf("clear tag immutable: %w", err)
	}
	return true, nil
}

func setExpiry(ctx context.Context, t *tx, r core.Repository, rules immutabilityRules, name string, at time.Time) error {
	cur, err := aliveTag(ctx, t, r, name)
	if err != nil {
		return err
	}
	var v sql.NullInt64
	if !at.IsZero() {
		if reason := rules.ImmutableReason(name, cur.immutable); reason != "" {
			return core.ErrTagImmutable(name, "set expiration on", reason)
		}
		v = sql.NullInt64{Int64: at.UnixMilli(), Valid: true}
	}
	if _, err := t.exec(ctx, `UPDATE tags SET expires_at = ? WHERE id = ?`, v, cur.id); err != nil {
		return fmt.Errorf("set tag expiry: %w", err)
	}
	return nil
}

// ExpireTags ends up to limit current tags whose expiry is at or before now,
// each at its expiry, and returns how many it ended. Reads already treat
// such tags as gone; this makes their rows history. Immutable tags carry no
// expiry while immutability is enforced; a flagged tag that got an expiry
// while it was off is gone for reads at its expiry, and ends here too.
func (db *DB) ExpireTags(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	n := 0
	err := db.write(ctx, func(t *tx) error {
		if err := logExpiringTags(ctx, t, now.UnixMilli(), limit); err != nil {
			return err
		}
		res, err := t.exec(ctx, `UPDATE tags SET lifetime_end = expires_at WHERE id IN (
			SELECT id FROM tags WHERE lifetime_end IS NULL AND expires_at IS NOT NULL AND expires_at <= ?
			ORDER BY expires_at LIMIT ?)`, now.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("expire tags: %w", err)
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("expire tags: %w", err)
		}
		n = int(affected)
		return nil
	})
	return n, err
}
