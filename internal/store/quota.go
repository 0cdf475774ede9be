package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// JobQuotaRecount rebuilds a namespace's usage figures from the manifests;
// its arguments are QuotaRecountArgs.
const JobQuotaRecount = "quota_recount"

// QuotaRecountArgs are the arguments of JobQuotaRecount.
type QuotaRecountArgs struct {
	Namespace string `json:"namespace"`
}

// Quotas lists the quota of a namespace (Quay's list shape: none or one),
// or core.CodeNotFound for an unknown namespace.
func (db *DB) Quotas(ctx context.Context, namespace string) ([]core.Quota, error) {
	out := []core.Quota{}
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		q, found, err := namespaceQuota(ctx, t, n)
		if found {
			out = append(out, q)
		}
		return err
	})
	return out, err
}

// Quota returns the quota id of a namespace, or core.CodeNotFound.
func (db *DB) Quota(ctx context.Context, namespace string, id int64) (core.Quota, error) {
	var q core.Quota
	err := db.read(ctx, func(t *tx) error {
		var err error
		q, err = getQuota(ctx, t, namespace, id)
		return err
	})
	return q, err
}

func namespaceQuota(ctx context.Context, t *tx, n core.Namespace) (core.Quota, bool, error) {
	q := core.Quota{Namespace: n.Name}
	err := t.queryRow(ctx, `SELECT id, limit_bytes FROM namespace_quotas WHERE namespace_id = ?`, n.ID).Scan(&q.ID, &q.LimitBytes)
	if errors.Is(err, sql.ErrNoRows) {
		return q, false, nil
	}
	if err != nil {
		return q, false, fmt.Errorf("get quota: %w", err)
	}
	rows, err := t.query(ctx, `SELECT id, kind, threshold_percent FROM quota_limits WHERE quota_id = ? ORDER BY id`, q.ID)
	if err != nil {
		return q, false, fmt.Errorf("quota limits: %w", err)
	}
	defer rows.Close()
	q.Limits = []core.QuotaLimit{}
	for rows.Next() {
		var l core.QuotaLimit
		if err := rows.Scan(&l.ID, &l.Kind, &l.ThresholdPercent); err != nil {
			return q, false, fmt.Errorf("scan quota limit: %w", err)
		}
		q.Limits = append(q.Limits, l)
	}
	return q, true, rows.Err()
}

func getQuota(ctx context.Context, t *tx, namespace string, id int64) (core.Quota, error) {
	n, err := getNamespace(ctx, t, namespace)
	if err != nil {
		return core.Quota{}, err
	}
	q, found, err := namespaceQuota(ctx, t, n)
	if err != nil {
		return q, err
	}
	if !found || q.ID != id {
		return q, core.Errorf(core.CodeNotFound, "quota %d not found", id)
	}
	return q, nil
}

// CreateQuota gives a namespace its storage limit; a namespace has at most
// one (core.CodeInvalid), and the limit must be positive.
func (db *DB) CreateQuota(ctx context.Context, namespace string, limitBytes int64) (core.Quota, error) {
	var q core.Quota
	if limitBytes <= 0 {
		return q, core.Errorf(core.CodeInvalid, "limit_bytes must be positive")
	}
	err := db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		if _, found, err := namespaceQuota(ctx, t, n); err != nil || found {
			if found {
				return core.Errorf(core.CodeInvalid, "Quota for %q already exists", namespace)
			}
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO namespace_quotas (namespace_id, limit_bytes, created_at) VALUES (?, ?, ?)`,
			n.ID, limitBytes, t.now); err != nil {
			return fmt.Errorf("create quota: %w", err)
		}
		if q, _, err = namespaceQuota(ctx, t, n); err != nil {
			return err
		}
		return logAction(ctx, t, core.LogOrgCreateQuota, n.ID, 0, auditMeta{"quota": limitBytes})
	})
	return q, err
}

// UpdateQuota changes a quota's limit.
func (db *DB) UpdateQuota(ctx context.Context, namespace string, id, limitBytes int64) error {
	if limitBytes <= 0 {
		return core.Errorf(core.CodeInvalid, "limit_bytes must be positive")
	}
	return db.write(ctx, func(t *tx) error {
		if _, err := getQuota(ctx, t, namespace, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE namespace_quotas SET limit_bytes = ? WHERE id = ?`, limitBytes, id); err != nil {
			return fmt.Errorf("update quota: %w", err)
		}
		if err := logNamespace(ctx, t, core.LogOrgChangeQuota, namespace, auditMeta{"quota": limitBytes}); err != nil {
			return err
		}
		return clearQuotaNotificationsOf(ctx, t, namespace)
	})
}

// DeleteQuota removes a quota with its limits.
func (db *DB) DeleteQuota(ctx context.Context, namespace string, id int64) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := getQuota(ctx, t, namespace, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM quota_limits WHERE quota_id = ?`, id); err != nil {
			return fmt.Errorf("delete quota limits: %w", err)
		}
		if _, err := t.exec(ctx, `DELETE FROM namespace_quotas WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete quota: %w", err)
		}
		if err := logNamespace(ctx, t, core.LogOrgDeleteQuota, namespace, auditMeta{"quota_id": id}); err != nil {
			return err
		}
		return clearQuotaNotificationsOf(ctx, t, namespace)
	})
}

func validLimit(kind string, percent int64) error {
	if kind != core.QuotaWarning && kind != core.QuotaReject {
		return core.Errorf(core.CodeInvalid, "type must be %s or %s", core.QuotaWarning, core.QuotaReject)
	}
	if percent <= 0 || percent > 100 {
		return core.Errorf(core.CodeInvalid, "threshold_percent must be between 1 and 100")
	}
	return nil
}

// CreateQuotaLimit adds a threshold to a quota. A quota has at most one
// threshold of each kind at the same percentage, and one Reject threshold.
func (db *DB) CreateQuotaLimit(ctx context.Context, namespace string, quotaID int64, kind string, percent int64) (core.QuotaLimit, error) {
	l := core.QuotaLimit{Kind: kind, ThresholdPercent: percent}
	if err := validLimit(kind, percent); err != nil {
		return l, err
	}
	err := db.write(ctx, func(t *tx) error {
		q, err := getQuota(ctx, t, namespace, quotaID)
		if err != nil {
			return err
		}
		if err := checkLimitConflict(q, l); err != nil {
			return err
		}
		if err := t.queryRow(ctx, `INSERT INTO quota_limits (quota_id, kind, threshold_percent) VALUES (?, ?, ?) RETURNING id`,
			quotaID, kind, percent).Scan(&l.ID); err != nil {
			return fmt.Errorf("create quota limit: %w", err)
		}
		return logNamespace(ctx, t, core.LogOrgCreateQuotaLimit, namespace, auditMeta{"type": kind, "threshold_percent": percent})
	})
	return l, err
}

func checkLimitConflict(q core.Quota, l core.QuotaLimit) error {
	for _, o := range q.Limits {
		if o.ID == l.ID {
			continue
		}
		if o.Kind == l.Kind && (o.ThresholdPercent == l.ThresholdPercent || l.Kind == core.QuotaReject) {
			return core.Errorf(core.CodeInvalid, "Quota limit already exists")
		}
	}
	return nil
}

// UpdateQuotaLimit changes a threshold of a quota.
func (db *DB) UpdateQuotaLimit(ctx context.Context, namespace string, quotaID int64, l core.QuotaLimit) error {
	if err := validLimit(l.Kind, l.ThresholdPercent); err != nil {
		return err
	}
	return db.write(ctx, func(t *tx) error {
		q, err := getQuota(ctx, t, namespace, quotaID)
		if err != nil {
			return err
		}
		if !hasLimit(q, l.ID) {
			return core.Errorf(core.CodeNotFound, "quota limit %d not found", l.ID)
		}
		if err := checkLimitConflict(q, l); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE quota_limits SET kind = ?, threshold_percent = ? WHERE id = ?`, l.Kind, l.ThresholdPercent, l.ID); err != nil {
			return fmt.Errorf("update quota limit: %w", err)
		}
		if err := logNamespace(ctx, t, core.LogOrgChangeQuotaLimit, namespace, auditMeta{"type": l.Kind, "threshold_percent": l.ThresholdPercent}); err != nil {
			return err
		}
		return clearQuotaNotificationsOf(ctx, t, namespace)
	})
}

// DeleteQuotaLimit removes a threshold of a quota.
func (db *DB) DeleteQuotaLimit(ctx context.Context, namespace string, quotaID, limitID int64) error {
	return db.write(ctx, func(t *tx) error {
		q, err := getQuota(ctx, t, namespace, quotaID)
		if err != nil {
			return err
		}
		if !hasLimit(q, limitID) {
			return core.Errorf(core.CodeNotFound, "quota limit %d not found", limitID)
		}
		if _, err := t.exec(ctx, `DELETE FROM quota_limits WHERE id = ?`, limitID); err != nil {
			return fmt.Errorf("delete quota limit: %w", err)
		}
		if err := logNamespace(ctx, t, core.LogOrgDeleteQuotaLimit, namespace, auditMeta{"limit_id": limitID}); err != nil {
			return err
		}
		return clearQuotaNotificationsOf(ctx, t, namespace)
	})
}

func hasLimit(q core.Quota, id int64) bool {
	for _, l := range q.Limits {
		if l.ID == id {
			return true
		}
	}
	return false
}

// NamespaceUsage returns the bytes a namespace uses (kept online) and its
// quota, if any.
func (db *DB) NamespaceUsage(ctx context.Context, namespace string) (int64, *core.Quota, error) {
	var used int64
	var quota *core.Quota
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		if used, err = usageOf(ctx, t, n.ID); err != nil {
			return err
		}
		q, found, err := namespaceQuota(ctx, t, n)
		if found {
			quota = &q
		}
		return err
	})
	return used, quota, err
}

func usageOf(ctx context.Context, t *tx, nsID int64) (int64, error) {
	var used int64
	err := t.queryRow(ctx, `SELECT bytes FROM namespace_usage WHERE namespace_id = ?`, nsID).Scan(&used)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("namespace usage: %w", err)
	}
	return used, nil
}

// CountNamespaceUsage counts a namespace's usage from scratch, without
// changing anything: the figure NamespaceUsage must equal.
func (db *DB) CountNamespaceUsage(ctx context.Context, namespace string) (int64, error) {
	var used int64
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		return t.queryRow(ctx, `SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (
			SELECT mb.digest FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id
			JOIN repositories r ON r.id = m.repository_id WHERE r.namespace_id = ? AND m.deleted_at IS NULL)`, n.ID).Scan(&used)
	})
	return used, err
}

// RecountNamespaceUsage rebuilds a namespace's reference counts and usage
// from its manifests in one transaction and returns the usage. Reads go on
// meanwhile; writes to the namespace wait for it.
func (db *DB) RecountNamespaceUsage(ctx context.Context, namespace string) (int64, error) {
	var used int64
	err := db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM namespace_blob_refs WHERE namespace_id = ?`, n.ID); err != nil {
			return fmt.Errorf("clear blob references: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO namespace_blob_refs (namespace_id, digest, refs)
			SELECT r.namespace_id, mb.digest, COUNT(*) FROM manifest_blobs mb
			JOIN manifests m ON m.id = mb.manifest_id JOIN repositories r ON r.id = m.repository_id
			WHERE r.namespace_id = ? AND m.deleted_at IS NULL GROUP BY r.namespace_id, mb.digest`, n.ID); err != nil {
			return fmt.Errorf("count blob references: %w", err)
		}
		if err := t.queryRow(ctx, `SELECT COALESCE(SUM(b.size), 0) FROM namespace_blob_refs nr JOIN blobs b ON b.digest = nr.digest
			WHERE nr.namespace_id = ?`, n.ID).Scan(&used); err != nil {
			return fmt.Errorf("sum usage: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO namespace_usage (namespace_id, bytes, recounted_at) VALUES (?, ?, ?)
			ON CONFLICT (namespace_id) DO UPDATE SET bytes = excluded.bytes, recounted_at = excluded.recounted_at`, n.ID, used, t.now); err != nil {
			return fmt.Errorf("store usage: %w", err)
		}
		return nil
	})
	return used, err
}

// RequestUsageRecount enqueues JobQuotaRecount for a namespace.
func (db *DB) RequestUsageRecount(ctx context.Context, namespace string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := getNamespace(ctx, t, namespace); err != nil {
			return err
		}
		return db.enqueue(ctx, t, JobQuotaRecount, QuotaRecountArgs{Namespace: namespace})
	})
}

// manifestLive reports whether a repository holds a live manifest d. On
// PostgreSQL it locks the row, so that a concurrent push or delete of the
// same manifest is seen and not counted twice.
func manifestLive(ctx context.Context, t *tx, repoID int64, d digest.Digest) (bool, error) {
	var deleted sql.NullInt64
	err := t.queryRow(ctx, `SELECT deleted_at FROM manifests WHERE repository_id = ? AND digest = ?`+t.lockSuffix("FOR NO KEY UPDATE"),
		repoID, string(d)).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find manifest: %w", err)
	}
	return !deleted.Valid, nil
}

// countManifestUsage adds (delta 1) or removes (delta -1) a manifest's
// references to its blobs in its namespace's counts as it becomes live or
// stops being live, and returns the namespace and the change in bytes.
func countManifestUsage(ctx context.Context, t *tx, manifestID int64, delta int) (nsID, changed int64, err error) {
	if err := t.queryRow(ctx, `SELECT r.namespace_id FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE m.id = ?`,
		manifestID).Scan(&nsID); err != nil {
		return 0, 0, fmt.Errorf("manifest namespace: %w", err)
	}
	// The namespace's usage row is locked first (PostgreSQL), so that
	// transactions counting in one namespace take their locks in one order.
	if _, err := t.exec(ctx, `INSERT INTO namespace_usage (namespace_id, bytes) VALUES (?, 0)
		ON CONFLICT (namespace_id) DO NOTHING`, nsID); err != nil {
		return 0, 0, fmt.Errorf("namespace usage: %w", err)
	}
	var current int64
	if err := t.queryRow(ctx, `SELECT bytes FROM namespace_usage WHERE namespace_id = ?`+t.lockSuffix("FOR UPDATE"), nsID).Scan(&current); err != nil {
		return 0, 0, fmt.Errorf("lock namespace usage: %w", err)
	}
	rows, err := t.query(ctx, `SELECT mb.digest, b.size FROM manifest_blobs mb JOIN blobs b ON b.digest = mb.digest
		WHERE mb.manifest_id = ? ORDER BY mb.digest`, manifestID)
	if err != nil {
		return 0, 0, fmt.Errorf("manifest blobs: %w", err)
	}
	type ref struct {
		digest string
		size   int64
	}
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.digest, &r.size); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("scan manifest blob: %w", err)
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, r := range refs {
		var n int64
		if delta > 0 {
			err = t.queryRow(ctx, `INSERT INTO namespace_blob_refs (namespace_id, digest, refs) VALUES (?, ?, 1)
				ON CONFLICT (namespace_id, digest) DO UPDATE SET refs = namespace_blob_refs.refs + 1 RETURNING refs`,
				nsID, r.digest).Scan(&n)
			if err == nil && n == 1 {
				changed += r.size
			}
		} else {
			err = t.queryRow(ctx, `UPDATE namespace_blob_refs SET refs = refs - 1 WHERE namespace_id = ? AND digest = ? RETURNING refs`,
				nsID, r.digest).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				err = nil // counted before the references existed: a recount fixes it
				continue
			}
			if err == nil && n <= 0 {
				changed -= r.size
				_, err = t.exec(ctx, `DELETE FROM namespace_blob_refs WHERE namespace_id = ? AND digest = ?`, nsID, r.digest)
			}
		}
		if err != nil {
			return 0, 0, fmt.Errorf("count blob reference: %w", err)
		}
	}
	if changed != 0 {
		if _, err := t.exec(ctx, `UPDATE namespace_usage SET bytes = bytes + ? WHERE namespace_id = ?`, changed, nsID); err != nil {
			return 0, 0, fmt.Errorf("update namespace usage: %w", err)
		}
	}
	if changed < 0 {
		if err := usageShrank(ctx, t, nsID); err != nil {
			return 0, 0, err
		}
	}
	return nsID, changed, nil
}

// releaseManifestUsage is countManifestUsage(-1) for a manifest that is
// live: call it before a live manifest is deleted or marked deleted.
func releaseManifestUsage(ctx context.Context, t *tx, manifestID int64) error {
	var deleted sql.NullInt64
	err := t.queryRow(ctx, `SELECT deleted_at FROM manifests WHERE id = ?`+t.lockSuffix("FOR UPDATE"), manifestID).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deleted.Valid) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find manifest: %w", err)
	}
	_, _, err = countManifestUsage(ctx, t, manifestID, -1)
	return err
}

// QuotaOptions tune quota enforcement.
type QuotaOptions struct {
	// Disabled turns enforcement and quota events off (Quay's
	// FEATURE_QUOTA_MANAGEMENT false); usage is still counted.
	Disabled bool
	// SystemRejectBytes is the limit of namespaces without a quota of
	// their own (Quay's DEFAULT_SYSTEM_REJECT_QUOTA_BYTES): a push that
	// takes one to this size or more is refused. 0: none.
	SystemRejectBytes int64
}

// checkQuota refuses (core.CodeDenied, naming the quota) when a namespace's
// usage plus extra bytes is above its Reject threshold or, for a namespace
// without a quota, reaches the system default limit.
func (db *DB) checkQuota(ctx context.Context, t *tx, nsID, extra int64) error {
	if db.quota.Disabled {
		return nil
	}
	var name string
	if err := t.queryRow(ctx, `SELECT name FROM namespaces WHERE id = ?`, nsID).Scan(&name); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	q, found, err := namespaceQuota(ctx, t, core.Namespace{ID: nsID, Name: name})
	if err != nil {
		return err
	}
	if !found {
		limit := db.quota.SystemRejectBytes
		if limit <= 0 {
			return nil
		}
		used, err := usageOf(ctx, t, nsID)
		if err != nil {
			return err
		}
		if used+extra < limit {
			return nil
		}
		return &quotaRefusal{nsID: nsID, attempted: used + extra, limitBytes: limit, threshold: 100,
			err: core.Errorf(core.CodeDenied, "Quota has been exceeded on namespace %s: %s used of the system default quota of %s",
				name, core.FormatByteSize(used+extra), core.FormatByteSize(limit))}
	}
	reject := q.RejectBytes()
	if reject < 0 {
		return nil
	}
	used, err := usageOf(ctx, t, nsID)
	if err != nil {
		return err
	}
	if used+extra > reject {
		var pct int64
		for _, l := range q.Limits {
			if l.Kind == core.QuotaReject && thresholdBytes(q.LimitBytes, l.ThresholdPercent) == reject {
				pct = l.ThresholdPercent
			}
		}
		return &quotaRefusal{nsID: nsID, attempted: used + extra, limitBytes: q.LimitBytes, threshold: pct,
			err: core.Errorf(core.CodeDenied, "Quota has been exceeded on namespace %s: %s used of its %s quota %d, which rejects pushes above %s",
				name, core.FormatByteSize(used+extra), core.FormatByteSize(q.LimitBytes), q.ID, core.FormatByteSize(reject))}
	}
	return nil
}

// CheckBlobQuota refuses (core.CodeDenied) a blob of size bytes that would
// take the namespace of repo over its Reject threshold; a blob the
// namespace's manifests already reference costs nothing. An unknown
// repository is checked against its namespace.
func (db *DB) CheckBlobQuota(ctx context.Context, repo string, d digest.Digest, size int64) error {
	return db.noteQuotaRefusal(ctx, db.read(ctx, func(t *tx) error {
		ns, _, _ := strings.Cut(repo, "/")
		var nsID int64
		err := t.queryRow(ctx, `SELECT id FROM namespaces WHERE name = ?`, ns).Scan(&nsID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		if d != "" {
			var n int
			if err := t.queryRow(ctx, `SELECT COUNT(*) FROM namespace_blob_refs WHERE namespace_id = ? AND digest = ?`, nsID, string(d)).Scan(&n); err != nil {
				return fmt.Errorf("blob references: %w", err)
			}
			if n > 0 {
				return nil
			}
		}
		return db.checkQuota(ctx, t, nsID, size)
	}))
}

// releaseRepositoryUsage takes the live manifests of a repository that is
// being deleted out of its namespace's usage.
func releaseRepositoryUsage(ctx context.Context, t *tx, repoID int64) error {
	rows, err := t.query(ctx, `SELECT id FROM manifests WHERE repository_id = ? AND deleted_at IS NULL ORDER BY id`, repoID)
	if err != nil {
		return fmt.Errorf("repository manifests: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("scan manifest: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, _, err := countManifestUsage(ctx, t, id, -1); err != nil {
			return err
		}
	}
	return nil
}
