package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// ProxyCache checks proxy cache configurations for the API: the format of
// upstream_registry (core.CodeInvalid), and whether an upstream answers
// with given settings (core.CodeUnauthorized when it refuses the
// credentials).
type ProxyCache interface {
	CheckUpstream(upstream string) error
	Validate(ctx context.Context, upstream string, insecure bool, username, password string) error
}

// Quay's audit log kinds of the proxy cache configuration.
const (
	logCreateProxyCacheConfig = "create_proxy_cache_config"
	logDeleteProxyCacheConfig = "delete_proxy_cache_config"
)

// defaultProxyExpiration is Quay's default expiration_s (one day).
const defaultProxyExpiration = 86400

// Quay's proxy cache organizations (FEATURE_PROXY_CACHE): one upstream
// registry per organization; organization admins manage it.
func (h *Handler) proxyCacheRoutes() {
	h.rt.handle("GET", "/organization/{orgname}/proxycache", h.getProxyCache)
	h.rt.handle("POST", "/organization/{orgname}/proxycache", h.createProxyCache)
	h.rt.handle("DELETE", "/organization/{orgname}/proxycache", h.deleteProxyCache)
	h.rt.handle("POST", "/organization/{orgname}/validateproxycache", h.validateProxyCache)
}

// proxyCacheRequest is Quay's NewProxyCacheConfig.
type proxyCacheRequest struct {
	UpstreamRegistry string `json:"upstream_registry"`
	ExpirationS      int64  `json:"expiration_s"`
	Insecure         bool   `json:"insecure"`
	Username         string `json:"upstream_registry_username"`
	Password         string `json:"upstream_registry_password"`
}

// decodeProxyCache reads and validates a NewProxyCacheConfig body. JSON
// nulls are absent values, as Quay filters them.
func (h *Handler) decodeProxyCache(r *http.Request) (proxyCacheRequest, error) {
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return proxyCacheRequest{}, err
	}
	req := proxyCacheRequest{ExpirationS: defaultProxyExpiration}
	field := func(key string, dst any, what string) error {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return errInvalid(key + " must be " + what)
		}
		return nil
	}
	for _, f := range []struct {
		key, what string
		dst       any
	}{
		{"upstream_registry", "a string", &req.UpstreamRegistry},
		{"expiration_s", "an integer", &req.ExpirationS},
		{"insecure", "a boolean", &req.Insecure},
		{"upstream_registry_username", "a string", &req.Username},
		{"upstream_registry_password", "a string", &req.Password},
	} {
		if err := field(f.key, f.dst, f.what); err != nil {
			return req, err
		}
	}
	if req.UpstreamRegistry == "" {
		return req, errInvalid("upstream_registry is required")
	}
	if err := h.opts.ProxyCache.CheckUpstream(req.UpstreamRegistry); err != nil {
		return req, err
	}
	if req.ExpirationS < 60 || req.ExpirationS > 10*365*86400 {
		return req, errInvalid("expiration_s must be between 60 seconds and 10 years")
	}
	if len(req.Username) > 255 || len(req.Password) > 4096 {
		return req, errInvalid("upstream registry credentials are too long")
	}
	if (req.Username == "") != (req.Password == "") {
		return req, errInvalid("give both upstream_registry_username and upstream_registry_password, or neither")
	}
	return req, nil
}

// proxyCacheEnabled answers 404 when FEATURE_PROXY_CACHE is off.
func (h *Handler) proxyCacheEnabled() error {
	if h.opts.ProxyCache == nil {
		return errNotFound("proxy cache is not enabled (FEATURE_PROXY_CACHE)")
	}
	return nil
}

// proxyCacheView is Quay's view: the password is never returned, and an
// organization without a configuration answers empty strings.
func proxyCacheView(c *store.ProxyCacheConfig) map[string]any {
	if c == nil {
		return map[string]any{"upstream_registry": "", "expiration_s": "", "insecure": ""}
	}
	return map[string]any{"upstream_registry": c.UpstreamRegistry, "expiration_s": c.ExpirationS, "insecure": c.Insecure}
}

func (h *Handler) getProxyCache(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.proxyCacheEnabled(); err != nil {
		return err
	}
	if _, _, err := h.orgAdminCaller(r, p["orgname"]); err != nil {
		return err
	}
	c, err := h.db.ProxyCacheConfig(r.Context(), p["orgname"])
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			writeJSON(w, http.StatusOK, proxyCacheView(nil))
			return nil
		}
		return err
	}
	writeJSON(w, http.StatusOK, proxyCacheView(&c))
	return nil
}

func (h *Handler) createProxyCache(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.proxyCacheEnabled(); err != nil {
		return err
	}
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	req, err := h.decodeProxyCache(r)
	if err != nil {
		return err
	}
	c := store.ProxyCacheConfig{Namespace: org.Name, UpstreamRegistry: req.UpstreamRegistry, ExpirationS: req.ExpirationS,
		Insecure: req.Insecure, Username: req.Username}
	if req.Password != "" {
		if c.PasswordSealed, err = h.box.Seal(req.Password); err != nil {
			return err
		}
	}
	if err := h.db.CreateProxyCacheConfig(r.Context(), c); err != nil {
		return err
	}
	h.logProxyCache(r, logCreateProxyCacheConfig, org.Name, map[string]any{"upstream_registry": c.UpstreamRegistry})
	writeJSON(w, http.StatusCreated, "Created")
	return nil
}

func (h *Handler) deleteProxyCache(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.proxyCacheEnabled(); err != nil {
		return err
	}
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	if err := h.db.DeleteProxyCacheConfig(r.Context(), org.Name); err != nil {
		return err
	}
	h.logProxyCache(r, logDeleteProxyCacheConfig, org.Name, nil)
	// Quay answers a deletion with 201 "Deleted".
	writeJSON(w, http.StatusCreated, "Deleted")
	return nil
}

func (h *Handler) validateProxyCache(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.proxyCacheEnabled(); err != nil {
		return err
	}
	if _, _, err := h.orgAdminCaller(r, p["orgname"]); err != nil {
		return err
	}
	req, err := h.decodeProxyCache(r)
	if err != nil {
		return err
	}
	if err := h.opts.ProxyCache.Validate(r.Context(), req.UpstreamRegistry, req.Insecure, req.Username, req.Password); err != nil {
		if core.IsCode(err, core.CodeUnauthorized) {
			return errInvalid("Failed login to remote registry. Please verify entered details and try again.")
		}
		return errInvalid("Failed to validate Proxy cache configuration")
	}
	writeJSON(w, http.StatusAccepted, "Valid")
	return nil
}

// refuseInProxyCache refuses tag writes (create, move, delete, restore,
// expiry) and repository creation in a proxy cache organization: its
// repositories and tags are what its upstream registry has, revalidation
// would replace or remove a tag written here, and pushes are refused on
// /v2/ for the same reason.
func (h *Handler) refuseInProxyCache(ctx context.Context, namespace string) error {
	if h.opts.ProxyCache == nil {
		return nil
	}
	proxy, err := h.db.IsProxyCacheNamespace(ctx, namespace)
	if err != nil {
		return err
	}
	if proxy {
		return errInvalid(namespace + " is a proxy cache organization: its repositories and tags follow the upstream registry")
	}
	return nil
}

// logProxyCache records a configuration change in the audit log; a
// failure to log is reported, the change stands.
func (h *Handler) logProxyCache(r *http.Request, kind, org string, meta map[string]any) {
	if err := h.db.LogAction(context.WithoutCancel(r.Context()), kind, org, "", meta); err != nil {
		h.log.WarnContext(r.Context(), "audit log", "kind", kind, "err", err)
	}
}
