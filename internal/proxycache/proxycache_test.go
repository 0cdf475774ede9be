package proxycache_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/store"
)

// A cold pull with crane fetches everything upstream once, creates the
// repository and stores the image; later pulls, by tag and by digest, are
// served locally, also with the upstream stopped, where an expired tag is
// served stale.
func TestColdAndWarmPull(t *testing.T) {
	testColdAndWarmPull(t, "")
}

// The same on PostgreSQL (one server, a database per test).
func TestProxyCachePostgres(t *testing.T) {
	newDSN := postgresServer(t)
	t.Run("ColdAndWarmPull", func(t *testing.T) { testColdAndWarmPull(t, newDSN(t, "coldwarm")) })
	t.Run("QuotaEviction", func(t *testing.T) { testQuotaEviction(t, newDSN(t, "eviction")) })
	t.Run("CrashAfterManifestStored", func(t *testing.T) { testCrashAfterManifestStored(t, newDSN(t, "crash")) })
	t.Run("UpstreamTagRemoved", func(t *testing.T) { testUpstreamTagRemoved(t, newDSN(t, "tagremoved")) })
}

func testColdAndWarmPull(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	ctx := t.Context()
	img := randomImage(t, 4096, 3)
	e.up.push(t, "library/alpine:3", img)
	want := digestOf(t, img)
	pushed := e.up.total("/blobs/")

	crane := requireTool(t, "crane")
	out := filepath.Join(t.TempDir(), "alpine.tar")
	if b, err := exec.CommandContext(ctx, crane, "pull", "--insecure", e.host+"/cache/library/alpine:3", out).CombinedOutput(); err != nil {
		t.Fatalf("crane pull: %v: %s", err, b)
	}
	got, err := exec.CommandContext(ctx, crane, "digest", "--insecure", e.host+"/cache/library/alpine:3").Output()
	if err != nil || strings.TrimSpace(string(got)) != want.String() {
		t.Fatalf("crane digest = %q, %v; want %s", got, err, want)
	}
	for _, d := range blobDigests(t, img) {
		if n := e.up.count("GET", "/v2/library/alpine/blobs/"+d); n != 1 {
			t.Errorf("upstream served blob %s %d times, want 1", d, n)
		}
		if _, err := e.blobs.Stat(ctx, digest.Digest(d)); err != nil {
			t.Errorf("blob %s not stored: %v", d, err)
		}
	}
	if n := e.up.count("GET", "/v2/library/alpine/manifests/3"); n != 1 {
		t.Errorf("upstream served the manifest %d times, want 1", n)
	}
	repo, err := e.db.Repository(ctx, "cache/library/alpine")
	if err != nil || repo.Visibility != "private" {
		t.Fatalf("repository created by the pull: %+v, %v", repo, err)
	}

	// Warm: nothing more upstream.
	before := e.up.total("/v2/library/")
	if d, err := e.pull("cache/library/alpine:3"); err != nil || d != want {
		t.Fatalf("warm pull: %s, %v", d, err)
	}
	if n := e.up.total("/v2/library/"); n != before {
		t.Fatalf("warm pull made %d upstream requests", n-before)
	}

	// Upstream stopped: fresh tag, digest, and (after expiration) stale tag.
	e.up.srv.Close()
	if d, err := e.pull("cache/library/alpine:3"); err != nil || d != want {
		t.Fatalf("pull with the upstream stopped: %s, %v", d, err)
	}
	if d, err := e.pull("cache/library/alpine@" + want.String()); err != nil || d != want {
		t.Fatalf("pull by digest with the upstream stopped: %s, %v", d, err)
	}
	e.clock.advance(expiration + time.Second)
	if d, err := e.pull("cache/library/alpine:3"); err != nil || d != want {
		t.Fatalf("stale pull with the upstream stopped: %s, %v", d, err)
	}
	// What was never cached cannot be served.
	_, err = remote.Image(e.ref("cache/library/busybox:1"), remote.WithContext(ctx), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	wantCode(t, err, "UNAVAILABLE")
	if pushed == 0 {
		t.Fatal("the upstream push made no blob requests")
	}
}

// A tag moved upstream is seen only after expiration_s, through one HEAD.
func TestTagRevalidation(t *testing.T) {
	e := newEnv(t, "")
	v1img, v2img := randomImage(t, 1024, 1), randomImage(t, 1024, 1)
	e.up.push(t, "library/app:latest", v1img)
	if d, err := e.pull("cache/library/app:latest"); err != nil || d != digestOf(t, v1img) {
		t.Fatalf("first pull: %s, %v", d, err)
	}
	e.up.push(t, "library/app:latest", v2img)
	heads := e.up.count("HEAD", "/v2/library/app/manifests/latest") // the pushes' own
	e.clock.advance(expiration - time.Minute)
	if d, err := e.pull("cache/library/app:latest"); err != nil || d != digestOf(t, v1img) {
		t.Fatalf("pull before expiration: %s, %v; want the cached %s", d, err, digestOf(t, v1img))
	}
	if n := e.up.count("HEAD", "/v2/library/app/manifests/latest") - heads; n != 0 {
		t.Fatalf("%d HEAD requests before expiration", n)
	}
	e.clock.advance(2 * time.Minute)
	if d, err := e.pull("cache/library/app:latest"); err != nil || d != digestOf(t, v2img) {
		t.Fatalf("pull after expiration: %s, %v; want the new %s", d, err, digestOf(t, v2img))
	}
	if n := e.up.count("HEAD", "/v2/library/app/manifests/latest") - heads; n != 1 {
		t.Fatalf("%d HEAD requests after expiration, want 1", n)
	}
	// Revalidated: fresh again, and an unchanged tag costs one HEAD only.
	if d, err := e.pull("cache/library/app:latest"); err != nil || d != digestOf(t, v2img) {
		t.Fatalf("pull after revalidation: %s, %v", d, err)
	}
	e.clock.advance(expiration + time.Second)
	gets := e.up.count("GET", "/v2/library/app/manifests/latest")
	if d, err := e.pull("cache/library/app:latest"); err != nil || d != digestOf(t, v2img) {
		t.Fatalf("pull of an unchanged tag: %s, %v", d, err)
	}
	if h, g := e.up.count("HEAD", "/v2/library/app/manifests/latest")-heads, e.up.count("GET", "/v2/library/app/manifests/latest"); h != 2 || g != gets {
		t.Fatalf("unchanged tag: %d HEAD (want 2), %d GET (want %d)", h, g, gets)
	}
	// The old image stays pullable by digest.
	if d, err := e.pull("cache/library/app@" + digestOf(t, v1img).String()); err != nil || d != digestOf(t, v1img) {
		t.Fatalf("old image by digest: %s, %v", d, err)
	}
}

// Twenty concurrent cold pulls of one image fetch each blob and the
// manifest upstream exactly once.
func TestConcurrentColdPulls(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 64<<10, 3)
	e.up.push(t, "library/busy:1", img)
	want := digestOf(t, img)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.pull("cache/library/busy:1")
			if err == nil && d != want {
				err = &mismatch{got: d.String(), want: want.String()}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range blobDigests(t, img) {
		if n := e.up.count("GET", "/v2/library/busy/blobs/"+d); n != 1 {
			t.Errorf("upstream served blob %s %d times, want 1", d, n)
		}
	}
	if n := e.up.count("GET", "/v2/library/busy/manifests/1"); n != 1 {
		t.Errorf("upstream served the manifest %d times, want 1", n)
	}
}

// Two replicas on one database, pulling the same cold image at the same
// time, fetch each item upstream once between them (the fetch lease).
func TestReplicasFetchOnce(t *testing.T) {
	e := newEnv(t, "")
	other := e.replica()
	img := randomImage(t, 64<<10, 3)
	e.up.push(t, "library/shared:1", img)
	want := digestOf(t, img)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		host := e.host
		if i%2 == 1 {
			host = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := e.pullFrom(host, "cache/library/shared:1")
			if err == nil && d != want {
				err = &mismatch{got: d.String(), want: want.String()}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range blobDigests(t, img) {
		if n := e.up.count("GET", "/v2/library/shared/blobs/"+d); n != 1 {
			t.Errorf("upstream served blob %s %d times, want 1", d, n)
		}
	}
	if n := e.up.count("GET", "/v2/library/shared/manifests/1"); n != 1 {
		t.Errorf("upstream served the manifest %d times, want 1", n)
	}
}

type mismatch struct{ got, want string }

func (m *mismatch) Error() string { return "pulled " + m.got + ", want " + m.want }

// A blob whose upstream bytes do not match its digest is not kept: the
// client's download fails, nothing is stored, and the next pull fetches it
// again.
func TestCorruptBlobDiscarded(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	img := randomImage(t, 8192, 1)
	e.up.push(t, "library/bad:1", img)
	layer := blobDigests(t, img)[1]
	e.up.corrupt.Store(layer)
	if _, err := e.pull("cache/library/bad:1"); err == nil {
		t.Fatal("pull of a corrupted layer succeeded")
	}
	if _, err := e.blobs.Stat(ctx, digest.Digest(layer)); err == nil {
		t.Fatal("the corrupted layer was stored")
	}
	if _, err := e.db.RepositoryBlob(ctx, "cache/library/bad", digest.Digest(layer)); err == nil {
		t.Fatal("the corrupted layer was linked")
	}
	e.up.corrupt.Store("")
	if d, err := e.pull("cache/library/bad:1"); err != nil || d != digestOf(t, img) {
		t.Fatalf("pull after the upstream recovered: %s, %v", d, err)
	}
	if n := e.up.count("GET", "/v2/library/bad/blobs/"+layer); n != 2 {
		t.Fatalf("upstream served the layer %d times, want 2", n)
	}
}

// When a fetch would exceed the organization's quota, the least recently
// pulled tags are evicted until it fits.
func TestQuotaEvictsLeastRecentlyPulled(t *testing.T) {
	testQuotaEviction(t, "")
}

func testQuotaEviction(t *testing.T, dsn string) {
	e := newEnv(t, dsn)
	ctx := t.Context()
	a, b, c := randomImage(t, 16<<10, 2), randomImage(t, 16<<10, 2), randomImage(t, 16<<10, 2)
	e.up.push(t, "library/a:1", a)
	e.up.push(t, "library/b:1", b)
	e.up.push(t, "library/c:1", c)
	limit := imageBytes(t, a) + imageBytes(t, b) + imageBytes(t, c)/2
	q, err := e.db.CreateQuota(ctx, "cache", limit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateQuotaLimit(ctx, "cache", q.ID, "Reject", 100); err != nil {
		t.Fatal(err)
	}
	pull := func(r string) {
		t.Helper()
		e.clock.advance(time.Second)
		if _, err := e.pull(r); err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
	}
	pull("cache/library/a:1")
	pull("cache/library/b:1")
	pull("cache/library/a:1") // a is now the most recently pulled
	pull("cache/library/c:1") // does not fit: b goes
	used, _, err := e.db.NamespaceUsage(ctx, "cache")
	if err != nil {
		t.Fatal(err)
	}
	if used > limit {
		t.Fatalf("usage %d over the limit %d", used, limit)
	}
	tags := func(repo string) []string {
		tt, err := e.db.Tags(ctx, repo, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	if len(tags("cache/library/b")) != 0 || len(tags("cache/library/a")) != 1 || len(tags("cache/library/c")) != 1 {
		t.Fatalf("tags after eviction: a %v, b %v, c %v", tags("cache/library/a"), tags("cache/library/b"), tags("cache/library/c"))
	}
	// The evicted image comes back from the upstream on its next pull
	// (evicting a, now the least recently pulled).
	pull("cache/library/b:1")
	if len(tags("cache/library/a")) != 0 || len(tags("cache/library/b")) != 1 {
		t.Fatalf("tags after pulling b again: a %v, b %v", tags("cache/library/a"), tags("cache/library/b"))
	}
	// An image larger than the whole quota is refused.
	huge := randomImage(t, limit, 1)
	e.up.push(t, "library/huge:1", huge)
	_, err = e.pull("cache/library/huge:1")
	wantCode(t, err, "DENIED")
}

// Namespaces without a configuration, and blobs no cached manifest
// references, never reach the upstream.
func TestNoUpstreamRequestsOutsideTheCache(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 1024, 1)
	e.up.push(t, "library/x:1", img)
	e.up.push(t, "other/x:1", img)
	before := e.up.total("/v2/")
	_, err := e.pull("other/x:1")
	wantCode(t, err, "NAME_UNKNOWN")
	layer := blobDigests(t, img)[1]
	l, err := remote.Layer(e.ref("cache/library/x:1").Context().Digest(layer), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err == nil {
		rc.Close()
		t.Fatal("a blob no cached manifest references was served")
	}
	wantCode(t, err, "BLOB_UNKNOWN")
	if n := e.up.total("/v2/"); n != before {
		t.Fatalf("%d upstream requests", n-before)
	}
}

// A HEAD of a blob not fetched yet answers from the manifest (size,
// digest) without reaching the upstream; the GET that follows fetches it.
func TestBlobHeadBeforeFetch(t *testing.T) {
	e := newEnv(t, "")
	img := randomImage(t, 4096, 1)
	e.up.push(t, "library/h:1", img)
	if _, err := remote.Get(e.ref("cache/library/h:1"), remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	layer := blobDigests(t, img)[1]
	url := e.srv.URL + "/v2/cache/library/h/blobs/" + layer
	resp, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m, _ := img.Manifest()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != m.Layers[0].Size || resp.Header.Get("Docker-Content-Digest") != layer {
		t.Fatalf("HEAD: %d, length %d, digest %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Docker-Content-Digest"))
	}
	if n := e.up.count("GET", "/v2/library/h/blobs/"+layer); n != 0 {
		t.Fatalf("HEAD fetched the blob upstream %d times", n)
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || int64(len(body)) != m.Layers[0].Size || digest.FromBytes(body).String() != layer {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	// Stored: a range request is served locally.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=0-9")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(body[:10]) {
		t.Fatalf("range: %d, %q", resp.StatusCode, part)
	}
	if n := e.up.count("GET", "/v2/library/h/blobs/"+layer); n != 1 {
		t.Fatalf("upstream served the blob %d times, want 1", n)
	}
}

// An insecure upstream is reached over TLS without verifying its
// certificate when it speaks TLS; a secure one must present a trusted one.
func TestInsecureTLSUpstream(t *testing.T) {
	e := newEnv(t, "")
	ctx := t.Context()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tlsSrv := httptest.NewTLSServer(reg)
	t.Cleanup(tlsSrv.Close)
	host := strings.TrimPrefix(tlsSrv.URL, "https://")
	img := randomImage(t, 1024, 1)
	r, err := name.ParseReference(host + "/library/t:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(tlsSrv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"tlsok", "tlsbad"} {
		if _, err := e.db.CreateOrganization(ctx, org, "", 1); err != nil {
			t.Fatal(err)
		}
		if err := e.db.CreateProxyCacheConfig(ctx, store.ProxyCacheConfig{Namespace: org, UpstreamRegistry: host,
			ExpirationS: 3600, Insecure: org == "tlsok"}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := e.pull("tlsok/library/t:1"); err != nil || d != digestOf(t, img) {
		t.Fatalf("pull through an insecure TLS upstream: %s, %v", d, err)
	}
	_, err = remote.Image(e.ref("tlsbad/library/t:1"), remote.WithContext(ctx), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	wantCode(t, err, "UNAVAILABLE")
}
