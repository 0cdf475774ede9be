package api

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// App-specific tokens (FEATURE_APP_SPECIFIC_TOKENS): passwords for user
// "$app" on docker login. The secret is shown once, at creation; only its
// hash is stored.
func (h *Handler) appTokenRoutes() {
	h.rt.handle("GET", "/user/apptoken", h.listAppTokens)
	h.rt.handle("POST", "/user/apptoken", h.createAppToken)
	h.rt.handle("GET", "/user/apptoken/{token_uuid}", h.getAppToken)
	h.rt.handle("DELETE", "/user/apptoken/{token_uuid}", h.deleteAppToken)
}

// appTokenExpiringWindow is Quay's default window for ?expiring=true.
const appTokenExpiringWindow = 4 * 7 * 24 * time.Hour

// appTokenCaller checks that app tokens are enabled and that the caller is a
// person holding the user:admin scope.
func (h *Handler) appTokenCaller(r *http.Request) (auth.Identity, error) {
	if !h.opts.AppTokens {
		return auth.Identity{}, errNotFound("app specific tokens are disabled")
	}
	id, err := requireUser(r)
	if err != nil {
		return id, err
	}
	if id.User.IsRobot() {
		return id, errForbidden()
	}
	if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
		return id, err
	}
	return id, nil
}

func appTokenView(t core.AppToken) map[string]any {
	return map[string]any{
		"uuid":          t.UUID,
		"title":         t.Title,
		"last_accessed": rfc2822OrNil(t.LastAccessed),
		"created":       rfc2822OrNil(t.CreatedAt),
		"expiration":    rfc2822OrNil(t.ExpiresAt),
	}
}

func (h *Handler) listAppTokens(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := h.appTokenCaller(r)
	if err != nil {
		return err
	}
	var expiring any
	onlyExpiring := false
	if s := r.URL.Query().Get("expiring"); s != "" {
		onlyExpiring = robotBool(s, false)
		expiring = onlyExpiring
	}
	tokens, err := h.db.AppTokens(r.Context(), id.User.ID)
	if err != nil {
		return err
	}
	now := h.now()
	window := h.opts.AppTokenExpiration
	if window <= 0 {
		window = appTokenExpiringWindow
	}
	soon := time.Duration(math.Ceil(window.Seconds()*0.1)) * time.Second
	out := make([]map[string]any, 0, len(tokens))
	for _, t := range tokens {
		if onlyExpiring && (t.ExpiresAt.IsZero() || !t.ExpiresAt.After(now) || t.ExpiresAt.After(now.Add(soon))) {
			continue
		}
		out = append(out, appTokenView(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out, "only_expiring": expiring})
	return nil
}

func (h *Handler) createAppToken(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := h.appTokenCaller(r)
	if err != nil {
		return err
	}
	var req struct {
		Title *string `json:"title"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Title == nil {
		return errInvalid("'title' is a required property")
	}
	title := strings.TrimSpace(*req.Title)
	if title == "" {
		return errInvalid("'title' must not be empty")
	}
	if len([]rune(title)) > 255 {
		return errInvalid("'title' is too long (at most 255 characters)")
	}
	var expires time.Time
	if h.opts.AppTokenExpiration > 0 {
		expires = h.now().Add(h.opts.AppTokenExpiration)
	}
	code, prefix, secret := auth.NewSplitToken()
	t, err := h.db.CreateAppToken(r.Context(), id.User.ID, title, prefix, auth.HashSecret(secret), expires)
	if err != nil {
		return err
	}
	v := appTokenView(t)
	v["token_code"] = code
	writeJSON(w, http.StatusOK, map[string]any{"token": v})
	return nil
}

func (h *Handler) getAppToken(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := h.appTokenCaller(r)
	if err != nil {
		return err
	}
	t, err := h.db.AppToken(r.Context(), id.User.ID, p["token_uuid"])
	if err != nil {
		return err
	}
	// Only a hash of the secret is kept, so token_code cannot be shown again.
	writeJSON(w, http.StatusOK, map[string]any{"token": appTokenView(t)})
	return nil
}

func (h *Handler) deleteAppToken(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := h.appTokenCaller(r)
	if err != nil {
		return err
	}
	if err := h.db.DeleteAppToken(r.Context(), id.User.ID, p["token_uuid"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
