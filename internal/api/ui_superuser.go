package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/oci"
	"github.com/wharfhq/wharf/internal/store"
)

// JobStatsFunc counts the background jobs by state (available, running,
// retryable, completed, discarded, …). The web UI's superuser panel shows it.
type JobStatsFunc func(ctx context.Context) (map[string]int, error)

// The superuser panel's API, in Quay's shapes where Quay has them:
// users (list, create with a generated password, enable/disable, delete),
// organizations (list with usage, delete), the registry's size, and the job
// queue (a Wharf extension). Every route needs a superuser with the
// super:user scope.
func (h *Handler) superuserRoutes() {
	h.rt.handle("GET", "/superuser/users/", h.suListUsers)
	h.rt.handle("POST", "/superuser/users/", h.suCreateUser)
	h.rt.handle("GET", "/superuser/users/{username}", h.suGetUser)
	h.rt.handle("PUT", "/superuser/users/{username}", h.suUpdateUser)
	h.rt.handle("DELETE", "/superuser/users/{username}", h.suDeleteUser)
	h.rt.handle("GET", "/superuser/organizations/", h.suListOrganizations)
	h.rt.handle("DELETE", "/superuser/organizations/{name}", h.suDeleteOrganization)
	h.rt.handle("GET", "/superuser/registrysize/", h.suRegistrySize)
	h.rt.handle("GET", "/superuser/jobs", h.suJobs)
}

// suUserView is Quay's superuser view of a person.
func suUserView(u core.User) map[string]any {
	return map[string]any{
		"kind":          "user",
		"name":          u.Username,
		"username":      u.Username,
		"email":         u.Email,
		"verified":      true,
		"avatar":        avatar(u.Username, "user"),
		"super_user":    u.Superuser,
		"enabled":       u.Enabled,
		"created":       rfc2822OrNil(u.CreatedAt),
		"last_accessed": rfc2822OrNil(u.LastAccessed),
	}
}

// suUser loads a person (not a robot) or answers 404.
func (h *Handler) suUser(ctx context.Context, name string) (core.User, error) {
	u, err := h.db.User(ctx, name)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return u, errNotFound("user not found")
		}
		return u, err
	}
	if u.IsRobot() {
		return u, errNotFound("user not found")
	}
	return u, nil
}

func (h *Handler) suListUsers(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	users, err := h.db.Users(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, suUserView(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (h *Handler) suGetUser(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	u, err := h.suUser(r.Context(), p["username"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, suUserView(u))
	return nil
}

// suCreateUser creates a person with a generated password, returned once
// (Quay's {username, email, password, encrypted_password}; Wharf has no
// encrypted CLI passwords, so the last is the password too).
func (h *Handler) suCreateUser(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	if !h.opts.DirectLogin {
		return errNotFound("password accounts are not enabled")
	}
	var req struct {
		Username string `json:"username"`
		Email    string `json:"email"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := oci.ValidateNamespace(req.Username); err != nil {
		return errInvalid("Invalid username: use 2-255 lowercase letters, digits and single . _ - between them")
	}
	if req.Email != "" && !orgValidEmail(req.Email) {
		return errInvalid("Invalid email address")
	}
	password := auth.RandomString(24, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	u, err := h.db.CreateUser(r.Context(), store.NewUser{Username: req.Username, Email: req.Email, PasswordHash: hash})
	if err != nil {
		if core.IsCode(err, core.CodeConflict) {
			return errInvalid("A user or organization with this name or email already exists")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"username": u.Username, "email": u.Email, "password": password, "encrypted_password": password,
	})
	return nil
}

// suUpdateUser changes a person's e-mail, password, enabled flag or
// superuser flag (Quay's "superuser"; SUPER_USERS from the configuration
// stay superusers whatever the flag). A superuser cannot disable themselves
// nor remove their own flag.
func (h *Handler) suUpdateUser(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	u, err := h.suUser(r.Context(), p["username"])
	if err != nil {
		return err
	}
	var req struct {
		Email     *string `json:"email"`
		Password  *string `json:"password"`
		Enabled   *bool   `json:"enabled"`
		Superuser *bool   `json:"superuser"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	var up store.UserUpdate
	if req.Email != nil {
		if *req.Email != "" && !orgValidEmail(*req.Email) {
			return errInvalid("Invalid email address")
		}
		up.Email = req.Email
	}
	if req.Password != nil {
		if !h.opts.DirectLogin {
			return errInvalid("password accounts are not enabled")
		}
		if err := (newUserRequest{Username: u.Username, Password: *req.Password}).validate(); err != nil {
			return err
		}
		hash, err := auth.HashPassword(*req.Password)
		if err != nil {
			return err
		}
		up.PasswordHash = &hash
	}
	if req.Enabled != nil {
		if !*req.Enabled && u.ID == caller(r).User.ID {
			return errInvalid("You cannot disable your own account")
		}
		up.Enabled = req.Enabled
	}
	if req.Superuser != nil {
		if !*req.Superuser && u.ID == caller(r).User.ID {
			return errInvalid("You cannot remove your own superuser flag")
		}
		up.Superuser = req.Superuser
	}
	u, err = h.db.UpdateUser(r.Context(), u.Username, up)
	if err != nil {
		return err
	}
	if req.Enabled != nil && !*req.Enabled || req.Password != nil {
		// Sign the person out everywhere.
		if err := h.db.DeleteUserSessions(r.Context(), u.ID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, suUserView(u))
	return nil
}

func (h *Handler) suDeleteUser(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	u, err := h.suUser(r.Context(), p["username"])
	if err != nil {
		return err
	}
	if u.ID == caller(r).User.ID {
		return errInvalid("You cannot delete your own account")
	}
	sole, err := h.soleAdminOrgs(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if len(sole) > 0 {
		return errInvalid("Cannot delete " + u.Username + ": they are the only administrator of " + strings.Join(sole, ", ") +
			"; delete the organizations or make someone else an administrator first")
	}
	if err := h.db.DeleteUser(r.Context(), u.Username); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// soleAdminOrgs lists the organizations whose only administrator (member
// of an admin team) is the user.
func (h *Handler) soleAdminOrgs(ctx context.Context, userID int64) ([]string, error) {
	orgs, err := h.db.UserOrganizations(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range orgs {
		teams, err := h.db.Teams(ctx, o.Name)
		if err != nil {
			return nil, err
		}
		adminTeam := map[string]bool{}
		for _, t := range teams {
			adminTeam[t.Name] = t.Role == core.TeamAdmin
		}
		members, err := h.db.OrganizationMembers(ctx, o.Name)
		if err != nil {
			return nil, err
		}
		admins, mine := 0, false
		for _, m := range members {
			for _, t := range m.Teams {
				if adminTeam[t] {
					admins++
					mine = mine || m.User.ID == userID
					break
				}
			}
		}
		if mine && admins == 1 {
			out = append(out, o.Name)
		}
	}
	return out, nil
}

// suNamespaceView is one organization of the superuser list, with its
// repository count and quota report.
func suNamespaceView(s store.NamespaceSummary) map[string]any {
	var configured any
	if s.QuotaBytes > 0 {
		configured = s.QuotaBytes
	}
	return map[string]any{
		"name":         s.Name,
		"email":        s.Email,
		"avatar":       avatar(s.Name, "org"),
		"created":      rfc2822OrNil(s.CreatedAt),
		"repositories": s.Repositories,
		"quota_report": map[string]any{"quota_bytes": s.UsageBytes, "configured_quota": configured},
	}
}

func (h *Handler) suListOrganizations(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	orgs, err := h.db.NamespaceSummaries(r.Context(), core.NamespaceOrg)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, suNamespaceView(o))
	}
	writeJSON(w, http.StatusOK, map[string]any{"organizations": out})
	return nil
}

func (h *Handler) suDeleteOrganization(w http.ResponseWriter, r *http.Request, p params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	org, err := h.requireOrg(r.Context(), p["name"])
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return errNotFound("organization not found")
		}
		return err
	}
	if err := h.db.DeleteOrganization(r.Context(), org.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// suRegistrySize is Quay's registry size ({size_bytes, last_ran, queued,
// running}; Wharf counts online, so nothing is ever queued) with the
// counts and per-namespace usage the panel shows.
func (h *Handler) suRegistrySize(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	s, err := h.db.StorageSummary(r.Context())
	if err != nil {
		return err
	}
	nss, err := h.db.NamespaceSummaries(r.Context(), "")
	if err != nil {
		return err
	}
	per := make([]map[string]any, 0, len(nss))
	for _, n := range nss {
		per = append(per, map[string]any{
			"name": n.Name, "kind": n.Kind, "repositories": n.Repositories,
			"quota_bytes": n.UsageBytes, "configured_quota": n.QuotaBytes,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"size_bytes":   s.BlobBytes,
		"last_ran":     h.now().Unix(),
		"queued":       false,
		"running":      false,
		"blobs":        s.Blobs,
		"repositories": s.Repositories,
		"manifests":    s.Manifests,
		"tags":         s.Tags,
		"namespaces":   per,
	})
	return nil
}

// suJobs counts the background jobs by state.
func (h *Handler) suJobs(w http.ResponseWriter, r *http.Request, _ params) error {
	if err := requireSuperuser(r); err != nil {
		return err
	}
	if h.opts.JobStats == nil {
		return errNotFound("job statistics are not available")
	}
	stats, err := h.opts.JobStats(r.Context())
	if err != nil {
		return err
	}
	if stats == nil {
		stats = map[string]int{}
	}
	total := 0
	for _, n := range stats {
		total += n
	}
	writeJSON(w, http.StatusOK, map[string]any{"states": stats, "total": total})
	return nil
}
