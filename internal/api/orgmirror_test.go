package api

import "testing"

func validOrgMirror() map[string]any {
	return map[string]any{
		"external_registry":          "quay.io",
		"external_namespace":         "coreos",
		"repository_filter":          []string{"etcd*", "tools/*"},
		"external_registry_username": "fred",
		"external_registry_password": "hunter22",
		"sync_interval":              3600,
		"robot_username":             "acme+sync",
		"root_rule":                  map[string]any{"rule_kind": "tag_glob_csv", "rule_value": []string{"v3.*"}},
		"external_registry_config":   map[string]any{"verify_tls": true},
	}
}

func TestOrgMirrorRoundTrip(t *testing.T) {
	e, alice, _ := mirrorEnv(t)
	path := "/api/v1/organization/acme/mirror"
	e.do("GET", path, alice, nil).expect(404)
	e.do("POST", path, alice, validOrgMirror()).expect(201)
	e.do("POST", path, alice, validOrgMirror()).expect(409)
	got := e.do("GET", path, alice, nil).expect(200).json()
	for k, want := range map[string]any{
		"is_enabled": true, "external_registry": "quay.io", "external_namespace": "coreos",
		"external_registry_username": "fred", "sync_interval": float64(3600), "robot_username": "acme+sync",
		"repositories_created": float64(0), "last_discovery": nil,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["external_registry_password"]; ok {
		t.Error("the view shows the password")
	}
	if f := got["repository_filter"].([]any); len(f) != 2 || f[0] != "etcd*" {
		t.Errorf("repository_filter = %v", f)
	}
	m, err := e.db.OrgMirror(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if m.PasswordEnc == "" || m.PasswordEnc == "hunter22" {
		t.Fatal("the upstream password is not sealed")
	}

	e.do("PUT", path, alice, map[string]any{"repositories": []string{"etcd", "tools/jq"}, "is_enabled": false}).expect(201)
	got = e.do("GET", path, alice, nil).expect(200).json()
	if got["is_enabled"] != false || len(got["repositories"].([]any)) != 2 || got["external_namespace"] != "coreos" {
		t.Fatalf("after PUT: %v", got)
	}
	e.do("POST", path+"/sync-now", alice, nil).expect(400) // disabled
	e.do("PUT", path, alice, map[string]any{"is_enabled": true}).expect(201)
	e.do("POST", path+"/sync-now", alice, nil).expect(204)
	e.do("DELETE", path, alice, nil).expect(204)
	e.do("GET", path, alice, nil).expect(404)
	e.do("DELETE", path, alice, nil).expect(404)
}

func TestOrgMirrorValidation(t *testing.T) {
	e, alice, _ := mirrorEnv(t)
	e.org("other", alice)
	if _, err := e.db.CreateRobot(t.Context(), "other", "bot", "unused", "", ""); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/organization/acme/mirror"
	for name, mod := range map[string]func(map[string]any){
		"missing registry":  func(b map[string]any) { delete(b, "external_registry") },
		"missing namespace": func(b map[string]any) { delete(b, "external_namespace") },
		"registry path":     func(b map[string]any) { b["external_registry"] = "quay.io/x" },
		"bad namespace":     func(b map[string]any) { b["external_namespace"] = "/Core" },
		"bad filter":        func(b map[string]any) { b["repository_filter"] = []string{"[a"} },
		"bad repositories":  func(b map[string]any) { b["repositories"] = []string{"UPPER"} },
		"foreign robot":     func(b map[string]any) { b["robot_username"] = "other+bot" },
		"missing robot":     func(b map[string]any) { b["robot_username"] = "acme+nobody" },
		"bad rule":          func(b map[string]any) { b["root_rule"] = map[string]any{"rule_kind": "x", "rule_value": []string{"a"}} },
		"bad interval":      func(b map[string]any) { b["sync_interval"] = -1 },
		"password only":     func(b map[string]any) { delete(b, "external_registry_username") },
	} {
		b := validOrgMirror()
		mod(b)
		if r := e.do("POST", path, alice, b); r.status != 400 {
			t.Errorf("%s: status %d, want 400", name, r.status)
		}
	}
	if _, err := e.db.OrgMirror(t.Context(), "acme"); err == nil {
		t.Fatal("an invalid configuration was stored")
	}
	// A user namespace has no organization mirror.
	e.do("POST", "/api/v1/organization/alice/mirror", alice, validOrgMirror()).expect(404)
}

func TestOrgMirrorNeedsOrgAdmin(t *testing.T) {
	e, alice, bob := mirrorEnv(t)
	path := "/api/v1/organization/acme/mirror"
	e.do("POST", path, alice, validOrgMirror()).expect(201)
	for _, r := range []struct{ method, path string }{
		{"GET", path}, {"POST", path}, {"PUT", path}, {"DELETE", path}, {"POST", path + "/sync-now"},
	} {
		var body any
		if r.method == "POST" && r.path == path || r.method == "PUT" {
			body = validOrgMirror()
		}
		e.do(r.method, r.path, "", body).expect(401)
		e.do(r.method, r.path, bob, body).expect(403)
	}
	if _, err := e.db.OrgMirror(t.Context(), "acme"); err != nil {
		t.Fatalf("the mirror is gone after refused calls: %v", err)
	}
	e.do("GET", "/api/v1/organization/missing/mirror", alice, nil).expect(404)
}

func TestOrgMirrorFeatureOff(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	e.org("acme", alice)
	e.do("GET", "/api/v1/organization/acme/mirror", alice, nil).expect(404)
	e.do("POST", "/api/v1/organization/acme/mirror", alice, validOrgMirror()).expect(404)
	if _, err := e.db.OrgMirror(t.Context(), "acme"); err == nil {
		t.Fatal("stored with the feature off")
	}
}
