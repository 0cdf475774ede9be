package app

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"

	"github.com/wharfhq/wharf/internal/config"
	"github.com/wharfhq/wharf/internal/store"
)

// openDB opens SQLite in the data directory, or PostgreSQL when DB_URI is
// set (with DB_CONNECTION_ARGS as connection parameters). Store changes that
// cause background work enqueue it with jobs.
func openDB(ctx context.Context, cfg config.Config, jobs store.JobInserter) (*store.DB, error) {
	if cfg.DBURI == "" {
		return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "wharf.db"), storeOptions(cfg, jobs))
	}
	dsn, err := postgresDSN(cfg.DBURI, cfg.DBConnectionArgs)
	if err != nil {
		return nil, err
	}
	return store.OpenPostgres(ctx, dsn, store.PostgresOptions{Options: storeOptions(cfg, jobs), MaxConns: cfg.DBMaxConnections})
}

// storeOptions are the store's options for cfg.
func storeOptions(cfg config.Config, jobs store.JobInserter) store.Options {
	return store.Options{Jobs: jobs, AutopruneDefault: cfg.AutoPrune && cfg.DefaultAutoprunePolicy != nil, Replication: replicationOptions(cfg),
		Quota:                store.QuotaOptions{Disabled: !cfg.QuotaManagement, SystemRejectBytes: cfg.DefaultSystemRejectQuotaBytes},
		DisableImmutableTags: !cfg.ImmutableTags}
}

// postgresDSN adds connection arguments to the URI's query.
func postgresDSN(uri string, args map[string]string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("DB_URI: %w", err)
	}
	q := u.Query()
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Set(k, args[k])
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
