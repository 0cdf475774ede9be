package api

import (
	"context"
	"net/http"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

func (h *Handler) organizationRoutes() {
	h.rt.handle("POST", "/organization/", h.createOrganization)
	h.rt.handle("GET", "/organization/{orgname}", h.getOrganization)
	h.rt.handle("PUT", "/organization/{orgname}", h.updateOrganization)
	h.rt.handle("DELETE", "/organization/{orgname}", h.deleteOrganization)
	h.rt.handle("GET", "/organization/{orgname}/members", h.listOrganizationMembers)
	h.rt.handle("GET", "/organization/{orgname}/members/{membername}", h.getOrganizationMember)
	h.rt.handle("DELETE", "/organization/{orgname}/members/{membername}", h.removeOrganizationMember)
	h.rt.handle("GET", "/organization/{orgname}/collaborators", h.listOrganizationCollaborators)
}

// scopedOrgRole is the caller's team role in an organization (admin, creator,
// member or "") as its OAuth scopes allow it, as Quay's
// SCOPE_MAX_TEAM_ROLES does: org:admin keeps the role, repo:create caps it at
// creator, and tokens with neither act as non-members. Callers without
// scopes (cookie sign-ins) keep their role.
func (h *Handler) scopedOrgRole(ctx context.Context, id auth.Identity, org string) (string, error) {
	if id.IsAnonymous() {
		return "", nil
	}
	role, err := h.authz.NamespaceRole(ctx, id, org)
	if err != nil {
		return "", err
	}
	switch {
	case id.HasScope(auth.ScopeOrgAdmin):
		return role, nil
	case id.HasScope(auth.ScopeRepoCreate):
		if role == core.TeamAdmin {
			return core.TeamCreator, nil
		}
		return role, nil
	}
	return "", nil
}

// orgAdminCaller checks the org:admin scope, that the organization exists
// and that the caller administers it: 401 for anonymous callers, 403 without
// the scope or the role, 404 for unknown organizations.
func (h *Handler) orgAdminCaller(r *http.Request, orgname string) (auth.Identity, core.Namespace, error) {
	id, err := requireUser(r)
	if err != nil {
		return id, core.Namespace{}, err
	}
	if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
		return id, core.Namespace{}, err
	}
	org, err := h.requireOrg(r.Context(), orgname)
	if err != nil {
		return id, org, err
	}
	role, err := h.scopedOrgRole(r.Context(), id, org.Name)
	if err != nil {
		return id, org, err
	}
	if role != core.TeamAdmin {
		return id, org, errForbidden()
	}
	return id, org, nil
}

// orgValidEmail reports whether s is a bare e-mail address.
func orgValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s, "@")
}

func (h *Handler) createOrganization(w http.ResponseWriter, r *http.Request, _ params) error {
	id, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
		return err
	}
	if id.User.IsRobot() {
		return errForbidden()
	}
	var req struct {
		Name         string `json:"name"`
		Email        string `json:"email"`
		ContactEmail string `json:"contact_email"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := oci.ValidateNamespace(req.Name); err != nil {
		return err
	}
	email := req.ContactEmail
	if email == "" {
		email = req.Email
	}
	if email != "" && !orgValidEmail(email) {
		return errInvalid("Invalid email address")
	}
	if _, err := h.db.Namespace(r.Context(), req.Name); err == nil {
		return errInvalid("A user or organization with this name already exists")
	} else if !core.IsCode(err, core.CodeNotFound) {
		return err
	}
	if _, err := h.db.User(r.Context(), req.Name); err == nil {
		return errInvalid("A user or organization with this name already exists")
	} else if !core.IsCode(err, core.CodeNotFound) {
		return err
	}
	if _, err := h.db.CreateOrganization(r.Context(), req.Name, email, id.User.ID); err != nil {
		if core.IsCode(err, core.CodeConflict) {
			return errInvalid("A user or organization with this name already exists")
		}
		return err
	}
	writeJSON(w, http.StatusCreated, "Created")
	return nil
}

// orgTeamView is Quay's team entry of an organization view and the answer to
// PUT …/team/{teamname}.
func orgTeamView(t core.Team, repoCount int, canView bool) map[string]any {
	return map[string]any{
		"name":         t.Name,
		"description":  t.Description,
		"role":         t.Role,
		"avatar":       avatar(t.Name, "team"),
		"can_view":     canView,
		"repo_count":   repoCount,
		"member_count": t.MemberCount,
		"is_synced":    false,
	}
}

// teamRepoCount counts the repositories a team has a role on.
func (h *Handler) teamRepoCount(ctx context.Context, teamID int64) (int, error) {
	perms, err := h.db.TeamPermissions(ctx, teamID)
	return len(perms), err
}

// orgMemberTeamNames returns the names of the teams of org a user belongs to.
func (h *Handler) orgMemberTeamNames(ctx context.Context, org string, userID int64) (map[string]bool, error) {
	members, err := h.db.OrganizationMembers(ctx, org)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range members {
		if m.User.ID == userID {
			for _, t := range m.Teams {
				out[t] = true
			}
		}
	}
	return out, nil
}

// organizationView is Quay's org_view: everyone sees the name and avatar,
// members also see the teams, admins also see the e-mail and settings.
func (h *Handler) organizationView(ctx context.Context, id auth.Identity, org core.Namespace) (map[string]any, error) {
	role, err := h.scopedOrgRole(ctx, id, org.Name)
	if err != nil {
		return nil, err
	}
	isAdmin, isMember := role == core.TeamAdmin, role != ""
	email := ""
	if isAdmin {
		email = org.Email
	}
	v := map[string]any{
		"name":      org.Name,
		"email":     email,
		"avatar":    avatar(org.Name, "org"),
		"is_admin":  isAdmin,
		"is_member": isMember,
	}
	if isMember {
		teams, err := h.db.Teams(ctx, org.Name)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(teams, func(i, j int) bool { return teams[i].ID < teams[j].ID })
		var mine map[string]bool
		if !isAdmin {
			if mine, err = h.orgMemberTeamNames(ctx, org.Name, id.User.ID); err != nil {
				return nil, err
			}
		}
		tv := map[string]any{}
		ordered := []string{}
		for _, t := range teams {
			n, err := h.teamRepoCount(ctx, t.ID)
			if err != nil {
				return nil, err
			}
			tv[t.Name] = orgTeamView(t, n, isAdmin || mine[t.Name])
			ordered = append(ordered, t.Name)
		}
		v["teams"] = tv
		v["ordered_teams"] = ordered
	}
	if isAdmin {
		v["invoice_email"] = false
		v["invoice_email_address"] = nil
		window, err := h.namespaceWindow(ctx, org.Name)
		if err != nil {
			return nil, err
		}
		v["tag_expiration_s"] = int64(window.Seconds())
		v["is_free_account"] = true
	}
	if isMember {
		report, err := h.quotaReport(ctx, org.Name)
		if err != nil {
			return nil, err
		}
		v["quota_report"] = report
	}
	return v, nil
}

func (h *Handler) getOrganization(w http.ResponseWriter, r *http.Request, p params) error {
	id := caller(r)
	if id.IsAnonymous() && !h.authz.Policy().AnonymousAccess {
		return errUnauthorized("authentication required")
	}
	org, err := h.requireOrg(r.Context(), p["orgname"])
	if err != nil {
		return err
	}
	v, err := h.organizationView(r.Context(), id, org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) updateOrganization(w http.ResponseWriter, r *http.Request, p params) error {
	id, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	var req struct {
		Email               *string `json:"email"`
		ContactEmail        *string `json:"contact_email"`
		InvoiceEmail        *bool   `json:"invoice_email"`
		InvoiceEmailAddress *string `json:"invoice_email_address"`
		TagExpirationS      *int64  `json:"tag_expiration_s"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.TagExpirationS != nil {
		secs := *req.TagExpirationS
		if secs < 0 || secs > 1<<32 || !slices.Contains(h.opts.TagExpirationOptions, time.Duration(secs)*time.Second) {
			return errInvalid("Invalid tag expiration option")
		}
		if err := h.db.SetNamespaceTagExpiration(r.Context(), org.Name, *req.TagExpirationS); err != nil {
			return err
		}
	}
	email := req.ContactEmail
	if email == nil {
		email = req.Email
	}
	if email != nil && *email != org.Email {
		if *email != "" && !orgValidEmail(*email) {
			return errInvalid("Invalid email address")
		}
		if err := h.db.UpdateOrganization(r.Context(), org.Name, *email); err != nil {
			return err
		}
		org.Email = *email
	}
	v, err := h.organizationView(r.Context(), id, org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) deleteOrganization(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	if err := h.db.DeleteOrganization(r.Context(), org.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgUserPermissions lists the direct user and robot roles on the
// organization's repositories.
func (h *Handler) orgUserPermissions(ctx context.Context, org string) ([]core.Permission, error) {
	repos, err := h.db.ListRepositories(ctx, store.RepositoryFilter{Namespace: org, AllAccess: true})
	if err != nil {
		return nil, err
	}
	var out []core.Permission
	for _, repo := range repos {
		perms, err := h.db.RepositoryPermissions(ctx, repo.FullName)
		if err != nil {
			if core.IsCode(err, core.CodeNotFound) || core.IsCode(err, core.CodeNameUnknown) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		for _, pm := range perms {
			if pm.UserID != 0 {
				out = append(out, pm)
			}
		}
	}
	return out, nil
}

// orgRepoShortName strips the namespace from a full repository name, as Quay
// names repositories inside an organization.
func orgRepoShortName(full string) string {
	_, name := oci.SplitName(full)
	return name
}

// orgMemberTeamsView is the list of teams of an organization member.
func orgMemberTeamsView(teams []string) []map[string]any {
	out := []map[string]any{}
	for _, t := range teams {
		out = append(out, map[string]any{"name": t, "avatar": avatar(t, "team")})
	}
	return out
}

func orgAccountKind(u core.User) string {
	if u.IsRobot() {
		return "robot"
	}
	return "user"
}

// listOrganizationMembers lists the people (not robots) in any team of the
// organization, with their teams and direct repository roles.
func (h *Handler) listOrganizationMembers(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	members, err := h.db.OrganizationMembers(r.Context(), org.Name)
	if err != nil {
		return err
	}
	perms, err := h.orgUserPermissions(r.Context(), org.Name)
	if err != nil {
		return err
	}
	repos := map[string][]string{}
	for _, pm := range perms {
		repos[pm.Username] = append(repos[pm.Username], orgRepoShortName(pm.Repository))
	}
	out := []map[string]any{}
	for _, m := range members {
		if m.User.IsRobot() {
			continue
		}
		rs := repos[m.User.Username]
		if rs == nil {
			rs = []string{}
		}
		out = append(out, map[string]any{
			"name":         m.User.Username,
			"kind":         "user",
			"avatar":       avatar(m.User.Username, "user"),
			"teams":        orgMemberTeamsView(m.Teams),
			"repositories": rs,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// getOrganizationMember shows a member (person or robot) of the organization;
// the organization's robots count as members even outside teams.
func (h *Handler) getOrganizationMember(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	u, err := h.userOr(r.Context(), p["membername"], errNotFound("member not found"))
	if err != nil {
		return err
	}
	members, err := h.db.OrganizationMembers(r.Context(), org.Name)
	if err != nil {
		return err
	}
	var teams []string
	for _, m := range members {
		if m.User.ID == u.ID {
			teams = m.Teams
		}
	}
	if len(teams) == 0 && !(u.IsRobot() && u.RobotNamespace == org.Name) {
		return errNotFound("member not found")
	}
	perms, err := h.orgUserPermissions(r.Context(), org.Name)
	if err != nil {
		return err
	}
	rs := []string{}
	for _, pm := range perms {
		if pm.UserID == u.ID {
			rs = append(rs, orgRepoShortName(pm.Repository))
		}
	}
	kind := orgAccountKind(u)
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         u.Username,
		"kind":         kind,
		"avatar":       avatar(u.Username, kind),
		"teams":        orgMemberTeamsView(teams),
		"repositories": rs,
	})
	return nil
}

// removeOrganizationMember takes a person out of every team of the
// organization and drops their direct roles on its repositories. The only
// administrator cannot be removed.
func (h *Handler) removeOrganizationMember(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.userOr(ctx, p["membername"], errNotFound("member not found"))
	if err != nil {
		return err
	}
	if u.IsRobot() {
		return errNotFound("member not found")
	}
	teams, err := h.db.Teams(ctx, org.Name)
	if err != nil {
		return err
	}
	byName := map[string]core.Team{}
	for _, t := range teams {
		byName[t.Name] = t
	}
	members, err := h.db.OrganizationMembers(ctx, org.Name)
	if err != nil {
		return err
	}
	var mine []string
	admins := map[int64]bool{}
	for _, m := range members {
		for _, t := range m.Teams {
			if byName[t].Role == core.TeamAdmin {
				admins[m.User.ID] = true
			}
		}
		if m.User.ID == u.ID {
			mine = m.Teams
		}
	}
	if admins[u.ID] && len(admins) == 1 {
		return errInvalid("Cannot remove user as they are the only organization admin")
	}
	for _, t := range mine {
		if t == core.OwnersTeam && byName[t].MemberCount <= 1 {
			return errInvalid("the owners team must keep at least one member")
		}
	}
	perms, err := h.orgUserPermissions(ctx, org.Name)
	if err != nil {
		return err
	}
	for _, pm := range perms {
		if pm.UserID != u.ID {
			continue
		}
		if err := h.db.DeleteUserPermission(ctx, pm.Repository, u.Username); err != nil && !core.IsCode(err, core.CodeNotFound) && !core.IsCode(err, core.CodeNameUnknown) {
			return err
		}
	}
	for _, t := range mine {
		if err := h.db.RemoveTeamMember(ctx, org.Name, t, u.Username); err != nil && !core.IsCode(err, core.CodeNotFound) {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listOrganizationCollaborators lists the people outside every team who have
// direct roles on the organization's repositories.
func (h *Handler) listOrganizationCollaborators(w http.ResponseWriter, r *http.Request, p params) error {
	_, org, err := h.orgAdminCaller(r, p["orgname"])
	if err != nil {
		return err
	}
	members, err := h.db.OrganizationMembers(r.Context(), org.Name)
	if err != nil {
		return err
	}
	inOrg := map[int64]bool{}
	for _, m := range members {
		inOrg[m.User.ID] = true
	}
	perms, err := h.orgUserPermissions(r.Context(), org.Name)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	index := map[string]int{}
	for _, pm := range perms {
		if inOrg[pm.UserID] || pm.IsRobot {
			continue
		}
		i, ok := index[pm.Username]
		if !ok {
			i = len(out)
			index[pm.Username] = i
			out = append(out, map[string]any{
				"kind":         "user",
				"name":         pm.Username,
				"avatar":       avatar(pm.Username, "user"),
				"repositories": []string{},
			})
		}
		out[i]["repositories"] = append(out[i]["repositories"].([]string), orgRepoShortName(pm.Repository))
	}
	writeJSON(w, http.StatusOK, map[string]any{"collaborators": out})
	return nil
}
