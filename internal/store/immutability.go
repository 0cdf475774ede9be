package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

const policyColumns = `p.uuid, n.name, COALESCE(r.full_name, ''), p.tag_pattern, p.tag_pattern_matches`

const policyFrom = ` FROM immutability_policies p JOIN namespaces n ON n.id = p.namespace_id
	LEFT JOIN repositories r ON r.id = p.repository_id `

func scanPolicy(row interface{ Scan(...any) error }) (core.ImmutabilityPolicy, error) {
	var p core.ImmutabilityPolicy
	err := row.Scan(&p.UUID, &p.Namespace, &p.Repository, &p.TagPattern, &p.TagPatternMatches)
	return p, err
}

// immutabilityRules are the policies that apply to one repository, as the
// store enforces them. With immutability switched off
// (Options.DisableImmutableTags) there are none and the tags' own flags
// count for nothing: every tag is mutable, and no tag becomes immutable.
type immutabilityRules struct {
	core.ImmutabilityRules
	off bool
}

// ImmutableReason is core.ImmutabilityRules.ImmutableReason, "" when off.
func (r immutabilityRules) ImmutableReason(tag string, flag bool) string {
	if r.off {
		return ""
	}
	return r.ImmutabilityRules.ImmutableReason(tag, flag)
}

// flag is the immutable flag a tag row gets or shows: false when off.
func (r immutabilityRules) flag(immutable bool) bool { return immutable && !r.off }

// loadImmutabilityRules returns the policies that apply to a repository:
// its own first, then its namespace's, each oldest first; none when
// immutability is off.
func loadImmutabilityRules(ctx context.Context, t *tx, repoID int64) (immutabilityRules, error) {
	if t.immutableTagsOff {
		return immutabilityRules{off: true}, nil
	}
	rows, err := t.query(ctx, `SELECT `+policyColumns+policyFrom+`
		WHERE p.repository_id = ? OR (p.repository_id IS NULL AND p.namespace_id = (SELECT namespace_id FROM repositories WHERE id = ?))
		ORDER BY CASE WHEN p.repository_id IS NULL THEN 1 ELSE 0 END, p.id`, repoID, repoID)
	if err != nil {
		return immutabilityRules{}, fmt.Errorf("immutability policies: %w", err)
	}
	defer rows.Close()
	var ps []core.ImmutabilityPolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return immutabilityRules{}, err
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return immutabilityRules{}, err
	}
	return immutabilityRules{ImmutabilityRules: core.NewImmutabilityRules(ps)}, nil
}

// checkNoImmutableTags refuses (core.CodeTagImmutable) when an alive tag
// that is immutable points at a manifest.
func checkNoImmutableTags(ctx context.Context, t *tx, manifestID int64) error {
	rows, err := t.query(ctx, `SELECT name, immutable, repository_id FROM tags WHERE manifest_id = ? AND lifetime_end IS NULL
		AND (expires_at IS NULL OR expires_at > ?) ORDER BY name`, manifestID, t.now)
	if err != nil {
		return fmt.Errorf("tags of manifest: %w", err)
	}
	type tag struct {
		name      string
		immutable bool
		repoID    int64
	}
	var tags []tag
	for rows.Next() {
		var tg tag
		if err := rows.Scan(&tg.name, &tg.immutable, &tg.repoID); err != nil {
			rows.Close()
			return err
		}
		tags = append(tags, tg)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	rules, err := loadImmutabilityRules(ctx, t, tags[0].repoID)
	if err != nil {
		return err
	}
	for _, tg := range tags {
		if reason := rules.ImmutableReason(tg.name, tg.immutable); reason != "" {
			return core.ErrTagImmutable(tg.name, "delete", reason)
		}
	}
	return nil
}

// policyScope resolves a namespace and optional repository (full name) to
// ids: an unknown namespace is core.CodeNotFound, an unknown repository (or
// one of another namespace) core.CodeNameUnknown.
func policyScope(ctx context.Context, t *tx, namespace, repo string) (int64, sql.NullInt64, error) {
	n, err := getNamespace(ctx, t, namespace)
	if err != nil {
		return 0, sql.NullInt64{}, err
	}
	if repo == "" {
		return n.ID, sql.NullInt64{}, nil
	}
	r, err := getRepo(ctx, t, repo)
	if err != nil {
		return 0, sql.NullInt64{}, err
	}
	if r.Namespace != n.Name {
		return 0, sql.NullInt64{}, core.Errorf(core.CodeNameUnknown, "repository %q not found", repo)
	}
	return n.ID, sql.NullInt64{Int64: r.ID, Valid: true}, nil
}

// scopeWhere selects the policies of exactly one scope.
func scopeWhere(nsID int64, repoID sql.NullInt64) (string, []any) {
	if repoID.Valid {
		return `p.namespace_id = ? AND p.repository_id = ?`, []any{nsID, repoID.Int64}
	}
	return `p.namespace_id = ? AND p.repository_id IS NULL`, []any{nsID}
}

// ImmutabilityPolicies lists the policies of a namespace (repo "") or of one
// repository (its full name), oldest first.
func (db *DB) ImmutabilityPolicies(ctx context.Context, namespace, repo string) ([]core.ImmutabilityPolicy, error) {
	out := []core.ImmutabilityPolicy{}
	err := db.read(ctx, func(t *tx) error {
		nsID, repoID, err := policyScope(ctx, t, namespace, repo)
		if err != nil {
			return err
		}
		where, args := scopeWhere(nsID, repoID)
		rows, err := t.query(ctx, `SELECT `+policyColumns+policyFrom+`WHERE `+where+` ORDER BY p.id`, args...)
		if err != nil {
			return fmt.Errorf("immutability policies: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPolicy(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// ImmutabilityPolicy returns one policy of a namespace (repo "") or
// repository, or core.CodeNotFound.
func (db *DB) ImmutabilityPolicy(ctx context.Context, namespace, repo, uuid string) (core.ImmutabilityPolicy, error) {
	var p core.ImmutabilityPolicy
	err := db.read(ctx, func(t *tx) error {
		var err error
		p, err = getPolicy(ctx, t, namespace, repo, uuid)
		return err
	})
	return p, err
}

func getPolicy(ctx context.Context, t *tx, namespace, repo, uuid string) (core.ImmutabilityPolicy, error) {
	nsID, repoID, err := policyScope(ctx, t, namespace, repo)
	if err != nil {
		return core.ImmutabilityPolicy{}, err
	}
	where, args := scopeWhere(nsID, repoID)
	p, err := scanPolicy(t.queryRow(ctx, `SELECT `+policyColumns+policyFrom+`WHERE `+where+` AND p.uuid = ?`, append(args, uuid)...))
	if errors.Is(err, sql.ErrNoRows) {
		return p, core.Errorf(core.CodeNotFound, "immutability policy %q not found", uuid)
	}
	if err != nil {
		return p, fmt.Errorf("get immutability policy: %w", err)
	}
	return p, nil
}

// CreateImmutabilityPolicy adds a policy to p.Namespace, or to
// p.Repository when set, and returns it with its new UUID. An invalid
// pattern, or one the scope already has, is core.CodeInvalid. Current tags
// the policy makes immutable lose their expiry.
func (db *DB) CreateImmutabilityPolicy(ctx context.Context, p core.ImmutabilityPolicy) (core.ImmutabilityPolicy, error) {
	p.TagPattern = strings.TrimSpace(p.TagPattern)
	if _, err := core.CompileTagPattern(p.TagPattern); err != nil {
		return p, err
	}
	err := db.write(ctx, func(t *tx) error {
		nsID, repoID, err := policyScope(ctx, t, p.Namespace, p.Repository)
		if err != nil {
			return err
		}
		if err := checkDuplicatePolicy(ctx, t, nsID, repoID, p.TagPattern, ""); err != nil {
			return err
		}
		p.UUID = newUUID()
		if _, err := t.exec(ctx, `INSERT INTO immutability_policies (uuid, namespace_id, repository_id, tag_pattern, tag_pattern_matches, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, p.UUID, nsID, repoID, p.TagPattern, p.TagPatternMatches, t.now); err != nil {
			return fmt.Errorf("create immutability policy: %w", err)
		}
		if err := logPolicy(ctx, t, core.LogCreateImmutabilityPolicy, core.LogCreateImmutabilityPolicy, nsID, repoID,
			auditMeta{"uuid": p.UUID, "tag_pattern": p.TagPattern, "tag_pattern_matches": p.TagPatternMatches}); err != nil {
			return err
		}
		return clearExpiryOfImmutable(ctx, t, nsID, repoID, p)
	})
	return p, err
}

// UpdateImmutabilityPolicy changes the pattern of the policy p.UUID of
// p.Namespace or p.Repository (core.CodeNotFound if it has none such).
func (db *DB) UpdateImmutabilityPolicy(ctx context.Context, p core.ImmutabilityPolicy) error {
	p.TagPattern = strings.TrimSpace(p.TagPattern)
	if _, err := core.CompileTagPattern(p.TagPattern); err != nil {
		return err
	}
	return db.write(ctx, func(t *tx) error {
		if _, err := getPolicy(ctx, t, p.Namespace, p.Repository, p.UUID); err != nil {
			return err
		}
		nsID, repoID, err := policyScope(ctx, t, p.Namespace, p.Repository)
		if err != nil {
			return err
		}
		if err := checkDuplicatePolicy(ctx, t, nsID, repoID, p.TagPattern, p.UUID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE immutability_policies SET tag_pattern = ?, tag_pattern_matches = ? WHERE uuid = ?`,
			p.TagPattern, p.TagPatternMatches, p.UUID); err != nil {
			return fmt.Errorf("update immutability policy: %w", err)
		}
		if err := logPolicy(ctx, t, core.LogUpdateImmutabilityPolicy, core.LogUpdateImmutabilityPolicy, nsID, repoID,
			auditMeta{"uuid": p.UUID, "tag_pattern": p.TagPattern, "tag_pattern_matches": p.TagPatternMatches}); err != nil {
			return err
		}
		return clearExpiryOfImmutable(ctx, t, nsID, repoID, p)
	})
}

// DeleteImmutabilityPolicy removes a policy (core.CodeNotFound if the
// namespace or repository has none such). Tags it protected become mutable
// unless their own flag or another policy says otherwise.
func (db *DB) DeleteImmutabilityPolicy(ctx context.Context, namespace, repo, uuid string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := getPolicy(ctx, t, namespace, repo, uuid); err != nil {
			return err
		}
		nsID, repoID, err := policyScope(ctx, t, namespace, repo)
		if err != nil {
			return err
		}
		if err := logPolicy(ctx, t, core.LogDeleteImmutabilityPolicy, core.LogDeleteImmutabilityPolicy, nsID, repoID, auditMeta{"uuid": uuid}); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM immutability_policies WHERE uuid = ?`, uuid); err != nil {
			return fmt.Errorf("delete immutability policy: %w", err)
		}
		return nil
	})
}

func checkDuplicatePolicy(ctx context.Context, t *tx, nsID int64, repoID sql.NullInt64, pattern, except string) error {
	where, args := scopeWhere(nsID, repoID)
	var n int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM immutability_policies p WHERE `+where+` AND p.tag_pattern = ? AND p.uuid <> ?`,
		append(args, pattern, except)...).Scan(&n); err != nil {
		return fmt.Errorf("find duplicate policy: %w", err)
	}
	if n > 0 {
		return core.Errorf(core.CodeInvalid, "A policy with the same tag_pattern already exists")
	}
	return nil
}

// clearExpiryOfImmutable drops the expiry of the alive tags in a policy's
// scope that the policy makes immutable: immutable tags never expire.
func clearExpiryOfImmutable(ctx context.Context, t *tx, nsID int64, repoID sql.NullInt64, p core.ImmutabilityPolicy) error {
	rules := core.NewImmutabilityRules([]core.ImmutabilityPolicy{p})
	q := `SELECT tg.id, tg.name FROM tags tg JOIN repositories r ON r.id = tg.repository_id
		WHERE tg.lifetime_end IS NULL AND tg.expires_at IS NOT NULL AND tg.expires_at > ? AND `
	args := []any{t.now}
	if repoID.Valid {
		q += `tg.repository_id = ?`
		args = append(args, repoID.Int64)
	} else {
		q += `r.namespace_id = ?`
		args = append(args, nsID)
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("expiring tags: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return err
		}
		if _, ok := rules.Match(name); ok {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := t.exec(ctx, `UPDATE tags SET expires_at = NULL WHERE id = ?`, id); err != nil {
			return fmt.Errorf("clear tag expiry: %w", err)
		}
	}
	return nil
}
