package proxycache_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/proxycache"
	"github.com/wharfhq/wharf/internal/registry"
	"github.com/wharfhq/wharf/internal/store"
)

// clock is a settable clock shared by the store and the cache.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// upstream is an in-process OCI registry behind a proxy that counts
// requests per method and path, records the Accept headers of manifest
// requests, can corrupt one blob's bytes, can answer 503 to everything (an
// outage), and answers a client that does not accept manifest lists with
// the first manifest of a list (as the distribution registry does).
type upstream struct {
	srv     *httptest.Server
	host    string
	mu      sync.Mutex
	counts  map[string]int
	accepts []string
	corrupt atomic.Value // string: a blob digest whose body is altered
	down    atomic.Bool
	hold    atomic.Pointer[heldBlob]
}

// heldBlob makes the upstream send the first half of a blob, then wait
// until release is closed.
type heldBlob struct {
	digest  string
	release chan struct{}
}

// holdBlob holds the next downloads of blob d after their first half until
// the returned function is called.
func (u *upstream) holdBlob(t *testing.T, d string) func() {
	h := &heldBlob{digest: d, release: make(chan struct{})}
	u.hold.Store(h)
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	return release
}

// holdingWriter sends the first half of a body, flushes, and waits.
type holdingWriter struct {
	http.ResponseWriter
	h    *heldBlob
	sent int64
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	half, _ := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
	half /= 2
	n := 0
	if w.sent < half {
		k := min(int64(len(p)), half-w.sent)
		m, err := w.ResponseWriter.Write(p[:k])
		w.sent += int64(m)
		n += m
		if err != nil {
			return n, err
		}
		if w.sent < half {
			return n, nil
		}
		w.ResponseWriter.(http.Flusher).Flush()
		<-w.h.release
		p = p[k:]
	}
	m, err := w.ResponseWriter.Write(p)
	w.sent += int64(m)
	return n + m, err
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{counts: map[string]int{}}
	u.corrupt.Store("")
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.Method+" "+r.URL.Path]++
		if strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet {
			u.accepts = append(u.accepts, r.Header.Get("Accept"))
		}
		u.mu.Unlock()
		if u.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") && r.Header.Get("Accept") != "" &&
			!strings.Contains(r.Header.Get("Accept"), string(types.DockerManifestList)) {
			serveWithoutLists(w, r, reg)
			return
		}
		if h := u.hold.Load(); h != nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+h.digest) {
			reg.ServeHTTP(&holdingWriter{ResponseWriter: w, h: h}, r)
			return
		}
		if bad := u.corrupt.Load().(string); bad != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+bad) {
			reg.ServeHTTP(&corruptingWriter{ResponseWriter: w}, r)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	u.host = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

// serveWithoutLists answers a manifest request whose Accept header does not
// take manifest lists: a list is replaced by its first manifest.
func serveWithoutLists(w http.ResponseWriter, r *http.Request, reg http.Handler) {
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != string(types.DockerManifestList) {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var list v1.IndexManifest
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Manifests) == 0 {
		http.Error(w, "bad list", http.StatusInternalServerError)
		return
	}
	child := r.Clone(r.Context())
	child.URL.Path = r.URL.Path[:strings.LastIndex(r.URL.Path, "/")+1] + list.Manifests[0].Digest.String()
	reg.ServeHTTP(w, child)
}

func (u *upstream) manifestAccepts() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.accepts...)
}

// corruptingWriter flips the first byte of a body.
type corruptingWriter struct {
	http.ResponseWriter
	done bool
}

func (c *corruptingWriter) Write(p []byte) (int, error) {
	if !c.done && len(p) > 0 {
		c.done = true
		q := append([]byte(nil), p...)
		q[0] ^= 0xff
		return c.ResponseWriter.Write(q)
	}
	return c.ResponseWriter.Write(p)
}

func (u *upstream) count(method, path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[method+" "+path]
}

// total counts the requests whose path contains part.
func (u *upstream) total(part string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for k, v := range u.counts {
		if strings.Contains(k, part) {
			n += v
		}
	}
	return n
}

func (u *upstream) push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(u.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
}

// env is a Wharf registry (SQLite or PostgreSQL, fs blobs) with the cache,
// and the organization "cache" proxying the upstream.
type env struct {
	t     *testing.T
	db    *store.DB
	blobs blob.Store
	clock *clock
	up    *upstream
	srv   *httptest.Server
	host  string

	dbPath, blobDir string // SQLite only: what a second replica opens
}

const expiration = time.Hour

func newEnv(t *testing.T, dsn string) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, clock: newClock(), up: startUpstream(t)}
	var err error
	if dsn == "" {
		e.dbPath = filepath.Join(t.TempDir(), "wharf.db")
		e.db, err = store.OpenSQLite(ctx, e.dbPath, store.Options{Now: e.clock.now})
	} else {
		e.db, err = store.OpenPostgres(ctx, dsn, store.PostgresOptions{Options: store.Options{Now: e.clock.now}})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.blobDir = t.TempDir()
	if e.blobs, err = fs.New(e.blobDir); err != nil {
		t.Fatal(err)
	}
	e.srv = e.server(e.db, e.blobs)
	e.host = strings.TrimPrefix(e.srv.URL, "http://")
	u, err := e.db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateOrganization(ctx, "cache", "", u.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: "cache", UpstreamRegistry: e.up.host,
		ExpirationS: int64(expiration / time.Second)}); err != nil {
		t.Fatal(err)
	}
	return e
}

// server starts a registry on the environment's database whose cache uses
// meta and blobs (decorated in tests that inject failures).
func (e *env) server(meta proxycache.Metadata, blobs blob.Store) *httptest.Server {
	return e.serverWith(meta, blobs, proxycache.Options{})
}

// serverWith is server with cache options (the clock is the environment's).
func (e *env) serverWith(meta proxycache.Metadata, blobs blob.Store, opts proxycache.Options) *httptest.Server {
	e.t.Helper()
	box, err := auth.NewBox("test-secret-key-0123456789")
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Now = e.clock.now
	svc := proxycache.New(meta, blobs, box, log, opts)
	srv := httptest.NewServer(registry.New(e.db, e.blobs, log, registry.Options{Upstream: svc}))
	e.t.Cleanup(srv.Close)
	return srv
}

// replica starts a second registry with its own cache on the same database
// and blob directory (a second process of a scaled-out deployment) and
// returns its host.
func (e *env) replica() string {
	e.t.Helper()
	db, err := store.OpenSQLite(e.t.Context(), e.dbPath, store.Options{Now: e.clock.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	blobs, err := fs.New(e.blobDir)
	if err != nil {
		e.t.Fatal(err)
	}
	box, err := auth.NewBox("test-secret-key-0123456789")
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := proxycache.New(db, blobs, box, log, proxycache.Options{Now: e.clock.now})
	srv := httptest.NewServer(registry.New(db, blobs, log, registry.Options{Upstream: svc}))
	e.t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (e *env) ref(r string) name.Reference {
	e.t.Helper()
	ref, err := name.ParseReference(e.host + "/" + r)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// pull fetches an image through Wharf completely and returns its digest.
func (e *env) pull(r string) (v1.Hash, error) {
	return e.pullFrom(e.host, r)
}

// pullFrom pulls through the registry at host.
func (e *env) pullFrom(host, r string) (v1.Hash, error) {
	ref, err := name.ParseReference(host + "/" + r)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(ref, remote.WithContext(e.t.Context()))
	if err != nil {
		return v1.Hash{}, err
	}
	return fetchAll(img)
}

// fetchAll reads an image's config and layers (verifying their digests).
func fetchAll(img v1.Image) (v1.Hash, error) {
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

func randomImage(t *testing.T, size int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// blobDigests lists an image's config and layer digests.
func blobDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{m.Config.Digest.String()}
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// imageBytes is the storage an image's blobs take.
func imageBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// postgresServer starts PostgreSQL for a test (skips when it is not
// installed, fails under WHARF_E2E_REQUIRE=1) and returns a function that
// creates a database on it.
func postgresServer(t *testing.T) func(t *testing.T, name string) string {
	t.Helper()
	srv, err := pgtest.Start(t.Context(), pgtest.Options{})
	if errors.Is(err, pgtest.ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return func(t *testing.T, name string) string {
		t.Helper()
		dsn, err := srv.CreateDatabase(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return dsn
	}
}

// requireTool finds a client tool on PATH or in the repository's .tools/bin;
// a missing tool skips the test, or fails it under WHARF_E2E_REQUIRE=1.
func requireTool(t *testing.T, tool string) string {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	dirs := []string{os.Getenv("WHARF_TOOLS_BIN"), filepath.Join("..", "..", ".tools", "bin")}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, tool)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
		t.Fatalf("required tool %q is not installed (run scripts/test.sh, which installs it)", tool)
	}
	t.Skipf("tool %q not installed; scripts/test.sh installs it", tool)
	return ""
}

// wantCode checks a registry error's OCI code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if !strings.Contains(err.Error(), code) {
		t.Fatalf("error %v, want %s", err, code)
	}
}
