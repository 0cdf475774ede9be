package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// overviewTests cover the registry-wide summaries of the superuser panel.
var overviewTests = []struct {
	name string
	fn   func(t *testing.T, db *store.DB)
}{
	{"OverviewSummaries", testOverviewSummaries},
	{"OverviewDeleteUserSessions", testDeleteUserSessions},
}

func testOverviewSummaries(t *testing.T, db *store.DB) {
	ctx := t.Context()
	s, err := db.StorageSummary(ctx)
	noErr(t, err, "StorageSummary (empty)")
	if s != (store.StorageSummary{}) {
		t.Fatalf("empty registry: %+v", s)
	}
	u, err := db.CreateUser(ctx, store.NewUser{Username: "zed", Email: "zed@example.com"})
	noErr(t, err, "CreateUser")
	_, err = db.CreateOrganization(ctx, "acme", "ops@acme.test", u.ID)
	noErr(t, err, "CreateOrganization")
	_, err = db.CreateQuota(ctx, "acme", 1000)
	noErr(t, err, "CreateQuota")
	cfg := blob(t, db, "acme/a", strings.Repeat("c", 10))
	layer := blob(t, db, "acme/a", strings.Repeat("l", 40))
	noErr(t, db.PutManifest(ctx, image{repo: "acme/a", seed: "1", tags: []string{"x", "y"}}.buildWith(t, cfg, layer)), "push")
	noErr(t, db.DeleteTag(ctx, "acme/a", "y"), "DeleteTag")

	all, err := db.NamespaceSummaries(ctx, "")
	noErr(t, err, "NamespaceSummaries")
	if len(all) != 2 || all[0].Name != "acme" || all[1].Name != "zed" {
		t.Fatalf("summaries %+v", all)
	}
	acme := all[0]
	if acme.Kind != core.NamespaceOrg || acme.Email != "ops@acme.test" || acme.Repositories != 1 || acme.UsageBytes != 50 ||
		acme.QuotaBytes != 1000 || acme.CreatedAt.IsZero() {
		t.Fatalf("acme %+v", acme)
	}
	if z := all[1]; z.Kind != core.NamespaceUser || z.Repositories != 0 || z.UsageBytes != 0 || z.QuotaBytes != 0 {
		t.Fatalf("zed %+v", z)
	}
	orgs, err := db.NamespaceSummaries(ctx, core.NamespaceOrg)
	noErr(t, err, "NamespaceSummaries(org)")
	if len(orgs) != 1 || orgs[0].Name != "acme" {
		t.Fatalf("organizations %+v", orgs)
	}

	s, err = db.StorageSummary(ctx)
	noErr(t, err, "StorageSummary")
	if s.Blobs < 2 || s.BlobBytes < 50 || s.Repositories != 1 || s.Manifests != 1 || s.Tags != 1 {
		t.Fatalf("storage %+v", s)
	}
}

func testDeleteUserSessions(t *testing.T, db *store.DB) {
	ctx := t.Context()
	u, err := db.CreateUser(ctx, store.NewUser{Username: "alice"})
	noErr(t, err, "CreateUser")
	other, err := db.CreateUser(ctx, store.NewUser{Username: "bob"})
	noErr(t, err, "CreateUser")
	later := time.Now().Add(time.Hour)
	noErr(t, db.CreateSession(ctx, "h1", u.ID, "c1", later), "CreateSession")
	noErr(t, db.CreateSession(ctx, "h2", u.ID, "c2", later), "CreateSession")
	noErr(t, db.CreateSession(ctx, "h3", other.ID, "c3", later), "CreateSession")
	noErr(t, db.DeleteUserSessions(ctx, u.ID), "DeleteUserSessions")
	for _, h := range []string{"h1", "h2"} {
		_, err := db.SessionByHash(ctx, h)
		wantCode(t, err, core.CodeNotFound)
	}
	_, err = db.SessionByHash(ctx, "h3")
	noErr(t, err, "another user's session")
}
