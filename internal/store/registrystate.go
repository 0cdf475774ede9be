package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// RegistryState returns the registry-wide state set through the API
// (core.RegistryStateNormal when never set).
func (db *DB) RegistryState(ctx context.Context) (string, error) {
	state := core.RegistryStateNormal
	err := db.read(ctx, func(t *tx) error {
		var v string
		err := t.queryRow(ctx, `SELECT value FROM registry_settings WHERE name = 'registry_state'`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("registry state: %w", err)
		}
		state = v
		return nil
	})
	return state, err
}

// SetRegistryState stores the registry-wide state (normal or readonly);
// anything else is core.CodeInvalid.
func (db *DB) SetRegistryState(ctx context.Context, state string) error {
	if state != core.RegistryStateNormal && state != core.RegistryStateReadOnly {
		return core.Errorf(core.CodeInvalid, "state must be %q or %q", core.RegistryStateNormal, core.RegistryStateReadOnly)
	}
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO registry_settings (name, value, updated_at) VALUES ('registry_state', ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, state, t.now); err != nil {
			return fmt.Errorf("set registry state: %w", err)
		}
		return logAction(ctx, t, core.LogChangeRegistryState, 0, 0, auditMeta{"state": state})
	})
}
