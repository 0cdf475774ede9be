// Package jobs is the durable background job queue: every piece of work that
// runs outside a request (garbage collection today; pruning, quota, scanning,
// notifications, mirroring later) is a job row in the metadata database,
// worked by River (github.com/riverqueue/river) on SQLite (one process) or
// PostgreSQL (any number of replicas; River locks each job with FOR UPDATE
// SKIP LOCKED, so one replica works it, retries with backoff on failure, and
// its elected leader enqueues the periodic jobs).
//
// The API is small: Open a Queue next to the store, Enqueue(ctx, kind, args),
// EnqueueTx in a store write transaction, Start workers with handlers and
// periodic jobs (roles worker and all; a web replica only enqueues), Stats
// and KindStats.
// Args are any JSON-encodable value; a handler decodes them (Job.Decode).
//
// # Enqueueing in the same transaction as the change
//
// A job must exist exactly when the change that asks for it is committed:
// a deleted repository always gets its clean-up, a rolled-back delete never
// does. The store calls a store.JobInserter (the Queue) inside its write
// transaction, without importing River. How the job's row joins that
// transaction depends on the dialect:
//
//   - SQLite: River's riversqlite driver works on *sql.Tx, and the store's
//     transaction is the single writer connection's *sql.Tx (group commit),
//     so InsertTx runs River's insert on it directly, inside the request's
//     savepoint. River's own work (fetching, completing, leader election,
//     periodic inserts) uses a second *sql.DB on the same file: one
//     connection, busy_timeout, BEGIN IMMEDIATE. The two connections only
//     ever wait for SQLite's write lock, and each holds it for a short
//     transaction that waits on nothing else in the process (River calls no
//     handler inside its transactions; InsertTx touches only the store's
//     transaction, never River's connection), so they cannot deadlock. The
//     concurrency test runs store writes that enqueue, jobs that write through
//     the store and River's bookkeeping together.
//   - PostgreSQL: River's driver for database/sql (riverdatabasesql) is not
//     published at the River version used here (v0.49.0), and riverpgxv5
//     wants a pgx.Tx. The store begins PostgreSQL write transactions on an
//     explicit *sql.Conn (pgx's database/sql adapter), and InsertTx reaches
//     the underlying *pgx.Conn with sql.Conn.Raw and presents it to River as
//     a pgx.Tx (connTx): statements run on the very connection, inside the
//     very transaction, that the store commits or rolls back; River's nested
//     "transactions" become savepoints, and River can neither commit nor roll
//     back the store's transaction. River's own work uses a pgxpool of its
//     own (LISTEN/NOTIFY wakes workers on other replicas at once). A
//     transactional outbox relayed into River was the alternative; it needs
//     a relay, idempotency keys and a second table for the same fact, so it
//     is not used.
//
// River's migrations run when the Queue opens (on PostgreSQL under an
// advisory lock, so replicas starting together migrate once). River's tables
// (river_*) live beside the store's; their SQL is River's, the one exception
// to "SQL only in internal/store".
//
// It imports store (for JobTx) and core only, and never the HTTP edges; the
// job kinds and their handlers are wired by app.
package jobs
