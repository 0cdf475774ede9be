package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/wharfhq/wharf/internal/jobs"
	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/store"
)

// TestPostgres runs the suite on a real PostgreSQL server, one fresh database
// per subtest; the second queue of a subtest is another replica's (its own
// pool).
func TestPostgres(t *testing.T) {
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
	var n atomic.Int64
	runSuite(t, func(t *testing.T, opts jobs.Options, wrap func(*jobs.Queue) store.JobInserter) (*store.DB, *jobs.Queue, func() *jobs.Queue) {
		ctx := context.Background()
		dsn, err := srv.CreateDatabase(ctx, fmt.Sprintf("jobs%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		open := func() *jobs.Queue {
			q, err := jobs.OpenPostgres(ctx, dsn, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		}
		q := open()
		db, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{Options: store.Options{Jobs: wrap(q)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, q, open
	})
}
