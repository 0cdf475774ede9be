package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// mirrorSuites (repository and organization mirrors) run on SQLite and on
// PostgreSQL, each on a database of its
// own.
var mirrorSuites = []struct {
	name string
	run  func(*testing.T, *store.DB)
}{{"lifecycle", mirrorLifecycle}, {"audit", mirrorAudit}, {"org", orgMirrorLifecycle}}

func TestMirrorSQLite(t *testing.T) {
	for _, s := range mirrorSuites {
		t.Run(s.name, func(t *testing.T) { s.run(t, openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})) })
	}
}

func TestMirrorPostgres(t *testing.T) {
	srv := startPostgres(t)
	for _, s := range mirrorSuites {
		t.Run(s.name, func(t *testing.T) {
			dsn, err := srv.CreateDatabase(context.Background(), "mirror_"+s.name)
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s.run(t, db)
		})
	}
}

// mirrorFixture is an organization acme (owner "owner"), its robot
// acme+sync and the repository acme/app.
func mirrorFixture(t *testing.T, db *store.DB) (owner, robot core.User, repo core.Repository) {
	t.Helper()
	ctx := t.Context()
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "o@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", "", owner.ID); err != nil {
		t.Fatal(err)
	}
	if robot, err = db.CreateRobot(ctx, "acme", "sync", "sealed", "", ""); err != nil {
		t.Fatal(err)
	}
	if repo, err = db.CreateRepository(ctx, store.NewRepository{FullName: "acme/app", Visibility: core.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	return owner, robot, repo
}

// mirrorLifecycle covers a mirror configuration and the claims of its
// syncs: scheduling, sync-now, begin, retries, finish, cancel.
func mirrorLifecycle(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, robot, _ := mirrorFixture(t, db)
	const repo = "acme/app"
	if _, err := db.Mirror(ctx, repo); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("Mirror of a repository without one: %v", err)
	}
	if _, err := db.Mirror(ctx, "acme/none"); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("Mirror of a missing repository: %v", err)
	}
	start := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli())
	cfg := store.MirrorConfig{IsEnabled: true, ExternalReference: "quay.io/org/app", UsernameEnc: "u-sealed", PasswordEnc: "p-sealed",
		RobotID: robot.ID, SyncInterval: 600, SyncStartDate: start, RuleValue: []string{"v*", "latest"},
		ArchitectureFilter: []string{"amd64"}, RegistryConfig: json.RawMessage(`{"verify_tls":false}`), DeleteObsoleteTags: true}
	if err := db.CreateMirror(ctx, repo, cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateMirror(ctx, repo, cfg); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("second CreateMirror: %v", err)
	}
	m, err := db.Mirror(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalReference != cfg.ExternalReference || m.UsernameEnc != "u-sealed" || m.PasswordEnc != "p-sealed" ||
		m.RobotUsername != "acme+sync" || !m.SyncStartDate.Equal(start) || !slices.Equal(m.RuleValue, cfg.RuleValue) ||
		!slices.Equal(m.ArchitectureFilter, []string{"amd64"}) || string(m.RegistryConfig) != `{"verify_tls":false}` ||
		m.SyncStatus != store.MirrorNeverRun || m.SyncRetriesRemaining != store.MirrorMaxRetries || !m.DeleteObsoleteTags {
		t.Fatalf("mirror round trip: %+v", m)
	}

	// Not in state MIRROR: nothing is claimed, sync-now refused.
	if n, err := db.ClaimDueMirrors(ctx, time.Hour, 10); err != nil || n != 0 {
		t.Fatalf("claimed %d, %v for a NORMAL repository", n, err)
	}
	if err := db.MirrorSyncNow(ctx, repo, time.Hour); !core.IsCode(err, core.CodeInvalid) {
		t.Fatalf("sync-now of a NORMAL repository: %v", err)
	}
	st := core.RepoStateMirror
	if _, err := db.UpdateRepository(ctx, repo, store.RepositoryUpdate{State: &st}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.ClaimDueMirrors(ctx, time.Hour, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d, %v; want 1", n, err)
	}
	if n, err := db.ClaimDueMirrors(ctx, time.Hour, 10); err != nil || n != 0 {
		t.Fatalf("claimed %d again, %v", n, err)
	}
	m, _ = db.Mirror(ctx, repo)
	if m.SyncStatus != store.MirrorSyncing || m.SyncToken == "" || m.SyncExpirationDate.IsZero() {
		t.Fatalf("after the claim: %+v", m)
	}
	if err := db.MirrorSyncNow(ctx, repo, time.Hour); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("sync-now during a sync: %v", err)
	}
	token := m.SyncToken
	if _, ok, err := db.BeginMirrorSync(ctx, m.RepositoryID, "stale", time.Hour, true, func(store.Mirror) any { return nil }); err != nil || ok {
		t.Fatalf("a stale token began: %v, %v", ok, err)
	}
	got, ok, err := db.BeginMirrorSync(ctx, m.RepositoryID, token, time.Hour, true, func(store.Mirror) any { return map[string]any{} })
	if err != nil || !ok || got.LastSyncStart.IsZero() {
		t.Fatalf("begin: %+v, %v, %v", got, ok, err)
	}
	if held, err := db.MirrorSyncHeld(ctx, m.RepositoryID, token); err != nil || !held {
		t.Fatalf("held: %v, %v", held, err)
	}
	if left, err := db.MirrorAttemptFailed(ctx, m.RepositoryID, token, "upstream down"); err != nil || left != store.MirrorMaxRetries-1 {
		t.Fatalf("attempt failed: %d, %v", left, err)
	}
	if err := db.FinishMirrorSync(ctx, m.RepositoryID, token, store.MirrorResult{Status: store.MirrorSuccess, TagsSynced: 2, TagsFailed: 1}); err != nil {
		t.Fatal(err)
	}
	m, _ = db.Mirror(ctx, repo)
	if m.SyncStatus != store.MirrorSuccess || m.TagsSynced != 2 || m.TagsFailed != 1 || m.LastSyncEnd.IsZero() ||
		!m.SyncStartDate.After(time.Now()) || m.SyncStartDate.Sub(start)%(10*time.Minute) != 0 ||
		m.SyncRetriesRemaining != store.MirrorMaxRetries || m.SyncToken != "" {
		t.Fatalf("after finishing: %+v", m)
	}
	if held, _ := db.MirrorSyncHeld(ctx, m.RepositoryID, token); held {
		t.Fatal("a finished sync is still held")
	}
	if n, _ := db.ClaimDueMirrors(ctx, time.Hour, 10); n != 0 {
		t.Fatal("a mirror whose next sync is in the future was claimed")
	}

	// sync-now, then cancel: the sync's token no longer holds.
	if err := db.MirrorSyncNow(ctx, repo, time.Hour); err != nil {
		t.Fatal(err)
	}
	m, _ = db.Mirror(ctx, repo)
	if m.SyncStatus != store.MirrorSyncNow {
		t.Fatalf("after sync-now: %s", m.SyncStatus)
	}
	if err := db.MirrorSyncCancel(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if held, _ := db.MirrorSyncHeld(ctx, m.RepositoryID, m.SyncToken); held {
		t.Fatal("a cancelled sync is still held")
	}
	if _, ok, _ := db.BeginMirrorSync(ctx, m.RepositoryID, m.SyncToken, time.Hour, true, func(store.Mirror) any { return nil }); ok {
		t.Fatal("a cancelled sync began")
	}

	// Disabled mirrors are not claimed even when due.
	cfg.IsEnabled = false
	cfg.SyncStartDate = start
	if err := db.UpdateMirror(ctx, repo, cfg); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.ClaimDueMirrors(ctx, time.Hour, 10); n != 0 {
		t.Fatal("a disabled mirror was claimed")
	}
	if tags, err := db.CurrentTags(ctx, repo); err != nil || len(tags) != 0 {
		t.Fatalf("CurrentTags: %v, %v", tags, err)
	}
	// The configuration goes with its repository.
	if err := db.DeleteRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Mirror(ctx, repo); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("mirror of a deleted repository: %v", err)
	}
}

// mirrorAudit checks that every mirror action writes exactly its audit
// entries (Quay's repo_mirror_* kinds), with the performer of the change.
func mirrorAudit(t *testing.T, db *store.DB) {
	ctx := t.Context()
	owner, robot, r := mirrorFixture(t, db)
	const repo = "acme/app"
	actx := core.WithActor(ctx, core.Actor{UserID: owner.ID, Username: "owner", Kind: core.UserKindUser, Auth: "password"})
	// Entries of other changes (the repository's creation, its state)
	// are skipped.
	seen := 0
	skip := func() { seen = len(allMirrorEntries(ctx, t, db, r.ID)) }
	skip()
	// expect checks the entries written since the last call: their kinds
	// in order, and the changed/to metadata of config changes.
	expect := func(step string, want ...string) []core.AuditEntry {
		t.Helper()
		all := allMirrorEntries(ctx, t, db, r.ID)
		fresh := all[:len(all)-seen]
		seen = len(all)
		slices.Reverse(fresh) // oldest first
		var kinds []string
		for _, e := range fresh {
			k := e.Kind
			if c, ok := e.Metadata["changed"]; ok {
				k += fmt.Sprintf(" %v=%v", c, e.Metadata["to"])
			}
			kinds = append(kinds, k)
		}
		if !slices.Equal(kinds, want) {
			t.Fatalf("%s: audit entries %q, want %q", step, kinds, want)
		}
		return fresh
	}

	start := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli())
	cfg := store.MirrorConfig{IsEnabled: true, ExternalReference: "quay.io/org/app", UsernameEnc: "u-sealed", PasswordEnc: "p-sealed",
		RobotID: robot.ID, SyncInterval: 600, SyncStartDate: start, RuleValue: []string{"v*"},
		RegistryConfig: json.RawMessage(`{"verify_tls":true,"unsigned_images":false}`), DeleteObsoleteTags: true}
	if err := db.CreateMirror(actx, repo, cfg); err != nil {
		t.Fatal(err)
	}
	created := expect("create", core.LogRepoMirrorEnabled)
	if e := created[0]; e.PerformerName != "owner" || e.Metadata["external_reference"] != "quay.io/org/app" {
		t.Fatalf("create entry: %+v", e)
	}
	if err := db.CreateMirror(actx, repo, cfg); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("second create: %v", err)
	}
	expect("refused create")

	update := func(step string, mod func(*store.MirrorConfig), want ...string) {
		t.Helper()
		mod(&cfg)
		if err := db.UpdateMirror(actx, repo, cfg); err != nil {
			t.Fatal(err)
		}
		expect(step, want...)
	}
	update("no change", func(*store.MirrorConfig) {})
	update("interval", func(c *store.MirrorConfig) { c.SyncInterval = 900 },
		core.LogRepoMirrorConfigChanged+" sync_interval=900")
	update("disable", func(c *store.MirrorConfig) { c.IsEnabled = false }, core.LogRepoMirrorDisabled)
	update("enable", func(c *store.MirrorConfig) { c.IsEnabled = true }, core.LogRepoMirrorEnabled)
	update("reference", func(c *store.MirrorConfig) { c.ExternalReference = "quay.io/org/other" },
		core.LogRepoMirrorConfigChanged+" external_reference=quay.io/org/other")
	update("password", func(c *store.MirrorConfig) { c.PasswordEnc = "p2-sealed" },
		core.LogRepoMirrorConfigChanged+" external_registry_password=********")
	update("rule", func(c *store.MirrorConfig) { c.RuleValue = []string{"v*", "latest"} },
		core.LogRepoMirrorConfigChanged+" mirror_rule=[v* latest]")
	update("proxy", func(c *store.MirrorConfig) {
		c.RegistryConfig = json.RawMessage(`{"verify_tls":true,"unsigned_images":false,"proxy":{"https_proxy":"http://proxy:3128"}}`)
	}, core.LogRepoMirrorConfigChanged+" https_proxy=http://proxy:3128")
	update("verify_tls", func(c *store.MirrorConfig) {
		c.RegistryConfig = json.RawMessage(`{"verify_tls":false,"unsigned_images":false,"proxy":{"https_proxy":"http://proxy:3128"}}`)
	}, core.LogRepoMirrorConfigChanged+" verify_tls=false")
	update("two fields", func(c *store.MirrorConfig) { c.SyncInterval, c.DeleteObsoleteTags = 60, false },
		core.LogRepoMirrorConfigChanged+" sync_interval=60", core.LogRepoMirrorConfigChanged+" delete_obsolete_tags=false")
	update("credentials removed", func(c *store.MirrorConfig) { c.UsernameEnc, c.PasswordEnc = "", "" },
		core.LogRepoMirrorConfigChanged+" external_registry_username=<nil>",
		core.LogRepoMirrorConfigChanged+" external_registry_password=<nil>")
	for _, e := range allMirrorEntries(ctx, t, db, r.ID) {
		if strings.Contains(fmt.Sprint(e.Metadata), "sealed") {
			t.Fatalf("a sealed credential reached the audit log: %v", e.Metadata)
		}
	}

	// Sync-now, cancel, and a sync's start and end.
	st := core.RepoStateMirror
	if _, err := db.UpdateRepository(ctx, repo, store.RepositoryUpdate{State: &st}); err != nil {
		t.Fatal(err)
	}
	skip()
	if err := db.MirrorSyncNow(actx, repo, time.Hour); err != nil {
		t.Fatal(err)
	}
	expect("sync-now", core.LogRepoMirrorSyncNowRequested)
	if err := db.MirrorSyncCancel(actx, repo); err != nil {
		t.Fatal(err)
	}
	expect("cancel", core.LogRepoMirrorConfigChanged+" sync_status=SYNC_CANCEL")
	if err := db.MirrorSyncCancel(actx, repo); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("second cancel: %v", err)
	}
	expect("refused cancel")

	for _, tc := range []struct {
		status, kind string
	}{{store.MirrorSuccess, core.LogRepoMirrorSyncSuccess}, {store.MirrorFail, core.LogRepoMirrorSyncFailed}} {
		if err := db.MirrorSyncNow(actx, repo, time.Hour); err != nil {
			t.Fatal(err)
		}
		expect("sync-now", core.LogRepoMirrorSyncNowRequested)
		m, err := db.Mirror(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		data := func(store.Mirror) any {
			return map[string]any{"message": "'quay.io/org/other' with tag pattern 'v*,latest'"}
		}
		if _, ok, err := db.BeginMirrorSync(ctx, m.RepositoryID, m.SyncToken, time.Hour, true, data); err != nil || !ok {
			t.Fatalf("begin: %v, %v", ok, err)
		}
		started := expect("begin", core.LogRepoMirrorSyncStarted)
		if started[0].Metadata["message"] == nil || started[0].PerformerName != "" {
			t.Fatalf("sync started entry: %+v", started[0])
		}
		// A retry resumes the sync: no second start.
		if _, ok, err := db.BeginMirrorSync(ctx, m.RepositoryID, m.SyncToken, time.Hour, false, data); err != nil || !ok {
			t.Fatalf("resume: %v, %v", ok, err)
		}
		expect("resume")
		res := store.MirrorResult{Status: tc.status, Data: map[string]any{"tags": []string{"v1"}}}
		if err := db.FinishMirrorSync(ctx, m.RepositoryID, m.SyncToken, res); err != nil {
			t.Fatal(err)
		}
		end := expect("finish", tc.kind)
		if end[0].Metadata["tags"] == nil {
			t.Fatalf("sync end entry: %+v", end[0])
		}
		// A stale token finishes nothing and logs nothing.
		if err := db.FinishMirrorSync(ctx, m.RepositoryID, m.SyncToken, res); err != nil {
			t.Fatal(err)
		}
		expect("stale finish")
	}
}

func allMirrorEntries(ctx context.Context, t *testing.T, db *store.DB, repoID int64) []core.AuditEntry {
	t.Helper()
	all, _, err := db.AuditLogs(ctx, store.AuditFilter{RepositoryID: repoID, Start: time.Now().Add(-time.Hour),
		End: time.Now().Add(time.Hour), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
