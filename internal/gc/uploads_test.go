package gc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/blob/fs"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

func TestUploadExpiryAndOrphans(t *testing.T) {
	ctx := context.Background()
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
	// A recorded idle session, a recorded fresh one, and bytes without a row
	// (what a crash mid monolithic upload leaves).
	for _, id := range []string{"idle-session-0000000001", "fresh-session-000000001", "orphan-session-00000001"} {
		if err := blobs.StartUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, id, 0, bytes.NewReader([]byte("data")), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUpload(ctx, "ns/repo", "idle-session-0000000001"); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUpload(ctx, "ns/repo", "fresh-session-000000001"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e := &UploadExpirer{Meta: db, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxIdle: time.Hour,
		Now: func() time.Time { return now }}

	// Nothing is old yet.
	if n, err := e.RunOnce(ctx, 10); err != nil || n != 0 {
		t.Fatalf("RunOnce now = %d, %v", n, err)
	}
	if n, err := e.SweepOrphans(ctx); err != nil || n != 0 {
		t.Fatalf("SweepOrphans now = %d, %v", n, err)
	}

	// Two hours later: both recorded sessions are idle, the orphan is old.
	now = now.Add(2 * time.Hour)
	if n, err := e.RunOnce(ctx, 10); err != nil || n != 2 {
		t.Fatalf("RunOnce later = %d, %v", n, err)
	}
	if n, err := e.SweepOrphans(ctx); err != nil || n != 1 {
		t.Fatalf("SweepOrphans later = %d, %v", n, err)
	}
	for _, id := range []string{"idle-session-0000000001", "fresh-session-000000001", "orphan-session-00000001"} {
		if _, err := blobs.UploadSize(ctx, id); !core.IsCode(err, core.CodeBlobUploadUnknown) {
			t.Errorf("session %s still has bytes: %v", id, err)
		}
		if ok, err := db.UploadExists(ctx, id); err != nil || ok {
			t.Errorf("session %s still recorded: %v %v", id, ok, err)
		}
	}
}

func TestDeletedRepositoryRemovesUploadBytes(t *testing.T) {
	ctx := context.Background()
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
	// A session of the deleted repository, and one the database still knows.
	for _, id := range []string{"deleted-repo-session-001", "live-repo-session-000001"} {
		if err := blobs.StartUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Append(ctx, id, 0, bytes.NewReader([]byte("data")), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUpload(ctx, "ns/live", "live-repo-session-000001"); err != nil {
		t.Fatal(err)
	}
	e := &UploadExpirer{Meta: db, Blobs: blobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxIdle: time.Hour, Now: time.Now}
	for i := 0; i < 2; i++ { // a retried job finds nothing left to do
		if err := e.DeletedRepository(ctx, "ns/deleted", []string{"deleted-repo-session-001", "live-repo-session-000001"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := blobs.UploadSize(ctx, "deleted-repo-session-001"); !core.IsCode(err, core.CodeBlobUploadUnknown) {
		t.Errorf("the deleted repository's session still has bytes: %v", err)
	}
	if n, err := blobs.UploadSize(ctx, "live-repo-session-000001"); err != nil || n != 4 {
		t.Errorf("a recorded session lost its bytes: %d, %v", n, err)
	}
	if err := e.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}
