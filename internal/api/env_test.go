package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/store"
)

// testEnv is an API server on a real SQLite database.
type testEnv struct {
	t     *testing.T
	db    *store.DB
	srv   *httptest.Server
	box   *auth.Box
	authz *auth.Authorizer
}

type envOption func(*auth.AccessPolicy, *auth.Policy, *Options)

func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, err := auth.NewBox("test-secret-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	ap := auth.AccessPolicy{AnonymousAccess: true}
	pol := auth.Policy{DirectLogin: true, AppTokens: true}
	o := Options{UserCreation: true, UserInitialize: true, DirectLogin: true, AppTokens: true}
	for _, f := range opts {
		f(&ap, &pol, &o)
	}
	authn := auth.NewAuthenticator(db, box, pol, time.Now)
	authz := auth.NewAuthorizer(db, ap)
	h := New(db, authn, authz, box, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, db: db, srv: srv, box: box, authz: authz}
}

// user creates a person (password "password-<name>") and returns an OAuth
// token with every scope for them.
func (e *testEnv) user(name string, superuser bool) string {
	e.t.Helper()
	hash, err := auth.HashPassword("password-" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.db.CreateUser(context.Background(), store.NewUser{Username: name, Email: name + "@example.com", PasswordHash: hash, Superuser: superuser})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.tokenFor(u.ID, strings.Join(auth.AllScopes, " "))
}

// tokenFor mints an OAuth token for a user id with the given scopes.
func (e *testEnv) tokenFor(userID int64, scope string) string {
	e.t.Helper()
	tok, prefix, secret := auth.NewSplitToken()
	if _, err := e.db.CreateOAuthToken(context.Background(), 0, userID, prefix, auth.HashSecret(secret), scope, time.Time{}); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// org creates an organization owned by the user with token owner.
func (e *testEnv) org(name, ownerToken string) {
	e.t.Helper()
	e.do("POST", "/api/v1/organization/", ownerToken, map[string]any{"name": name, "email": name + "@example.com"}).expect(201)
}

// repo creates a repository (ns/name) with the given visibility.
func (e *testEnv) repo(full, visibility, token string) {
	e.t.Helper()
	ns, name, _ := strings.Cut(full, "/")
	e.do("POST", "/api/v1/repository", token, map[string]any{"namespace": ns, "repository": name, "visibility": visibility, "description": ""}).expect(201)
}

// result is a response with its body read.
type result struct {
	t      *testing.T
	method string
	path   string
	status int
	body   []byte
	header http.Header
}

// do sends a JSON request with an optional bearer token.
func (e *testEnv) do(method, path, token string, body any) *result {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := &result{t: e.t, method: method, path: path, status: resp.StatusCode, body: b, header: resp.Header}
	// 503 read_only is Quay's answer to writes while read-only, not a failure.
	if resp.StatusCode >= 500 && !(resp.StatusCode == 503 && strings.Contains(string(b), `"error_type":"read_only"`)) {
		e.t.Fatalf("%s %s: server error %d: %s", method, path, resp.StatusCode, b)
	}
	if resp.StatusCode >= 400 {
		res.checkErrorShape()
	}
	return res
}

// expect fails the test unless the status is one of want.
func (r *result) expect(want ...int) *result {
	r.t.Helper()
	for _, w := range want {
		if r.status == w {
			return r
		}
	}
	r.t.Fatalf("%s %s: status %d, want %v; body: %s", r.method, r.path, r.status, want, r.body)
	return r
}

// json decodes the body.
func (r *result) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("%s %s: body is not a JSON object: %v: %s", r.method, r.path, err, r.body)
	}
	return m
}

// checkErrorShape asserts Quay's error body fields.
func (r *result) checkErrorShape() {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("%s %s: error body is not JSON: %s", r.method, r.path, r.body)
	}
	for _, k := range []string{"status", "error_message", "detail", "error_type", "title", "type"} {
		if _, ok := m[k]; !ok {
			r.t.Fatalf("%s %s: error body lacks %q: %s", r.method, r.path, k, r.body)
		}
	}
	if int(m["status"].(float64)) != r.status {
		r.t.Fatalf("%s %s: error body status %v != HTTP %d", r.method, r.path, m["status"], r.status)
	}
}
