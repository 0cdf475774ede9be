package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/store"
)

// Mirror changes made through the API are audited once each, with the
// caller as performer; refused changes and changes that change nothing are
// not.
func TestMirrorAudit(t *testing.T) {
	e, alice, bob := mirrorEnv(t)
	path := "/api/v1/repository/acme/mirrored/mirror"
	repo, err := e.db.Repository(t.Context(), "acme/mirrored")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	fresh := func(step string, want ...string) {
		t.Helper()
		all, _, err := e.db.AuditLogs(t.Context(), store.AuditFilter{RepositoryID: repo.ID,
			Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, en := range all[:len(all)-seen] {
			if !strings.HasPrefix(en.Kind, "repo_mirror_") {
				continue
			}
			if en.PerformerName != "alice" {
				t.Errorf("%s: %s performed by %q, want alice", step, en.Kind, en.PerformerName)
			}
			k := en.Kind
			if c, ok := en.Metadata["changed"]; ok {
				k += fmt.Sprintf(" %v=%v", c, en.Metadata["to"])
			}
			got = append(got, k)
		}
		seen = len(all)
		slices.Reverse(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: audit entries %q, want %q", step, got, want)
		}
	}
	fresh("setup")
	e.do("POST", path, alice, validMirror()).expect(201)
	fresh("create", "repo_mirror_enabled")
	e.do("POST", path, alice, validMirror()).expect(409)
	fresh("second create")
	e.do("PUT", path, alice, map[string]any{"sync_interval": 60}).expect(201)
	fresh("interval", "repo_mirror_config_changed sync_interval=60")
	e.do("PUT", path, alice, map[string]any{"sync_interval": 60}).expect(201)
	fresh("same interval")
	e.do("PUT", path, bob, map[string]any{"sync_interval": 120}).expect(403)
	e.do("PUT", path, alice, map[string]any{"sync_interval": -1}).expect(400)
	fresh("refused changes")
	e.do("PUT", path, alice, map[string]any{"external_registry_config": map[string]any{"unsigned_images": false}}).expect(201)
	fresh("unsigned_images", "repo_mirror_config_changed unsigned_images=false")
	e.do("PUT", path, alice, map[string]any{"is_enabled": false}).expect(201)
	fresh("disable", "repo_mirror_disabled")
	e.do("PUT", path, alice, map[string]any{"is_enabled": true}).expect(201)
	fresh("enable", "repo_mirror_enabled")
	e.do("POST", path+"/sync-now", alice, nil).expect(204)
	fresh("sync-now", "repo_mirror_sync_now_requested")
	e.do("POST", path+"/sync-cancel", bob, nil).expect(403)
	fresh("refused cancel")
	e.do("POST", path+"/sync-cancel", alice, nil).expect(204)
	fresh("cancel", "repo_mirror_config_changed sync_status=SYNC_CANCEL")
}
