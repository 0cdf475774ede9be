package notify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// Event names (Quay's).
const (
	EventRepoPush              = "repo_push"
	EventVulnerabilityFound    = "vulnerability_found"
	EventMirrorSyncStarted     = "repo_mirror_sync_started"
	EventMirrorSyncSuccess     = "repo_mirror_sync_success"
	EventMirrorSyncFailed      = "repo_mirror_sync_failed"
	EventBuildQueued           = "build_queued"
	EventBuildStart            = "build_start"
	EventBuildSuccess          = "build_success"
	EventBuildFailure          = "build_failure"
	EventBuildCancelled        = "build_cancelled"
	EventRepoImageExpiry       = "repo_image_expiry"
	EventQuotaWarning          = "quota_warning"
	EventQuotaError            = "quota_error"
	eventLevelInfo             = "info"
	eventLevelWarning          = "warning"
	eventLevelError            = "error"
	eventLevelSuccess          = "success"
	eventLevelPrimary          = "primary"
	vulnerabilityConfigLevel   = "level"
	vulnerabilityKey           = "vulnerability"
	vulnerabilityPriorityKey   = "priority"
	vulnerabilityIndexReported = "vulnerable_index_report_created"
)

// event describes one event: its level (Slack colour), a one-line summary
// and sample data for the test endpoint.
type event struct {
	level   string
	summary func(d map[string]any) string
	sample  func(eventConfig map[string]any) map[string]any
	// namespaceScoped events carry namespace data, not repository data.
	namespaceScoped bool
}

func str(d map[string]any, k string) string {
	if v, ok := d[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func buildSummary(verb string) func(d map[string]any) string {
	return func(d map[string]any) string {
		id := str(d, "build_id")
		if len(id) > 7 {
			id = id[:7]
		}
		return fmt.Sprintf("Build %s for repository %s [%s]", verb, str(d, "repository"), id)
	}
}

func buildSample(phase string) func(map[string]any) map[string]any {
	return func(map[string]any) map[string]any {
		d := map[string]any{
			"build_id":     "296ec1fd-6ef8-4d6f-bf0c-a8d2b6e2e5d6",
			"build_name":   "some-fake-build",
			"docker_tags":  []string{"latest", "foo", "bar"},
			"trigger_kind": "GitHub",
			"trigger_id":   "1245634",
			"trigger_metadata": map[string]any{
				"default_branch": "master", "ref": "refs/heads/somebranch", "commit": "42d4a62c53350993ea41069e9f2cfdefb0df097d",
			},
		}
		switch phase {
		case "success":
			d["image_id"] = "1245657346"
			d["manifest_digests"] = []string{"sha256:0000000000000000000000000000000000000000000000000000000000000000"}
		case "failure":
			d["error_message"] = "This is a fake error message"
		}
		return d
	}
}

func mirrorSample(map[string]any) map[string]any {
	return map[string]any{"message": "TEST NOTIFICATION"}
}

// quotaSample is Quay's sample data of the quota events.
func quotaSample(percent, threshold int, usage int64, usageText string) func(map[string]any) map[string]any {
	return func(map[string]any) map[string]any {
		return map[string]any{"threshold_percent": threshold, "usage_bytes": usage, "limit_bytes": 1073741824,
			"usage_percent": percent, "usage_bytes_formatted": usageText, "limit_bytes_formatted": "1.00 GB"}
	}
}

var events = map[string]event{
	EventRepoPush: {level: eventLevelPrimary,
		summary: func(d map[string]any) string { return "Repository " + str(d, "repository") + " updated" },
		sample: func(map[string]any) map[string]any {
			return map[string]any{"updated_tags": []string{"latest", "foo"}, "pruned_image_count": 3}
		}},
	EventVulnerabilityFound: {level: eventLevelWarning,
		summary: func(d map[string]any) string {
			v, _ := d[vulnerabilityKey].(map[string]any)
			tags, _ := d["tags"].([]any)
			return fmt.Sprintf("%s vulnerability detected in repository %s in %d tags", str(v, vulnerabilityPriorityKey), str(d, "repository"), len(tags))
		},
		sample: func(cfg map[string]any) map[string]any {
			level, ok := priorityIndex(cfg[vulnerabilityConfigLevel])
			if !ok {
				level = 1
			}
			return map[string]any{
				"tags":  []string{"latest", "prod", "foo", "bar", "baz"},
				"image": "some-image-id",
				"vulnerability": map[string]any{"id": "CVE-FAKE-CVE", "description": "A futurist vulnerability",
					"link": "https://security-tracker.debian.org/tracker/CVE-FAKE-CVE", "priority": priorityNames[level]},
			}
		}},
	EventMirrorSyncStarted: {level: eventLevelInfo, sample: mirrorSample,
		summary: func(d map[string]any) string { return "Repository Mirror started for " + str(d, "message") }},
	EventMirrorSyncSuccess: {level: eventLevelSuccess, sample: mirrorSample,
		summary: func(d map[string]any) string { return "Repository Mirror success for " + str(d, "message") }},
	EventMirrorSyncFailed: {level: eventLevelError, sample: mirrorSample,
		summary: func(d map[string]any) string { return "Repository Mirror failed for " + str(d, "message") }},
	EventBuildQueued:    {level: eventLevelInfo, summary: buildSummary("queued"), sample: buildSample("queued")},
	EventBuildStart:     {level: eventLevelInfo, summary: buildSummary("started"), sample: buildSample("start")},
	EventBuildSuccess:   {level: eventLevelSuccess, summary: buildSummary("succeeded"), sample: buildSample("success")},
	EventBuildFailure:   {level: eventLevelError, summary: buildSummary("failure"), sample: buildSample("failure")},
	EventBuildCancelled: {level: eventLevelInfo, summary: buildSummary("cancelled"), sample: buildSample("cancelled")},
	EventRepoImageExpiry: {level: eventLevelInfo,
		summary: func(d map[string]any) string { return "Repository " + str(d, "repository") + " image(s) expiring" },
		sample: func(cfg map[string]any) map[string]any {
			return map[string]any{"tags": []string{"latest", "v1"}, "expiring_in": fmt.Sprintf("%v days", cfg["days"])}
		}},
	EventQuotaWarning: {level: eventLevelWarning, namespaceScoped: true, sample: quotaSample(80, 80, 858993459, "819.20 MB"),
		summary: func(d map[string]any) string {
			return fmt.Sprintf("Namespace %s storage usage has reached %s%% of its quota limit", str(d, "namespace"), str(d, "threshold_percent"))
		}},
	EventQuotaError: {level: eventLevelError, namespaceScoped: true, sample: quotaSample(105, 100, 1127428915, "1.05 GB"),
		summary: func(d map[string]any) string {
			return fmt.Sprintf("Namespace %s storage usage has exceeded its quota limit (%s%%)", str(d, "namespace"), str(d, "usage_percent"))
		}},
}

// priorityNames are Quay's vulnerability priorities by index (0 is the
// most severe); a vulnerability_found config's level is an index.
var priorityNames = []string{"Defcon1", "Critical", "High", "Medium", "Low", "Negligible", "Unknown"}

func priorityIndex(v any) (int, bool) {
	var s string
	switch x := v.(type) {
	case float64:
		s = strconv.Itoa(int(x))
	case string:
		s = x
	default:
		return 0, false
	}
	if i, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && i >= 0 && i < len(priorityNames) {
		return i, true
	}
	for i, n := range priorityNames {
		if strings.EqualFold(n, s) {
			return i, true
		}
	}
	return 0, false
}

// Events lists the event names a config may bind.
func Events() []string {
	out := make([]string, 0, len(events))
	for k := range events {
		out = append(out, k)
	}
	return out
}

// ValidateEvent checks an event name and its event_config.
func ValidateEvent(name string, cfg map[string]any) error {
	if _, ok := events[name]; !ok {
		return core.Errorf(core.CodeInvalid, "unknown event %q", name)
	}
	switch name {
	case EventVulnerabilityFound:
		if v, ok := cfg[vulnerabilityConfigLevel]; ok {
			if _, ok := priorityIndex(v); !ok {
				return core.Errorf(core.CodeInvalid, "invalid vulnerability level %v", v)
			}
		}
	case EventRepoImageExpiry:
		days, ok := cfg["days"].(float64)
		if !ok || days < 1 || days != float64(int(days)) {
			return core.Errorf(core.CodeInvalid, "repo_image_expiry needs eventConfig.days, a whole number of days of at least 1")
		}
	}
	return nil
}

// SampleData is the event data a test delivery of the event sends (without
// the repository fields every payload has).
func SampleData(name string, cfg map[string]any) map[string]any {
	ev, ok := events[name]
	if !ok {
		return map[string]any{}
	}
	return ev.sample(cfg)
}

// shouldPerform filters event data through the config's event_config (the
// minimum severity of vulnerability_found).
func shouldPerform(name string, data, cfg map[string]any) bool {
	if name != EventVulnerabilityFound {
		return true
	}
	lv, ok := cfg[vulnerabilityConfigLevel]
	if !ok {
		return true
	}
	if _, ok := data[vulnerabilityIndexReported]; ok {
		return true
	}
	v, ok := data[vulnerabilityKey].(map[string]any)
	if !ok {
		return false
	}
	actual, ok := priorityIndex(v[vulnerabilityPriorityKey])
	if !ok {
		return false
	}
	want, ok := priorityIndex(lv)
	return ok && actual <= want
}
