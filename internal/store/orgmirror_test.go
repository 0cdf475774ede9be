package store_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// orgMirrorLifecycle covers an organization mirror: its configuration,
// the claims of its discoveries and the repositories it adopts.
func orgMirrorLifecycle(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, robot, existing := mirrorFixture(t, db)
	cfg := store.OrgMirrorConfig{IsEnabled: true, ExternalRegistry: "quay.io", ExternalNamespace: "team",
		RepositoryFilter: []string{"*"}, Repositories: []string{"app"}, UsernameEnc: "u-sealed", PasswordEnc: "p-sealed",
		RobotID: robot.ID, SyncInterval: 600, RuleValue: []string{"v*"}, ArchitectureFilter: []string{"amd64"},
		RegistryConfig: json.RawMessage(`{"verify_tls":true}`), DeleteObsoleteTags: true}
	if err := db.CreateOrgMirror(ctx, "owner", cfg); !core.IsCode(err, core.CodeInvalid) {
		t.Fatalf("organization mirror on a user namespace: %v", err)
	}
	if err := db.CreateOrgMirror(ctx, "missing", cfg); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("organization mirror on a missing namespace: %v", err)
	}
	if _, err := db.OrgMirror(ctx, "acme"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("OrgMirror before it exists: %v", err)
	}
	if err := db.CreateOrgMirror(ctx, "acme", cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateOrgMirror(ctx, "acme", cfg); !core.IsCode(err, core.CodeConflict) {
		t.Fatalf("second CreateOrgMirror: %v", err)
	}
	m, err := db.OrgMirror(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalRegistry != "quay.io" || m.ExternalNamespace != "team" || m.RobotUsername != "acme+sync" ||
		!slices.Equal(m.Repositories, []string{"app"}) || !slices.Equal(m.RuleValue, []string{"v*"}) || m.UsernameEnc != "u-sealed" ||
		!m.LastDiscovery.IsZero() || m.NextDiscovery.After(time.Now()) {
		t.Fatalf("round trip: %+v", m)
	}

	// Due at once, then one interval later.
	if n, err := db.ClaimDueOrgMirrors(ctx, 10); err != nil || n != 1 {
		t.Fatalf("claimed %d, %v; want 1", n, err)
	}
	if n, err := db.ClaimDueOrgMirrors(ctx, 10); err != nil || n != 0 {
		t.Fatalf("claimed %d again, %v", n, err)
	}

	// Adoption: acme/app (the fixture's) exists and is left alone.
	created, err := db.AdoptOrgMirrorRepositories(ctx, m.NamespaceID, []store.OrgMirrorRepo{
		{Name: "app", ExternalReference: "quay.io/team/app"},
		{Name: "tool", ExternalReference: "quay.io/team/tool"},
		{Name: "nested/lib", ExternalReference: "quay.io/team/nested/lib"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []string{"acme/tool", "acme/nested/lib"}) {
		t.Fatalf("created %v", created)
	}
	if _, err := db.Mirror(ctx, existing.FullName); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("the existing repository got a mirror: %v", err)
	}
	tool, err := db.Mirror(ctx, "acme/tool")
	if err != nil {
		t.Fatal(err)
	}
	if tool.RepositoryState != core.RepoStateMirror || tool.ExternalReference != "quay.io/team/tool" || !tool.IsEnabled ||
		tool.RobotID != robot.ID || tool.UsernameEnc != "u-sealed" || tool.PasswordEnc != "p-sealed" ||
		!slices.Equal(tool.ArchitectureFilter, []string{"amd64"}) || tool.SyncStatus != store.MirrorNeverRun ||
		tool.SyncStartDate.After(time.Now()) {
		t.Fatalf("adopted mirror: %+v", tool)
	}
	acc, err := db.RepositoryAccess(ctx, robot.ID, "acme/tool")
	if err != nil || acc.Role != core.RoleWrite {
		t.Fatalf("robot access to an adopted repository: %+v, %v", acc, err)
	}
	r, err := db.Repository(ctx, "acme/tool")
	if err != nil || r.Visibility != core.VisibilityPrivate {
		t.Fatalf("adopted repository: %+v, %v", r, err)
	}
	entries, _, err := db.AuditLogs(ctx, store.AuditFilter{RepositoryID: r.ID, Start: time.Now().Add(-time.Hour),
		End: time.Now().Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{core.LogAddRepoPermission, core.LogCreateRepo, core.LogRepoMirrorEnabled}) {
		t.Fatalf("audit of an adopted repository: %v", kinds)
	}
	// The repository mirrors it created are due at once.
	if n, err := db.ClaimDueMirrors(ctx, time.Hour, 10); err != nil || n != 2 {
		t.Fatalf("claimed %d repository mirrors, %v; want 2", n, err)
	}
	// Adopting again creates nothing.
	if again, err := db.AdoptOrgMirrorRepositories(ctx, m.NamespaceID, []store.OrgMirrorRepo{{Name: "tool", ExternalReference: "quay.io/team/tool"}}); err != nil || len(again) != 0 {
		t.Fatalf("adopting twice: %v, %v", again, err)
	}
	m, _ = db.OrgMirror(ctx, "acme")
	if m.RepositoriesCreated != 2 || m.LastDiscovery.IsZero() || m.LastError != "" {
		t.Fatalf("after adoption: %+v", m)
	}
	if err := db.OrgMirrorDiscoveryFailed(ctx, m.NamespaceID, "upstream down"); err != nil {
		t.Fatal(err)
	}
	if m, _ = db.OrgMirror(ctx, "acme"); m.LastError != "upstream down" {
		t.Fatalf("after a failed discovery: %+v", m)
	}

	// Disabled: nothing is claimed or adopted; sync-now is refused.
	cfg.IsEnabled = false
	if err := db.UpdateOrgMirror(ctx, "acme", cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.OrgMirrorSyncNow(ctx, "acme"); !core.IsCode(err, core.CodeInvalid) {
		t.Fatalf("sync-now of a disabled mirror: %v", err)
	}
	if got, err := db.AdoptOrgMirrorRepositories(ctx, m.NamespaceID, []store.OrgMirrorRepo{{Name: "new", ExternalReference: "quay.io/team/new"}}); err != nil || len(got) != 0 {
		t.Fatalf("a disabled mirror adopted %v, %v", got, err)
	}
	cfg.IsEnabled = true
	if err := db.UpdateOrgMirror(ctx, "acme", cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.OrgMirrorSyncNow(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// The organization's entries: create, two updates, sync-now.
	n, err := db.Namespace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	orgEntries, _, err := db.AuditLogs(ctx, store.AuditFilter{NamespaceID: n.ID, Start: time.Now().Add(-time.Hour),
		End: time.Now().Add(time.Hour), Limit: 1000, Kinds: []string{core.LogRepoMirrorConfigChanged, core.LogRepoMirrorSyncNowRequested}})
	if err != nil {
		t.Fatal(err)
	}
	orgLevel := 0
	for _, e := range orgEntries {
		if e.RepositoryID == 0 {
			orgLevel++
		}
	}
	if orgLevel != 4 {
		t.Fatalf("organization mirror audit entries: %d, want 4", orgLevel)
	}

	// Deleting the organization mirror keeps the repositories it created.
	if err := db.DeleteOrgMirror(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OrgMirror(ctx, "acme"); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := db.Mirror(ctx, "acme/tool"); err != nil {
		t.Fatalf("the adopted repository mirror went with the organization mirror: %v", err)
	}
	if got, err := db.AdoptOrgMirrorRepositories(ctx, m.NamespaceID, []store.OrgMirrorRepo{{Name: "new", ExternalReference: "quay.io/team/new"}}); err != nil || len(got) != 0 {
		t.Fatalf("a deleted mirror adopted %v, %v", got, err)
	}

	// The mirror goes with its organization.
	if err := db.CreateOrgMirror(ctx, "acme", cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOrganization(ctx, "acme"); err != nil {
		t.Fatalf("deleting an organization with a mirror: %v", err)
	}
	if _, err := db.OrgMirrorByID(ctx, m.NamespaceID); !core.IsCode(err, core.CodeNotFound) {
		t.Fatalf("the mirror of a deleted organization: %v", err)
	}
	if n, err := db.ClaimDueOrgMirrors(ctx, 10); err != nil || n != 0 {
		t.Fatalf("claimed %d, %v after the organization went", n, err)
	}
}
