package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/wharfhq/wharf/internal/store"
)

// migrationLock is the advisory lock key under which one replica at a time
// migrates River's tables (the store's migrations use 7286144).
const migrationLock = 7286145

// OpenPostgres opens the queue on the PostgreSQL database at dsn (the
// store's) with a pgx pool of its own, and migrates River's tables.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Queue, error) {
	opts.defaults()
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("jobs: postgres: invalid DSN: %w", err)
	}
	pcfg.MaxConns = int32(max(opts.MaxConns, 2)) // migrations hold one connection and use another
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("jobs: postgres: cannot connect: %w", err)
	}
	if err := migratePostgres(ctx, pool, opts.Log); err != nil {
		pool.Close()
		return nil, err
	}
	q := &Queue{opts: opts}
	eng, err := newRiverEngine[pgx.Tx](store.Postgres, q.baseConfig(),
		func() riverdriver.Driver[pgx.Tx] { return riverpgxv5.New(pool) },
		withConnTx,
		func() error { pool.Close(); return nil })
	if err != nil {
		pool.Close()
		return nil, err
	}
	eng.byKind = func(ctx context.Context) (map[string]Stats, error) { return postgresKindCounts(ctx, pool) }
	q.eng = eng
	return q, nil
}

func postgresKindCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]Stats, error) {
	rows, err := pool.Query(ctx, kindCountsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanKindCounts(rows)
}

func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("jobs: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: riverLogger(log)})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}

// withConnTx runs fn with the store's open PostgreSQL transaction as a
// pgx.Tx: the pgx connection under the store's *sql.Conn, reached with Raw
// (database/sql holds the connection for the duration of fn).
func withConnTx(ctx context.Context, tx store.JobTx, fn func(pgx.Tx) error) error {
	if tx.Conn == nil {
		return errors.New("jobs: the PostgreSQL transaction comes without its connection (store.JobTx.Conn)")
	}
	return tx.Conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("jobs: the store's connection is a %T, not pgx's", dc)
		}
		c := sc.Conn()
		if s := c.PgConn().TxStatus(); s != 'T' {
			return fmt.Errorf("jobs: the store's connection is not in an open transaction (status %q)", s)
		}
		return fn(&connTx{conn: c})
	})
}

// errStoreOwnsTx is returned by connTx.Commit and Rollback at the outer
// level: the store ends its transaction itself.
var errStoreOwnsTx = errors.New("jobs: the store's transaction is committed or rolled back by the store")

// connTx is a pgx.Tx over a connection already inside a transaction that
// someone else (the store) began and will end. Begin opens a savepoint, whose
// Commit releases it and Rollback rolls back to it, as pgx does for nested
// transactions.
type connTx struct {
	conn      *pgx.Conn
	savepoint string // "" at the outer level
	depth     int
	closed    bool
}

func (t *connTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	name := fmt.Sprintf("wharf_jobs_sp%d", t.depth+1)
	if _, err := t.conn.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	return &connTx{conn: t.conn, savepoint: name, depth: t.depth + 1}, nil
}

func (t *connTx) Commit(ctx context.Context) error {
	if t.savepoint == "" {
		return errStoreOwnsTx
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	_, err := t.conn.Exec(ctx, "RELEASE SAVEPOINT "+t.savepoint)
	return err
}

func (t *connTx) Rollback(ctx context.Context) error {
	if t.savepoint == "" {
		return errStoreOwnsTx
	}
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	_, err := t.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+t.savepoint)
	return err
}

func (t *connTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return t.conn.CopyFrom(ctx, table, cols, src)
}

func (t *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects is not supported (River does not use it).
func (t *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.conn.Exec(ctx, sql, args...)
}

func (t *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.conn.Query(ctx, sql, args...)
}

func (t *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *connTx) Conn() *pgx.Conn { return t.conn }
