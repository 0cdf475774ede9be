package api

import (
	"context"
	"regexp"
	"testing"

	"github.com/wharfhq/wharf/internal/core"
)

var protoUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPrototypeLifecycle(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	base := "/api/v1/organization/acme/prototypes"

	list := e.do("GET", base, f.alice, nil).expect(200).json()
	if n := len(list["prototypes"].([]any)); n != 0 {
		t.Fatalf("new organization has %d prototypes", n)
	}

	// A team delegate for every creator.
	v := e.do("POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "devs"}}).expect(200).json()
	id, _ := v["id"].(string)
	if !protoUUID.MatchString(id) || v["role"] != "read" || v["activating_user"] != nil {
		t.Fatalf("team prototype: %v", v)
	}
	d := v["delegate"].(map[string]any)
	if d["name"] != "devs" || d["kind"] != "team" || d["avatar"].(map[string]any)["kind"] != "team" {
		t.Fatalf("team delegate: %v", d)
	}

	// A user delegate for one activating user.
	v = e.do("POST", base, f.alice, map[string]any{"role": "write", "delegate": map[string]any{"kind": "user", "name": "carol"},
		"activating_user": map[string]any{"name": "bob"}}).expect(200).json()
	act := v["activating_user"].(map[string]any)
	if act["name"] != "bob" || act["kind"] != "user" || act["is_robot"] != false || act["is_org_member"] != true {
		t.Fatalf("activating user: %v", act)
	}
	d = v["delegate"].(map[string]any)
	if d["name"] != "carol" || d["kind"] != "user" || d["is_robot"] != false || d["is_org_member"] != false {
		t.Fatalf("user delegate: %v", d)
	}
	userProto := v["id"].(string)

	// A robot delegate of the organization.
	v = e.do("POST", base, f.alice, map[string]any{"role": "admin", "delegate": map[string]any{"kind": "user", "name": f.robotName}}).expect(200).json()
	d = v["delegate"].(map[string]any)
	if d["is_robot"] != true || d["kind"] != "user" || d["avatar"].(map[string]any)["kind"] != "robot" {
		t.Fatalf("robot delegate: %v", d)
	}

	list = e.do("GET", base, f.alice, nil).expect(200).json()
	ps := list["prototypes"].([]any)
	if len(ps) != 3 || ps[0].(map[string]any)["id"] != id || ps[1].(map[string]any)["id"] != userProto {
		t.Fatalf("prototypes: %v", ps)
	}

	v = e.do("PUT", base+"/"+userProto, f.alice, map[string]any{"role": "admin"}).expect(200).json()
	if v["role"] != "admin" || v["id"] != userProto || v["delegate"].(map[string]any)["name"] != "carol" {
		t.Fatalf("updated prototype: %v", v)
	}
	e.do("PUT", base+"/"+userProto, f.alice, map[string]any{"role": "owner"}).expect(400)
	e.do("PUT", base+"/no-such-id", f.alice, map[string]any{"role": "read"}).expect(404)

	e.do("DELETE", base+"/"+userProto, f.alice, nil).expect(204)
	e.do("DELETE", base+"/"+userProto, f.alice, nil).expect(404)
	list = e.do("GET", base, f.alice, nil).expect(200).json()
	if n := len(list["prototypes"].([]any)); n != 2 {
		t.Fatalf("after delete: %d prototypes", n)
	}
}

func TestPrototypeValidationAndAccess(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	base := "/api/v1/organization/acme/prototypes"
	other := e.user("erin", false)
	e.org("other", other)
	e.do("PUT", "/api/v1/organization/other/team/ops", other, map[string]any{"role": "member"}).expect(200)
	if _, err := e.db.CreateRobot(ctx, "other", "bot", "", "", "{}"); err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "devs"}}
	proto := e.do("POST", base, f.alice, good).expect(200).json()["id"].(string)
	noOrgAdmin := e.tokenFor(f.aliceID, "user:admin user:read repo:admin repo:create")

	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		want   int
	}{
		{"bad role", "POST", base, f.alice, map[string]any{"role": "owner", "delegate": map[string]any{"kind": "team", "name": "devs"}}, 400},
		{"no delegate", "POST", base, f.alice, map[string]any{"role": "read"}, 400},
		{"bad delegate kind", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "org", "name": "devs"}}, 400},
		{"unknown team", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "nope"}}, 400},
		{"team of another org", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "ops"}}, 400},
		{"unknown user", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "user", "name": "nobody"}}, 400},
		{"foreign robot", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "user", "name": "other+bot"}}, 400},
		{"unknown activating user", "POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "devs"}, "activating_user": map[string]any{"name": "nobody"}}, 400},
		{"not JSON", "POST", base, f.alice, "read", 400},
		{"member lists", "GET", base, f.bob, nil, 403},
		{"outsider lists", "GET", base, f.carol, nil, 403},
		{"anonymous lists", "GET", base, "", nil, 401},
		{"list without org:admin", "GET", base, noOrgAdmin, nil, 403},
		{"member creates", "POST", base, f.bob, good, 403},
		{"anonymous creates", "POST", base, "", good, 401},
		{"member updates", "PUT", base + "/" + proto, f.bob, map[string]any{"role": "admin"}, 403},
		{"outsider deletes", "DELETE", base + "/" + proto, f.carol, nil, 403},
		{"anonymous deletes", "DELETE", base + "/" + proto, "", nil, 401},
		{"unknown org", "GET", "/api/v1/organization/nope/prototypes", f.alice, nil, 404},
		{"other org's prototype", "DELETE", "/api/v1/organization/other/prototypes/" + proto, other, nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.do(c.method, c.path, c.token, c.body).expect(c.want)
		})
	}
	ps, err := e.db.Prototypes(ctx, "acme")
	if err != nil || len(ps) != 1 || ps[0].Role != "read" {
		t.Fatalf("prototypes after refused changes: %+v %v", ps, err)
	}
}

// Default permissions apply to repositories created afterwards.
func TestPrototypesApplyToNewRepositories(t *testing.T) {
	f := newOrgFixture(t)
	e := f.e
	ctx := context.Background()
	base := "/api/v1/organization/acme/prototypes"
	e.do("PUT", "/api/v1/organization/acme/team/readers", f.alice, map[string]any{"role": "member"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/builders", f.alice, map[string]any{"role": "creator"}).expect(200)
	e.do("PUT", "/api/v1/organization/acme/team/builders/members/bob", f.alice, nil).expect(200)

	e.repo("acme/before", "private", f.alice)
	e.do("POST", base, f.alice, map[string]any{"role": "read", "delegate": map[string]any{"kind": "team", "name": "readers"}}).expect(200)
	// carol gets write on what bob creates, and only on that.
	e.do("POST", base, f.alice, map[string]any{"role": "write", "delegate": map[string]any{"kind": "user", "name": "carol"},
		"activating_user": map[string]any{"name": "bob"}}).expect(200)

	e.repo("acme/by-alice", "private", f.alice)
	e.repo("acme/by-bob", "private", f.bob)

	roles := func(repo string) map[string]string {
		t.Helper()
		perms, err := e.db.RepositoryPermissions(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range perms {
			if p.TeamID != 0 {
				out["team:"+p.TeamName] = p.Role
			} else {
				out["user:"+p.Username] = p.Role
			}
		}
		return out
	}
	if got := roles("acme/before"); got["team:readers"] != "" {
		t.Fatalf("prototype applied to an existing repository: %v", got)
	}
	if got := roles("acme/by-alice"); got["team:readers"] != core.RoleRead || got["user:carol"] != "" || got["user:alice"] != core.RoleAdmin {
		t.Fatalf("acme/by-alice permissions: %v", got)
	}
	if got := roles("acme/by-bob"); got["team:readers"] != core.RoleRead || got["user:carol"] != core.RoleWrite || got["user:bob"] != core.RoleAdmin {
		t.Fatalf("acme/by-bob permissions: %v", got)
	}
	// The grants work through the API: carol can push to bob's repository.
	if v := e.do("GET", "/api/v1/repository/acme/by-bob", f.carol, nil).expect(200).json(); v["can_write"] != true {
		t.Fatalf("carol's view: %v", v)
	}
	e.do("GET", "/api/v1/repository/acme/by-alice", f.carol, nil).expect(403)
}
