package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/proxycache"
)

func withProxyCache(ap *auth.AccessPolicy, _ *auth.Policy, o *Options) {
	ap.ProxyCache = true
	// The API uses the cache only to check settings, not the stores.
	o.ProxyCache = proxycache.New(nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), proxycache.Options{})
}

func TestProxyCacheConfig(t *testing.T) {
	e := newTestEnv(t, withProxyCache)
	alice, bob, olga := e.user("alice", false), e.user("bob", false), e.user("olga", false)
	e.org("cache", alice)
	e.do("PUT", "/api/v1/organization/cache/team/devs", alice, map[string]any{"role": "member", "description": ""}).expect(200)
	e.do("PUT", "/api/v1/organization/cache/team/devs/members/bob", alice, nil).expect(200)
	base := "/api/v1/organization/cache/proxycache"
	valid := map[string]any{"upstream_registry": "docker.io/library"}

	// Organization admins only.
	e.do("GET", base, "", nil).expect(401)
	e.do("POST", base, "", valid).expect(401)
	e.do("GET", base, olga, nil).expect(403)
	e.do("GET", base, bob, nil).expect(403) // a member, not an admin
	e.do("POST", base, bob, valid).expect(403)
	e.do("DELETE", base, bob, nil).expect(403)
	e.do("POST", "/api/v1/organization/cache/validateproxycache", bob, valid).expect(403)
	e.do("GET", "/api/v1/organization/nobody/proxycache", alice, nil).expect(404)
	e.do("POST", "/api/v1/organization/alice/proxycache", alice, valid).expect(404) // a user namespace
	readOnly := e.tokenFor(e.userID("alice"), "repo:read user:read")
	e.do("POST", base, readOnly, valid).expect(403) // org:admin scope needed

	// No configuration: Quay's empty view.
	if got := e.do("GET", base, alice, nil).expect(200).json(); got["upstream_registry"] != "" || got["expiration_s"] != "" || got["insecure"] != "" {
		t.Fatalf("view without configuration: %v", got)
	}

	for _, bad := range []any{
		map[string]any{},
		map[string]any{"upstream_registry": ""},
		map[string]any{"upstream_registry": 5},
		map[string]any{"upstream_registry": "https://quay.io"},
		map[string]any{"upstream_registry": "quay.io/UPPER"},
		map[string]any{"upstream_registry": "quay.io:99999"},
		map[string]any{"upstream_registry": "quay.io", "expiration_s": "soon"},
		map[string]any{"upstream_registry": "quay.io", "expiration_s": 10},
		map[string]any{"upstream_registry": "quay.io", "expiration_s": -1},
		map[string]any{"upstream_registry": "quay.io", "insecure": "yes"},
		map[string]any{"upstream_registry": "quay.io", "upstream_registry_username": "u"},
		map[string]any{"upstream_registry": "quay.io", "upstream_registry_password": "p"},
		map[string]any{"upstream_registry": "quay.io", "upstream_registry_username": 1, "upstream_registry_password": "p"},
		[]any{"quay.io"},
	} {
		e.do("POST", base, alice, bad).expect(400)
	}
	e.rawPost(base, alice, "{not json").expect(400)

	body := map[string]any{"upstream_registry": "quay.io/someorg", "expiration_s": 3600, "insecure": false,
		"upstream_registry_username": "puller", "upstream_registry_password": "s3cret-upstream"}
	if got := e.do("POST", base, alice, body).expect(201); strings.TrimSpace(string(got.body)) != `"Created"` {
		t.Fatalf("create answered %s", got.body)
	}
	e.do("POST", base, alice, valid).expect(400) // one per organization
	got := e.do("GET", base, alice, nil).expect(200)
	if v := got.json(); v["upstream_registry"] != "quay.io/someorg" || v["expiration_s"] != float64(3600) || v["insecure"] != false || len(v) != 3 {
		t.Fatalf("view: %v", v)
	}
	if strings.Contains(string(got.body), "s3cret") {
		t.Fatalf("the password is returned: %s", got.body)
	}
	// Sealed at rest.
	stored, err := e.db.ProxyCacheConfig(context.Background(), "cache")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Username != "puller" || strings.Contains(stored.PasswordSealed, "s3cret") || !strings.HasPrefix(stored.PasswordSealed, "v1:") {
		t.Fatalf("stored configuration: %+v", stored)
	}
	if pass, err := e.box.Open(stored.PasswordSealed); err != nil || pass != "s3cret-upstream" {
		t.Fatalf("sealed password opens to %q, %v", pass, err)
	}

	if got := e.do("DELETE", base, alice, nil).expect(201); strings.TrimSpace(string(got.body)) != `"Deleted"` {
		t.Fatalf("delete answered %s", got.body)
	}
	e.do("DELETE", base, alice, nil).expect(404)
	// Without credentials, and the default expiration.
	e.do("POST", base, alice, map[string]any{"upstream_registry": "docker.io", "upstream_registry_username": nil,
		"upstream_registry_password": nil}).expect(201)
	if v := e.do("GET", base, alice, nil).expect(200).json(); v["expiration_s"] != float64(86400) {
		t.Fatalf("default expiration: %v", v)
	}
}

func TestProxyCacheDisabled(t *testing.T) {
	e := newTestEnv(t)
	alice := e.user("alice", false)
	e.org("cache", alice)
	e.do("GET", "/api/v1/organization/cache/proxycache", alice, nil).expect(404)
	e.do("POST", "/api/v1/organization/cache/proxycache", alice, map[string]any{"upstream_registry": "docker.io"}).expect(404)
	e.do("POST", "/api/v1/organization/cache/validateproxycache", alice, map[string]any{"upstream_registry": "docker.io"}).expect(404)
}

// validateproxycache logs in to a real registry (the CNCF distribution
// registry with htpasswd).
func TestValidateProxyCache(t *testing.T) {
	e := newTestEnv(t, withProxyCache)
	alice := e.user("alice", false)
	e.org("cache", alice)
	host := startDistribution(t, "puller", "right-password")
	path := "/api/v1/organization/cache/validateproxycache"

	good := map[string]any{"upstream_registry": host, "insecure": true,
		"upstream_registry_username": "puller", "upstream_registry_password": "right-password"}
	if got := e.do("POST", path, alice, good).expect(202); strings.TrimSpace(string(got.body)) != `"Valid"` {
		t.Fatalf("validate answered %s", got.body)
	}
	bad := map[string]any{"upstream_registry": host, "insecure": true,
		"upstream_registry_username": "puller", "upstream_registry_password": "wrong"}
	if got := e.do("POST", path, alice, bad).expect(400).json(); !strings.Contains(got["error_message"].(string), "Failed login to remote registry") {
		t.Fatalf("wrong password: %v", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if got := e.do("POST", path, alice, map[string]any{"upstream_registry": closed}).expect(400).json(); !strings.Contains(got["error_message"].(string), "Failed to validate") {
		t.Fatalf("unreachable upstream: %v", got)
	}
	e.do("POST", path, alice, map[string]any{"upstream_registry": "https://" + host}).expect(400)
	// Validation stores nothing.
	if v := e.do("GET", "/api/v1/organization/cache/proxycache", alice, nil).expect(200).json(); v["upstream_registry"] != "" {
		t.Fatalf("validation stored a configuration: %v", v)
	}
}

// rawPost sends a body as is.
func (e *testEnv) rawPost(path, token, body string) *result {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := &result{t: e.t, method: "POST", path: path, status: resp.StatusCode, body: b, header: resp.Header}
	if resp.StatusCode >= 400 {
		res.checkErrorShape()
	}
	return res
}

func (e *testEnv) userID(name string) int64 {
	e.t.Helper()
	u, err := e.db.User(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// startDistribution runs the CNCF distribution registry (.tools/bin/registry)
// with htpasswd authentication for one user, and returns its host:port.
func startDistribution(t *testing.T, user, password string) string {
	t.Helper()
	bin := findTool(t, "registry")
	dir := t.TempDir()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
auth:
  htpasswd:
    realm: upstream
    path: %s
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the distribution registry did not start on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findTool finds a tool on PATH or in the repository's .tools/bin; a missing
// tool skips the test, or fails it under WHARF_E2E_REQUIRE=1.
func findTool(t *testing.T, tool string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("WHARF_TOOLS_BIN"), filepath.Join("..", "..", ".tools", "bin")} {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, tool); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
		t.Fatalf("required tool %q is not installed (run scripts/test.sh, which installs it)", tool)
	}
	t.Skipf("tool %q not installed; scripts/test.sh installs it", tool)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Tags and repositories of a proxy cache organization follow the upstream:
// the API refuses tag writes and repository creation there (after the
// caller's role is checked), and allows them again once the organization
// is no proxy cache.
func TestProxyCacheRefusesWrites(t *testing.T) {
	e := newTestEnv(t, withProxyCache)
	alice, bob := e.user("alice", false), e.user("bob", false)
	e.org("cache", alice)
	e.repo("cache/app", "private", alice)
	one := e.pushImage("cache/app", "one", nil, "v1")
	two := e.pushImage("cache/app", "two", nil)
	e.do("POST", "/api/v1/organization/cache/proxycache", alice, map[string]any{"upstream_registry": "docker.io"}).expect(201)

	tag := "/api/v1/repository/cache/app/tag/"
	writes := []struct {
		method, path string
		body         any
	}{
		{"PUT", tag + "v2", map[string]any{"manifest_digest": string(one)}}, // create
		{"PUT", tag + "v1", map[string]any{"manifest_digest": string(two)}}, // move
		{"PUT", tag + "v1", map[string]any{"expiration": nil}},              // expiry
		{"DELETE", tag + "v1", nil},
		{"POST", tag + "v1/restore", map[string]any{"manifest_digest": string(one)}},
		{"POST", tag + "v1/expire", map[string]any{"manifest_digest": string(one), "is_alive": true}},
	}
	for _, w := range writes {
		e.do(w.method, w.path, "", w.body).expect(401)
		e.do(w.method, w.path, bob, w.body).expect(403) // no role: nothing said about the cache
		got := e.do(w.method, w.path, alice, w.body).expect(400).json()
		if msg, _ := got["error_message"].(string); !strings.Contains(msg, "proxy cache") {
			t.Fatalf("%s %s: %v", w.method, w.path, got)
		}
	}
	newRepo := map[string]any{"namespace": "cache", "repository": "made", "visibility": "private", "description": ""}
	e.do("POST", "/api/v1/repository", bob, newRepo).expect(403)
	e.do("POST", "/api/v1/repository", alice, newRepo).expect(400)
	if _, err := e.db.Repository(context.Background(), "cache/made"); err == nil {
		t.Fatal("a repository was created in the proxy cache organization")
	}
	if got := e.tags("cache/app", alice, "onlyActiveTags=true"); len(got) != 1 || got[0]["name"] != "v1" || got[0]["manifest_digest"] != string(one) {
		t.Fatalf("tags after refused writes: %v", got)
	}

	// No longer a proxy cache: the same writes work.
	e.do("DELETE", "/api/v1/organization/cache/proxycache", alice, nil).expect(201)
	e.do("PUT", tag+"v1", alice, map[string]any{"manifest_digest": string(two)}).expect(201)
	e.do("POST", "/api/v1/repository", alice, newRepo).expect(201)
}
