package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/wharfhq/wharf/internal/store"
)

// engine is River on one database, whatever its transaction type.
type engine interface {
	insert(ctx context.Context, a rawArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	insertTx(ctx context.Context, tx store.JobTx, a rawArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	start(ctx context.Context, cfg *river.Config) (*stoppable, error)
	counts(ctx context.Context) (map[rivertype.JobState]int, error)
	countsByKind(ctx context.Context) (map[string]Stats, error)
	close() error
}

// stoppable is a started River client.
type stoppable struct {
	stop func(ctx context.Context) error
}

func (s *stoppable) Stop(ctx context.Context) error { return s.stop(ctx) }

// riverEngine implements engine for River's driver with transaction type TTx.
type riverEngine[TTx any] struct {
	dialect store.Dialect
	// newDriver returns a driver on River's own connections; each client
	// gets its own.
	newDriver func() riverdriver.Driver[TTx]
	// inserter is an insert-only client (no workers): web replicas only
	// enqueue.
	inserter *river.Client[TTx]
	// withTx runs fn with the store's open transaction as a TTx.
	withTx  func(ctx context.Context, tx store.JobTx, fn func(TTx) error) error
	release func() error
	// byKind counts River's jobs by kind and state (kindCountsSQL) on
	// River's own connections.
	byKind func(ctx context.Context) (map[string]Stats, error)
}

// kindCountsSQL counts River's jobs by kind and state; the same text runs on
// SQLite and PostgreSQL (River's table, the one exception to "SQL only in
// internal/store").
const kindCountsSQL = `SELECT kind, CAST(state AS TEXT), COUNT(*) FROM river_job GROUP BY kind, state`

// kindRows is what both drivers' result sets offer (pgx.Rows, *sql.Rows).
type kindRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanKindCounts reads the rows of kindCountsSQL into counts per kind and
// state.
func scanKindCounts(rows kindRows) (map[string]Stats, error) {
	out := map[string]Stats{}
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, err
		}
		if out[kind] == nil {
			out[kind] = Stats{}
		}
		out[kind][state] += int(n)
	}
	return out, rows.Err()
}

func newRiverEngine[TTx any](dialect store.Dialect, cfg *river.Config, newDriver func() riverdriver.Driver[TTx],
	withTx func(context.Context, store.JobTx, func(TTx) error) error, release func() error) (*riverEngine[TTx], error) {
	c, err := river.NewClient(newDriver(), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &riverEngine[TTx]{dialect: dialect, newDriver: newDriver, inserter: c, withTx: withTx, release: release}, nil
}

func (e *riverEngine[TTx]) insert(ctx context.Context, a rawArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return e.inserter.Insert(ctx, a, opts)
}

func (e *riverEngine[TTx]) insertTx(ctx context.Context, tx store.JobTx, a rawArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if tx.Dialect != e.dialect {
		return nil, fmt.Errorf("jobs: a %s transaction given to the %s queue", tx.Dialect, e.dialect)
	}
	if tx.Tx == nil {
		return nil, errors.New("jobs: no transaction")
	}
	var res *rivertype.JobInsertResult
	err := e.withTx(ctx, tx, func(t TTx) error {
		var err error
		res, err = e.inserter.InsertTx(ctx, t, a, opts)
		return err
	})
	return res, err
}

func (e *riverEngine[TTx]) start(ctx context.Context, cfg *river.Config) (*stoppable, error) {
	c, err := river.NewClient(e.newDriver(), cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return &stoppable{stop: c.Stop}, nil
}

func (e *riverEngine[TTx]) counts(ctx context.Context) (map[rivertype.JobState]int, error) {
	return e.inserter.Driver().GetExecutor().JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{})
}

func (e *riverEngine[TTx]) countsByKind(ctx context.Context) (map[string]Stats, error) {
	return e.byKind(ctx)
}

func (e *riverEngine[TTx]) close() error { return e.release() }
