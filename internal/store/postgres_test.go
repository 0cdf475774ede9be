package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	srv, err := pgtest.Start(context.Background(), pgtest.Options{})
	if errors.Is(err, pgtest.ErrNotInstalled) {
		if os.Getenv("WHARF_E2E_REQUIRE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestPostgres runs the whole store suite on a real PostgreSQL server, one
// fresh database per subtest.
func TestPostgres(t *testing.T) {
	srv := startPostgres(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) *store.DB {
		dsn, err := srv.CreateDatabase(context.Background(), fmt.Sprintf("wharf%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Migrating twice (a restart, or two replicas) is a no-op.
func TestPostgresReopen(t *testing.T) {
	srv := startPostgres(t)
	dsn, err := srv.CreateDatabase(context.Background(), "reopen")
	if err != nil {
		t.Fatal(err)
	}
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
