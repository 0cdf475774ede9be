package registry

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// tokenResponse is the Docker token service's answer.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// TokenHandler serves GET /v2/auth: it authenticates Basic credentials (or
// none, for anonymous pulls) and issues a signed token holding only the
// requested actions the caller may perform.
func (h *Handler) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		if err := h.token(w, r); err != nil {
			writeError(w, r, h.log, err)
		}
	})
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) error {
	a := h.opts.Access
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return errMethod(r.Method)
	}
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return core.Errorf(core.CodeInvalid, "malformed token request")
	}
	// The service parameter is informational: tokens are always issued for
	// this registry's own audience.
	id := auth.Anonymous
	if user, pass, ok := r.BasicAuth(); ok {
		k, now := basicKey(user, pass), time.Now()
		cached, hit := a.basic.get(k, now)
		if hit {
			id = cached
		} else {
			var err error
			id, err = a.Authn.Basic(ctx, user, pass)
			if err != nil {
				if core.IsCode(err, core.CodeUnauthorized) {
					h.log.InfoContext(ctx, "login failed", "username", user, "remote", r.RemoteAddr)
					h.logLogin(r, id, user, err)
				}
				return err
			}
			if id.Method == auth.MethodPassword {
				a.basic.put(k, id, now)
			}
		}
	}
	var access []auth.ResourceAccess
	for _, req := range parseScopes(r.Form["scope"]) {
		var granted []string
		switch req.Type {
		case "repository":
			if err := validRepoName(req.Name); err != nil {
				continue
			}
			g, err := a.Authz.RepositoryActions(ctx, id, req.Name, req.Actions)
			if err != nil {
				return err
			}
			granted = g
		case "registry":
			if req.Name == "catalog" && !id.IsAnonymous() {
				granted = []string{"*"}
			}
		default:
			continue
		}
		if id.IsAnonymous() && len(granted) == 0 {
			continue
		}
		access = append(access, auth.ResourceAccess{Type: req.Type, Name: req.Name, Actions: granted})
	}
	if !id.IsAnonymous() {
		h.logLogin(r, id, id.Name(), nil)
	}
	kind := id.Kind()
	tok, exp, err := a.Keys.Issue(ctx, subjectOf(id), a.service(r), access, auth.TokenContext{Version: 2, EntityKind: kind, EntityRef: id.Name()})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	b, err := json.Marshal(tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(time.Until(exp).Seconds() + 0.5), IssuedAt: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

func subjectOf(id auth.Identity) string {
	if id.IsAnonymous() {
		return "(anonymous)"
	}
	return id.User.Username
}

func validRepoName(name string) error {
	if len(name) == 0 || len(name) > 255 {
		return core.Errorf(core.CodeNameInvalid, "invalid name")
	}
	return nil
}

// JWKSHandler publishes the public keys that verify registry tokens.
func (h *Handler) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := h.opts.Access.Keys.JWKS(r.Context())
		if err != nil {
			writeError(w, r, h.log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
}
