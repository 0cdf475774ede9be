package api

import (
	"encoding/json"
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// Quay's immutability policies, per organization and per repository: tags
// whose name matches tagPattern (or, with tagPatternMatches false, does not)
// cannot be moved, deleted or expired.
func (h *Handler) immutabilityRoutes() {
	h.rt.handle("GET", "/organization/{orgname}/immutabilitypolicy/", h.listOrgImmutabilityPolicies)
	h.rt.handle("POST", "/organization/{orgname}/immutabilitypolicy/", h.createOrgImmutabilityPolicy)
	h.rt.handle("GET", "/organization/{orgname}/immutabilitypolicy/{uuid}", h.getOrgImmutabilityPolicy)
	h.rt.handle("PUT", "/organization/{orgname}/immutabilitypolicy/{uuid}", h.updateOrgImmutabilityPolicy)
	h.rt.handle("DELETE", "/organization/{orgname}/immutabilitypolicy/{uuid}", h.deleteOrgImmutabilityPolicy)
	h.rt.handle("GET", "/repository/{repo}/immutabilitypolicy/", h.listRepoImmutabilityPolicies)
	h.rt.handle("POST", "/repository/{repo}/immutabilitypolicy/", h.createRepoImmutabilityPolicy)
	h.rt.handle("GET", "/repository/{repo}/immutabilitypolicy/{uuid}", h.getRepoImmutabilityPolicy)
	h.rt.handle("PUT", "/repository/{repo}/immutabilitypolicy/{uuid}", h.updateRepoImmutabilityPolicy)
	h.rt.handle("DELETE", "/repository/{repo}/immutabilitypolicy/{uuid}", h.deleteRepoImmutabilityPolicy)
}

func policyView(p core.ImmutabilityPolicy) map[string]any {
	return map[string]any{"uuid": p.UUID, "tagPattern": p.TagPattern, "tagPatternMatches": p.TagPatternMatches}
}

// decodePolicy reads {tagPattern, tagPatternMatches (default true)}.
func decodePolicy(r *http.Request) (core.ImmutabilityPolicy, error) {
	var req struct {
		TagPattern        json.RawMessage `json:"tagPattern"`
		TagPatternMatches *bool           `json:"tagPatternMatches"`
	}
	if err := decode(r, &req); err != nil {
		return core.ImmutabilityPolicy{}, err
	}
	var p core.ImmutabilityPolicy
	if len(req.TagPattern) == 0 || json.Unmarshal(req.TagPattern, &p.TagPattern) != nil {
		return p, errInvalid("tagPattern is required and must be a non-empty string")
	}
	p.TagPatternMatches = req.TagPatternMatches == nil || *req.TagPatternMatches
	return p, nil
}

// namespacePolicyAdmin checks that the caller administers a namespace (an
// organization, or their own) with the org:admin scope: 401 for anonymous
// callers, 404 for unknown namespaces, 403 otherwise.
func (h *Handler) namespacePolicyAdmin(r *http.Request, ns string) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
		return err
	}
	if _, err := h.db.Namespace(r.Context(), ns); err != nil {
		return err
	}
	role, err := h.authz.NamespaceRole(r.Context(), id, ns)
	if err != nil {
		return err
	}
	if role != core.TeamAdmin {
		return errForbidden()
	}
	return nil
}

// repoPolicyAdmin checks repository admin and returns the repository.
func (h *Handler) repoPolicyAdmin(r *http.Request, p params) (core.Repository, error) {
	return h.accessRepo(r, p, noScope, core.RoleAdmin)
}

func (h *Handler) listPolicies(w http.ResponseWriter, r *http.Request, ns, repo string) error {
	ps, err := h.db.ImmutabilityPolicies(r.Context(), ns, repo)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		views = append(views, policyView(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": views})
	return nil
}

func (h *Handler) createPolicy(w http.ResponseWriter, r *http.Request, ns, repo string) error {
	p, err := decodePolicy(r)
	if err != nil {
		return err
	}
	p.Namespace, p.Repository = ns, repo
	if p, err = h.db.CreateImmutabilityPolicy(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"uuid": p.UUID})
	return nil
}

func (h *Handler) getPolicy(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	p, err := h.db.ImmutabilityPolicy(r.Context(), ns, repo, uuid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, policyView(p))
	return nil
}

// updatePolicy answers 204, as Quay.
func (h *Handler) updatePolicy(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	p, err := decodePolicy(r)
	if err != nil {
		return err
	}
	p.Namespace, p.Repository, p.UUID = ns, repo, uuid
	if err := h.db.UpdateImmutabilityPolicy(r.Context(), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deletePolicy(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	if err := h.db.DeleteImmutabilityPolicy(r.Context(), ns, repo, uuid); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"uuid": uuid})
	return nil
}

func (h *Handler) listOrgImmutabilityPolicies(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.namespacePolicyAdmin(r, p["orgname"]); err != nil {
		return err
	}
	return h.listPolicies(w, r, p["orgname"], "")
}

func (h *Handler) createOrgImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.namespacePolicyAdmin(r, p["orgname"]); err != nil {
		return err
	}
	return h.createPolicy(w, r, p["orgname"], "")
}

func (h *Handler) getOrgImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.namespacePolicyAdmin(r, p["orgname"]); err != nil {
		return err
	}
	return h.getPolicy(w, r, p["orgname"], "", p["uuid"])
}

func (h *Handler) updateOrgImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.namespacePolicyAdmin(r, p["orgname"]); err != nil {
		return err
	}
	return h.updatePolicy(w, r, p["orgname"], "", p["uuid"])
}

func (h *Handler) deleteOrgImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	if err := h.namespacePolicyAdmin(r, p["orgname"]); err != nil {
		return err
	}
	return h.deletePolicy(w, r, p["orgname"], "", p["uuid"])
}

func (h *Handler) listRepoImmutabilityPolicies(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.repoPolicyAdmin(r, p)
	if err != nil {
		return err
	}
	return h.listPolicies(w, r, repo.Namespace, repo.FullName)
}

func (h *Handler) createRepoImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.repoPolicyAdmin(r, p)
	if err != nil {
		return err
	}
	return h.createPolicy(w, r, repo.Namespace, repo.FullName)
}

func (h *Handler) getRepoImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.repoPolicyAdmin(r, p)
	if err != nil {
		return err
	}
	return h.getPolicy(w, r, repo.Namespace, repo.FullName, p["uuid"])
}

func (h *Handler) updateRepoImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.repoPolicyAdmin(r, p)
	if err != nil {
		return err
	}
	return h.updatePolicy(w, r, repo.Namespace, repo.FullName, p["uuid"])
}

func (h *Handler) deleteRepoImmutabilityPolicy(w http.ResponseWriter, r *http.Request, p params) error {
	repo, err := h.repoPolicyAdmin(r, p)
	if err != nil {
		return err
	}
	return h.deletePolicy(w, r, repo.Namespace, repo.FullName, p["uuid"])
}
