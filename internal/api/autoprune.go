package api

import (
	"encoding/json"
	"net/http"

	"github.com/wharfhq/wharf/internal/core"
)

// Quay's auto-prune policies (3.13), per organization, per user namespace
// and per repository: {method: number_of_tags|creation_date, value,
// tagPattern?, tagPatternMatches?}.
func (h *Handler) autopruneRoutes() {
	for _, base := range []string{"/organization/{orgname}/autoprunepolicy/", "/user/autoprunepolicy/"} {
		h.rt.handle("GET", base, h.nsAutoprune(h.listAutoprune))
		h.rt.handle("POST", base, h.nsAutoprune(h.createAutoprune))
		h.rt.handle("GET", base+"{uuid}", h.nsAutoprune(h.getAutoprune))
		h.rt.handle("PUT", base+"{uuid}", h.nsAutoprune(h.updateAutoprune))
		h.rt.handle("DELETE", base+"{uuid}", h.nsAutoprune(h.deleteAutoprune))
	}
	base := "/repository/{repo}/autoprunepolicy/"
	h.rt.handle("GET", base, h.repoAutoprune(h.listAutoprune))
	h.rt.handle("POST", base, h.repoAutoprune(h.createAutoprune))
	h.rt.handle("GET", base+"{uuid}", h.repoAutoprune(h.getAutoprune))
	h.rt.handle("PUT", base+"{uuid}", h.repoAutoprune(h.updateAutoprune))
	h.rt.handle("DELETE", base+"{uuid}", h.repoAutoprune(h.deleteAutoprune))
}

// autopruneFunc handles one request for the policies of a namespace (repo
// "") or repository, once the caller is known to administer it.
type autopruneFunc func(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error

// nsAutoprune checks namespace admin: of the organization in the path, or
// of the caller's own namespace on /user/.
func (h *Handler) nsAutoprune(fn autopruneFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) error {
		ns, ok := p["orgname"]
		if !ok {
			id, err := requireUser(r)
			if err != nil {
				return err
			}
			ns = id.User.Username
		}
		if err := h.namespacePolicyAdmin(r, ns); err != nil {
			return err
		}
		return fn(w, r, ns, "", p["uuid"])
	}
}

// repoAutoprune checks repository admin.
func (h *Handler) repoAutoprune(fn autopruneFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) error {
		repo, err := h.repoPolicyAdmin(r, p)
		if err != nil {
			return err
		}
		return fn(w, r, repo.Namespace, repo.FullName, p["uuid"])
	}
}

func autopruneView(p core.AutoprunePolicy) map[string]any {
	v := map[string]any{"uuid": p.UUID, "method": p.Method, "value": p.JSONValue()}
	if p.TagPattern != "" {
		v["tagPattern"] = p.TagPattern
		v["tagPatternMatches"] = p.TagPatternMatches
	}
	return v
}

// decodeAutoprune reads {method, value, tagPattern?, tagPatternMatches?
// (default true)}.
func decodeAutoprune(r *http.Request) (core.AutoprunePolicy, error) {
	var req struct {
		Method            string          `json:"method"`
		Value             json.RawMessage `json:"value"`
		TagPattern        *string         `json:"tagPattern"`
		TagPatternMatches *bool           `json:"tagPatternMatches"`
	}
	if err := decode(r, &req); err != nil {
		return core.AutoprunePolicy{}, err
	}
	pattern := ""
	if req.TagPattern != nil {
		pattern = *req.TagPattern
	}
	return core.ParseAutoprunePolicy(req.Method, req.Value, pattern, req.TagPatternMatches == nil || *req.TagPatternMatches)
}

func (h *Handler) listAutoprune(w http.ResponseWriter, r *http.Request, ns, repo, _ string) error {
	ps, err := h.db.AutoprunePolicies(r.Context(), ns, repo)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		views = append(views, autopruneView(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": views})
	return nil
}

func (h *Handler) createAutoprune(w http.ResponseWriter, r *http.Request, ns, repo, _ string) error {
	p, err := decodeAutoprune(r)
	if err != nil {
		return err
	}
	p.Namespace, p.Repository = ns, repo
	if p, err = h.db.CreateAutoprunePolicy(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"uuid": p.UUID})
	return nil
}

func (h *Handler) getAutoprune(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	p, err := h.db.AutoprunePolicy(r.Context(), ns, repo, uuid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, autopruneView(p))
	return nil
}

// updateAutoprune answers 204, as Quay.
func (h *Handler) updateAutoprune(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	p, err := decodeAutoprune(r)
	if err != nil {
		return err
	}
	p.Namespace, p.Repository, p.UUID = ns, repo, uuid
	if err := h.db.UpdateAutoprunePolicy(r.Context(), p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteAutoprune(w http.ResponseWriter, r *http.Request, ns, repo, uuid string) error {
	if err := h.db.DeleteAutoprunePolicy(r.Context(), ns, repo, uuid); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"uuid": uuid})
	return nil
}
