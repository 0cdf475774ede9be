package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewPrototype is a default permission to create. Exactly one of
// DelegateUser and DelegateTeam is set; ActivatingUser is optional.
type NewPrototype struct {
	ActivatingUser string
	DelegateUser   string
	DelegateTeam   string
	Role           string
}

func (db *DB) resolvePrototype(ctx context.Context, t *tx, org string, np NewPrototype) (act, du, dt sql.NullInt64, err error) {
	if np.ActivatingUser != "" {
		u, err := getUser(ctx, t, np.ActivatingUser)
		if err != nil {
			return act, du, dt, err
		}
		act = sql.NullInt64{Int64: u.ID, Valid: true}
	}
	switch {
	case np.DelegateUser != "" && np.DelegateTeam == "":
		u, err := getUser(ctx, t, np.DelegateUser)
		if err != nil {
			return act, du, dt, err
		}
		du = sql.NullInt64{Int64: u.ID, Valid: true}
	case np.DelegateTeam != "" && np.DelegateUser == "":
		tm, err := getTeam(ctx, t, org, np.DelegateTeam)
		if err != nil {
			return act, du, dt, err
		}
		dt = sql.NullInt64{Int64: tm.ID, Valid: true}
	default:
		return act, du, dt, core.Errorf(core.CodeInvalid, "a default permission needs exactly one delegate: a user or a team")
	}
	return act, du, dt, nil
}

// CreatePrototype adds a default permission to an organization.
func (db *DB) CreatePrototype(ctx context.Context, org string, np NewPrototype) (core.Prototype, error) {
	var p core.Prototype
	err := db.write(ctx, func(t *tx) error {
		if !core.ValidRepoRole(np.Role) {
			return core.Errorf(core.CodeInvalid, "invalid role %q: want read, write or admin", np.Role)
		}
		n, err := getNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		if !n.IsOrg() {
			return core.Errorf(core.CodeNotFound, "organization %q not found", org)
		}
		act, du, dt, err := db.resolvePrototype(ctx, t, org, np)
		if err != nil {
			return err
		}
		id := newUUID()
		if _, err := t.exec(ctx, `INSERT INTO prototypes (uuid, namespace_id, activating_user_id, delegate_user_id, delegate_team_id, role, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, n.ID, act, du, dt, np.Role, t.now); err != nil {
			return fmt.Errorf("create prototype: %w", err)
		}
		if p, err = getPrototype(ctx, t, org, id); err != nil {
			return err
		}
		return logPrototype(ctx, t, core.LogCreatePrototypePerm, p)
	})
	return p, err
}

const protoColumns = `p.id, p.uuid, p.namespace_id, COALESCE(au.username, ''), COALESCE(du.username, ''),
	COALESCE(du.kind = 'robot', FALSE), COALESCE(dt.name, ''), p.role`

const protoFrom = ` FROM prototypes p JOIN namespaces n ON n.id = p.namespace_id
	LEFT JOIN users au ON au.id = p.activating_user_id LEFT JOIN users du ON du.id = p.delegate_user_id
	LEFT JOIN teams dt ON dt.id = p.delegate_team_id `

func scanPrototype(row interface{ Scan(...any) error }) (core.Prototype, error) {
	var p core.Prototype
	err := row.Scan(&p.ID, &p.UUID, &p.NamespaceID, &p.ActivatingUser, &p.DelegateUser, &p.DelegateIsRobot, &p.DelegateTeam, &p.Role)
	return p, err
}

func getPrototype(ctx context.Context, t *tx, org, id string) (core.Prototype, error) {
	p, err := scanPrototype(t.queryRow(ctx, `SELECT `+protoColumns+protoFrom+`WHERE n.name = ? AND p.uuid = ?`, org, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, core.Errorf(core.CodeNotFound, "default permission %q not found", id)
	}
	return p, err
}

// Prototypes lists an organization's default permissions.
func (db *DB) Prototypes(ctx context.Context, org string) ([]core.Prototype, error) {
	var out []core.Prototype
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+protoColumns+protoFrom+`WHERE n.name = ? ORDER BY p.id`, org)
		if err != nil {
			return fmt.Errorf("list prototypes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPrototype(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// UpdatePrototype changes a default permission's role.
func (db *DB) UpdatePrototype(ctx context.Context, org, id, role string) (core.Prototype, error) {
	var p core.Prototype
	err := db.write(ctx, func(t *tx) error {
		if !core.ValidRepoRole(role) {
			return core.Errorf(core.CodeInvalid, "invalid role %q: want read, write or admin", role)
		}
		cur, err := getPrototype(ctx, t, org, id)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE prototypes SET role = ? WHERE id = ?`, role, cur.ID); err != nil {
			return fmt.Errorf("update prototype: %w", err)
		}
		if p, err = getPrototype(ctx, t, org, id); err != nil {
			return err
		}
		return logPrototype(ctx, t, core.LogModifyPrototypePerm, p)
	})
	return p, err
}

// DeletePrototype deletes a default permission.
func (db *DB) DeletePrototype(ctx context.Context, org, id string) error {
	return db.write(ctx, func(t *tx) error {
		cur, err := getPrototype(ctx, t, org, id)
		if err != nil {
			return err
		}
		if err := logPrototype(ctx, t, core.LogDeletePrototypePerm, cur); err != nil {
			return err
		}
		_, err = t.exec(ctx, `DELETE FROM prototypes WHERE id = ?`, cur.ID)
		return err
	})
}

// applyPrototypes grants an organization's default permissions on a new
// repository created by creatorID.
func applyPrototypes(ctx context.Context, t *tx, nsID, repoID, creatorID int64) error {
	rows, err := t.query(ctx, `SELECT COALESCE(delegate_user_id, 0), COALESCE(delegate_team_id, 0), role FROM prototypes
		WHERE namespace_id = ? AND (activating_user_id IS NULL OR activating_user_id = ?) ORDER BY id`, nsID, creatorID)
	if err != nil {
		return fmt.Errorf("apply prototypes: %w", err)
	}
	type grant struct {
		user, team int64
		role       string
	}
	var grants []grant
	for rows.Next() {
		var g grant
		if err := rows.Scan(&g.user, &g.team, &g.role); err != nil {
			rows.Close()
			return err
		}
		grants = append(grants, g)
	}
	rows.Close()
	for _, g := range grants {
		if g.user == creatorID && g.team == 0 {
			continue // the creator already has admin
		}
		if err := setPermission(ctx, t, repoID, g.user, g.team, g.role); err != nil {
			return err
		}
	}
	return nil
}
