package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/mirror"
	"github.com/wharfhq/wharf/internal/store"
)

// mirrorEnv is an organization acme (owner alice) with the repository
// acme/mirrored in state MIRROR, the robot acme+sync (write) and acme+reader
// (read), and bob, who may write to the repository but not administer it.
func mirrorEnv(t *testing.T) (e *testEnv, alice, bob string) {
	t.Helper()
	e = newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.Mirrors = mirror.Validator{} })
	alice = e.user("alice", false)
	bob = e.user("bob", false)
	e.org("acme", alice)
	e.repo("acme/mirrored", "private", alice)
	ctx := t.Context()
	for _, r := range []struct{ short, role string }{{"sync", core.RoleWrite}, {"reader", core.RoleRead}} {
		if _, err := e.db.CreateRobot(ctx, "acme", r.short, "unused", "", ""); err != nil {
			t.Fatal(err)
		}
		if err := e.db.SetUserPermission(ctx, "acme/mirrored", "acme+"+r.short, r.role); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.SetUserPermission(ctx, "acme/mirrored", "bob", core.RoleWrite); err != nil {
		t.Fatal(err)
	}
	e.do("PUT", "/api/v1/repository/acme/mirrored/changestate", alice, map[string]any{"state": "MIRROR"}).expect(200)
	return e, alice, bob
}

func validMirror() map[string]any {
	return map[string]any{
		"is_enabled":                 true,
		"external_reference":         "quay.io/coreos/etcd",
		"external_registry_username": "fred",
		"external_registry_password": "hunter22",
		"sync_interval":              3600,
		"sync_start_date":            "2026-01-02T03:04:05Z",
		"robot_username":             "acme+sync",
		"root_rule":                  map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"v3.*", "latest"}},
		"external_registry_config": map[string]any{"verify_tls": false, "unsigned_images": true,
			"proxy": map[string]any{"http_proxy": "http://proxy.internal:3128", "no_proxy": "localhost"}},
		"architecture_filter": []string{"amd64", "arm64"},
	}
}

func TestMirrorConfigRoundTrip(t *testing.T) {
	e, alice, _ := mirrorEnv(t)
	path := "/api/v1/repository/acme/mirrored/mirror"
	e.do("GET", path, alice, nil).expect(404)
	e.do("POST", path, alice, validMirror()).expect(201)
	e.do("POST", path, alice, validMirror()).expect(409)

	got := e.do("GET", path, alice, nil).expect(200).json()
	for k, want := range map[string]any{
		"is_enabled": true, "mirror_type": "PULL", "external_reference": "quay.io/coreos/etcd",
		"external_registry_username": "fred", "sync_interval": float64(3600), "sync_start_date": "2026-01-02T03:04:05Z",
		"sync_status": "NEVER_RUN", "sync_retries_remaining": float64(3), "robot_username": "acme+sync",
		"sync_expiration_date": nil,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["external_registry_password"]; ok {
		t.Error("the view shows the password")
	}
	rule := got["root_rule"].(map[string]any)
	if rule["rule_kind"] != "tag_glob_csv" || len(rule["rule_value"].([]any)) != 2 {
		t.Errorf("root_rule = %v", rule)
	}
	cfg := got["external_registry_config"].(map[string]any)
	proxy := cfg["proxy"].(map[string]any)
	if cfg["verify_tls"] != false || cfg["unsigned_images"] != true || proxy["http_proxy"] != "http://proxy.internal:3128" {
		t.Errorf("external_registry_config = %v", cfg)
	}
	if a := got["architecture_filter"].([]any); len(a) != 2 || a[0] != "amd64" {
		t.Errorf("architecture_filter = %v", a)
	}
	// The password is sealed at rest.
	m, err := e.db.Mirror(t.Context(), "acme/mirrored")
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := e.box.Open(m.PasswordEnc); err != nil || pw != "hunter22" || strings.Contains(m.PasswordEnc, "hunter22") {
		t.Fatalf("stored password %q opens to %q, %v", m.PasswordEnc, pw, err)
	}

	// PUT changes only what it names; proxy settings merge.
	e.do("PUT", path, alice, map[string]any{"is_enabled": false, "sync_interval": 60,
		"external_registry_config": map[string]any{"verify_tls": true, "proxy": map[string]any{"https_proxy": "http://p2:8080"}},
		"root_rule":                map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"stable"}}}).expect(201)
	got = e.do("GET", path, alice, nil).expect(200).json()
	cfg = got["external_registry_config"].(map[string]any)
	proxy = cfg["proxy"].(map[string]any)
	if got["is_enabled"] != false || got["sync_interval"] != float64(60) || cfg["verify_tls"] != true ||
		proxy["http_proxy"] != "http://proxy.internal:3128" || proxy["https_proxy"] != "http://p2:8080" ||
		got["external_reference"] != "quay.io/coreos/etcd" || got["external_registry_username"] != "fred" {
		t.Fatalf("after PUT: %v", got)
	}
	// Clearing the credentials.
	e.do("PUT", path, alice, map[string]any{"external_registry_username": nil, "external_registry_password": nil}).expect(201)
	if m, _ := e.db.Mirror(t.Context(), "acme/mirrored"); m.UsernameEnc != "" || m.PasswordEnc != "" {
		t.Fatal("credentials not cleared")
	}

	// sync-now needs the feature's state; it queues, and cancel undoes it.
	e.do("POST", path+"/sync-cancel", alice, nil).expect(404)
	e.do("POST", path+"/sync-now", alice, nil).expect(400) // disabled above
	e.do("PUT", path, alice, map[string]any{"is_enabled": true}).expect(201)
	e.do("POST", path+"/sync-now", alice, nil).expect(204)
	if got = e.do("GET", path, alice, nil).expect(200).json(); got["sync_status"] != store.MirrorSyncNow {
		t.Fatalf("sync_status after sync-now = %v", got["sync_status"])
	}
	e.do("POST", path+"/sync-cancel", alice, nil).expect(204)
	if got = e.do("GET", path, alice, nil).expect(200).json(); got["sync_status"] != store.MirrorCancel {
		t.Fatalf("sync_status after sync-cancel = %v", got["sync_status"])
	}
	e.do("PUT", "/api/v1/repository/acme/mirrored/changestate", alice, map[string]any{"state": "NORMAL"}).expect(200)
	e.do("POST", path+"/sync-now", alice, nil).expect(400)
}

func TestMirrorValidation(t *testing.T) {
	e, alice, _ := mirrorEnv(t)
	path := "/api/v1/repository/acme/mirrored/mirror"
	for name, mod := range map[string]func(m map[string]any){
		"missing reference":  func(m map[string]any) { delete(m, "external_reference") },
		"missing rule":       func(m map[string]any) { delete(m, "root_rule") },
		"missing robot":      func(m map[string]any) { delete(m, "robot_username") },
		"missing start":      func(m map[string]any) { delete(m, "sync_start_date") },
		"missing interval":   func(m map[string]any) { delete(m, "sync_interval") },
		"bad reference":      func(m map[string]any) { m["external_reference"] = "etcd" },
		"reference with tag": func(m map[string]any) { m["external_reference"] = "quay.io/coreos/etcd:v3" },
		"bad date":           func(m map[string]any) { m["sync_start_date"] = "yesterday" },
		"negative interval":  func(m map[string]any) { m["sync_interval"] = -1 },
		"bad rule kind": func(m map[string]any) {
			m["root_rule"] = map[string]any{"rule_kind": "regex", "rule_value": []string{"x"}}
		},
		"bad glob": func(m map[string]any) {
			m["root_rule"] = map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"[x"}}
		},
		"empty rule": func(m map[string]any) {
			m["root_rule"] = map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{}}
		},
		"bad architecture": func(m map[string]any) { m["architecture_filter"] = []string{"x86 64"} },
		"bad proxy": func(m map[string]any) {
			m["external_registry_config"] = map[string]any{"proxy": map[string]any{"http_proxy": "::"}}
		},
		"bad CA":             func(m map[string]any) { m["external_registry_config"] = map[string]any{"ca_certificate": "nope"} },
		"robot elsewhere":    func(m map[string]any) { m["robot_username"] = "other+sync" },
		"missing robot user": func(m map[string]any) { m["robot_username"] = "acme+ghost" },
		"read-only robot":    func(m map[string]any) { m["robot_username"] = "acme+reader" },
		"person as robot":    func(m map[string]any) { m["robot_username"] = "bob" },
		"password alone":     func(m map[string]any) { delete(m, "external_registry_username") },
		"null user password": func(m map[string]any) { m["external_registry_username"] = nil },
		"wrong type":         func(m map[string]any) { m["is_enabled"] = "yes" },
	} {
		body := validMirror()
		mod(body)
		res := e.do("POST", path, alice, body)
		if res.status != 400 {
			t.Errorf("%s: status %d, want 400: %s", name, res.status, res.body)
		}
	}
	e.do("GET", path, alice, nil).expect(404)
	e.do("POST", path, alice, validMirror()).expect(201)
	e.do("PUT", path, alice, map[string]any{"external_reference": ""}).expect(400)
	e.do("PUT", path, alice, map[string]any{"external_registry_password": "x"}).expect(400)
	e.do("PUT", path, alice, map[string]any{"robot_username": "acme+reader"}).expect(400)
}

func TestMirrorNeedsRepoAdmin(t *testing.T) {
	e, alice, bob := mirrorEnv(t)
	path := "/api/v1/repository/acme/mirrored/mirror"
	e.do("POST", path, alice, validMirror()).expect(201)
	u, err := e.db.User(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	readOnlyScope := e.tokenFor(u.ID, "repo:read repo:write")
	for _, r := range []struct{ method, path string }{
		{"GET", path}, {"POST", path}, {"PUT", path}, {"POST", path + "/sync-now"}, {"POST", path + "/sync-cancel"},
	} {
		var body any
		if r.method != "GET" && !strings.Contains(r.path, "sync-") {
			body = validMirror()
		}
		e.do(r.method, r.path, "", body).expect(401)
		e.do(r.method, r.path, bob, body).expect(403)
		e.do(r.method, r.path, readOnlyScope, body).expect(403)
	}
	e.do("GET", "/api/v1/repository/acme/missing/mirror", alice, nil).expect(404)
}

func TestMirrorFeatureOff(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	e.repo("alice/app", "private", alice)
	e.do("GET", "/api/v1/repository/alice/app/mirror", alice, nil).expect(404)
	e.do("POST", "/api/v1/repository/alice/app/mirror", alice, validMirror()).expect(404)
}

func FuzzMergeJSONObject(f *testing.F) {
	f.Add([]byte(`{"verify_tls":true,"proxy":{"http_proxy":"http://a:1"}}`), []byte(`{"proxy":{"no_proxy":"x"}}`))
	f.Add([]byte(``), []byte(`[]`))
	f.Fuzz(func(t *testing.T, base, patch []byte) {
		out, err := mergeJSONObject(base, patch)
		if err != nil {
			if !core.IsCode(err, core.CodeInvalid) {
				t.Fatal(err)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("merged %q and %q into invalid JSON %q", base, patch, out)
		}
	})
}
