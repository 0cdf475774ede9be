package api

import (
	"context"
	"testing"
)

func TestTeamPut(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	noOrgAdmin := e.tokenFor(f.aliceID, "user:admin user:read repo:admin repo:create")

	v := e.do("PUT", "/api/v1/organization/acme/team/readers", f.alice, map[string]any{"role": "member", "description": "Read only"}).expect(200).json()
	want := map[string]any{"name": "readers", "description": "Read only", "role": "member", "can_view": true,
		"repo_count": float64(0), "member_count": float64(0), "is_synced": false, "new_team": true}
	for k, w := range want {
		if v[k] != w {
			t.Fatalf("team view %s = %v, want %v: %v", k, v[k], w, v)
		}
	}
	if av, _ := v["avatar"].(map[string]any); av["kind"] != "team" || av["name"] != "readers" {
		t.Fatalf("team avatar: %v", v["avatar"])
	}
	// Updating the role keeps the description when none is given.
	v = e.do("PUT", "/api/v1/organization/acme/team/readers", f.alice, map[string]any{"role": "creator"}).expect(200).json()
	if v["role"] != "creator" || v["description"] != "Read only" || v["new_team"] != false {
		t.Fatalf("updated team: %v", v)
	}
	v = e.do("PUT", "/api/v1/organization/acme/team/readers", f.alice, map[string]any{"role": "creator", "description": ""}).expect(200).json()
	if v["description"] != "" {
		t.Fatalf("description not cleared: %v", v)
	}

	cases := []struct {
		name  string
		path  string
		token string
		body  any
		want  int
	}{
		{"missing role", "/team/x1", f.alice, map[string]any{"description": "d"}, 400},
		{"bad role", "/team/x2", f.alice, map[string]any{"role": "owner"}, 400},
		{"bad team name", "/team/Bad%20Name", f.alice, map[string]any{"role": "member"}, 400},
		{"one-letter team name", "/team/x", f.alice, map[string]any{"role": "member"}, 400},
		{"not JSON", "/team/x3", f.alice, "member", 400},
		{"member", "/team/x4", f.bob, map[string]any{"role": "member"}, 403},
		{"outsider", "/team/x5", f.carol, map[string]any{"role": "member"}, 403},
		{"anonymous", "/team/x6", "", map[string]any{"role": "member"}, 401},
		{"without org:admin", "/team/x7", noOrgAdmin, map[string]any{"role": "member"}, 403},
		{"member updating", "/team/devs", f.bob, map[string]any{"role": "admin"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do("PUT", "/api/v1/organization/acme"+c.path, c.token, c.body).expect(c.want)
		})
	}
	e.do("PUT", "/api/v1/organization/nope/team/devs", f.alice, map[string]any{"role": "member"}).expect(404)
	e.do("PUT", "/api/v1/organization/alice/team/devs", f.alice, map[string]any{"role": "member"}).expect(404)
	teams, err := e.db.Teams(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(teams) != 3 { // owners, devs, readers
		t.Fatalf("teams: %+v", teams)
	}
}

func TestTeamDelete(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	e.do("PUT", "/api/v1/organization/acme/team/tmp", f.alice, map[string]any{"role": "member"}).expect(200)
	e.do("DELETE", "/api/v1/organization/acme/team/tmp", f.bob, nil).expect(403)
	e.do("DELETE", "/api/v1/organization/acme/team/tmp", f.carol, nil).expect(403)
	e.do("DELETE", "/api/v1/organization/acme/team/tmp", "", nil).expect(401)
	e.do("DELETE", "/api/v1/organization/acme/team/nope", f.alice, nil).expect(404)
	e.do("DELETE", "/api/v1/organization/nope/team/tmp", f.alice, nil).expect(404)
	e.do("DELETE", "/api/v1/organization/acme/team/tmp", f.alice, nil).expect(204)
	e.do("DELETE", "/api/v1/organization/acme/team/tmp", f.alice, nil).expect(404)
	if _, err := e.db.Team(context.Background(), "acme", "tmp"); err == nil {
		t.Fatal("team still exists")
	}
}

func TestTeamOwnersProtections(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	dave := e.user("dave", false)

	// The owners team cannot be deleted, demoted, or emptied.
	e.do("DELETE", "/api/v1/organization/acme/team/owners", f.alice, nil).expect(400)
	e.do("PUT", "/api/v1/organization/acme/team/owners", f.alice, map[string]any{"role": "member"}).expect(400)
	e.do("DELETE", "/api/v1/organization/acme/team/owners/members/alice", f.alice, nil).expect(400)
	// Its description may change.
	v := e.do("PUT", "/api/v1/organization/acme/team/owners", f.alice, map[string]any{"role": "admin", "description": "The bosses"}).expect(200).json()
	if v["description"] != "The bosses" || v["role"] != "admin" {
		t.Fatalf("owners update: %v", v)
	}

	// dave administers through "leads" only: he may not take that away
	// from himself, but alice may.
	e.do("PUT", "/api/v1/organization/acme/team/leads", f.alice, map[string]any{"role": "admin"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/leads/members/dave", f.alice, nil).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/devs", dave, map[string]any{"role": "creator"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/leads", dave, map[string]any{"role": "member"}).expect(400)
	e.do("DELETE", "/api/v1/organization/acme/team/leads", dave, nil).expect(400)
	e.do("DELETE", "/api/v1/organization/acme/team/leads/members/dave", dave, nil).expect(400)
	e.do("GET", "/api/v1/organization/acme", dave, nil).expect(200)
	if v := e.do("GET", "/api/v1/organization/acme", dave, nil).json(); v["is_admin"] != true {
		t.Fatalf("dave lost admin: %v", v)
	}

	// With a second owner, alice still may not leave her only admin team
	// herself, but dave may remove her; the last owner then stays.
	e.do("PUT", "/api/v1/organization/acme/team/owners/members/dave", f.alice, nil).expect(200)
	e.do("DELETE", "/api/v1/organization/acme/team/owners/members/alice", f.alice, nil).expect(400)
	e.do("DELETE", "/api/v1/organization/acme/team/owners/members/alice", dave, nil).expect(204)
	e.do("DELETE", "/api/v1/organization/acme/team/owners/members/dave", dave, nil).expect(400)
	e.do("PUT", "/api/v1/organization/acme/team/leads", f.alice, map[string]any{"role": "member"}).expect(403)
	e.do("PUT", "/api/v1/organization/acme/team/leads", dave, map[string]any{"role": "member"}).expect(200)
}

func TestTeamMembers(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	dave := e.user("dave", false)
	e.do("PUT", "/api/v1/organization/acme/team/ops", f.alice, map[string]any{"role": "member"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/ops/members/dave", f.alice, nil).expect(200)
	if _, err := e.db.CreateRobot(ctx, "carol", "bot", "", "", "{}"); err != nil {
		t.Fatal(err)
	}
	other := e.user("erin", false)
	e.org("other", other)
	if _, err := e.db.CreateRobot(ctx, "other", "bot", "", "", "{}"); err != nil {
		t.Fatal(err)
	}

	// Adding members.
	v := e.do("PUT", "/api/v1/organization/acme/team/devs/members/"+f.robotName, f.alice, nil).expect(200).json()
	if v["name"] != f.robotName || v["kind"] != "user" || v["is_robot"] != true || v["invited"] != false {
		t.Fatalf("robot member view: %v", v)
	}
	// Adding twice is harmless.
	e.do("PUT", "/api/v1/organization/acme/team/devs/members/bob", f.alice, nil).expect(200)
	addCases := []struct {
		name, path, token string
		want              int
	}{
		{"unknown user", "/team/devs/members/nobody", f.alice, 400},
		{"robot of a user", "/team/devs/members/carol+bot", f.alice, 400},
		{"robot of another org", "/team/devs/members/other+bot", f.alice, 400},
		{"unknown team", "/team/nope/members/carol", f.alice, 404},
		{"member adds", "/team/devs/members/carol", f.bob, 403},
		{"outsider adds", "/team/devs/members/carol", f.carol, 403},
		{"anonymous adds", "/team/devs/members/carol", "", 401},
	}
	for _, c := range addCases {
		t.Run("add "+c.name, func(t *testing.T) {
			e.do("PUT", "/api/v1/organization/acme"+c.path, c.token, nil).expect(c.want)
		})
	}

	// Listing: admins and the team's own members.
	list := e.do("GET", "/api/v1/organization/acme/team/devs/members?includePending=true", f.alice, nil).expect(200).json()
	if list["name"] != "devs" || list["can_edit"] != true {
		t.Fatalf("admin list: %v", list)
	}
	ms := list["members"].([]any)
	if len(ms) != 2 {
		t.Fatalf("members: %v", ms)
	}
	var bob map[string]any
	for _, m := range ms {
		if mm := m.(map[string]any); mm["name"] == "bob" {
			bob = mm
		}
	}
	if bob["name"] != "bob" || bob["kind"] != "user" || bob["is_robot"] != false || bob["invited"] != false {
		t.Fatalf("bob view: %v", bob)
	}
	if av, _ := bob["avatar"].(map[string]any); av["name"] != "bob" {
		t.Fatalf("bob avatar: %v", bob["avatar"])
	}
	if got := e.do("GET", "/api/v1/organization/acme/team/devs/members", f.bob, nil).expect(200).json(); got["can_edit"] != false {
		t.Fatalf("member list: %v", got)
	}
	e.do("GET", "/api/v1/organization/acme/team/devs/members", dave, nil).expect(403) // member of another team
	e.do("GET", "/api/v1/organization/acme/team/devs/members", f.carol, nil).expect(403)
	e.do("GET", "/api/v1/organization/acme/team/devs/members", "", nil).expect(401)
	e.do("GET", "/api/v1/organization/acme/team/owners/members", f.bob, nil).expect(403)
	e.do("GET", "/api/v1/organization/acme/team/nope/members", f.alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/nope/team/devs/members", f.alice, nil).expect(404)
	userRead := e.tokenFor(f.bobID, "user:read repo:read")
	e.do("GET", "/api/v1/organization/acme/team/devs/members", userRead, nil).expect(403)

	// Removing.
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/bob", f.bob, nil).expect(403)
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/bob", "", nil).expect(401)
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/carol", f.alice, nil).expect(400) // not a member
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/nobody", f.alice, nil).expect(404)
	e.do("DELETE", "/api/v1/organization/acme/team/nope/members/bob", f.alice, nil).expect(404)
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/bob", f.alice, nil).expect(204)
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/"+f.robotName, f.alice, nil).expect(204)
	if got := e.do("GET", "/api/v1/organization/acme/team/devs/members", f.alice, nil).json(); len(got["members"].([]any)) != 0 {
		t.Fatalf("members after removal: %v", got)
	}
	if v := e.do("GET", "/api/v1/organization/acme", f.bob, nil).json(); v["is_member"] != false {
		t.Fatalf("bob still a member: %v", v)
	}
}

func TestTeamPermissionsList(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	e.repo("acme/app", "private", f.alice)
	e.repo("acme/site", "public", f.alice)
	if err := e.db.SetTeamPermission(ctx, "acme/app", "devs", "write"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetTeamPermission(ctx, "acme/site", "devs", "read"); err != nil {
		t.Fatal(err)
	}
	res := e.do("GET", "/api/v1/organization/acme/team/devs/permissions", f.alice, nil).expect(200).json()
	perms := res["permissions"].([]any)
	if len(perms) != 2 {
		t.Fatalf("permissions: %v", perms)
	}
	first := perms[0].(map[string]any)
	repo := first["repository"].(map[string]any)
	if repo["name"] != "app" || repo["is_public"] != false || first["role"] != "write" {
		t.Fatalf("first permission: %v", first)
	}
	second := perms[1].(map[string]any)
	if second["repository"].(map[string]any)["is_public"] != true || second["role"] != "read" {
		t.Fatalf("second permission: %v", second)
	}
	if got := e.do("GET", "/api/v1/organization/acme/team/owners/permissions", f.alice, nil).expect(200).json(); len(got["permissions"].([]any)) != 0 {
		t.Fatalf("owners permissions: %v", got)
	}
	e.do("GET", "/api/v1/organization/acme/team/devs/permissions", f.bob, nil).expect(403)
	e.do("GET", "/api/v1/organization/acme/team/devs/permissions", f.carol, nil).expect(403)
	e.do("GET", "/api/v1/organization/acme/team/devs/permissions", "", nil).expect(401)
	e.do("GET", "/api/v1/organization/acme/team/nope/permissions", f.alice, nil).expect(404)
}

// Team roles decide who may create repositories in the organization.
func TestTeamRoleRepositoryCreation(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	dave := e.user("dave", false)
	e.do("PUT", "/api/v1/organization/acme/team/builders", f.alice, map[string]any{"role": "creator"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/builders/members/dave", f.alice, nil).expect(200)

	create := func(token, name string) *result {
		return e.do("POST", "/api/v1/repository", token, map[string]any{"namespace": "acme", "repository": name, "visibility": "private", "description": ""})
	}
	create(f.bob, "from-member").expect(403) // member role
	create(f.carol, "from-outsider").expect(403)
	create(dave, "from-creator").expect(201)  // creator role
	create(f.alice, "from-admin").expect(201) // owners
	// The creator administers what they created, not the rest.
	if v := e.do("GET", "/api/v1/repository/acme/from-creator", dave, nil).expect(200).json(); v["can_admin"] != true {
		t.Fatalf("creator's repository: %v", v)
	}
	e.do("GET", "/api/v1/repository/acme/from-admin", dave, nil).expect(403)
	// Promoting the member team lets bob create too.
	e.do("PUT", "/api/v1/organization/acme/team/devs", f.alice, map[string]any{"role": "creator"}).expect(200)
	create(f.bob, "from-member").expect(201)
	// An admin team sees every repository.
	e.do("PUT", "/api/v1/organization/acme/team/builders", f.alice, map[string]any{"role": "admin"}).expect(200)
	if v := e.do("GET", "/api/v1/repository/acme/from-admin", dave, nil).expect(200).json(); v["can_admin"] != true {
		t.Fatalf("admin team view: %v", v)
	}
}

// A team's repository roles apply to its members.
func TestTeamRepositoryPermissionGrantsAccess(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	e.repo("acme/x", "private", f.alice)

	e.do("GET", "/api/v1/repository/acme/x", f.bob, nil).expect(403)
	if err := e.db.SetTeamPermission(ctx, "acme/x", "devs", "read"); err != nil {
		t.Fatal(err)
	}
	v := e.do("GET", "/api/v1/repository/acme/x", f.bob, nil).expect(200).json()
	if v["can_write"] != false || v["can_admin"] != false {
		t.Fatalf("read grant: %v", v)
	}
	e.do("PUT", "/api/v1/repository/acme/x", f.bob, map[string]any{"description": "x"}).expect(403)
	list := e.do("GET", "/api/v1/repository?namespace=acme", f.bob, nil).expect(200).json()
	if n := len(list["repositories"].([]any)); n != 1 {
		t.Fatalf("bob lists %d repositories", n)
	}

	if err := e.db.SetTeamPermission(ctx, "acme/x", "devs", "write"); err != nil {
		t.Fatal(err)
	}
	v = e.do("GET", "/api/v1/repository/acme/x", f.bob, nil).expect(200).json()
	if v["can_write"] != true || v["can_admin"] != false {
		t.Fatalf("write grant: %v", v)
	}
	e.do("PUT", "/api/v1/repository/acme/x", f.bob, map[string]any{"description": "x"}).expect(200)

	// Outsiders get nothing, and leaving the team takes the access away.
	e.do("GET", "/api/v1/repository/acme/x", f.carol, nil).expect(403)
	e.do("DELETE", "/api/v1/organization/acme/team/devs/members/bob", f.alice, nil).expect(204)
	e.do("GET", "/api/v1/repository/acme/x", f.bob, nil).expect(403)
}
