package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/store/storetest"
)

func openSQLite(t *testing.T, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB {
		return openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	})
}

// Opening an existing database migrates nothing and keeps its data.
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "wharf.db")
	db, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("layer")
	if err := db.CommitBlob(ctx, "org/app", d, 5, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := 0; i < 2; i++ {
		db = openSQLite(t, path, store.Options{})
		if size, err := db.RepositoryBlob(ctx, "org/app", d); err != nil || size != 5 {
			t.Fatalf("reopen %d: RepositoryBlob = %d, %v", i, size, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenSQLiteBadPath(t *testing.T) {
	dir := t.TempDir()
	// The database path is a directory.
	if db, err := store.OpenSQLite(context.Background(), dir, store.Options{}); err == nil {
		db.Close()
		t.Fatal("opened a directory as a database")
	}
}

// Options.Now is the clock of every timestamp the store writes.
func TestInjectedClock(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	db := openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{Now: clock})

	r, err := db.EnsureRepository(ctx, "org/app")
	if err != nil {
		t.Fatal(err)
	}
	if !r.CreatedAt.Equal(clock()) {
		t.Fatalf("repository created at %v, want %v", r.CreatedAt, clock())
	}
	if err := db.CreateUpload(ctx, "org/app", "u-1"); err != nil {
		t.Fatal(err)
	}
	start := clock()
	advance(time.Hour)
	if err := db.CreateUpload(ctx, "org/app", "u-2"); err != nil {
		t.Fatal(err)
	}
	advance(time.Hour)
	if err := db.TouchUpload(ctx, "u-1"); err != nil {
		t.Fatal(err)
	}
	u, err := db.Upload(ctx, "org/app", "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if !u.CreatedAt.Equal(start) || !u.UpdatedAt.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("upload times %v %v", u.CreatedAt, u.UpdatedAt)
	}
	stale, err := db.StaleUploads(ctx, start.Add(90*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0] != "u-2" {
		t.Fatalf("StaleUploads = %q, want [u-2]", stale)
	}
	stale, err = db.StaleUploads(ctx, start.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Fatalf("StaleUploads before is exclusive, got %q", stale)
	}

	content := []byte(`{"schemaVersion":2}`)
	put := store.PutManifest{Repository: "org/app", Digest: digest.FromBytes(content), MediaType: oci.MediaTypeOCIManifest,
		Content: content, Tags: []string{"latest"}}
	if err := db.PutManifest(ctx, put); err != nil {
		t.Fatal(err)
	}
	m, err := db.Manifest(ctx, "org/app", oci.Reference{Tag: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.CreatedAt.Equal(clock()) {
		t.Fatalf("manifest created at %v, want %v", m.CreatedAt, clock())
	}
}

// After Close every call fails promptly instead of hanging.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Logf("second Close: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		var errs []error
		for i := 0; i < 50; i++ {
			if _, err := db.EnsureRepository(ctx, "org/app"); err == nil {
				errs = append(errs, errors.New("write succeeded after Close"))
			}
			if err := db.CreateUpload(ctx, "org/app", "u"); err == nil {
				errs = append(errs, errors.New("upload created after Close"))
			}
		}
		if _, err := db.Repository(ctx, "org/app"); err == nil {
			errs = append(errs, errors.New("read succeeded after Close"))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call on a closed database hangs")
	}
}

// A write whose context is already cancelled is not applied.
func TestCancelledWrite(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.EnsureRepository(ctx, "org/app"); !errors.Is(err, context.Canceled) {
		t.Fatalf("EnsureRepository with a cancelled context: %v", err)
	}
	if _, err := db.Repository(context.Background(), "org/app"); !core.IsCode(err, core.CodeNameUnknown) {
		t.Fatalf("the cancelled write was applied: %v", err)
	}
}
