package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// JobOrgMirrorDiscover lists the upstream of an organization mirror and
// creates the repository mirrors of the repositories that appeared there;
// its arguments are OrgMirrorArgs.
const JobOrgMirrorDiscover = "org_mirror_discover"

// OrgMirrorArgs are the arguments of JobOrgMirrorDiscover.
type OrgMirrorArgs struct {
	NamespaceID int64 `json:"namespace_id"`
}

// OrgMirrorConfig is what an administrator sets on an organization mirror.
// The fields after Repositories are those of the repository mirrors it
// creates.
type OrgMirrorConfig struct {
	IsEnabled bool
	// ExternalRegistry is the upstream's host (quay.io, 127.0.0.1:5000).
	ExternalRegistry string
	// ExternalNamespace is the upstream path whose repositories are
	// followed (library, team/images).
	ExternalNamespace string
	// RepositoryFilter are glob patterns matched against an upstream
	// repository's name below ExternalNamespace.
	RepositoryFilter []string
	// Repositories lists the upstream repositories (names below
	// ExternalNamespace) to consider instead of the upstream's catalog;
	// empty, the catalog is read.
	Repositories       []string
	UsernameEnc        string
	PasswordEnc        string
	RobotID            int64
	SyncInterval       int64 // seconds, also between discoveries
	RuleValue          []string
	ArchitectureFilter []string
	RegistryConfig     json.RawMessage
	DeleteObsoleteTags bool
}

// OrgMirror is an organization mirror with its discovery state.
type OrgMirror struct {
	OrgMirrorConfig
	NamespaceID         int64
	Namespace           string
	RobotUsername       string
	NextDiscovery       time.Time
	LastDiscovery       time.Time // zero: never
	LastError           string
	RepositoriesCreated int64
}

// OrgMirrorRepo is an upstream repository an organization mirror follows:
// its local name below the organization and its external reference.
type OrgMirrorRepo struct {
	Name              string
	ExternalReference string
}

// maxAdoptions bounds the repositories one discovery creates; the next
// discovery continues.
const maxAdoptions = 100

const orgMirrorColumns = `o.namespace_id, n.name, o.is_enabled, o.external_registry, o.external_namespace,
	o.repository_filter, o.repositories, o.username_enc, o.password_enc, o.robot_id, u.username, o.sync_interval,
	o.rule_value, o.architecture_filter, o.registry_config, o.delete_obsolete_tags, o.next_discovery,
	o.last_discovery, o.last_error, o.repositories_created`

const orgMirrorFrom = ` FROM org_mirrors o JOIN namespaces n ON n.id = o.namespace_id
	LEFT JOIN users u ON u.id = o.robot_id `

func getOrgMirror(ctx context.Context, t *tx, nsID int64) (OrgMirror, error) {
	var m OrgMirror
	var filter, repos, rules, arch, cfg string
	var user, pass, robot sql.NullString
	var robotID, last sql.NullInt64
	var next int64
	err := t.queryRow(ctx, `SELECT `+orgMirrorColumns+orgMirrorFrom+`WHERE o.namespace_id = ?`, nsID).Scan(
		&m.NamespaceID, &m.Namespace, &m.IsEnabled, &m.ExternalRegistry, &m.ExternalNamespace, &filter, &repos,
		&user, &pass, &robotID, &robot, &m.SyncInterval, &rules, &arch, &cfg, &m.DeleteObsoleteTags, &next,
		&last, &m.LastError, &m.RepositoriesCreated)
	if errors.Is(err, sql.ErrNoRows) {
		return m, core.Errorf(core.CodeNotFound, "no organization mirror configuration")
	}
	if err != nil {
		return m, fmt.Errorf("get organization mirror: %w", err)
	}
	m.UsernameEnc, m.PasswordEnc = user.String, pass.String
	m.RobotID, m.RobotUsername = robotID.Int64, robot.String
	m.NextDiscovery, m.LastDiscovery = time.UnixMilli(next), msTime(last)
	m.RegistryConfig = json.RawMessage(cfg)
	for _, f := range []struct {
		raw string
		out *[]string
	}{{filter, &m.RepositoryFilter}, {repos, &m.Repositories}, {rules, &m.RuleValue}, {arch, &m.ArchitectureFilter}} {
		if err := json.Unmarshal([]byte(f.raw), f.out); err != nil {
			return m, fmt.Errorf("decode organization mirror: %w", err)
		}
	}
	return m, nil
}

// orgNamespace returns the organization a mirror may be set on.
func orgNamespace(ctx context.Context, t *tx, org string) (core.Namespace, error) {
	ns, err := getNamespace(ctx, t, org)
	if err != nil {
		return ns, err
	}
	if !ns.IsOrg() {
		return ns, core.Errorf(core.CodeInvalid, "%s is not an organization", org)
	}
	return ns, nil
}

// OrgMirror returns an organization's mirror, core.CodeNotFound when the
// organization or its mirror does not exist.
func (db *DB) OrgMirror(ctx context.Context, org string) (OrgMirror, error) {
	var m OrgMirror
	err := db.read(ctx, func(t *tx) error {
		ns, err := orgNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		m, err = getOrgMirror(ctx, t, ns.ID)
		return err
	})
	return m, err
}

// OrgMirrorByID returns the mirror of the namespace nsID.
func (db *DB) OrgMirrorByID(ctx context.Context, nsID int64) (OrgMirror, error) {
	var m OrgMirror
	err := db.read(ctx, func(t *tx) error {
		var err error
		m, err = getOrgMirror(ctx, t, nsID)
		return err
	})
	return m, err
}

func (c OrgMirrorConfig) encoded() (filter, repos, rules, arch string, err error) {
	var out [4]string
	for i, v := range [][]string{c.RepositoryFilter, c.Repositories, c.RuleValue, c.ArchitectureFilter} {
		b, err := json.Marshal(nonNil(v))
		if err != nil {
			return "", "", "", "", err
		}
		out[i] = string(b)
	}
	return out[0], out[1], out[2], out[3], nil
}

// CreateOrgMirror sets an organization's mirror (core.CodeConflict when it
// has one); an enabled mirror discovers its upstream at once (a job in the
// same transaction).
func (db *DB) CreateOrgMirror(ctx context.Context, org string, c OrgMirrorConfig) error {
	return db.putOrgMirror(ctx, org, c, true)
}

// UpdateOrgMirror replaces an organization mirror's configuration. The
// repository mirrors it created keep theirs.
func (db *DB) UpdateOrgMirror(ctx context.Context, org string, c OrgMirrorConfig) error {
	return db.putOrgMirror(ctx, org, c, false)
}

func (db *DB) putOrgMirror(ctx context.Context, org string, c OrgMirrorConfig, create bool) error {
	filter, repos, rules, arch, err := c.encoded()
	if err != nil {
		return fmt.Errorf("organization mirror: %w", err)
	}
	return db.write(ctx, func(t *tx) error {
		ns, err := orgNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		_, err = getOrgMirror(ctx, t, ns.ID)
		switch {
		case create && err == nil:
			return core.Errorf(core.CodeConflict, "Mirror configuration already exists for organization %s", org)
		case create && core.IsCode(err, core.CodeNotFound):
			_, err = t.exec(ctx, `INSERT INTO org_mirrors (namespace_id, is_enabled, external_registry, external_namespace,
				repository_filter, repositories, username_enc, password_enc, robot_id, sync_interval, rule_value,
				architecture_filter, registry_config, delete_obsolete_tags, next_discovery, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				ns.ID, c.IsEnabled, c.ExternalRegistry, c.ExternalNamespace, filter, repos, nullString(c.UsernameEnc),
				nullString(c.PasswordEnc), nullID(c.RobotID), c.SyncInterval, rules, arch, jsonObject(c.RegistryConfig),
				c.DeleteObsoleteTags, t.now, t.now)
		case create || err != nil:
			return err
		default:
			_, err = t.exec(ctx, `UPDATE org_mirrors SET is_enabled = ?, external_registry = ?, external_namespace = ?,
				repository_filter = ?, repositories = ?, username_enc = ?, password_enc = ?, robot_id = ?, sync_interval = ?,
				rule_value = ?, architecture_filter = ?, registry_config = ?, delete_obsolete_tags = ? WHERE namespace_id = ?`,
				c.IsEnabled, c.ExternalRegistry, c.ExternalNamespace, filter, repos, nullString(c.UsernameEnc),
				nullString(c.PasswordEnc), nullID(c.RobotID), c.SyncInterval, rules, arch, jsonObject(c.RegistryConfig),
				c.DeleteObsoleteTags, ns.ID)
		}
		if err != nil {
			return fmt.Errorf("organization mirror: %w", err)
		}
		if err := logAction(ctx, t, core.LogRepoMirrorConfigChanged, ns.ID, 0, auditMeta{"changed": "organization_mirror",
			"to": c.ExternalRegistry + "/" + c.ExternalNamespace, "is_enabled": c.IsEnabled}); err != nil {
			return err
		}
		if !create || !c.IsEnabled {
			return nil
		}
		return db.enqueue(ctx, t, JobOrgMirrorDiscover, OrgMirrorArgs{NamespaceID: ns.ID})
	})
}

// DeleteOrgMirror removes an organization's mirror; the repository mirrors
// it created stay.
func (db *DB) DeleteOrgMirror(ctx context.Context, org string) error {
	return db.write(ctx, func(t *tx) error {
		ns, err := orgNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		m, err := getOrgMirror(ctx, t, ns.ID)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM org_mirrors WHERE namespace_id = ?`, ns.ID); err != nil {
			return fmt.Errorf("delete organization mirror: %w", err)
		}
		return logAction(ctx, t, core.LogRepoMirrorConfigChanged, ns.ID, 0, auditMeta{"changed": "organization_mirror",
			"to": nil, "from": m.ExternalRegistry + "/" + m.ExternalNamespace})
	})
}

// OrgMirrorSyncNow asks for a discovery now (a job in the same
// transaction); a disabled mirror is core.CodeInvalid.
func (db *DB) OrgMirrorSyncNow(ctx context.Context, org string) error {
	return db.write(ctx, func(t *tx) error {
		ns, err := orgNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		m, err := getOrgMirror(ctx, t, ns.ID)
		if err != nil {
			return err
		}
		if !m.IsEnabled {
			return core.Errorf(core.CodeInvalid, "the mirror of %s is disabled", org)
		}
		if err := db.enqueue(ctx, t, JobOrgMirrorDiscover, OrgMirrorArgs{NamespaceID: ns.ID}); err != nil {
			return err
		}
		return logAction(ctx, t, core.LogRepoMirrorSyncNowRequested, ns.ID, 0, auditMeta{"organization_mirror": true})
	})
}

// ClaimDueOrgMirrors enqueues the discovery of up to limit enabled
// organization mirrors whose next discovery is due and moves it one
// interval on. It returns how many it claimed.
func (db *DB) ClaimDueOrgMirrors(ctx context.Context, limit int) (int, error) {
	n := 0
	err := db.write(ctx, func(t *tx) error {
		ids, err := dueIDs(ctx, t, `SELECT namespace_id FROM org_mirrors WHERE is_enabled = ? AND next_discovery <= ?
			ORDER BY next_discovery, namespace_id LIMIT ?`+t.lockSuffix("FOR UPDATE SKIP LOCKED"), true, t.now, limit)
		if err != nil {
			return fmt.Errorf("due organization mirrors: %w", err)
		}
		for _, id := range ids {
			// At least a minute between discoveries.
			if _, err := t.exec(ctx, `UPDATE org_mirrors SET next_discovery = ? + 1000 * (CASE WHEN sync_interval < 60 THEN 60
				ELSE sync_interval END) WHERE namespace_id = ?`, t.now, id); err != nil {
				return fmt.Errorf("claim organization mirror: %w", err)
			}
			if err := db.enqueue(ctx, t, JobOrgMirrorDiscover, OrgMirrorArgs{NamespaceID: id}); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// AdoptOrgMirrorRepositories creates, for each upstream repository that has
// no local repository yet (at most maxAdoptions), a repository of the
// organization in state MIRROR, private, with the mirror's robot given
// write and a repository mirror built from the organization mirror's
// settings, due at once; existing repositories are left alone. It records
// the discovery and returns the full names created. A mirror that is gone
// or disabled adopts nothing.
func (db *DB) AdoptOrgMirrorRepositories(ctx context.Context, nsID int64, repos []OrgMirrorRepo) ([]string, error) {
	var created []string
	err := db.write(ctx, func(t *tx) error {
		created = nil
		m, err := getOrgMirror(ctx, t, nsID)
		if core.IsCode(err, core.CodeNotFound) {
			return nil
		}
		if err != nil || !m.IsEnabled {
			return err
		}
		for _, up := range repos {
			if len(created) >= maxAdoptions {
				break
			}
			full := m.Namespace + "/" + up.Name
			if _, err := getRepo(ctx, t, full); err == nil {
				continue
			} else if !core.IsCode(err, core.CodeNameUnknown) {
				return err
			}
			if err := adoptRepo(ctx, t, m, full, up.ExternalReference); err != nil {
				return fmt.Errorf("adopt %s: %w", full, err)
			}
			created = append(created, full)
		}
		_, err = t.exec(ctx, `UPDATE org_mirrors SET last_discovery = ?, last_error = '',
			repositories_created = repositories_created + ? WHERE namespace_id = ?`, t.now, len(created), nsID)
		return err
	})
	return created, err
}

func adoptRepo(ctx context.Context, t *tx, m OrgMirror, full, ref string) error {
	r, err := createRepo(ctx, t, NewRepository{FullName: full, Visibility: core.VisibilityPrivate})
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `UPDATE repositories SET state = ? WHERE id = ?`, core.RepoStateMirror, r.ID); err != nil {
		return err
	}
	if m.RobotID != 0 {
		if err := setPermission(ctx, t, r.ID, m.RobotID, 0, core.RoleWrite); err != nil {
			return err
		}
		if err := logAction(ctx, t, core.LogAddRepoPermission, 0, r.ID,
			auditMeta{"username": m.RobotUsername, "role": core.RoleWrite}); err != nil {
			return err
		}
	}
	c := MirrorConfig{IsEnabled: true, ExternalReference: ref, UsernameEnc: m.UsernameEnc, PasswordEnc: m.PasswordEnc,
		RobotID: m.RobotID, SyncInterval: m.SyncInterval, SyncStartDate: time.UnixMilli(t.now), RuleValue: m.RuleValue,
		ArchitectureFilter: m.ArchitectureFilter, RegistryConfig: m.RegistryConfig, DeleteObsoleteTags: m.DeleteObsoleteTags}
	return insertMirror(ctx, t, r.ID, c)
}

// OrgMirrorDiscoveryFailed records a discovery that could not list the
// upstream.
func (db *DB) OrgMirrorDiscoveryFailed(ctx context.Context, nsID int64, msg string) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE org_mirrors SET last_discovery = ?, last_error = ? WHERE namespace_id = ?`, t.now, msg, nsID)
		return err
	})
}
