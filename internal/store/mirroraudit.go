package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"

	"github.com/wharfhq/wharf/internal/core"
)

// Audit entries of repository mirrors, with Quay's kinds, written in the
// transaction of the change:
//   - creating a mirror: repo_mirror_enabled (a disabled one:
//     repo_mirror_config_changed, changed external_reference), one entry;
//   - changing it: repo_mirror_enabled or repo_mirror_disabled when
//     is_enabled flips, and one repo_mirror_config_changed {changed, to}
//     per other field that changed (Quay's field names: external_reference,
//     robot_username, sync_interval, sync_start_date,
//     external_registry_username, external_registry_password, mirror_rule,
//     architecture_filter, delete_obsolete_tags and the keys of
//     external_registry_config); a change that changes nothing logs
//     nothing. Credentials are never logged, only that they changed;
//   - sync-now: repo_mirror_sync_now_requested; cancel:
//     repo_mirror_config_changed {changed: sync_status, to: SYNC_CANCEL};
//   - a sync's first attempt: repo_mirror_sync_started; its end:
//     repo_mirror_sync_success or repo_mirror_sync_failed (a cancelled sync
//     logs neither), with the event data of the notification as metadata.

// mirrorDateFormat is Quay's format of sync_start_date.
const mirrorDateFormat = "2006-01-02T15:04:05Z"

// redacted stands for a credential in the audit log.
const redacted = "********"

// mirrorChange is one audit entry of a configuration change.
type mirrorChange struct {
	kind string
	meta auditMeta
}

func changed(field string, to any) mirrorChange {
	return mirrorChange{kind: core.LogRepoMirrorConfigChanged, meta: auditMeta{"changed": field, "to": to}}
}

// logMirrorCreated logs the creation of a mirror configuration.
func logMirrorCreated(ctx context.Context, t *tx, repoID int64, c MirrorConfig) error {
	if c.IsEnabled {
		return logAction(ctx, t, core.LogRepoMirrorEnabled, 0, repoID, auditMeta{"external_reference": c.ExternalReference})
	}
	return logAction(ctx, t, core.LogRepoMirrorConfigChanged, 0, repoID,
		auditMeta{"changed": "external_reference", "to": c.ExternalReference})
}

// logMirrorUpdated logs what an update changed, one entry per field.
func logMirrorUpdated(ctx context.Context, t *tx, repoID int64, old, cur MirrorConfig) error {
	changes, err := mirrorChanges(ctx, t, old, cur)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if err := logAction(ctx, t, c.kind, 0, repoID, c.meta); err != nil {
			return err
		}
	}
	return nil
}

// mirrorChanges lists the audit entries of the change from old to cur.
func mirrorChanges(ctx context.Context, t *tx, old, cur MirrorConfig) ([]mirrorChange, error) {
	var out []mirrorChange
	if old.IsEnabled != cur.IsEnabled {
		kind := core.LogRepoMirrorDisabled
		if cur.IsEnabled {
			kind = core.LogRepoMirrorEnabled
		}
		out = append(out, mirrorChange{kind: kind, meta: auditMeta{"external_reference": cur.ExternalReference}})
	}
	if old.ExternalReference != cur.ExternalReference {
		out = append(out, changed("external_reference", cur.ExternalReference))
	}
	if old.RobotID != cur.RobotID {
		var robot any
		if cur.RobotID != 0 {
			u, err := getUserByID(ctx, t, cur.RobotID)
			if err != nil {
				return nil, err
			}
			robot = u.Username
		}
		out = append(out, changed("robot_username", robot))
	}
	if old.SyncInterval != cur.SyncInterval {
		out = append(out, changed("sync_interval", cur.SyncInterval))
	}
	if old.SyncStartDate.UnixMilli() != cur.SyncStartDate.UnixMilli() {
		out = append(out, changed("sync_start_date", cur.SyncStartDate.UTC().Format(mirrorDateFormat)))
	}
	// Sealed values differ for every sealing: a credential sent again is
	// logged as changed.
	if old.UsernameEnc != cur.UsernameEnc {
		out = append(out, changed("external_registry_username", redactedOrNil(cur.UsernameEnc)))
	}
	if old.PasswordEnc != cur.PasswordEnc {
		out = append(out, changed("external_registry_password", redactedOrNil(cur.PasswordEnc)))
	}
	if !slices.Equal(old.RuleValue, cur.RuleValue) {
		out = append(out, changed("mirror_rule", nonNil(cur.RuleValue)))
	}
	if !slices.Equal(old.ArchitectureFilter, cur.ArchitectureFilter) {
		out = append(out, changed("architecture_filter", nonNil(cur.ArchitectureFilter)))
	}
	if old.DeleteObsoleteTags != cur.DeleteObsoleteTags {
		out = append(out, changed("delete_obsolete_tags", cur.DeleteObsoleteTags))
	}
	cfg, err := registryConfigChanges(old.RegistryConfig, cur.RegistryConfig)
	if err != nil {
		return nil, err
	}
	return append(out, cfg...), nil
}

func redactedOrNil(sealed string) any {
	if sealed == "" {
		return nil
	}
	return redacted
}

// registryConfigChanges compares two external_registry_config objects key
// by key, the proxy's keys by their own names (Quay's http_proxy,
// https_proxy, no_proxy); a CA certificate is logged as set or removed.
func registryConfigChanges(old, cur json.RawMessage) ([]mirrorChange, error) {
	a, err := flatRegistryConfig(old)
	if err != nil {
		return nil, err
	}
	b, err := flatRegistryConfig(cur)
	if err != nil {
		return nil, err
	}
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []mirrorChange
	for _, k := range keys {
		if reflect.DeepEqual(a[k], b[k]) {
			continue
		}
		to := b[k]
		if k == "ca_certificate" && to != nil {
			to = "(certificate)"
		}
		out = append(out, changed(k, to))
	}
	return out, nil
}

func flatRegistryConfig(raw json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	if len(raw) == 0 {
		return out, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("mirror registry config: %w", err)
	}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && k == "proxy" {
			for sk, sv := range sub {
				out[sk] = sv
			}
			continue
		}
		out[k] = v
	}
	return out, nil
}

// mirrorEventMeta is the audit metadata of a sync's event data (a copy:
// logAction adds the names of the repository).
func mirrorEventMeta(data any) auditMeta {
	switch d := data.(type) {
	case nil:
		return nil
	case map[string]any:
		return maps.Clone(d)
	}
	return auditMeta{"data": data}
}
