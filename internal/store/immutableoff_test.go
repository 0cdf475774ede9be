package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wharfhq/wharf/internal/store"
	"github.com/wharfhq/wharf/internal/store/storetest"
)

func TestImmutabilitySwitch(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wharf.db")
		storetest.RunImmutabilitySwitch(t, func(t *testing.T, opts store.Options) *store.DB {
			return openSQLite(t, path, opts)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		srv := startPostgres(t)
		dsn, err := srv.CreateDatabase(context.Background(), "immutability")
		if err != nil {
			t.Fatal(err)
		}
		storetest.RunImmutabilitySwitch(t, func(t *testing.T, opts store.Options) *store.DB {
			db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}
