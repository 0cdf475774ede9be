package api

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
)

// OIDC login for people (auth.OIDCLogin). The browser endpoints, outside
// /api/v1, are served by OAuth2Handler:
//
//	GET /oauth2/{provider}/authorize?redirect=/path  → 302 to the provider
//	GET /oauth2/{provider}/callback?code=…&state=…   → session, 302 to /path
//
// The callback URL, <scheme>://<host>/oauth2/{provider}/callback, is Quay's
// and must be registered at the provider for the client. Between the two,
// the browser keeps the login's sealed state, nonce and PKCE verifier in a
// cookie named for the state and scoped to the callback path, so logins in
// several tabs do not disturb each other. The API adds:
//
//	GET  /api/v1/oidc/providers               → {providers: [{name, display_name, login_url}]}
//	POST /api/v1/externallogin/{provider}     → {auth_url} (Quay's; kind "login" only)

// oidcCookiePrefix starts the names of login cookies; the name ends with the
// start of the login's state.
const oidcCookiePrefix = "wharf_oidc_"

func (h *Handler) oidcRoutes() {
	h.rt.handle("GET", "/oidc/providers", h.oidcProviders)
	h.rt.handle("POST", "/externallogin/{service_id}", h.externalLogin)
}

// oidcProviders lists the login providers for login pages.
func (h *Handler) oidcProviders(w http.ResponseWriter, r *http.Request, _ params) error {
	out := []map[string]string{}
	if h.opts.OIDC != nil {
		for _, p := range h.opts.OIDC.Providers() {
			out = append(out, map[string]string{"name": p.Name, "display_name": p.DisplayName,
				"login_url": h.baseURL(r) + "/oauth2/" + p.Name + "/authorize"})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"providers": out})
	return nil
}

// externalLogin is Quay's retrieveExternalLoginAuthorizationUrl: it starts a
// login and returns the provider's URL for the page to navigate to.
func (h *Handler) externalLogin(w http.ResponseWriter, r *http.Request, p params) error {
	if h.opts.OIDC == nil {
		return errNotFound("no login provider named " + p["service_id"])
	}
	var req struct {
		Kind string `json:"kind"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch req.Kind {
	case "login":
	case "attach", "cli":
		return errInvalid("kind " + req.Kind + " is not supported: only login")
	default:
		return errInvalid(`kind must be "login"`)
	}
	target, err := h.startOIDC(w, r, p["service_id"], "/")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"auth_url": target})
	return nil
}

// OAuth2Handler serves the browser endpoints of OIDC login,
// /oauth2/{provider}/authorize and /oauth2/{provider}/callback.
func (h *Handler) OAuth2Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/{provider}/authorize", h.oidcAuthorize)
	mux.HandleFunc("GET /oauth2/{provider}/callback", h.oidcCallback)
	return mux
}

// startOIDC starts a login, sets its cookie and returns the provider's URL.
func (h *Handler) startOIDC(w http.ResponseWriter, r *http.Request, provider, returnTo string) (string, error) {
	cb := h.baseURL(r) + "/oauth2/" + provider + "/callback"
	st, err := h.opts.OIDC.Start(r.Context(), provider, cb, returnTo)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookieName(st.State), Value: st.Cookie, Path: "/oauth2/" + provider + "/callback",
		Expires: st.Expires, MaxAge: int(st.Expires.Sub(h.now()).Seconds()), HttpOnly: true,
		Secure: r.TLS != nil || h.opts.Scheme == "https", SameSite: http.SameSiteLaxMode})
	return st.URL, nil
}

// oidcCookieName names the cookie of the login with state: the prefix and
// the state's first 16 characters ("" for a state too short to be ours).
func oidcCookieName(state string) string {
	if len(state) < 16 {
		return ""
	}
	for _, c := range state[:16] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return oidcCookiePrefix + state[:16]
}

func (h *Handler) oidcAuthorize(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.opts.OIDC == nil {
		h.loginError(w, r, errNotFound("no login provider named "+r.PathValue("provider")))
		return
	}
	target, err := h.startOIDC(w, r, r.PathValue("provider"), safeReturnPath(r.URL.Query().Get("redirect")))
	if err != nil {
		h.loginError(w, r, err)
		return
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	provider := r.PathValue("provider")
	if h.opts.OIDC == nil {
		h.loginError(w, r, errNotFound("no login provider named "+provider))
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	cookie := ""
	if name := oidcCookieName(state); name != "" {
		if c, err := r.Cookie(name); err == nil {
			cookie = c.Value
		}
		// The cookie is good for one callback, whatever its outcome.
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/oauth2/" + provider + "/callback", MaxAge: -1, HttpOnly: true,
			Secure: r.TLS != nil || h.opts.Scheme == "https", SameSite: http.SameSiteLaxMode})
	}
	if e := q.Get("error"); e != "" {
		h.log.InfoContext(r.Context(), "oidc login: the provider refused the login", "provider", provider,
			"error", e, "error_description", q.Get("error_description"))
		h.loginError(w, r, core.Errorf(core.CodeUnauthorized, "the login provider refused the login (%s)", printable(e, 80)))
		return
	}
	res, err := h.opts.OIDC.Finish(r.Context(), provider, state, q.Get("code"), cookie)
	if err != nil {
		h.loginError(w, r, err)
		return
	}
	if _, err := h.startSession(w, r, res.User); err != nil {
		h.loginError(w, r, err)
		return
	}
	h.logLogin(r, h.authn.IdentityFor(res.User, "oidc"), res.User.Username, nil)
	w.Header().Set("Location", safeReturnPath(res.ReturnTo))
	w.WriteHeader(http.StatusFound)
}

// safeReturnPath accepts a path on this server ("/repository/x?tab=tags")
// and turns anything else — other hosts, scheme-relative "//host", "/\host",
// control characters — into "/": the login never redirects elsewhere.
func safeReturnPath(s string) string {
	if s == "" || len(s) > 1024 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
		return "/"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return s
}

// printable keeps the printable ASCII of s, at most n bytes.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r >= 0x20 && r < 0x7f {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// loginError answers a failed login step: an HTML page for browsers, Quay's
// error JSON otherwise. Refusals are 4xx (400; 403 when the account may not
// log in; 404 for an unknown provider); an unreachable provider is 502.
func (h *Handler) loginError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Internal server error"
	var ce *core.Error
	if errors.As(err, &ce) {
		msg = ce.Msg
		switch ce.Code {
		case core.CodeInvalid, core.CodeUnauthorized, core.CodeConflict:
			status = http.StatusBadRequest
		case core.CodeDenied:
			status = http.StatusForbidden
		case core.CodeNotFound:
			status = http.StatusNotFound
		case core.CodeUnavailable:
			status = http.StatusBadGateway
		}
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "oidc login failed", "path", r.URL.Path, "err", err)
	} else {
		h.log.InfoContext(r.Context(), "oidc login refused", "path", r.URL.Path, "err", err)
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		typ := map[int]string{400: "invalid_request", 403: "insufficient_scope", 404: "not_found", 502: "downstream_issue"}[status]
		if typ == "" {
			typ = "internal_error"
		}
		writeJSON(w, status, apiError{Status: status, ErrorMessage: msg, Detail: msg, ErrorType: typ, Title: typ,
			Type: h.baseURL(r) + "/api/v1/error/" + typ})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Login failed</title></head>\n<body><h1>Login failed</h1>\n<p>" +
		html.EscapeString(msg) + "</p>\n<p><a href=\"/\">Back to the registry</a></p></body></html>\n"))
}
