package app

import (
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/store"
)

// FEATURE_REPO_MIRROR registers the mirror jobs and the API; turned off,
// neither exists and the API answers 404.
func TestRepoMirrorFeatureFlag(t *testing.T) {
	for _, on := range []bool{true, false} {
		s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.RepoMirror = on })
		w := s.app.workers()
		_, sync := w.Handlers[store.JobMirrorSync]
		_, schedule := w.Handlers[jobMirrorSchedule]
		_, discover := w.Handlers[store.JobOrgMirrorDiscover]
		if discover != on {
			t.Fatalf("FEATURE_REPO_MIRROR %v: organization discovery handler %v", on, discover)
		}
		periodic := false
		for _, p := range w.Periodic {
			periodic = periodic || p.Kind == jobMirrorSchedule
		}
		if sync != on || schedule != on || periodic != on {
			t.Fatalf("FEATURE_REPO_MIRROR %v: sync handler %v, schedule handler %v, periodic %v", on, sync, schedule, periodic)
		}
		s.call("alice", "POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "app", "visibility": "private", "description": ""}, 201)
		// 404 either way: no mirror configured yet, or the feature is off.
		body := s.call("alice", "GET", "/api/v1/repository/acme/app/mirror", nil, 404)
		msg, _ := body["error_message"].(string)
		if off := strings.Contains(msg, "not enabled"); off == on {
			t.Fatalf("FEATURE_REPO_MIRROR %v: GET mirror says %q", on, msg)
		}
		s.close()
	}
}
