package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/store"
)

// TestLoginAttempts runs the failed-login counters on SQLite and on a real
// PostgreSQL server.
func TestLoginAttempts(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testLoginAttempts(t, openSQLite(t, filepath.Join(t.TempDir(), "wharf.db"), store.Options{}))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testLoginAttempts(t, openPostgresDB(t, startPostgres(t), "attempts"))
	})
}

func testLoginAttempts(t *testing.T, db *store.DB) {
	ctx := context.Background()
	const w = 5 * time.Minute
	t0 := time.UnixMilli(1_800_000_000_000).Truncate(w)
	get := func(key string) store.LoginAttempts {
		t.Helper()
		m, err := db.LoginAttempts(ctx, []string{key, "unrelated"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m["unrelated"]; ok {
			t.Fatal("a key without failures has a row")
		}
		return m[key]
	}
	record := func(start time.Time, keys ...string) {
		t.Helper()
		if err := db.RecordLoginFailure(ctx, keys, start, w); err != nil {
			t.Fatal(err)
		}
	}

	record(t0, "account:alice", "address:10.0.0.1")
	record(t0, "account:alice", "account:alice") // duplicates count once
	if a := get("account:alice"); a.Failures != 2 || a.PrevFailures != 0 || !a.WindowStart.Equal(t0) {
		t.Fatalf("after two failures: %+v", a)
	}
	// The next window carries the count over as PrevFailures.
	record(t0.Add(w), "account:alice")
	if a := get("account:alice"); a.Failures != 1 || a.PrevFailures != 2 || !a.WindowStart.Equal(t0.Add(w)) {
		t.Fatalf("next window: %+v", a)
	}
	// A replica whose clock lags counts into the newer window.
	record(t0, "account:alice")
	if a := get("account:alice"); a.Failures != 2 || a.PrevFailures != 2 || !a.WindowStart.Equal(t0.Add(w)) {
		t.Fatalf("lagging clock: %+v", a)
	}
	// After a gap of more than a window, counting starts over.
	record(t0.Add(3*w), "account:alice")
	if a := get("account:alice"); a.Failures != 1 || a.PrevFailures != 0 {
		t.Fatalf("after a gap: %+v", a)
	}
	if err := db.ResetLoginAttempts(ctx, "account:alice"); err != nil {
		t.Fatal(err)
	}
	if a := get("account:alice"); a.Failures != 0 {
		t.Fatalf("after reset: %+v", a)
	}
	// Pruning drops rows of old windows only.
	record(t0.Add(3*w), "account:bob")
	if err := db.PruneLoginAttempts(ctx, t0.Add(w)); err != nil {
		t.Fatal(err)
	}
	if a := get("address:10.0.0.1"); a.Failures != 0 {
		t.Fatalf("old row survived pruning: %+v", a)
	}
	if a := get("account:bob"); a.Failures != 1 {
		t.Fatalf("recent row pruned: %+v", a)
	}

	// Concurrent failures (many requests, or replicas) are all counted.
	var wg sync.WaitGroup
	const n = 40
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- db.RecordLoginFailure(ctx, []string{"account:carol", fmt.Sprintf("address:10.0.1.%d", i%4)}, t0, w)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a := get("account:carol"); a.Failures != n {
		t.Fatalf("concurrent failures: %d counted, want %d", a.Failures, n)
	}
	if a := get("address:10.0.1.3"); a.Failures != n/4 {
		t.Fatalf("concurrent failures per address: %d counted, want %d", a.Failures, n/4)
	}
}
