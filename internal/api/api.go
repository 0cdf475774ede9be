package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/httpx"
	"github.com/wharfhq/wharf/internal/store"
)

// Options are the settings the API needs.
type Options struct {
	// Hostname is SERVER_HOSTNAME (empty: each request's Host).
	Hostname string
	// Scheme is the preferred URL scheme.
	Scheme string
	// UserCreation allows POST /api/v1/user/ (FEATURE_USER_CREATION).
	UserCreation bool
	// UserInitialize allows POST /api/v1/user/initialize on an empty
	// database (FEATURE_USER_INITIALIZE).
	UserInitialize bool
	// DirectLogin allows password sign-in (FEATURE_DIRECT_LOGIN).
	DirectLogin bool
	// AppTokens enables /api/v1/user/apptoken (FEATURE_APP_SPECIFIC_TOKENS).
	AppTokens bool
	// AppTokenExpiration bounds app token lifetime (0: none).
	AppTokenExpiration time.Duration
	// SessionLifetime is how long a sign-in lasts (default 12h).
	SessionLifetime time.Duration
	// TagExpirationOptions are the time-machine windows a namespace may
	// choose (TAG_EXPIRATION_OPTIONS) and TagExpirationDefault the window
	// of those that chose none (DEFAULT_TAG_EXPIRATION). Without options,
	// Quay's defaults apply: 0s, 1d, 1w, 2w, 4w and 2w.
	TagExpirationOptions []time.Duration
	TagExpirationDefault time.Duration
	// OIDC is OIDC login for people (oidc.go); nil when no provider is set.
	OIDC *auth.OIDCLogin
	// Security serves the vulnerability reports of the built-in scanner
	// (security.go); nil when FEATURE_SECURITY_SCANNER is off.
	Security SecurityReports
	// Notifications validates repository notification configs
	// (notification.go); nil turns the notification API off.
	Notifications Notifications
	// NoLoginAudit turns off the audit log's login entries (logs.go;
	// ACTION_LOG_AUDIT_LOGINS false).
	NoLoginAudit bool
	// ProxyCache checks proxy cache configurations (proxycache.go); nil
	// when FEATURE_PROXY_CACHE is off.
	ProxyCache ProxyCache
	// Mirrors validates repository mirror settings (mirror.go); nil turns
	// the mirror API off.
	Mirrors Mirrors
	// JobStats counts background jobs for the superuser panel
	// (ui_superuser.go); nil answers 404.
	JobStats JobStatsFunc
	// Blobs reads image configs for the labels view (ui_support.go); nil
	// lists annotations only.
	Blobs BlobReader
}

// Handler serves /api/v1/.
type Handler struct {
	db    *store.DB
	authn *auth.Authenticator
	authz *auth.Authorizer
	box   *auth.Box
	log   *slog.Logger
	opts  Options
	now   func() time.Time
	rt    router
}

// New builds the API handler and its routes.
func New(db *store.DB, authn *auth.Authenticator, authz *auth.Authorizer, box *auth.Box, log *slog.Logger, opts Options) *Handler {
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = 12 * time.Hour
	}
	if len(opts.TagExpirationOptions) == 0 {
		day := 24 * time.Hour
		opts.TagExpirationOptions = []time.Duration{0, day, 7 * day, 14 * day, 28 * day}
		opts.TagExpirationDefault = 14 * day
	}
	h := &Handler{db: db, authn: authn, authz: authz, box: box, log: log, opts: opts, now: time.Now}
	h.routes()
	h.rt.sort()
	return h
}

// Route registration is split by resource; each file adds its own.
func (h *Handler) routes() {
	h.discoveryRoutes()
	h.userRoutes()
	h.sessionRoutes()
	h.organizationRoutes()
	h.teamRoutes()
	h.repositoryRoutes()
	h.permissionRoutes()
	h.robotRoutes()
	h.prototypeRoutes()
	h.appTokenRoutes()
	h.applicationRoutes()
	h.tagRoutes()
	h.immutabilityRoutes()
	h.autopruneRoutes()
	h.quotaRoutes()
	h.registryStateRoutes()
	h.oidcRoutes()
	h.securityRoutes()
	h.notificationRoutes()
	h.logRoutes()
	h.proxyCacheRoutes()
	h.mirrorRoutes()
	h.superuserRoutes()
	h.uiSupportRoutes()
	h.replicationRoutes()
}

func (h *Handler) baseURL(r *http.Request) string {
	scheme := h.opts.Scheme
	if r.TLS != nil {
		scheme = "https"
	}
	if scheme == "" {
		scheme = "http"
	}
	host := h.opts.Hostname
	if host == "" {
		host = r.Host
	}
	return scheme + "://" + host
}

type identityKey struct{}

// caller returns the authenticated identity of the request.
func caller(r *http.Request) auth.Identity {
	if id, ok := r.Context().Value(identityKey{}).(auth.Identity); ok {
		return id
	}
	return auth.Anonymous
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v1")
	if !ok {
		h.writeError(w, r, errNotFound("no such endpoint"))
		return
	}
	rte, p, found := h.rt.match(r.Method, path)
	if rte == nil {
		if found {
			writeJSON(w, http.StatusMethodNotAllowed, apiError{Status: 405, ErrorMessage: "method not allowed", Detail: "method not allowed",
				ErrorType: "invalid_request", Title: "method_not_allowed", Type: h.baseURL(r) + "/api/v1/error/invalid_request"})
			return
		}
		h.writeError(w, r, errNotFound("no such endpoint"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !rte.readOnlyOK {
		// Quay refuses every API write while the registry is read-only.
		if err := h.authz.RegistryWritable(r.Context()); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	id, err := h.authenticate(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
	r = r.WithContext(core.WithActor(r.Context(), id.Actor(clientAddr(r))))
	httpx.SetActor(r.Context(), id.User.Username)
	httpx.SetRepository(r.Context(), p["repo"])
	if err := rte.h(w, r, p); err != nil {
		h.writeError(w, r, err)
	}
}

// authenticate accepts an OAuth bearer token, or a session cookie (with the
// CSRF token on state-changing requests). Basic auth is refused, as Quay does.
func (h *Handler) authenticate(r *http.Request) (auth.Identity, error) {
	hdr := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(hdr, "Bearer "); ok {
		return h.authn.OAuthToken(r.Context(), strings.TrimSpace(tok))
	}
	if hdr != "" {
		return auth.Identity{}, errUnauthorized("unsupported authorization scheme: use an OAuth bearer token")
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return auth.Anonymous, nil
	}
	s, err := h.db.SessionByHash(r.Context(), auth.HashSecret(c.Value))
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return auth.Anonymous, nil
		}
		return auth.Identity{}, err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if got := r.Header.Get("X-CSRF-Token"); got == "" || !constantEqual(got, s.CSRFToken) {
			return auth.Identity{}, core.Errorf(core.CodeDenied, "invalid or missing CSRF token")
		}
	}
	u, err := h.db.UserByID(r.Context(), s.UserID)
	if err != nil || !u.Enabled {
		return auth.Anonymous, nil
	}
	return h.authn.IdentityFor(u, auth.MethodSession), nil
}

// requireUser returns the caller, or 401 for anonymous callers.
func requireUser(r *http.Request) (auth.Identity, error) {
	id := caller(r)
	if id.IsAnonymous() {
		return id, errUnauthorized("authentication required")
	}
	return id, nil
}

// requireScope checks an OAuth scope (callers without scopes have all).
func requireScope(id auth.Identity, scope string) error {
	if !id.HasScope(scope) {
		return core.Errorf(core.CodeDenied, "the token lacks the %s scope", scope)
	}
	return nil
}

// requireNamespaceAdmin checks that the caller administers a namespace.
func (h *Handler) requireNamespaceAdmin(ctx context.Context, id auth.Identity, ns string) error {
	if id.IsAnonymous() {
		return errUnauthorized("authentication required")
	}
	ok, err := h.authz.IsNamespaceAdmin(ctx, id, ns)
	if err != nil {
		return err
	}
	if !ok {
		return errForbidden()
	}
	return nil
}

// requireOrg loads an organization or answers 404.
func (h *Handler) requireOrg(ctx context.Context, name string) (core.Namespace, error) {
	n, err := h.db.Namespace(ctx, name)
	if err != nil {
		return n, err
	}
	if !n.IsOrg() {
		return n, errNotFound("organization not found")
	}
	return n, nil
}

func constantEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
