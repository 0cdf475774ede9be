package mirror

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/wharfhq/wharf/internal/blob"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// A mirror of go-containerregistry's registry: tag filters, an index
// filtered by architecture (stored sparse), a signature copied through
// the referrers API, nothing fetched twice, a moved and a deleted upstream
// tag, and an outage mid-sync after which the next sync completes without
// duplicates.
func TestSyncFollowsUpstream(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/app"
	_, d1 := pushImage(t, base+":v1", 2)
	_, d2 := pushImage(t, base+":v2", 1)
	_, dOther := pushImage(t, base+":other", 1)
	idx, children := pushIndex(t, base+":multi", []string{"amd64", "arm64"})
	sig := pushSignature(t, base, d1)

	e.configure(t, base, []string{"v*", "multi"}, func(c *store.MirrorConfig) { c.ArchitectureFilter = []string{"amd64"} })
	rep := e.mustSync(t)
	if want := []string{"multi", "v1", "v2"}; !slices.Equal(rep.Synced, want) {
		t.Fatalf("synced %v, want %v", rep.Synced, want)
	}
	tags := e.tags(t)
	if len(tags) != 3 || tags["v1"] != d1 || tags["v2"] != d2 || tags["multi"] != idx {
		t.Fatalf("tags after the first sync: %v", tags)
	}
	if e.hasManifest(t, dOther) {
		t.Error("a tag outside the filter was copied")
	}
	if !e.hasManifest(t, children["amd64"]) || e.hasManifest(t, children["arm64"]) {
		t.Errorf("architecture filter: amd64 present %v (want true), arm64 present %v (want false)",
			e.hasManifest(t, children["amd64"]), e.hasManifest(t, children["arm64"]))
	}
	refs, err := e.db.Referrers(t.Context(), e.repo, d1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != sig {
		t.Fatalf("referrers of v1 = %v, want the signature %s", refs, sig)
	}

	// The robot is the performer of the pushes.
	r, err := e.db.Repository(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := e.db.AuditLogs(t.Context(), store.AuditFilter{RepositoryID: r.ID, Kinds: []string{core.LogPushRepo},
		Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no push_repo audit entries")
	}
	for _, en := range entries {
		if en.PerformerName != "acme+mirror" {
			t.Fatalf("push_repo performed by %q", en.PerformerName)
		}
	}

	// Nothing changed upstream: nothing is downloaded again.
	gets := up.blobGets.Load()
	rep = e.mustSync(t)
	if rep.Manifests != 0 || rep.BlobsCopied != 0 || up.blobGets.Load() != gets {
		t.Fatalf("second sync fetched %d manifests, %d blobs (%d blob GETs)", rep.Manifests, rep.BlobsCopied, up.blobGets.Load()-gets)
	}

	// v1 moves, v2 goes.
	_, d1b := pushImage(t, base+":v1", 1)
	v2, _ := name.ParseReference(base+":v2", name.Insecure)
	if err := remote.Delete(v2); err != nil {
		t.Fatal(err)
	}
	rep = e.mustSync(t)
	tags = e.tags(t)
	if tags["v1"] != d1b || len(tags) != 2 {
		t.Fatalf("after move and delete: tags %v (v1 want %s)", tags, d1b)
	}
	if !slices.Equal(rep.Deleted, []string{"v2"}) {
		t.Fatalf("deleted %v, want [v2]", rep.Deleted)
	}

	// An outage mid-sync fails the attempt; the next one completes.
	_, d5 := pushImage(t, base+":v5", 3)
	_, d6 := pushImage(t, base+":v6", 3)
	up.failAfter.Store(up.requests.Load() + 9)
	if _, err := e.sync(t); err == nil {
		t.Fatal("a sync during an outage succeeded")
	} else if contentError(err) {
		t.Fatalf("an outage counted as a content error: %v", err)
	}
	up.failAfter.Store(-1)
	e.mustSync(t)
	tags = e.tags(t)
	if tags["v5"] != d5 || tags["v6"] != d6 || tags["v1"] != d1b || tags["multi"] != idx || len(tags) != 4 {
		t.Fatalf("after the outage: tags %v", tags)
	}
	for _, tag := range []string{"v1", "v5", "v6"} {
		rows, _, err := e.db.TagHistory(t.Context(), e.repo, store.TagHistoryQuery{Name: tag, Window: 24 * time.Hour, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if tag == "v1" {
			want = 2 // moved once
		}
		if len(rows) != want {
			t.Errorf("tag %s has %d history rows, want %d", tag, len(rows), want)
		}
	}
	if n := countUploads(t, e); n != 0 {
		t.Errorf("%d upload sessions left behind", n)
	}
}

// With delete_obsolete_tags off, tags the upstream dropped stay.
func TestSyncKeepsObsoleteTagsWhenAsked(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/keep"
	pushImage(t, base+":a", 1)
	_, db := pushImage(t, base+":b", 1)
	e.configure(t, base, []string{"*"}, func(c *store.MirrorConfig) { c.DeleteObsoleteTags = false })
	e.mustSync(t)
	b, _ := name.ParseReference(base+":b", name.Insecure)
	if err := remote.Delete(b); err != nil {
		t.Fatal(err)
	}
	rep := e.mustSync(t)
	if tags := e.tags(t); tags["b"] != db || len(rep.Deleted) != 0 {
		t.Fatalf("tags %v, deleted %v", tags, rep.Deleted)
	}
}

// The CNCF distribution registry with htpasswd auth: credentials are
// sealed in the store and used; the signature comes through the referrers
// tag schema (sha256-<hex>), which go-containerregistry maintains there;
// a wrong password fails the attempt.
func TestSyncDistributionWithBasicAuth(t *testing.T) {
	e := newEnv(t)
	addr := startDistribution(t, "mirror", "s3cret-pass")
	authOpt := basicAuth("mirror", "s3cret-pass")
	base := addr + "/team/tool"
	_, d1 := pushImage(t, base+":1.0", 2, authOpt)
	_, d2 := pushImage(t, base+":1.1", 1, authOpt)
	pushImage(t, base+":dev", 1, authOpt)
	sig := pushSignature(t, base, d2, authOpt)

	user, pass := e.seal(t, "mirror"), e.seal(t, "s3cret-pass")
	e.configure(t, base, []string{"1.*"}, func(c *store.MirrorConfig) { c.UsernameEnc, c.PasswordEnc = user, pass })
	m, err := e.db.Mirror(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	if m.PasswordEnc == "s3cret-pass" || m.PasswordEnc == "" {
		t.Fatal("the upstream password is not sealed")
	}
	e.mustSync(t)
	tags := e.tags(t)
	if tags["1.0"] != d1 || tags["1.1"] != d2 || len(tags) != 2 {
		t.Fatalf("tags %v", tags)
	}
	refs, err := e.db.Referrers(t.Context(), e.repo, d2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != sig {
		t.Fatalf("referrers of 1.1 = %v, want %s", refs, sig)
	}

	bad := e.seal(t, "wrong")
	e.configure(t, base, []string{"1.*"}, func(c *store.MirrorConfig) { c.UsernameEnc, c.PasswordEnc = user, bad })
	if _, err := e.sync(t); err == nil {
		t.Fatal("a sync with a wrong password succeeded")
	}
}

// The job body: sync-now claims the mirror, Run syncs and records the
// result and the next start; an upstream that stays down spends the
// retries and ends as FAIL; a cancelled sync does nothing.
func TestRunRecordsStatus(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/run"
	pushImage(t, base+":latest", 1)
	e.configure(t, base, []string{"latest"}, nil)
	ctx := t.Context()

	run := func(attempt int) error { t.Helper(); return e.runJob(t, attempt) }
	if err := run(1); err != nil {
		t.Fatal(err)
	}
	m, err := e.db.Mirror(ctx, e.repo)
	if err != nil {
		t.Fatal(err)
	}
	if m.SyncStatus != store.MirrorSuccess || m.TagsSynced != 1 || m.LastSyncEnd.IsZero() || !m.SyncStartDate.After(time.Now()) {
		t.Fatalf("after a successful run: %+v", m)
	}

	up.failAfter.Store(0)
	for attempt := 1; attempt <= store.MirrorMaxRetries; attempt++ {
		err := run(attempt)
		if attempt < store.MirrorMaxRetries && err == nil {
			t.Fatalf("attempt %d during an outage returned no error (no retry)", attempt)
		}
		if attempt == store.MirrorMaxRetries && err != nil {
			t.Fatalf("the last attempt returned %v; it should end the sync", err)
		}
	}
	if m, _ = e.db.Mirror(ctx, e.repo); m.SyncStatus != store.MirrorFail || m.LastError == "" {
		t.Fatalf("after the retries: status %s, error %q", m.SyncStatus, m.LastError)
	}

	up.failAfter.Store(-1)
	if err := e.db.MirrorSyncNow(ctx, e.repo, time.Minute); err != nil {
		t.Fatal(err)
	}
	m, _ = e.db.Mirror(ctx, e.repo)
	if err := e.db.MirrorSyncCancel(ctx, e.repo); err != nil {
		t.Fatal(err)
	}
	if err := e.syncer.Run(ctx, store.MirrorSyncArgs{RepositoryID: m.RepositoryID, Token: m.SyncToken}, 1); err != nil {
		t.Fatal(err)
	}
	if m, _ = e.db.Mirror(ctx, e.repo); m.SyncStatus != store.MirrorCancel {
		t.Fatalf("a cancelled sync ended as %s", m.SyncStatus)
	}
	if err := e.db.MirrorSyncCancel(ctx, e.repo); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("cancelling twice: %v", err)
	}
}

// A sync refuses to run when the robot lost write on the repository.
func TestSyncNeedsRobotWrite(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/robot"
	pushImage(t, base+":x", 1)
	e.configure(t, base, []string{"*"}, nil)
	if err := e.db.SetUserPermission(t.Context(), e.repo, "acme+mirror", core.RoleRead); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sync(t); err == nil {
		t.Fatal("a robot with read only synced")
	}
}

// Blobs already in another repository are linked, not downloaded, when
// the robot may read that repository.
func TestSyncLinksKnownBlobs(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	base := up.host + "/library/shared"
	pushImage(t, base+":one", 3)
	e.configure(t, base, []string{"*"}, nil)
	e.mustSync(t)
	// A second mirror repository of the same upstream.
	e.repo = "acme/second"
	e.mirrorRepo(t, e.repo)
	e.configure(t, base, []string{"*"}, nil)
	gets := up.blobGets.Load()
	rep := e.mustSync(t)
	if rep.BlobsCopied != 0 || up.blobGets.Load() != gets {
		t.Fatalf("the second mirror downloaded %d blobs", up.blobGets.Load()-gets)
	}
	if len(e.tags(t)) != 1 {
		t.Fatal("the second mirror has no tag")
	}
}

func countUploads(t *testing.T, e *env) int {
	t.Helper()
	ids, err := e.blobs.(blob.UploadLister).Uploads(t.Context(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// quay.* labels of mirrored images act as on a push: an expiry label gives
// the mirrored tag an expiry.
func TestSyncAppliesQuayLabels(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.Config.Labels = map[string]string{"quay.expires-after": "1d"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(up.host+"/library/labelled:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	e.configure(t, up.host+"/library/labelled", []string{"*"}, nil)
	e.mustSync(t)
	rows, _, err := e.db.TagHistory(t.Context(), e.repo, store.TagHistoryQuery{ActiveOnly: true, Name: "v1", Window: time.Hour, Limit: 10})
	if err != nil || len(rows) != 1 {
		t.Fatalf("tag rows %v, %v", rows, err)
	}
	if d := time.Until(rows[0].Expires); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("mirrored tag expires in %s, want about a day", d)
	}
}
