package api

import (
	"context"
	"regexp"
	"testing"
)

var fxAlnum = regexp.MustCompile(`^[A-Z0-9]+$`)

func TestOrganizationApplications(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	ctx := context.Background()
	fxOrg(t, e, "acme", "alice")
	base := "/api/v1/organization/acme/applications"

	got := e.do("POST", base, alice, map[string]any{
		"name": "ci", "redirect_uri": "https://ci.example.com/cb", "application_uri": "https://ci.example.com", "description": "CI",
	}).expect(200).json()
	clientID, _ := got["client_id"].(string)
	secret, _ := got["client_secret"].(string)
	if len(clientID) != 20 || !fxAlnum.MatchString(clientID) || len(secret) != 40 || !fxAlnum.MatchString(secret) {
		t.Fatalf("client credentials: %v", got)
	}
	if got["name"] != "ci" || got["redirect_uri"] != "https://ci.example.com/cb" || got["application_uri"] != "https://ci.example.com" || got["description"] != "CI" {
		t.Fatalf("create view: %v", got)
	}
	if _, ok := got["avatar_email"]; !ok {
		t.Fatalf("no avatar_email field: %v", got)
	}
	// The secret is stored encrypted.
	a, err := e.db.OAuthApp(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	if a.ClientSecretEnc == secret {
		t.Fatal("client secret stored in plaintext")
	}
	if plain, err := e.box.Open(a.ClientSecretEnc); err != nil || plain != secret {
		t.Fatalf("stored secret does not decrypt: %v", err)
	}

	// Minimal body.
	e.do("POST", base, alice, map[string]any{"name": "bare"}).expect(200)
	apps := fxList(t, e.do("GET", base, alice, nil).expect(200).json()["applications"], "applications")
	if len(apps) != 2 {
		t.Fatalf("applications: %v", apps)
	}
	one := e.do("GET", base+"/"+clientID, alice, nil).expect(200).json()
	if one["client_id"] != clientID || one["client_secret"] != secret {
		t.Fatalf("get view: %v", one)
	}

	// Update keeps the secret; Quay requires name and both URIs.
	e.do("PUT", base+"/"+clientID, alice, map[string]any{"name": "ci2"}).expect(400)
	up := e.do("PUT", base+"/"+clientID, alice, map[string]any{"name": "ci2", "redirect_uri": "", "application_uri": "https://x.example.com"}).expect(200).json()
	if up["name"] != "ci2" || up["redirect_uri"] != "" || up["description"] != "" || up["client_secret"] != secret {
		t.Fatalf("update view: %v", up)
	}

	// Reset the secret.
	reset := e.do("POST", base+"/"+clientID+"/resetclientsecret", alice, nil).expect(200).json()
	if s, _ := reset["client_secret"].(string); len(s) != 40 || s == secret {
		t.Fatalf("reset view: %v", reset)
	}

	// Bad input and unknown things.
	e.do("POST", base, alice, map[string]any{}).expect(400)
	e.do("POST", base, alice, map[string]any{"name": ""}).expect(400)
	e.do("POST", base, alice, map[string]any{"name": "__quay_bootstrap_app"}).expect(400)
	e.do("POST", base, alice, nil).expect(400)
	e.do("GET", base+"/NOPE", alice, nil).expect(404)
	e.do("PUT", base+"/NOPE", alice, map[string]any{"name": "a", "redirect_uri": "", "application_uri": ""}).expect(404)
	e.do("POST", base+"/NOPE/resetclientsecret", alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/nope/applications", alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/alice/applications", alice, nil).expect(404)

	// Another organization's application is not reachable through acme.
	e.user("zed", false)
	fxOrg(t, e, "other", "zed")
	otherApp := e.do("POST", "/api/v1/organization/other/applications", e.tokenFor(fxUserID(t, e, "zed"), "org:admin"), map[string]any{"name": "x"}).expect(200).json()
	e.do("GET", base+"/"+otherApp["client_id"].(string), alice, nil).expect(404)
	e.do("DELETE", base+"/"+otherApp["client_id"].(string), alice, nil).expect(404)

	e.do("DELETE", base+"/"+clientID, alice, nil).expect(204)
	e.do("GET", base+"/"+clientID, alice, nil).expect(404)
	e.do("DELETE", base+"/"+clientID, alice, nil).expect(404)
}

func TestOrganizationApplicationsAccess(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	carol := e.user("carol", false)
	fxOrg(t, e, "acme", "alice")
	fxTeam(t, e, "acme", "devs", "creator", "bob")
	base := "/api/v1/organization/acme/applications"
	clientID := e.do("POST", base, alice, map[string]any{"name": "ci"}).expect(200).json()["client_id"].(string)

	for _, tok := range []string{bob, carol, e.tokenFor(fxUserID(t, e, "alice"), "repo:admin user:admin repo:read")} {
		e.do("GET", base, tok, nil).expect(403)
		e.do("POST", base, tok, map[string]any{"name": "x"}).expect(403)
		e.do("GET", base+"/"+clientID, tok, nil).expect(403)
		e.do("PUT", base+"/"+clientID, tok, map[string]any{"name": "a", "redirect_uri": "", "application_uri": ""}).expect(403)
		e.do("DELETE", base+"/"+clientID, tok, nil).expect(403)
		e.do("POST", base+"/"+clientID+"/resetclientsecret", tok, nil).expect(403)
		e.do("POST", base+"/"+clientID+"/tokens", tok, map[string]any{"scope": "repo:read"}).expect(403)
	}
	e.do("GET", base, "", nil).expect(401)
	e.do("POST", base+"/"+clientID+"/tokens", "", map[string]any{"scope": "repo:read"}).expect(401)
	e.do("GET", base, e.tokenFor(fxUserID(t, e, "alice"), "org:admin"), nil).expect(200)
}

func TestApplicationTokenMint(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	fxOrg(t, e, "acme", "alice")
	base := "/api/v1/organization/acme/applications"
	clientID := e.do("POST", base, alice, map[string]any{"name": "ci"}).expect(200).json()["client_id"].(string)
	mint := base + "/" + clientID + "/tokens"
	e.repo("alice/app", "private", alice)

	got := e.do("POST", mint, alice, map[string]any{"scope": "repo:read user:read", "name": "ci token"}).expect(200).json()
	tok, _ := got["access_token"].(string)
	if tok == "" || got["token_type"] != "Bearer" || got["scope"] != "repo:read user:read" || got["token"] != tok || got["name"] != "ci token" || got["created_by"] != "alice" {
		t.Fatalf("mint view: %v", got)
	}
	if exp, _ := got["expires_in"].(float64); exp != float64(oauthTokenMaxLifetime) {
		t.Fatalf("default lifetime: %v", got["expires_in"])
	}
	// The token acts as alice with exactly its scopes.
	me := e.do("GET", "/api/v1/user/", tok, nil).expect(200).json()
	if me["username"] != "alice" {
		t.Fatalf("user view: %v", me)
	}
	e.do("GET", "/api/v1/repository/alice/app", tok, nil).expect(200)
	e.do("POST", "/api/v1/repository", tok, map[string]any{"repository": "x", "visibility": "public"}).expect(403)
	e.do("PUT", "/api/v1/repository/alice/app", tok, map[string]any{"description": "x"}).expect(403)
	e.do("GET", base, tok, nil).expect(403)
	e.do("GET", "/api/v1/user/robots", tok, nil).expect(403)
	// A token without user:read cannot read the user.
	noUser := e.do("POST", mint, alice, map[string]any{"scope": "repo:read"}).expect(200).json()["access_token"].(string)
	e.do("GET", "/api/v1/user/", noUser, nil).expect(403)

	// Comma-separated scopes, explicit lifetime.
	got = e.do("POST", mint, alice, map[string]any{"scope": "repo:read,repo:write,repo:read", "expiration": 3600}).expect(200).json()
	if got["scope"] != "repo:read repo:write" || got["expires_in"] != float64(3600) {
		t.Fatalf("mint with expiration: %v", got)
	}
	e.do("PUT", "/api/v1/repository/alice/app", got["access_token"].(string), map[string]any{"description": "x"}).expect(200)

	// Invalid requests.
	for _, body := range []map[string]any{
		{}, {"scope": ""}, {"scope": "repo:foo"}, {"scope": "repo:read", "expiration": -1},
		{"scope": "repo:read", "expiration": "soon"}, {"scope": "repo:read", "expiration": true}, {"scope": "repo:read", "name": ""},
	} {
		e.do("POST", mint, alice, body).expect(400)
	}
	e.do("POST", base+"/NOPE/tokens", alice, map[string]any{"scope": "repo:read"}).expect(404)

	// Only scopes the caller holds can be granted.
	aliceID := fxUserID(t, e, "alice")
	limited := e.tokenFor(aliceID, "org:admin repo:read")
	e.do("POST", mint, limited, map[string]any{"scope": "repo:write"}).expect(403)
	e.do("POST", mint, limited, map[string]any{"scope": "repo:read user:read"}).expect(403)
	e.do("POST", mint, limited, map[string]any{"scope": "repo:read"}).expect(200)
	admin := e.tokenFor(aliceID, "org:admin repo:admin")
	e.do("POST", mint, admin, map[string]any{"scope": "repo:write repo:read"}).expect(200)
	e.do("POST", mint, alice, map[string]any{"scope": "super:user"}).expect(403)

	// Deleting the application revokes its tokens.
	e.do("DELETE", base+"/"+clientID, alice, nil).expect(204)
	e.do("GET", "/api/v1/user/", tok, nil).expect(401)
}

func TestApplicationTokenMintSuperuser(t *testing.T) {
	e := newTestEnv(t)
	root := e.user("root", true)
	fxOrg(t, e, "ops", "root")
	clientID := e.do("POST", "/api/v1/organization/ops/applications", root, map[string]any{"name": "admin"}).expect(200).json()["client_id"].(string)
	got := e.do("POST", "/api/v1/organization/ops/applications/"+clientID+"/tokens", root, map[string]any{"scope": "super:user"}).expect(200).json()
	if got["scope"] != "super:user" {
		t.Fatalf("mint view: %v", got)
	}
}
