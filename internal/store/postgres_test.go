package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/store/storetest"
)

// startPostgres starts a real PostgreSQL server for the test, or skips (fails
// under WHARF_E2E_REQUIRE=1) when the server binaries are not installed.
func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	return pgtest.ForTest(t, pgtest.Options{})
}

// openPostgresDB opens the store on a new database of srv, closed when t
// is done.
func openPostgresDB(t *testing.T, srv *pgtest.Server, name string) *store.DB {
	t.Helper()
	db, err := store.OpenPostgres(context.Background(), srv.Database(t, name), store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgres runs the whole store suite on a real PostgreSQL server, one
// fresh database per subtest.
func TestPostgres(t *testing.T) {
	srv := startPostgres(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) *store.DB {
		return openPostgresDB(t, srv, fmt.Sprintf("wharf%d", n.Add(1)))
	})
}

// Migrating twice (a restart, or two replicas) is a no-op.
func TestPostgresReopen(t *testing.T) {
	srv := startPostgres(t)
	dsn := srv.Database(t, "reopen")
	for i := 0; i < 2; i++ {
		db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
	if _, err := store.OpenPostgres(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", store.PostgresOptions{}); err == nil {
		t.Fatal("connecting to nothing succeeded")
	}
}
