package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/wharfhq/wharf/internal/store"
)

// OpenSQLite opens the queue in the SQLite database file at path (the
// store's file) and migrates River's tables.
//
// River gets its own connection to the file, apart from the store's writer:
// WAL, full fsync, BEGIN IMMEDIATE (a transaction takes the write lock when
// it starts, so it never fails upgrading a read lock) and a busy timeout to
// queue behind the store's writer. One connection, as River advises for
// SQLite. Workers poll (PollInterval); there is no other process to notify.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Queue, error) {
	opts.defaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "synchronous(FULL)", "journal_mode(WAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("jobs: sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: sqlite: open %s: %w", path, err)
	}
	if err := migrateSQLite(ctx, db, opts.Log); err != nil {
		db.Close()
		return nil, err
	}
	jq := &Queue{opts: opts}
	cfg := jq.baseConfig()
	cfg.PollOnly = true
	eng, err := newRiverEngine[*sql.Tx](store.SQLite, cfg,
		func() riverdriver.Driver[*sql.Tx] { return riversqlite.New(db) },
		func(ctx context.Context, tx store.JobTx, fn func(*sql.Tx) error) error { return fn(tx.Tx) },
		db.Close)
	if err != nil {
		db.Close()
		return nil, err
	}
	eng.byKind = func(ctx context.Context) (map[string]Stats, error) { return sqliteKindCounts(ctx, db) }
	jq.eng = eng
	return jq, nil
}

func sqliteKindCounts(ctx context.Context, db *sql.DB) (map[string]Stats, error) {
	rows, err := db.QueryContext(ctx, kindCountsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanKindCounts(rows)
}

func migrateSQLite(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	m, err := rivermigrate.New(riversqlite.New(db), &rivermigrate.Config{Logger: riverLogger(log)})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}
