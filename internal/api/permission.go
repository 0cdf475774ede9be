package api

import (
	"context"
	"net/http"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
)

// Repository permissions: direct roles of people, robots and teams on one
// repository. Every route needs admin on the repository and the repo:admin
// scope, as Quay's require_repo_admin.
func (h *Handler) permissionRoutes() {
	h.rt.handle("GET", "/repository/{repo}/permissions/user", h.listUserPermissions)
	h.rt.handle("GET", "/repository/{repo}/permissions/user/{username}", h.getUserPermission)
	h.rt.handle("PUT", "/repository/{repo}/permissions/user/{username}", h.putUserPermission)
	h.rt.handle("DELETE", "/repository/{repo}/permissions/user/{username}", h.deleteUserPermission)
	h.rt.handle("GET", "/repository/{repo}/permissions/user/{username}/transitive", h.transitiveUserPermission)
	h.rt.handle("GET", "/repository/{repo}/permissions/team", h.listTeamPermissions)
	h.rt.handle("GET", "/repository/{repo}/permissions/team/{teamname}", h.getTeamPermission)
	h.rt.handle("PUT", "/repository/{repo}/permissions/team/{teamname}", h.putTeamPermission)
	h.rt.handle("DELETE", "/repository/{repo}/permissions/team/{teamname}", h.deleteTeamPermission)
}

// permRepoAdmin checks the repo:admin scope and admin on the repository and
// returns the repository with its namespace.
func (h *Handler) permRepoAdmin(r *http.Request, p params) (core.Repository, core.Namespace, error) {
	repo, err := h.accessRepo(r, p, auth.ScopeRepoAdmin, core.RoleAdmin)
	if err != nil {
		return repo, core.Namespace{}, err
	}
	ns, err := h.db.Namespace(r.Context(), repo.Namespace)
	return repo, ns, err
}

// permOrgMembers is the set of user ids in any team of an organization.
func (h *Handler) permOrgMembers(ctx context.Context, org string) (map[int64]bool, error) {
	members, err := h.db.OrganizationMembers(ctx, org)
	if err != nil {
		return nil, err
	}
	set := make(map[int64]bool, len(members))
	for _, m := range members {
		set[m.User.ID] = true
	}
	return set, nil
}

// permUserView is Quay's UserPermission view; is_org_member is only present
// for repositories of organizations (robots always count as members).
func permUserView(p core.Permission, ns core.Namespace, orgMembers map[int64]bool) map[string]any {
	kind := "user"
	if p.IsRobot {
		kind = "robot"
	}
	v := map[string]any{"role": p.Role, "name": p.Username, "is_robot": p.IsRobot, "avatar": avatar(p.Username, kind)}
	if ns.IsOrg() {
		v["is_org_member"] = p.IsRobot || orgMembers[p.UserID]
	}
	return v
}

func permTeamView(p core.Permission) map[string]any {
	return map[string]any{"role": p.Role, "name": p.TeamName, "avatar": avatar(p.TeamName, "team")}
}

func (h *Handler) listUserPermissions(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	perms, err := h.permUsers(r.Context(), repo.FullName, ns)
	if err != nil {
		return err
	}
	var members map[int64]bool
	if ns.IsOrg() {
		if members, err = h.permOrgMembers(r.Context(), ns.Name); err != nil {
			return err
		}
	}
	out := map[string]any{}
	for _, perm := range perms {
		out[perm.Username] = permUserView(perm, ns, members)
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": out})
	return nil
}

// permUsers lists the direct roles of people and robots on a repository.
// The owner of a user namespace is always admin and is listed first, as
// Quay stores an admin grant for them.
func (h *Handler) permUsers(ctx context.Context, repo string, ns core.Namespace) ([]core.Permission, error) {
	perms, err := h.db.RepositoryPermissions(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []core.Permission
	if !ns.IsOrg() && ns.UserID != 0 {
		out = append(out, core.Permission{Repository: repo, Role: core.RoleAdmin, UserID: ns.UserID, Username: ns.Name})
	}
	for _, perm := range perms {
		if perm.UserID != 0 && (ns.IsOrg() || perm.UserID != ns.UserID) {
			out = append(out, perm)
		}
	}
	return out, nil
}

// permFindUser returns a person's or robot's direct permission on a
// repository, or 404.
func (h *Handler) permFindUser(ctx context.Context, repo string, ns core.Namespace, username string) (core.Permission, error) {
	perms, err := h.permUsers(ctx, repo, ns)
	if err != nil {
		return core.Permission{}, err
	}
	for _, perm := range perms {
		if perm.Username == username {
			return perm, nil
		}
	}
	return core.Permission{}, errNotFound("User does not have permission for repo.")
}

// permUserViewFor renders one user's permission with org membership.
func (h *Handler) permUserViewFor(ctx context.Context, perm core.Permission, ns core.Namespace) (map[string]any, error) {
	members := map[int64]bool{}
	if ns.IsOrg() && !perm.IsRobot {
		role, err := h.db.NamespaceRole(ctx, perm.UserID, ns.Name)
		if err != nil {
			return nil, err
		}
		members[perm.UserID] = role != ""
	}
	return permUserView(perm, ns, members), nil
}

func (h *Handler) getUserPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	perm, err := h.permFindUser(r.Context(), repo.FullName, ns, p["username"])
	if err != nil {
		return err
	}
	v, err := h.permUserViewFor(r.Context(), perm, ns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// permRoleBody reads Quay's {role: read|write|admin} body.
func permRoleBody(r *http.Request) (string, error) {
	var req struct {
		Role *string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return "", err
	}
	if req.Role == nil {
		return "", errInvalid("'role' is a required property")
	}
	if !core.ValidRepoRole(*req.Role) {
		return "", errInvalid("'role' must be one of read, write or admin")
	}
	return *req.Role, nil
}

func (h *Handler) putUserPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	role, err := permRoleBody(r)
	if err != nil {
		return err
	}
	username := p["username"]
	if username == ns.Name {
		return errInvalid("Namespace owner must always be admin.")
	}
	u, err := h.db.User(r.Context(), username)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return errInvalid("Invalid username: " + truncate(username, 255))
		}
		return err
	}
	if u.IsRobot() && u.RobotNamespace != ns.Name {
		return errInvalid("Cannot add robot " + u.Username + " under namespace " + ns.Name)
	}
	if err := h.db.SetUserPermission(r.Context(), repo.FullName, u.Username, role); err != nil {
		return err
	}
	perm, err := h.permFindUser(r.Context(), repo.FullName, ns, u.Username)
	if err != nil {
		return err
	}
	v, err := h.permUserViewFor(r.Context(), perm, ns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) deleteUserPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	username := p["username"]
	if username == ns.Name {
		return errInvalid("Namespace owner must always be admin.")
	}
	if _, err := h.permFindUser(r.Context(), repo.FullName, ns, username); err != nil {
		return err
	}
	if err := h.db.DeleteUserPermission(r.Context(), repo.FullName, username); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// transitiveUserPermission lists the roles a person or robot holds on the
// repository, directly or through teams (one entry per grant, as Quay).
func (h *Handler) transitiveUserPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	u, err := h.userOr(r.Context(), p["username"], errNotFound("user not found"))
	if err != nil {
		return err
	}
	users, err := h.permUsers(r.Context(), repo.FullName, ns)
	if err != nil {
		return err
	}
	roles := []map[string]any{}
	for _, perm := range users {
		if perm.UserID == u.ID {
			roles = append(roles, map[string]any{"role": perm.Role})
		}
	}
	if ns.IsOrg() {
		all, err := h.db.RepositoryPermissions(r.Context(), repo.FullName)
		if err != nil {
			return err
		}
		for _, perm := range all {
			if perm.TeamID == 0 {
				continue
			}
			members, err := h.db.TeamMembers(r.Context(), ns.Name, perm.TeamName)
			if err != nil {
				return err
			}
			for _, m := range members {
				if m.ID == u.ID {
					roles = append(roles, map[string]any{"role": perm.Role})
					break
				}
			}
		}
	}
	if len(roles) == 0 {
		return errNotFound("user has no permission on the repository")
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": roles})
	return nil
}

func (h *Handler) listTeamPermissions(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	perms, err := h.db.RepositoryPermissions(r.Context(), repo.FullName)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for _, perm := range perms {
		if perm.TeamID != 0 {
			out[perm.TeamName] = permTeamView(perm)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": out})
	return nil
}

func (h *Handler) permFindTeam(ctx context.Context, repo, team string) (core.Permission, error) {
	perms, err := h.db.RepositoryPermissions(ctx, repo)
	if err != nil {
		return core.Permission{}, err
	}
	for _, perm := range perms {
		if perm.TeamID != 0 && perm.TeamName == team {
			return perm, nil
		}
	}
	return core.Permission{}, errNotFound("Team does not have permission for repo.")
}

func (h *Handler) getTeamPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	perm, err := h.permFindTeam(r.Context(), repo.FullName, p["teamname"])
	if err != nil {
		return err
	}
	// Quay answers a single team permission with its role only.
	writeJSON(w, http.StatusOK, map[string]any{"role": perm.Role})
	return nil
}

func (h *Handler) putTeamPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, ns, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	role, err := permRoleBody(r)
	if err != nil {
		return err
	}
	team := p["teamname"]
	noTeam := errInvalid("No team " + truncate(team, 255) + " in organization " + ns.Name)
	if !ns.IsOrg() {
		return noTeam
	}
	if _, err := h.db.Team(r.Context(), ns.Name, team); err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return noTeam
		}
		return err
	}
	if err := h.db.SetTeamPermission(r.Context(), repo.FullName, team, role); err != nil {
		return err
	}
	perm, err := h.permFindTeam(r.Context(), repo.FullName, team)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, permTeamView(perm))
	return nil
}

func (h *Handler) deleteTeamPermission(w http.ResponseWriter, r *http.Request, p params) error {
	repo, _, err := h.permRepoAdmin(r, p)
	if err != nil {
		return err
	}
	if _, err := h.permFindTeam(r.Context(), repo.FullName, p["teamname"]); err != nil {
		return err
	}
	if err := h.db.DeleteTeamPermission(r.Context(), repo.FullName, p["teamname"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
