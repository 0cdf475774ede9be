package store

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// FederationEntry is one external identity a robot trusts: tokens from
// Issuer about Subject (and, when Audience is set, naming Audience) may be
// exchanged for a token of the robot.
type FederationEntry struct {
	Issuer   string
	Subject  string
	Audience string
}

// RobotFederation returns a robot's federation entries in the order they were
// set; a robot without any has an empty list.
func (db *DB) RobotFederation(ctx context.Context, robotID int64) ([]FederationEntry, error) {
	out := []FederationEntry{}
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT issuer, subject, audience FROM robot_federation WHERE robot_id = ? ORDER BY ord`, robotID)
		if err != nil {
			return fmt.Errorf("robot federation: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e FederationEntry
			if err := rows.Scan(&e.Issuer, &e.Subject, &e.Audience); err != nil {
				return fmt.Errorf("robot federation: %w", err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// SetRobotFederation replaces a robot's federation entries (an empty list
// clears them). A repeated (issuer, subject) pair is core.CodeConflict; a
// missing robot is core.CodeNotFound.
func (db *DB) SetRobotFederation(ctx context.Context, robotID int64, entries []FederationEntry) error {
	seen := make(map[[2]string]bool, len(entries))
	for _, e := range entries {
		k := [2]string{e.Issuer, e.Subject}
		if seen[k] {
			return core.Errorf(core.CodeConflict, "duplicate federation entry for issuer %q and subject %q", e.Issuer, e.Subject)
		}
		seen[k] = true
	}
	return db.write(ctx, func(t *tx) error {
		u, err := getUserByID(ctx, t, robotID)
		if err != nil {
			return err
		}
		if !u.IsRobot() {
			return errUserUnknown(u.Username)
		}
		var had int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM robot_federation WHERE robot_id = ?`, robotID).Scan(&had); err != nil {
			return fmt.Errorf("robot federation: %w", err)
		}
		if _, err := t.exec(ctx, `DELETE FROM robot_federation WHERE robot_id = ?`, robotID); err != nil {
			return fmt.Errorf("clear robot federation: %w", err)
		}
		if err := logRobotFederation(ctx, t, u, had, entries); err != nil {
			return err
		}
		for i, e := range entries {
			if _, err := t.exec(ctx, `INSERT INTO robot_federation (robot_id, ord, issuer, subject, audience, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, robotID, i, e.Issuer, e.Subject, e.Audience, t.now); err != nil {
				return fmt.Errorf("set robot federation: %w", err)
			}
		}
		return nil
	})
}
