package registry

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// Access configures authentication and authorization on /v2/. A Handler
// without Access serves everyone (unit tests of the protocol only).
type Access struct {
	Keys  *auth.Keys
	Authn *auth.Authenticator
	Authz *auth.Authorizer
	// Hostname is SERVER_HOSTNAME, the token audience and service; empty
	// means the Host of each request.
	Hostname string
	// Scheme is the preferred URL scheme for the token realm.
	Scheme string
	// PrivateOnPush makes repositories created by a push private.
	PrivateOnPush bool

	cache     tokenCache
	basic     basicCache
	decisions decisionCache
}

// decisionCache remembers, for a few seconds, which registry actions a caller
// without a token (Basic credentials or anonymous) may perform on a
// repository, so a client's burst of requests costs one permission lookup.
// A changed permission applies to such callers within decisionTTL (callers
// with tokens keep what their token says until it expires).
type decisionCache struct {
	mu sync.Mutex
	m  map[decisionKey]decisionEntry
}

type decisionKey struct {
	user   int64
	repo   string
	action string
}

type decisionEntry struct {
	allowed bool
	exp     time.Time
}

const decisionTTL = 5 * time.Second

func (c *decisionCache) get(k decisionKey, now time.Time) (allowed, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.m[k]
	if !found || now.After(e.exp) {
		return false, false
	}
	return e.allowed, true
}

func (c *decisionCache) put(k decisionKey, allowed bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 50000 {
		c.m = make(map[decisionKey]decisionEntry)
	}
	c.m[k] = decisionEntry{allowed: allowed, exp: now.Add(decisionTTL)}
}

// allowedActions answers whether id may perform any of acts on repo, through
// the decision cache.
func (a *Access) allowed(ctx context.Context, id auth.Identity, repo string, acts []string) (bool, error) {
	k := decisionKey{user: id.User.ID, repo: repo, action: strings.Join(acts, ",")}
	now := time.Now()
	if ok, found := a.decisions.get(k, now); found {
		return ok, nil
	}
	granted, err := a.Authz.RepositoryActions(ctx, id, repo, acts)
	if err != nil {
		return false, err
	}
	ok := len(granted) > 0
	a.decisions.put(k, ok, now)
	return ok, nil
}

// basicCache remembers verified passwords for basicCacheTTL, so clients that
// send a password with every request pay for bcrypt once; every hit still
// re-reads the account (Authenticator.Refresh), so disabling an account or
// changing its password applies to the next request. Keys are SHA-256
// digests of the credentials, never the credentials. Robot and app tokens
// are cheap to verify and are never cached, so revoking them is immediate.
type basicCache struct {
	mu sync.Mutex
	m  map[[32]byte]basicEntry
}

type basicEntry struct {
	id  auth.Identity
	exp time.Time
}

const basicCacheTTL = 30 * time.Second

func basicKey(user, pass string) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + pass))
}

func (c *basicCache) get(k [32]byte, now time.Time) (auth.Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.exp) {
		return auth.Identity{}, false
	}
	return e.id, true
}

func (c *basicCache) put(k [32]byte, id auth.Identity, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 10000 {
		c.m = make(map[[32]byte]basicEntry)
	}
	c.m[k] = basicEntry{id: id, exp: now.Add(basicCacheTTL)}
}

func (c *basicCache) drop(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// tokenCache remembers verified tokens until they expire, so a client's
// many requests with one token verify its signature once.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*auth.Claims
}

func (c *tokenCache) get(tok string, now time.Time) *auth.Claims {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.m[tok]
	if cl != nil && cl.Expiry != nil && now.Before(cl.Expiry.Time().Add(30*time.Second)) {
		return cl
	}
	return nil
}

func (c *tokenCache) put(tok string, cl *auth.Claims, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 10000 {
		c.m = make(map[string]*auth.Claims)
	}
	c.m[tok] = cl
}

func (a *Access) service(r *http.Request) string {
	if a.Hostname != "" {
		return a.Hostname
	}
	return r.Host
}

func (a *Access) realm(r *http.Request) string {
	scheme := a.Scheme
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + a.service(r) + "/v2/auth"
}

// challenge is a 401 with the Bearer challenge clients follow to /v2/auth.
type challenge struct {
	realm, service, scope, msg string
}

func (c *challenge) Error() string { return c.msg }

func (a *Access) challenge(r *http.Request, scope, msg string) error {
	return &challenge{realm: a.realm(r), service: a.service(r), scope: scope, msg: msg}
}

func (c *challenge) header() string {
	h := fmt.Sprintf(`Bearer realm=%q,service=%q`, c.realm, c.service)
	if c.scope != "" {
		h += fmt.Sprintf(`,scope=%q`, c.scope)
	}
	return h
}

type authKey struct{}

// requestAuth is what the request authenticated as.
type requestAuth struct {
	claims *auth.Claims   // a verified Bearer token, or nil
	basic  *auth.Identity // verified Basic credentials, or nil

	once  sync.Once
	ident auth.Identity
	err   error
}

func authFrom(ctx context.Context) *requestAuth {
	ra, _ := ctx.Value(authKey{}).(*requestAuth)
	return ra
}

// identity loads the caller's identity (anonymous without a token).
func (h *Handler) identity(ctx context.Context) (auth.Identity, error) {
	ra := authFrom(ctx)
	if ra != nil && ra.basic != nil {
		return *ra.basic, nil
	}
	if ra == nil || ra.claims == nil || ra.claims.Subject == "" || ra.claims.Context.EntityKind == "anonymous" {
		return auth.Anonymous, nil
	}
	ra.once.Do(func() { ra.ident, ra.err = h.opts.Access.Authn.ByName(ctx, ra.claims.Subject) })
	return ra.ident, ra.err
}

// authenticate verifies a Bearer token if the request has one. A bad token is
// a 401 challenge.
func (h *Handler) authenticate(r *http.Request) (*requestAuth, error) {
	a := h.opts.Access
	ra := &requestAuth{}
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return ra, nil
	}
	now := time.Now()
	if user, pass, ok := r.BasicAuth(); ok {
		k := basicKey(user, pass)
		id, ok := a.basic.get(k, now)
		if ok {
			// The password was verified moments ago; the account may
			// have been disabled or its password changed since.
			var err error
			if id, err = a.Authn.Refresh(r.Context(), id); err != nil {
				a.basic.drop(k)
				if core.IsCode(err, core.CodeUnauthorized) {
					return nil, a.challenge(r, "", err.Error())
				}
				return nil, err
			}
		} else {
			var err error
			if id, err = a.Authn.Basic(r.Context(), user, pass); err != nil {
				if core.IsCode(err, core.CodeUnauthorized) {
					return nil, a.challenge(r, "", err.Error())
				}
				return nil, err
			}
			if id.Method == auth.MethodPassword {
				a.basic.put(k, id, now)
			}
		}
		ra.basic = &id
		return ra, nil
	}
	tok, ok := strings.CutPrefix(hdr, "Bearer ")
	if !ok {
		return nil, a.challenge(r, "", "unsupported authorization scheme")
	}
	if cl := a.cache.get(tok, now); cl != nil && cl.Audience.Contains(a.service(r)) {
		ra.claims = cl
		return ra, nil
	}
	cl, err := a.Keys.Verify(r.Context(), tok, a.service(r))
	if err != nil {
		if core.IsCode(err, core.CodeUnauthorized) {
			return nil, a.challenge(r, "", err.Error())
		}
		return nil, err
	}
	a.cache.put(tok, cl, now)
	ra.claims = cl
	return ra, nil
}

// requiredAction is the registry action a route and method need.
func requiredAction(method string, kind routeKind) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		if kind == routeUpload {
			return auth.ActionPush
		}
		return auth.ActionPull
	case http.MethodDelete:
		if kind == routeUpload {
			return auth.ActionPush
		}
		return auth.ActionDelete
	}
	return auth.ActionPush
}

// authorize decides whether the request may proceed. Without a token an
// anonymous caller may pull public repositories (FEATURE_ANONYMOUS_ACCESS).
// A caller whose token lacks the action gets a 401 challenge naming the scope
// when they could obtain it (clients then fetch a token for it), and 403
// DENIED when they may not do it at all.
func (h *Handler) authorize(r *http.Request, ra *requestAuth, rt route) error {
	a := h.opts.Access
	if ra.basic != nil {
		return h.authorizeIdentity(r, *ra.basic, rt)
	}
	switch rt.kind {
	case routeBase:
		if ra.claims == nil {
			return a.challenge(r, "", "authentication required")
		}
		return nil
	case routeCatalog:
		if ra.claims == nil || !ra.claims.Allows("registry", "catalog", "*") {
			return a.challenge(r, "registry:catalog:*", "authentication required")
		}
		return nil
	}
	action := requiredAction(r.Method, rt.kind)
	scope := "repository:" + rt.name + ":" + action
	if ra.claims == nil {
		if action == auth.ActionPull {
			ok, err := a.allowed(r.Context(), auth.Anonymous, rt.name, []string{auth.ActionPull})
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
		}
		return a.challenge(r, scope, "authentication required")
	}
	c := ra.claims
	if c.Allows("repository", rt.name, action) || (action == auth.ActionDelete && c.Allows("repository", rt.name, auth.ActionPush)) {
		return nil
	}
	if action == auth.ActionPull && a.Authz.CanRead(r.Context(), auth.Anonymous, rt.name) {
		return nil
	}
	if c.Context.EntityKind == "anonymous" {
		return a.challenge(r, scope, "authentication required")
	}
	// The token does not carry the action. If the caller could get it, ask
	// for a new token (401 with the scope); if not, they are denied (403).
	ctx := context.WithValue(r.Context(), authKey{}, ra)
	id, err := h.identity(ctx)
	if err != nil {
		return a.challenge(r, scope, "authentication required")
	}
	granted, err := a.Authz.RepositoryActions(ctx, id, rt.name, []string{action})
	if err != nil {
		return err
	}
	if len(granted) > 0 {
		return a.challenge(r, scope, "token does not cover this request")
	}
	if action != auth.ActionPull {
		if err := a.Authz.WriteRefusal(ctx, id, rt.name); err != nil {
			return err
		}
	}
	return core.Errorf(core.CodeDenied, "requested access to the resource is denied")
}

// authorizeIdentity decides for a caller that sent Basic credentials.
func (h *Handler) authorizeIdentity(r *http.Request, id auth.Identity, rt route) error {
	if rt.kind == routeBase || rt.kind == routeCatalog {
		return nil
	}
	action := requiredAction(r.Method, rt.kind)
	acts := []string{action}
	if action == auth.ActionDelete {
		acts = append(acts, auth.ActionPush)
	}
	ok, err := h.opts.Access.allowed(r.Context(), id, rt.name, acts)
	if err != nil {
		return err
	}
	if !ok {
		if action != auth.ActionPull {
			if err := h.opts.Access.Authz.WriteRefusal(r.Context(), id, rt.name); err != nil {
				return err
			}
		}
		return core.Errorf(core.CodeDenied, "requested access to the resource is denied")
	}
	return nil
}

// newRepository describes the repository a push would create when it does
// not exist yet (nil when it exists), attributed to the caller, after
// checking they may create it (the token already said push is allowed).
func (h *Handler) newRepository(ctx context.Context, name string) (*store.NewRepository, error) {
	if _, err := h.meta.Repository(ctx, name); err == nil || !core.IsCode(err, core.CodeNameUnknown) {
		return nil, err
	}
	nr := &store.NewRepository{FullName: name, Visibility: core.VisibilityPrivate}
	if a := h.opts.Access; a != nil {
		id, err := h.identity(ctx)
		if err != nil {
			return nil, err
		}
		ns, _ := oci.SplitName(name)
		ok, createNS, err := a.Authz.CanCreate(ctx, id, ns)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, core.Errorf(core.CodeDenied, "you may not create repositories in %q", ns)
		}
		nr.CreatorID, nr.CreateNamespace = id.User.ID, createNS
		if !a.PrivateOnPush {
			nr.Visibility = core.VisibilityPublic
		}
	} else {
		nr.CreateNamespace = true
	}
	return nr, nil
}

// ensureRepository creates a missing repository on push (see
// newRepository).
func (h *Handler) ensureRepository(ctx context.Context, name string) error {
	nr, err := h.newRepository(ctx, name)
	if err != nil || nr == nil {
		return err
	}
	_, err = h.meta.CreateRepository(ctx, *nr)
	if core.IsCode(err, core.CodeConflict) {
		return nil // created concurrently
	}
	return err
}

// canReadFunc returns a filter for automatic cross-repository mounts: only
// repositories the caller may read are mount sources.
func (h *Handler) canReadFunc(ctx context.Context) func(string) bool {
	a := h.opts.Access
	if a == nil {
		return nil
	}
	id, err := h.identity(ctx)
	if err != nil {
		return func(string) bool { return false }
	}
	return func(repo string) bool { return a.Authz.CanRead(ctx, id, repo) }
}

// mayMountFrom reports whether the caller's token allows pulling from repo.
func (h *Handler) mayMountFrom(ctx context.Context, repo string) bool {
	a := h.opts.Access
	if a == nil {
		return true
	}
	ra := authFrom(ctx)
	if ra != nil && ra.claims != nil && ra.claims.Allows("repository", repo, auth.ActionPull) {
		return true
	}
	id, err := h.identity(ctx)
	return err == nil && a.Authz.CanRead(ctx, id, repo)
}

// catalogFilter is the repository filter for the caller's catalog.
func (h *Handler) catalogFilter(ctx context.Context) (store.RepositoryFilter, error) {
	a := h.opts.Access
	if a == nil {
		return store.RepositoryFilter{AllAccess: true}, nil
	}
	id, err := h.identity(ctx)
	if err != nil {
		return store.RepositoryFilter{}, err
	}
	pol := a.Authz.Policy()
	return store.RepositoryFilter{
		ViewerID:      id.User.ID,
		IncludePublic: !id.IsAnonymous() || pol.AnonymousAccess,
		AllAccess:     id.Superuser && pol.SuperusersFullAccess,
	}, nil
}

// parseScopes parses the scope parameters of a token request.
func parseScopes(values []string) []auth.ResourceAccess {
	var out []auth.ResourceAccess
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			parts := strings.Split(s, ":")
			if len(parts) < 3 {
				continue
			}
			typ, actions := parts[0], parts[len(parts)-1]
			name := strings.Join(parts[1:len(parts)-1], ":")
			if i := strings.IndexByte(typ, '('); i >= 0 {
				typ = typ[:i]
			}
			var acts []string
			for _, act := range strings.Split(actions, ",") {
				if act != "" && !slices.Contains(acts, act) {
					acts = append(acts, act)
				}
			}
			out = append(out, auth.ResourceAccess{Type: typ, Name: name, Actions: acts})
		}
	}
	return out
}
