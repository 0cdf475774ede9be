package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names a SQL flavour.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the metadata store. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	w       *sql.DB // writes (a single connection on SQLite)
	r       *sql.DB // reads
	now     func() time.Time
	jobs    JobInserter // nil: jobs are not enqueued
	// pruneAlways: a registry-wide auto-prune policy exists, so every
	// tagging push asks for a prune (see Options.AutopruneDefault).
	pruneAlways bool
	// replication records where blobs are and what to copy (replication.go);
	// nil when storage replication is off.
	replication *Replication
	// quota is the quota enforcement settings (QuotaOptions).
	quota QuotaOptions
	// immutableTagsOff: tag immutability is not enforced
	// (Options.DisableImmutableTags).
	immutableTagsOff bool

	// Prepared statements of the read pool by query text: SQLite otherwise
	// parses every statement on every call.
	readStmts stmtCache

	// SQLite group commit: write transactions are queued to one goroutine
	// that runs whatever is queued in one SQLite transaction (one fsync),
	// each request inside its own savepoint.
	reqs       chan *writeReq
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
}

// Options tunes a DB.
type Options struct {
	// Now is the clock; time.Now when nil. Tests inject their own.
	Now func() time.Time
	// MaxReaders bounds concurrent read connections (SQLite). Default 8.
	MaxReaders int
	// Jobs enqueues background jobs in write transactions (internal/jobs);
	// nil for tools that open the store alone.
	Jobs JobInserter
	// AutopruneDefault says a registry-wide default auto-prune policy is
	// configured: every push that tags asks for a prune of its repository,
	// not only pushes to repositories with policies of their own.
	AutopruneDefault bool
	// Replication turns on storage replication (replication.go); nil: off.
	Replication *Replication
	// Quota tunes quota enforcement (quota.go).
	Quota QuotaOptions
	// DisableImmutableTags switches tag immutability off (Quay's
	// FEATURE_IMMUTABLE_TAGS false): neither policies nor the tags' own
	// flags are enforced, and the flag cannot be set (requests and labels
	// that set it are ignored); flags already set are kept, unused
	// (immutability.go).
	DisableImmutableTags bool
}

// OpenSQLite opens (creating if needed) a SQLite database file in WAL mode with
// full fsync on commit, and migrates it.
func OpenSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "journal_mode(WAL)"}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", base+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := opts.MaxReaders
	if n <= 0 {
		n = 8
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{dialect: SQLite, w: w, r: r, now: opts.Now, jobs: opts.Jobs, pruneAlways: opts.AutopruneDefault, quota: opts.Quota,
		immutableTagsOff: opts.DisableImmutableTags, reqs: make(chan *writeReq, 256), closing: make(chan struct{}), writerDone: make(chan struct{})}
	db.replication = opts.Replication.normalized()
	if db.now == nil {
		db.now = time.Now
	}
	db.readStmts.pool = r
	go db.writer()
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.closing != nil {
			close(db.closing)
			<-db.writerDone
		}
		db.readStmts.close()
	})
	var errs []error
	if db.r != nil && db.r != db.w {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

func (db *DB) nowMs() int64 { return db.now().UnixMilli() }

// tx is a transaction with '?' placeholders rebound for the dialect.
type tx struct {
	q       queryer
	conn    *sql.Conn  // the connection of q on PostgreSQL write transactions
	stmts   *stmtCache // prepared statements of the pool q belongs to (nil: none)
	dialect Dialect
	now     int64 // transaction timestamp, Unix ms
	// write transactions ignore cancellation of the caller's context: a
	// statement interrupted half-way would roll back the whole (shared)
	// transaction.
	write bool
	// immutableTagsOff: tag immutability is not enforced (DB.immutableTagsOff).
	immutableTagsOff bool
}

func (t *tx) ctx(ctx context.Context) context.Context {
	if t.write {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// queryer is a *sql.Tx or, for reads, the *sql.DB itself.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.q.ExecContext(ctx, rebind(t.dialect, q), args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.ctx(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.q.QueryContext(ctx, rebind(t.dialect, q), args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.ctx(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, rebind(t.dialect, q), args...)
}

// stmt returns the cached prepared statement for q, bound to the
// transaction when there is one, or nil to run q unprepared.
func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	st := t.stmts.get(ctx, rebind(t.dialect, q))
	if st == nil {
		return nil
	}
	if sqlTx, ok := t.q.(*sql.Tx); ok {
		return sqlTx.StmtContext(ctx, st)
	}
	return st
}

// write runs fn in a read-write transaction. fn runs to completion even if
// ctx is cancelled meanwhile (a client that goes away does not cut a change in
// half); cancellation before fn starts returns ctx.Err().
func (db *DB) write(ctx context.Context, fn func(t *tx) error) error {
	if db.reqs == nil {
		return db.run(context.WithoutCancel(ctx), db.w, false, fn)
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return errClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-db.writerDone:
		// The writer has stopped: req was answered just before, or was
		// queued after the final drain and will never run.
		select {
		case err := <-req.done:
			return err
		default:
			return errClosed
		}
	}
}

// read runs fn's queries on the read pool, each statement on its own (no
// surrounding transaction: reads need no snapshot across statements, and a
// BEGIN/COMMIT pair would double the cost of the hot single-query reads).
func (db *DB) read(ctx context.Context, fn func(t *tx) error) error {
	return fn(&tx{q: db.r, stmts: db.readStmtCache(), dialect: db.dialect, now: db.nowMs(), immutableTagsOff: db.immutableTagsOff})
}

func (db *DB) run(ctx context.Context, pool *sql.DB, readOnly bool, fn func(t *tx) error) error {
	if db.dialect != Postgres {
		return db.runOnce(ctx, pool, readOnly, fn)
	}
	// Concurrent replicas and requests can collide on unique keys (two
	// pushes of the same manifest or tag); the loser runs again and then
	// sees the winner's rows.
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if err = db.runOnce(ctx, pool, readOnly, fn); err == nil || !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

func (db *DB) runOnce(ctx context.Context, pool *sql.DB, readOnly bool, fn func(t *tx) error) error {
	var opts *sql.TxOptions
	if readOnly && db.dialect == Postgres {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	// On PostgreSQL the transaction runs on a connection taken explicitly,
	// so that a JobInserter can reach the driver's connection (JobTx.Conn).
	var conn *sql.Conn
	begin := pool.BeginTx
	if db.dialect == Postgres {
		c, err := pool.Conn(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer c.Close()
		conn, begin = c, c.BeginTx
	}
	sqlTx, err := begin(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &tx{q: sqlTx, conn: conn, stmts: db.writeStmtCache(), dialect: db.dialect, now: db.nowMs(), write: !readOnly,
		immutableTagsOff: db.immutableTagsOff}
	if err := fn(t); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rebind turns '?' placeholders into '$n' for PostgreSQL. Queries in this
// package never contain '?' inside string literals.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Pools returns the connection pools by role ("read", "write"; one pool
// serves both on PostgreSQL), for pool statistics.
func (db *DB) Pools() map[string]*sql.DB {
	if db.r == db.w {
		return map[string]*sql.DB{"main": db.w}
	}
	return map[string]*sql.DB{"read": db.r, "write": db.w}
}
