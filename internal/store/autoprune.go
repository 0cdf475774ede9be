package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// JobAutoprune prunes one repository after a push; its arguments are
// AutopruneArgs. A push enqueues it only when no such job is pending for the
// repository already.
const JobAutoprune = "autoprune_repository"

// AutopruneArgs are the arguments of JobAutoprune.
type AutopruneArgs struct {
	RepositoryID int64 `json:"repository_id"`
}

const autopruneColumns = `p.uuid, n.name, COALESCE(r.full_name, ''), p.method, p.value, COALESCE(p.tag_pattern, ''), p.tag_pattern_matches`

const autopruneFrom = ` FROM autoprune_policies p JOIN namespaces n ON n.id = p.namespace_id
	LEFT JOIN repositories r ON r.id = p.repository_id `

func scanAutoprunePolicies(rows *sql.Rows) ([]core.AutoprunePolicy, error) {
	defer rows.Close()
	out := []core.AutoprunePolicy{}
	for rows.Next() {
		var p core.AutoprunePolicy
		if err := rows.Scan(&p.UUID, &p.Namespace, &p.Repository, &p.Method, &p.Value, &p.TagPattern, &p.TagPatternMatches); err != nil {
			return nil, fmt.Errorf("scan auto-prune policy: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AutoprunePolicies lists the auto-prune policies of a namespace (repo "")
// or of one repository (its full name), oldest first.
func (db *DB) AutoprunePolicies(ctx context.Context, namespace, repo string) ([]core.AutoprunePolicy, error) {
	var out []core.AutoprunePolicy
	err := db.read(ctx, func(t *tx) error {
		nsID, repoID, err := policyScope(ctx, t, namespace, repo)
		if err != nil {
			return err
		}
		where, args := scopeWhere(nsID, repoID)
		rows, err := t.query(ctx, `SELECT `+autopruneColumns+autopruneFrom+`WHERE `+where+` ORDER BY p.id`, args...)
		if err != nil {
			return fmt.Errorf("auto-prune policies: %w", err)
		}
		out, err = scanAutoprunePolicies(rows)
		return err
	})
	return out, err
}

// AutoprunePolicy returns one auto-prune policy of a namespace (repo "") or
// repository, or core.CodeNotFound.
func (db *DB) AutoprunePolicy(ctx context.Context, namespace, repo, uuid string) (core.AutoprunePolicy, error) {
	var p core.AutoprunePolicy
	err := db.read(ctx, func(t *tx) error {
		var err error
		p, err = getAutoprunePolicy(ctx, t, namespace, repo, uuid)
		return err
	})
	return p, err
}

func getAutoprunePolicy(ctx context.Context, t *tx, namespace, repo, uuid string) (core.AutoprunePolicy, error) {
	nsID, repoID, err := policyScope(ctx, t, namespace, repo)
	if err != nil {
		return core.AutoprunePolicy{}, err
	}
	where, args := scopeWhere(nsID, repoID)
	rows, err := t.query(ctx, `SELECT `+autopruneColumns+autopruneFrom+`WHERE `+where+` AND p.uuid = ?`, append(args, uuid)...)
	if err != nil {
		return core.AutoprunePolicy{}, fmt.Errorf("get auto-prune policy: %w", err)
	}
	ps, err := scanAutoprunePolicies(rows)
	if err != nil {
		return core.AutoprunePolicy{}, err
	}
	if len(ps) == 0 {
		return core.AutoprunePolicy{}, core.Errorf(core.CodeNotFound, "auto-prune policy %q not found", uuid)
	}
	return ps[0], nil
}

// CreateAutoprunePolicy adds a policy to p.Namespace, or to p.Repository
// when set, and returns it with its new UUID. An invalid policy, or one the
// scope already has (same method, value and pattern), is core.CodeInvalid.
// The scope's repositories are pruned by the next periodic run.
func (db *DB) CreateAutoprunePolicy(ctx context.Context, p core.AutoprunePolicy) (core.AutoprunePolicy, error) {
	p.TagPattern = strings.TrimSpace(p.TagPattern)
	if err := p.Validate(); err != nil {
		return p, err
	}
	err := db.write(ctx, func(t *tx) error {
		nsID, repoID, err := policyScope(ctx, t, p.Namespace, p.Repository)
		if err != nil {
			return err
		}
		if err := checkDuplicateAutoprune(ctx, t, nsID, repoID, p, ""); err != nil {
			return err
		}
		p.UUID = newUUID()
		if _, err := t.exec(ctx, `INSERT INTO autoprune_policies (uuid, namespace_id, repository_id, method, value, tag_pattern, tag_pattern_matches, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.UUID, nsID, repoID, p.Method, p.Value, nullString(p.TagPattern), p.TagPatternMatches, t.now); err != nil {
			return fmt.Errorf("create auto-prune policy: %w", err)
		}
		return logPolicy(ctx, t, core.LogCreateNSAutoprunePolicy, core.LogCreateRepoAutoprune, nsID, repoID,
			auditMeta{"uuid": p.UUID, "method": p.Method, "value": p.Value, "tag_pattern": p.TagPattern})
	})
	return p, err
}

// UpdateAutoprunePolicy replaces the policy p.UUID of p.Namespace or
// p.Repository (core.CodeNotFound if it has none such).
func (db *DB) UpdateAutoprunePolicy(ctx context.Context, p core.AutoprunePolicy) error {
	p.TagPattern = strings.TrimSpace(p.TagPattern)
	if err := p.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(t *tx) error {
		if _, err := getAutoprunePolicy(ctx, t, p.Namespace, p.Repository, p.UUID); err != nil {
			return err
		}
		nsID, repoID, err := policyScope(ctx, t, p.Namespace, p.Repository)
		if err != nil {
			return err
		}
		if err := checkDuplicateAutoprune(ctx, t, nsID, repoID, p, p.UUID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE autoprune_policies SET method = ?, value = ?, tag_pattern = ?, tag_pattern_matches = ? WHERE uuid = ?`,
			p.Method, p.Value, nullString(p.TagPattern), p.TagPatternMatches, p.UUID); err != nil {
			return fmt.Errorf("update auto-prune policy: %w", err)
		}
		return logPolicy(ctx, t, core.LogUpdateNSAutoprunePolicy, core.LogUpdateRepoAutoprune, nsID, repoID,
			auditMeta{"uuid": p.UUID, "method": p.Method, "value": p.Value, "tag_pattern": p.TagPattern})
	})
}

// DeleteAutoprunePolicy removes a policy (core.CodeNotFound if the
// namespace or repository has none such).
func (db *DB) DeleteAutoprunePolicy(ctx context.Context, namespace, repo, uuid string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := getAutoprunePolicy(ctx, t, namespace, repo, uuid); err != nil {
			return err
		}
		nsID, repoID, err := policyScope(ctx, t, namespace, repo)
		if err != nil {
			return err
		}
		if err := logPolicy(ctx, t, core.LogDeleteNSAutoprunePolicy, core.LogDeleteRepoAutoprune, nsID, repoID, auditMeta{"uuid": uuid}); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM autoprune_policies WHERE uuid = ?`, uuid); err != nil {
			return fmt.Errorf("delete auto-prune policy: %w", err)
		}
		return nil
	})
}

func checkDuplicateAutoprune(ctx context.Context, t *tx, nsID int64, repoID sql.NullInt64, p core.AutoprunePolicy, except string) error {
	where, args := scopeWhere(nsID, repoID)
	var n int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM autoprune_policies p WHERE `+where+`
		AND p.method = ? AND p.value = ? AND COALESCE(p.tag_pattern, '') = ? AND p.tag_pattern_matches = ? AND p.uuid <> ?`,
		append(args, p.Method, p.Value, p.TagPattern, p.TagPatternMatches, except)...).Scan(&n); err != nil {
		return fmt.Errorf("find duplicate auto-prune policy: %w", err)
	}
	if n > 0 {
		return core.Errorf(core.CodeInvalid, "a policy with the same method, value and tagPattern already exists")
	}
	return nil
}

// requestPrune asks for an auto-prune of a repository after a push tagged
// it, when any policy may apply: at most one job is pending per repository.
func (db *DB) requestPrune(ctx context.Context, t *tx, repoID int64) error {
	if db.jobs == nil {
		return nil
	}
	if !db.pruneAlways {
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM autoprune_policies WHERE repository_id = ?
			OR (repository_id IS NULL AND namespace_id = (SELECT namespace_id FROM repositories WHERE id = ?))`, repoID, repoID).Scan(&n); err != nil {
			return fmt.Errorf("find auto-prune policies: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
	res, err := t.exec(ctx, `INSERT INTO autoprune_pending (repository_id, requested_at) VALUES (?, ?)
		ON CONFLICT (repository_id) DO NOTHING`, repoID, t.now)
	if err != nil {
		return fmt.Errorf("request auto-prune: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	return db.enqueue(ctx, t, JobAutoprune, AutopruneArgs{RepositoryID: repoID})
}

// AutopruneRepositories returns up to limit ids of repositories, after the
// id after in id order, that auto-prune policies apply to: those with a
// policy of their own or of their namespace, or, with all, every one.
func (db *DB) AutopruneRepositories(ctx context.Context, all bool, after int64, limit int) ([]int64, error) {
	if limit <= 0 {
		limit = 500
	}
	q := `SELECT r.id FROM repositories r WHERE r.id > ? AND (? OR EXISTS (SELECT 1 FROM autoprune_policies p
		WHERE p.repository_id = r.id OR (p.repository_id IS NULL AND p.namespace_id = r.namespace_id))) ORDER BY r.id LIMIT ?`
	var ids []int64
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, q, after, all, limit)
		if err != nil {
			return fmt.Errorf("auto-prune repositories: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// PruneRepository applies the auto-prune policies of a repository and of
// its namespace (or, when the namespace has none of its own, defaults, the
// registry-wide policies) to its current tags in one transaction, ending
// every tag one of them selects as a delete does (history stays for the time
// machine). Immutable tags (flag or policy) are never pruned. It returns the
// names of the pruned tags; an unknown repository prunes nothing.
func (db *DB) PruneRepository(ctx context.Context, repoID int64, defaults []core.AutoprunePolicy) ([]string, error) {
	var pruned []string
	err := db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM autoprune_pending WHERE repository_id = ?`, repoID); err != nil {
			return fmt.Errorf("clear auto-prune request: %w", err)
		}
		var nsID int64
		err := t.queryRow(ctx, `SELECT namespace_id FROM repositories WHERE id = ?`, repoID).Scan(&nsID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find repository: %w", err)
		}
		rows, err := t.query(ctx, `SELECT `+autopruneColumns+autopruneFrom+`WHERE p.repository_id = ? OR (p.repository_id IS NULL AND p.namespace_id = ?)
			ORDER BY p.id`, repoID, nsID)
		if err != nil {
			return fmt.Errorf("auto-prune policies: %w", err)
		}
		policies, err := scanAutoprunePolicies(rows)
		if err != nil {
			return err
		}
		nsHasOwn := false
		for _, p := range policies {
			nsHasOwn = nsHasOwn || p.Repository == ""
		}
		if !nsHasOwn {
			policies = append(policies, defaults...)
		}
		if len(policies) == 0 {
			return nil
		}
		pruned, err = pruneTags(ctx, t, repoID, policies)
		return err
	})
	return pruned, err
}

func pruneTags(ctx context.Context, t *tx, repoID int64, policies []core.AutoprunePolicy) ([]string, error) {
	rules, err := loadImmutabilityRules(ctx, t, repoID)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT id, name, lifetime_start, immutable FROM tags
		WHERE repository_id = ? AND lifetime_end IS NULL AND (expires_at IS NULL OR expires_at > ?)`, repoID, t.now)
	if err != nil {
		return nil, fmt.Errorf("current tags: %w", err)
	}
	ids := map[string]int64{}
	var candidates []core.PruneCandidate
	for rows.Next() {
		var id, start int64
		var name string
		var immutable bool
		if err := rows.Scan(&id, &name, &start, &immutable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan tag: %w", err)
		}
		if rules.ImmutableReason(name, immutable) != "" {
			continue
		}
		ids[name] = id
		candidates = append(candidates, core.PruneCandidate{Name: name, Created: time.UnixMilli(start)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	now := time.UnixMilli(t.now)
	var pruned []string
	// Policies run in turn, each on the tags the earlier ones left.
	for _, p := range policies {
		names := p.SelectPruned(candidates, now)
		if len(names) == 0 {
			continue
		}
		gone := map[string]bool{}
		for _, name := range names {
			gone[name] = true
			if _, err := t.exec(ctx, `UPDATE tags SET lifetime_end = ? WHERE id = ?`, t.now, ids[name]); err != nil {
				return nil, fmt.Errorf("prune tag: %w", err)
			}
			if err := logAction(ctx, t, core.LogAutopruneTagDelete, 0, repoID, auditMeta{"tag": name, "method": p.Method, "value": p.Value}); err != nil {
				return nil, err
			}
			pruned = append(pruned, name)
		}
		left := candidates[:0]
		for _, c := range candidates {
			if !gone[c.Name] {
				left = append(left, c)
			}
		}
		candidates = left
	}
	return pruned, nil
}
