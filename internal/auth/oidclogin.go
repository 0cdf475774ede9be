package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// OIDC login for people: the OpenID Connect authorization code flow with
// PKCE (S256), state and nonce, as Quay's external login services
// (<NAME>_LOGIN_CONFIG) do it.
//
//  1. Start builds the provider's authorization URL (endpoints from its
//     discovery document) with a random state, nonce and PKCE verifier, and
//     returns them sealed (Box: encrypted and authenticated) for the browser
//     to keep in a short-lived cookie. Nothing is stored server-side, so any
//     replica can finish the login.
//  2. Finish opens that cookie, checks the state the provider sent back,
//     exchanges the code at the token endpoint (client secret and
//     code_verifier), verifies the ID token (signature with the provider's
//     published keys, iss, aud = client id, azp, exp/iat with leeway, nonce)
//     and returns the local person linked to (provider, sub), creating and
//     linking one on first login. The username comes from
//     preferred_username (or the configured claim, unique_name, upn, the
//     email's local part, sub), made to fit Quay's namespace rule and made
//     unique with a suffix as Quay does (alice, alice0, alice1, ...).
//     Membership in SUPERUSER_GROUP (in the configured group claim) grants
//     the superuser flag; its absence from a present claim revokes it.

// OIDCProviderConfig is one login provider.
type OIDCProviderConfig struct {
	// Name identifies the provider in URLs (/oauth2/{name}/callback) and in
	// account links; it must not change once people have logged in.
	Name        string
	DisplayName string
	// Issuer is the provider's issuer URL (OIDC_SERVER); its discovery
	// document is Issuer/.well-known/openid-configuration.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes are requested besides openid, email and profile.
	Scopes []string
	// GroupClaim names the claim that lists the person's groups
	// (PREFERRED_GROUP_CLAIM_NAME).
	GroupClaim string
	// SuperuserGroup makes members of this group superusers.
	SuperuserGroup string
	// UsernameClaim names the claim to take the username from instead of
	// preferred_username (PREFERRED_USERNAME_CLAIM_NAME).
	UsernameClaim string
	// VerifiedEmailClaim names a claim holding a verified email; by default
	// "email" is used when "email_verified" is true.
	VerifiedEmailClaim string
	// CAFile is a PEM bundle trusted for the provider besides the system's.
	CAFile string
}

// OIDCLoginStore is what OIDC login needs from the metadata store.
type OIDCLoginStore interface {
	ExternalLoginUser(ctx context.Context, provider, subject string) (core.User, error)
	CreateExternalUser(ctx context.Context, nu store.NewExternalUser) (core.User, bool, error)
	UpdateUser(ctx context.Context, name string, up store.UserUpdate) (core.User, error)
}

// OIDCLoginOptions tune OIDC login.
type OIDCLoginOptions struct {
	// UserCreation creates accounts for identities not linked yet
	// (FEATURE_USER_CREATION); without it they are refused.
	UserCreation bool
	// Timeout bounds each request to a provider (default 10 s).
	Timeout time.Duration
	// LoginTimeout is how long a started login may take (default 10 min).
	LoginTimeout time.Duration
	// CacheTTL is how long discovery documents and keys are used before
	// they are fetched again (default 1 h).
	CacheTTL time.Duration
}

// OIDCProviderInfo describes a provider for login pages.
type OIDCProviderInfo struct {
	Name        string
	DisplayName string
}

// OIDCStart is a started login. The browser is sent to URL and keeps Cookie
// (opaque) until Expires; the callback hands it back to Finish with State.
type OIDCStart struct {
	URL     string
	State   string
	Cookie  string
	Expires time.Time
}

// OIDCResult is a finished login.
type OIDCResult struct {
	User     core.User
	Created  bool   // the account was created by this login
	ReturnTo string // what Start was given
}

// OIDCLogin runs the code flow against the configured providers.
type OIDCLogin struct {
	store     OIDCLoginStore
	box       *Box
	log       *slog.Logger
	now       func() time.Time
	opts      OIDCLoginOptions
	providers map[string]*oidcProvider
	names     []string
}

// oidcProvider is a provider with its HTTP client and cached metadata.
type oidcProvider struct {
	cfg    OIDCProviderConfig
	client *http.Client
	keys   keySet

	mu     sync.Mutex // serializes discovery and guards the fields below
	meta   *oidcMetadata
	metaAt time.Time
}

// oidcMetadata is the part of a discovery document login uses.
type oidcMetadata struct {
	Issuer           string   `json:"issuer"`
	AuthEndpoint     string   `json:"authorization_endpoint"`
	TokenEndpoint    string   `json:"token_endpoint"`
	JWKSURI          string   `json:"jwks_uri"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// oidcPending is what the login cookie carries, sealed.
type oidcPending struct {
	Provider    string `json:"p"`
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	RedirectURI string `json:"r"`
	ReturnTo    string `json:"t,omitempty"`
	Expires     int64  `json:"e"`
}

// oidcCookiePurpose prefixes sealed login cookies, so that nothing else the
// Box seals can pass for one.
const oidcCookiePurpose = "wharf-oidc-login/v1\n"

// oidcKeyRefetch is the least time between two fetches of a provider's keys
// for an unknown kid.
const oidcKeyRefetch = 5 * time.Second

var providerNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// NewOIDCLogin checks the provider configurations and returns the login
// service. Providers are contacted on first use, not here.
func NewOIDCLogin(st OIDCLoginStore, box *Box, providers []OIDCProviderConfig, opts OIDCLoginOptions, log *slog.Logger, now func() time.Time) (*OIDCLogin, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 10 * time.Minute
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Hour
	}
	l := &OIDCLogin{store: st, box: box, log: log, now: now, opts: opts, providers: map[string]*oidcProvider{}}
	for _, c := range providers {
		if !providerNameRe.MatchString(c.Name) {
			return nil, fmt.Errorf("OIDC provider %q: the name must be 1-64 lowercase letters, digits, '-' or '_'", c.Name)
		}
		if l.providers[c.Name] != nil {
			return nil, fmt.Errorf("OIDC provider %q is configured twice", c.Name)
		}
		if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("OIDC provider %q: OIDC_SERVER %q must be an https URL", c.Name, c.Issuer)
		}
		if c.ClientID == "" || c.ClientSecret == "" {
			return nil, fmt.Errorf("OIDC provider %q: CLIENT_ID and CLIENT_SECRET are required", c.Name)
		}
		if c.DisplayName == "" {
			c.DisplayName = c.Name
		}
		pool, err := trustedRoots(c.CAFile, "CA_FILE")
		if err != nil {
			return nil, fmt.Errorf("OIDC provider %q: %w", c.Name, err)
		}
		l.providers[c.Name] = &oidcProvider{cfg: c, client: providerClient(pool, opts.Timeout, httpsOnly)}
		l.names = append(l.names, c.Name)
	}
	slices.Sort(l.names)
	return l, nil
}

func httpsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", raw)
	}
	return nil
}

// httpsOnly is the URL policy of login providers.
func httpsOnly(u *url.URL) error { return httpsURL(u.String()) }

// Providers lists the providers by name.
func (l *OIDCLogin) Providers() []OIDCProviderInfo {
	out := make([]OIDCProviderInfo, 0, len(l.names))
	for _, n := range l.names {
		out = append(out, OIDCProviderInfo{Name: n, DisplayName: l.providers[n].cfg.DisplayName})
	}
	return out
}

func (l *OIDCLogin) provider(name string) (*oidcProvider, error) {
	p := l.providers[name]
	if p == nil {
		return nil, core.Errorf(core.CodeNotFound, "no login provider named %q", name)
	}
	return p, nil
}

// loginFailed is a refused login: msg is shown to the person, cause only
// logged.
func loginFailed(cause error, format string, args ...any) error {
	return core.Wrap(core.CodeUnauthorized, cause, fmt.Sprintf(format, args...))
}

// badLoginSession is a callback that does not belong to a login this browser
// started (or that took too long).
func badLoginSession(cause error) error {
	return core.Wrap(core.CodeInvalid, cause, "the login session is missing, expired or does not match: start the login again")
}

// Start begins a login at provider. redirectURI is this server's callback
// URL, which the provider must have registered for the client; returnTo is
// handed back by Finish.
func (l *OIDCLogin) Start(ctx context.Context, provider, redirectURI, returnTo string) (OIDCStart, error) {
	p, err := l.provider(provider)
	if err != nil {
		return OIDCStart{}, err
	}
	meta, err := l.metadata(ctx, p)
	if err != nil {
		return OIDCStart{}, err
	}
	pend := oidcPending{
		Provider: provider, State: RandomString(43, alnumMixed), Nonce: RandomString(43, alnumMixed),
		Verifier: RandomString(64, alnumMixed), RedirectURI: redirectURI, ReturnTo: returnTo,
		Expires: l.now().Add(l.opts.LoginTimeout).Unix(),
	}
	b, err := json.Marshal(pend)
	if err != nil {
		return OIDCStart{}, fmt.Errorf("oidc login: %w", err)
	}
	sealed, err := l.box.Seal(oidcCookiePurpose + string(b))
	if err != nil {
		return OIDCStart{}, fmt.Errorf("oidc login: %w", err)
	}
	au, err := url.Parse(meta.AuthEndpoint)
	if err != nil {
		return OIDCStart{}, core.Wrap(core.CodeUnavailable, err, "the login provider's authorization endpoint is not a URL")
	}
	q := au.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(loginScopes(p.cfg.Scopes), " "))
	q.Set("state", pend.State)
	q.Set("nonce", pend.Nonce)
	q.Set("code_challenge", pkceChallenge(pend.Verifier))
	q.Set("code_challenge_method", "S256")
	au.RawQuery = q.Encode()
	return OIDCStart{URL: au.String(), State: pend.State, Cookie: sealed, Expires: time.Unix(pend.Expires, 0)}, nil
}

// loginScopes are openid, email, profile and the configured ones, once each.
func loginScopes(extra []string) []string {
	out := []string{"openid", "email", "profile"}
	for _, s := range extra {
		for _, f := range strings.Fields(s) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Finish completes a login from the provider's callback: the state and code
// it sent and the cookie Start made. Errors are core errors: CodeInvalid for
// a callback that does not match a login this browser started,
// CodeUnauthorized when the provider or its ID token is refused,
// CodeDenied when the account may not log in (disabled; no account and user
// creation off), CodeConflict when no account can be created (email in use),
// CodeUnavailable when the provider cannot be reached.
func (l *OIDCLogin) Finish(ctx context.Context, provider, state, code, cookie string) (OIDCResult, error) {
	p, err := l.provider(provider)
	if err != nil {
		return OIDCResult{}, err
	}
	pend, err := l.openPending(cookie)
	if err != nil {
		return OIDCResult{}, badLoginSession(err)
	}
	if pend.Provider != provider || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(pend.State)) != 1 {
		return OIDCResult{}, badLoginSession(errors.New("state mismatch"))
	}
	if l.now().Unix() > pend.Expires {
		return OIDCResult{}, badLoginSession(errors.New("login cookie expired"))
	}
	if code == "" {
		return OIDCResult{}, core.Errorf(core.CodeInvalid, "the provider sent no authorization code")
	}
	meta, err := l.metadata(ctx, p)
	if err != nil {
		return OIDCResult{}, err
	}
	raw, err := l.exchange(ctx, p, meta, code, pend)
	if err != nil {
		return OIDCResult{}, err
	}
	claims, err := l.verifyIDToken(ctx, p, meta, raw, pend.Nonce)
	if err != nil {
		return OIDCResult{}, err
	}
	u, created, err := l.localUser(ctx, p, meta, claims)
	if err != nil {
		return OIDCResult{}, err
	}
	l.log.InfoContext(ctx, "oidc login", "provider", provider, "subject", claims["sub"], "username", u.Username, "created", created)
	return OIDCResult{User: u, Created: created, ReturnTo: pend.ReturnTo}, nil
}

func (l *OIDCLogin) openPending(cookie string) (oidcPending, error) {
	var pend oidcPending
	if cookie == "" {
		return pend, errors.New("no login cookie")
	}
	plain, err := l.box.Open(cookie)
	if err != nil {
		return pend, err
	}
	body, ok := strings.CutPrefix(plain, oidcCookiePurpose)
	if !ok {
		return pend, errors.New("not a login cookie")
	}
	if err := json.Unmarshal([]byte(body), &pend); err != nil {
		return pend, err
	}
	return pend, nil
}

// exchange trades the code for the provider's tokens and returns the ID
// token. The client authenticates with HTTP Basic unless the provider only
// supports client_secret_post.
func (l *OIDCLogin) exchange(ctx context.Context, p *oidcProvider, meta *oidcMetadata, code string, pend oidcPending) (string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {pend.RedirectURI},
		"code_verifier": {pend.Verifier}}
	basic := len(meta.TokenAuthMethods) == 0 || slices.Contains(meta.TokenAuthMethods, "client_secret_basic") ||
		!slices.Contains(meta.TokenAuthMethods, "client_secret_post")
	if !basic {
		form.Set("client_id", p.cfg.ClientID)
		form.Set("client_secret", p.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", core.Wrap(core.CodeUnavailable, err, "the login provider's token endpoint is not a URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		l.log.WarnContext(ctx, "oidc login: token request failed", "provider", p.cfg.Name, "err", err)
		return "", core.Wrap(core.CodeUnavailable, err, "the login provider cannot be reached")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", core.Wrap(core.CodeUnavailable, err, "the login provider's answer was cut off")
	}
	var body struct {
		IDToken   string `json:"id_token"`
		Error     string `json:"error"`
		ErrorDesc string `json:"error_description"`
	}
	_ = json.Unmarshal(b, &body)
	if resp.StatusCode != http.StatusOK {
		l.log.WarnContext(ctx, "oidc login: the provider refused the code", "provider", p.cfg.Name,
			"status", resp.StatusCode, "error", body.Error, "error_description", body.ErrorDesc)
		if body.Error == "" {
			body.Error = resp.Status
		}
		return "", loginFailed(nil, "the login provider refused the authorization code (%s)", safeOAuthError(body.Error))
	}
	if body.IDToken == "" {
		return "", loginFailed(nil, "the login provider returned no ID token")
	}
	return body.IDToken, nil
}

// safeOAuthError keeps an OAuth error code printable and short.
func safeOAuthError(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 0x20 && r < 0x7f {
			return r
		}
		return -1
	}, s)
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// idTokenClaims are the claims checked by verifyIDToken.
type idTokenClaims struct {
	jwt.Claims
	Nonce string `json:"nonce"`
	AZP   string `json:"azp"`
}

// verifyIDToken checks the ID token and returns all its claims.
func (l *OIDCLogin) verifyIDToken(ctx context.Context, p *oidcProvider, meta *oidcMetadata, raw, nonce string) (map[string]any, error) {
	parsed, err := jwt.ParseSigned(raw, federationAlgs)
	if err != nil {
		return nil, loginFailed(err, "the ID token is malformed or uses an unsupported algorithm")
	}
	if len(parsed.Headers) != 1 {
		return nil, loginFailed(nil, "the ID token must have exactly one signature")
	}
	hdr := parsed.Headers[0]
	key, err := l.signingKey(ctx, p, meta, hdr.KeyID, hdr.Algorithm)
	if err != nil {
		return nil, err
	}
	var std idTokenClaims
	all := map[string]any{}
	if err := parsed.Claims(key.Key, &std, &all); err != nil {
		return nil, loginFailed(err, "the ID token's signature is invalid")
	}
	switch {
	case std.IssuedAt == nil || std.Expiry == nil:
		return nil, loginFailed(nil, "the ID token lacks iat or exp")
	case std.Subject == "":
		return nil, loginFailed(nil, "the ID token has no subject")
	case !std.Audience.Contains(p.cfg.ClientID):
		return nil, loginFailed(nil, "the ID token is not meant for this registry (audience)")
	case (len(std.Audience) > 1 || std.AZP != "") && std.AZP != p.cfg.ClientID:
		return nil, loginFailed(nil, "the ID token was issued to another client (azp)")
	case nonce == "" || subtle.ConstantTimeCompare([]byte(std.Nonce), []byte(nonce)) != 1:
		return nil, loginFailed(nil, "the ID token does not belong to this login (nonce)")
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: meta.Issuer, Time: l.now()}, clockSkew)
	switch {
	case err == nil:
		return all, nil
	case errors.Is(err, jwt.ErrExpired):
		return nil, loginFailed(err, "the ID token has expired")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, loginFailed(err, "the ID token comes from another issuer")
	}
	return nil, loginFailed(err, "the ID token is not valid now")
}

// signingKey returns the provider's key for kid (or, without a kid, its only
// key for alg), fetching the key set when it is stale and once more
// (rate-limited) when kid is unknown.
func (l *OIDCLogin) signingKey(ctx context.Context, p *oidcProvider, meta *oidcMetadata, kid, alg string) (*jose.JSONWebKey, error) {
	p.keys.Lock()
	defer p.keys.Unlock()
	pick := func() *jose.JSONWebKey {
		var found []*jose.JSONWebKey
		for i := range p.keys.keys {
			k := &p.keys.keys[i]
			if (kid != "" && k.KeyID == kid) || (kid == "" && (k.Algorithm == "" || k.Algorithm == alg)) {
				found = append(found, k)
			}
		}
		if len(found) != 1 || (found[0].Algorithm != "" && found[0].Algorithm != alg) {
			return nil
		}
		return found[0]
	}
	now := l.now()
	pol := keyRefresh{ttl: l.opts.CacheTTL, timeout: l.opts.Timeout}
	fetch := func(ctx context.Context) ([]jose.JSONWebKey, error) { return l.fetchKeys(ctx, p, meta) }
	err := p.keys.refresh(ctx, now, pol, false, 0, fetch)
	if k := pick(); k != nil {
		return k, nil
	}
	if err == nil {
		err = p.keys.refresh(ctx, now, pol, true, oidcKeyRefetch, fetch)
		if k := pick(); k != nil {
			return k, nil
		}
	}
	if err != nil && p.keys.keys == nil {
		return nil, core.Wrap(core.CodeUnavailable, err, "cannot fetch the login provider's signing keys")
	}
	return nil, loginFailed(err, "the ID token is signed with a key the login provider does not publish")
}

// fetchKeys reads the key set. Unusable keys are skipped.
func (l *OIDCLogin) fetchKeys(ctx context.Context, p *oidcProvider, meta *oidcMetadata) ([]jose.JSONWebKey, error) {
	set, err := getKeySet(ctx, p.client, meta.JWKSURI, httpsOnly, false)
	if err != nil {
		l.log.WarnContext(ctx, "oidc login: cannot fetch the provider's keys", "provider", p.cfg.Name, "err", err)
	}
	return set, err
}

// metadata returns the provider's discovery document, fetching it when it is
// not cached or stale. A failed refresh keeps the cached one.
func (l *OIDCLogin) metadata(ctx context.Context, p *oidcProvider) (*oidcMetadata, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil && l.now().Sub(p.metaAt) < l.opts.CacheTTL {
		return p.meta, nil
	}
	var m oidcMetadata
	// The fetch fills a shared cache: the timeout bounds it, not the
	// caller going away.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.Timeout)
	err := getJSON(fctx, p.client, discoveryURL(p.cfg.Issuer), httpsOnly, &m)
	cancel()
	if err == nil && strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(p.cfg.Issuer, "/") {
		err = fmt.Errorf("the discovery document names issuer %q, not %q", m.Issuer, p.cfg.Issuer)
	}
	for _, u := range []string{m.AuthEndpoint, m.TokenEndpoint, m.JWKSURI} {
		if err == nil {
			err = httpsURL(u)
		}
	}
	if err != nil {
		l.log.WarnContext(ctx, "oidc login: discovery failed", "provider", p.cfg.Name, "err", err)
		if p.meta != nil {
			return p.meta, nil
		}
		return nil, core.Wrap(core.CodeUnavailable, err, "cannot load the login provider's configuration")
	}
	p.meta, p.metaAt = &m, l.now()
	return p.meta, nil
}
