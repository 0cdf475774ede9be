package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

func msOrZero(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

const appTokenColumns = `id, uuid, user_id, title, token_prefix, secret_hash, created_at, expires_at, last_accessed`

func scanAppToken(row interface{ Scan(...any) error }) (core.AppToken, error) {
	var a core.AppToken
	var created int64
	var expires, accessed sql.NullInt64
	err := row.Scan(&a.ID, &a.UUID, &a.UserID, &a.Title, &a.Prefix, &a.SecretHash, &created, &expires, &accessed)
	a.CreatedAt, a.ExpiresAt, a.LastAccessed = time.UnixMilli(created), msOrZero(expires), msOrZero(accessed)
	return a, err
}

// CreateAppToken stores an app token (its secret only as a hash).
func (db *DB) CreateAppToken(ctx context.Context, userID int64, title, prefix, secretHash string, expires time.Time) (core.AppToken, error) {
	var a core.AppToken
	err := db.write(ctx, func(t *tx) error {
		id := newUUID()
		if _, err := t.exec(ctx, `INSERT INTO app_tokens (uuid, user_id, title, token_prefix, secret_hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, userID, title, prefix, secretHash, t.now, nullTime(expires)); err != nil {
			return fmt.Errorf("create app token: %w", err)
		}
		if err := logAppToken(ctx, t, core.LogCreateAppSpecificToken, userID, id, title); err != nil {
			return err
		}
		var err error
		a, err = scanAppToken(t.queryRow(ctx, `SELECT `+appTokenColumns+` FROM app_tokens WHERE uuid = ?`, id))
		return err
	})
	return a, err
}

// AppTokenByPrefix finds an app token by its lookup prefix, or
// core.CodeNotFound.
func (db *DB) AppTokenByPrefix(ctx context.Context, prefix string) (core.AppToken, error) {
	var a core.AppToken
	err := db.read(ctx, func(t *tx) error {
		var err error
		a, err = scanAppToken(t.queryRow(ctx, `SELECT `+appTokenColumns+` FROM app_tokens WHERE token_prefix = ?`, prefix))
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "app token not found")
		}
		return err
	})
	return a, err
}

// AppTokens lists a user's app tokens, newest first.
func (db *DB) AppTokens(ctx context.Context, userID int64) ([]core.AppToken, error) {
	var out []core.AppToken
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+appTokenColumns+` FROM app_tokens WHERE user_id = ? ORDER BY created_at DESC, id DESC`, userID)
		if err != nil {
			return fmt.Errorf("list app tokens: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAppToken(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// AppToken returns one of a user's app tokens by uuid, or core.CodeNotFound.
func (db *DB) AppToken(ctx context.Context, userID int64, id string) (core.AppToken, error) {
	var a core.AppToken
	err := db.read(ctx, func(t *tx) error {
		var err error
		a, err = scanAppToken(t.queryRow(ctx, `SELECT `+appTokenColumns+` FROM app_tokens WHERE uuid = ? AND user_id = ?`, id, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "app token %q not found", id)
		}
		return err
	})
	return a, err
}

// DeleteAppToken revokes one of a user's app tokens.
func (db *DB) DeleteAppToken(ctx context.Context, userID int64, id string) error {
	return db.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM app_tokens WHERE uuid = ? AND user_id = ?`, id, userID)
		if err != nil {
			return fmt.Errorf("delete app token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeNotFound, "app token %q not found", id)
		}
		return logAppToken(ctx, t, core.LogRevokeAppSpecificToken, userID, id, "")
	})
}

// TouchAppToken records a use of an app token.
func (db *DB) TouchAppToken(ctx context.Context, id int64) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE app_tokens SET last_accessed = ? WHERE id = ?`, t.now, id)
		return err
	})
}

const oauthAppColumns = `a.id, a.namespace_id, n.name, a.client_id, a.client_secret_enc, a.name, a.redirect_uri,
	a.application_uri, a.description, a.created_at`

func scanOAuthApp(row interface{ Scan(...any) error }) (core.OAuthApp, error) {
	var a core.OAuthApp
	var created int64
	err := row.Scan(&a.ID, &a.NamespaceID, &a.Namespace, &a.ClientID, &a.ClientSecretEnc, &a.Name, &a.RedirectURI,
		&a.ApplicationURI, &a.Description, &created)
	a.CreatedAt = time.UnixMilli(created)
	return a, err
}

// CreateOAuthApp creates an OAuth application of an organization.
func (db *DB) CreateOAuthApp(ctx context.Context, org string, a core.OAuthApp) (core.OAuthApp, error) {
	var out core.OAuthApp
	err := db.write(ctx, func(t *tx) error {
		n, err := getNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO oauth_applications (namespace_id, client_id, client_secret_enc, name, redirect_uri,
			application_uri, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ID, a.ClientID, a.ClientSecretEnc, a.Name, a.RedirectURI, a.ApplicationURI, a.Description, t.now); err != nil {
			return fmt.Errorf("create application: %w", err)
		}
		if err := logAction(ctx, t, core.LogCreateApplication, n.ID, 0, auditMeta{"application_name": a.Name, "client_id": a.ClientID}); err != nil {
			return err
		}
		out, err = getOAuthApp(ctx, t, a.ClientID)
		return err
	})
	return out, err
}

func getOAuthApp(ctx context.Context, t *tx, clientID string) (core.OAuthApp, error) {
	a, err := scanOAuthApp(t.queryRow(ctx, `SELECT `+oauthAppColumns+` FROM oauth_applications a
		JOIN namespaces n ON n.id = a.namespace_id WHERE a.client_id = ?`, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, core.Errorf(core.CodeNotFound, "application %q not found", clientID)
	}
	return a, err
}

// OAuthApp returns an application by client id, or core.CodeNotFound.
func (db *DB) OAuthApp(ctx context.Context, clientID string) (core.OAuthApp, error) {
	var a core.OAuthApp
	err := db.read(ctx, func(t *tx) error {
		var err error
		a, err = getOAuthApp(ctx, t, clientID)
		return err
	})
	return a, err
}

// OAuthApps lists an organization's applications.
func (db *DB) OAuthApps(ctx context.Context, org string) ([]core.OAuthApp, error) {
	var out []core.OAuthApp
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+oauthAppColumns+` FROM oauth_applications a
			JOIN namespaces n ON n.id = a.namespace_id WHERE n.name = ? ORDER BY a.name, a.id`, org)
		if err != nil {
			return fmt.Errorf("list applications: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanOAuthApp(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// UpdateOAuthApp replaces an application's editable fields (and the secret
// when ClientSecretEnc is set).
func (db *DB) UpdateOAuthApp(ctx context.Context, a core.OAuthApp) (core.OAuthApp, error) {
	var out core.OAuthApp
	err := db.write(ctx, func(t *tx) error {
		cur, err := getOAuthApp(ctx, t, a.ClientID)
		if err != nil {
			return err
		}
		secret := cur.ClientSecretEnc
		if a.ClientSecretEnc != "" {
			secret = a.ClientSecretEnc
		}
		if _, err := t.exec(ctx, `UPDATE oauth_applications SET name = ?, redirect_uri = ?, application_uri = ?, description = ?,
			client_secret_enc = ? WHERE id = ?`, a.Name, a.RedirectURI, a.ApplicationURI, a.Description, secret, cur.ID); err != nil {
			return fmt.Errorf("update application: %w", err)
		}
		if err := logAction(ctx, t, core.LogUpdateApplication, cur.NamespaceID, 0, auditMeta{"application_name": a.Name, "client_id": a.ClientID}); err != nil {
			return err
		}
		out, err = getOAuthApp(ctx, t, a.ClientID)
		return err
	})
	return out, err
}

// DeleteOAuthApp deletes an application and its tokens.
func (db *DB) DeleteOAuthApp(ctx context.Context, clientID string) error {
	return db.write(ctx, func(t *tx) error {
		cur, err := getOAuthApp(ctx, t, clientID)
		if err != nil {
			return err
		}
		if err := logAction(ctx, t, core.LogDeleteApplication, cur.NamespaceID, 0, auditMeta{"application_name": cur.Name, "client_id": clientID}); err != nil {
			return err
		}
		_, err = t.exec(ctx, `DELETE FROM oauth_applications WHERE id = ?`, cur.ID)
		return err
	})
}

const oauthTokenColumns = `id, uuid, COALESCE(application_id, 0), user_id, token_prefix, secret_hash, scope, created_at, expires_at`

func scanOAuthToken(row interface{ Scan(...any) error }) (core.OAuthToken, error) {
	var o core.OAuthToken
	var created int64
	var expires sql.NullInt64
	err := row.Scan(&o.ID, &o.UUID, &o.ApplicationID, &o.UserID, &o.Prefix, &o.SecretHash, &o.Scope, &created, &expires)
	o.CreatedAt, o.ExpiresAt = time.UnixMilli(created), msOrZero(expires)
	return o, err
}

// CreateOAuthToken stores an access token (its secret only as a hash).
// applicationID 0 means a token not tied to an application (bootstrap).
func (db *DB) CreateOAuthToken(ctx context.Context, applicationID, userID int64, prefix, secretHash, scope string, expires time.Time) (core.OAuthToken, error) {
	var o core.OAuthToken
	err := db.write(ctx, func(t *tx) error {
		id := newUUID()
		app := sql.NullInt64{Int64: applicationID, Valid: applicationID != 0}
		if _, err := t.exec(ctx, `INSERT INTO oauth_tokens (uuid, application_id, user_id, token_prefix, secret_hash, scope, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, app, userID, prefix, secretHash, scope, t.now, nullTime(expires)); err != nil {
			return fmt.Errorf("create oauth token: %w", err)
		}
		var err error
		o, err = scanOAuthToken(t.queryRow(ctx, `SELECT `+oauthTokenColumns+` FROM oauth_tokens WHERE uuid = ?`, id))
		return err
	})
	return o, err
}

// OAuthTokenByPrefix finds an access token by its lookup prefix, or
// core.CodeNotFound.
func (db *DB) OAuthTokenByPrefix(ctx context.Context, prefix string) (core.OAuthToken, error) {
	var o core.OAuthToken
	err := db.read(ctx, func(t *tx) error {
		var err error
		o, err = scanOAuthToken(t.queryRow(ctx, `SELECT `+oauthTokenColumns+` FROM oauth_tokens WHERE token_prefix = ?`, prefix))
		if errors.Is(err, sql.ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "token not found")
		}
		return err
	})
	return o, err
}

// ServiceKeys lists signing keys that have not expired at now, newest first.
func (db *DB) ServiceKeys(ctx context.Context) ([]core.ServiceKey, error) {
	var out []core.ServiceKey
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT kid, alg, private_key_enc, public_jwk, created_at, expires_at FROM service_keys
			WHERE expires_at > ? ORDER BY created_at DESC, kid`, db.nowMs())
		if err != nil {
			return fmt.Errorf("list service keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k core.ServiceKey
			var created, expires int64
			if err := rows.Scan(&k.KID, &k.Alg, &k.PrivateKeyEnc, &k.PublicJWK, &created, &expires); err != nil {
				return err
			}
			k.CreatedAt, k.ExpiresAt = time.UnixMilli(created), time.UnixMilli(expires)
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// AddServiceKey stores a new signing key.
func (db *DB) AddServiceKey(ctx context.Context, k core.ServiceKey) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO service_keys (kid, alg, private_key_enc, public_jwk, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, k.KID, k.Alg, k.PrivateKeyEnc, k.PublicJWK, t.now, k.ExpiresAt.UnixMilli())
		return err
	})
}

// ExpireServiceKey sets a key's expiry (rotation keeps the old key valid for
// verification until then).
func (db *DB) ExpireServiceKey(ctx context.Context, kid string, at time.Time) error {
	return db.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `UPDATE service_keys SET expires_at = ? WHERE kid = ? AND expires_at > ?`, at.UnixMilli(), kid, at.UnixMilli())
		return err
	})
}
