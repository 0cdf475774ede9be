package api

import (
	"context"
	"strings"
	"testing"
)

// fxUserID returns the id of a user created with e.user.
func fxUserID(t *testing.T, e *testEnv, name string) int64 {
	t.Helper()
	u, err := e.db.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// fxOrg creates an organization owned by a user (straight in the store).
func fxOrg(t *testing.T, e *testEnv, name, owner string) {
	t.Helper()
	if _, err := e.db.CreateOrganization(context.Background(), name, name+"@example.com", fxUserID(t, e, owner)); err != nil {
		t.Fatal(err)
	}
}

// fxTeam creates a team of an organization with members.
func fxTeam(t *testing.T, e *testEnv, org, team, role string, members ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.PutTeam(ctx, org, team, role, ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := e.db.AddTeamMember(ctx, org, team, m); err != nil {
			t.Fatal(err)
		}
	}
}

func fxMap(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %#v", what, v)
	}
	return m
}

func fxList(t *testing.T, v any, what string) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: not a list: %#v", what, v)
	}
	return l
}

func TestRepositoryUserPermissions(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.user("carol", false)
	fxOrg(t, e, "acme", "alice")
	e.repo("acme/app", "private", alice)
	base := "/api/v1/repository/acme/app/permissions/user/"

	// The creator holds admin; members of the organization are flagged.
	perms := fxMap(t, e.do("GET", base, alice, nil).expect(200).json()["permissions"], "permissions")
	a := fxMap(t, perms["alice"], "alice")
	if a["role"] != "admin" || a["name"] != "alice" || a["is_robot"] != false || a["is_org_member"] != true {
		t.Fatalf("alice entry: %v", a)
	}
	if av := fxMap(t, a["avatar"], "avatar"); av["kind"] != "user" || av["name"] != "alice" {
		t.Fatalf("avatar: %v", av)
	}

	// Grant, read back, change, revoke.
	got := e.do("PUT", base+"bob", alice, map[string]any{"role": "read"}).expect(200).json()
	if got["role"] != "read" || got["name"] != "bob" || got["is_robot"] != false || got["is_org_member"] != false {
		t.Fatalf("put view: %v", got)
	}
	got = e.do("GET", base+"bob", alice, nil).expect(200).json()
	if got["role"] != "read" || got["name"] != "bob" {
		t.Fatalf("get view: %v", got)
	}
	// bob can now read but not administer.
	e.do("GET", "/api/v1/repository/acme/app", bob, nil).expect(200)
	e.do("GET", base, bob, nil).expect(403)
	e.do("PUT", base+"carol", bob, map[string]any{"role": "admin"}).expect(403)
	e.do("PUT", base+"bob", alice, map[string]any{"role": "admin"}).expect(200)
	// As an admin of the repository bob may manage its permissions.
	perms = fxMap(t, e.do("GET", base, bob, nil).expect(200).json()["permissions"], "permissions")
	if len(perms) != 2 || fxMap(t, perms["bob"], "bob")["role"] != "admin" {
		t.Fatalf("permissions: %v", perms)
	}
	e.do("DELETE", base+"bob", alice, nil).expect(204)
	e.do("GET", base+"bob", alice, nil).expect(404)
	e.do("DELETE", base+"bob", alice, nil).expect(404)
	e.do("GET", base, bob, nil).expect(403)

	// Bad input.
	e.do("PUT", base+"nobody", alice, map[string]any{"role": "read"}).expect(400)
	e.do("PUT", base+"carol", alice, map[string]any{"role": "owner"}).expect(400)
	e.do("PUT", base+"carol", alice, map[string]any{}).expect(400)
	e.do("PUT", base+"carol", alice, nil).expect(400)
	e.do("GET", base+"nobody", alice, nil).expect(404)

	// Anonymous, unknown repository, read-only and repo:write scopes.
	e.do("GET", base, "", nil).expect(401)
	e.do("GET", "/api/v1/repository/acme/nope/permissions/user/", alice, nil).expect(404)
	aliceID := fxUserID(t, e, "alice")
	e.do("GET", base, e.tokenFor(aliceID, "repo:read"), nil).expect(403)
	e.do("PUT", base+"carol", e.tokenFor(aliceID, "repo:read repo:write"), map[string]any{"role": "read"}).expect(403)
	e.do("GET", base, e.tokenFor(aliceID, "repo:admin"), nil).expect(200)
}

func TestRepositoryPermissionsPublicRepoAndOwner(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.repo("alice/pub", "public", alice)
	base := "/api/v1/repository/alice/pub/permissions/user/"
	// Anyone may read a public repository but not its permissions.
	e.do("GET", base, "", nil).expect(401)
	e.do("GET", base, bob, nil).expect(403)

	// The owner of a user namespace is always admin, without is_org_member.
	perms := fxMap(t, e.do("GET", base, alice, nil).expect(200).json()["permissions"], "permissions")
	a := fxMap(t, perms["alice"], "alice")
	if a["role"] != "admin" {
		t.Fatalf("owner entry: %v", a)
	}
	if _, ok := a["is_org_member"]; ok {
		t.Fatalf("is_org_member on a user namespace: %v", a)
	}
	e.do("PUT", base+"alice", alice, map[string]any{"role": "read"}).expect(400)
	e.do("DELETE", base+"alice", alice, nil).expect(400)
	got := e.do("PUT", base+"bob", alice, map[string]any{"role": "write"}).expect(200).json()
	if _, ok := got["is_org_member"]; ok || got["role"] != "write" {
		t.Fatalf("bob entry: %v", got)
	}
	tr := e.do("GET", base+"alice/transitive", alice, nil).expect(200).json()
	if l := fxList(t, tr["permissions"], "transitive"); len(l) != 1 || fxMap(t, l[0], "role")["role"] != "admin" {
		t.Fatalf("owner transitive: %v", tr)
	}
	// Teams exist only in organizations.
	e.do("PUT", "/api/v1/repository/alice/pub/permissions/team/devs", alice, map[string]any{"role": "read"}).expect(400)
	e.do("GET", "/api/v1/repository/alice/pub/permissions/team/", alice, nil).expect(200)
}

func TestRepositoryRobotPermissions(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	fxOrg(t, e, "acme", "alice")
	e.repo("acme/app", "private", alice)
	e.do("PUT", "/api/v1/organization/acme/robots/builder", alice, nil).expect(201)
	e.do("PUT", "/api/v1/user/robots/mine", alice, nil).expect(201)
	base := "/api/v1/repository/acme/app/permissions/user/"

	got := e.do("PUT", base+"acme+builder", alice, map[string]any{"role": "write"}).expect(200).json()
	if got["name"] != "acme+builder" || got["is_robot"] != true || got["is_org_member"] != true || got["role"] != "write" {
		t.Fatalf("robot permission: %v", got)
	}
	if av := fxMap(t, got["avatar"], "avatar"); av["kind"] != "robot" {
		t.Fatalf("robot avatar: %v", av)
	}
	// Robots of another namespace cannot be granted anything here.
	res := e.do("PUT", base+"alice+mine", alice, map[string]any{"role": "read"}).expect(400)
	if !strings.Contains(string(res.body), "Cannot add robot") {
		t.Fatalf("error: %s", res.body)
	}
	perms := fxMap(t, e.do("GET", base, alice, nil).expect(200).json()["permissions"], "permissions")
	if fxMap(t, perms["acme+builder"], "robot")["is_robot"] != true {
		t.Fatalf("permissions: %v", perms)
	}
}

func TestRepositoryTeamPermissions(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.user("carol", false)
	e.user("dave", false)
	fxOrg(t, e, "acme", "alice")
	fxTeam(t, e, "acme", "devs", "member", "carol", "bob")
	fxTeam(t, e, "acme", "ops", "member", "carol")
	e.repo("acme/app", "private", alice)
	base := "/api/v1/repository/acme/app/permissions/team/"

	got := e.do("PUT", base+"devs", alice, map[string]any{"role": "write"}).expect(200).json()
	if got["role"] != "write" || got["name"] != "devs" || fxMap(t, got["avatar"], "avatar")["kind"] != "team" {
		t.Fatalf("team put view: %v", got)
	}
	e.do("PUT", base+"ops", alice, map[string]any{"role": "read"}).expect(200)
	got = e.do("GET", base+"devs", alice, nil).expect(200).json()
	if got["role"] != "write" || len(got) != 1 {
		t.Fatalf("team get view: %v", got)
	}
	perms := fxMap(t, e.do("GET", base, alice, nil).expect(200).json()["permissions"], "permissions")
	if len(perms) != 2 || fxMap(t, perms["devs"], "devs")["role"] != "write" || fxMap(t, perms["ops"], "ops")["name"] != "ops" {
		t.Fatalf("team permissions: %v", perms)
	}
	// Team roles do not appear among user permissions.
	users := fxMap(t, e.do("GET", "/api/v1/repository/acme/app/permissions/user/", alice, nil).expect(200).json()["permissions"], "users")
	if len(users) != 1 {
		t.Fatalf("user permissions: %v", users)
	}

	// Transitive roles come from teams and direct grants.
	tr := e.do("GET", "/api/v1/repository/acme/app/permissions/user/carol/transitive", alice, nil).expect(200).json()
	roles := map[string]bool{}
	for _, x := range fxList(t, tr["permissions"], "carol") {
		roles[fxMap(t, x, "role")["role"].(string)] = true
	}
	if len(roles) != 2 || !roles["write"] || !roles["read"] {
		t.Fatalf("carol transitive: %v", tr)
	}
	e.do("PUT", "/api/v1/repository/acme/app/permissions/user/bob", alice, map[string]any{"role": "admin"}).expect(200)
	tr = e.do("GET", "/api/v1/repository/acme/app/permissions/user/bob/transitive", alice, nil).expect(200).json()
	if l := fxList(t, tr["permissions"], "bob"); len(l) != 2 {
		t.Fatalf("bob transitive: %v", tr)
	}
	e.do("GET", "/api/v1/repository/acme/app/permissions/user/dave/transitive", alice, nil).expect(404)
	e.do("GET", "/api/v1/repository/acme/app/permissions/user/nobody/transitive", alice, nil).expect(404)
	e.do("GET", "/api/v1/repository/acme/app/permissions/user/carol/transitive", "", nil).expect(401)

	// carol reaches the repository through teams but is not an admin of it.
	carolTok := e.tokenFor(fxUserID(t, e, "carol"), "repo:read repo:write repo:admin org:admin")
	e.do("GET", "/api/v1/repository/acme/app", carolTok, nil).expect(200)
	e.do("GET", base, carolTok, nil).expect(403)
	e.do("DELETE", base+"devs", carolTok, nil).expect(403)

	// Unknown teams, bad roles, revocation.
	e.do("PUT", base+"nope", alice, map[string]any{"role": "read"}).expect(400)
	e.do("PUT", base+"devs", alice, map[string]any{"role": "member"}).expect(400)
	e.do("GET", base+"nope", alice, nil).expect(404)
	e.do("DELETE", base+"devs", alice, nil).expect(204)
	e.do("GET", base+"devs", alice, nil).expect(404)
	e.do("DELETE", base+"devs", alice, nil).expect(404)
	e.do("GET", base, bob, nil).expect(200) // bob is still a direct admin
	e.do("GET", base, "", nil).expect(401)
}
