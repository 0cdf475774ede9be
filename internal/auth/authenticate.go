package auth

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wharfhq/wharf/internal/core"
)

// CredentialStore is what authentication needs from the metadata store.
type CredentialStore interface {
	User(ctx context.Context, name string) (core.User, error)
	UserByID(ctx context.Context, id int64) (core.User, error)
	AppTokenByPrefix(ctx context.Context, prefix string) (core.AppToken, error)
	OAuthTokenByPrefix(ctx context.Context, prefix string) (core.OAuthToken, error)
}

// Policy is the part of the configuration that shapes authentication.
type Policy struct {
	// DirectLogin allows people to use their password for CLI logins
	// (FEATURE_DIRECT_LOGIN).
	DirectLogin bool
	// AppTokens allows $app logins (FEATURE_APP_SPECIFIC_TOKENS).
	AppTokens bool
	// SuperUsers names superusers (SUPER_USERS), in addition to the
	// database flag.
	SuperUsers []string
}

// Authenticator verifies credentials.
type Authenticator struct {
	store  CredentialStore
	box    *Box
	policy Policy
	now    func() time.Time
	dummy  []byte // bcrypt hash compared against for unknown users

	ldap    *LDAP           // people log in against LDAP when set (WithLDAP)
	users   UserProvisioner // creates and updates LDAP users' local accounts
	limiter *Limiter        // failed-login rate limiter, or nil (WithLimiter)
	fedKeys *Keys           // verifies exchanged robot tokens, or nil (WithFederatedTokens)
	fedHost string          // the audience exchanged robot tokens must name, if set
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithLimiter rate-limits failed logins (nil: no limit).
func WithLimiter(l *Limiter) Option { return func(a *Authenticator) { a.limiter = l } }

// NewAuthenticator returns an authenticator.
func NewAuthenticator(store CredentialStore, box *Box, policy Policy, now func() time.Time, opts ...Option) *Authenticator {
	dummy, _ := bcrypt.GenerateFromPassword([]byte(RandomString(20, alnumMixed)), BcryptCost)
	a := &Authenticator{store: store, box: box, policy: policy, now: now, dummy: dummy}
	for _, o := range opts {
		o(a)
	}
	return a
}

func errBadCredentials() error {
	return core.Errorf(core.CodeUnauthorized, "invalid username or password")
}

// IdentityFor wraps a user who authenticated by method, marking superusers.
func (a *Authenticator) IdentityFor(u core.User, method string) Identity {
	return a.identityFor(u, method, nil)
}

// identityFor wraps a user, marking superusers.
func (a *Authenticator) identityFor(u core.User, method string, scopes []string) Identity {
	id := Identity{User: u, Method: method, Scopes: scopes}
	if !u.IsRobot() {
		id.Superuser = u.Superuser
		for _, s := range a.policy.SuperUsers {
			if s == u.Username {
				id.Superuser = true
			}
		}
	}
	return id
}

// Basic verifies a username and password as Quay accepts them on /v2/auth and
// docker login: "$app" + app token, "$oauthtoken" + OAuth token,
// "namespace+robot" + robot token, or a person's password (when direct login
// is enabled). With LDAP (WithLDAP), people's passwords are checked by the
// directory, never against local hashes. Every failure is
// core.CodeUnauthorized with one message; with a rate limiter (WithLimiter),
// an account or address that failed too often is core.CodeTooManyRequests.
func (a *Authenticator) Basic(ctx context.Context, username, password string) (Identity, error) {
	if username == "" || password == "" || len(username) > 300 || len(password) > 4096 {
		return Identity{}, errBadCredentials()
	}
	return a.limited(ctx, username, func() (Identity, error) { return a.basic(ctx, username, password) })
}

func (a *Authenticator) basic(ctx context.Context, username, password string) (Identity, error) {
	switch {
	case username == "$app":
		return a.appToken(ctx, password)
	case username == "$oauthtoken":
		return a.OAuthToken(ctx, password)
	case strings.Contains(username, "+"):
		return a.robot(ctx, username, password)
	case a.ldap != nil && a.policy.DirectLogin:
		return a.ldapLogin(ctx, username, password)
	}
	u, err := a.store.User(ctx, username)
	if err != nil || u.IsRobot() || !a.policy.DirectLogin {
		_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		if err != nil && !core.IsCode(err, core.CodeNotFound) {
			return Identity{}, err
		}
		return Identity{}, errBadCredentials()
	}
	if !CheckPassword(u.PasswordHash, password) || !u.Enabled {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, MethodPassword, nil), nil
}

func (a *Authenticator) robot(ctx context.Context, name, token string) (Identity, error) {
	u, err := a.store.User(ctx, name)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return Identity{}, errBadCredentials()
		}
		return Identity{}, err
	}
	if !u.IsRobot() || !u.Enabled {
		return Identity{}, errBadCredentials()
	}
	if a.fedKeys != nil && looksLikeJWT(token) {
		return a.federatedRobot(ctx, u, token)
	}
	if u.RobotTokenEnc == "" {
		return Identity{}, errBadCredentials()
	}
	want, err := a.box.Open(u.RobotTokenEnc)
	if err != nil {
		return Identity{}, err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, MethodRobot, nil), nil
}

func (a *Authenticator) appToken(ctx context.Context, token string) (Identity, error) {
	if !a.policy.AppTokens {
		return Identity{}, errBadCredentials()
	}
	prefix, secret, ok := SplitToken(token)
	if !ok {
		return Identity{}, errBadCredentials()
	}
	t, err := a.store.AppTokenByPrefix(ctx, prefix)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return Identity{}, errBadCredentials()
		}
		return Identity{}, err
	}
	if !SecretMatches(t.SecretHash, secret) || (!t.ExpiresAt.IsZero() && !a.now().Before(t.ExpiresAt)) {
		return Identity{}, errBadCredentials()
	}
	u, err := a.store.UserByID(ctx, t.UserID)
	if err != nil || !u.Enabled {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, MethodAppToken, nil), nil
}

// OAuthToken verifies an OAuth access token (API bearer token or
// $oauthtoken password) and returns its identity with its scopes.
func (a *Authenticator) OAuthToken(ctx context.Context, token string) (Identity, error) {
	prefix, secret, ok := SplitToken(token)
	if !ok {
		return Identity{}, core.Errorf(core.CodeUnauthorized, "invalid access token")
	}
	t, err := a.store.OAuthTokenByPrefix(ctx, prefix)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return Identity{}, core.Errorf(core.CodeUnauthorized, "invalid access token")
		}
		return Identity{}, err
	}
	if !SecretMatches(t.SecretHash, secret) || (!t.ExpiresAt.IsZero() && !a.now().Before(t.ExpiresAt)) {
		return Identity{}, core.Errorf(core.CodeUnauthorized, "invalid or expired access token")
	}
	u, err := a.store.UserByID(ctx, t.UserID)
	if err != nil || !u.Enabled {
		return Identity{}, core.Errorf(core.CodeUnauthorized, "invalid access token")
	}
	return a.identityFor(u, MethodOAuth, strings.Fields(t.Scope)), nil
}

// Refresh re-reads the account behind an identity whose password was
// verified earlier (a cached Basic login): it fails with
// core.CodeUnauthorized when the account was disabled, deleted or had its
// password changed since, and otherwise returns the identity with the
// account's current flags. It costs one indexed read instead of bcrypt.
func (a *Authenticator) Refresh(ctx context.Context, id Identity) (Identity, error) {
	u, err := a.store.UserByID(ctx, id.User.ID)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return Identity{}, errBadCredentials()
		}
		return Identity{}, err
	}
	if !u.Enabled || u.PasswordHash != id.User.PasswordHash {
		return Identity{}, errBadCredentials()
	}
	return a.identityFor(u, id.Method, id.Scopes), nil
}

// ByName loads the identity of a user named in a verified registry token.
func (a *Authenticator) ByName(ctx context.Context, name string) (Identity, error) {
	u, err := a.store.User(ctx, name)
	if err != nil {
		return Identity{}, err
	}
	if !u.Enabled {
		return Identity{}, core.Errorf(core.CodeUnauthorized, "account disabled")
	}
	method := MethodPassword
	if u.IsRobot() {
		method = MethodRobot
	}
	return a.identityFor(u, method, nil), nil
}
