package api

import (
	"context"
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
)

func (h *Handler) teamRoutes() {
	h.rt.handle("PUT", "/organization/{orgname}/team/{teamname}", h.teamPut)
	h.rt.handle("DELETE", "/organization/{orgname}/team/{teamname}", h.teamDelete)
	h.rt.handle("GET", "/organization/{orgname}/team/{teamname}/members", h.teamListMembers)
	h.rt.handle("PUT", "/organization/{orgname}/team/{teamname}/members/{membername}", h.teamAddMember)
	h.rt.handle("DELETE", "/organization/{orgname}/team/{teamname}/members/{membername}", h.teamRemoveMember)
	h.rt.handle("GET", "/organization/{orgname}/team/{teamname}/permissions", h.teamListPermissions)
}

// teamMemberView is Quay's member_view (robots are kind "user" with
// is_robot set).
func teamMemberView(u core.User) map[string]any {
	return map[string]any{
		"name":     u.Username,
		"kind":     "user",
		"is_robot": u.IsRobot(),
		"avatar":   avatar(u.Username, orgAccountKind(u)),
		"invited":  false,
	}
}

// teamOrNotFound loads a team, answering 404 for unknown ones.
func (h *Handler) teamOrNotFound(ctx context.Context, org, team string) (core.Team, error) {
	t, err := h.db.Team(ctx, org, team)
	if core.IsCode(err, core.CodeNotFound) {
		return t, errNotFound("team not found")
	}
	return t, err
}

// teamAdmin is orgAdminCaller for the path's organization and the team the
// path names (404 when there is none).
func (h *Handler) teamAdmin(r *http.Request, p params) (auth.Identity, core.Namespace, core.Team, error) {
	id, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return id, org, core.Team{}, err
	}
	t, err := h.teamOrNotFound(r.Context(), org.Name, p["teamname"])
	return id, org, t, err
}

// onlyAdminTeam reports whether team is the only admin team of org that the
// user belongs to: Quay refuses to delete or demote it, or to remove the user
// from it, when the user does it to themselves.
func (h *Handler) onlyAdminTeam(ctx context.Context, org string, userID int64, team string) (bool, error) {
	teams, err := h.db.Teams(ctx, org)
	if err != nil {
		return false, err
	}
	roles := map[string]string{}
	for _, t := range teams {
		roles[t.Name] = t.Role
	}
	if roles[team] != core.TeamAdmin {
		return false, nil
	}
	mine, err := h.orgMemberTeamNames(ctx, org, userID)
	if err != nil {
		return false, err
	}
	if !mine[team] {
		return false, nil
	}
	n := 0
	for t := range mine {
		if roles[t] == core.TeamAdmin {
			n++
		}
	}
	return n == 1, nil
}

// teamPut creates a team or changes its role and description.
func (h *Handler) teamPut(w http.ResponseWriter, r *http.Request, p params) error {
	id, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	ctx := r.Context()
	name := p["teamname"]
	var req struct {
		Role        *string `json:"role"`
		Description *string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == nil {
		return errInvalid("role is required")
	}
	if !core.ValidTeamRole(*req.Role) {
		return errInvalid("role must be member, creator or admin")
	}
	cur, err := h.db.Team(ctx, org.Name, name)
	exists := err == nil
	if err != nil && !core.IsCode(err, core.CodeNotFound) {
		return err
	}
	if !exists {
		if err := oci.ValidateNamespace(name); err != nil {
			return errInvalid("Invalid team name " + truncate(name, 80) + ": use 2-255 lowercase letters, digits and single . _ - between them")
		}
	}
	desc := ""
	switch {
	case req.Description != nil:
		desc = *req.Description
	case exists:
		desc = cur.Description
	}
	if exists && cur.Role == core.TeamAdmin && *req.Role != core.TeamAdmin {
		if name == core.OwnersTeam {
			return errInvalid("the owners team must keep the admin role")
		}
		only, err := h.onlyAdminTeam(ctx, org.Name, id.User.ID, name)
		if err != nil {
			return err
		}
		if only {
			return errInvalid("Cannot remove admin from team '" + name + "' because calling user would no longer have admin on org '" + org.Name + "'")
		}
	}
	t, err := h.db.PutTeam(ctx, org.Name, name, *req.Role, desc)
	if err != nil {
		return err
	}
	n, err := h.teamRepoCount(ctx, t.ID)
	if err != nil {
		return err
	}
	v := orgTeamView(t, n, true)
	v["new_team"] = !exists
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) teamDelete(w http.ResponseWriter, r *http.Request, p params) error {
	id, org, t, err := h.teamAdmin(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if t.Name == core.OwnersTeam {
		return errInvalid("the owners team cannot be deleted")
	}
	only, err := h.onlyAdminTeam(ctx, org.Name, id.User.ID, t.Name)
	if err != nil {
		return err
	}
	if only {
		return errInvalid("Deleting team '" + t.Name + "' would remove admin ability for user '" + id.User.Username + "' in organization '" + org.Name + "'")
	}
	if err := h.db.DeleteTeam(ctx, org.Name, t.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// teamListMembers shows a team to its own members and to the organization's
// administrators (Quay's ViewTeamPermission).
func (h *Handler) teamListMembers(w http.ResponseWriter, r *http.Request, p params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
		return err
	}
	ctx := r.Context()
	org, err := h.requireOrg(ctx, p["orgname"])
	if err != nil {
		return err
	}
	role, err := h.scopedOrgRole(ctx, id, org.Name)
	if err != nil {
		return err
	}
	if role == "" {
		return errForbidden()
	}
	isAdmin := role == core.TeamAdmin
	t, err := h.teamOrNotFound(ctx, org.Name, p["teamname"])
	if err != nil {
		return err
	}
	members, err := h.db.TeamMembers(ctx, org.Name, t.Name)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	inTeam := false
	for _, m := range members {
		if m.ID == id.User.ID {
			inTeam = true
		}
		out = append(out, teamMemberView(m))
	}
	if !isAdmin && !inTeam {
		return errForbidden()
	}
	// Wharf has no pending invitations: includePending adds nothing.
	writeJSON(w, http.StatusOK, map[string]any{"name": t.Name, "members": out, "can_edit": isAdmin})
	return nil
}

// teamAddMember adds a person, or a robot of the organization, to a team.
// Wharf sends no invitations: people are added directly.
func (h *Handler) teamAddMember(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, t, err := h.teamAdmin(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.userOr(ctx, p["membername"], errInvalid("Unknown user"))
	if err != nil {
		return err
	}
	if u.IsRobot() && u.RobotNamespace != org.Name {
		return errInvalid("Cannot add the specified robot to this team, as it is not a member of the organization")
	}
	if err := h.db.AddTeamMember(ctx, org.Name, t.Name, u.Username); err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return errNotFound("team not found")
		}
		return err
	}
	writeJSON(w, http.StatusOK, teamMemberView(u))
	return nil
}

func (h *Handler) teamRemoveMember(w http.ResponseWriter, r *http.Request, p params) error {
	id, org, t, err := h.teamAdmin(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.userOr(ctx, p["membername"], errNotFound("user not found"))
	if err != nil {
		return err
	}
	if u.ID == id.User.ID {
		only, err := h.onlyAdminTeam(ctx, org.Name, u.ID, t.Name)
		if err != nil {
			return err
		}
		if only {
			return errInvalid("User cannot remove themselves from their only admin team.")
		}
	}
	if err := h.db.RemoveTeamMember(ctx, org.Name, t.Name, u.Username); err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return errInvalid("User " + u.Username + " does not belong to team " + t.Name)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// teamListPermissions lists a team's roles on repositories (Quay names the
// repository inside the organization).
func (h *Handler) teamListPermissions(w http.ResponseWriter, r *http.Request, p params) error {
	_, _, t, err := h.teamAdmin(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	perms, err := h.db.TeamPermissions(ctx, t.ID)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, pm := range perms {
		out = append(out, map[string]any{
			"repository": map[string]any{"name": orgRepoShortName(pm.Repository), "is_public": pm.IsPublic},
			"role":       pm.Role,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": out})
	return nil
}
