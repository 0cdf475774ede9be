package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The authorization code flow (OpenID Connect Core 3.1, RFC 6749 4.1, PKCE
// RFC 7636). RegisterClient mounts two endpoints and advertises them in the
// discovery document:
//
//   - AuthorizePath checks the request (response_type=code, a registered
//     client_id and its exact redirect_uri, an "openid" scope, a S256
//     code_challenge unless PKCE is optional) and, with no login page,
//     approves it at once for the configured LoginUser: it redirects to the
//     redirect_uri with a one-time code and the state.
//   - TokenPath exchanges a code (once, within CodeLifetime) for an access
//     token and an ID token, after checking client authentication
//     (client_secret_basic or client_secret_post), the redirect_uri and the
//     PKCE code_verifier. The ID token carries the nonce of the authorization
//     request and the user's claims.
//
// Hooks let tests break the ID token (wrong nonce or audience, expired,
// tampered signature) as a misbehaving or hostile provider would.

// Paths of the login endpoints.
const (
	AuthorizePath = "/authorize"
	TokenPath     = "/token"
)

// CodeLifetime is how long an authorization code can be exchanged.
const CodeLifetime = time.Minute

// LoginClient is a relying party registered for the code flow.
type LoginClient struct {
	ID     string
	Secret string
	// RedirectURIs are the exact redirect URIs the client may use.
	RedirectURIs []string
	// PKCEOptional lets authorization requests without a code_challenge
	// through (by default one is required, with method S256).
	PKCEOptional bool
}

// LoginUser is the person the authorization endpoint logs in. Empty fields
// are left out of the ID token; Claims adds or overrides claims (a nil value
// removes one).
type LoginUser struct {
	Subject           string
	PreferredUsername string
	Email             string
	EmailVerified     bool
	Name              string
	Groups            []string // the "groups" claim
	Claims            Claims
}

// LoginHooks change what the token endpoint returns.
type LoginHooks struct {
	// IDToken edits the ID token's claims before signing.
	IDToken func(c Claims)
	// Token edits the signed ID token (to tamper with it).
	Token func(idToken string) string
}

// login is the state of the code flow endpoints.
type login struct {
	mu       sync.Mutex
	mounted  bool
	clients  map[string]LoginClient
	user     LoginUser
	hooks    LoginHooks
	deny     string // error code the authorization endpoint answers with, if set
	codes    map[string]*authCode
	tokenReq int
}

// authCode is an issued authorization code.
type authCode struct {
	client    string
	redirect  string
	challenge string
	nonce     string
	scope     string
	user      LoginUser
	issued    time.Time
	used      bool
}

// RegisterClient registers (or replaces) a client of the code flow; the first
// call mounts the endpoints and advertises them in the discovery document.
func (i *Issuer) RegisterClient(c LoginClient) {
	i.login.mu.Lock()
	defer i.login.mu.Unlock()
	if i.login.clients == nil {
		i.login.clients = map[string]LoginClient{}
		i.login.codes = map[string]*authCode{}
	}
	i.login.clients[c.ID] = c
	if i.login.mounted {
		return
	}
	i.login.mounted = true
	i.mux.HandleFunc("GET "+AuthorizePath, i.serveAuthorize)
	i.mux.HandleFunc("POST "+TokenPath, i.serveToken)
	i.SetDiscovery("authorization_endpoint", i.URL()+AuthorizePath)
	i.SetDiscovery("token_endpoint", i.URL()+TokenPath)
	i.SetDiscovery("token_endpoint_auth_methods_supported", []string{"client_secret_basic", "client_secret_post"})
	i.SetDiscovery("code_challenge_methods_supported", []string{"S256"})
	i.SetDiscovery("scopes_supported", []string{"openid", "email", "profile", "groups"})
	i.SetDiscovery("grant_types_supported", []string{"authorization_code"})
}

// SetLoginUser sets the person the authorization endpoint logs in from now
// on (codes already issued keep theirs).
func (i *Issuer) SetLoginUser(u LoginUser) {
	i.login.mu.Lock()
	defer i.login.mu.Unlock()
	i.login.user = u
}

// SetLoginHooks replaces the hooks of the token endpoint.
func (i *Issuer) SetLoginHooks(h LoginHooks) {
	i.login.mu.Lock()
	defer i.login.mu.Unlock()
	i.login.hooks = h
}

// DenyLogins makes the authorization endpoint refuse every request with the
// OAuth error code (such as "access_denied"); "" approves again.
func (i *Issuer) DenyLogins(code string) {
	i.login.mu.Lock()
	defer i.login.mu.Unlock()
	i.login.deny = code
}

// TokenRequests counts the requests to the token endpoint.
func (i *Issuer) TokenRequests() int {
	i.login.mu.Lock()
	defer i.login.mu.Unlock()
	return i.login.tokenReq
}

// PKCEChallenge returns the S256 code_challenge of a code_verifier.
func PKCEChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i.login.mu.Lock()
	c, ok := i.login.clients[q.Get("client_id")]
	user, deny := i.login.user, i.login.deny
	i.login.mu.Unlock()
	// Without a known client and one of its redirect URIs, the error is
	// shown to the user: redirecting would make the server an open
	// redirector.
	if !ok {
		authorizePage(w, "unknown client_id")
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, redirect) {
		authorizePage(w, "redirect_uri is not registered for this client")
		return
	}
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope", "the openid scope is required")
	case challenge == "" && !c.PKCEOptional:
		fail("invalid_request", "code_challenge is required")
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
	case challenge != "" && !validPKCE(challenge):
		fail("invalid_request", "malformed code_challenge")
	case deny != "":
		fail(deny, "the login was refused")
	default:
		code := randomString(32)
		i.login.mu.Lock()
		i.login.codes[code] = &authCode{client: c.ID, redirect: redirect, challenge: challenge, nonce: q.Get("nonce"),
			scope: q.Get("scope"), user: user, issued: i.now()}
		i.login.mu.Unlock()
		v := url.Values{"code": {code}}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		http.Redirect(w, r, redirect+"?"+v.Encode(), http.StatusFound)
	}
}

// authorizePage is the provider's own error page.
func authorizePage(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("<!doctype html><title>Login error</title><p>" + html.EscapeString(msg) + "</p>\n"))
}

// validPKCE checks the RFC 7636 syntax of a code_verifier or challenge:
// 43 to 128 unreserved characters.
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return false
		}
	}
	return true
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	i.login.mu.Lock()
	i.login.tokenReq++
	i.login.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	f := r.PostForm
	// Client authentication: HTTP Basic (both parts form-encoded, RFC 6749
	// 2.3.1) or client_id and client_secret in the body, not both.
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if f.Get("client_secret") != "" {
			tokenError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
			return
		}
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	i.login.mu.Lock()
	c, ok := i.login.clients[id]
	i.login.mu.Unlock()
	if !ok || secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	i.login.mu.Lock()
	ac := i.login.codes[f.Get("code")]
	var replay bool
	if ac != nil {
		replay = ac.used
		ac.used = true
	}
	hooks := i.login.hooks
	i.login.mu.Unlock()
	switch {
	case ac == nil || ac.client != c.ID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown authorization code")
		return
	case replay:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the authorization code was already used")
		return
	case i.now().Sub(ac.issued) > CodeLifetime:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the authorization code has expired")
		return
	case f.Get("redirect_uri") != ac.redirect:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	}
	if ac.challenge != "" {
		v := f.Get("code_verifier")
		if !validPKCE(v) || subtle.ConstantTimeCompare([]byte(PKCEChallenge(v)), []byte(ac.challenge)) != 1 {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
	}
	claims := i.idTokenClaims(c.ID, ac)
	if hooks.IDToken != nil {
		hooks.IDToken(claims)
	}
	k := i.SigningKey()
	idToken, err := i.signClaims(jose.SigningKey{Algorithm: k.Alg, Key: k.priv}, k.ID, claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	if hooks.Token != nil {
		idToken = hooks.Token(idToken)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{
		"access_token": randomString(32),
		"token_type":   "Bearer",
		"expires_in":   int(DefaultLifetime.Seconds()),
		"scope":        ac.scope,
		"id_token":     idToken,
	})
}

// idTokenClaims are the claims of the ID token for a code.
func (i *Issuer) idTokenClaims(clientID string, ac *authCode) Claims {
	u := ac.user
	c := Claims{"aud": clientID, "azp": clientID, "sub": u.Subject, "auth_time": i.now().Unix()}
	if ac.nonce != "" {
		c["nonce"] = ac.nonce
	}
	if u.PreferredUsername != "" {
		c["preferred_username"] = u.PreferredUsername
	}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if u.Name != "" {
		c["name"] = u.Name
	}
	if u.Groups != nil {
		c["groups"] = slices.Clone(u.Groups)
	}
	maps.Copy(c, u.Claims)
	return c
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
