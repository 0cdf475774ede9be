package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
)

func TestSuperuserUsers(t *testing.T) {
	e, alice, _, _ := tagFixture(t)
	root := e.user("root", true)
	base := "/api/v1/superuser/users/"

	// Only superusers.
	e.do("GET", base, "", nil).expect(401)
	e.do("GET", base, alice, nil).expect(403)
	e.do("POST", base, alice, map[string]any{"username": "mallory"}).expect(403)
	e.do("PUT", base+"rita", alice, map[string]any{"enabled": false}).expect(403)
	e.do("DELETE", base+"rita", alice, nil).expect(403)
	// A superuser's token without the super:user scope is refused too.
	rootUser, err := e.db.User(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	narrow := e.tokenFor(rootUser.ID, "user:read repo:read")
	for _, p := range []string{base, "/api/v1/superuser/organizations/", "/api/v1/superuser/registrysize/"} {
		e.do("GET", p, narrow, nil).expect(403)
	}
	e.do("POST", base, narrow, map[string]any{"username": "mallory"}).expect(403)

	list := e.do("GET", base, root, nil).expect(200).json()["users"].([]any)
	names := map[string]map[string]any{}
	for _, u := range list {
		m := u.(map[string]any)
		names[m["username"].(string)] = m
	}
	for _, n := range []string{"alice", "rita", "root", "wendy"} {
		if names[n] == nil {
			t.Fatalf("user %s missing from %v", n, list)
		}
	}
	if names["root"]["super_user"] != true || names["alice"]["super_user"] != false || names["alice"]["enabled"] != true {
		t.Fatalf("flags: %v", names)
	}
	if _, ok := names["acme"]; ok {
		t.Fatal("an organization is listed as a user")
	}

	// Create with a generated password that signs in.
	e.do("POST", base, root, map[string]any{"username": "No Such"}).expect(400)
	e.do("POST", base, root, map[string]any{"username": "alice"}).expect(400)
	e.do("POST", base, root, map[string]any{"username": "newbie", "email": "not-an-email"}).expect(400)
	created := e.do("POST", base, root, map[string]any{"username": "newbie", "email": "newbie@example.com"}).expect(200).json()
	pw, _ := created["password"].(string)
	if created["username"] != "newbie" || len(pw) < 16 {
		t.Fatalf("created: %v", created)
	}
	if !suSignin(t, e, "newbie", pw) {
		t.Fatal("the generated password does not sign in")
	}

	// Disable: sign-in refused; a superuser cannot disable or delete themselves.
	e.do("PUT", base+"root", root, map[string]any{"enabled": false}).expect(400)
	e.do("DELETE", base+"root", root, nil).expect(400)
	e.do("PUT", base+"nobody", root, map[string]any{"enabled": false}).expect(404)
	e.do("PUT", base+"acme+bot", root, map[string]any{"enabled": false}).expect(404)
	if v := e.do("PUT", base+"newbie", root, map[string]any{"enabled": false}).expect(200).json(); v["enabled"] != false {
		t.Fatalf("after disabling: %v", v)
	}
	if suSignin(t, e, "newbie", pw) {
		t.Fatal("a disabled user signed in")
	}
	e.do("PUT", base+"newbie", root, map[string]any{"password": "short"}).expect(400)
	e.do("PUT", base+"newbie", root, map[string]any{"enabled": true, "password": "a-new-password-1"}).expect(200)
	if !suSignin(t, e, "newbie", "a-new-password-1") {
		t.Fatal("the new password does not sign in")
	}

	// A person with roles is deleted; the only administrator of an
	// organization is not.
	e.do("DELETE", base+"wendy", root, nil).expect(204)
	if m := e.do("DELETE", base+"alice", root, nil).expect(400).json(); !strings.Contains(m["error_message"].(string), "acme") {
		t.Fatalf("deleting the only admin of acme: %v", m)
	}
	e.do("GET", base+"alice", root, nil).expect(200)
	e.do("DELETE", base+"newbie", root, nil).expect(204)
	e.do("GET", base+"newbie", root, nil).expect(404)
	e.do("DELETE", base+"newbie", root, nil).expect(404)
}

// suSignin reports whether a password sign-in succeeds.
func suSignin(t *testing.T, e *testEnv, user, password string) bool {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := http.Post(e.srv.URL+"/api/v1/signin", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestSuperuserOrganizationsAndSize(t *testing.T) {
	e, alice, _, _ := tagFixture(t)
	root := e.user("root", true)
	e.pushImage("acme/app", "one", nil, "latest")

	e.do("GET", "/api/v1/superuser/organizations/", alice, nil).expect(403)
	e.do("GET", "/api/v1/superuser/registrysize/", alice, nil).expect(403)
	e.do("GET", "/api/v1/superuser/registrysize/", "", nil).expect(401)
	e.do("DELETE", "/api/v1/superuser/organizations/acme", alice, nil).expect(403)

	orgs := e.do("GET", "/api/v1/superuser/organizations/", root, nil).expect(200).json()["organizations"].([]any)
	if len(orgs) != 1 {
		t.Fatalf("organizations: %v", orgs)
	}
	acme := orgs[0].(map[string]any)
	report := acme["quota_report"].(map[string]any)
	if acme["name"] != "acme" || acme["repositories"].(float64) != 1 || report["quota_bytes"].(float64) <= 0 {
		t.Fatalf("acme: %v", acme)
	}

	size := e.do("GET", "/api/v1/superuser/registrysize/", root, nil).expect(200).json()
	if size["size_bytes"].(float64) <= 0 || size["blobs"].(float64) < 1 || size["tags"].(float64) != 1 || size["manifests"].(float64) != 1 {
		t.Fatalf("registry size: %v", size)
	}
	if len(size["namespaces"].([]any)) < 2 { // acme and the users' namespaces
		t.Fatalf("namespaces: %v", size["namespaces"])
	}

	e.do("DELETE", "/api/v1/superuser/organizations/alice", root, nil).expect(404) // a user, not an org
	e.do("DELETE", "/api/v1/superuser/organizations/acme", root, nil).expect(204)
	e.do("GET", "/api/v1/organization/acme", root, nil).expect(404)
	if orgs := e.do("GET", "/api/v1/superuser/organizations/", root, nil).expect(200).json()["organizations"].([]any); len(orgs) != 0 {
		t.Fatalf("after delete: %v", orgs)
	}
}

func TestSuperuserJobs(t *testing.T) {
	e := newTestEnv(t)
	root := e.user("root", true)
	e.do("GET", "/api/v1/superuser/jobs", root, nil).expect(404) // no queue wired

	e = newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) {
		o.JobStats = func(context.Context) (map[string]int, error) {
			return map[string]int{"available": 2, "completed": 5}, nil
		}
	})
	root = e.user("root", true)
	alice := e.user("alice", false)
	e.do("GET", "/api/v1/superuser/jobs", alice, nil).expect(403)
	v := e.do("GET", "/api/v1/superuser/jobs", root, nil).expect(200).json()
	if v["total"].(float64) != 7 || v["states"].(map[string]any)["available"].(float64) != 2 {
		t.Fatalf("jobs: %v", v)
	}
}
