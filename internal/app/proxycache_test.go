package app

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// A proxy cache organization in front of the CNCF distribution registry
// (htpasswd): members pull through it with real clients; non-members and
// anonymous callers are refused before anything is fetched upstream; nobody
// pushes.
func TestProxyCacheOrganization(t *testing.T) {
	up := startUpstreamDistribution(t, "puller", "upstream-pw")
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	upRef, err := name.ParseReference(up.host + "/library/alpine:3")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(upRef, img, remote.WithAuth(&authn.Basic{Username: "puller", Password: "upstream-pw"})); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.ProxyCache = true })
	ctx := t.Context()
	for _, u := range []string{"bob", "carol"} {
		if _, err := s.app.CreateUser(ctx, u, u+"@example.com", lifecyclePassword, false); err != nil {
			t.Fatal(err)
		}
	}
	s.call("alice", "POST", "/api/v1/organization/", map[string]any{"name": "cache", "email": "cache@example.com"}, 201)
	s.call("alice", "PUT", "/api/v1/organization/cache/team/devs", map[string]any{"role": "member", "description": ""}, 200)
	s.call("alice", "PUT", "/api/v1/organization/cache/team/devs/members/bob", nil, 200)
	s.call("alice", "POST", "/api/v1/organization/cache/proxycache", map[string]any{"upstream_registry": up.host,
		"insecure": true, "upstream_registry_username": "puller", "upstream_registry_password": "upstream-pw"}, 201)
	as := func(user string) []remote.Option {
		return []remote.Option{remote.WithAuth(&authn.Basic{Username: user, Password: lifecyclePassword}), remote.WithContext(ctx),
			remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	}

	// Refused callers reach nothing upstream.
	_, err = remote.Image(s.ref("cache/library/alpine:3"), as("carol")...)
	wantRegistryError(t, err, http.StatusForbidden, "DENIED", "denied")
	_, err = remote.Image(s.ref("cache/library/alpine:3"), remote.WithContext(ctx), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	if err == nil {
		t.Fatal("anonymous pull through the cache succeeded")
	}
	if n := up.fetches(); n != 0 {
		t.Fatalf("refused pulls made %d upstream fetches", n)
	}

	// A member's cold pull with crane, then a warm one.
	crane := proxyTool(t, "crane")
	dockerCfg := t.TempDir()
	authCfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.host, base64.StdEncoding.EncodeToString([]byte("bob:"+lifecyclePassword)))
	if err := os.WriteFile(filepath.Join(dockerCfg, "config.json"), []byte(authCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, crane, "pull", "--insecure", s.host+"/cache/library/alpine:3", filepath.Join(t.TempDir(), "a.tar"))
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerCfg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crane pull: %v: %s", err, out)
	}
	cold := up.fetches()
	if cold == 0 {
		t.Fatal("the cold pull fetched nothing upstream")
	}
	imgGot, err := remote.Image(s.ref("cache/library/alpine:3"), as("bob")...)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := imgGot.Digest(); d != want {
		t.Fatalf("pulled %s, want %s", d, want)
	}
	if layers, _ := imgGot.Layers(); len(layers) > 0 {
		rc, err := layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if n := up.fetches(); n != cold {
		t.Fatalf("the warm pull made %d upstream fetches", n-cold)
	}
	// The cached repository is private: still refused to outsiders.
	_, err = remote.Image(s.ref("cache/library/alpine:3"), as("carol")...)
	wantRegistryError(t, err, http.StatusForbidden, "DENIED", "denied")

	// Pushes are refused, to the organization's admin too, with a clear error.
	other, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = remote.Write(s.ref("cache/library/alpine:mine"), other, as("alice")...)
	wantRegistryError(t, err, http.StatusForbidden, "DENIED", "proxy cache")
	for _, a := range s.tokenActions("cache/library/alpine") {
		if a == "push" {
			t.Fatal("a token for a proxy cache repository grants push")
		}
	}
	// Proxied pulls are in the audit log like other pulls, and so is the
	// configuration change.
	repo, err := s.app.db.Repository(ctx, "cache/library/alpine")
	if err != nil {
		t.Fatal(err)
	}
	s.app.pulls.Flush(ctx)
	pulls, _, err := s.app.db.AuditLogs(ctx, store.AuditFilter{RepositoryID: repo.ID, Kinds: []string{core.LogPullRepo}, Limit: 100,
		Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pulls) < 2 || pulls[0].PerformerName != "bob" {
		t.Fatalf("pull_repo entries for the proxied pulls: %+v", pulls)
	}
	ns, err := s.app.db.Namespace(ctx, "cache")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := s.app.db.AuditLogs(ctx, store.AuditFilter{NamespaceID: ns.ID, Kinds: []string{"create_proxy_cache_config"},
		Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil || len(entries) != 1 || entries[0].PerformerName != "alice" {
		t.Fatalf("create_proxy_cache_config entries: %+v, %v", entries, err)
	}

	// After the configuration is removed the organization is ordinary again.
	s.call("alice", "DELETE", "/api/v1/organization/cache/proxycache", nil, 201)
}

// countingUpstream is the distribution registry behind a proxy counting the
// manifest and blob requests that reach it.
type countingUpstream struct {
	host string
	mu   sync.Mutex
	n    int
}

func (u *countingUpstream) fetches() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func startUpstreamDistribution(t *testing.T, user, password string) *countingUpstream {
	t.Helper()
	bin := proxyTool(t, "registry")
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
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n"+
		"auth:\n  htpasswd:\n    realm: upstream\n    path: %s\n", filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd"))
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
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the distribution registry did not start on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	u := &countingUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/manifests/") || strings.Contains(r.URL.Path, "/blobs/sha256:")) {
			u.mu.Lock()
			u.n++
			u.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.host = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// proxyTool finds a client tool in the repository's .tools/bin or on PATH;
// a missing tool skips the test, or fails it under WHARF_E2E_REQUIRE=1.
func proxyTool(t *testing.T, tool string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("WHARF_TOOLS_BIN"), filepath.Join("..", "..", ".tools", "bin")} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(d, tool)); err == nil && !st.IsDir() {
			return filepath.Join(d, tool)
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

// An upstream that uses the bearer token flow (another Wharf: /v2/auth
// with Basic credentials), under a namespace prefix.
func TestProxyCacheBearerUpstream(t *testing.T) {
	upstream := startLifecycle(t, t.TempDir(), nil)
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.push("acme/tools/app:1", img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	s := startLifecycle(t, t.TempDir(), func(c *config.Config) { c.ProxyCache = true })
	s.call("alice", "POST", "/api/v1/organization/", map[string]any{"name": "hub", "email": "hub@example.com"}, 201)
	s.call("alice", "POST", "/api/v1/organization/hub/validateproxycache", map[string]any{"upstream_registry": upstream.host + "/acme",
		"upstream_registry_username": "alice", "upstream_registry_password": "wrong-password"}, 400)
	s.call("alice", "POST", "/api/v1/organization/hub/proxycache", map[string]any{"upstream_registry": upstream.host + "/acme",
		"upstream_registry_username": "alice", "upstream_registry_password": lifecyclePassword}, 201)
	if err := s.pull("hub/tools/app:1"); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(s.ref("hub/tools/app:1"), s.opts()...)
	if err != nil || got.Digest != want {
		t.Fatalf("proxied digest %v, %v; want %s", got, err, want)
	}
}

// PROXY_CACHE_UPSTREAM_ALLOWLIST refuses configurations of other upstreams;
// PROXY_CACHE_BLOCK_INTERNAL_UPSTREAMS keeps the cache (and the validation
// endpoint) off internal addresses unless allowlisted.
func TestProxyCacheUpstreamRestrictions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	internal := ln.Addr().String()

	s := startLifecycle(t, t.TempDir(), func(c *config.Config) {
		c.ProxyCache = true
		c.ProxyCacheUpstreamAllowlist = []string{"quay.io", "*.example.com"}
		c.ProxyCacheBlockInternalUpstreams = true
	})
	s.call("alice", "POST", "/api/v1/organization/", map[string]any{"name": "cache", "email": "cache@example.com"}, 201)
	s.call("alice", "POST", "/api/v1/organization/cache/proxycache", map[string]any{"upstream_registry": internal, "insecure": true}, 400)
	s.call("alice", "POST", "/api/v1/organization/cache/validateproxycache", map[string]any{"upstream_registry": internal, "insecure": true}, 400)
	s.call("alice", "POST", "/api/v1/organization/cache/proxycache", map[string]any{"upstream_registry": "mirror.example.com/library"}, 201)

	blocked := startLifecycle(t, t.TempDir(), func(c *config.Config) {
		c.ProxyCache = true
		c.ProxyCacheBlockInternalUpstreams = true
	})
	blocked.call("alice", "POST", "/api/v1/organization/", map[string]any{"name": "cache", "email": "cache@example.com"}, 201)
	blocked.call("alice", "POST", "/api/v1/organization/cache/validateproxycache", map[string]any{"upstream_registry": internal, "insecure": true}, 400)
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Fatalf("the internal upstream was reached %d times", hits)
	}
}
