package api

import (
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
)

func TestRegistryStateSwitch(t *testing.T) {
	e, alice, writer, reader := tagFixture(t)
	root := e.user("root", true)
	d1 := e.pushImage("acme/app", "one", nil, "latest")
	path := "/api/v1/superuser/registrystate"

	e.do("GET", path, "", nil).expect(401)
	e.do("GET", path, alice, nil).expect(403)
	e.do("PUT", path, alice, map[string]any{"state": "readonly"}).expect(403)
	if st := e.do("GET", path, root, nil).expect(200).json(); st["state"] != "normal" || st["config_state"] != "normal" {
		t.Fatalf("initial state: %v", st)
	}
	e.do("PUT", path, root, map[string]any{"state": "maintenance"}).expect(400)
	if st := e.do("PUT", path, root, map[string]any{"state": "readonly"}).expect(200).json(); st["state"] != "readonly" || st["switch_state"] != "readonly" {
		t.Fatalf("after switching: %v", st)
	}

	// Every API write is refused, reads continue, signing in still works.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/repository", map[string]any{"namespace": "acme", "repository": "new", "visibility": "private"}},
		{"PUT", "/api/v1/repository/acme/app/tag/other", map[string]any{"manifest_digest": d1}},
		{"DELETE", "/api/v1/repository/acme/app/tag/latest", nil},
		{"POST", "/api/v1/organization/acme/immutabilitypolicy/", map[string]any{"tagPattern": "x"}},
	} {
		m := e.do(c.method, c.path, writer, c.body).expect(503).json()
		if m["error_type"] != "read_only" || m["detail"] == "" {
			t.Fatalf("%s %s: %v", c.method, c.path, m)
		}
	}
	e.do("GET", "/api/v1/repository/acme/app", reader, nil).expect(200)
	if n := len(e.tags("acme/app", reader, "")); n != 1 {
		t.Fatalf("tag list while read-only: %d", n)
	}
	e.do("POST", "/api/v1/signin", "", map[string]any{"username": "alice", "password": "password-alice"}).expect(200)

	e.do("PUT", path, root, map[string]any{"state": "normal"}).expect(200)
	e.do("PUT", "/api/v1/repository/acme/app/tag/other", writer, map[string]any{"manifest_digest": d1}).expect(201)
}

func TestRegistryStateFromConfig(t *testing.T) {
	e := newTestEnv(t, func(ap *auth.AccessPolicy, _ *auth.Policy, _ *Options) { ap.ReadOnly = true })
	root := e.user("root", true)
	st := e.do("GET", "/api/v1/superuser/registrystate", root, nil).expect(200).json()
	if st["state"] != "readonly" || st["config_state"] != "readonly" || st["switch_state"] != "normal" {
		t.Fatalf("state: %v", st)
	}
	// The switch cannot undo the configuration.
	st = e.do("PUT", "/api/v1/superuser/registrystate", root, map[string]any{"state": "normal"}).expect(200).json()
	if st["state"] != "readonly" {
		t.Fatalf("after switching to normal: %v", st)
	}
	e.do("POST", "/api/v1/repository", root, map[string]any{"repository": "x", "visibility": "private"}).expect(503)
}
