package gc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/store"
)

// putBlob writes a blob's bytes and records it, as a finished upload does.
func putBlob(t *testing.T, db *store.DB, blobs *fs.Store, repo, id, content string) digest.Digest {
	t.Helper()
	ctx := t.Context()
	if err := blobs.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.Append(ctx, id, 0, bytes.NewReader([]byte(content)), 0); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString(content)
	if _, err := blobs.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if err := db.CommitBlob(ctx, repo, d, int64(len(content)), ""); err != nil {
		t.Fatal(err)
	}
	return d
}

// countingStore counts RunOnce's calls to CollectManifests.
type countingStore struct {
	*store.DB
	calls int
}

func (c *countingStore) CollectManifests(ctx context.Context, o store.GCOptions) (store.GCManifests, error) {
	c.calls++
	return c.DB.CollectManifests(ctx, o)
}

func TestCollectorDeletesBytesAndPauses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := fs.New(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	d := putBlob(t, db, blobs, "ns/repo", "upload-id-00000000000001", "an upload no manifest ever used")
	meta := &countingStore{DB: db}
	paused := true
	c := &Collector{Meta: meta, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Paused: func(context.Context) bool { return paused }}
	if rep, err := c.RunOnce(ctx); err != nil || rep != (Report{}) || meta.calls != 0 {
		t.Fatalf("paused: %+v %v, %d calls", rep, err, meta.calls)
	}
	if _, err := c.Full(ctx, false); err == nil {
		t.Fatal("a full pass ran while paused")
	}
	dry, err := c.Full(ctx, true)
	if err != nil || dry.Blobs != 1 || dry.BlobBytes != int64(len("an upload no manifest ever used")) {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if _, _, err := blobs.Open(ctx, d); err != nil {
		t.Fatalf("dry run deleted bytes: %v", err)
	}
	paused = false
	rep, err := c.RunOnce(ctx)
	if err != nil || rep.Blobs != 1 || rep.Links != 1 {
		t.Fatalf("run: %+v %v", rep, err)
	}
	if _, _, err := blobs.Open(ctx, d); err == nil {
		t.Fatal("bytes of a collected blob kept")
	}
	if ok, err := db.BlobExists(ctx, d); err != nil || ok {
		t.Fatalf("row of a collected blob: %v %v", ok, err)
	}
}

// reuploadStore records the blob again right after the collector's batch
// commits, as an identical upload finishing at that moment would.
type reuploadStore struct {
	*store.DB
	again func()
}

func (r *reuploadStore) CollectBlobs(ctx context.Context, o store.GCOptions) (store.GCBlobs, error) {
	b, err := r.DB.CollectBlobs(ctx, o)
	if err == nil && len(b.Blobs) > 0 {
		r.again()
	}
	return b, err
}

func TestCollectorKeepsBytesOfABlobRecordedAgain(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := fs.New(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	const content = "uploaded twice"
	d := putBlob(t, db, blobs, "ns/repo", "upload-id-00000000000001", content)
	meta := &reuploadStore{DB: db, again: func() {
		putBlob(t, db, blobs, "ns/other", "upload-id-00000000000002", content)
	}}
	c := &Collector{Meta: meta, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := c.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := blobs.Open(ctx, d); err != nil {
		t.Fatalf("bytes of a blob recorded again were deleted: %v", err)
	}
}
