package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/store"
)

// Feature gates (Quay's FEATURE_AUTO_PRUNE, FEATURE_QUOTA_MANAGEMENT,
// FEATURE_IMMUTABLE_TAGS, PERMANENTLY_DELETE_TAGS): a feature that is off
// has its API endpoints answer Quay's 404 and its jobs do nothing. Quota
// enforcement is switched in the store (store.QuotaOptions), and so is tag
// immutability (store.Options.DisableImmutableTags: as in Quay, neither
// policies nor the tags' own flags are enforced, the flag cannot be set and
// is not shown; flags set before are kept for when the feature is on again).

// gatedFeature is a switched-off feature and the API paths it owns.
type gatedFeature struct {
	setting string
	owns    func(method string, segs []string) bool
}

// apiFeatureGates wraps the API handler: requests to the endpoints of a
// switched-off feature get api.Handler.FeatureDisabled.
func (a *App) apiFeatureGates(h *api.Handler) http.Handler {
	var off []gatedFeature
	if !a.cfg.AutoPrune {
		off = append(off, gatedFeature{"FEATURE_AUTO_PRUNE", policyPath("autoprunepolicy")})
	}
	if !a.cfg.ImmutableTags {
		off = append(off, gatedFeature{"FEATURE_IMMUTABLE_TAGS", policyPath("immutabilitypolicy")})
	}
	if !a.cfg.QuotaManagement {
		off = append(off, gatedFeature{"FEATURE_QUOTA_MANAGEMENT", quotaPath})
	}
	if !a.cfg.PermanentlyDeleteTags {
		off = append(off, gatedFeature{"PERMANENTLY_DELETE_TAGS", tagExpirePath})
	}
	if len(off) == 0 {
		return h
	}
	disabled := map[string]http.Handler{}
	for _, f := range off {
		disabled[f.setting] = h.FeatureDisabled(f.setting)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/")
		if ok {
			segs := strings.Split(strings.Trim(rest, "/"), "/")
			for _, f := range off {
				if f.owns(r.Method, segs) {
					disabled[f.setting].ServeHTTP(w, r)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// policyPath matches the policy endpoints of organizations, users and
// repositories: …/<kind>/ and …/<kind>/{uuid}.
func policyPath(kind string) func(string, []string) bool {
	return func(_ string, segs []string) bool {
		n := len(segs)
		switch {
		case n >= 2 && segs[0] == "user":
			return segs[1] == kind && n <= 3
		case n >= 3 && segs[0] == "organization":
			return segs[2] == kind && n <= 4
		case segs[0] == "repository":
			// repository/{ns}/{name…}/<kind>[/{uuid}]: the trailing
			// slash is trimmed, so kind is last or before the uuid.
			return (n >= 4 && segs[n-1] == kind) || (n >= 5 && segs[n-2] == kind)
		}
		return false
	}
}

// quotaPath matches Quay's quota endpoints: organization/{org}/quota…,
// user/quota…, superuser/{users,organization}/{ns}/quota….
func quotaPath(_ string, segs []string) bool {
	switch {
	case len(segs) >= 3 && segs[0] == "organization" && segs[2] == "quota":
		return true
	case len(segs) >= 2 && segs[0] == "user" && segs[1] == "quota":
		return true
	case len(segs) >= 4 && segs[0] == "superuser" && (segs[1] == "users" || segs[1] == "organization") && segs[3] == "quota":
		return true
	}
	return false
}

// tagExpirePath matches POST repository/{repo}/tag/{tag}/expire.
func tagExpirePath(method string, segs []string) bool {
	n := len(segs)
	return method == http.MethodPost && n >= 5 && segs[0] == "repository" && segs[n-3] == "tag" && segs[n-1] == "expire"
}

// featureWorkers makes the jobs of switched-off features do nothing (a job
// queued before the switch is dropped).
func (a *App) featureWorkers(w *jobs.Workers) {
	noop := func(context.Context, jobs.Job) error { return nil }
	if !a.cfg.AutoPrune {
		for _, k := range []string{jobAutopruneAll, store.JobAutoprune} {
			if _, ok := w.Handlers[k]; ok {
				w.Handlers[k] = noop
			}
		}
	}
}
