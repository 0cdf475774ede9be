package api

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// OAuth applications of organizations, and the headless minting of access
// tokens through them. Every route needs the org:admin scope and
// administration of the organization.
func (h *Handler) applicationRoutes() {
	h.rt.handle("GET", "/organization/{orgname}/applications", h.listApplications)
	h.rt.handle("POST", "/organization/{orgname}/applications", h.createApplication)
	h.rt.handle("GET", "/organization/{orgname}/applications/{client_id}", h.getApplication)
	h.rt.handle("PUT", "/organization/{orgname}/applications/{client_id}", h.updateApplication)
	h.rt.handle("DELETE", "/organization/{orgname}/applications/{client_id}", h.deleteApplication)
	h.rt.handle("POST", "/organization/{orgname}/applications/{client_id}/resetclientsecret", h.resetApplicationSecret)
	h.rt.handle("POST", "/organization/{orgname}/applications/{client_id}/tokens", h.mintApplicationToken)
}

const (
	oauthAppIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	oauthAppIDLen      = 20
	oauthAppSecretLen  = 40
	// oauthAppBootstrapName is reserved by Quay for bootstrap provisioning.
	oauthAppBootstrapName = "__quay_bootstrap_app"
	// oauthTokenMaxLifetime is Quay's default and maximum lifetime of a
	// minted token (10 years).
	oauthTokenMaxLifetime = int64(60 * 60 * 24 * 365.25 * 10)
)

// oauthAppAdmin checks the org:admin scope and administration of the
// organization.
func (h *Handler) oauthAppAdmin(r *http.Request, p params) (auth.Identity, core.Namespace, error) {
	id, err := requireUser(r)
	if err != nil {
		return id, core.Namespace{}, err
	}
	if id.User.IsRobot() {
		return id, core.Namespace{}, errForbidden()
	}
	if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
		return id, core.Namespace{}, err
	}
	org, err := h.requireOrg(r.Context(), p["orgname"])
	if err != nil {
		return id, org, err
	}
	if err := h.requireNamespaceAdmin(r.Context(), id, org.Name); err != nil {
		return id, org, err
	}
	return id, org, nil
}

// oauthAppLookup loads an application of the organization, or 404.
func (h *Handler) oauthAppLookup(r *http.Request, org core.Namespace, clientID string) (core.OAuthApp, error) {
	a, err := h.db.OAuthApp(r.Context(), clientID)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return a, errNotFound("application not found")
		}
		return a, err
	}
	if a.NamespaceID != org.ID {
		return core.OAuthApp{}, errNotFound("application not found")
	}
	return a, nil
}

// oauthAppAt is oauthAppAdmin and the organization's application named by
// the path's client_id.
func (h *Handler) oauthAppAt(r *http.Request, p params) (auth.Identity, core.OAuthApp, error) {
	id, org, err := h.oauthAppAdmin(r, p)
	if err != nil {
		return id, core.OAuthApp{}, err
	}
	a, err := h.oauthAppLookup(r, org, p["client_id"])
	return id, a, err
}

// oauthAppView is Quay's application view for organization admins (with the
// decrypted client secret).
func (h *Handler) oauthAppView(a core.OAuthApp) (map[string]any, error) {
	secret, err := h.box.Open(a.ClientSecretEnc)
	if err != nil {
		return nil, core.Wrap(core.CodeInternal, err, "cannot decrypt client secret")
	}
	return map[string]any{
		"name":            a.Name,
		"description":     a.Description,
		"application_uri": a.ApplicationURI,
		"client_id":       a.ClientID,
		"client_secret":   secret,
		"redirect_uri":    a.RedirectURI,
		// Not stored: the avatar is derived from the name.
		"avatar_email": nil,
	}, nil
}

func (h *Handler) writeOAuthApp(w http.ResponseWriter, a core.OAuthApp) error {
	v, err := h.oauthAppView(a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// oauthAppRequest is the body of POST and PUT.
type oauthAppRequest struct {
	Name           *string `json:"name"`
	RedirectURI    *string `json:"redirect_uri"`
	ApplicationURI *string `json:"application_uri"`
	Description    *string `json:"description"`
	AvatarEmail    *string `json:"avatar_email"`
}

func (req oauthAppRequest) validate(update bool) error {
	if req.Name == nil {
		return errInvalid("'name' is a required property")
	}
	if update && req.RedirectURI == nil {
		return errInvalid("'redirect_uri' is a required property")
	}
	if update && req.ApplicationURI == nil {
		return errInvalid("'application_uri' is a required property")
	}
	if strings.TrimSpace(*req.Name) == "" {
		return errInvalid("'name' must not be empty")
	}
	if *req.Name == oauthAppBootstrapName {
		return errInvalid("Application name is reserved for bootstrap token provisioning")
	}
	for field, v := range map[string]*string{"name": req.Name, "redirect_uri": req.RedirectURI, "application_uri": req.ApplicationURI, "avatar_email": req.AvatarEmail} {
		if v != nil && len(*v) > 255 {
			return errInvalid("'" + field + "' is too long (at most 255 characters)")
		}
	}
	if req.Description != nil && len(*req.Description) > 4096 {
		return errInvalid("'description' is too long")
	}
	return nil
}

func oauthDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *Handler) listApplications(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.oauthAppAdmin(r, p)
	if err != nil {
		return err
	}
	apps, err := h.db.OAuthApps(r.Context(), org.Name)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(apps))
	for _, a := range apps {
		v, err := h.oauthAppView(a)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"applications": out})
	return nil
}

func (h *Handler) createApplication(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.oauthAppAdmin(r, p)
	if err != nil {
		return err
	}
	var req oauthAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.validate(false); err != nil {
		return err
	}
	secret, err := h.box.Seal(auth.RandomString(oauthAppSecretLen, oauthAppIDAlphabet))
	if err != nil {
		return err
	}
	a, err := h.db.CreateOAuthApp(r.Context(), org.Name, core.OAuthApp{
		ClientID:        auth.RandomString(oauthAppIDLen, oauthAppIDAlphabet),
		ClientSecretEnc: secret,
		Name:            *req.Name,
		RedirectURI:     oauthDeref(req.RedirectURI),
		ApplicationURI:  oauthDeref(req.ApplicationURI),
		Description:     oauthDeref(req.Description),
	})
	if err != nil {
		return err
	}
	return h.writeOAuthApp(w, a)
}

func (h *Handler) getApplication(w http.ResponseWriter, r *http.Request, p params) error {
	_, a, err := h.oauthAppAt(r, p)
	if err != nil {
		return err
	}
	return h.writeOAuthApp(w, a)
}

func (h *Handler) updateApplication(w http.ResponseWriter, r *http.Request, p params) error {
	_, a, err := h.oauthAppAt(r, p)
	if err != nil {
		return err
	}
	var req oauthAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.validate(true); err != nil {
		return err
	}
	a.Name, a.RedirectURI, a.ApplicationURI, a.Description = *req.Name, *req.RedirectURI, *req.ApplicationURI, oauthDeref(req.Description)
	a.ClientSecretEnc = "" // keep the secret
	a, err = h.db.UpdateOAuthApp(r.Context(), a)
	if err != nil {
		return err
	}
	return h.writeOAuthApp(w, a)
}

func (h *Handler) deleteApplication(w http.ResponseWriter, r *http.Request, p params) error {
	_, a, err := h.oauthAppAt(r, p)
	if err != nil {
		return err
	}
	if err := h.db.DeleteOAuthApp(r.Context(), a.ClientID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) resetApplicationSecret(w http.ResponseWriter, r *http.Request, p params) error {
	_, a, err := h.oauthAppAt(r, p)
	if err != nil {
		return err
	}
	secret, err := h.box.Seal(auth.RandomString(oauthAppSecretLen, oauthAppIDAlphabet))
	if err != nil {
		return err
	}
	a.ClientSecretEnc = secret
	a, err = h.db.UpdateOAuthApp(r.Context(), a)
	if err != nil {
		return err
	}
	return h.writeOAuthApp(w, a)
}

// oauthImpliedScopes is what each scope lets a token grant onward (Quay's
// IMPLIED_SCOPES).
var oauthImpliedScopes = map[string][]string{
	auth.ScopeRepoAdmin: {auth.ScopeRepoAdmin, auth.ScopeRepoWrite, auth.ScopeRepoRead},
	auth.ScopeRepoWrite: {auth.ScopeRepoWrite, auth.ScopeRepoRead},
}

// oauthMayGrant reports whether the caller holds scope: callers without
// scopes (browser sign-ins) hold all; OAuth callers hold their scopes and
// what they imply. super:user also needs a superuser.
func oauthMayGrant(id auth.Identity, scope string) bool {
	if scope == auth.ScopeSuperUser && !id.Superuser {
		return false
	}
	if id.Scopes == nil {
		return true
	}
	for _, have := range id.Scopes {
		if have == scope || slices.Contains(oauthImpliedScopes[have], scope) {
			return true
		}
	}
	return false
}

// oauthNormalizeScope turns a comma- or space-separated scope list into a
// space-separated one without duplicates.
func oauthNormalizeScope(s string) string {
	var out []string
	for _, f := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// mintApplicationToken creates an access token for the caller through the
// application, with at most the caller's own scopes.
func (h *Handler) mintApplicationToken(w http.ResponseWriter, r *http.Request, p params) error {
	id, a, err := h.oauthAppAt(r, p)
	if err != nil {
		return err
	}
	var req struct {
		Name       *string         `json:"name"`
		Scope      *string         `json:"scope"`
		Expiration json.RawMessage `json:"expiration"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Scope == nil {
		return errInvalid("'scope' is a required property")
	}
	scope := oauthNormalizeScope(*req.Scope)
	if !auth.ValidScopes(scope) {
		return errInvalid("Invalid scope: " + truncate(*req.Scope, 200))
	}
	var name any
	if req.Name != nil {
		n := strings.TrimSpace(*req.Name)
		if n == "" || len([]rune(n)) > 255 {
			return errInvalid("'name' must be 1 to 255 characters")
		}
		name = n
	}
	seconds := oauthTokenMaxLifetime
	if e := strings.TrimSpace(string(req.Expiration)); e != "" && e != "null" {
		var f float64
		if err := json.Unmarshal(req.Expiration, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
			return errInvalid("'expiration' must be a positive number of seconds")
		}
		seconds = int64(math.Min(math.Max(math.Floor(f), 1), float64(oauthTokenMaxLifetime)))
	}
	for _, s := range strings.Fields(scope) {
		if !oauthMayGrant(id, s) {
			return core.Errorf(core.CodeDenied, "cannot grant the %s scope", s)
		}
	}
	expires := h.now().Add(time.Duration(seconds) * time.Second)
	tok, t, err := h.mintToken(r, a.ID, id.User.ID, scope, expires)
	if err != nil {
		return err
	}
	iso := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format("2006-01-02T15:04:05.000000") + "Z"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  tok,
		"token_type":    "Bearer",
		"scope":         t.Scope,
		"expires_in":    seconds,
		"uuid":          t.UUID,
		"name":          name,
		"expires_at":    iso(t.ExpiresAt),
		"created":       iso(t.CreatedAt),
		"created_by":    id.User.Username,
		"last_accessed": nil,
		"token":         tok,
	})
	return nil
}
