package store

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// CreateRobot creates the robot "<namespace>+<short>" with an encrypted token.
func (db *DB) CreateRobot(ctx context.Context, namespace, short, tokenEnc, description, metadata string) (core.User, error) {
	var u core.User
	err := db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		name := namespace + "+" + short
		if _, err := getUser(ctx, t, name); err == nil {
			return core.Errorf(core.CodeConflict, "robot %q already exists", name)
		}
		var id int64
		if err := t.queryRow(ctx, `INSERT INTO users (username, kind, robot_namespace_id, robot_token_enc, description, metadata, created_at)
			VALUES (?, 'robot', ?, ?, ?, ?, ?) RETURNING id`, name, n.ID, tokenEnc, description, nullString(metadata), t.now).Scan(&id); err != nil {
			return fmt.Errorf("create robot: %w", err)
		}
		if err := logAction(ctx, t, core.LogCreateRobot, n.ID, 0, auditMeta{"robot": name}); err != nil {
			return err
		}
		u, err = getUserByID(ctx, t, id)
		return err
	})
	return u, err
}

// Robots lists a namespace's robots by name.
func (db *DB) Robots(ctx context.Context, namespace string) ([]core.User, error) {
	var out []core.User
	err := db.read(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, namespace)
		if err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT `+userColumns+userFrom+`WHERE u.robot_namespace_id = ? ORDER BY u.username`, n.ID)
		if err != nil {
			return fmt.Errorf("list robots: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}

// RobotUpdate changes the fields that are set.
type RobotUpdate struct {
	Description *string
	Metadata    *string
	TokenEnc    *string
}

// UpdateRobot applies an update to a robot.
func (db *DB) UpdateRobot(ctx context.Context, name string, up RobotUpdate) (core.User, error) {
	var u core.User
	err := db.write(ctx, func(t *tx) error {
		cur, err := getUser(ctx, t, name)
		if err != nil {
			return err
		}
		if !cur.IsRobot() {
			return errUserUnknown(name)
		}
		if up.Description != nil {
			if _, err := t.exec(ctx, `UPDATE users SET description = ? WHERE id = ?`, *up.Description, cur.ID); err != nil {
				return fmt.Errorf("update robot: %w", err)
			}
		}
		if up.Metadata != nil {
			if _, err := t.exec(ctx, `UPDATE users SET metadata = ? WHERE id = ?`, nullString(*up.Metadata), cur.ID); err != nil {
				return fmt.Errorf("update robot: %w", err)
			}
		}
		if up.TokenEnc != nil {
			if _, err := t.exec(ctx, `UPDATE users SET robot_token_enc = ? WHERE id = ?`, *up.TokenEnc, cur.ID); err != nil {
				return fmt.Errorf("update robot: %w", err)
			}
			if err := logAction(ctx, t, core.LogRegenerateRobotToken, cur.RobotNamespaceID, 0, auditMeta{"robot": name}); err != nil {
				return err
			}
		}
		u, err = getUserByID(ctx, t, cur.ID)
		return err
	})
	return u, err
}

// DeleteRobot deletes a robot and its permissions and memberships.
func (db *DB) DeleteRobot(ctx context.Context, name string) error {
	return db.write(ctx, func(t *tx) error {
		u, err := getUser(ctx, t, name)
		if err != nil {
			return err
		}
		if !u.IsRobot() {
			return errUserUnknown(name)
		}
		if err := logAction(ctx, t, core.LogDeleteRobot, u.RobotNamespaceID, 0, auditMeta{"robot": name}); err != nil {
			return err
		}
		_, err = t.exec(ctx, `DELETE FROM users WHERE id = ?`, u.ID)
		return err
	})
}
