package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

var eventTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"VulnSources", testVulnSources},
	{"NotifyExpiringTagsOnce", testNotifyExpiringTags},
	{"QuotaRefusalAndWarningState", testQuotaEventState},
}

func testVulnSources(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const u = "https://example.com/osv/Go/all.zip"
	_, err := db.VulnSource(ctx, u)
	wantCode(t, err, core.CodeNotFound)
	t1 := time.UnixMilli(time.Now().UnixMilli())
	noErr(t, db.PutVulnSource(ctx, store.VulnSource{URL: u, ETag: `"a"`, LastModified: "Thu, 01 Jan 2026 00:00:00 GMT",
		CheckedAt: t1, ChangedAt: t1}), "PutVulnSource")
	// A failed attempt keeps the validators given and the last change.
	t2 := t1.Add(time.Hour)
	noErr(t, db.PutVulnSource(ctx, store.VulnSource{URL: u, ETag: `"a"`, LastModified: "Thu, 01 Jan 2026 00:00:00 GMT",
		CheckedAt: t2, Error: "GET: HTTP 500"}), "PutVulnSource failure")
	s, err := db.VulnSource(ctx, u)
	noErr(t, err, "VulnSource")
	if s.ETag != `"a"` || !s.CheckedAt.Equal(t2) || !s.ChangedAt.Equal(t1) || s.Error != "GET: HTTP 500" {
		t.Fatalf("source %+v", s)
	}
}

func testNotifyExpiringTags(t *testing.T, db *store.DB) {
	ctx := t.Context()
	image{repo: "acme/exp", seed: "1", tags: []string{"soon", "later", "never"}}.push(t, db)
	_, err := db.CreateNotification(ctx, "acme/exp", store.NewNotification{Event: store.EventRepoImageExpiry, Method: "webhook",
		Config: json.RawMessage(`{"url":"http://example.com"}`), EventConfig: json.RawMessage(`{"days":7}`)})
	noErr(t, err, "CreateNotification")
	soon, later := time.Now().Add(48*time.Hour), time.Now().Add(30*24*time.Hour)
	noErr(t, db.ChangeTag(ctx, "acme/exp", "soon", store.TagChange{Expiration: &soon}), "expire soon")
	noErr(t, db.ChangeTag(ctx, "acme/exp", "later", store.TagChange{Expiration: &later}), "expire later")
	for i, want := range []int{1, 0} {
		n, err := db.NotifyExpiringTags(ctx, time.Now())
		noErr(t, err, "NotifyExpiringTags")
		if n != want {
			t.Fatalf("run %d: %d events, want %d", i+1, n, want)
		}
	}
	// A tag moving into the window is announced on the next run.
	nearer := time.Now().Add(72 * time.Hour)
	noErr(t, db.ChangeTag(ctx, "acme/exp", "later", store.TagChange{Expiration: &nearer}), "expire later sooner")
	if n, err := db.NotifyExpiringTags(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("after moving later: %d, %v", n, err)
	}
}

// Quota refusals and warnings on a store without a job queue: the quota
// decisions are the same, the events are simply not queued.
func testQuotaEventState(t *testing.T, db *store.DB) {
	ctx := t.Context()
	image{repo: "acme/q", seed: "1", tags: []string{"a"}}.push(t, db)
	used, _, err := db.NamespaceUsage(ctx, "acme")
	noErr(t, err, "NamespaceUsage")
	q, err := db.CreateQuota(ctx, "acme", used*2)
	noErr(t, err, "CreateQuota")
	_, err = db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaWarning, 60)
	noErr(t, err, "Warning limit")
	_, err = db.CreateQuotaLimit(ctx, "acme", q.ID, core.QuotaReject, 100)
	noErr(t, err, "Reject limit")
	image{repo: "acme/q", seed: "2", tags: []string{"b"}}.push(t, db) // past 60%
	m := image{repo: "acme/q", seed: "3", tags: []string{"c"}}.build(t, db)
	for range 2 {
		wantCode(t, db.PutManifest(ctx, m), core.CodeDenied)
	}
	wantTags(t, db, "acme/q", "a", "b")
}
