package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func TestMirrorSQLite(t *testing.T) {
	mirrorLifecycle(t, openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{}))
}

func TestMirrorPostgres(t *testing.T) {
	srv := startPostgres(t)
	dsn, err := srv.CreateDatabase(context.Background(), "mirror")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mirrorLifecycle(t, db)
}

// mirrorLifecycle covers a mirror configuration and the claims of its
// syncs: scheduling, sync-now, begin, retries, finish, cancel.
func mirrorLifecycle(t *testing.T, db *store.DB) {
	ctx := t.Context()
	owner, err := db.CreateUser(ctx, store.NewUser{Username: "owner", Email: "o@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", "", owner.ID); err != nil {
		t.Fatal(err)
	}
	robot, err := db.CreateRobot(ctx, "acme", "sync", "sealed", "", "")
	if err != nil {
		t.Fatal(err)
	}
	const repo = "acme/app"
	if _, err := db.CreateRepository(ctx, store.NewRepository{FullName: repo, Visibility: core.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
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
