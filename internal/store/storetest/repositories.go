package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func testEnsureRepository(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.Repository(ctx, "org/app")
	wantCode(t, err, core.CodeNameUnknown)

	before := time.Now().Add(-time.Minute)
	r, err := db.EnsureRepository(ctx, "org/app")
	noErr(t, err, "EnsureRepository")
	if r.ID == 0 || r.FullName != "org/app" || r.Namespace != "org" || r.Name != "app" {
		t.Fatalf("got %+v", r)
	}
	if r.Visibility != core.VisibilityPrivate || r.State != core.RepoStateNormal || r.Description != "" {
		t.Fatalf("defaults: %+v", r)
	}
	if r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("CreatedAt %v is not now", r.CreatedAt)
	}

	again, err := db.EnsureRepository(ctx, "org/app")
	noErr(t, err, "EnsureRepository again")
	if again != r {
		t.Fatalf("second ensure returned %+v, want %+v", again, r)
	}
	got, err := db.Repository(ctx, "org/app")
	noErr(t, err, "Repository")
	if got != r {
		t.Fatalf("Repository = %+v, want %+v", got, r)
	}

	// A one-component name lives in the library namespace; deeper paths keep
	// everything after the first component as the repository name.
	lib, err := db.EnsureRepository(ctx, "busybox")
	noErr(t, err, "EnsureRepository busybox")
	if lib.Namespace != "library" || lib.Name != "busybox" || lib.FullName != "busybox" {
		t.Fatalf("got %+v", lib)
	}
	deep, err := db.EnsureRepository(ctx, "org/team/sub/app")
	noErr(t, err, "EnsureRepository deep")
	if deep.Namespace != "org" || deep.Name != "team/sub/app" || deep.ID == r.ID {
		t.Fatalf("got %+v", deep)
	}
	// Names are case-sensitive and exact: a prefix is another repository.
	_, err = db.Repository(ctx, "org/ap")
	wantCode(t, err, core.CodeNameUnknown)
	_, err = db.Repository(ctx, "org/team")
	wantCode(t, err, core.CodeNameUnknown)
}

func testEnsureRepositoryInvalid(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, name := range []string{"", "Org/app", "org//app", "org/app/", "-x", "a b"} {
		_, err := db.EnsureRepository(ctx, name)
		wantCode(t, err, core.CodeNameInvalid)
		_, err = db.Repository(ctx, name)
		wantCode(t, err, core.CodeNameUnknown)
	}
	names, err := db.Catalog(ctx, "", 0)
	noErr(t, err, "Catalog")
	if len(names) != 0 {
		t.Fatalf("invalid names created repositories: %q", names)
	}
}

// catalogNames differ in the characters whose byte order differs from many
// collations: '-' < '.' < '/' < digits < '_' < letters.
var catalogNames = []string{
	"a_b", "aa", "a0", "a/b", "a.b", "a-b", "a", "b", "library/x", "z/z/z", "a/b/c", "a--b", "a__b",
}

func testCatalogOrder(t *testing.T, db *store.DB) {
	ctx := t.Context()
	for _, n := range catalogNames {
		_, err := db.EnsureRepository(ctx, n)
		noErr(t, err, "EnsureRepository "+n)
	}
	want := slices.Clone(catalogNames)
	slices.Sort(want) // Go compares strings bytewise
	got, err := db.Catalog(ctx, "", 0)
	noErr(t, err, "Catalog")
	if !slices.Equal(got, want) {
		t.Fatalf("Catalog = %q\nwant (byte order) %q", got, want)
	}
	got, err = db.Catalog(ctx, "", -1)
	noErr(t, err, "Catalog n=-1")
	if !slices.Equal(got, want) {
		t.Fatalf("Catalog(n=-1) = %q, want all", got)
	}
}

func testCatalogPagination(t *testing.T, db *store.DB) {
	ctx := t.Context()
	empty, err := db.Catalog(ctx, "", 10)
	noErr(t, err, "Catalog on empty store")
	if len(empty) != 0 {
		t.Fatalf("empty store lists %q", empty)
	}
	for _, n := range catalogNames {
		_, err := db.EnsureRepository(ctx, n)
		noErr(t, err, "EnsureRepository "+n)
	}
	want := slices.Clone(catalogNames)
	slices.Sort(want)

	for _, size := range []int{1, 2, 3, 5, len(want), len(want) + 1} {
		var all []string
		last := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("n=%d: pagination does not end", size)
			}
			page, err := db.Catalog(ctx, last, size)
			noErr(t, err, "Catalog page")
			if len(page) > size {
				t.Fatalf("n=%d: page of %d", size, len(page))
			}
			all = append(all, page...)
			if len(page) < size {
				break
			}
			last = page[len(page)-1]
		}
		if !slices.Equal(all, want) {
			t.Fatalf("n=%d: pages = %q, want %q", size, all, want)
		}
	}

	// last need not be a repository name.
	got, err := db.Catalog(ctx, "a1", 2)
	noErr(t, err, "Catalog last=a1")
	if !slices.Equal(got, []string{"a__b", "a_b"}) {
		t.Fatalf("Catalog(last=a1, 2) = %q", got)
	}
	got, err = db.Catalog(ctx, "zzz", 0)
	noErr(t, err, "Catalog after the end")
	if len(got) != 0 {
		t.Fatalf("Catalog(last=zzz) = %q", got)
	}
}
