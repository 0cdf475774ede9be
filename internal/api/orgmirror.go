package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Organization mirroring, in the style of Quay's repository mirror API: an
// organization follows the repositories of an upstream namespace. Every
// upstream repository whose name below external_namespace matches
// repository_filter becomes a repository of the organization in state
// MIRROR with a repository mirror built from these settings (robot, tag
// rule, interval, credentials, external_registry_config), created by a
// discovery job that reads the upstream's catalog, or the repositories
// listed in "repositories" when the upstream has no catalog. Repositories
// that exist already are left alone; the repository mirrors created keep
// their settings when the organization mirror changes or goes.
//
//	GET|POST|PUT|DELETE /api/v1/organization/{orgname}/mirror
//	POST /api/v1/organization/{orgname}/mirror/sync-now   (discover now)
func (h *Handler) orgMirrorRoutes() {
	h.rt.handle("GET", "/organization/{orgname}/mirror", h.getOrgMirror)
	h.rt.handle("POST", "/organization/{orgname}/mirror", h.createOrgMirror)
	h.rt.handle("PUT", "/organization/{orgname}/mirror", h.updateOrgMirror)
	h.rt.handle("DELETE", "/organization/{orgname}/mirror", h.deleteOrgMirror)
	h.rt.handle("POST", "/organization/{orgname}/mirror/sync-now", h.orgMirrorSyncNow)
}

// orgMirrorBody is the request body of POST and PUT: the repository
// mirror's fields (external_reference and sync_start_date are not used)
// and the organization's.
type orgMirrorBody struct {
	mirrorBody
	ExternalRegistry  *string   `json:"external_registry"`
	ExternalNamespace *string   `json:"external_namespace"`
	RepositoryFilter  *[]string `json:"repository_filter"`
	Repositories      *[]string `json:"repositories"`
}

// orgMirrorAdmin checks the feature and that the caller administers the
// organization.
func (h *Handler) orgMirrorAdmin(r *http.Request, p params) (core.Namespace, error) {
	if h.opts.Mirrors == nil {
		return core.Namespace{}, errNotFound("repository mirroring is not enabled")
	}
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	return org, err
}

func (h *Handler) orgMirrorView(m store.OrgMirror) map[string]any {
	v := h.mirrorView(store.Mirror{MirrorConfig: store.MirrorConfig{IsEnabled: m.IsEnabled, UsernameEnc: m.UsernameEnc,
		RobotID: m.RobotID, SyncInterval: m.SyncInterval, RuleValue: m.RuleValue, ArchitectureFilter: m.ArchitectureFilter,
		RegistryConfig: m.RegistryConfig, DeleteObsoleteTags: m.DeleteObsoleteTags}, RobotUsername: m.RobotUsername})
	for _, k := range []string{"external_reference", "sync_start_date", "sync_expiration_date", "sync_retries_remaining",
		"sync_status", "last_sync_start", "last_sync_end", "last_sync_result", "last_sync_error", "tags_synced", "tags_failed"} {
		delete(v, k)
	}
	v["external_registry"] = m.ExternalRegistry
	v["external_namespace"] = m.ExternalNamespace
	v["repository_filter"] = nonNilStrings(m.RepositoryFilter)
	v["repositories"] = nonNilStrings(m.Repositories)
	v["next_discovery"] = mirrorDate(m.NextDiscovery)
	v["last_discovery"] = mirrorDate(m.LastDiscovery)
	v["last_discovery_error"] = m.LastError
	v["repositories_created"] = m.RepositoriesCreated
	return v
}

// orgMirrorOf is orgMirrorAdmin and the organization's mirror.
func (h *Handler) orgMirrorOf(r *http.Request, p params) (core.Namespace, store.OrgMirror, error) {
	org, err := h.orgMirrorAdmin(r, p)
	if err != nil {
		return org, store.OrgMirror{}, err
	}
	m, err := h.db.OrgMirror(r.Context(), org.Name)
	return org, m, err
}

func (h *Handler) getOrgMirror(w http.ResponseWriter, r *http.Request, p params) error {
	_, m, err := h.orgMirrorOf(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.orgMirrorView(m))
	return nil
}

func (h *Handler) createOrgMirror(w http.ResponseWriter, r *http.Request, p params) error {
	org, err := h.orgMirrorAdmin(r, p)
	if err != nil {
		return err
	}
	var body orgMirrorBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := requiredProps(prop{"external_registry", body.ExternalRegistry == nil},
		prop{"external_namespace", body.ExternalNamespace == nil}, prop{"sync_interval", body.SyncInterval == nil},
		prop{"root_rule", body.RootRule == nil}, prop{"robot_username", body.RobotUsername == nil}); err != nil {
		return err
	}
	c := store.OrgMirrorConfig{IsEnabled: true, DeleteObsoleteTags: true, RepositoryFilter: []string{"*"}}
	if err := h.applyOrgMirrorBody(r, org, &c, body, true); err != nil {
		return err
	}
	return h.mirrorCreated(w, r, "organization "+org.Name, func() error { return h.db.CreateOrgMirror(r.Context(), org.Name, c) })
}

func (h *Handler) updateOrgMirror(w http.ResponseWriter, r *http.Request, p params) error {
	org, m, err := h.orgMirrorOf(r, p)
	if err != nil {
		return err
	}
	var body orgMirrorBody
	if err := decode(r, &body); err != nil {
		return err
	}
	c := m.OrgMirrorConfig
	if err := h.applyOrgMirrorBody(r, org, &c, body, false); err != nil {
		return err
	}
	if err := h.db.UpdateOrgMirror(r.Context(), org.Name, c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteOrgMirror(w http.ResponseWriter, r *http.Request, p params) error {
	return h.orgMirrorAction(w, r, p, h.db.DeleteOrgMirror)
}

func (h *Handler) orgMirrorSyncNow(w http.ResponseWriter, r *http.Request, p params) error {
	return h.orgMirrorAction(w, r, p, h.db.OrgMirrorSyncNow)
}

// orgMirrorAction runs act on the organization and answers 204.
func (h *Handler) orgMirrorAction(w http.ResponseWriter, r *http.Request, p params, act func(context.Context, string) error) error {
	org, err := h.orgMirrorAdmin(r, p)
	if err != nil {
		return err
	}
	if err := act(r.Context(), org.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// applyOrgMirrorBody validates the fields present in body and sets them on
// c; the repository mirror's fields are validated as for a repository.
func (h *Handler) applyOrgMirrorBody(r *http.Request, org core.Namespace, c *store.OrgMirrorConfig, body orgMirrorBody, create bool) error {
	mv := h.opts.Mirrors
	mc := store.MirrorConfig{IsEnabled: c.IsEnabled, UsernameEnc: c.UsernameEnc, PasswordEnc: c.PasswordEnc,
		RobotID: c.RobotID, SyncInterval: c.SyncInterval, RuleValue: c.RuleValue, ArchitectureFilter: c.ArchitectureFilter,
		RegistryConfig: c.RegistryConfig, DeleteObsoleteTags: c.DeleteObsoleteTags}
	robot := body.RobotUsername
	body.RobotUsername, body.ExternalReference, body.SyncStartDate = nil, nil, nil
	if err := h.applyMirrorBody(r, core.Repository{}, &mc, body.mirrorBody, create); err != nil {
		return err
	}
	c.IsEnabled, c.UsernameEnc, c.PasswordEnc, c.SyncInterval = mc.IsEnabled, mc.UsernameEnc, mc.PasswordEnc, mc.SyncInterval
	c.RuleValue, c.ArchitectureFilter, c.RegistryConfig, c.DeleteObsoleteTags = mc.RuleValue, mc.ArchitectureFilter, mc.RegistryConfig, mc.DeleteObsoleteTags
	if body.ExternalRegistry != nil {
		c.ExternalRegistry = *body.ExternalRegistry
	}
	if body.ExternalNamespace != nil {
		c.ExternalNamespace = *body.ExternalNamespace
	}
	if err := mv.OrgSource(c.ExternalRegistry, c.ExternalNamespace); err != nil {
		return err
	}
	if body.RepositoryFilter != nil {
		f, err := mv.RepositoryFilter(*body.RepositoryFilter)
		if err != nil {
			return err
		}
		c.RepositoryFilter = f
	}
	if body.Repositories != nil {
		names, err := mv.RepositoryNames(*body.Repositories)
		if err != nil {
			return err
		}
		c.Repositories = names
	}
	if robot != nil {
		id, err := h.orgMirrorRobot(r, org, *robot)
		if err != nil {
			return err
		}
		c.RobotID = id
	}
	return nil
}

// orgMirrorRobot checks that the robot belongs to the organization; it is
// given write on each repository the mirror creates.
func (h *Handler) orgMirrorRobot(r *http.Request, org core.Namespace, name string) (int64, error) {
	ns, _, ok := strings.Cut(name, "+")
	if !ok || ns != org.Name {
		return 0, errInvalid("Invalid robot: " + truncate(name, 100) + " is not a robot of " + org.Name)
	}
	u, err := h.db.User(r.Context(), name)
	if err != nil || !u.IsRobot() {
		return 0, errInvalid("Invalid robot: " + truncate(name, 100) + " does not exist")
	}
	return u.ID, nil
}
