package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Mirrors validates repository mirror settings; internal/mirror implements
// it. A nil Mirrors turns the mirror API off (FEATURE_REPO_MIRROR).
type Mirrors interface {
	// ValidateReference checks external_reference.
	ValidateReference(ref string) error
	// TagPatterns validates root_rule.rule_value and returns the patterns.
	TagPatterns(values []string) ([]string, error)
	// Architectures validates architecture_filter.
	Architectures(values []string) ([]string, error)
	// RegistryConfig validates external_registry_config and returns it
	// normalized (a JSON object).
	RegistryConfig(b json.RawMessage) (json.RawMessage, error)
	// SyncLease is how long a sync-now claim holds.
	SyncLease() time.Duration
	// OrgSource checks an organization mirror's external_registry and
	// external_namespace.
	OrgSource(registry, namespace string) error
	// RepositoryFilter validates repository_filter (empty: every
	// repository).
	RepositoryFilter(values []string) ([]string, error)
	// RepositoryNames validates an organization mirror's repositories.
	RepositoryNames(values []string) ([]string, error)
}

// Quay's repository mirror API.
func (h *Handler) mirrorRoutes() {
	h.rt.handle("GET", "/repository/{repo}/mirror", h.getMirror)
	h.rt.handle("POST", "/repository/{repo}/mirror", h.createMirror)
	h.rt.handle("PUT", "/repository/{repo}/mirror", h.updateMirror)
	h.rt.handle("POST", "/repository/{repo}/mirror/sync-now", h.mirrorSyncNow)
	h.rt.handle("POST", "/repository/{repo}/mirror/sync-cancel", h.mirrorSyncCancel)
	h.orgMirrorRoutes()
}

// mirrorDateFormat is Quay's format of sync_start_date.
const mirrorDateFormat = "2006-01-02T15:04:05Z"

// mirrorAdmin checks the feature, the repo:admin scope and admin on the
// repository; it returns the repository.
func (h *Handler) mirrorAdmin(r *http.Request, p params) (core.Repository, error) {
	if h.opts.Mirrors == nil {
		return core.Repository{}, errNotFound("repository mirroring is not enabled")
	}
	return h.accessRepo(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
}

// mirrorOf is mirrorAdmin and the repository's mirror configuration.
func (h *Handler) mirrorOf(r *http.Request, p params) (core.Repository, store.Mirror, error) {
	repo, err := h.mirrorAdmin(r, p)
	if err != nil {
		return repo, store.Mirror{}, err
	}
	m, err := h.db.Mirror(r.Context(), repo.FullName)
	return repo, m, err
}

func mirrorDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(mirrorDateFormat)
}

func (h *Handler) mirrorView(m store.Mirror) map[string]any {
	var user any
	if m.UsernameEnc != "" {
		if u, err := h.box.Open(m.UsernameEnc); err == nil {
			user = u
		} else {
			user = "(invalid. please re-enter)"
		}
	}
	var robot any
	if m.RobotUsername != "" {
		robot = m.RobotUsername
	}
	var cfg map[string]any
	if json.Unmarshal(m.RegistryConfig, &cfg) != nil || cfg == nil {
		cfg = map[string]any{}
	}
	return map[string]any{
		"is_enabled":                 m.IsEnabled,
		"mirror_type":                "PULL",
		"external_reference":         m.ExternalReference,
		"external_registry_username": user,
		"external_registry_config":   cfg,
		"sync_interval":              m.SyncInterval,
		"sync_start_date":            mirrorDate(m.SyncStartDate),
		"sync_expiration_date":       mirrorDate(m.SyncExpirationDate),
		"sync_retries_remaining":     m.SyncRetriesRemaining,
		"sync_status":                m.SyncStatus,
		"root_rule":                  map[string]any{"rule_kind": "tag_glob_csv", "rule_value": nonNilStrings(m.RuleValue)},
		"robot_username":             robot,
		"architecture_filter":        nonNilStrings(m.ArchitectureFilter),
		"delete_obsolete_tags":       m.DeleteObsoleteTags,
		// Wharf's status of the last sync.
		"last_sync_start":  mirrorDate(m.LastSyncStart),
		"last_sync_end":    mirrorDate(m.LastSyncEnd),
		"last_sync_result": m.LastSyncResult,
		"last_sync_error":  m.LastError,
		"tags_synced":      m.TagsSynced,
		"tags_failed":      m.TagsFailed,
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Handler) getMirror(w http.ResponseWriter, r *http.Request, p params) error {
	_, m, err := h.mirrorOf(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.mirrorView(m))
	return nil
}

// mirrorBody is the request body of POST and PUT; absent fields are nil.
type mirrorBody struct {
	IsEnabled         *bool           `json:"is_enabled"`
	ExternalReference *string         `json:"external_reference"`
	Username          json.RawMessage `json:"external_registry_username"`
	Password          json.RawMessage `json:"external_registry_password"`
	SyncInterval      *int64          `json:"sync_interval"`
	SyncStartDate     *string         `json:"sync_start_date"`
	RobotUsername     *string         `json:"robot_username"`
	RootRule          *struct {
		RuleKind  string   `json:"rule_kind"`
		RuleValue []string `json:"rule_value"`
	} `json:"root_rule"`
	// RegistryConfig is Quay's external_registry_config: verify_tls, proxy,
	// Wharf's ca_certificate, and unsigned_images. unsigned_images is
	// accepted, stored and returned for compatibility but enforces nothing:
	// in Quay it lets a sync drop the upstream's simple-signing (GPG)
	// signatures, which a sync here never copies (they live outside the
	// registry's manifests), while sigstore/cosign signatures are OCI
	// referrers and are always copied with their images.
	RegistryConfig     json.RawMessage `json:"external_registry_config"`
	ArchitectureFilter *[]string       `json:"architecture_filter"`
	DeleteObsoleteTags *bool           `json:"delete_obsolete_tags"`
}

// optString decodes a field that may be absent (set=false), null or a
// string.
func optString(raw json.RawMessage, field string) (val *string, set bool, err error) {
	if raw == nil {
		return nil, false, nil
	}
	if string(raw) == "null" {
		return nil, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, true, errInvalid(field + " must be a string or null")
	}
	return &s, true, nil
}

func (h *Handler) createMirror(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.mirrorAdmin(r, p)
	if err != nil {
		return err
	}
	var body mirrorBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := requiredProps(prop{"external_reference", body.ExternalReference == nil}, prop{"sync_interval", body.SyncInterval == nil},
		prop{"sync_start_date", body.SyncStartDate == nil}, prop{"root_rule", body.RootRule == nil},
		prop{"robot_username", body.RobotUsername == nil}); err != nil {
		return err
	}
	c := store.MirrorConfig{IsEnabled: true, DeleteObsoleteTags: true}
	if err := h.applyMirrorBody(r, repo, &c, body, true); err != nil {
		return err
	}
	return h.mirrorCreated(w, r, "repository "+repo.FullName, func() error { return h.db.CreateMirror(r.Context(), repo.FullName, c) })
}

// prop is a request property and whether the body lacks it.
type prop struct {
	name    string
	missing bool
}

// requiredProps is Quay's error for the first missing property.
func requiredProps(props ...prop) error {
	for _, p := range props {
		if p.missing {
			return errInvalid("'" + p.name + "' is a required property")
		}
	}
	return nil
}

// mirrorCreated runs create and answers 201, or Quay's 409 when a mirror
// configuration of what exists already.
func (h *Handler) mirrorCreated(w http.ResponseWriter, r *http.Request, what string, create func() error) error {
	if err := create(); err != nil {
		if !core.IsCode(err, core.CodeConflict) {
			return err
		}
		msg := "Mirror configuration already exists for " + what
		writeJSON(w, http.StatusConflict, apiError{Status: http.StatusConflict, ErrorMessage: msg, Detail: msg,
			ErrorType: "invalid_request", Title: "conflict", Type: h.baseURL(r) + "/api/v1/error/invalid_request"})
		return nil
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) updateMirror(w http.ResponseWriter, r *http.Request, p params) error {
	repo, m, err := h.mirrorOf(r, p)
	if err != nil {
		return err
	}
	var body mirrorBody
	if err := decode(r, &body); err != nil {
		return err
	}
	c := m.MirrorConfig
	if err := h.applyMirrorBody(r, repo, &c, body, false); err != nil {
		return err
	}
	if err := h.db.UpdateMirror(r.Context(), repo.FullName, c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// applyMirrorBody validates the fields present in body and sets them on c.
func (h *Handler) applyMirrorBody(r *http.Request, repo core.Repository, c *store.MirrorConfig, body mirrorBody, create bool) error {
	mv := h.opts.Mirrors
	if body.IsEnabled != nil {
		c.IsEnabled = *body.IsEnabled
	}
	if body.ExternalReference != nil {
		if err := mv.ValidateReference(*body.ExternalReference); err != nil {
			return err
		}
		c.ExternalReference = *body.ExternalReference
	}
	if body.SyncInterval != nil {
		if *body.SyncInterval < 0 {
			return errInvalid("sync_interval must be at least 0")
		}
		c.SyncInterval = *body.SyncInterval
	}
	if body.SyncStartDate != nil {
		t, err := time.Parse(mirrorDateFormat, *body.SyncStartDate)
		if err != nil {
			return errInvalid("Incorrect DateTime format for sync_start_date.")
		}
		c.SyncStartDate = t
	}
	if body.RootRule != nil {
		if body.RootRule.RuleKind != "tag_glob_csv" {
			return errInvalid(`validation failed: rule_kind must be "tag_glob_csv"`)
		}
		pats, err := mv.TagPatterns(body.RootRule.RuleValue)
		if err != nil {
			return err
		}
		c.RuleValue = pats
	}
	if body.ArchitectureFilter != nil {
		arch, err := mv.Architectures(*body.ArchitectureFilter)
		if err != nil {
			return err
		}
		c.ArchitectureFilter = arch
	}
	if body.DeleteObsoleteTags != nil {
		c.DeleteObsoleteTags = *body.DeleteObsoleteTags
	}
	if body.RegistryConfig != nil {
		merged, err := mergeJSONObject(c.RegistryConfig, body.RegistryConfig)
		if err != nil {
			return err
		}
		cfg, err := mv.RegistryConfig(merged)
		if err != nil {
			return err
		}
		c.RegistryConfig = cfg
	} else if create {
		cfg, err := mv.RegistryConfig(nil)
		if err != nil {
			return err
		}
		c.RegistryConfig = cfg
	}
	if err := h.applyMirrorCredentials(c, body); err != nil {
		return err
	}
	if body.RobotUsername != nil {
		id, err := h.mirrorRobot(r, repo, *body.RobotUsername)
		if err != nil {
			return err
		}
		c.RobotID = id
	}
	return nil
}

// applyMirrorCredentials follows Quay: a password needs a username in the
// same request; a null username with a password is refused.
func (h *Handler) applyMirrorCredentials(c *store.MirrorConfig, body mirrorBody) error {
	user, userSet, err := optString(body.Username, "external_registry_username")
	if err != nil {
		return err
	}
	pass, passSet, err := optString(body.Password, "external_registry_password")
	if err != nil {
		return err
	}
	if passSet && !userSet {
		return errInvalid("Unable to set a new password without also specifying a username.")
	}
	if userSet && user == nil && pass != nil {
		return errInvalid("Unable to delete username while setting a password.")
	}
	seal := func(v *string) (string, error) {
		if v == nil || *v == "" {
			return "", nil
		}
		if len(*v) > 4096 {
			return "", errInvalid("credentials are too long")
		}
		return h.box.Seal(*v)
	}
	if userSet {
		if c.UsernameEnc, err = seal(user); err != nil {
			return err
		}
	}
	if passSet {
		if c.PasswordEnc, err = seal(pass); err != nil {
			return err
		}
	}
	if userSet && user == nil {
		c.PasswordEnc = ""
	}
	return nil
}

// mirrorRobot checks that the robot belongs to the repository's namespace
// and may write to the repository.
func (h *Handler) mirrorRobot(r *http.Request, repo core.Repository, name string) (int64, error) {
	ns, _, ok := strings.Cut(name, "+")
	if !ok || ns != repo.Namespace {
		return 0, errInvalid("Invalid robot: " + truncate(name, 100) + " is not a robot of " + repo.Namespace)
	}
	u, err := h.db.User(r.Context(), name)
	if err != nil || !u.IsRobot() {
		return 0, errInvalid("Invalid robot: " + truncate(name, 100) + " does not exist")
	}
	acc, err := h.db.RepositoryAccess(r.Context(), u.ID, repo.FullName)
	if err != nil {
		return 0, err
	}
	if core.RoleRank(acc.Role) < core.RoleRank(core.RoleWrite) {
		return 0, errInvalid("Invalid robot: " + name + " needs write permission on " + repo.FullName)
	}
	return u.ID, nil
}

// mergeJSONObject overlays patch's keys onto base (one level deep for
// nested objects, as Quay updates proxy settings one by one).
func mergeJSONObject(base, patch json.RawMessage) (json.RawMessage, error) {
	var b, p map[string]any
	if len(base) > 0 {
		_ = json.Unmarshal(base, &b)
	}
	if b == nil {
		b = map[string]any{}
	}
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, errInvalid("external_registry_config must be an object")
	}
	for k, v := range p {
		if sub, ok := v.(map[string]any); ok {
			if cur, ok := b[k].(map[string]any); ok {
				for sk, sv := range sub {
					cur[sk] = sv
				}
				continue
			}
		}
		b[k] = v
	}
	return json.Marshal(b)
}

func (h *Handler) mirrorSyncNow(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.mirrorAdmin(r, p)
	if err != nil {
		return err
	}
	if err := h.db.MirrorSyncNow(r.Context(), repo.FullName, h.opts.Mirrors.SyncLease()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) mirrorSyncCancel(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.mirrorAdmin(r, p)
	if err != nil {
		return err
	}
	if err := h.db.MirrorSyncCancel(r.Context(), repo.FullName); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
