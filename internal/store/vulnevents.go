package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
)

// EventVulnerabilityFound is the event a scan raises for each vulnerability
// its report has that the manifest's previous report did not.
const EventVulnerabilityFound = "vulnerability_found"

// vulnEventTagLimit bounds the tags named in one event (Quay's TAG_LIMIT).
const vulnEventTagLimit = 100

// VulnerabilityFoundData is the event data of EventVulnerabilityFound
// (Quay's fields).
type VulnerabilityFoundData struct {
	Tags          []string           `json:"tags"`
	Vulnerability VulnerabilityEvent `json:"vulnerability"`
}

// VulnerabilityEvent describes the vulnerability of a vulnerability_found
// event.
type VulnerabilityEvent struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Link        string `json:"link"`
	Priority    string `json:"priority"`
	HasFix      bool   `json:"has_fix"`
}

// severityOrder ranks Quay's priorities, most severe first.
var severityOrder = []string{"Defcon1", "Critical", "High", "Medium", "Low", "Negligible", "Unknown"}

func severityIndex(s string) int {
	if i := slices.Index(severityOrder, s); i >= 0 {
		return i
	}
	return len(severityOrder) - 1
}

// newVulnerabilities lists the vulnerabilities of report that prev (nil:
// none) does not have, by id, each once with its most severe finding, most
// severe first.
func newVulnerabilities(prev, report []byte) ([]VulnerabilityEvent, error) {
	var before, after core.SecurityReport
	if len(prev) > 0 {
		if err := json.Unmarshal(prev, &before); err != nil {
			return nil, fmt.Errorf("decode previous report: %w", err)
		}
	}
	if err := json.Unmarshal(report, &after); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	known := map[string]bool{}
	for _, p := range before.Packages {
		for _, v := range p.Vulnerabilities {
			known[v.ID] = true
		}
	}
	found := map[string]VulnerabilityEvent{}
	for _, p := range after.Packages {
		for _, v := range p.Vulnerabilities {
			if known[v.ID] {
				continue
			}
			name := v.Name
			if name == "" {
				name = v.ID
			}
			e := VulnerabilityEvent{ID: name, Description: v.Description, Priority: v.Severity, HasFix: v.FixedBy != ""}
			if e.Priority == "" {
				e.Priority = "Unknown"
			}
			if len(v.Links) > 0 {
				e.Link = v.Links[0]
			}
			if old, ok := found[v.ID]; ok {
				if severityIndex(old.Priority) <= severityIndex(e.Priority) {
					e.Priority = old.Priority
				}
				e.HasFix = e.HasFix || old.HasFix
				e.Link = cmp.Or(old.Link, e.Link)
				e.Description = cmp.Or(old.Description, e.Description)
			}
			found[v.ID] = e
		}
	}
	out := make([]VulnerabilityEvent, 0, len(found))
	for _, e := range found {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b VulnerabilityEvent) int {
		return cmp.Or(cmp.Compare(severityIndex(a.Priority), severityIndex(b.Priority)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// vulnTarget is a repository where a manifest is live and that has a
// vulnerability_found config.
type vulnTarget struct {
	repoID, manifestID int64
	repo               string
}

// vulnTargets lists the repositories where manifest d is live and that
// have a config for vulnerability_found.
func vulnTargets(ctx context.Context, t *tx, d digest.Digest) ([]vulnTarget, error) {
	rows, err := t.query(ctx, `SELECT DISTINCT r.id, r.full_name, m.id FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		JOIN repository_notifications rn ON rn.repository_id = r.id AND rn.event = ?
		WHERE m.digest = ? AND m.deleted_at IS NULL ORDER BY r.id`, EventVulnerabilityFound, string(d))
	if err != nil {
		return nil, fmt.Errorf("emit %s: %w", EventVulnerabilityFound, err)
	}
	defer rows.Close()
	var out []vulnTarget
	for rows.Next() {
		var tg vulnTarget
		if err := rows.Scan(&tg.repoID, &tg.repo, &tg.manifestID); err != nil {
			return nil, fmt.Errorf("emit %s: %w", EventVulnerabilityFound, err)
		}
		out = append(out, tg)
	}
	return out, rows.Err()
}

// emitVulnerabilitiesFound raises vulnerability_found, in t, for each
// vulnerability of report that prev did not have, on each target where the
// manifest is tagged (as Quay, untagged manifests raise nothing). Each
// config's minimum severity is applied when the event is delivered.
func (db *DB) emitVulnerabilitiesFound(ctx context.Context, t *tx, targets []vulnTarget, prev, report []byte) error {
	vulns, err := newVulnerabilities(prev, report)
	if err != nil || len(vulns) == 0 {
		return err
	}
	for _, tg := range targets {
		tags, err := currentTagNames(ctx, t, tg.manifestID, vulnEventTagLimit)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			continue
		}
		for _, v := range vulns {
			if err := db.emitNotification(ctx, t, tg.repoID, tg.repo, EventVulnerabilityFound,
				VulnerabilityFoundData{Tags: tags, Vulnerability: v}); err != nil {
				return err
			}
		}
	}
	return nil
}

// currentTagNames returns the names of the current, unexpired tags of a
// manifest, in name order, at most limit.
func currentTagNames(ctx context.Context, t *tx, manifestID int64, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT name FROM tags WHERE manifest_id = ? AND lifetime_end IS NULL
		AND (expires_at IS NULL OR expires_at > ?) ORDER BY name LIMIT ?`, manifestID, t.now, limit)
	if err != nil {
		return nil, fmt.Errorf("manifest tags: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("manifest tags: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
