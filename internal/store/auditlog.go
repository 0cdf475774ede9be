package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// Audit log: entries are written by logAction inside the write transaction
// of the change they record, so an entry exists if and only if the change
// was committed. The performer and client address come from the request
// context (core.ActorFrom); jobs have none and are logged without performer.

// auditMeta is the metadata of an entry.
type auditMeta = map[string]any

// logAction appends an audit log entry in t. repoID (when not 0) names the
// repository and its namespace; otherwise nsID (when not 0) names the
// namespace. Both may be 0 for registry-wide actions. Call it before rows
// it names are deleted: it copies their names.
func logAction(ctx context.Context, t *tx, kind string, nsID, repoID int64, meta auditMeta) error {
	e := core.AuditEntry{Kind: kind, NamespaceID: nsID, RepositoryID: repoID, Metadata: meta}
	switch {
	case repoID != 0:
		err := t.queryRow(ctx, `SELECT r.name, n.id, n.name, n.kind FROM repositories r JOIN namespaces n ON n.id = r.namespace_id
			WHERE r.id = ?`, repoID).Scan(&e.Repository, &e.NamespaceID, &e.Namespace, &e.NamespaceKind)
		if err != nil {
			return fmt.Errorf("audit log: repository %d: %w", repoID, err)
		}
	case nsID != 0:
		if err := t.queryRow(ctx, `SELECT name, kind FROM namespaces WHERE id = ?`, nsID).Scan(&e.Namespace, &e.NamespaceKind); err != nil {
			return fmt.Errorf("audit log: namespace %d: %w", nsID, err)
		}
	}
	if a, ok := core.ActorFrom(ctx); ok {
		e.PerformerID, e.PerformerName, e.PerformerKind, e.PerformerAuth, e.IP = a.UserID, a.Username, a.Kind, a.Auth, a.IP
	}
	return insertAudit(ctx, t, e, t.now)
}

// insertAudit writes one entry; a performer known only by name is looked up.
func insertAudit(ctx context.Context, t *tx, e core.AuditEntry, at int64) error {
	if e.PerformerID == 0 && e.PerformerName != "" {
		var kind string
		err := t.queryRow(ctx, `SELECT id, kind FROM users WHERE username = ?`, e.PerformerName).Scan(&e.PerformerID, &kind)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("audit log: performer: %w", err)
		}
		if err == nil && e.PerformerKind == "" {
			e.PerformerKind = kind
		}
	}
	meta := e.Metadata
	if meta == nil {
		meta = auditMeta{}
	}
	if e.Namespace != "" {
		if _, ok := meta["namespace"]; !ok {
			meta["namespace"] = e.Namespace
		}
	}
	if e.Repository != "" {
		if _, ok := meta["repo"]; !ok {
			meta["repo"] = e.Repository
		}
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("audit log: metadata: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO audit_logs (kind, performer_id, performer_name, performer_kind, performer_auth,
		namespace_id, namespace_name, namespace_kind, repository_id, repository_name, ip, metadata, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Kind, auditID(e.PerformerID), e.PerformerName, e.PerformerKind, e.PerformerAuth,
		auditID(e.NamespaceID), e.Namespace, e.NamespaceKind, auditID(e.RepositoryID), e.Repository, e.IP, string(b), at); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func auditID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// LogAction writes an audit log entry in a transaction of its own, for
// actions that change nothing in the database (a failed login, a token
// exchange) or happen outside it. namespace and repository (a full name)
// may be empty; a missing namespace or repository is logged without it.
func (db *DB) LogAction(ctx context.Context, kind, namespace, repository string, meta map[string]any) error {
	return db.write(ctx, func(t *tx) error {
		var nsID, repoID int64
		if repository != "" {
			if r, err := getRepo(ctx, t, repository); err == nil {
				repoID = r.ID
			}
		}
		if repoID == 0 && namespace != "" {
			if n, err := getNamespace(ctx, t, namespace); err == nil {
				nsID = n.ID
			}
		}
		return logAction(ctx, t, kind, nsID, repoID, meta)
	})
}

// AuditFilter selects audit log entries.
type AuditFilter struct {
	// Scope: a repository (RepositoryID), else a namespace (NamespaceID),
	// else every entry.
	RepositoryID int64
	NamespaceID  int64
	// Start and End bound the entries' times: Start <= time < End.
	Start, End time.Time
	// Performer is a username (empty: anyone).
	Performer string
	// Kinds restricts the kinds (empty: all).
	Kinds []string
	// After continues a listing after the last entry of the previous page.
	After *AuditCursor
	// Limit is the page size (default 20).
	Limit int
}

// AuditCursor is the position of an entry in the newest-first order.
type AuditCursor struct {
	Time int64 // Unix ms
	ID   int64
}

func (f AuditFilter) where() (string, []any) {
	conds := []string{"created_at >= ?", "created_at < ?"}
	args := []any{f.Start.UnixMilli(), f.End.UnixMilli()}
	switch {
	case f.RepositoryID != 0:
		conds = append(conds, "repository_id = ?")
		args = append(args, f.RepositoryID)
	case f.NamespaceID != 0:
		conds = append(conds, "namespace_id = ?")
		args = append(args, f.NamespaceID)
	}
	if f.Performer != "" {
		conds = append(conds, "performer_name = ?")
		args = append(args, f.Performer)
	}
	if len(f.Kinds) > 0 {
		conds = append(conds, "kind IN (?"+strings.Repeat(", ?", len(f.Kinds)-1)+")")
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	if f.After != nil {
		conds = append(conds, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, f.After.Time, f.After.Time, f.After.ID)
	}
	return strings.Join(conds, " AND "), args
}

// AuditLogs lists entries newest first; next is the cursor of the following
// page, nil on the last one.
func (db *DB) AuditLogs(ctx context.Context, f AuditFilter) (entries []core.AuditEntry, next *AuditCursor, err error) {
	if f.Limit <= 0 {
		f.Limit = 20
	}
	where, args := f.where()
	err = db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT id, kind, performer_id, performer_name, performer_kind, performer_auth,
			namespace_id, namespace_name, namespace_kind, repository_id, repository_name, ip, metadata, created_at
			FROM audit_logs WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, f.Limit+1)...)
		if err != nil {
			return fmt.Errorf("audit logs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e core.AuditEntry
			var perf, ns, repo sql.NullInt64
			var meta string
			var at int64
			if err := rows.Scan(&e.ID, &e.Kind, &perf, &e.PerformerName, &e.PerformerKind, &e.PerformerAuth,
				&ns, &e.Namespace, &e.NamespaceKind, &repo, &e.Repository, &e.IP, &meta, &at); err != nil {
				return fmt.Errorf("audit logs: %w", err)
			}
			e.PerformerID, e.NamespaceID, e.RepositoryID = perf.Int64, ns.Int64, repo.Int64
			e.Time = time.UnixMilli(at)
			if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
				e.Metadata = map[string]any{}
			}
			entries = append(entries, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	if len(entries) > f.Limit {
		entries = entries[:f.Limit]
		last := entries[len(entries)-1]
		next = &AuditCursor{Time: last.Time.UnixMilli(), ID: last.ID}
	}
	return entries, next, nil
}

// AuditCount is the number of entries of one kind on one (UTC) day.
type AuditCount struct {
	Kind  string
	Day   time.Time
	Count int64
}

// AggregateAuditLogs counts the entries f selects per kind and UTC day
// (f.After and f.Limit are ignored).
func (db *DB) AggregateAuditLogs(ctx context.Context, f AuditFilter) ([]AuditCount, error) {
	f.After = nil
	where, args := f.where()
	const day = int64(24 * time.Hour / time.Millisecond)
	var out []AuditCount
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT kind, created_at / 86400000 AS d, COUNT(*) FROM audit_logs WHERE `+where+`
			GROUP BY kind, created_at / 86400000 ORDER BY d, kind`, args...)
		if err != nil {
			return fmt.Errorf("aggregate audit logs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c AuditCount
			var d int64
			if err := rows.Scan(&c.Kind, &d, &c.Count); err != nil {
				return fmt.Errorf("aggregate audit logs: %w", err)
			}
			c.Day = time.UnixMilli(d * day).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteAuditLogsBefore deletes at most limit entries older than before and
// returns how many it deleted (retention; call until it returns less than
// limit).
func (db *DB) DeleteAuditLogsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM audit_logs WHERE id IN (
			SELECT id FROM audit_logs WHERE created_at < ? ORDER BY created_at LIMIT ?)`, before.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("delete audit logs: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// permissionLogKind is add_repo_permission when the user or team (col is
// user_id or team_id) has no role on the repository yet, else
// change_repo_permission.
func permissionLogKind(ctx context.Context, t *tx, repoID int64, col string, id int64) (string, error) {
	var n int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM repository_permissions WHERE repository_id = ? AND `+col+` = ?`, repoID, id).Scan(&n); err != nil {
		return "", fmt.Errorf("audit log: permission: %w", err)
	}
	if n == 0 {
		return core.LogAddRepoPermission, nil
	}
	return core.LogChangeRepoPermission, nil
}

// logRobotFederation logs a change of a robot's federation entries: Quay's
// create_robot_federation when it has entries after the change, and
// delete_robot_federation when they were all removed.
func logRobotFederation(ctx context.Context, t *tx, robot core.User, had int, entries []FederationEntry) error {
	if len(entries) == 0 && had == 0 {
		return nil
	}
	kind := core.LogCreateRobotFederation
	if len(entries) == 0 {
		kind = core.LogDeleteRobotFederation
	}
	cfg := make([]map[string]string, 0, len(entries))
	for _, e := range entries {
		cfg = append(cfg, map[string]string{"issuer": e.Issuer, "subject": e.Subject})
	}
	return logAction(ctx, t, kind, robot.RobotNamespaceID, 0, auditMeta{"robot": robot.Username, "config": cfg})
}

// logUserAction logs an action on a person's account in their namespace
// (when it exists), so that it shows in their own logs.
func logUserAction(ctx context.Context, t *tx, kind, username string, meta auditMeta) error {
	var nsID int64
	err := t.queryRow(ctx, `SELECT id FROM namespaces WHERE name = ?`, username).Scan(&nsID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit log: %w", err)
	}
	if meta == nil {
		meta = auditMeta{}
	}
	meta["username"] = username
	return logAction(ctx, t, kind, nsID, 0, meta)
}

// userNamespaceID is the id of a person's own namespace (0: none).
func userNamespaceID(ctx context.Context, t *tx, userID int64) (int64, error) {
	var id int64
	err := t.queryRow(ctx, `SELECT id FROM namespaces WHERE user_id = ?`, userID).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	return id, nil
}

// logAppToken logs the creation or revocation of a person's app token.
func logAppToken(ctx context.Context, t *tx, kind string, userID int64, uuid, title string) error {
	nsID, err := userNamespaceID(ctx, t, userID)
	if err != nil {
		return err
	}
	meta := auditMeta{"app_specific_token": uuid}
	if title != "" {
		meta["app_specific_token_title"] = title
	}
	return logAction(ctx, t, kind, nsID, 0, meta)
}

// logPrototype logs a change of an organization's default permission.
func logPrototype(ctx context.Context, t *tx, kind string, p core.Prototype) error {
	meta := auditMeta{"id": p.UUID, "role": p.Role}
	if p.ActivatingUser != "" {
		meta["activating_username"] = p.ActivatingUser
	}
	if p.DelegateUser != "" {
		meta["delegate_user"] = p.DelegateUser
	}
	if p.DelegateTeam != "" {
		meta["delegate_team"] = p.DelegateTeam
	}
	return logAction(ctx, t, kind, p.NamespaceID, 0, meta)
}

// logPolicy logs a change of a namespace's (repoID not valid) or a
// repository's policy, with the kind for that scope.
func logPolicy(ctx context.Context, t *tx, nsKind, repoKind string, nsID int64, repoID sql.NullInt64, meta auditMeta) error {
	if repoID.Valid {
		return logAction(ctx, t, repoKind, nsID, repoID.Int64, meta)
	}
	return logAction(ctx, t, nsKind, nsID, 0, meta)
}

// manifestDigest is the digest of a manifest row ("" when unknown).
func manifestDigest(ctx context.Context, t *tx, manifestID int64) (string, error) {
	var d string
	err := t.queryRow(ctx, `SELECT digest FROM manifests WHERE id = ?`, manifestID).Scan(&d)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("audit log: manifest: %w", err)
	}
	return d, nil
}

// logTag logs an action on a tag pointing at a manifest.
func logTag(ctx context.Context, t *tx, kind string, repoID int64, tag string, manifestID int64, meta auditMeta) error {
	d, err := manifestDigest(ctx, t, manifestID)
	if err != nil {
		return err
	}
	if meta == nil {
		meta = auditMeta{}
	}
	meta["tag"], meta["manifest_digest"] = tag, d
	return logAction(ctx, t, kind, 0, repoID, meta)
}

// logTagMove logs pointing a tag at a manifest through the API: create_tag
// when it had no alive row before, move_tag when it pointed elsewhere.
func logTagMove(ctx context.Context, t *tx, repoID int64, tag string, manifestID int64, prev tagRow, existed bool) error {
	if !existed {
		return logTag(ctx, t, core.LogCreateTag, repoID, tag, manifestID, nil)
	}
	if prev.manifestID == manifestID {
		return nil
	}
	old, err := manifestDigest(ctx, t, prev.manifestID)
	if err != nil {
		return err
	}
	return logTag(ctx, t, core.LogMoveTag, repoID, tag, manifestID, auditMeta{"original_manifest_digest": old})
}

// logTagExpiration logs setting (or clearing, zero at) a tag's expiry.
func logTagExpiration(ctx context.Context, t *tx, repoID int64, tag string, at time.Time) error {
	meta := auditMeta{"tag": tag, "expiration_date": nil}
	if !at.IsZero() {
		meta["expiration_date"] = at.UTC().Format(time.RFC3339)
	}
	return logAction(ctx, t, core.LogChangeTagExpiration, 0, repoID, meta)
}

// logExpiringTags logs the tags ExpireTags is about to end (the same
// selection, in the same transaction), as system actions.
func logExpiringTags(ctx context.Context, t *tx, now int64, limit int) error {
	rows, err := t.query(ctx, `SELECT tg.repository_id, tg.name, m.digest, tg.expires_at FROM tags tg JOIN manifests m ON m.id = tg.manifest_id
		WHERE tg.lifetime_end IS NULL AND tg.expires_at IS NOT NULL AND tg.expires_at <= ?
		ORDER BY tg.expires_at LIMIT ?`, now, limit)
	if err != nil {
		return fmt.Errorf("audit log: expiring tags: %w", err)
	}
	type expiring struct {
		repoID    int64
		tag, d    string
		expiresAt int64
	}
	var list []expiring
	for rows.Next() {
		var e expiring
		if err := rows.Scan(&e.repoID, &e.tag, &e.d, &e.expiresAt); err != nil {
			rows.Close()
			return fmt.Errorf("audit log: expiring tags: %w", err)
		}
		list = append(list, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit log: expiring tags: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	for _, e := range list {
		meta := auditMeta{"tag": e.tag, "manifest_digest": e.d, "expiration_date": time.UnixMilli(e.expiresAt).UTC().Format(time.RFC3339)}
		if err := logAction(ctx, t, core.LogTagExpiration, 0, e.repoID, meta); err != nil {
			return err
		}
	}
	return nil
}

// logPush logs a manifest push (Quay's push_repo), with the tags it sets.
func logPush(ctx context.Context, t *tx, repoID int64, m PutManifest) error {
	meta := auditMeta{"manifest_digest": string(m.Digest)}
	if len(m.Tags) > 0 {
		meta["tag"], meta["tags"] = m.Tags[0], m.Tags
	}
	return logAction(ctx, t, core.LogPushRepo, 0, repoID, meta)
}

// logManifestDelete logs a delete by digest: delete_tag for each tag it
// ends, and the deletion of the manifest itself.
func logManifestDelete(ctx context.Context, t *tx, manifestID int64, d fmt.Stringer) error {
	var repoID int64
	if err := t.queryRow(ctx, `SELECT repository_id FROM manifests WHERE id = ?`, manifestID).Scan(&repoID); err != nil {
		return fmt.Errorf("audit log: manifest: %w", err)
	}
	rows, err := t.query(ctx, `SELECT name FROM tags WHERE manifest_id = ? AND lifetime_end IS NULL
		AND (expires_at IS NULL OR expires_at > ?) ORDER BY name`, manifestID, t.now)
	if err != nil {
		return fmt.Errorf("audit log: tags: %w", err)
	}
	var tags []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("audit log: tags: %w", err)
		}
		tags = append(tags, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit log: tags: %w", err)
	}
	for _, tag := range tags {
		if err := logAction(ctx, t, core.LogDeleteTag, 0, repoID, auditMeta{"tag": tag, "manifest_digest": d.String()}); err != nil {
			return err
		}
	}
	return logAction(ctx, t, core.LogDeleteManifest, 0, repoID, auditMeta{"manifest_digest": d.String(), "tags": tags})
}

// logNamespace logs an action on a namespace named by name.
func logNamespace(ctx context.Context, t *tx, kind, namespace string, meta auditMeta) error {
	var nsID int64
	err := t.queryRow(ctx, `SELECT id FROM namespaces WHERE name = ?`, namespace).Scan(&nsID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit log: %w", err)
	}
	return logAction(ctx, t, kind, nsID, 0, meta)
}

// logScan logs the result of a manifest's vulnerability scan in its
// repository (when it still exists).
func logScan(ctx context.Context, t *tx, s ManifestScan) error {
	var repoID int64
	if r, err := getRepo(ctx, t, s.Repository); err == nil {
		repoID = r.ID
	}
	meta := auditMeta{"manifest_digest": string(s.Digest), "status": s.Status}
	if s.Error != "" {
		meta["error"] = s.Error
	}
	return logAction(ctx, t, core.LogScanManifest, 0, repoID, meta)
}

// JobExportLogs delivers an audit log export (Quay's exportactionlogsworker);
// its arguments are ExportLogsArgs.
const JobExportLogs = "export_action_logs"

// ExportLogsArgs are the arguments of JobExportLogs: the entries of a
// repository, a namespace (or, with neither, a user's namespace) between
// two times, and where to deliver them.
type ExportLogsArgs struct {
	ExportID      string `json:"export_id"`
	RepositoryID  int64  `json:"repository_id,omitempty"`
	NamespaceID   int64  `json:"namespace_id,omitempty"`
	Scope         string `json:"scope"` // what was exported, for the delivery (a repository or namespace name)
	Start         int64  `json:"start"` // Unix ms
	End           int64  `json:"end"`
	CallbackURL   string `json:"callback_url,omitempty"`
	CallbackEmail string `json:"callback_email,omitempty"`
	Requester     string `json:"requester"`
	RequesterIP   string `json:"requester_ip,omitempty"` // the client address of the request
}

// EnqueueLogExport enqueues JobExportLogs (core.CodeUnavailable without a
// job queue).
func (db *DB) EnqueueLogExport(ctx context.Context, args ExportLogsArgs) error {
	if db.jobs == nil {
		return core.Errorf(core.CodeUnavailable, "log export needs the job queue")
	}
	return db.write(ctx, func(t *tx) error { return db.enqueue(ctx, t, JobExportLogs, args) })
}
