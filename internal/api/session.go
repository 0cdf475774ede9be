package api

import (
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

const sessionCookie = "wharf_session"

func (h *Handler) sessionRoutes() {
	h.rt.handleReadOnlyOK("POST", "/signin", h.signin)
	h.rt.handleReadOnlyOK("POST", "/signout", h.signout)
	h.rt.handle("GET", "/csrf_token", h.csrfToken)
}

// startSession creates a session for a user, sets the cookie and returns the
// CSRF token.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u core.User) (string, error) {
	sid := auth.RandomString(43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
	csrf := auth.RandomString(32, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
	exp := h.now().Add(h.opts.SessionLifetime)
	if err := h.db.CreateSession(r.Context(), auth.HashSecret(sid), u.ID, csrf, exp); err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", Expires: exp, HttpOnly: true,
		Secure: r.TLS != nil || h.opts.Scheme == "https", SameSite: http.SameSiteLaxMode})
	w.Header().Set("X-CSRF-Token", csrf)
	return csrf, nil
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request, _ params) error {
	if !h.opts.DirectLogin {
		return errNotFound("password sign-in is disabled")
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	id, err := h.authn.Basic(r.Context(), req.Username, req.Password)
	if err != nil || id.Method != auth.MethodPassword {
		if err != nil && !core.IsCode(err, core.CodeUnauthorized) {
			return err
		}
		h.logLogin(r, auth.Identity{}, req.Username, errInvalid("invalid username or password"))
		writeJSON(w, http.StatusForbidden, map[string]any{"success": false, "invalidCredentials": true, "message": "Invalid username or password"})
		return nil
	}
	csrf, err := h.startSession(w, r, id.User)
	if err != nil {
		return err
	}
	h.logLogin(r, id, id.User.Username, nil)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "csrf_token": csrf})
	return nil
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, _ params) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := h.db.DeleteSession(r.Context(), auth.HashSecret(c.Value)); err != nil {
			return err
		}
		h.logLogout(r)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil || h.opts.Scheme == "https", SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
	return nil
}

// csrfToken returns the CSRF token of the caller's session.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request, _ params) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return errUnauthorized("no session")
	}
	s, err := h.db.SessionByHash(r.Context(), auth.HashSecret(c.Value))
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return errUnauthorized("no session")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"csrf_token": s.CSRFToken})
	return nil
}
