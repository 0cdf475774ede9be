package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
)

// fxAuthn is an authenticator over the test database, as the registry uses.
func fxAuthn(e *testEnv) *auth.Authenticator {
	return auth.NewAuthenticator(e.db, e.box, auth.Policy{DirectLogin: true, AppTokens: true}, time.Now)
}

func TestUserRobotLifecycle(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	ctx := context.Background()
	authn := fxAuthn(e)

	got := e.do("PUT", "/api/v1/user/robots/ci", alice, map[string]any{
		"description": "CI pushes", "unstructured_metadata": map[string]any{"team": "infra"},
	}).expect(201).json()
	tok, _ := got["token"].(string)
	if got["name"] != "alice+ci" || len(tok) != 64 || got["description"] != "CI pushes" || got["last_accessed"] != nil {
		t.Fatalf("create view: %v", got)
	}
	if c, _ := got["created"].(string); !strings.HasSuffix(c, "+0000") {
		t.Fatalf("created is not RFC 2822: %v", got["created"])
	}
	if md := fxMap(t, got["unstructured_metadata"], "metadata"); md["team"] != "infra" {
		t.Fatalf("metadata: %v", md)
	}
	res := e.do("PUT", "/api/v1/user/robots/ci", alice, nil).expect(400)
	if !strings.Contains(string(res.body), "Existing robot with name") {
		t.Fatalf("duplicate robot: %s", res.body)
	}
	for _, bad := range []string{"x", "1abc", "a-b", "Abc", "a.b", strings.Repeat("a", 256)} {
		e.do("PUT", "/api/v1/user/robots/"+bad, alice, nil).expect(400)
	}
	e.do("PUT", "/api/v1/user/robots/longdesc", alice, map[string]any{"description": strings.Repeat("d", 256)}).expect(400)
	e.do("PUT", "/api/v1/user/robots/badmeta", alice, map[string]any{"unstructured_metadata": []int{1}}).expect(400)

	// The token is stored only encrypted.
	u, err := e.db.User(ctx, "alice+ci")
	if err != nil {
		t.Fatal(err)
	}
	if u.RobotTokenEnc == "" || u.RobotTokenEnc == tok || strings.Contains(u.RobotTokenEnc, tok) {
		t.Fatalf("robot token stored in plaintext: %q", u.RobotTokenEnc)
	}
	if plain, err := e.box.Open(u.RobotTokenEnc); err != nil || plain != tok {
		t.Fatalf("stored token does not decrypt to the token: %v", err)
	}
	if id, err := authn.Basic(ctx, "alice+ci", tok); err != nil || id.User.Username != "alice+ci" {
		t.Fatalf("robot login: %v", err)
	}

	// Admins see the token.
	got = e.do("GET", "/api/v1/user/robots/ci", alice, nil).expect(200).json()
	if got["token"] != tok || got["name"] != "alice+ci" || fxMap(t, got["unstructured_metadata"], "md")["team"] != "infra" {
		t.Fatalf("get view: %v", got)
	}

	// Regenerate: the old token stops working.
	got = e.do("POST", "/api/v1/user/robots/ci/regenerate", alice, nil).expect(200).json()
	tok2, _ := got["token"].(string)
	if len(tok2) != 64 || tok2 == tok || got["name"] != "alice+ci" {
		t.Fatalf("regenerate view: %v", got)
	}
	if _, err := authn.Basic(ctx, "alice+ci", tok); err == nil {
		t.Fatal("old robot token still works after regeneration")
	}
	if _, err := authn.Basic(ctx, "alice+ci", tok2); err != nil {
		t.Fatalf("new robot token: %v", err)
	}
	if got := e.do("GET", "/api/v1/user/robots/ci", alice, nil).expect(200).json(); got["token"] != tok2 {
		t.Fatalf("token after regenerate: %v", got["token"])
	}

	// Lists, with and without tokens and permissions.
	e.do("PUT", "/api/v1/user/robots/deploy", alice, map[string]any{}).expect(201)
	e.repo("alice/app", "private", alice)
	e.do("PUT", "/api/v1/repository/alice/app/permissions/user/alice+ci", alice, map[string]any{"role": "write"}).expect(200)
	robots := fxList(t, e.do("GET", "/api/v1/user/robots", alice, nil).expect(200).json()["robots"], "robots")
	if len(robots) != 2 {
		t.Fatalf("robots: %v", robots)
	}
	for _, r := range robots {
		m := fxMap(t, r, "robot")
		if tk, _ := m["token"].(string); len(tk) != 64 {
			t.Fatalf("list entry without token: %v", m)
		}
	}
	robots = fxList(t, e.do("GET", "/api/v1/user/robots?token=false", alice, nil).expect(200).json()["robots"], "robots")
	for _, r := range robots {
		if _, ok := fxMap(t, r, "robot")["token"]; ok {
			t.Fatalf("token=false still lists tokens: %v", r)
		}
	}
	robots = fxList(t, e.do("GET", "/api/v1/user/robots?permissions=true&limit=1", alice, nil).expect(200).json()["robots"], "robots")
	if len(robots) != 1 {
		t.Fatalf("limit=1: %v", robots)
	}
	m := fxMap(t, robots[0], "robot")
	if m["name"] != "alice+ci" || len(fxList(t, m["repositories"], "repos")) != 1 || fxList(t, m["repositories"], "repos")[0] != "app" {
		t.Fatalf("robot with permissions: %v", m)
	}
	e.do("GET", "/api/v1/user/robots?limit=x", alice, nil).expect(400)

	perms := fxList(t, e.do("GET", "/api/v1/user/robots/ci/permissions", alice, nil).expect(200).json()["permissions"], "perms")
	if len(perms) != 1 {
		t.Fatalf("robot permissions: %v", perms)
	}
	p := fxMap(t, perms[0], "perm")
	if p["role"] != "write" || fxMap(t, p["repository"], "repo")["name"] != "app" || fxMap(t, p["repository"], "repo")["is_public"] != false {
		t.Fatalf("robot permission: %v", p)
	}

	// Delete.
	e.do("DELETE", "/api/v1/user/robots/ci", alice, nil).expect(204)
	e.do("GET", "/api/v1/user/robots/ci", alice, nil).expect(404)
	e.do("DELETE", "/api/v1/user/robots/ci", alice, nil).expect(404)
	e.do("POST", "/api/v1/user/robots/ci/regenerate", alice, nil).expect(404)
	e.do("GET", "/api/v1/user/robots/ci/permissions", alice, nil).expect(404)
	if _, err := authn.Basic(ctx, "alice+ci", tok2); err == nil {
		t.Fatal("deleted robot can still log in")
	}
}

func TestUserRobotAccess(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.do("PUT", "/api/v1/user/robots/ci", alice, nil).expect(201)

	// Each user sees only their own robots.
	if l := fxList(t, e.do("GET", "/api/v1/user/robots", bob, nil).expect(200).json()["robots"], "robots"); len(l) != 0 {
		t.Fatalf("bob sees robots: %v", l)
	}
	e.do("GET", "/api/v1/user/robots/ci", bob, nil).expect(404)
	e.do("DELETE", "/api/v1/user/robots/ci", bob, nil).expect(404)

	// Anonymous callers and tokens without user:admin.
	e.do("GET", "/api/v1/user/robots", "", nil).expect(401)
	e.do("PUT", "/api/v1/user/robots/x1", "", nil).expect(401)
	ro := e.tokenFor(fxUserID(t, e, "alice"), "user:read repo:read")
	e.do("GET", "/api/v1/user/robots", ro, nil).expect(403)
	e.do("GET", "/api/v1/user/robots/ci", ro, nil).expect(403)
	e.do("PUT", "/api/v1/user/robots/x2", ro, nil).expect(403)
	e.do("POST", "/api/v1/user/robots/ci/regenerate", ro, nil).expect(403)
	e.do("DELETE", "/api/v1/user/robots/ci", ro, nil).expect(403)
	e.do("GET", "/api/v1/user/robots/ci", e.tokenFor(fxUserID(t, e, "alice"), "user:admin"), nil).expect(200)
}

func TestOrgRobots(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	carol := e.user("carol", false)
	fxOrg(t, e, "acme", "alice")
	fxTeam(t, e, "acme", "devs", "member", "bob")
	base := "/api/v1/organization/acme/robots"
	ctx := context.Background()

	got := e.do("PUT", base+"/deployer", alice, map[string]any{"description": "deploys"}).expect(201).json()
	tok, _ := got["token"].(string)
	if got["name"] != "acme+deployer" || len(tok) != 64 {
		t.Fatalf("org robot: %v", got)
	}
	if _, err := fxAuthn(e).Basic(ctx, "acme+deployer", tok); err != nil {
		t.Fatalf("org robot login: %v", err)
	}
	e.do("PUT", base+"/deployer", alice, nil).expect(400)
	if err := e.db.AddTeamMember(ctx, "acme", "devs", "acme+deployer"); err != nil {
		t.Fatal(err)
	}
	e.repo("acme/site", "public", alice)
	e.do("PUT", "/api/v1/repository/acme/site/permissions/user/acme+deployer", alice, map[string]any{"role": "admin"}).expect(200)

	robots := fxList(t, e.do("GET", base+"?permissions=true", alice, nil).expect(200).json()["robots"], "robots")
	if len(robots) != 1 {
		t.Fatalf("robots: %v", robots)
	}
	r := fxMap(t, robots[0], "robot")
	teams := fxList(t, r["teams"], "teams")
	if r["token"] != tok || len(teams) != 1 || fxMap(t, teams[0], "team")["name"] != "devs" || fxList(t, r["repositories"], "repos")[0] != "site" {
		t.Fatalf("admin list entry: %v", r)
	}
	got = e.do("GET", base+"/deployer", alice, nil).expect(200).json()
	if got["token"] != tok || got["description"] != "deploys" {
		t.Fatalf("admin get: %v", got)
	}
	perms := fxList(t, e.do("GET", base+"/deployer/permissions", alice, nil).expect(200).json()["permissions"], "perms")
	if len(perms) != 1 || fxMap(t, fxMap(t, perms[0], "p")["repository"], "repo")["is_public"] != true {
		t.Fatalf("org robot permissions: %v", perms)
	}

	// Members list names only; they cannot see tokens or change robots.
	robots = fxList(t, e.do("GET", base+"?permissions=true", bob, nil).expect(200).json()["robots"], "robots")
	if len(robots) != 1 {
		t.Fatalf("member list: %v", robots)
	}
	r = fxMap(t, robots[0], "robot")
	if _, ok := r["token"]; ok {
		t.Fatalf("member sees a token: %v", r)
	}
	if _, ok := r["repositories"]; ok {
		t.Fatalf("member sees permissions: %v", r)
	}
	e.do("GET", base+"/deployer", bob, nil).expect(403)
	e.do("PUT", base+"/other", bob, nil).expect(403)
	e.do("POST", base+"/deployer/regenerate", bob, nil).expect(403)
	e.do("GET", base+"/deployer/permissions", bob, nil).expect(403)
	e.do("DELETE", base+"/deployer", bob, nil).expect(403)
	// Outsiders see nothing.
	e.do("GET", base, carol, nil).expect(403)
	e.do("GET", base+"/deployer", carol, nil).expect(403)
	// Anonymous, unknown organization, unknown robot, missing scope.
	e.do("GET", base, "", nil).expect(401)
	e.do("GET", "/api/v1/organization/nope/robots", alice, nil).expect(404)
	e.do("PUT", "/api/v1/organization/alice/robots/x1", alice, nil).expect(404) // a user namespace
	e.do("GET", base+"/ghost", alice, nil).expect(404)
	aliceID := fxUserID(t, e, "alice")
	e.do("GET", base, e.tokenFor(aliceID, "repo:read user:admin"), nil).expect(403)
	e.do("PUT", base+"/other", e.tokenFor(aliceID, "repo:admin"), nil).expect(403)
	e.do("GET", base+"/deployer/permissions", e.tokenFor(aliceID, "org:admin"), nil).expect(403)
	e.do("GET", base+"/deployer/permissions", e.tokenFor(aliceID, "org:admin user:admin"), nil).expect(200)

	// Regenerate and delete.
	got = e.do("POST", base+"/deployer/regenerate", alice, nil).expect(200).json()
	if got["token"] == tok {
		t.Fatal("token unchanged")
	}
	if _, err := fxAuthn(e).Basic(ctx, "acme+deployer", tok); err == nil {
		t.Fatal("old org robot token still works")
	}
	e.do("DELETE", base+"/deployer", alice, nil).expect(204)
	e.do("GET", base+"/deployer", alice, nil).expect(404)
	if l := fxList(t, e.do("GET", base, alice, nil).expect(200).json()["robots"], "robots"); len(l) != 0 {
		t.Fatalf("robots after delete: %v", l)
	}
}
