package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

const userColumns = `u.id, u.username, COALESCE(u.email, ''), COALESCE(u.password_hash, ''), u.kind,
	COALESCE(rn.name, ''), COALESCE(u.robot_namespace_id, 0), COALESCE(u.robot_token_enc, ''), u.description,
	COALESCE(u.metadata, ''), u.superuser, u.enabled, u.created_at, COALESCE(u.last_accessed, 0)`

const userFrom = ` FROM users u LEFT JOIN namespaces rn ON rn.id = u.robot_namespace_id `

func scanUser(row interface{ Scan(...any) error }) (core.User, error) {
	var u core.User
	var created, accessed int64
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Kind, &u.RobotNamespace, &u.RobotNamespaceID,
		&u.RobotTokenEnc, &u.Description, &u.Metadata, &u.Superuser, &u.Enabled, &created, &accessed)
	u.CreatedAt = time.UnixMilli(created)
	if accessed > 0 {
		u.LastAccessed = time.UnixMilli(accessed)
	}
	return u, err
}

func errUserUnknown(name string) error {
	return core.Errorf(core.CodeNotFound, "user %q not found", name)
}

// NewUser is a person to create.
type NewUser struct {
	Username     string
	Email        string
	PasswordHash string
	Superuser    bool
}

// CreateUser creates a person and their namespace. A taken name or email is
// core.CodeConflict.
func (db *DB) CreateUser(ctx context.Context, nu NewUser) (core.User, error) {
	var u core.User
	err := db.write(ctx, func(t *tx) error {
		if err := nameFree(ctx, t, nu.Username); err != nil {
			return err
		}
		if nu.Email != "" {
			var n int
			if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE email = ? AND kind = 'user'`, nu.Email).Scan(&n); err != nil {
				return fmt.Errorf("create user: %w", err)
			}
			if n > 0 {
				return core.Errorf(core.CodeConflict, "the email address %q is already in use", nu.Email)
			}
		}
		var id int64
		err := t.queryRow(ctx, `INSERT INTO users (username, email, password_hash, kind, superuser, enabled, created_at)
			VALUES (?, ?, ?, 'user', ?, TRUE, ?) RETURNING id`,
			nu.Username, nullString(nu.Email), nullString(nu.PasswordHash), nu.Superuser, t.now).Scan(&id)
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO namespaces (name, kind, user_id, created_at) VALUES (?, 'user', ?, ?)`,
			nu.Username, id, t.now); err != nil {
			return fmt.Errorf("create user namespace: %w", err)
		}
		if err := logUserAction(ctx, t, core.LogUserCreate, nu.Username, auditMeta{"email": nu.Email, "superuser": nu.Superuser}); err != nil {
			return err
		}
		u, err = getUserByID(ctx, t, id)
		return err
	})
	return u, err
}

// nameFree reports core.CodeConflict when a namespace or user has the name.
func nameFree(ctx context.Context, t *tx, name string) error {
	var n int
	if err := t.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM namespaces WHERE name = ?) + (SELECT COUNT(*) FROM users WHERE username = ?)`,
		name, name).Scan(&n); err != nil {
		return fmt.Errorf("check name: %w", err)
	}
	if n > 0 {
		return core.Errorf(core.CodeConflict, "the name %q is already taken", name)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func getUserByID(ctx context.Context, t *tx, id int64) (core.User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userColumns+userFrom+`WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, errUserUnknown(fmt.Sprint(id))
	}
	if err != nil {
		return u, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

func getUser(ctx context.Context, t *tx, name string) (core.User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userColumns+userFrom+`WHERE u.username = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, errUserUnknown(name)
	}
	if err != nil {
		return u, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// User returns a person or robot by name, or core.CodeNotFound.
func (db *DB) User(ctx context.Context, name string) (core.User, error) {
	var u core.User
	err := db.read(ctx, func(t *tx) error {
		var err error
		u, err = getUser(ctx, t, name)
		return err
	})
	return u, err
}

// UserByID returns a person or robot by id, or core.CodeNotFound.
func (db *DB) UserByID(ctx context.Context, id int64) (core.User, error) {
	var u core.User
	err := db.read(ctx, func(t *tx) error {
		var err error
		u, err = getUserByID(ctx, t, id)
		return err
	})
	return u, err
}

// CountUsers counts people (not robots).
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.read(ctx, func(t *tx) error {
		return t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE kind = 'user'`).Scan(&n)
	})
	return n, err
}

// UserUpdate changes the fields that are set.
type UserUpdate struct {
	Email        *string
	PasswordHash *string
	Enabled      *bool
	Superuser    *bool
}

// UpdateUser applies an update to a person.
func (db *DB) UpdateUser(ctx context.Context, name string, up UserUpdate) (core.User, error) {
	var u core.User
	err := db.write(ctx, func(t *tx) error {
		cur, err := getUser(ctx, t, name)
		if err != nil {
			return err
		}
		if up.Email != nil {
			if _, err := t.exec(ctx, `UPDATE users SET email = ? WHERE id = ?`, nullString(*up.Email), cur.ID); err != nil {
				return fmt.Errorf("update user: %w", err)
			}
			if err := logUserAction(ctx, t, core.LogUserChangeEmail, name, auditMeta{"email": *up.Email, "old_email": cur.Email}); err != nil {
				return err
			}
		}
		if up.PasswordHash != nil {
			if _, err := t.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, nullString(*up.PasswordHash), cur.ID); err != nil {
				return fmt.Errorf("update user: %w", err)
			}
			if err := logUserAction(ctx, t, core.LogUserChangePassword, name, nil); err != nil {
				return err
			}
		}
		if up.Enabled != nil {
			if _, err := t.exec(ctx, `UPDATE users SET enabled = ? WHERE id = ?`, *up.Enabled, cur.ID); err != nil {
				return fmt.Errorf("update user: %w", err)
			}
			if *up.Enabled != cur.Enabled {
				kind := core.LogUserDisable
				if *up.Enabled {
					kind = core.LogUserEnable
				}
				if err := logUserAction(ctx, t, kind, name, nil); err != nil {
					return err
				}
			}
		}
		if up.Superuser != nil {
			if _, err := t.exec(ctx, `UPDATE users SET superuser = ? WHERE id = ?`, *up.Superuser, cur.ID); err != nil {
				return fmt.Errorf("update user: %w", err)
			}
			if *up.Superuser != cur.Superuser {
				if err := logUserAction(ctx, t, core.LogUserChangeSuperuser, name, auditMeta{"superuser": *up.Superuser}); err != nil {
					return err
				}
			}
		}
		u, err = getUserByID(ctx, t, cur.ID)
		return err
	})
	return u, err
}

// TouchUser records that a user or robot authenticated now.
func (db *DB) TouchUser(ctx context.Context, id int64) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE users SET last_accessed = ? WHERE id = ?`, t.now, id)
		return err
	})
}

// Users lists people (not robots) in name order.
func (db *DB) Users(ctx context.Context) ([]core.User, error) {
	var out []core.User
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+userColumns+userFrom+`WHERE u.kind = 'user' ORDER BY u.username`)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
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

// DeleteUser deletes a person, their namespace and its repositories.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	return db.write(ctx, func(t *tx) error {
		u, err := getUser(ctx, t, name)
		if err != nil {
			return err
		}
		if err := logUserAction(ctx, t, core.LogUserDelete, name, nil); err != nil {
			return err
		}
		if ns, err := getNamespace(ctx, t, name); err == nil {
			if err := deleteNamespace(ctx, t, ns.ID); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, `DELETE FROM users WHERE id = ?`, u.ID); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return nil
	})
}
