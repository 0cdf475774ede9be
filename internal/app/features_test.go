package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
)

func TestFeaturePaths(t *testing.T) {
	cases := []struct {
		method, path                        string
		autoprune, immutable, quota, expire bool
	}{
		{"GET", "user/autoprunepolicy/", true, false, false, false},
		{"GET", "organization/acme/autoprunepolicy/", true, false, false, false},
		{"PUT", "organization/acme/autoprunepolicy/0c0b", true, false, false, false},
		{"GET", "repository/acme/app/autoprunepolicy/", true, false, false, false},
		{"DELETE", "repository/acme/deep/app/autoprunepolicy/0c0b", true, false, false, false},
		{"GET", "repository/acme/autoprunepolicy", false, false, false, false}, // a repository named autoprunepolicy
		{"GET", "repository/acme/autoprunepolicy/tag", false, false, false, false},
		{"GET", "organization/acme/immutabilitypolicy/", false, true, false, false},
		{"GET", "repository/acme/app/immutabilitypolicy/x", false, true, false, false},
		{"GET", "organization/acme/quota", false, false, true, false},
		{"POST", "organization/acme/quota/1/limit", false, false, true, false},
		{"GET", "user/quota", false, false, true, false},
		{"GET", "superuser/users/alice/quota/3", false, false, true, false},
		{"GET", "superuser/organization/acme/quota", false, false, true, false},
		{"GET", "organization/acme", false, false, false, false},
		{"POST", "repository/acme/app/tag/v1/expire", false, false, false, true},
		{"GET", "repository/acme/app/tag/v1/expire", false, false, false, false},
		{"POST", "repository/acme/app/tag/v1/restore", false, false, false, false},
	}
	for _, c := range cases {
		segs := strings.Split(strings.Trim(c.path, "/"), "/")
		got := [4]bool{policyPath("autoprunepolicy")(c.method, segs), policyPath("immutabilitypolicy")(c.method, segs),
			quotaPath(c.method, segs), tagExpirePath(c.method, segs)}
		if want := [4]bool{c.autoprune, c.immutable, c.quota, c.expire}; got != want {
			t.Errorf("%s %s: %v, want %v", c.method, c.path, got, want)
		}
	}
}

// wantDisabled checks Quay's 404 naming the setting.
func wantDisabled(t *testing.T, s *lifecycleServer, method, path, setting string) {
	t.Helper()
	got := s.call("alice", method, path, map[string]any{}, http.StatusNotFound)
	if got["error_type"] != "not_found" || !strings.Contains(fmt.Sprint(got["error_message"]), setting) {
		t.Fatalf("%s %s: %v", method, path, got)
	}
}

// Every gate off: the features' endpoints answer Quay's 404, quotas are not
// enforced, the rest of the API works.
func TestFeatureGatesOff(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), func(c *config.Config) {
		c.AutoPrune, c.QuotaManagement, c.ImmutableTags, c.PermanentlyDeleteTags = false, false, false, false
	})
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v1", img); err != nil {
		t.Fatal(err)
	}
	wantDisabled(t, s, "GET", "/api/v1/organization/acme/autoprunepolicy/", "FEATURE_AUTO_PRUNE")
	wantDisabled(t, s, "POST", "/api/v1/repository/acme/app/autoprunepolicy/", "FEATURE_AUTO_PRUNE")
	wantDisabled(t, s, "GET", "/api/v1/organization/acme/immutabilitypolicy/", "FEATURE_IMMUTABLE_TAGS")
	wantDisabled(t, s, "GET", "/api/v1/organization/acme/quota", "FEATURE_QUOTA_MANAGEMENT")
	wantDisabled(t, s, "GET", "/api/v1/superuser/users/alice/quota", "FEATURE_QUOTA_MANAGEMENT")
	wantDisabled(t, s, "POST", "/api/v1/repository/acme/app/tag/v1/expire", "PERMANENTLY_DELETE_TAGS")
	s.call("alice", "GET", "/api/v1/repository/acme/app/tag/", nil, 200)
	s.call("alice", "GET", "/api/v1/organization/acme", nil, 200)

	// A quota stored before the switch is not enforced.
	q, err := s.app.db.CreateQuota(t.Context(), "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.db.CreateQuotaLimit(t.Context(), "acme", q.ID, core.QuotaReject, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v2", img); err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v3", other); err != nil {
		t.Fatalf("push with quota management off: %v", err)
	}
}

// The defaults keep every feature on.
func TestFeatureGatesDefaultOn(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v1", img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s.call("alice", "GET", "/api/v1/organization/acme/autoprunepolicy/", nil, 200)
	s.call("alice", "GET", "/api/v1/organization/acme/immutabilitypolicy/", nil, 200)
	s.call("alice", "GET", "/api/v1/organization/acme/quota", nil, 200)
	s.call("alice", "POST", "/api/v1/repository/acme/app/tag/v1/expire", map[string]any{"manifest_digest": d.String(), "is_alive": true}, 200)
}

// DEFAULT_SYSTEM_REJECT_QUOTA_BYTES limits namespaces without a quota of
// their own; a namespace with its own quota follows that one.
func TestSystemDefaultQuota(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.DefaultSystemRejectQuotaBytes = 12 << 10 })
	small, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:small", small); err != nil {
		t.Fatal(err)
	}
	big, err := random.Image(16<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantRegistryError(t, s.push("acme/app:big", big), http.StatusForbidden, "DENIED", "system default quota")
	wantRegistryError(t, s.push("alice/app:big", big), http.StatusForbidden, "DENIED", "system default quota")
	// The views show the system default as Quay's do.
	if r := s.call("alice", "GET", "/api/v1/organization/acme", nil, 200)["quota_report"].(map[string]any); r["configured_quota"] != float64(12<<10) {
		t.Fatalf("quota_report %v", r)
	}
	req, _ := http.NewRequest("GET", s.srv.URL+"/api/v1/organization/acme/quota", nil)
	req.Header.Set("Authorization", "Bearer "+s.api["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list) != 1 || list[0]["default_config"] != true || list[0]["limit_bytes"] != float64(12<<10) || list[0]["id"] != nil {
		t.Fatalf("quota list %v %v", list, err)
	}
	// Its own quota replaces the default.
	s.call("root", "POST", "/api/v1/organization/acme/quota", map[string]any{"limit_bytes": 1 << 20}, 201)
	if err := s.push("acme/app:big", big); err != nil {
		t.Fatalf("push under the namespace's own quota: %v", err)
	}
}

// A user namespace's quota through Quay's superuser endpoints: superusers
// only; enforced on pushes; the user reads it at /user/quota.
func TestUserNamespaceQuota(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)
	base := "/api/v1/superuser/users/alice/quota"
	s.call("alice", "POST", base, map[string]any{"limit_bytes": 10 << 10}, 403)
	s.call("root", "POST", "/api/v1/superuser/users/nobody/quota", map[string]any{"limit_bytes": 10 << 10}, 404)
	s.call("root", "POST", base, map[string]any{"limit_bytes": 10 << 10}, 201)
	qs, err := s.app.db.Quotas(t.Context(), "alice")
	if err != nil || len(qs) != 1 {
		t.Fatalf("quotas %v %v", qs, err)
	}
	qpath := fmt.Sprintf("%s/%d", base, qs[0].ID)
	s.call("alice", "GET", qpath, nil, 403)
	if got := s.call("root", "GET", qpath, nil, 200); got["limit_bytes"] != float64(10<<10) {
		t.Fatalf("quota view %v", got)
	}
	s.call("alice", "POST", qpath+"/limit", map[string]any{"type": "Reject", "threshold_percent": 100}, 403)
	s.call("root", "POST", qpath+"/limit", map[string]any{"type": "Reject", "threshold_percent": 100}, 201)
	if got := s.call("alice", "GET", fmt.Sprintf("/api/v1/user/quota/%d", qs[0].ID), nil, 200); got["limit_bytes"] != float64(10<<10) {
		t.Fatalf("own quota view %v", got)
	}
	big, err := random.Image(16<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantRegistryError(t, s.push("alice/app:big", big), http.StatusForbidden, "DENIED", "Quota has been exceeded on namespace alice")
	s.call("root", "PUT", qpath, map[string]any{"limit_bytes": 1 << 20}, 200)
	if err := s.push("alice/app:big", big); err != nil {
		t.Fatalf("push after raising the quota: %v", err)
	}
}

// A restore that would bring a deleted manifest back over the Reject
// threshold is refused with the quota error; within it, it succeeds.
func TestRestoreIsQuotaChecked(t *testing.T) {
	s := startLifecycle(t, t.TempDir(), nil)
	first, err := random.Image(8192, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v1", first); err != nil {
		t.Fatal(err)
	}
	d, err := first.Digest()
	if err != nil {
		t.Fatal(err)
	}
	used, _, err := s.app.db.NamespaceUsage(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(s.ref("acme/app@"+d.String()), s.opts()...); err != nil {
		t.Fatal(err)
	}
	// Room for one image like it, not two.
	s.call("root", "POST", "/api/v1/organization/acme/quota", map[string]any{"limit_bytes": used * 3 / 2}, 201)
	qs, err := s.app.db.Quotas(t.Context(), "acme")
	if err != nil || len(qs) != 1 {
		t.Fatalf("quotas %v %v", qs, err)
	}
	s.call("root", "POST", fmt.Sprintf("/api/v1/organization/acme/quota/%d/limit", qs[0].ID), map[string]any{"type": "Reject", "threshold_percent": 100}, 201)
	second, err := random.Image(8192, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.push("acme/app:v2", second); err != nil {
		t.Fatal(err)
	}
	got := s.call("alice", "POST", "/api/v1/repository/acme/app/tag/v1/restore", map[string]any{"manifest_digest": d.String()}, http.StatusForbidden)
	if !strings.Contains(fmt.Sprint(got["error_message"]), "Quota has been exceeded on namespace acme") {
		t.Fatalf("restore over quota: %v", got)
	}
	if err := s.pull("acme/app:v1"); err == nil {
		t.Fatal("the refused restore brought v1 back")
	}
	// With room again, the restore succeeds.
	s.call("root", "PUT", fmt.Sprintf("/api/v1/organization/acme/quota/%d", qs[0].ID), map[string]any{"limit_bytes": used * 4}, 200)
	s.call("alice", "POST", "/api/v1/repository/acme/app/tag/v1/restore", map[string]any{"manifest_digest": d.String()}, 200)
	if err := s.pull("acme/app:v1"); err != nil {
		t.Fatalf("pull after the restore: %v", err)
	}
}

// The gates read request paths: any path is classified without panicking,
// and a path a gate owns stays an API path of its feature.
func FuzzFeaturePaths(f *testing.F) {
	for _, s := range []string{"repository/a/b/autoprunepolicy/x", "organization/acme/quota/1/limit", "superuser/users/u/quota",
		"repository/a/b/tag/t/expire", "user/", "", "/", "repository//tag//expire"} {
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		segs := strings.Split(strings.Trim(path, "/"), "/")
		if policyPath("autoprunepolicy")(method, segs) && !strings.Contains(path, "autoprunepolicy") {
			t.Fatalf("%q gated as auto-prune", path)
		}
		if quotaPath(method, segs) && !strings.Contains(path, "quota") {
			t.Fatalf("%q gated as quota", path)
		}
		if tagExpirePath(method, segs) && (method != "POST" || !strings.HasSuffix(strings.Trim(path, "/"), "expire")) {
			t.Fatalf("%q gated as tag expire", path)
		}
	})
}
