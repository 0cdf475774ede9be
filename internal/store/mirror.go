package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// Mirror sync statuses (Quay's RepoMirrorStatus).
const (
	MirrorNeverRun = "NEVER_RUN"
	MirrorSyncNow  = "SYNC_NOW"
	MirrorSyncing  = "SYNCING"
	MirrorSuccess  = "SUCCESS"
	MirrorFail     = "FAIL"
	MirrorCancel   = "CANCEL"
)

// MirrorMaxRetries is how many failed attempts a sync gets before it ends
// as FAIL (Quay's MAX_SYNC_RETRIES).
const MirrorMaxRetries = 3

// Mirror events (Quay's), emitted in the transactions that start and end a
// sync.
const (
	EventMirrorSyncStarted = "repo_mirror_sync_started"
	EventMirrorSyncSuccess = "repo_mirror_sync_success"
	EventMirrorSyncFailed  = "repo_mirror_sync_failed"
)

// JobMirrorSync runs one sync of a repository mirror; its arguments are
// MirrorSyncArgs.
const JobMirrorSync = "mirror_sync"

// MirrorSyncArgs are the arguments of JobMirrorSync: the repository and
// the claim (token) the job holds. A job whose token is no longer the
// mirror's does nothing.
type MirrorSyncArgs struct {
	RepositoryID int64  `json:"repository_id"`
	Token        string `json:"token"`
}

// MirrorConfig is what an administrator sets on a mirror.
type MirrorConfig struct {
	IsEnabled         bool
	ExternalReference string
	// UsernameEnc and PasswordEnc are sealed with the at-rest key; empty
	// means none.
	UsernameEnc string
	PasswordEnc string
	// RobotID is the robot that the mirror writes as (0: none).
	RobotID       int64
	SyncInterval  int64 // seconds
	SyncStartDate time.Time
	// RuleValue are the tag glob patterns (Quay's tag_glob_csv).
	RuleValue          []string
	ArchitectureFilter []string
	// RegistryConfig is external_registry_config (a JSON object).
	RegistryConfig     json.RawMessage
	DeleteObsoleteTags bool
}

// Mirror is a repository's mirror configuration and its sync state.
type Mirror struct {
	MirrorConfig
	RepositoryID         int64
	Repository           string
	RepositoryState      string
	RobotUsername        string
	SyncExpirationDate   time.Time // zero: none
	SyncRetriesRemaining int
	SyncStatus           string
	SyncToken            string
	LastSyncStart        time.Time // zero: never
	LastSyncEnd          time.Time // zero: never
	LastSyncResult       string
	LastError            string
	TagsSynced           int
	TagsFailed           int
}

// MirrorResult is how a sync ended.
type MirrorResult struct {
	Status     string // MirrorSuccess, MirrorFail or MirrorCancel
	TagsSynced int
	TagsFailed int
	Error      string
	// Data is the event data of the success or failure notification.
	Data any
}

const mirrorColumns = `m.repository_id, r.full_name, r.state, m.is_enabled, m.external_reference, m.username_enc,
	m.password_enc, m.robot_id, u.username, m.sync_interval, m.sync_start_date, m.sync_expiration_date,
	m.sync_retries_remaining, m.sync_status, m.sync_token, m.rule_value, m.architecture_filter, m.registry_config,
	m.delete_obsolete_tags, m.last_sync_start, m.last_sync_end, m.last_sync_result, m.last_error, m.tags_synced,
	m.tags_failed`

const mirrorFrom = ` FROM repo_mirrors m JOIN repositories r ON r.id = m.repository_id
	LEFT JOIN users u ON u.id = m.robot_id `

func msTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

func scanMirror(row interface{ Scan(...any) error }) (Mirror, error) {
	var m Mirror
	var user, pass, robot sql.NullString
	var robotID, expiration, lastStart, lastEnd sql.NullInt64
	var start int64
	var rules, arch, cfg string
	err := row.Scan(&m.RepositoryID, &m.Repository, &m.RepositoryState, &m.IsEnabled, &m.ExternalReference, &user, &pass,
		&robotID, &robot, &m.SyncInterval, &start, &expiration, &m.SyncRetriesRemaining, &m.SyncStatus, &m.SyncToken,
		&rules, &arch, &cfg, &m.DeleteObsoleteTags, &lastStart, &lastEnd, &m.LastSyncResult, &m.LastError,
		&m.TagsSynced, &m.TagsFailed)
	if err != nil {
		return m, err
	}
	m.UsernameEnc, m.PasswordEnc = user.String, pass.String
	m.RobotID, m.RobotUsername = robotID.Int64, robot.String
	m.SyncStartDate = time.UnixMilli(start)
	m.SyncExpirationDate = msTime(expiration)
	m.LastSyncStart, m.LastSyncEnd = msTime(lastStart), msTime(lastEnd)
	if err := json.Unmarshal([]byte(rules), &m.RuleValue); err != nil {
		return m, fmt.Errorf("decode mirror rule: %w", err)
	}
	if err := json.Unmarshal([]byte(arch), &m.ArchitectureFilter); err != nil {
		return m, fmt.Errorf("decode mirror architectures: %w", err)
	}
	m.RegistryConfig = json.RawMessage(cfg)
	return m, nil
}

func getMirror(ctx context.Context, t *tx, where string, arg any) (Mirror, error) {
	lock := ""
	if t.write {
		lock = t.lockSuffix("FOR UPDATE OF m")
	}
	m, err := scanMirror(t.queryRow(ctx, `SELECT `+mirrorColumns+mirrorFrom+`WHERE `+where+lock, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return m, core.Errorf(core.CodeNotFound, "no mirror configuration")
	}
	if err != nil {
		return m, fmt.Errorf("get mirror: %w", err)
	}
	return m, nil
}

// Mirror returns a repository's mirror, core.CodeNameUnknown for a missing
// repository or core.CodeNotFound when it has no mirror configuration.
func (db *DB) Mirror(ctx context.Context, repo string) (Mirror, error) {
	var m Mirror
	err := db.read(ctx, func(t *tx) error {
		if _, err := getRepo(ctx, t, repo); err != nil {
			return err
		}
		var err error
		m, err = getMirror(ctx, t, `r.full_name = ?`, repo)
		return err
	})
	return m, err
}

func (c MirrorConfig) encoded() (rules, arch, cfg string, err error) {
	r, err := json.Marshal(nonNil(c.RuleValue))
	if err != nil {
		return "", "", "", err
	}
	a, err := json.Marshal(nonNil(c.ArchitectureFilter))
	if err != nil {
		return "", "", "", err
	}
	return string(r), string(a), jsonObject(c.RegistryConfig), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// CreateMirror adds a mirror configuration to a repository (status
// NEVER_RUN), or core.CodeConflict when it has one.
func (db *DB) CreateMirror(ctx context.Context, repo string, c MirrorConfig) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		if _, err := getMirror(ctx, t, `m.repository_id = ?`, r.ID); err == nil {
			return core.Errorf(core.CodeConflict, "Mirror configuration already exists for repository %s", repo)
		}
		return insertMirror(ctx, t, r.ID, c)
	})
}

// insertMirror adds a repository's mirror configuration and logs it.
func insertMirror(ctx context.Context, t *tx, repoID int64, c MirrorConfig) error {
	rules, arch, cfg, err := c.encoded()
	if err != nil {
		return fmt.Errorf("create mirror: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO repo_mirrors (repository_id, is_enabled, external_reference, username_enc,
		password_enc, robot_id, sync_interval, sync_start_date, sync_retries_remaining, sync_status, rule_value,
		architecture_filter, registry_config, delete_obsolete_tags, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		repoID, c.IsEnabled, c.ExternalReference, nullString(c.UsernameEnc), nullString(c.PasswordEnc), nullID(c.RobotID),
		c.SyncInterval, c.SyncStartDate.UnixMilli(), MirrorMaxRetries, MirrorNeverRun, rules, arch, cfg,
		c.DeleteObsoleteTags, t.now)
	if err != nil {
		return fmt.Errorf("create mirror: %w", err)
	}
	return logMirrorCreated(ctx, t, repoID, c)
}

// UpdateMirror replaces a mirror's configuration (its sync state stays).
func (db *DB) UpdateMirror(ctx context.Context, repo string, c MirrorConfig) error {
	rules, arch, cfg, err := c.encoded()
	if err != nil {
		return fmt.Errorf("update mirror: %w", err)
	}
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		old, err := getMirror(ctx, t, `m.repository_id = ?`, r.ID)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, `UPDATE repo_mirrors SET is_enabled = ?, external_reference = ?, username_enc = ?,
			password_enc = ?, robot_id = ?, sync_interval = ?, sync_start_date = ?, rule_value = ?,
			architecture_filter = ?, registry_config = ?, delete_obsolete_tags = ? WHERE repository_id = ?`,
			c.IsEnabled, c.ExternalReference, nullString(c.UsernameEnc), nullString(c.PasswordEnc), nullID(c.RobotID),
			c.SyncInterval, c.SyncStartDate.UnixMilli(), rules, arch, cfg, c.DeleteObsoleteTags, r.ID)
		if err != nil {
			return fmt.Errorf("update mirror: %w", err)
		}
		return logMirrorUpdated(ctx, t, r.ID, old.MirrorConfig, c)
	})
}

// claimMirror gives the mirror a new sync token and lease with status, and
// enqueues the job that syncs it.
func (db *DB) claimMirror(ctx context.Context, t *tx, repoID int64, status string, lease time.Duration) error {
	token := newUUID()
	if _, err := t.exec(ctx, `UPDATE repo_mirrors SET sync_status = ?, sync_token = ?, sync_expiration_date = ?,
		sync_retries_remaining = ? WHERE repository_id = ?`,
		status, token, t.now+lease.Milliseconds(), MirrorMaxRetries, repoID); err != nil {
		return fmt.Errorf("claim mirror: %w", err)
	}
	return db.enqueue(ctx, t, JobMirrorSync, MirrorSyncArgs{RepositoryID: repoID, Token: token})
}

// MirrorSyncNow asks for a sync now (status SYNC_NOW, a job enqueued in the
// same transaction). A sync in progress is core.CodeConflict; a repository
// not in state MIRROR is core.CodeInvalid.
func (db *DB) MirrorSyncNow(ctx context.Context, repo string, lease time.Duration) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		m, err := getMirror(ctx, t, `m.repository_id = ?`, r.ID)
		if err != nil {
			return err
		}
		if r.State != core.RepoStateMirror {
			return core.Errorf(core.CodeInvalid, "repository %s is not in state MIRROR", repo)
		}
		if !m.IsEnabled {
			return core.Errorf(core.CodeInvalid, "the mirror of %s is disabled", repo)
		}
		if m.SyncStatus == MirrorSyncing && m.SyncExpirationDate.UnixMilli() > t.now {
			return core.Errorf(core.CodeConflict, "a sync of %s is in progress", repo)
		}
		if err := db.claimMirror(ctx, t, r.ID, MirrorSyncNow, lease); err != nil {
			return err
		}
		return logAction(ctx, t, core.LogRepoMirrorSyncNowRequested, 0, r.ID, nil)
	})
}

// MirrorSyncCancel cancels a queued or running sync (status CANCEL); the
// running job stops at its next check. Without one it is core.CodeNotFound.
func (db *DB) MirrorSyncCancel(ctx context.Context, repo string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		m, err := getMirror(ctx, t, `m.repository_id = ?`, r.ID)
		if err != nil {
			return err
		}
		if m.SyncStatus != MirrorSyncing && m.SyncStatus != MirrorSyncNow {
			return core.Errorf(core.CodeNotFound, "no sync of %s to cancel", repo)
		}
		if _, err := t.exec(ctx, `UPDATE repo_mirrors SET sync_status = ?, sync_token = '', sync_expiration_date = NULL
			WHERE repository_id = ?`, MirrorCancel, r.ID); err != nil {
			return fmt.Errorf("cancel mirror sync: %w", err)
		}
		return logAction(ctx, t, core.LogRepoMirrorConfigChanged, 0, r.ID, auditMeta{"changed": "sync_status", "to": "SYNC_CANCEL"})
	})
}

// ClaimDueMirrors claims up to limit enabled mirrors of repositories in
// state MIRROR whose next sync is due (or whose claim's lease ran out) and
// enqueues their sync jobs. It returns how many it claimed.
func (db *DB) ClaimDueMirrors(ctx context.Context, lease time.Duration, limit int) (int, error) {
	n := 0
	err := db.write(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT m.repository_id FROM repo_mirrors m JOIN repositories r ON r.id = m.repository_id
			WHERE m.is_enabled = ? AND r.state = ? AND (
				(m.sync_status IN (?, ?, ?, ?) AND m.sync_start_date <= ?)
				OR (m.sync_status IN (?, ?) AND (m.sync_expiration_date IS NULL OR m.sync_expiration_date <= ?)))
			ORDER BY m.sync_start_date, m.repository_id LIMIT ?`+t.lockSuffix("FOR UPDATE OF m SKIP LOCKED"),
			true, core.RepoStateMirror, MirrorNeverRun, MirrorSuccess, MirrorFail, MirrorCancel, t.now,
			MirrorSyncing, MirrorSyncNow, t.now, limit)
		if err != nil {
			return fmt.Errorf("due mirrors: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("due mirrors: %w", err)
		}
		for _, id := range ids {
			if err := db.claimMirror(ctx, t, id, MirrorSyncing, lease); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// BeginMirrorSync starts (or, on a retry, resumes) the sync that holds
// token: status SYNCING, a fresh lease, the start time. ok is false when the
// token is no longer the mirror's (cancelled or superseded), the mirror is
// disabled, or the repository left state MIRROR. The first attempt emits
// repo_mirror_sync_started with data(m) as its event data.
func (db *DB) BeginMirrorSync(ctx context.Context, repoID int64, token string, lease time.Duration, first bool,
	data func(Mirror) any) (m Mirror, ok bool, err error) {
	err = db.write(ctx, func(t *tx) error {
		m, err = getMirror(ctx, t, `m.repository_id = ?`, repoID)
		if core.IsCode(err, core.CodeNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if token == "" || m.SyncToken != token || m.SyncStatus == MirrorCancel {
			return nil
		}
		if !m.IsEnabled || m.RepositoryState != core.RepoStateMirror {
			// Disabled, or no longer a mirror, since the claim: the
			// queued sync is dropped.
			_, err := t.exec(ctx, `UPDATE repo_mirrors SET sync_status = ?, sync_token = '', sync_expiration_date = NULL
				WHERE repository_id = ?`, MirrorCancel, repoID)
			return err
		}
		ok = true
		start := t.now
		if !first && !m.LastSyncStart.IsZero() {
			start = m.LastSyncStart.UnixMilli()
		}
		if _, err := t.exec(ctx, `UPDATE repo_mirrors SET sync_status = ?, sync_expiration_date = ?, last_sync_start = ?
			WHERE repository_id = ?`, MirrorSyncing, t.now+lease.Milliseconds(), start, repoID); err != nil {
			return fmt.Errorf("begin mirror sync: %w", err)
		}
		m.SyncStatus, m.LastSyncStart = MirrorSyncing, time.UnixMilli(start)
		if first {
			d := data(m)
			if err := logAction(ctx, t, core.LogRepoMirrorSyncStarted, 0, repoID, mirrorEventMeta(d)); err != nil {
				return err
			}
			return db.emitNotification(ctx, t, repoID, m.Repository, EventMirrorSyncStarted, d)
		}
		return nil
	})
	return m, ok, err
}

// MirrorSyncHeld reports whether token still holds the mirror's sync (not
// cancelled, not superseded); a sync checks it between tags.
func (db *DB) MirrorSyncHeld(ctx context.Context, repoID int64, token string) (bool, error) {
	held := false
	err := db.read(ctx, func(t *tx) error {
		var status, cur string
		err := t.queryRow(ctx, `SELECT sync_status, sync_token FROM repo_mirrors WHERE repository_id = ?`, repoID).Scan(&status, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mirror sync held: %w", err)
		}
		held = token != "" && cur == token && status != MirrorCancel
		return nil
	})
	return held, err
}

// MirrorAttemptFailed records a failed attempt of the sync token holds and
// returns the retries left (0: the sync has failed for good and the caller
// finishes it).
func (db *DB) MirrorAttemptFailed(ctx context.Context, repoID int64, token, msg string) (int, error) {
	left := 0
	err := db.write(ctx, func(t *tx) error {
		m, err := getMirror(ctx, t, `m.repository_id = ?`, repoID)
		if err != nil {
			return err
		}
		if m.SyncToken != token {
			return nil
		}
		left = max(m.SyncRetriesRemaining-1, 0)
		_, err = t.exec(ctx, `UPDATE repo_mirrors SET sync_retries_remaining = ?, last_error = ? WHERE repository_id = ?`,
			left, msg, repoID)
		return err
	})
	return left, err
}

// FinishMirrorSync ends the sync token holds: its result and counts, the
// next start (the start date advanced by whole intervals past now), and the
// success or failure event. A cancelled or superseded sync records nothing.
func (db *DB) FinishMirrorSync(ctx context.Context, repoID int64, token string, res MirrorResult) error {
	return db.write(ctx, func(t *tx) error {
		m, err := getMirror(ctx, t, `m.repository_id = ?`, repoID)
		if core.IsCode(err, core.CodeNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if token == "" || m.SyncToken != token {
			return nil
		}
		next := m.SyncStartDate.UnixMilli()
		if iv := m.SyncInterval * 1000; iv > 0 && next <= t.now {
			next += ((t.now-next)/iv + 1) * iv
		} else if next <= t.now {
			next = t.now
		}
		if _, err := t.exec(ctx, `UPDATE repo_mirrors SET sync_status = ?, sync_token = '', sync_expiration_date = NULL,
			sync_retries_remaining = ?, sync_start_date = ?, last_sync_end = ?, last_sync_result = ?, last_error = ?,
			tags_synced = ?, tags_failed = ? WHERE repository_id = ?`,
			res.Status, MirrorMaxRetries, next, t.now, res.Status, res.Error, res.TagsSynced, res.TagsFailed, repoID); err != nil {
			return fmt.Errorf("finish mirror sync: %w", err)
		}
		var event, kind string
		switch res.Status {
		case MirrorSuccess:
			event, kind = EventMirrorSyncSuccess, core.LogRepoMirrorSyncSuccess
		case MirrorFail:
			event, kind = EventMirrorSyncFailed, core.LogRepoMirrorSyncFailed
		default:
			return nil
		}
		if err := logAction(ctx, t, kind, 0, repoID, mirrorEventMeta(res.Data)); err != nil {
			return err
		}
		return db.emitNotification(ctx, t, repoID, m.Repository, event, res.Data)
	})
}

// CurrentTags returns the repository's current (alive) tags and the digests
// they point at.
func (db *DB) CurrentTags(ctx context.Context, repo string) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT tg.name, m.digest FROM tags tg JOIN manifests m ON m.id = tg.manifest_id
			WHERE tg.repository_id = ? AND tg.lifetime_end IS NULL AND (tg.expires_at IS NULL OR tg.expires_at > ?)`,
			r.ID, t.now)
		if err != nil {
			return fmt.Errorf("current tags: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, d string
			if err := rows.Scan(&name, &d); err != nil {
				return err
			}
			out[name] = digest.Digest(d)
		}
		return rows.Err()
	})
	return out, err
}
