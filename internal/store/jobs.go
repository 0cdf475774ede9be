package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// JobInserter puts a background job into the job queue inside a store write
// transaction, so that the job exists if and only if the change that asks for
// it is committed. internal/jobs implements it; the store does not know the
// queue (set it with Options.Jobs).
type JobInserter interface {
	InsertTx(ctx context.Context, tx JobTx, kind string, args any) error
}

// JobTx is the open write transaction a JobInserter writes in. The inserter
// runs its statements in it and never commits or rolls it back.
type JobTx struct {
	Dialect Dialect
	// Tx is the transaction. On SQLite it is the single writer's
	// transaction (group commit), and the job's rows join the request's
	// savepoint.
	Tx *sql.Tx
	// Conn is the connection Tx runs on (PostgreSQL only; nil on SQLite),
	// for inserters whose driver needs its own connection type
	// (sql.Conn.Raw).
	Conn *sql.Conn
}

// Jobs the store enqueues.
const (
	// JobRepositoryGC follows the deletion of a repository; its arguments
	// are RepositoryGCArgs.
	JobRepositoryGC = "repository_gc"
	// JobScanManifest scans a manifest recorded as queued by
	// QueueManifestScan; its arguments are ScanManifestArgs.
	JobScanManifest = "scan_manifest"
)

// ScanManifestArgs are the arguments of JobScanManifest.
type ScanManifestArgs struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
}

// RepositoryGCArgs are the arguments of JobRepositoryGC: what the deleted
// repository leaves behind outside the database.
type RepositoryGCArgs struct {
	Repository string `json:"repository"`
	// Uploads are the ids of the repository's upload sessions, whose rows
	// went with the repository and whose bytes are still in blob storage.
	Uploads []string `json:"uploads,omitempty"`
}

// enqueue inserts a job in t's transaction. Without a JobInserter (tools
// that open the store alone) it does nothing.
func (db *DB) enqueue(ctx context.Context, t *tx, kind string, args any) error {
	if db.jobs == nil {
		return nil
	}
	sqlTx, ok := t.q.(*sql.Tx)
	if !ok || !t.write {
		return errors.New("store: jobs are enqueued in write transactions only")
	}
	if err := db.jobs.InsertTx(t.ctx(ctx), JobTx{Dialect: t.dialect, Tx: sqlTx, Conn: t.conn}, kind, args); err != nil {
		return fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return nil
}
