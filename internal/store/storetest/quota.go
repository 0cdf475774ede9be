package storetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// quotaTests cover namespace quotas and usage.
var quotaTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"QuotaCRUD", testQuotaCRUD},
	{"QuotaUsageSharedLayers", testQuotaUsageShared},
	{"QuotaRejectsPush", testQuotaReject},
	{"QuotaUsageEqualsRecount", testQuotaExact},
	{"QuotaUsageConcurrentPushes", testQuotaConcurrent},
}

func wantUsage(t *testing.T, db *store.DB, ns string, want int64) {
	t.Helper()
	used, _, err := db.NamespaceUsage(t.Context(), ns)
	noErr(t, err, "NamespaceUsage")
	count, err := db.CountNamespaceUsage(t.Context(), ns)
	noErr(t, err, "CountNamespaceUsage")
	if used != want || count != want {
		t.Fatalf("usage of %s: online %d, recount %d, want %d", ns, used, count, want)
	}
}

func testQuotaCRUD(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	qs, err := db.Quotas(ctx, "acme")
	noErr(t, err, "Quotas")
	if len(qs) != 0 {
		t.Fatalf("quotas %+v", qs)
	}
	_, err = db.Quotas(ctx, "nobody")
	wantCode(t, err, core.CodeNotFound)
	_, err = db.CreateQuota(ctx, "acme", 0)
	wantCode(t, err, core.CodeInvalid)
	q, err := db.CreateQuota(ctx, "acme", 1000)
	noErr(t, err, "CreateQuota")
	_, err = db.CreateQuota(ctx, "acme", 2000)
	wantCode(t, err, core.CodeInvalid) // one per namespace
	noErr(t, db.UpdateQuota(ctx, "acme", q.ID, 5000), "UpdateQuota")
	wantCode(t, db.UpdateQuota(ctx, "acme", q.ID+1, 5000), core.CodeNotFound)

	w, err := db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaWarning, 80)
	noErr(t, err, "warning limit")
	r, err := db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaReject, 100)
	noErr(t, err, "reject limit")
	for _, bad := range []core.QuotaLimit{{Kind: "Soft", ThresholdPercent: 50}, {Kind: core.QuotaWarning, ThresholdPercent: 0},
		{Kind: core.QuotaWarning, ThresholdPercent: 101}, {Kind: core.QuotaWarning, ThresholdPercent: 80}, {Kind: core.QuotaReject, ThresholdPercent: 90}} {
		_, err := db.CreateQuotaLimit(ctx, "acme", q.ID, bad.Kind, bad.ThresholdPercent)
		wantCode(t, err, core.CodeInvalid)
	}
	noErr(t, db.UpdateQuotaLimit(ctx, "acme", q.ID, core.QuotaLimit{ID: r.ID, Kind: core.QuotaReject, ThresholdPercent: 90}), "update limit")
	got, err := db.Quota(ctx, "acme", q.ID)
	noErr(t, err, "Quota")
	if got.LimitBytes != 5000 || len(got.Limits) != 2 || got.Limits[0] != w || got.Limits[1].ThresholdPercent != 90 || got.RejectBytes() != 4500 {
		t.Fatalf("quota %+v", got)
	}
	noErr(t, db.DeleteQuotaLimit(ctx, "acme", q.ID, w.ID), "delete limit")
	wantCode(t, db.DeleteQuotaLimit(ctx, "acme", q.ID, w.ID), core.CodeNotFound)
	noErr(t, db.DeleteQuota(ctx, "acme", q.ID), "DeleteQuota")
	_, err = db.Quota(ctx, "acme", q.ID)
	wantCode(t, err, core.CodeNotFound)
	_, err = db.CreateQuota(ctx, "acme", 2000)
	noErr(t, err, "CreateQuota again")
}

func testQuotaUsageShared(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	// Blobs of 10, 20 and 40 bytes; the 40-byte layer is shared.
	cfg1, cfg2 := blob(t, db, "acme/a", strings.Repeat("1", 10)), blob(t, db, "acme/b", strings.Repeat("2", 20))
	shared := blob(t, db, "acme/a", strings.Repeat("s", 40))
	blob(t, db, "acme/b", strings.Repeat("s", 40))
	m1 := image{repo: "acme/a", seed: "1", tags: []string{"x"}}.buildWith(t, cfg1, shared)
	m2 := image{repo: "acme/b", seed: "2", tags: []string{"x"}}.buildWith(t, cfg2, shared)
	noErr(t, db.PutManifest(ctx, m1), "push a")
	wantUsage(t, db, "acme", 50)
	noErr(t, db.PutManifest(ctx, m2), "push b")
	wantUsage(t, db, "acme", 70)
	noErr(t, db.PutManifest(ctx, m2), "push b again")
	wantUsage(t, db, "acme", 70)
	noErr(t, db.DeleteTag(ctx, "acme/a", "x"), "delete tag") // the manifest stays
	wantUsage(t, db, "acme", 70)
	noErr(t, db.DeleteManifest(ctx, "acme/a", m1.Digest), "delete a")
	wantUsage(t, db, "acme", 60)
	noErr(t, db.RestoreTag(ctx, "acme/a", "x", m1.Digest, week2), "restore")
	wantUsage(t, db, "acme", 70)
	noErr(t, db.DeleteRepository(ctx, "acme/b"), "delete repository b")
	wantUsage(t, db, "acme", 50)
	used, err := db.RecountNamespaceUsage(ctx, "acme")
	noErr(t, err, "RecountNamespaceUsage")
	if used != 50 {
		t.Fatalf("recount %d", used)
	}
	wantUsage(t, db, "acme", 50)
}

func testQuotaReject(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	q, err := db.CreateQuota(ctx, "acme", 100)
	noErr(t, err, "CreateQuota")
	_, err = db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaWarning, 50)
	noErr(t, err, "warning")
	cfg := blob(t, db, "acme/a", strings.Repeat("c", 30))
	big := blob(t, db, "acme/a", strings.Repeat("b", 60))
	huge := blob(t, db, "acme/a", strings.Repeat("h", 80))
	noErr(t, db.PutManifest(ctx, image{repo: "acme/a", seed: "1", tags: []string{"one"}}.buildWith(t, cfg, big)), "push under the limit")
	wantUsage(t, db, "acme", 90)
	// No Reject threshold: pushes are not refused.
	noErr(t, db.CheckBlobQuota(ctx, "acme/a", "", 500), "check without reject limit")
	_, err = db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaReject, 100)
	noErr(t, err, "reject")

	err = db.PutManifest(ctx, image{repo: "acme/a", seed: "2", tags: []string{"two"}}.buildWith(t, cfg, huge))
	wantCode(t, err, core.CodeDenied)
	if !strings.Contains(err.Error(), "Quota has been exceeded on namespace acme") || !strings.Contains(err.Error(), fmt.Sprint(q.ID)) {
		t.Fatalf("refusal does not name the quota: %v", err)
	}
	tags, err := db.Tags(ctx, "acme/a", "", 0)
	noErr(t, err, "Tags")
	if len(tags) != 1 {
		t.Fatalf("a refused push left tags %v", tags)
	}
	wantUsage(t, db, "acme", 90)
	// Blobs the namespace has cost nothing; new ones count.
	noErr(t, db.PutManifest(ctx, image{repo: "acme/a", seed: "3", tags: []string{"three"}}.buildWith(t, cfg, big)), "shared layers fit")
	noErr(t, db.CheckBlobQuota(ctx, "acme/a", big, 60), "known blob")
	noErr(t, db.CheckBlobQuota(ctx, "acme/a", huge, 10), "small blob")
	wantCode(t, db.CheckBlobQuota(ctx, "acme/a", huge, 80), core.CodeDenied)
	wantCode(t, db.CheckBlobQuota(ctx, "acme/new", "", 11), core.CodeDenied)
	noErr(t, db.CheckBlobQuota(ctx, "other/x", "", 1<<40), "namespace without quota")
	// Deletes keep working and free space.
	noErr(t, db.DeleteManifest(ctx, "acme/a", image{repo: "acme/a", seed: "1"}.buildWith(t, cfg, big).Digest), "delete")
	noErr(t, db.PutManifest(ctx, image{repo: "acme/a", seed: "3b", tags: []string{"three"}}.buildWith(t, cfg, big)), "push after delete")
}

// testQuotaExact: after random pushes and deletes across repositories
// sharing layers, the online figure equals a full recount.
func testQuotaExact(t *testing.T, db *store.DB) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for _, ns := range []string{"acme", "beta"} {
		_, err := db.CreateOrganization(ctx, ns, "", 0)
		noErr(t, err, "CreateOrganization")
	}
	repos := []string{"acme/a", "acme/b", "acme/c/d", "beta/a"}
	var layers []digest.Digest
	content := map[digest.Digest]string{}
	for i := range 12 {
		c := strings.Repeat(string(rune('a'+i)), 10+i*7)
		d := blob(t, db, repos[0], c)
		content[d] = c
		layers = append(layers, d)
	}
	type pushed struct {
		repo string
		d    digest.Digest
		tag  string
	}
	var live []pushed
	for i := range 120 {
		repo := repos[rng.IntN(len(repos))]
		switch op := rng.IntN(10); {
		case op < 6 || len(live) == 0:
			n := 1 + rng.IntN(4)
			blobs := make([]digest.Digest, 0, n)
			for range n {
				d := layers[rng.IntN(len(layers))]
				blob(t, db, repo, content[d])
				blobs = append(blobs, d)
			}
			tag := fmt.Sprintf("t%d", rng.IntN(5))
			m := image{repo: repo, seed: fmt.Sprint(rng.IntN(30)), tags: []string{tag}}.buildWith(t, blobs...)
			noErr(t, db.PutManifest(ctx, m), "push")
			live = append(live, pushed{repo, m.Digest, tag})
		case op < 8:
			p := live[rng.IntN(len(live))]
			err := db.DeleteManifest(ctx, p.repo, p.d)
			if err != nil && !core.IsCode(err, core.CodeManifestUnknown) && !core.IsCode(err, core.CodeNameUnknown) {
				t.Fatalf("delete: %v", err)
			}
		case op < 9:
			p := live[rng.IntN(len(live))]
			err := db.RestoreTag(ctx, p.repo, p.tag, p.d, week2)
			if err != nil && !core.IsCode(err, core.CodeManifestUnknown) && !core.IsCode(err, core.CodeNameUnknown) {
				t.Fatalf("restore: %v", err)
			}
		default:
			if rng.IntN(4) == 0 {
				err := db.DeleteRepository(ctx, repo)
				if err != nil && !core.IsCode(err, core.CodeNameUnknown) {
					t.Fatalf("delete repository: %v", err)
				}
			}
		}
		if i%10 == 9 {
			for _, ns := range []string{"acme", "beta"} {
				used, _, err := db.NamespaceUsage(ctx, ns)
				noErr(t, err, "NamespaceUsage")
				count, err := db.CountNamespaceUsage(ctx, ns)
				noErr(t, err, "CountNamespaceUsage")
				if used != count {
					t.Fatalf("after %d operations, %s: online %d, recount %d", i+1, ns, used, count)
				}
			}
		}
	}
}

// testQuotaConcurrent: concurrent pushes and deletes sharing layers in one
// namespace neither deadlock nor lose a count.
func testQuotaConcurrent(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	var layers []string
	for i := range 6 {
		layers = append(layers, strings.Repeat(string(rune('a'+i)), 100+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*6)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := fmt.Sprintf("acme/r%d", w%3)
			for i := range 6 {
				var blobs []digest.Digest
				for _, j := range []int{(w + i) % 6, (w * i) % 6, 5 - i%6} {
					d := digest.FromString(layers[j])
					if err := db.CommitBlob(ctx, repo, d, int64(len(layers[j])), ""); err != nil {
						errs <- err
						return
					}
					blobs = append(blobs, d)
				}
				m := image{repo: repo, seed: fmt.Sprintf("%d-%d", w, i), tags: []string{fmt.Sprint("t", i)}}.buildWith(t, blobs...)
				if err := db.PutManifest(ctx, m); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 {
					if err := db.DeleteManifest(ctx, repo, m.Digest); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Racing pushes, deletes and restores of one manifest count it once.
	shared := image{repo: "acme/r0", seed: "shared", tags: []string{"s"}}.build(t, db)
	errs = make(chan error, 6*5)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := db.PutManifest(ctx, shared); err != nil {
					errs <- err
					return
				}
				if err := db.DeleteManifest(ctx, "acme/r0", shared.Digest); err != nil && !core.IsCode(err, core.CodeManifestUnknown) {
					errs <- err
					return
				}
				if err := db.RestoreTag(ctx, "acme/r0", "s", shared.Digest, week2); err != nil && !core.IsCode(err, core.CodeManifestUnknown) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	count, err := db.CountNamespaceUsage(ctx, "acme")
	noErr(t, err, "CountNamespaceUsage")
	if count == 0 {
		t.Fatal("nothing counted")
	}
	wantUsage(t, db, "acme", count)
}
