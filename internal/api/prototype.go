package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Prototypes are Quay's default permissions: roles an organization grants
// on every repository created in it (optionally only when a given user
// creates it).
func (h *Handler) prototypeRoutes() {
	h.rt.handle("GET", "/organization/{orgname}/prototypes", h.protoList)
	h.rt.handle("POST", "/organization/{orgname}/prototypes", h.protoCreate)
	h.rt.handle("PUT", "/organization/{orgname}/prototypes/{prototypeid}", h.protoUpdate)
	h.rt.handle("DELETE", "/organization/{orgname}/prototypes/{prototypeid}", h.protoDelete)
}

// protoUserView is Quay's prototype_user_view: robots are kind "user" with
// is_robot set.
func protoUserView(name string, isRobot bool, orgMembers map[string]bool) map[string]any {
	kind := "user"
	if isRobot {
		kind = "robot"
	}
	return map[string]any{
		"name":          name,
		"kind":          "user",
		"is_robot":      isRobot,
		"is_org_member": isRobot || orgMembers[name],
		"avatar":        avatar(name, kind),
	}
}

// protoView is Quay's prototype_view; activating_user is null for rules
// that apply to every creator.
func protoView(p core.Prototype, orgMembers map[string]bool) map[string]any {
	var act any
	if p.ActivatingUser != "" {
		// Robot names, and only they, contain "+".
		act = protoUserView(p.ActivatingUser, strings.Contains(p.ActivatingUser, "+"), orgMembers)
	}
	var delegate map[string]any
	if p.DelegateTeam != "" {
		delegate = map[string]any{"name": p.DelegateTeam, "kind": "team", "avatar": avatar(p.DelegateTeam, "team")}
	} else {
		delegate = protoUserView(p.DelegateUser, p.DelegateIsRobot, orgMembers)
	}
	return map[string]any{"activating_user": act, "delegate": delegate, "role": p.Role, "id": p.UUID}
}

// protoOrgMembers is the set of usernames in any team of the organization.
func (h *Handler) protoOrgMembers(ctx context.Context, org string) (map[string]bool, error) {
	members, err := h.db.OrganizationMembers(ctx, org)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range members {
		out[m.User.Username] = true
	}
	return out, nil
}

func (h *Handler) protoRespond(ctx context.Context, w http.ResponseWriter, org string, p core.Prototype) error {
	members, err := h.protoOrgMembers(ctx, org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, protoView(p, members))
	return nil
}

func (h *Handler) protoList(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	protos, err := h.db.Prototypes(r.Context(), org.Name)
	if err != nil {
		return err
	}
	members, err := h.protoOrgMembers(r.Context(), org.Name)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, pr := range protos {
		out = append(out, protoView(pr, members))
	}
	writeJSON(w, http.StatusOK, map[string]any{"prototypes": out})
	return nil
}

func protoRole(role string) error {
	if !core.ValidRepoRole(role) {
		return errInvalid("role must be read, write or admin")
	}
	return nil
}

func (h *Handler) protoCreate(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	ctx := r.Context()
	var req struct {
		Role     string `json:"role"`
		Delegate *struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"delegate"`
		ActivatingUser *struct {
			Name string `json:"name"`
		} `json:"activating_user"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := protoRole(req.Role); err != nil {
		return err
	}
	np := store.NewPrototype{Role: req.Role}
	if req.ActivatingUser != nil && req.ActivatingUser.Name != "" {
		if _, err := h.db.User(ctx, req.ActivatingUser.Name); err != nil {
			if core.IsCode(err, core.CodeNotFound) {
				return errInvalid("Unknown activating user")
			}
			return err
		}
		np.ActivatingUser = req.ActivatingUser.Name
	}
	missing := errInvalid("Missing delegate user or team")
	if req.Delegate == nil || req.Delegate.Name == "" {
		return missing
	}
	switch req.Delegate.Kind {
	case "user":
		u, err := h.db.User(ctx, req.Delegate.Name)
		if err != nil {
			if core.IsCode(err, core.CodeNotFound) {
				return missing
			}
			return err
		}
		if u.IsRobot() && u.RobotNamespace != org.Name {
			return errInvalid("robot " + u.Username + " does not belong to organization " + org.Name)
		}
		np.DelegateUser = u.Username
	case "team":
		t, err := h.db.Team(ctx, org.Name, req.Delegate.Name)
		if err != nil {
			if core.IsCode(err, core.CodeNotFound) {
				return missing
			}
			return err
		}
		np.DelegateTeam = t.Name
	default:
		return errInvalid("delegate kind must be user or team")
	}
	pr, err := h.db.CreatePrototype(ctx, org.Name, np)
	if err != nil {
		return err
	}
	return h.protoRespond(ctx, w, org.Name, pr)
}

func (h *Handler) protoUpdate(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := protoRole(req.Role); err != nil {
		return err
	}
	pr, err := h.db.UpdatePrototype(r.Context(), org.Name, p["prototypeid"], req.Role)
	if err != nil {
		return err
	}
	return h.protoRespond(r.Context(), w, org.Name, pr)
}

func (h *Handler) protoDelete(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	if err := h.db.DeletePrototype(r.Context(), org.Name, p["prototypeid"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
