package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresOptions configure a PostgreSQL connection pool.
type PostgresOptions struct {
	Options
	// MaxConns bounds open connections (default 20).
	MaxConns int
}

// OpenPostgres connects to PostgreSQL with a libpq-style URI or keyword DSN
// (sslmode, sslrootcert, sslcert and sslkey select TLS and certificate
// authentication), checks the connection and migrates the schema. A refused
// certificate or password fails here, with the server's message.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*DB, error) {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return nil, fmt.Errorf("postgres: invalid DB_URI: %w", err)
	}
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	n := opts.MaxConns
	if n <= 0 {
		n = 20
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{dialect: Postgres, w: pool, r: pool, now: opts.Now, jobs: opts.Jobs, pruneAlways: opts.AutopruneDefault, quota: opts.Quota,
		immutableTagsOff: opts.DisableImmutableTags}
	db.replication = opts.Replication.normalized()
	if db.now == nil {
		db.now = time.Now
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.PingContext(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// registered makes sure the pgx database/sql driver is linked in.
var _ = stdlib.GetDefaultDriver

// retryable reports whether a PostgreSQL error means "run the transaction
// again": a unique violation from a concurrent insert of the same row, a
// serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "40001", "40P01":
			return true
		}
	}
	return false
}
