package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/oidctest"
)

// fedList decodes a federation configuration answer.
func fedList(t *testing.T, r *result) []map[string]string {
	t.Helper()
	var out []map[string]string
	if err := json.Unmarshal(r.body, &out); err != nil || out == nil {
		t.Fatalf("%s %s: not a JSON array: %v: %s", r.method, r.path, err, r.body)
	}
	return out
}

func TestRobotFederationConfig(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	carol := e.user("carol", false)
	fxOrg(t, e, "acme", "alice")
	fxTeam(t, e, "acme", "devs", "member", "bob")
	e.do("PUT", "/api/v1/organization/acme/robots/ci", alice, nil).expect(201)
	const path = "/api/v1/organization/acme/robots/ci/federation"

	if got := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(got) != 0 {
		t.Fatalf("new robot federation: %v", got)
	}
	cfg := []map[string]string{
		{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/app:ref:refs/heads/main"},
		{"issuer": "https://kubernetes.example.com", "subject": "system:serviceaccount:ci:builder", "audience": "wharf"},
	}
	got := fedList(t, e.do("POST", path, alice, cfg).expect(200))
	if len(got) != 2 || got[0]["issuer"] != cfg[0]["issuer"] || got[0]["subject"] != cfg[0]["subject"] ||
		got[1]["audience"] != "wharf" {
		t.Fatalf("POST answer: %v", got)
	}
	if _, ok := got[0]["audience"]; ok {
		t.Fatalf("an entry without audience shows one: %v", got[0])
	}
	if again := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(again) != 2 || again[1]["subject"] != cfg[1]["subject"] {
		t.Fatalf("GET after POST: %v", again)
	}

	// Only organization admins, with the org:admin scope.
	for _, m := range []string{"GET", "POST", "DELETE"} {
		e.do(m, path, bob, cfg).expect(403)
		e.do(m, path, carol, cfg).expect(403)
		e.do(m, path, "", cfg).expect(401)
		e.do(m, path, e.tokenFor(fxUserID(t, e, "alice"), "repo:admin user:admin"), cfg).expect(403)
	}
	e.do("GET", "/api/v1/organization/acme/robots/nope/federation", alice, nil).expect(404)
	e.do("GET", "/api/v1/organization/nope/robots/ci/federation", alice, nil).expect(404)
	e.do("PUT", path, alice, cfg).expect(405)

	// Validation; a refused POST keeps the configuration.
	for name, body := range map[string]any{
		"object":          map[string]string{"issuer": "https://a.example.com", "subject": "s"},
		"missing subject": []map[string]string{{"issuer": "https://a.example.com"}},
		"missing issuer":  []map[string]string{{"subject": "s"}},
		"null entry":      []any{nil},
		"not a URL":       []map[string]string{{"issuer": "accounts.example.com", "subject": "s"}},
		"ftp URL":         []map[string]string{{"issuer": "ftp://a.example.com", "subject": "s"}},
		"no host":         []map[string]string{{"issuer": "https://", "subject": "s"}},
		"issuer number":   []map[string]any{{"issuer": 5, "subject": "s"}},
		"duplicate": []map[string]string{
			{"issuer": "https://a.example.com", "subject": "s"}, {"issuer": "https://a.example.com", "subject": "s", "audience": "x"},
		},
		"long subject": []map[string]string{{"issuer": "https://a.example.com", "subject": strings.Repeat("s", 2000)}},
	} {
		res := e.do("POST", path, alice, body)
		if res.status != 400 {
			t.Fatalf("%s: status %d: %s", name, res.status, res.body)
		}
	}
	if res := e.do("POST", path, alice, []map[string]string{{"issuer": "https://a.example.com", "subject": "s"}, {"issuer": "https://a.example.com", "subject": "s"}}); !strings.Contains(string(res.body), "Duplicate federation config entry") {
		t.Fatalf("duplicate message: %s", res.body)
	}
	if again := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(again) != 2 {
		t.Fatalf("a refused POST changed the configuration: %v", again)
	}
	// The same subject under two issuers is fine; http issuers may be
	// configured (the exchange refuses them unless allowed).
	e.do("POST", path, alice, []map[string]string{
		{"issuer": "https://a.example.com", "subject": "s"}, {"issuer": "http://b.example.com", "subject": "s"},
	}).expect(200)

	e.do("DELETE", path, alice, nil).expect(204)
	if got := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(got) != 0 {
		t.Fatalf("after DELETE: %v", got)
	}
	e.do("POST", path, alice, []any{}).expect(200)
}

func TestUserRobotFederationConfig(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	e.do("PUT", "/api/v1/user/robots/mine", alice, nil).expect(201)
	const path = "/api/v1/user/robots/mine/federation"
	cfg := []map[string]string{{"issuer": "https://gitlab.example.com", "subject": "project_path:alice/app:ref_type:branch:ref:main"}}
	if got := fedList(t, e.do("POST", path, alice, cfg).expect(200)); len(got) != 1 || got[0]["subject"] != cfg[0]["subject"] {
		t.Fatalf("POST: %v", got)
	}
	if got := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(got) != 1 {
		t.Fatalf("GET: %v", got)
	}
	// Bob's namespace has no robot "mine"; alice's robot is out of his reach.
	e.do("GET", path, bob, nil).expect(404)
	e.do("DELETE", path, bob, nil).expect(404)
	e.do("GET", path, e.tokenFor(fxUserID(t, e, "alice"), "repo:read"), nil).expect(403)
	e.do("GET", path, "", nil).expect(401)
	e.do("DELETE", path, alice, nil).expect(204)
	if got := fedList(t, e.do("GET", path, alice, nil).expect(200)); len(got) != 0 {
		t.Fatalf("after DELETE: %v", got)
	}
}

// exchangeEnv serves the exchange endpoint over the test database, trusting
// a TLS issuer.
type exchangeEnv struct {
	*testEnv
	iss  *oidctest.Issuer
	keys *auth.Keys
	srv  *httptest.Server
	logs *bytes.Buffer
}

func newExchangeEnv(t *testing.T, hostname string) *exchangeEnv {
	t.Helper()
	e := &exchangeEnv{testEnv: newTestEnv(t), iss: oidctest.New(t), logs: &bytes.Buffer{}}
	e.keys = auth.NewKeys(e.db, e.box, time.Now, 0)
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	fed, err := auth.NewFederation(e.db, e.keys, auth.FederationOptions{CAFile: e.iss.WriteCAFile(t)}, log, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(NewFederationTokenHandler(fed, log, hostname))
	t.Cleanup(e.srv.Close)
	alice := e.user("alice", false)
	fxOrg(t, e.testEnv, "acme", "alice")
	e.do("PUT", "/api/v1/organization/acme/robots/ci", alice, nil).expect(201)
	e.do("POST", "/api/v1/organization/acme/robots/ci/federation", alice, []map[string]string{
		{"issuer": e.iss.URL(), "subject": "repo:acme/app"},
	}).expect(200)
	return e
}

// exchange calls the endpoint; user "" sends no credentials.
func (e *exchangeEnv) exchange(t *testing.T, method, user, token string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+"/oauth2/federation/robot/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", resp.Header)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not a JSON object of strings: %s", b)
	}
	return resp.StatusCode, m
}

func TestFederationTokenEndpoint(t *testing.T) {
	e := newExchangeEnv(t, "")
	ext := e.iss.Token(t, oidctest.Claims{"sub": "repo:acme/app"})
	for _, m := range []string{"GET", "POST"} {
		status, body := e.exchange(t, m, "acme+ci", ext)
		if status != 200 || body["token"] == "" || len(body) != 1 {
			t.Fatalf("%s: %d %v", m, status, body)
		}
		// Without SERVER_HOSTNAME the audience is the request's host.
		parsed, err := jwt.ParseSigned(body["token"], []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.Claims
		if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
			t.Fatal(err)
		}
		host := strings.TrimPrefix(e.srv.URL, "http://")
		if c.Subject != "acme+ci" || !c.Audience.Contains(host) || c.Expiry.Time().Sub(c.IssuedAt.Time()) != time.Hour {
			t.Fatalf("claims: %+v", c)
		}
		// The token is the robot's password.
		authn := auth.NewAuthenticator(e.db, e.box, auth.Policy{}, time.Now, auth.WithFederatedTokens(e.keys, host))
		if id, err := authn.Basic(context.Background(), "acme+ci", body["token"]); err != nil || id.Method != auth.MethodFederated {
			t.Fatalf("login with the exchanged token: %+v %v", id, err)
		}
	}

	// Every failure is a 401 with a message.
	for name, c := range map[string]struct{ user, token, want string }{
		"no credentials": {"", "", "missing auth"},
		"wrong subject":  {"acme+ci", e.iss.Token(t, oidctest.Claims{"sub": "repo:acme/evil"}), "subject"},
		"unknown robot":  {"acme+ghost", ext, "does not exist"},
		"expired":        {"acme+ci", e.iss.Token(t, oidctest.Claims{"sub": "repo:acme/app", "iat": time.Now().Add(-time.Hour), "exp": time.Now().Add(-time.Minute)}), "expired"},
		"alg none":       {"acme+ci", e.iss.UnsignedToken(t, oidctest.Claims{"sub": "repo:acme/app"}), "algorithm"},
		"huge token":     {"acme+ci", strings.Repeat("a", 20000), "too large"},
		"static token":   {"acme+ci", "0123456789abcdef", "malformed"},
	} {
		status, body := e.exchange(t, "GET", c.user, c.token)
		if status != 401 || !strings.Contains(body["error"], c.want) || len(body) != 1 {
			t.Errorf("%s: %d %v, want 401 with %q", name, status, body, c.want)
		}
	}
	status, body := e.exchange(t, "PUT", "acme+ci", ext)
	if status != 405 || body["error"] == "" {
		t.Fatalf("PUT: %d %v", status, body)
	}

	// Refusals are logged with their reason, never with the token.
	logs := e.logs.String()
	if !strings.Contains(logs, "federated robot token exchange refused") || !strings.Contains(logs, "federated_robot_token_exchange") {
		t.Fatalf("log lacks the exchange records:\n%s", logs)
	}
	if strings.Contains(logs, ext) || strings.Contains(logs, strings.Split(ext, ".")[2]) {
		t.Fatal("the log contains an external token")
	}
}

func TestFederationTokenEndpointHostname(t *testing.T) {
	e := newExchangeEnv(t, "registry.example.com")
	status, body := e.exchange(t, "GET", "acme+ci", e.iss.Token(t, oidctest.Claims{"sub": "repo:acme/app"}))
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	parsed, err := jwt.ParseSigned(body["token"], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	if !c.Audience.Contains("registry.example.com") || len(c.Audience) != 1 {
		t.Fatalf("audience %v, want SERVER_HOSTNAME", c.Audience)
	}
}
