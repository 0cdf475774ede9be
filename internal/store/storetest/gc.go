package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// gcTests cover online garbage collection: each reachability rule keeps a
// manifest, each removal path removes it, blobs and links follow, and pushes
// racing the collector never leave a tag with a missing blob.
var gcTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"GCUntaggedManifestAndBlobs", testGCUntagged},
	{"GCGraceKeeps", testGCGrace},
	{"GCTagHistoryWindow", testGCHistoryWindow},
	{"GCIndexChildren", testGCIndexChildren},
	{"GCReferrers", testGCReferrers},
	{"GCImmutableTag", testGCImmutable},
	{"GCExpiredTagWindow", testGCExpiredTag},
	{"GCSharedBlobAndLinks", testGCSharedBlob},
	{"GCDryRun", testGCDryRun},
	{"GCRacingPushes", testGCRace},
}

var gcNow = store.GCOptions{Grace: 0, DefaultWindow: time.Hour, Limit: 500}

// collectAll runs manifest and blob batches until nothing is due and returns
// the totals.
func collectAll(t *testing.T, db *store.DB, o store.GCOptions) (store.GCManifests, store.GCBlobs) {
	t.Helper()
	var m store.GCManifests
	var b store.GCBlobs
	for {
		one, err := db.CollectManifests(t.Context(), o)
		noErr(t, err, "CollectManifests")
		m.TagRows += one.TagRows
		m.Manifests += one.Manifests
		m.Bytes += one.Bytes
		if one.TagRows == 0 && one.Dequeued == 0 {
			break
		}
	}
	for {
		one, err := db.CollectBlobs(t.Context(), o)
		noErr(t, err, "CollectBlobs")
		b.Links += one.Links
		b.Blobs = append(b.Blobs, one.Blobs...)
		if one.Dequeued == 0 {
			break
		}
	}
	return m, b
}

func manifestGone(t *testing.T, db *store.DB, repo string, d digest.Digest) bool {
	t.Helper()
	_, err := db.Manifest(t.Context(), repo, byDigest(d))
	if err == nil {
		return false
	}
	wantCode(t, err, core.CodeManifestUnknown)
	return true
}

func blobGone(t *testing.T, db *store.DB, d digest.Digest) bool {
	t.Helper()
	ok, err := db.BlobExists(t.Context(), d)
	noErr(t, err, "BlobExists")
	return !ok
}

func testGCUntagged(t *testing.T, db *store.DB) {
	ctx := t.Context()
	kept := image{repo: "org/app", seed: "kept", tags: []string{"v1"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, kept), "PutManifest tagged")
	gone := image{repo: "org/app", seed: "gone"}.build(t, db)
	noErr(t, db.PutManifest(ctx, gone), "PutManifest by digest")
	tick()
	m, b := collectAll(t, db, gcNow)
	if m.Manifests != 1 || len(b.Blobs) != 2 || b.Links != 2 {
		t.Fatalf("collected %+v %+v", m, b)
	}
	if !manifestGone(t, db, "org/app", gone.Digest) || manifestGone(t, db, "org/app", kept.Digest) {
		t.Fatal("wrong manifest collected")
	}
	for _, d := range gone.Blobs {
		if !blobGone(t, db, d) {
			t.Fatalf("blob %s of the collected manifest kept", d)
		}
		wantNoBlob(t, db, "org/app", d)
	}
	for _, d := range kept.Blobs {
		if blobGone(t, db, d) {
			t.Fatalf("blob %s of the tagged manifest collected", d)
		}
	}
	// A second pass finds nothing.
	if m, b := collectAll(t, db, gcNow); m.Manifests != 0 || len(b.Blobs) != 0 || m.TagRows != 0 {
		t.Fatalf("second pass collected %+v %+v", m, b)
	}
}

func testGCGrace(t *testing.T, db *store.DB) {
	ctx := t.Context()
	untagged := image{repo: "org/app", seed: "untagged"}.build(t, db)
	noErr(t, db.PutManifest(ctx, untagged), "PutManifest by digest")
	lone := blob(t, db, "org/app", "uploaded, no manifest yet")
	graced := gcNow
	graced.Grace = time.Hour
	if m, b := collectAll(t, db, graced); m.Manifests != 0 || len(b.Blobs) != 0 || b.Links != 0 {
		t.Fatalf("collected within the grace period: %+v %+v", m, b)
	}
	mustManifest(t, db, "org/app", byDigest(untagged.Digest))
	wantBlob(t, db, "org/app", lone, int64(len("uploaded, no manifest yet")))
	// Past the grace period both go.
	tick()
	if m, b := collectAll(t, db, gcNow); m.Manifests != 1 || len(b.Blobs) != 3 {
		t.Fatalf("collected %+v %+v", m, b)
	}
}

func testGCHistoryWindow(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "one", tags: []string{"v1"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	noErr(t, db.DeleteTag(ctx, "org/app", "v1"), "DeleteTag")
	tick()
	// Within the (default, 1h) window the manifest stays restorable.
	if m, _ := collectAll(t, db, gcNow); m.Manifests != 0 || m.TagRows != 0 {
		t.Fatalf("collected within the window: %+v", m)
	}
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	tick()
	m, b := collectAll(t, db, gcNow)
	if m.Manifests != 1 || m.TagRows != 1 || len(b.Blobs) != 2 {
		t.Fatalf("collected %+v %+v", m, b)
	}
	if !manifestGone(t, db, "org/app", put.Digest) {
		t.Fatal("manifest kept")
	}
	if tags := history(t, db, "org/app", store.TagHistoryQuery{}); len(tags) != 0 {
		t.Fatalf("history rows kept: %+v", tags)
	}
}

func testGCIndexChildren(t *testing.T, db *store.DB) {
	ctx := t.Context()
	child := image{repo: "org/app", seed: "child"}.build(t, db)
	noErr(t, db.PutManifest(ctx, child), "PutManifest child")
	index := image{repo: "org/app", seed: "index", tags: []string{"multi"}}.build(t, db)
	index.Children = []digest.Digest{child.Digest}
	noErr(t, db.PutManifest(ctx, index), "PutManifest index")
	tick()
	if m, _ := collectAll(t, db, gcNow); m.Manifests != 0 {
		t.Fatalf("child of a tagged index collected: %+v", m)
	}
	// The same digest as a child of an index in another repository does
	// not keep it.
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	noErr(t, db.DeleteTag(ctx, "org/app", "multi"), "DeleteTag")
	tick()
	m, _ := collectAll(t, db, gcNow)
	if m.Manifests != 2 || !manifestGone(t, db, "org/app", child.Digest) || !manifestGone(t, db, "org/app", index.Digest) {
		t.Fatalf("collected %+v", m)
	}
}

func testGCReferrers(t *testing.T, db *store.DB) {
	ctx := t.Context()
	subject := image{repo: "org/app", seed: "subject", tags: []string{"v1"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, subject), "PutManifest subject")
	sig := image{repo: "org/app", seed: "signature", artifactType: "application/example.sig", subject: subject.Digest}.build(t, db)
	noErr(t, db.PutManifest(ctx, sig), "PutManifest referrer")
	orphan := image{repo: "org/app", seed: "orphan", subject: digest.FromString("no such subject")}.build(t, db)
	noErr(t, db.PutManifest(ctx, orphan), "PutManifest referrer without subject")
	tick()
	m, _ := collectAll(t, db, gcNow)
	if m.Manifests != 1 || !manifestGone(t, db, "org/app", orphan.Digest) || manifestGone(t, db, "org/app", sig.Digest) {
		t.Fatalf("collected %+v", m)
	}
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	noErr(t, db.DeleteTag(ctx, "org/app", "v1"), "DeleteTag")
	tick()
	m, b := collectAll(t, db, gcNow)
	if m.Manifests != 2 || len(b.Blobs) != 4 || !manifestGone(t, db, "org/app", sig.Digest) {
		t.Fatalf("collected %+v %+v", m, b)
	}
}

func testGCImmutable(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "one", tags: []string{"v1"}}.build(t, db)
	put.Labels = map[string]string{core.LabelImmutable: "true"}
	noErr(t, db.PutManifest(ctx, put), "PutManifest immutable")
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	tick()
	if m, b := collectAll(t, db, gcNow); m.Manifests != 0 || len(b.Blobs) != 0 {
		t.Fatalf("collected an immutable tag's manifest: %+v %+v", m, b)
	}
	mustManifest(t, db, "org/app", byTag("v1"))
}

func testGCExpiredTag(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "one", tags: []string{"v1"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	at := time.Now().Add(20 * time.Millisecond)
	noErr(t, db.ChangeTag(ctx, "org/app", "v1", store.TagChange{Expiration: &at}), "ChangeTag expiration")
	time.Sleep(40 * time.Millisecond)
	// Expired, not yet ended by the expiry job: kept within the window.
	if m, _ := collectAll(t, db, gcNow); m.Manifests != 0 {
		t.Fatalf("collected within the window: %+v", m)
	}
	_, err := db.ExpireTags(ctx, time.Now(), 100)
	noErr(t, err, "ExpireTags")
	if m, _ := collectAll(t, db, gcNow); m.Manifests != 0 {
		t.Fatalf("collected within the window after expiry: %+v", m)
	}
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	tick()
	if m, _ := collectAll(t, db, gcNow); m.Manifests != 1 || m.TagRows != 1 {
		t.Fatalf("collected %+v", m)
	}
}

func testGCSharedBlob(t *testing.T, db *store.DB) {
	ctx := t.Context()
	cfg := blob(t, db, "org/one", "config one")
	shared := blob(t, db, "org/one", "shared layer")
	one := image{repo: "org/one", seed: "one", tags: []string{"v1"}}.buildWith(t, cfg, shared)
	noErr(t, db.PutManifest(ctx, one), "PutManifest one")
	cfg2 := blob(t, db, "org/two", "config two")
	_, err := db.MountBlob(ctx, "org/two", "org/one", shared, nil)
	noErr(t, err, "MountBlob")
	two := image{repo: "org/two", seed: "two"}.buildWith(t, cfg2, shared)
	noErr(t, db.PutManifest(ctx, two), "PutManifest two by digest")
	tick()
	m, b := collectAll(t, db, gcNow)
	if m.Manifests != 1 || len(b.Blobs) != 1 || b.Blobs[0].Digest != cfg2 || b.Links != 2 {
		t.Fatalf("collected %+v %+v", m, b)
	}
	wantBlob(t, db, "org/one", shared, int64(len("shared layer")))
	wantNoBlob(t, db, "org/two", shared)
}

func testGCDryRun(t *testing.T, db *store.DB) {
	ctx := t.Context()
	put := image{repo: "org/app", seed: "one", tags: []string{"v1"}}.build(t, db)
	noErr(t, db.PutManifest(ctx, put), "PutManifest")
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	noErr(t, db.DeleteTag(ctx, "org/app", "v1"), "DeleteTag")
	tick()
	for i := 0; i < 2; i++ {
		m, b, err := db.GCDryRun(ctx, gcNow)
		noErr(t, err, "GCDryRun")
		if m.Manifests != 1 || m.TagRows != 1 || m.Bytes != int64(len(put.Content)) || len(b.Blobs) != 2 {
			t.Fatalf("dry run %d: %+v %+v", i, m, b)
		}
	}
	if manifestGone(t, db, "org/app", put.Digest) {
		t.Fatal("dry run removed the manifest")
	}
	if m, b := collectAll(t, db, gcNow); m.Manifests != 1 || len(b.Blobs) != 2 {
		t.Fatalf("collected %+v %+v", m, b)
	}
}

// testGCRace pushes images sharing a base layer from many goroutines, each
// pushing, retagging and deleting, while the collector runs with no grace.
// A push may be refused (MANIFEST_BLOB_UNKNOWN: its blob was collected just
// before) and is then retried from the upload; afterwards every current tag
// has all its blobs linked and present.
func testGCRace(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const pushers, rounds = 8, 15
	// No time machine: moved and deleted tags make garbage at once.
	noErr(t, db.CommitBlob(ctx, "org/r0", digest.FromString("seed"), 1, ""), "CommitBlob")
	noErr(t, db.SetNamespaceTagExpiration(ctx, "org", 0), "SetNamespaceTagExpiration")
	stop := make(chan struct{})
	var gcErr error
	var collected, blobsGone int
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := db.CollectManifests(ctx, gcNow)
			if err != nil {
				gcErr = err
				return
			}
			b, err := db.CollectBlobs(ctx, gcNow)
			if err != nil {
				gcErr = err
				return
			}
			collected += m.Manifests
			blobsGone += len(b.Blobs)
			time.Sleep(time.Millisecond)
		}
	}()
	type pushed struct {
		repo, tag string
		blobs     []digest.Digest
	}
	results := make([][]pushed, pushers)
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := fmt.Sprintf("org/r%d", p%3)
			for r := 0; r < rounds; r++ {
				tag := fmt.Sprintf("p%d", p)
				var put store.PutManifest
				var err error
				for attempt := 0; attempt < 200; attempt++ {
					base := digest.FromString("shared base layer")
					own := digest.FromString(fmt.Sprintf("layer %d %d", p, r))
					cfg := digest.FromString(fmt.Sprintf("config %d %d", p, r%2))
					for _, d := range []digest.Digest{base, own, cfg} {
						if err = db.CommitBlob(ctx, repo, d, 1, ""); err != nil {
							break
						}
					}
					if err != nil {
						continue // lost a race with the collector on the row: retry
					}
					put = image{repo: repo, seed: fmt.Sprintf("%d-%d", p, r), tags: []string{tag}}.buildWith(t, cfg, base, own)
					err = db.PutManifest(ctx, put)
					if err == nil || !core.IsCode(err, core.CodeManifestBlobUnknown) {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("pusher %d round %d: %w", p, r, err)
					return
				}
				results[p] = append(results[p], pushed{repo, tag, put.Blobs})
				if r%4 == 3 {
					if err := db.DeleteTag(ctx, repo, tag); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if gcErr != nil {
		t.Fatal("collector:", gcErr)
	}
	m, b := collectAll(t, db, gcNow)
	if collected+m.Manifests == 0 || blobsGone+len(b.Blobs) == 0 {
		t.Fatalf("the collector removed nothing: %d manifests, %d blobs", collected, blobsGone)
	}
	t.Logf("collected %d manifests and %d blobs while pushing, then %d and %d", collected, blobsGone, m.Manifests, len(b.Blobs))
	if m, b := collectAll(t, db, gcNow); m.Manifests != 0 || len(b.Blobs) != 0 {
		t.Fatalf("a second full pass collected %+v %+v", m, b)
	}
	for p := range results {
		last := results[p][len(results[p])-1]
		m, err := db.Manifest(ctx, last.repo, byTag(last.tag))
		if rounds%4 == 0 {
			wantCode(t, err, core.CodeManifestUnknown)
			continue
		}
		noErr(t, err, "Manifest "+last.tag)
		if m.Digest != digest.FromBytes(m.Content) {
			t.Fatalf("tag %s: manifest %s", last.tag, m.Digest)
		}
		for _, d := range last.blobs {
			if _, err := db.RepositoryBlob(ctx, last.repo, d); err != nil {
				t.Fatalf("tag %s of %s: blob %s: %v", last.tag, last.repo, d, err)
			}
		}
	}
}
