package api

import (
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func (h *Handler) repositoryRoutes() {
	h.rt.handle("POST", "/repository", h.createRepository)
	h.rt.handle("GET", "/repository", h.listRepositories)
	h.rt.handle("GET", "/repository/{repo}", h.getRepository)
	h.rt.handle("PUT", "/repository/{repo}", h.updateRepository)
	h.rt.handle("DELETE", "/repository/{repo}", h.deleteRepository)
	h.rt.handle("POST", "/repository/{repo}/changevisibility", h.changeVisibility)
	h.rt.handle("PUT", "/repository/{repo}/changestate", h.changeState)
}

// repoName validates a Quay repository path from the URL.
func repoName(p params) (string, error) {
	name := p["repo"]
	if err := oci.ValidateName(name); err != nil {
		return "", errNotFound("repository not found")
	}
	return name, nil
}

func (h *Handler) createRepository(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeRepoCreate); err != nil {
		return err
	}
	var req struct {
		Repository  string `json:"repository"`
		Visibility  string `json:"visibility"`
		Description string `json:"description"`
		Namespace   string `json:"namespace"`
		RepoKind    string `json:"repo_kind"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ns := req.Namespace
	if ns == "" {
		ns = id.User.Username
	}
	if req.Visibility != core.VisibilityPublic && req.Visibility != core.VisibilityPrivate {
		return errInvalid("visibility must be public or private")
	}
	if req.RepoKind != "" && req.RepoKind != "image" {
		return errInvalid("only image repositories are supported")
	}
	full := ns + "/" + req.Repository
	if req.Repository == "" || oci.ValidateName(full) != nil {
		return errInvalid("invalid repository name")
	}
	ok, _, err := h.authz.CanCreate(r.Context(), id, ns)
	if err != nil {
		return err
	}
	if !ok {
		return errForbidden()
	}
	if err := h.refuseInProxyCache(r.Context(), ns); err != nil {
		return err
	}
	if _, err := h.db.Repository(r.Context(), full); err == nil {
		return errInvalid("Repository already exists")
	}
	repo, err := h.db.CreateRepository(r.Context(), store.NewRepository{FullName: full, Visibility: req.Visibility,
		Description: req.Description, CreatorID: id.User.ID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"namespace": repo.Namespace, "name": repo.Name, "kind": "image"})
	return nil
}

// listRepositories is Quay's repository search: one of namespace, starred
// or public is required; only repositories the caller can read are listed.
func (h *Handler) listRepositories(w http.ResponseWriter, r *http.Request, _ params) error {
	id := caller(r)
	q := r.URL.Query()
	ns, public, starred := q.Get("namespace"), q.Get("public") == "true", q.Get("starred") == "true"
	if ns == "" && !public && !starred {
		return errInvalid("one of namespace, starred or public is required")
	}
	out := []map[string]any{}
	if starred {
		// Stars are not implemented yet: nobody has starred anything.
		writeJSON(w, http.StatusOK, map[string]any{"repositories": out})
		return nil
	}
	if !id.HasScope(auth.ScopeRepoRead) {
		return errForbidden()
	}
	pol := h.authz.Policy()
	f := store.RepositoryFilter{Namespace: ns, ViewerID: id.User.ID,
		IncludePublic: public || !id.IsAnonymous() || pol.AnonymousAccess,
		AllAccess:     id.Superuser && pol.SuperusersFullAccess}
	if id.IsAnonymous() && !pol.AnonymousAccess {
		return errUnauthorized("authentication required")
	}
	if id.IsAnonymous() {
		f.PublicOnly = true
	}
	page, err := pageToken(q.Get("next_page"))
	if err != nil {
		return err
	}
	f.After, f.Limit = page, repoPageSize+1
	repos, err := h.db.ListRepositories(r.Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(repos) > repoPageSize {
		repos = repos[:repoPageSize]
		next = repos[len(repos)-1].FullName
	}
	for _, repo := range repos {
		out = append(out, repoView(repo))
	}
	resp := map[string]any{"repositories": out}
	if next != "" {
		resp["next_page"] = encodePageToken(next)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

const repoPageSize = 100

func (h *Handler) getRepository(w http.ResponseWriter, r *http.Request, p params) error {
	name, err := repoName(p)
	if err != nil {
		return err
	}
	id := caller(r)
	repo, role, err := h.repoRoleAtLeast(r.Context(), id, name, core.RoleRead)
	if err != nil {
		return err
	}
	ns, err := h.db.Namespace(r.Context(), repo.Namespace)
	if err != nil {
		return err
	}
	v := repoView(repo)
	v["is_organization"] = ns.IsOrg()
	v["is_starred"] = false
	v["status_token"] = ""
	v["trust_enabled"] = false
	window, err := h.namespaceWindow(r.Context(), repo.Namespace)
	if err != nil {
		return err
	}
	v["tag_expiration_s"] = int64(window.Seconds())
	v["can_write"] = core.RoleRank(role) >= core.RoleRank(core.RoleWrite)
	v["can_admin"] = role == core.RoleAdmin
	if q := r.URL.Query().Get("includeTags"); q != "false" {
		tags, err := h.db.Tags(r.Context(), name, "", 500)
		if err != nil {
			return err
		}
		tv := map[string]any{}
		for _, t := range tags {
			tv[t] = map[string]any{"name": t}
		}
		v["tags"] = tv
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) updateRepository(w http.ResponseWriter, r *http.Request, p params) error {
	name, err := h.repoAccess(r, p, auth.ScopeRepoWrite, core.RoleWrite)
	if err != nil {
		return err
	}
	var req struct {
		Description *string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Description == nil {
		return errInvalid("description is required")
	}
	if _, err := h.db.UpdateRepository(r.Context(), name, store.RepositoryUpdate{Description: req.Description}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
	return nil
}

func (h *Handler) deleteRepository(w http.ResponseWriter, r *http.Request, p params) error {
	name, err := h.repoAccess(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
	if err != nil {
		return err
	}
	if err := h.db.DeleteRepository(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) changeVisibility(w http.ResponseWriter, r *http.Request, p params) error {
	name, err := h.repoAccess(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
	if err != nil {
		return err
	}
	var req struct {
		Visibility string `json:"visibility"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Visibility != core.VisibilityPublic && req.Visibility != core.VisibilityPrivate {
		return errInvalid("visibility must be public or private")
	}
	if _, err := h.db.UpdateRepository(r.Context(), name, store.RepositoryUpdate{Visibility: &req.Visibility}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
	return nil
}

func (h *Handler) changeState(w http.ResponseWriter, r *http.Request, p params) error {
	name, err := h.repoAccess(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
	if err != nil {
		return err
	}
	var req struct {
		State string `json:"state"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	st := strings.ToUpper(req.State)
	if st != core.RepoStateNormal && st != core.RepoStateReadOnly && st != core.RepoStateMirror {
		return errInvalid("state must be NORMAL, READ_ONLY or MIRROR")
	}
	if _, err := h.db.UpdateRepository(r.Context(), name, store.RepositoryUpdate{State: &st}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
	return nil
}
