package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

// ExternalLogin links a person to their identity at an OpenID Connect login
// provider: Provider is the configured provider name, Subject the ID token's
// "sub". Issuer and Username record the provider's issuer URL and the
// username it reported when the link was made.
type ExternalLogin struct {
	UserID    int64
	Provider  string
	Subject   string
	Issuer    string
	Username  string
	CreatedAt time.Time
}

// NewExternalUser is a person to create on their first login through a
// provider, together with the link.
type NewExternalUser struct {
	// Usernames are the names to try, in order; the first one that no user
	// or organization has is taken.
	Usernames []string
	Email     string // empty: none
	Superuser bool
	Login     ExternalLogin // UserID and CreatedAt are ignored
}

// ExternalLoginUser returns the person linked to (provider, subject), or
// core.CodeNotFound.
func (db *DB) ExternalLoginUser(ctx context.Context, provider, subject string) (core.User, error) {
	var u core.User
	err := db.read(ctx, func(t *tx) error {
		var err error
		u, err = linkedUser(ctx, t, provider, subject)
		return err
	})
	return u, err
}

func linkedUser(ctx context.Context, t *tx, provider, subject string) (core.User, error) {
	var id int64
	err := t.queryRow(ctx, `SELECT user_id FROM external_logins WHERE provider = ? AND subject = ?`, provider, subject).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return core.User{}, core.Errorf(core.CodeNotFound, "no account is linked to this %s identity", provider)
	}
	if err != nil {
		return core.User{}, fmt.Errorf("external login: %w", err)
	}
	return getUserByID(ctx, t, id)
}

// CreateExternalUser creates a person without a password, with their
// namespace, and links them to nu.Login, in one transaction. When the
// identity is already linked (a concurrent first login won), the linked
// person is returned instead, with created false. The first free name of
// nu.Usernames is used; when none is free, or the email belongs to another
// person, the error is core.CodeConflict.
func (db *DB) CreateExternalUser(ctx context.Context, nu NewExternalUser) (u core.User, created bool, err error) {
	l := nu.Login
	if l.Provider == "" || l.Subject == "" {
		return core.User{}, false, core.Errorf(core.CodeInvalid, "an external login needs a provider and a subject")
	}
	err = db.write(ctx, func(t *tx) error {
		var err error
		created = false
		if u, err = linkedUser(ctx, t, l.Provider, l.Subject); err == nil || !core.IsCode(err, core.CodeNotFound) {
			return err
		}
		name := ""
		for _, cand := range nu.Usernames {
			err := nameFree(ctx, t, cand)
			if err == nil {
				name = cand
				break
			}
			if !core.IsCode(err, core.CodeConflict) {
				return err
			}
		}
		if name == "" {
			return core.Errorf(core.CodeConflict, "no free username for this %s identity", l.Provider)
		}
		if nu.Email != "" {
			var n int
			if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE email = ? AND kind = 'user'`, nu.Email).Scan(&n); err != nil {
				return fmt.Errorf("create external user: %w", err)
			}
			if n > 0 {
				return core.Errorf(core.CodeConflict, "the email address %q is already in use by another account", nu.Email)
			}
		}
		var id int64
		if err := t.queryRow(ctx, `INSERT INTO users (username, email, kind, superuser, enabled, created_at)
			VALUES (?, ?, 'user', ?, TRUE, ?) RETURNING id`, name, nullString(nu.Email), nu.Superuser, t.now).Scan(&id); err != nil {
			return fmt.Errorf("create external user: %w", err)
		}
		if _, err := t.exec(ctx, `INSERT INTO namespaces (name, kind, user_id, created_at) VALUES (?, 'user', ?, ?)`,
			name, id, t.now); err != nil {
			return fmt.Errorf("create external user namespace: %w", err)
		}
		if err := logUserAction(ctx, t, core.LogUserCreate, name, auditMeta{"email": nu.Email, "service": l.Provider}); err != nil {
			return err
		}
		if err := insertExternalLogin(ctx, t, id, l); err != nil {
			return err
		}
		u, err = getUserByID(ctx, t, id)
		created = err == nil
		return err
	})
	return u, created, err
}

func insertExternalLogin(ctx context.Context, t *tx, userID int64, l ExternalLogin) error {
	if _, err := t.exec(ctx, `INSERT INTO external_logins (user_id, provider, subject, issuer, external_username, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, userID, l.Provider, l.Subject, l.Issuer, l.Username, t.now); err != nil {
		return fmt.Errorf("link external login: %w", err)
	}
	return nil
}

// LinkExternalLogin links an existing person to an identity. An identity
// linked to anyone, or a person already linked at the provider, is
// core.CodeConflict; a missing or robot user is core.CodeNotFound.
func (db *DB) LinkExternalLogin(ctx context.Context, l ExternalLogin) error {
	if l.Provider == "" || l.Subject == "" {
		return core.Errorf(core.CodeInvalid, "an external login needs a provider and a subject")
	}
	return db.write(ctx, func(t *tx) error {
		u, err := getUserByID(ctx, t, l.UserID)
		if err != nil {
			return err
		}
		if u.IsRobot() {
			return errUserUnknown(u.Username)
		}
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM external_logins WHERE (provider = ? AND subject = ?) OR (provider = ? AND user_id = ?)`,
			l.Provider, l.Subject, l.Provider, l.UserID).Scan(&n); err != nil {
			return fmt.Errorf("link external login: %w", err)
		}
		if n > 0 {
			return core.Errorf(core.CodeConflict, "the %s identity or account is already linked", l.Provider)
		}
		return insertExternalLogin(ctx, t, l.UserID, l)
	})
}

// ExternalLogins lists a person's linked identities by provider.
func (db *DB) ExternalLogins(ctx context.Context, userID int64) ([]ExternalLogin, error) {
	out := []ExternalLogin{}
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT user_id, provider, subject, issuer, external_username, created_at
			FROM external_logins WHERE user_id = ? ORDER BY provider`, userID)
		if err != nil {
			return fmt.Errorf("external logins: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l ExternalLogin
			var created int64
			if err := rows.Scan(&l.UserID, &l.Provider, &l.Subject, &l.Issuer, &l.Username, &created); err != nil {
				return fmt.Errorf("external logins: %w", err)
			}
			l.CreatedAt = time.UnixMilli(created)
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// UnlinkExternalLogin removes a person's link to a provider; removing a link
// that does not exist is not an error.
func (db *DB) UnlinkExternalLogin(ctx context.Context, userID int64, provider string) error {
	return db.write(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `DELETE FROM external_logins WHERE user_id = ? AND provider = ?`, userID, provider); err != nil {
			return fmt.Errorf("unlink external login: %w", err)
		}
		return nil
	})
}
