package api

import "testing"

// The replication endpoints are for superusers only, and answer 404 when
// storage replication is off (the enabled behaviour is tested in
// internal/app, where the store knows the locations).
func TestReplicationAPIAccessAndDisabled(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	root := e.user("root", true)
	e.org("acme", alice)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/superuser/storage/replication", nil},
		{"GET", "/api/v1/superuser/storage/replication/acme", nil},
		{"PUT", "/api/v1/superuser/storage/replication/acme", map[string]any{"locations": []string{"west"}}},
	} {
		e.do(c.method, c.path, "", c.body).expect(401)
		e.do(c.method, c.path, alice, c.body).expect(403)
		m := e.do(c.method, c.path, root, c.body).expect(404).json()
		if m["error_type"] != "not_found" || m["detail"] != "storage replication is not enabled (FEATURE_STORAGE_REPLICATION)" {
			t.Fatalf("%s %s with replication off: %v", c.method, c.path, m)
		}
	}
	e.do("PUT", "/api/v1/superuser/storage/replication/acme", root, "not an object").expect(400)
}
