package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps one prepared statement per query text for the read pool.
// database/sql prepares a statement lazily on each connection it runs on and
// remembers it, so a cached *sql.Stmt is parsed once per connection. Only
// SQLite uses it: pgx caches prepared statements itself.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache (queries are static text, so this is a
// safety net, not an eviction policy).
const maxCachedStmts = 512

func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st
	}
	if c.pool == nil || len(c.m) >= maxCachedStmts {
		return nil
	}
	st, err := c.pool.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		// Let the unprepared path report the error with its context.
		return nil
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[q] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
	c.pool = nil
}

func (db *DB) readStmtCache() *stmtCache {
	if db.dialect != SQLite {
		return nil
	}
	return &db.readStmts
}

// writeStmtCache is nil: SQLite writes run on the pool's only connection,
// held by the transaction, so preparing on the pool would wait for itself.
// Writes are batched by group commit, so their parsing cost is small.
func (db *DB) writeStmtCache() *stmtCache { return nil }
