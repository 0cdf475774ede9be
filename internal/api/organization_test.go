package api

import (
	"context"
	"sort"
	"testing"

	"github.com/wharfhq/wharf/internal/auth"
)

// orgFixture is an organization "acme" owned by alice, with bob in the
// "devs" team (member role), carol outside it and a robot acme+ci.
type orgFixture struct {
	e                       *testEnv
	alice, bob, carol       string
	aliceID, bobID, carolID int64
	robotName               string
}

func newOrgFixture(t *testing.T, opts ...envOption) *orgFixture {
	t.Helper()
	e := newTestEnv(t, opts...)
	f := &orgFixture{e: e, alice: e.user("alice", false), bob: e.user("bob", false), carol: e.user("carol", false)}
	e.org("acme", f.alice)
	e.do("PUT", "/api/v1/organization/acme/team/devs", f.alice, map[string]any{"role": "member", "description": "Developers"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/devs/members/bob", f.alice, nil).expect(200)
	f.aliceID, f.bobID = orgTestUserID(t, e, "alice"), orgTestUserID(t, e, "bob")
	f.carolID = orgTestUserID(t, e, "carol")
	r, err := e.db.CreateRobot(context.Background(), "acme", "ci", "", "", "{}")
	if err != nil {
		t.Fatal(err)
	}
	f.robotName = r.Username
	return f
}

func orgTestUserID(t *testing.T, e *testEnv, name string) int64 {
	t.Helper()
	u, err := e.db.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestOrganizationCreate(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	e.user("bob", false)
	readOnly := e.tokenFor(orgTestUserID(t, e, "alice"), "user:read repo:read")

	res := e.do("POST", "/api/v1/organization/", alice, map[string]any{"name": "acme", "email": "ops@acme.example"}).expect(201)
	if string(res.body) != `"Created"` {
		t.Fatalf("create body: %s", res.body)
	}
	members, err := e.db.TeamMembers(context.Background(), "acme", "owners")
	if err != nil || len(members) != 1 || members[0].Username != "alice" {
		t.Fatalf("owners team: %v %v", members, err)
	}

	cases := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"duplicate organization", alice, map[string]any{"name": "acme"}, 400},
		{"name of a user", alice, map[string]any{"name": "bob"}, 400},
		{"too short", alice, map[string]any{"name": "a"}, 400},
		{"upper case", alice, map[string]any{"name": "Acme2"}, 400},
		{"spaces", alice, map[string]any{"name": "my org"}, 400},
		{"missing name", alice, map[string]any{"email": "x@example.com"}, 400},
		{"bad email", alice, map[string]any{"name": "acme2", "email": "not an email"}, 400},
		{"not JSON", alice, "just a string", 400},
		{"anonymous", "", map[string]any{"name": "acme3"}, 401},
		{"token without user:admin", readOnly, map[string]any{"name": "acme4"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do("POST", "/api/v1/organization/", c.token, c.body).expect(c.want)
		})
	}
	// Only the first one exists.
	for _, n := range []string{"acme2", "acme3", "acme4"} {
		e.do("GET", "/api/v1/organization/"+n, alice, nil).expect(404)
	}
	e.do("POST", "/api/v1/organization/", alice, map[string]any{"name": "acme5"}).expect(201)
}

func TestOrganizationView(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	e.repo("acme/app", "private", f.alice)
	if err := e.db.SetTeamPermission(context.Background(), "acme/app", "devs", "read"); err != nil {
		t.Fatal(err)
	}

	admin := e.do("GET", "/api/v1/organization/acme", f.alice, nil).expect(200).json()
	if admin["name"] != "acme" || admin["email"] != "acme@example.com" || admin["is_admin"] != true || admin["is_member"] != true {
		t.Fatalf("admin view: %v", admin)
	}
	if admin["tag_expiration_s"] != float64(1209600) || admin["invoice_email"] != false || admin["is_free_account"] != true {
		t.Fatalf("admin settings: %v", admin)
	}
	if av, _ := admin["avatar"].(map[string]any); av["kind"] != "org" || av["name"] != "acme" {
		t.Fatalf("avatar: %v", admin["avatar"])
	}
	ordered, _ := admin["ordered_teams"].([]any)
	if len(ordered) != 2 || ordered[0] != "owners" || ordered[1] != "devs" {
		t.Fatalf("ordered_teams: %v", admin["ordered_teams"])
	}
	teams := admin["teams"].(map[string]any)
	owners := teams["owners"].(map[string]any)
	if owners["role"] != "admin" || owners["member_count"] != float64(1) || owners["can_view"] != true || owners["is_synced"] != false {
		t.Fatalf("owners team view: %v", owners)
	}
	devs := teams["devs"].(map[string]any)
	if devs["role"] != "member" || devs["description"] != "Developers" || devs["repo_count"] != float64(1) || devs["member_count"] != float64(1) {
		t.Fatalf("devs team view: %v", devs)
	}
	if av, _ := devs["avatar"].(map[string]any); av["kind"] != "team" {
		t.Fatalf("team avatar: %v", devs["avatar"])
	}

	member := e.do("GET", "/api/v1/organization/acme", f.bob, nil).expect(200).json()
	if member["is_admin"] != false || member["is_member"] != true || member["email"] != "" {
		t.Fatalf("member view: %v", member)
	}
	if _, ok := member["tag_expiration_s"]; ok {
		t.Fatalf("member sees admin settings: %v", member)
	}
	mteams := member["teams"].(map[string]any)
	if mteams["devs"].(map[string]any)["can_view"] != true || mteams["owners"].(map[string]any)["can_view"] != false {
		t.Fatalf("member can_view: %v", mteams)
	}

	for name, tok := range map[string]string{"outsider": f.carol, "anonymous": ""} {
		v := e.do("GET", "/api/v1/organization/acme", tok, nil).expect(200).json()
		if v["name"] != "acme" || v["is_admin"] != false || v["is_member"] != false || v["email"] != "" {
			t.Fatalf("%s view: %v", name, v)
		}
		if _, ok := v["teams"]; ok {
			t.Fatalf("%s sees teams: %v", name, v)
		}
	}
	// A token without org:admin or repo:create does not act as a member.
	userRead := e.tokenFor(f.aliceID, "user:read")
	v := e.do("GET", "/api/v1/organization/acme", userRead, nil).expect(200).json()
	if v["is_member"] != false || v["is_admin"] != false {
		t.Fatalf("user:read view: %v", v)
	}
	// repo:create caps the role at creator: a member, not an admin.
	creator := e.tokenFor(f.aliceID, "repo:create")
	v = e.do("GET", "/api/v1/organization/acme", creator, nil).expect(200).json()
	if v["is_member"] != true || v["is_admin"] != false {
		t.Fatalf("repo:create view: %v", v)
	}

	e.do("GET", "/api/v1/organization/nope", f.alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/alice", f.alice, nil).expect(404) // a user, not an organization
}

func TestOrganizationViewWithoutAnonymousAccess(t *testing.T) {
	f := newOrgFixture(t, func(ap *auth.AccessPolicy, _ *auth.Policy, _ *Options) { ap.AnonymousAccess = false })
	f.e.do("GET", "/api/v1/organization/acme", "", nil).expect(401)
	f.e.do("GET", "/api/v1/organization/acme", f.carol, nil).expect(200)
}

func TestOrganizationUpdateAndDelete(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	noOrgAdmin := e.tokenFor(f.aliceID, "user:admin user:read repo:admin repo:create")

	cases := []struct {
		name   string
		method string
		token  string
		body   any
		want   int
	}{
		{"member cannot update", "PUT", f.bob, map[string]any{"email": "x@example.com"}, 403},
		{"outsider cannot update", "PUT", f.carol, map[string]any{"email": "x@example.com"}, 403},
		{"anonymous cannot update", "PUT", "", map[string]any{"email": "x@example.com"}, 401},
		{"update needs org:admin", "PUT", noOrgAdmin, map[string]any{"email": "x@example.com"}, 403},
		{"invalid email", "PUT", f.alice, map[string]any{"email": "nope"}, 400},
		{"negative tag expiration", "PUT", f.alice, map[string]any{"tag_expiration_s": -1}, 400},
		{"member cannot delete", "DELETE", f.bob, nil, 403},
		{"outsider cannot delete", "DELETE", f.carol, nil, 403},
		{"anonymous cannot delete", "DELETE", "", nil, 401},
		{"delete needs org:admin", "DELETE", noOrgAdmin, nil, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do(c.method, "/api/v1/organization/acme", c.token, c.body).expect(c.want)
		})
	}
	e.do("PUT", "/api/v1/organization/nope", f.alice, map[string]any{"email": "x@example.com"}).expect(404)
	e.do("DELETE", "/api/v1/organization/nope", f.alice, nil).expect(404)

	v := e.do("PUT", "/api/v1/organization/acme", f.alice, map[string]any{"email": "new@acme.example"}).expect(200).json()
	if v["email"] != "new@acme.example" || v["is_admin"] != true {
		t.Fatalf("update answer: %v", v)
	}
	if got := e.do("GET", "/api/v1/organization/acme", f.alice, nil).expect(200).json(); got["email"] != "new@acme.example" {
		t.Fatalf("email not saved: %v", got)
	}
	// contact_email wins over email, as in Quay.
	v = e.do("PUT", "/api/v1/organization/acme", f.alice, map[string]any{"email": "a@acme.example", "contact_email": "b@acme.example"}).expect(200).json()
	if v["email"] != "b@acme.example" {
		t.Fatalf("contact_email: %v", v)
	}

	// Deleting takes repositories, teams, robots and prototypes along.
	e.repo("acme/app", "public", f.alice)
	e.do("PUT", "/api/v1/organization/acme/team/devs/members/"+f.robotName, f.alice, nil).expect(200)
	e.do("POST", "/api/v1/organization/acme/prototypes", f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "devs"}}).expect(200)
	e.do("DELETE", "/api/v1/organization/acme", f.alice, nil).expect(204)
	if _, err := e.db.User(context.Background(), f.robotName); err == nil {
		t.Fatal("the organization's robot survived")
	}
	e.do("GET", "/api/v1/organization/acme", f.alice, nil).expect(404)
	e.do("GET", "/api/v1/repository/acme/app", f.alice, nil).expect(404)
	// The name is free again.
	e.org("acme", f.carol)
}

func TestOrganizationMembers(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	e.repo("acme/app", "private", f.alice)
	e.repo("acme/lib", "private", f.alice)
	for _, g := range []struct{ repo, user string }{{"acme/app", "bob"}, {"acme/app", "carol"}, {"acme/lib", "carol"}, {"acme/lib", f.robotName}} {
		if err := e.db.SetUserPermission(ctx, g.repo, g.user, "read"); err != nil {
			t.Fatal(err)
		}
	}
	e.do("PUT", "/api/v1/organization/acme/team/devs/members/"+f.robotName, f.alice, nil).expect(200)

	list := e.do("GET", "/api/v1/organization/acme/members", f.alice, nil).expect(200).json()
	members := list["members"].([]any)
	byName := map[string]map[string]any{}
	for _, m := range members {
		mm := m.(map[string]any)
		byName[mm["name"].(string)] = mm
	}
	if len(byName) != 2 || byName["alice"] == nil || byName["bob"] == nil {
		t.Fatalf("members (robots excluded): %v", members)
	}
	bob := byName["bob"]
	if bob["kind"] != "user" || len(bob["teams"].([]any)) != 1 || bob["teams"].([]any)[0].(map[string]any)["name"] != "devs" {
		t.Fatalf("bob: %v", bob)
	}
	if repos := bob["repositories"].([]any); len(repos) != 1 || repos[0] != "app" {
		t.Fatalf("bob's repositories: %v", bob["repositories"])
	}
	// alice created both repositories, so she holds admin on them directly.
	if repos := byName["alice"]["repositories"].([]any); len(repos) != 2 {
		t.Fatalf("alice's repositories: %v", repos)
	}

	got := e.do("GET", "/api/v1/organization/acme/members/bob", f.alice, nil).expect(200).json()
	if got["name"] != "bob" || got["kind"] != "user" || len(got["teams"].([]any)) != 1 {
		t.Fatalf("member bob: %v", got)
	}
	robot := e.do("GET", "/api/v1/organization/acme/members/"+f.robotName, f.alice, nil).expect(200).json()
	if robot["kind"] != "robot" || len(robot["repositories"].([]any)) != 1 {
		t.Fatalf("member robot: %v", robot)
	}
	e.do("GET", "/api/v1/organization/acme/members/carol", f.alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/acme/members/nobody", f.alice, nil).expect(404)

	collab := e.do("GET", "/api/v1/organization/acme/collaborators", f.alice, nil).expect(200).json()
	cs := collab["collaborators"].([]any)
	if len(cs) != 1 {
		t.Fatalf("collaborators: %v", cs)
	}
	c := cs[0].(map[string]any)
	repos := []string{}
	for _, r := range c["repositories"].([]any) {
		repos = append(repos, r.(string))
	}
	sort.Strings(repos)
	if c["name"] != "carol" || c["kind"] != "user" || len(repos) != 2 || repos[0] != "app" || repos[1] != "lib" {
		t.Fatalf("collaborator: %v", c)
	}

	for _, path := range []string{"/members", "/members/bob", "/collaborators"} {
		e.do("GET", "/api/v1/organization/acme"+path, f.bob, nil).expect(403)
		e.do("GET", "/api/v1/organization/acme"+path, f.carol, nil).expect(403)
		e.do("GET", "/api/v1/organization/acme"+path, "", nil).expect(401)
		e.do("GET", "/api/v1/organization/nope"+path, f.alice, nil).expect(404)
	}
}

func TestOrganizationRemoveMember(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	e.repo("acme/app", "private", f.alice)
	if err := e.db.SetUserPermission(ctx, "acme/app", "bob", "write"); err != nil {
		t.Fatal(err)
	}
	e.do("DELETE", "/api/v1/organization/acme/members/bob", f.bob, nil).expect(403)
	e.do("DELETE", "/api/v1/organization/acme/members/bob", "", nil).expect(401)
	e.do("DELETE", "/api/v1/organization/acme/members/nobody", f.alice, nil).expect(404)
	// The only administrator stays.
	e.do("DELETE", "/api/v1/organization/acme/members/alice", f.alice, nil).expect(400)

	e.do("DELETE", "/api/v1/organization/acme/members/bob", f.alice, nil).expect(204)
	e.do("GET", "/api/v1/organization/acme/members/bob", f.alice, nil).expect(404)
	perms, err := e.db.RepositoryPermissions(ctx, "acme/app")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range perms {
		if p.Username == "bob" {
			t.Fatalf("bob keeps a role on acme/app: %+v", p)
		}
	}
	e.do("GET", "/api/v1/repository/acme/app", f.bob, nil).expect(403)
}

func TestOrganizationSuperuserAccess(t *testing.T) {
	full := func(ap *auth.AccessPolicy, _ *auth.Policy, _ *Options) { ap.SuperusersFullAccess = true }
	for _, c := range []struct {
		name string
		opts []envOption
		want int
	}{
		{"with full access", []envOption{full}, 200},
		{"without full access", nil, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newOrgFixture(t, c.opts...)
			root := f.e.user("root", true)
			f.e.do("GET", "/api/v1/organization/acme/members", root, nil).expect(c.want)
			f.e.do("GET", "/api/v1/organization/acme/prototypes", root, nil).expect(c.want)
			v := f.e.do("GET", "/api/v1/organization/acme", root, nil).expect(200).json()
			if got := v["is_admin"] == true; got != (c.want == 200) {
				t.Fatalf("superuser view: %v", v)
			}
		})
	}
}
