package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// auditTests cover the audit log: entries written in the transaction of the
// change, listing, filters, paging, aggregation, retention and the pull
// logger.
var auditTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"AuditLogInChangeTransaction", testAuditInTransaction},
	{"AuditLogFiltersAndPaging", testAuditPaging},
	{"AuditLogAggregate", testAuditAggregate},
	{"AuditLogRetention", testAuditRetention},
	{"AuditPullLog", testAuditPullLog},
	{"AuditScanEvents", testAuditScan},
	{"AuditSystemTagEnds", testAuditSystemTagEnds},
}

// Tags ended by the expiry job and by auto-prune are logged, one entry per
// tag, without performer.
func testAuditSystemTagEnds(t *testing.T, db *store.DB) {
	ctx := t.Context()
	image{repo: "bob/app", seed: "one", tags: []string{"a", "b", "c"}}.push(t, db)
	repo, err := db.Repository(ctx, "bob/app")
	noErr(t, err, "Repository")
	past := time.Now().Add(-time.Minute)
	noErr(t, db.ChangeTag(ctx, "bob/app", "a", store.TagChange{Expiration: &past}), "expire a")
	n, err := db.ExpireTags(ctx, time.Now(), 100)
	noErr(t, err, "ExpireTags")
	if n != 1 {
		t.Fatalf("expired %d", n)
	}
	got := allEntries(t, db, store.AuditFilter{RepositoryID: repo.ID, Kinds: []string{core.LogTagExpiration}})
	if len(got) != 1 || got[0].Metadata["tag"] != "a" || got[0].PerformerName != "" {
		t.Fatalf("tag_expiration entries %+v", got)
	}
	_, err = db.CreateAutoprunePolicy(ctx, core.AutoprunePolicy{Namespace: "bob", Repository: "bob/app", Method: core.PruneByNumberOfTags, Value: "1"})
	noErr(t, err, "CreateAutoprunePolicy")
	pruned, err := db.PruneRepository(ctx, repo.ID, nil)
	noErr(t, err, "PruneRepository")
	got = allEntries(t, db, store.AuditFilter{RepositoryID: repo.ID, Kinds: []string{core.LogAutopruneTagDelete}})
	if len(pruned) != 1 || len(got) != 1 || got[0].Metadata["tag"] != pruned[0] || got[0].Metadata["method"] != core.PruneByNumberOfTags {
		t.Fatalf("pruned %q, entries %+v", pruned, got)
	}
}

// A finished scan is logged in the manifest's repository, by no one.
func testAuditScan(t *testing.T, db *store.DB) {
	d := image{repo: "bob/app", seed: "one", tags: []string{"v1"}}.push(t, db)
	repo, err := db.Repository(t.Context(), "bob/app")
	noErr(t, err, "Repository")
	noErr(t, db.PutManifestScan(t.Context(), store.ManifestScan{Digest: d, Repository: "bob/app", Status: core.ScanFailed, Error: "no layers"}), "PutManifestScan")
	got := allEntries(t, db, store.AuditFilter{RepositoryID: repo.ID, Kinds: []string{core.LogScanManifest}})
	if len(got) != 1 || got[0].Metadata["status"] != core.ScanFailed || got[0].Metadata["manifest_digest"] != string(d) ||
		got[0].Metadata["error"] != "no layers" || got[0].PerformerName != "" {
		t.Fatalf("scan entries %+v", got)
	}
}

// allEntries lists every entry f selects, page by page.
func allEntries(t *testing.T, db *store.DB, f store.AuditFilter) []core.AuditEntry {
	t.Helper()
	if f.End.IsZero() {
		f.Start, f.End = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	var out []core.AuditEntry
	for i := 0; ; i++ {
		page, next, err := db.AuditLogs(t.Context(), f)
		noErr(t, err, "AuditLogs")
		if len(page) > max(f.Limit, 20) {
			t.Fatalf("page of %d entries, limit %d", len(page), f.Limit)
		}
		out = append(out, page...)
		if next == nil {
			return out
		}
		if i > 1000 {
			t.Fatal("paging does not end")
		}
		f.After = next
	}
}

func kindsOf(entries []core.AuditEntry) []string {
	var k []string
	for _, e := range entries {
		k = append(k, e.Kind)
	}
	return k
}

func testAuditInTransaction(t *testing.T, db *store.DB) {
	alice, err := db.CreateUser(t.Context(), store.NewUser{Username: "alice", Email: "alice@example.com"})
	noErr(t, err, "CreateUser")
	ctx := core.WithActor(t.Context(), core.Actor{UserID: alice.ID, Username: "alice", Kind: core.UserKindUser, Auth: "oauth", IP: "192.0.2.7:4242"})
	org, err := db.CreateOrganization(ctx, "acme", "", alice.ID)
	noErr(t, err, "CreateOrganization")
	_, err = db.CreateRepository(ctx, store.NewRepository{FullName: "acme/app", Visibility: core.VisibilityPrivate, CreatorID: alice.ID})
	noErr(t, err, "CreateRepository")
	img := image{repo: "acme/app", seed: "one", tags: []string{"v1"}}
	m := img.build(t, db)
	noErr(t, db.PutManifest(ctx, m), "PutManifest")
	noErr(t, db.DeleteTag(ctx, "acme/app", "v1"), "DeleteTag")
	// A change that fails leaves no entry: its transaction rolled back.
	wantCode(t, db.DeleteTag(ctx, "acme/app", "v1"), core.CodeManifestUnknown)
	_, err = db.CreateRobot(ctx, "acme", "ci", "sealed", "", "")
	noErr(t, err, "CreateRobot")
	_, err = db.CreateRobot(ctx, "acme", "ci", "sealed", "", "")
	wantCode(t, err, core.CodeConflict)

	got := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID})
	want := []string{core.LogCreateRobot, core.LogDeleteTag, core.LogPushRepo, core.LogCreateRepo, core.LogOrgCreate}
	if !slices.Equal(kindsOf(got), want) {
		t.Fatalf("kinds %q, want %q (newest first)", kindsOf(got), want)
	}
	for _, e := range got {
		if e.PerformerID != alice.ID || e.PerformerName != "alice" || e.PerformerKind != core.UserKindUser || e.PerformerAuth != "oauth" {
			t.Fatalf("%s: performer %d %q %q %q", e.Kind, e.PerformerID, e.PerformerName, e.PerformerKind, e.PerformerAuth)
		}
		if e.IP != "192.0.2.7" || e.Namespace != "acme" || e.NamespaceKind != core.NamespaceOrg || e.NamespaceID != org.ID {
			t.Fatalf("%s: ip %q namespace %q %q %d", e.Kind, e.IP, e.Namespace, e.NamespaceKind, e.NamespaceID)
		}
	}
	push := got[2]
	if push.Repository != "app" || push.RepositoryID == 0 || push.Metadata["tag"] != "v1" || push.Metadata["manifest_digest"] != string(m.Digest) {
		t.Fatalf("push entry %+v", push)
	}
	byRepo := allEntries(t, db, store.AuditFilter{RepositoryID: push.RepositoryID})
	if !slices.Equal(kindsOf(byRepo), []string{core.LogDeleteTag, core.LogPushRepo, core.LogCreateRepo}) {
		t.Fatalf("repository kinds %q", kindsOf(byRepo))
	}
	// Entries outlive what they name.
	noErr(t, db.DeleteRepository(ctx, "acme/app"), "DeleteRepository")
	byRepo = allEntries(t, db, store.AuditFilter{RepositoryID: push.RepositoryID})
	if len(byRepo) != 4 || byRepo[0].Kind != core.LogDeleteRepo || byRepo[0].Repository != "app" {
		t.Fatalf("after delete: %q", kindsOf(byRepo))
	}
	// A performer known by name only (a registry token) is resolved.
	ctx2 := core.WithActor(t.Context(), core.Actor{Username: "alice", Auth: "registry_token"})
	noErr(t, db.LogAction(ctx2, core.LogLoginSuccess, "alice", "", map[string]any{"type": "v2auth"}), "LogAction")
	ns, err := db.Namespace(t.Context(), "alice")
	noErr(t, err, "Namespace")
	own := allEntries(t, db, store.AuditFilter{NamespaceID: ns.ID})
	if len(own) != 2 || own[0].Kind != core.LogLoginSuccess || own[0].PerformerID != alice.ID || own[0].PerformerKind != core.UserKindUser {
		t.Fatalf("user namespace entries %+v", own)
	}
	if own[1].Kind != core.LogUserCreate || own[1].PerformerName != "" {
		t.Fatalf("user_create entry (no actor) %+v", own[1])
	}
}

func testAuditPaging(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	org, err := db.Namespace(ctx, "acme")
	noErr(t, err, "Namespace")
	before := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID})
	const n = 23
	for i := 0; i < n; i++ {
		who, kind := "bob", core.LogLoginSuccess
		if i%3 == 0 {
			who, kind = "carol", core.LogLoginFailure
		}
		actx := core.WithActor(ctx, core.Actor{Username: who, Kind: core.UserKindUser, IP: "10.0.0.1"})
		noErr(t, db.LogAction(actx, kind, "acme", "", map[string]any{"i": i}), "LogAction")
	}
	all := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID, Limit: 5})
	if len(all) != n+len(before) {
		t.Fatalf("paged through %d entries, want %d", len(all), n+len(before))
	}
	seen := map[int64]bool{}
	for i, e := range all {
		if seen[e.ID] {
			t.Fatalf("entry %d listed twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && (e.Time.After(all[i-1].Time) || (e.Time.Equal(all[i-1].Time) && e.ID > all[i-1].ID)) {
			t.Fatalf("entries not newest first at %d", i)
		}
	}
	carol := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID, Performer: "carol", Limit: 3})
	if len(carol) != 8 {
		t.Fatalf("carol's entries: %d, want 8", len(carol))
	}
	fails := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID, Kinds: []string{core.LogLoginFailure, core.LogCreateRobot}})
	if len(fails) != 8 || fails[0].Kind != core.LogLoginFailure {
		t.Fatalf("login_failure entries: %q", kindsOf(fails))
	}
	past := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID, Start: time.Now().Add(-48 * time.Hour), End: time.Now().Add(-24 * time.Hour)})
	if len(past) != 0 {
		t.Fatalf("entries in a past window: %d", len(past))
	}
	other := allEntries(t, db, store.AuditFilter{NamespaceID: org.ID + 1000})
	if len(other) != 0 {
		t.Fatalf("entries of another namespace: %d", len(other))
	}
}

func testAuditAggregate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.CreateOrganization(ctx, "acme", "", 0)
	noErr(t, err, "CreateOrganization")
	org, err := db.Namespace(ctx, "acme")
	noErr(t, err, "Namespace")
	for i := 0; i < 5; i++ {
		noErr(t, db.LogAction(ctx, core.LogLoginSuccess, "acme", "", nil), "LogAction")
	}
	for i := 0; i < 2; i++ {
		noErr(t, db.LogAction(ctx, core.LogLoginFailure, "acme", "", nil), "LogAction")
	}
	counts, err := db.AggregateAuditLogs(ctx, store.AuditFilter{NamespaceID: org.ID, Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	noErr(t, err, "AggregateAuditLogs")
	got := map[string]int64{}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, c := range counts {
		if !c.Day.Equal(today) && !c.Day.Equal(today.Add(-24*time.Hour)) {
			t.Fatalf("day %v, want %v (or the day before, at midnight)", c.Day, today)
		}
		got[c.Kind] += c.Count
	}
	if got[core.LogLoginSuccess] != 5 || got[core.LogLoginFailure] != 2 || got[core.LogOrgCreate] != 1 || len(got) != 3 {
		t.Fatalf("counts %v", got)
	}
}

func testAuditRetention(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for i := 0; i < 7; i++ {
		noErr(t, db.LogAction(ctx, core.LogChangeRegistryState, "", "", map[string]any{"i": i}), "LogAction")
	}
	n, err := db.DeleteAuditLogsBefore(ctx, time.Now().Add(-time.Hour), 3)
	noErr(t, err, "DeleteAuditLogsBefore")
	if n != 0 {
		t.Fatalf("deleted %d recent entries", n)
	}
	cutoff := time.Now().Add(time.Second)
	total := 0
	for {
		n, err := db.DeleteAuditLogsBefore(ctx, cutoff, 3)
		noErr(t, err, "DeleteAuditLogsBefore")
		if n > 3 {
			t.Fatalf("batch of %d, limit 3", n)
		}
		total += n
		if n < 3 {
			break
		}
	}
	if total != 7 {
		t.Fatalf("deleted %d, want 7", total)
	}
	if left := allEntries(t, db, store.AuditFilter{}); len(left) != 0 {
		t.Fatalf("%d entries left", len(left))
	}
}

func testAuditPullLog(t *testing.T, db *store.DB) {
	bob, err := db.CreateUser(t.Context(), store.NewUser{Username: "bob"})
	noErr(t, err, "CreateUser")
	img := image{repo: "bob/app", seed: "one", tags: []string{"v1"}}
	img.push(t, db)
	repo, err := db.Repository(t.Context(), "bob/app")
	noErr(t, err, "Repository")
	ctx := core.WithActor(t.Context(), core.Actor{Username: "bob", Kind: core.UserKindUser, Auth: "registry_token", IP: "198.51.100.1"})

	if p := db.NewPullLog(store.PullLogOptions{Mode: core.PullLogOff}); p != nil {
		t.Fatal("off mode returned a logger")
	}
	pulls := func() []core.AuditEntry {
		return allEntries(t, db, store.AuditFilter{RepositoryID: repo.ID, Kinds: []string{core.LogPullRepo}})
	}

	all := db.NewPullLog(store.PullLogOptions{Mode: core.PullLogAll, FlushInterval: time.Hour, BatchSize: 4})
	for i := 0; i < 10; i++ {
		all.Record(ctx, "bob/app", map[string]any{"tag": fmt.Sprint("v", i)})
	}
	all.Record(ctx, "bob/gone", map[string]any{"tag": "x"}) // no such repository
	all.Flush(t.Context())
	got := pulls()
	if len(got) != 10 {
		t.Fatalf("%d pull entries, want 10", len(got))
	}
	if e := got[0]; e.PerformerID != bob.ID || e.IP != "198.51.100.1" || e.Repository != "app" || e.Namespace != "bob" || e.Metadata["tag"] == nil {
		t.Fatalf("pull entry %+v", e)
	}
	all.Close()
	all.Record(ctx, "bob/app", nil) // after Close: queued, never written, no panic

	none := db.NewPullLog(store.PullLogOptions{Mode: core.PullLogSampled, SampleRate: 0})
	for i := 0; i < 20; i++ {
		none.Record(ctx, "bob/app", nil)
	}
	none.Close()
	if n := len(pulls()); n != 10 {
		t.Fatalf("sampled at rate 0 wrote %d entries", n-10)
	}
	every := db.NewPullLog(store.PullLogOptions{Mode: core.PullLogSampled, SampleRate: 1})
	for i := 0; i < 5; i++ {
		every.Record(ctx, "bob/app", nil)
	}
	every.Close()
	if n := len(pulls()); n != 15 {
		t.Fatalf("sampled at rate 1: %d entries, want 15", n)
	}

	// A full buffer drops pulls and counts them; nothing is lost silently.
	small := db.NewPullLog(store.PullLogOptions{Mode: core.PullLogAll, BufferSize: 1, BatchSize: 1, FlushInterval: time.Hour})
	const burst = 200
	for i := 0; i < burst; i++ {
		small.Record(ctx, "bob/app", nil)
	}
	small.Close()
	written := len(pulls()) - 15
	if int64(written)+small.Dropped() != burst || small.Dropped() == 0 {
		t.Fatalf("written %d + dropped %d != %d (or nothing dropped)", written, small.Dropped(), burst)
	}
	var nilLog *store.PullLog
	nilLog.Record(context.Background(), "bob/app", nil)
	nilLog.Flush(context.Background())
	nilLog.Close()
}
