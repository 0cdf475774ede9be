package store

import (
	"context"
	"errors"
	"fmt"
)

var errClosed = errors.New("store: database is closed")

// maxBatch bounds how many write requests share one transaction.
const maxBatch = 128

// writeReq is one queued write transaction.
type writeReq struct {
	ctx  context.Context
	fn   func(t *tx) error
	done chan error
}

// writer runs queued write requests in batches until the DB closes. Each
// batch is one transaction and so one fsync; each request runs in its own
// savepoint, so a failing request rolls back only its own changes. Callers
// get their result only after the batch is committed.
func (db *DB) writer() {
	defer close(db.writerDone)
	for {
		var first *writeReq
		select {
		case first = <-db.reqs:
		case <-db.closing:
			db.drain()
			return
		}
		batch := []*writeReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.runBatch(batch)
	}
}

// drain answers requests still queued at close.
func (db *DB) drain() {
	for {
		select {
		case r := <-db.reqs:
			r.done <- errClosed
		default:
			return
		}
	}
}

func (db *DB) runBatch(batch []*writeReq) {
	ctx := context.Background()
	results := make([]error, len(batch))
	finish := func(err error) {
		for i, r := range batch {
			if results[i] == nil {
				results[i] = err
			}
			r.done <- results[i]
		}
	}
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i] = fmt.Errorf("begin: %w", err)
		}
		finish(nil)
		return
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			_ = sqlTx.Rollback()
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		t := &tx{q: sqlTx, stmts: db.writeStmtCache(), dialect: db.dialect, now: db.nowMs(), write: true, immutableTagsOff: db.immutableTagsOff}
		if err := runProtected(t, r.fn); err != nil {
			results[i] = err
			if _, rerr := sqlTx.ExecContext(ctx, "ROLLBACK TO w"); rerr != nil {
				_ = sqlTx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE w"); err != nil {
			_ = sqlTx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := sqlTx.Commit(); err != nil {
		// Nothing of the batch is durable: every request fails.
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
		}
	}
	finish(nil)
}

// runProtected runs fn, turning a panic into an error so one bad request
// cannot stop the writer.
func runProtected(t *tx, fn func(t *tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in write transaction: %v", p)
		}
	}()
	return fn(t)
}
