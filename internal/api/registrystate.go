package api

import (
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// The registry-wide read-only switch. Quay has only REGISTRY_STATE in its
// configuration; this Wharf extension lets a superuser switch it at run
// time. The switch lives in the database, so every replica obeys it.
func (h *Handler) registryStateRoutes() {
	h.rt.handle("GET", "/superuser/registrystate", h.getRegistryState)
	h.rt.handleReadOnlyOK("PUT", "/superuser/registrystate", h.setRegistryState)
}

// requireSuperuser checks a superuser with the super:user scope.
func requireSuperuser(r *http.Request) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if !id.Superuser {
		return errForbidden()
	}
	return requireScope(id, auth.ScopeSuperUser)
}

// registryStateView says the effective state, and what the switch says:
// the configuration's readonly cannot be switched off from the API.
func (h *Handler) registryStateView(r *http.Request) (map[string]any, error) {
	switched, err := h.db.RegistryState(r.Context())
	if err != nil {
		return nil, err
	}
	state := core.RegistryStateNormal
	if err := h.authz.RegistryWritable(r.Context()); err != nil {
		if !core.IsCode(err, core.CodeReadOnly) {
			return nil, err
		}
		state = core.RegistryStateReadOnly
	}
	configured := core.RegistryStateNormal
	if h.authz.Policy().ReadOnly {
		configured = core.RegistryStateReadOnly
	}
	return map[string]any{"state": state, "switch_state": switched, "config_state": configured}, nil
}

func (h *Handler) getRegistryState(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	v, err := h.registryStateView(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) setRegistryState(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	var req struct {
		State string `json:"state"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := h.db.SetRegistryState(r.Context(), req.State); err != nil {
		return err
	}
	v, err := h.registryStateView(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
