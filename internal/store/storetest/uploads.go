package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func testUploadLifecycle(t *testing.T, db *store.DB) {
	ctx := t.Context()
	_, err := db.Upload(ctx, "org/a", "u-0001")
	wantCode(t, err, core.CodeBlobUploadUnknown)

	before := time.Now().Add(-time.Minute)
	noErr(t, db.CreateUpload(ctx, "org/a", "u-0001"), "CreateUpload")
	repo, err := db.Repository(ctx, "org/a")
	noErr(t, err, "CreateUpload did not create the repository")

	u, err := db.Upload(ctx, "org/a", "u-0001")
	noErr(t, err, "Upload")
	if u.ID != "u-0001" || u.Repository != "org/a" || u.RepositoryID != repo.ID {
		t.Fatalf("got %+v, repository id %d", u, repo.ID)
	}
	if u.CreatedAt.Before(before) || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Fatalf("times: created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}

	time.Sleep(5 * time.Millisecond)
	noErr(t, db.TouchUpload(ctx, "u-0001"), "TouchUpload")
	u2, err := db.Upload(ctx, "org/a", "u-0001")
	noErr(t, err, "Upload after touch")
	if !u2.UpdatedAt.After(u.UpdatedAt) || !u2.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("touch: created %v -> %v, updated %v -> %v", u.CreatedAt, u2.CreatedAt, u.UpdatedAt, u2.UpdatedAt)
	}
	// Touching a missing upload is not an error.
	noErr(t, db.TouchUpload(ctx, "u-missing"), "TouchUpload missing")

	noErr(t, db.DeleteUpload(ctx, "u-0001"), "DeleteUpload")
	_, err = db.Upload(ctx, "org/a", "u-0001")
	wantCode(t, err, core.CodeBlobUploadUnknown)
	noErr(t, db.DeleteUpload(ctx, "u-0001"), "DeleteUpload again")

	wantCode(t, db.CreateUpload(ctx, "Not/Valid", "u-0002"), core.CodeNameInvalid)
	_, err = db.Upload(ctx, "Not/Valid", "u-0002")
	wantCode(t, err, core.CodeBlobUploadUnknown)
}

func testUploadWrongRepo(t *testing.T, db *store.DB) {
	ctx := t.Context()
	noErr(t, db.CreateUpload(ctx, "org/a", "u-a"), "CreateUpload")
	_, err := db.EnsureRepository(ctx, "org/b")
	noErr(t, err, "EnsureRepository")
	for _, repo := range []string{"org/b", "org/none", "org", "org/a/b", "ORG/A"} {
		_, err := db.Upload(ctx, repo, "u-a")
		wantCode(t, err, core.CodeBlobUploadUnknown)
	}
	if _, err := db.Upload(ctx, "org/a", "u-a"); err != nil {
		t.Fatalf("Upload in its own repository: %v", err)
	}
}

func testUploadDuplicate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	noErr(t, db.CreateUpload(ctx, "org/a", "u-dup"), "CreateUpload")
	if err := db.CreateUpload(ctx, "org/b", "u-dup"); err == nil {
		t.Fatal("a second upload with the same id was created")
	}
	u, err := db.Upload(ctx, "org/a", "u-dup")
	noErr(t, err, "Upload")
	if u.Repository != "org/a" {
		t.Fatalf("upload moved to %s", u.Repository)
	}
	_, err = db.Upload(ctx, "org/b", "u-dup")
	wantCode(t, err, core.CodeBlobUploadUnknown)
}

func testStaleUploads(t *testing.T, db *store.DB) {
	ctx := t.Context()
	noErr(t, db.CreateUpload(ctx, "org/a", "u-old"), "CreateUpload")
	noErr(t, db.CreateUpload(ctx, "org/b", "u-touched"), "CreateUpload")
	time.Sleep(10 * time.Millisecond)
	mark := time.Now()
	time.Sleep(10 * time.Millisecond)
	noErr(t, db.CreateUpload(ctx, "org/a", "u-new"), "CreateUpload")
	noErr(t, db.TouchUpload(ctx, "u-touched"), "TouchUpload")

	stale, err := db.StaleUploads(ctx, mark, 100)
	noErr(t, err, "StaleUploads")
	if !slices.Equal(stale, []string{"u-old"}) {
		t.Fatalf("StaleUploads(mark) = %q, want [u-old]", stale)
	}
	all, err := db.StaleUploads(ctx, time.Now().Add(time.Hour), 100)
	noErr(t, err, "StaleUploads")
	slices.Sort(all)
	if !slices.Equal(all, []string{"u-new", "u-old", "u-touched"}) {
		t.Fatalf("StaleUploads(future) = %q", all)
	}
	// Oldest first, bounded by limit.
	one, err := db.StaleUploads(ctx, time.Now().Add(time.Hour), 1)
	noErr(t, err, "StaleUploads limit 1")
	if !slices.Equal(one, []string{"u-old"}) {
		t.Fatalf("StaleUploads(limit 1) = %q, want the oldest", one)
	}
	none, err := db.StaleUploads(ctx, time.Now().Add(-time.Hour), 100)
	noErr(t, err, "StaleUploads past")
	if len(none) != 0 {
		t.Fatalf("StaleUploads(past) = %q", none)
	}
	noErr(t, db.DeleteUpload(ctx, "u-old"), "DeleteUpload")
	stale, err = db.StaleUploads(ctx, mark, 100)
	noErr(t, err, "StaleUploads after delete")
	if len(stale) != 0 {
		t.Fatalf("deleted upload still listed: %q", stale)
	}
}
