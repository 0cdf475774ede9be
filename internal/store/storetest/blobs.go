package storetest

import (
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func wantBlob(t *testing.T, db *store.DB, repo string, d digest.Digest, size int64) {
	t.Helper()
	got, err := db.RepositoryBlob(t.Context(), repo, d)
	noErr(t, err, "RepositoryBlob "+repo)
	if got != size {
		t.Fatalf("RepositoryBlob(%s, %s) = %d, want %d", repo, d, got, size)
	}
}

func wantNoBlob(t *testing.T, db *store.DB, repo string, d digest.Digest) {
	t.Helper()
	_, err := db.RepositoryBlob(t.Context(), repo, d)
	wantCode(t, err, core.CodeBlobUnknown)
}

func testCommitBlob(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := digest.FromString("hello")
	wantNoBlob(t, db, "org/a", d)

	noErr(t, db.CommitBlob(ctx, "org/a", d, 5, ""), "CommitBlob")
	wantBlob(t, db, "org/a", d, 5)
	if _, err := db.Repository(ctx, "org/a"); err != nil {
		t.Fatalf("CommitBlob did not create the repository: %v", err)
	}
	// Blobs are per repository.
	wantNoBlob(t, db, "org/b", d)
	wantNoBlob(t, db, "org/a", digest.FromString("other"))

	// Committing again, in the same or another repository, is fine.
	noErr(t, db.CommitBlob(ctx, "org/a", d, 5, ""), "CommitBlob again")
	noErr(t, db.CommitBlob(ctx, "org/b", d, 5, ""), "CommitBlob other repository")
	wantBlob(t, db, "org/b", d, 5)

	// An empty blob.
	e := digest.FromString("")
	noErr(t, db.CommitBlob(ctx, "org/a", e, 0, ""), "CommitBlob empty")
	wantBlob(t, db, "org/a", e, 0)

	// A sha512 blob.
	d512 := digest.SHA512.FromString("hello")
	noErr(t, db.CommitBlob(ctx, "org/a", d512, 5, ""), "CommitBlob sha512")
	wantBlob(t, db, "org/a", d512, 5)
}

func testCommitBlobEndsUpload(t *testing.T, db *store.DB) {
	ctx := t.Context()
	noErr(t, db.CreateUpload(ctx, "org/a", "upload-one"), "CreateUpload")
	noErr(t, db.CreateUpload(ctx, "org/a", "upload-two"), "CreateUpload")
	d := digest.FromString("x")
	noErr(t, db.CommitBlob(ctx, "org/a", d, 1, "upload-one"), "CommitBlob")
	_, err := db.Upload(ctx, "org/a", "upload-one")
	wantCode(t, err, core.CodeBlobUploadUnknown)
	if _, err := db.Upload(ctx, "org/a", "upload-two"); err != nil {
		t.Fatalf("another upload ended too: %v", err)
	}
	wantBlob(t, db, "org/a", d, 1)
	// Ending an upload that is already gone is not an error.
	noErr(t, db.CommitBlob(ctx, "org/a", d, 1, "upload-one"), "CommitBlob with ended upload")
}

func testCommitBlobInvalidRepo(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := digest.FromString("x")
	wantCode(t, db.CommitBlob(ctx, "Bad/Name", d, 1, ""), core.CodeNameInvalid)
	noErr(t, db.CommitBlob(ctx, "org/a", d, 1, ""), "CommitBlob")
	_, err := db.MountBlob(ctx, "Bad/Name", "org/a", d, nil)
	wantCode(t, err, core.CodeNameInvalid)
	_, err = db.MountBlob(ctx, "Bad/Name", "", d, nil)
	wantCode(t, err, core.CodeNameInvalid)
}

func testMountFrom(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := blob(t, db, "org/src", "shared layer")
	size := int64(len("shared layer"))

	n, err := db.MountBlob(ctx, "org/dst", "org/src", d, nil)
	noErr(t, err, "MountBlob")
	if n != size {
		t.Fatalf("MountBlob size = %d, want %d", n, size)
	}
	wantBlob(t, db, "org/dst", d, size)
	if _, err := db.Repository(ctx, "org/dst"); err != nil {
		t.Fatalf("mount did not create the target repository: %v", err)
	}
	// Mounting again is fine.
	_, err = db.MountBlob(ctx, "org/dst", "org/src", d, nil)
	noErr(t, err, "MountBlob again")

	// A source that does not hold the blob, or does not exist.
	_, err = db.MountBlob(ctx, "org/third", "org/empty", d, nil)
	wantCode(t, err, core.CodeBlobUnknown)
	_, err = db.EnsureRepository(ctx, "org/empty")
	noErr(t, err, "EnsureRepository")
	_, err = db.MountBlob(ctx, "org/third", "org/empty", d, nil)
	wantCode(t, err, core.CodeBlobUnknown)
	wantNoBlob(t, db, "org/third", d)
	if _, err := db.Repository(ctx, "org/third"); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("a failed mount created the target repository: %v", err)
	}
	// A digest nobody holds.
	_, err = db.MountBlob(ctx, "org/dst", "org/src", digest.FromString("nope"), nil)
	wantCode(t, err, core.CodeBlobUnknown)

	// canRead is consulted for an explicit source too.
	_, err = db.MountBlob(ctx, "org/fourth", "org/src", d, func(string) bool { return false })
	wantCode(t, err, core.CodeBlobUnknown)
	wantNoBlob(t, db, "org/fourth", d)
}

func testMountAny(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := blob(t, db, "org/src", "layer")
	n, err := db.MountBlob(ctx, "other/dst", "", d, nil)
	noErr(t, err, "MountBlob without from")
	if n != int64(len("layer")) {
		t.Fatalf("size = %d", n)
	}
	wantBlob(t, db, "other/dst", d, n)

	_, err = db.MountBlob(ctx, "other/dst2", "", digest.FromString("nope"), nil)
	wantCode(t, err, core.CodeBlobUnknown)
}

func testMountDenied(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := blob(t, db, "secret/a", "layer")
	blob(t, db, "public/b", "layer")
	blob(t, db, "secret/c", "layer")

	var asked []string
	_, err := db.MountBlob(ctx, "org/dst", "", d, func(repo string) bool {
		asked = append(asked, repo)
		return false
	})
	wantCode(t, err, core.CodeBlobUnknown)
	wantNoBlob(t, db, "org/dst", d)
	if len(asked) != 3 {
		t.Fatalf("canRead asked about %q, want all three holders", asked)
	}

	// Only the readable repository is used.
	var used []string
	_, err = db.MountBlob(ctx, "org/dst", "", d, func(repo string) bool {
		used = append(used, repo)
		return repo == "public/b"
	})
	noErr(t, err, "MountBlob with canRead")
	wantBlob(t, db, "org/dst", d, int64(len("layer")))
	for _, r := range used {
		if r == "org/dst" {
			t.Fatalf("canRead was asked about the target")
		}
	}
}

func testUnlinkBlob(t *testing.T, db *store.DB) {
	ctx := t.Context()
	d := blob(t, db, "org/a", "layer")
	blob(t, db, "org/b", "layer")

	noErr(t, db.UnlinkBlob(ctx, "org/a", d), "UnlinkBlob")
	wantNoBlob(t, db, "org/a", d)
	wantBlob(t, db, "org/b", d, 5)

	wantCode(t, db.UnlinkBlob(ctx, "org/a", d), core.CodeBlobUnknown)
	wantCode(t, db.UnlinkBlob(ctx, "org/none", d), core.CodeBlobUnknown)
	wantCode(t, db.UnlinkBlob(ctx, "org/b", digest.FromString("nope")), core.CodeBlobUnknown)

	// The blob can be linked again, by commit or by mount.
	noErr(t, db.CommitBlob(ctx, "org/a", d, 5, ""), "CommitBlob after unlink")
	wantBlob(t, db, "org/a", d, 5)
	noErr(t, db.UnlinkBlob(ctx, "org/a", d), "UnlinkBlob")
	_, err := db.MountBlob(ctx, "org/a", "org/b", d, nil)
	noErr(t, err, "MountBlob after unlink")
	wantBlob(t, db, "org/a", d, 5)
}
