package api

import (
	"net/http"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func (h *Handler) userRoutes() {
	h.rt.handle("GET", "/user/", h.getUser)
	h.rt.handle("POST", "/user/", h.createUser)
	h.rt.handle("POST", "/user/initialize", h.initializeUser)
	h.rt.handle("GET", "/users/{username}", h.getOtherUser)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, _ params) error {
	id := caller(r)
	if id.IsAnonymous() {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"anonymous": true})
		return nil
	}
	if err := requireScope(id, auth.ScopeUserRead); err != nil {
		return err
	}
	orgs, err := h.db.UserOrganizations(r.Context(), id.User.ID)
	if err != nil {
		return err
	}
	orgViews := []map[string]any{}
	for _, o := range orgs {
		admin, err := h.authz.IsNamespaceAdmin(r.Context(), id, o.Name)
		if err != nil {
			return err
		}
		orgViews = append(orgViews, map[string]any{"name": o.Name, "avatar": avatar(o.Name, "org"), "is_org_admin": admin, "can_create_repo": true, "public": false})
	}
	u := id.User
	window, err := h.namespaceWindow(r.Context(), u.Username)
	if err != nil {
		return err
	}
	v := map[string]any{
		"anonymous":        false,
		"username":         u.Username,
		"email":            u.Email,
		"verified":         true,
		"avatar":           avatar(u.Username, "user"),
		"organizations":    orgViews,
		"logins":           []any{},
		"can_create_repo":  true,
		"tag_expiration_s": int64(window.Seconds()),
		"invoice_email":    false,
		"prompts":          []any{},
		"company":          "",
		"super_user":       id.Superuser,
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) getOtherUser(w http.ResponseWriter, r *http.Request, p params) error {
	u, err := h.db.User(r.Context(), p["username"])
	if err != nil {
		return err
	}
	if u.IsRobot() {
		return errNotFound("user not found")
	}
	writeJSON(w, http.StatusOK, map[string]any{"anonymous": false, "username": u.Username, "avatar": avatar(u.Username, "user"), "super_user": u.Superuser})
	return nil
}

type newUserRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Email       string `json:"email"`
	AccessToken bool   `json:"access_token"`
}

func (req newUserRequest) validate() error {
	if err := oci.ValidateNamespace(req.Username); err != nil {
		return err
	}
	if len(req.Password) < 8 {
		return errInvalid("passwords must be at least 8 characters")
	}
	if len(req.Password) > 72 {
		return errInvalid("passwords must be at most 72 bytes")
	}
	return nil
}

// createUser is sign-up (FEATURE_USER_CREATION with direct login).
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, _ params) error {
	if !h.opts.UserCreation || !h.opts.DirectLogin {
		return errNotFound("user creation is disabled")
	}
	var req newUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	u, err := h.db.CreateUser(r.Context(), store.NewUser{Username: req.Username, Email: req.Email, PasswordHash: hash})
	if err != nil {
		return err
	}
	if _, err := h.startSession(w, r, u); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"awaiting_verification": false})
	return nil
}

// initializeUser creates the first user, a superuser, on an empty database
// and returns an access token with every scope, so a script can bootstrap
// the registry without a browser.
func (h *Handler) initializeUser(w http.ResponseWriter, r *http.Request, _ params) error {
	if !h.opts.UserInitialize {
		return errNotFound("user initialization is disabled")
	}
	var req newUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	n, err := h.db.CountUsers(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		return errInvalid("Cannot initialize user in a non-empty database")
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	u, err := h.db.CreateUser(r.Context(), store.NewUser{Username: req.Username, Email: req.Email, PasswordHash: hash, Superuser: true})
	if err != nil {
		return err
	}
	out := map[string]any{"username": u.Username, "email": u.Email}
	if req.AccessToken {
		tok, _, err := h.mintToken(r, 0, u.ID, joinScopes(auth.AllScopes), time.Time{})
		if err != nil {
			return err
		}
		out["access_token"] = tok
		out["encrypted_password"] = nil
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// mintToken creates an OAuth access token and returns it (shown once).
func (h *Handler) mintToken(r *http.Request, appID, userID int64, scope string, expires time.Time) (string, core.OAuthToken, error) {
	tok, prefix, secret := auth.NewSplitToken()
	t, err := h.db.CreateOAuthToken(r.Context(), appID, userID, prefix, auth.HashSecret(secret), scope, expires)
	return tok, t, err
}

func joinScopes(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
