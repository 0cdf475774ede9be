package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob"
	blobfs "github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// countingBlobs is a blob store that counts Open calls per digest.
type countingBlobs struct {
	blob.Store
	mu    sync.Mutex
	opens map[digest.Digest]int
}

func (c *countingBlobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, blob.Info, error) {
	c.mu.Lock()
	c.opens[d]++
	c.mu.Unlock()
	return c.Store.Open(ctx, d)
}

func (c *countingBlobs) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.opens {
		n += v
	}
	return n
}

type env struct {
	t     *testing.T
	db    *store.DB
	blobs *countingBlobs
	svc   *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fsb, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingBlobs{Store: fsb, opens: map[digest.Digest]int{}}
	svc, err := New(db, cb, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, blobs: cb, svc: svc}
}

// blob stores content in the repository and returns its descriptor.
func (e *env) blob(repo, mediaType string, content []byte) oci.Descriptor {
	e.t.Helper()
	ctx := context.Background()
	d := digest.FromBytes(content)
	id := "upload-" + d.Encoded()[:20]
	if err := e.blobs.StartUpload(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.blobs.Append(ctx, id, 0, bytes.NewReader(content), 0); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.blobs.Commit(ctx, id, d); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CommitBlob(ctx, repo, d, int64(len(content)), ""); err != nil {
		e.t.Fatal(err)
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// manifest stores an image manifest of the layers and returns its digest.
func (e *env) manifest(repo string, layers ...oci.Descriptor) digest.Digest {
	e.t.Helper()
	cfg := e.blob(repo, "application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	body, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIManifest, "config": cfg, "layers": layers})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(repo, oci.MediaTypeOCIManifest, body, append([]oci.Descriptor{cfg}, layers...))
}

func (e *env) put(repo, mediaType string, body []byte, blobs []oci.Descriptor) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(body)
	pm := store.PutManifest{Repository: repo, Digest: d, MediaType: mediaType, Content: body}
	for _, b := range blobs {
		pm.Blobs = append(pm.Blobs, b.Digest)
	}
	if err := e.db.PutManifest(context.Background(), pm); err != nil {
		e.t.Fatal(err)
	}
	return d
}

const gzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip"

func TestScanStatuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := e.blob("acme/app", gzipLayer, debianBase(t, "gzip"))
	npm := e.blob("acme/app", "application/vnd.oci.image.layer.v1.tar+zstd", tarLayer(t, "zstd", dirEntries(t, "testdata/npm-vulnerable", "app/")...))
	img := e.manifest("acme/app", base, npm)

	r, err := e.svc.ScanManifest(ctx, "acme/app", img)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != core.ScanScanned || r.DistroName != "Debian GNU/Linux" || r.DistroVersion != "12" || len(r.Packages) != 92 {
		t.Fatalf("status %s distro %q %q, %d packages", r.Status, r.DistroName, r.DistroVersion, len(r.Packages))
	}
	if e.blobs.opens[base.Digest] != 1 || e.blobs.opens[npm.Digest] != 1 {
		t.Fatalf("opens %v", e.blobs.opens)
	}
	// Another image on the same base: the base layer's index is reused.
	other := e.manifest("acme/other", e.blob("acme/other", gzipLayer, debianBase(t, "gzip")),
		e.blob("acme/other", gzipLayer, tarLayer(t, "gzip", entry{name: "var/lib/dpkg/status", body: dpkgStatus(t, "tar")})))
	r, err = e.svc.ScanManifest(ctx, "acme/other", other)
	if err != nil || r.Status != core.ScanScanned || len(r.Packages) != 87 {
		t.Fatalf("%v %s %d", err, r.Status, len(r.Packages))
	}
	if e.blobs.opens[base.Digest] != 1 {
		t.Fatalf("base layer read %d times", e.blobs.opens[base.Digest])
	}

	// Rescans read no blob.
	before := e.blobs.total()
	if n, err := e.svc.RescanAll(ctx); err != nil || n != 2 {
		t.Fatalf("rescan: %d %v", n, err)
	}
	if e.blobs.total() != before {
		t.Fatalf("rescan read blobs: %v", e.blobs.opens)
	}

	// A layer that is not a tar fails the scan.
	bad := e.manifest("acme/app", e.blob("acme/app", gzipLayer, []byte("\x1f\x8bnot gzip at all")))
	if _, err := e.svc.ScanManifest(ctx, "acme/app", bad); err == nil {
		t.Fatal("corrupt layer scanned")
	}
	if r, _ := e.svc.Report(ctx, bad); r.Status != core.ScanFailed || !strings.Contains(r.Error, "gzip") {
		t.Fatalf("corrupt layer: %+v", r)
	}

	// Indexes and artifacts are unsupported.
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeOCIIndex,
		"manifests": []any{map[string]any{"mediaType": oci.MediaTypeOCIManifest, "digest": img, "size": 10}}})
	idx := e.put("acme/app", oci.MediaTypeOCIIndex, index, nil)
	chart := e.manifest("acme/app", e.blob("acme/app", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", []byte("chart")))
	for _, d := range []digest.Digest{idx, chart} {
		r, err := e.svc.ScanManifest(ctx, "acme/app", d)
		if err != nil || r.Status != core.ScanUnsupported {
			t.Fatalf("%s: %+v %v", d, r, err)
		}
	}
	// Never scanned: queued.
	if r, err := e.svc.Report(ctx, digest.FromString("x")); err != nil || r.Status != core.ScanQueued {
		t.Fatalf("%+v %v", r, err)
	}
}

// A scan job records the outcome; a manifest still queued after its job
// was lost (left by a previous process) is queued again by Requeue, and
// only once it has waited for olderThan.
func TestWorkAndRequeue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.manifest("acme/app", e.blob("acme/app", gzipLayer, debianBase(t, "gzip")))
	b := e.manifest("acme/app", e.blob("acme/app", gzipLayer, tarLayer(t, "gzip", dirEntries(t, "testdata/npm-fixed", "app/")...)))
	if err := e.db.QueueManifestScan(ctx, b, "acme/app"); err != nil { // left by a previous process
		t.Fatal(err)
	}
	if err := e.svc.Enqueue(ctx, "acme/app", a); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Work(ctx, "acme/app", a); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Report(ctx, a); err != nil || r.Status != core.ScanScanned {
		t.Fatalf("%s: %+v %v", a, r.Status, err)
	}
	if n, err := e.svc.Requeue(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("requeue of recent scans: %d %v", n, err)
	}
	if n, err := e.svc.Requeue(ctx, 0); err != nil || n != 1 {
		t.Fatalf("requeue: %d %v", n, err)
	}
	if r, err := e.svc.Report(ctx, b); err != nil || r.Status != core.ScanQueued {
		t.Fatalf("%s: %+v %v", b, r.Status, err)
	}
	if err := e.svc.Work(ctx, "acme/app", b); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Report(ctx, b); err != nil || r.Status != core.ScanScanned {
		t.Fatalf("%s: %+v %v", b, r.Status, err)
	}
	// A manifest deleted since it was queued settles as failed: the job
	// is done, not retried.
	gone := digest.FromString("gone")
	if err := e.svc.Enqueue(ctx, "acme/app", gone); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Work(ctx, "acme/app", gone); err != nil {
		t.Fatalf("work on a deleted manifest: %v", err)
	}
	if r, err := e.svc.Report(ctx, gone); err != nil || r.Status != core.ScanFailed {
		t.Fatalf("%s: %+v %v", gone, r.Status, err)
	}
}
