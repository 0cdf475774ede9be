package api

import (
	"context"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
)

func TestAppTokenLifecycle(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	ctx := context.Background()
	authn := fxAuthn(e)

	got := fxMap(t, e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{"title": "laptop"}).expect(200).json()["token"], "token")
	code, _ := got["token_code"].(string)
	uuid, _ := got["uuid"].(string)
	if len(code) != auth.TokenPrefixLen+auth.TokenSecretLen || uuid == "" || got["title"] != "laptop" || got["expiration"] != nil || got["last_accessed"] != nil || got["created"] == nil {
		t.Fatalf("create view: %v", got)
	}

	// Only a hash of the secret is stored.
	prefix, secret, _ := auth.SplitToken(code)
	stored, err := e.db.AppTokenByPrefix(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretHash != auth.HashSecret(secret) || stored.SecretHash == secret {
		t.Fatalf("stored secret: %+v", stored)
	}

	// The token is a password for "$app".
	id, err := authn.Basic(ctx, "$app", code)
	if err != nil || id.User.Username != "alice" || id.Method != auth.MethodAppToken {
		t.Fatalf("$app login: %+v %v", id, err)
	}
	wrong := code[:len(code)-1] + "x"
	if code[len(code)-1] == 'x' {
		wrong = code[:len(code)-1] + "y"
	}
	if _, err := authn.Basic(ctx, "$app", wrong); err == nil {
		t.Fatal("a wrong secret logs in")
	}

	// Lists and reads never show the secret again.
	list := e.do("GET", "/api/v1/user/apptoken", alice, nil).expect(200).json()
	tokens := fxList(t, list["tokens"], "tokens")
	if len(tokens) != 1 || list["only_expiring"] != nil {
		t.Fatalf("list: %v", list)
	}
	if m := fxMap(t, tokens[0], "token"); m["uuid"] != uuid || m["title"] != "laptop" {
		t.Fatalf("list entry: %v", m)
	} else if _, ok := m["token_code"]; ok {
		t.Fatalf("list shows the secret: %v", m)
	}
	one := fxMap(t, e.do("GET", "/api/v1/user/apptoken/"+uuid, alice, nil).expect(200).json()["token"], "token")
	if _, ok := one["token_code"]; ok || one["uuid"] != uuid {
		t.Fatalf("get view: %v", one)
	}

	// Other users cannot see or revoke it.
	if l := fxList(t, e.do("GET", "/api/v1/user/apptoken", bob, nil).expect(200).json()["tokens"], "tokens"); len(l) != 0 {
		t.Fatalf("bob sees tokens: %v", l)
	}
	e.do("GET", "/api/v1/user/apptoken/"+uuid, bob, nil).expect(404)
	e.do("DELETE", "/api/v1/user/apptoken/"+uuid, bob, nil).expect(404)

	// Revocation ends $app logins.
	e.do("DELETE", "/api/v1/user/apptoken/"+uuid, alice, nil).expect(204)
	if _, err := authn.Basic(ctx, "$app", code); err == nil {
		t.Fatal("revoked app token still logs in")
	}
	e.do("GET", "/api/v1/user/apptoken/"+uuid, alice, nil).expect(404)
	e.do("DELETE", "/api/v1/user/apptoken/"+uuid, alice, nil).expect(404)
}

func TestAppTokenAccess(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	e.do("GET", "/api/v1/user/apptoken", "", nil).expect(401)
	e.do("POST", "/api/v1/user/apptoken", "", map[string]any{"title": "x"}).expect(401)
	ro := e.tokenFor(fxUserID(t, e, "alice"), "user:read repo:read")
	e.do("GET", "/api/v1/user/apptoken", ro, nil).expect(403)
	e.do("POST", "/api/v1/user/apptoken", ro, map[string]any{"title": "x"}).expect(403)
	e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{}).expect(400)
	e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{"title": 5}).expect(400)
	e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{"title": " "}).expect(400)
	e.do("POST", "/api/v1/user/apptoken", alice, nil).expect(400)
	e.do("GET", "/api/v1/user/apptoken/nope", alice, nil).expect(404)
	e.do("POST", "/api/v1/user/apptoken", e.tokenFor(fxUserID(t, e, "alice"), "user:admin"), map[string]any{"title": "x"}).expect(200)
}

func TestAppTokenExpiration(t *testing.T) {
	e := newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.AppTokenExpiration = time.Hour })
	alice := e.user("alice", false)
	before := time.Now()
	got := fxMap(t, e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{"title": "ci"}).expect(200).json()["token"], "token")
	exp, err := time.Parse("Mon, 02 Jan 2006 15:04:05 -0700", got["expiration"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiration %v is not an hour away", exp)
	}
	// The token expires in an hour, outside the "expiring soon" window (10%).
	list := e.do("GET", "/api/v1/user/apptoken?expiring=true", alice, nil).expect(200).json()
	if list["only_expiring"] != true || len(fxList(t, list["tokens"], "tokens")) != 0 {
		t.Fatalf("expiring list: %v", list)
	}
	if l := fxList(t, e.do("GET", "/api/v1/user/apptoken?expiring=false", alice, nil).expect(200).json()["tokens"], "tokens"); len(l) != 1 {
		t.Fatalf("list: %v", l)
	}
}

func TestAppTokensDisabled(t *testing.T) {
	e := newTestEnv(t, func(_ *auth.AccessPolicy, _ *auth.Policy, o *Options) { o.AppTokens = false })
	alice := e.user("alice", false)
	e.do("GET", "/api/v1/user/apptoken", alice, nil).expect(404)
	e.do("POST", "/api/v1/user/apptoken", alice, map[string]any{"title": "x"}).expect(404)
	e.do("GET", "/api/v1/user/apptoken/x", alice, nil).expect(404)
	e.do("DELETE", "/api/v1/user/apptoken/x", alice, nil).expect(404)
}
