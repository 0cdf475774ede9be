package mirror

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/blob"
	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// env is a Wharf (SQLite store, filesystem blobs) with an organization
// acme, its robot acme+mirror (write on acme/mirrored) and the repository
// acme/mirrored in state MIRROR.
type env struct {
	db     *store.DB
	blobs  blob.Store
	box    *auth.Box
	syncer *Syncer
	repo   string
	dir    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blobfs.New(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	box, err := auth.NewBox("mirror-test-secret-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "owner@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", "", owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateRobot(ctx, "acme", "mirror", "unused", "", ""); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, blobs: blobs, box: box, repo: "acme/mirrored", dir: dir}
	e.syncer = &Syncer{Meta: db, Blobs: blobs, Box: box, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.mirrorRepo(t, e.repo)
	return e
}

// mirrorRepo creates a repository in state MIRROR that the robot may write.
func (e *env) mirrorRepo(t *testing.T, repo string) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.db.CreateRepository(ctx, store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetUserPermission(ctx, repo, "acme+mirror", core.RoleWrite); err != nil {
		t.Fatal(err)
	}
	st := core.RepoStateMirror
	if _, err := e.db.UpdateRepository(ctx, repo, store.RepositoryUpdate{State: &st}); err != nil {
		t.Fatal(err)
	}
}

// configure creates or replaces the mirror configuration of e.repo.
func (e *env) configure(t *testing.T, ref string, patterns []string, mod func(*store.MirrorConfig)) {
	t.Helper()
	ctx := t.Context()
	robot, err := e.db.User(ctx, "acme+mirror")
	if err != nil {
		t.Fatal(err)
	}
	c := store.MirrorConfig{IsEnabled: true, ExternalReference: ref, RobotID: robot.ID, SyncInterval: 3600,
		SyncStartDate: time.Now(), RuleValue: patterns, DeleteObsoleteTags: true, RegistryConfig: []byte(`{"verify_tls":true}`)}
	if mod != nil {
		mod(&c)
	}
	err = e.db.CreateMirror(ctx, e.repo, c)
	if core.IsCode(err, core.CodeConflict) {
		err = e.db.UpdateMirror(ctx, e.repo, c)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sync runs one sync of e.repo outside the job queue.
func (e *env) sync(t *testing.T) (Report, error) {
	t.Helper()
	m, err := e.db.Mirror(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	return e.syncer.Sync(t.Context(), m, "")
}

// seal seals a credential with the at-rest key, as the API stores it.
func (e *env) seal(t *testing.T, s string) string {
	t.Helper()
	sealed, err := e.box.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// runJob runs attempt of e.repo's sync job as the queue does; the first
// attempt asks for a sync now, which claims the mirror.
func (e *env) runJob(t *testing.T, attempt int) error {
	t.Helper()
	ctx := t.Context()
	if attempt == 1 {
		if err := e.db.MirrorSyncNow(ctx, e.repo, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	m, err := e.db.Mirror(ctx, e.repo)
	if err != nil {
		t.Fatal(err)
	}
	return e.syncer.Run(ctx, store.MirrorSyncArgs{RepositoryID: m.RepositoryID, Token: m.SyncToken}, attempt)
}

func (e *env) mustSync(t *testing.T) Report {
	t.Helper()
	rep, err := e.sync(t)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(rep.Failed) > 0 {
		t.Fatalf("sync: tags failed: %v", rep.Failed)
	}
	return rep
}

func (e *env) tags(t *testing.T) map[string]digest.Digest {
	t.Helper()
	tags, err := e.db.CurrentTags(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func (e *env) hasManifest(t *testing.T, d digest.Digest) bool {
	t.Helper()
	w := &Writer{Meta: e.db}
	ok, err := w.HasManifest(t.Context(), e.repo, d)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// upstream is go-containerregistry's in-memory registry behind a handler
// that counts requests and blob downloads and, once failAfter requests
// have been served, answers 503 (an outage).
type upstream struct {
	srv       *httptest.Server
	host      string
	requests  atomic.Int64
	blobGets  atomic.Int64
	failAfter atomic.Int64 // < 0: never
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.failAfter.Store(-1)
	reg := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := u.requests.Add(1)
		if fa := u.failAfter.Load(); fa >= 0 && n > fa {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			u.blobGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	u.host = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

// pushImage pushes a random image with layers layers to ref and returns its
// digest.
func pushImage(t *testing.T, ref string, layers int, opts ...remote.Option) (v1.Image, digest.Digest) {
	t.Helper()
	img, err := random.Image(512, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return img, digest.Digest(d.String())
}

// pushIndex pushes an index of one image per architecture.
func pushIndex(t *testing.T, ref string, archs []string, opts ...remote.Option) (digest.Digest, map[string]digest.Digest) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	children := map[string]digest.Digest{}
	for _, a := range archs {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		children[a] = digest.Digest(d.String())
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(d.String()), children
}

// pushSignature pushes a cosign-style signature artifact whose subject is
// the manifest subject of repo and returns its digest.
func pushSignature(t *testing.T, repo string, subject digest.Digest, opts ...remote.Option) digest.Digest {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r.Digest(subject.String()), opts...)
	if err != nil {
		t.Fatalf("head subject: %v", err)
	}
	sig := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	sig = mutate.ConfigMediaType(sig, "application/vnd.dev.cosign.artifact.sig.v1+json")
	sig, err = mutate.Append(sig, mutate.Addendum{
		Layer:       static.NewLayer([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject.String()+`"}}}`), "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQDtest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sig = mutate.Subject(sig, *desc).(v1.Image)
	d, err := sig.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Digest(d.String()), sig, opts...); err != nil {
		t.Fatalf("push signature: %v", err)
	}
	return digest.Digest(d.String())
}

// requireRegistryBinary returns the CNCF distribution registry binary, or
// skips (fails under WHARF_E2E_REQUIRE=1).
func requireRegistryBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("registry"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("WHARF_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, filepath.Join(wd, "..", "..", ".tools", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "registry")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
		t.Fatal("the distribution registry binary is not installed (run scripts/test.sh, which installs it)")
	}
	t.Skip("the distribution registry binary is not installed; scripts/test.sh installs it")
	return ""
}

// startDistribution runs the distribution registry on a free loopback port
// with htpasswd basic auth for user:password and returns its host:port.
func startDistribution(t *testing.T, user, password string) string {
	t.Helper()
	bin := requireRegistryBinary(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  secret: mirror-test-secret
auth:
  htpasswd:
    realm: test
    path: %q
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd"))
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", cfgPath)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case <-done:
			t.Fatalf("registry exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	return addr
}

func basicAuth(user, password string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: user, Password: password})
}
