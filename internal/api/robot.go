package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// Robot accounts of the caller's own namespace (/user/robots) and of
// organizations (/organization/{orgname}/robots).
func (h *Handler) robotRoutes() {
	h.rt.handle("GET", "/user/robots", h.robotHandler(robotList, false))
	h.rt.handle("GET", "/user/robots/{robot_shortname}", h.robotHandler(robotGet, false))
	h.rt.handle("PUT", "/user/robots/{robot_shortname}", h.robotHandler(robotCreate, false))
	h.rt.handle("DELETE", "/user/robots/{robot_shortname}", h.robotHandler(robotDelete, false))
	h.rt.handle("POST", "/user/robots/{robot_shortname}/regenerate", h.robotHandler(robotRegenerate, false))
	h.rt.handle("GET", "/user/robots/{robot_shortname}/permissions", h.robotHandler(robotPermissions, false))

	h.rt.handle("GET", "/organization/{orgname}/robots", h.robotHandler(robotList, true))
	h.rt.handle("GET", "/organization/{orgname}/robots/{robot_shortname}", h.robotHandler(robotGet, true))
	h.rt.handle("PUT", "/organization/{orgname}/robots/{robot_shortname}", h.robotHandler(robotCreate, true))
	h.rt.handle("DELETE", "/organization/{orgname}/robots/{robot_shortname}", h.robotHandler(robotDelete, true))
	h.rt.handle("POST", "/organization/{orgname}/robots/{robot_shortname}/regenerate", h.robotHandler(robotRegenerate, true))
	h.rt.handle("GET", "/organization/{orgname}/robots/{robot_shortname}/permissions", h.robotHandler(robotPermissions, true))
	h.robotFederationRoutes() // federation.go
}

// robotShortRe is the robot short name grammar Quay's UI enforces.
var robotShortRe = regexp.MustCompile(`^[a-z][a-z0-9_]{1,254}$`)

// Robot operations.
const (
	robotList = iota
	robotGet
	robotCreate
	robotDelete
	robotRegenerate
	robotPermissions
)

// robotScope is the access a caller was found to have on the robots'
// namespace.
type robotScope struct {
	ns    string
	admin bool // may see tokens and permissions, and change robots
}

// robotHandler checks access as Quay does, then runs one operation. User
// robots need the user:admin scope; organization robots need org:admin (the
// permissions list also user:admin, as Quay) and organization admin, except
// that members may list robot names (without tokens).
func (h *Handler) robotHandler(op int, org bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) error {
		id, err := requireUser(r)
		if err != nil {
			return err
		}
		if id.User.IsRobot() {
			return errForbidden()
		}
		var sc robotScope
		if !org {
			if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
				return err
			}
			sc = robotScope{ns: id.User.Username, admin: true}
		} else {
			if op == robotPermissions {
				if err := requireScope(id, auth.ScopeUserAdmin); err != nil {
					return err
				}
			}
			if err := requireScope(id, auth.ScopeOrgAdmin); err != nil {
				return err
			}
			n, err := h.requireOrg(r.Context(), p["orgname"])
			if err != nil {
				return err
			}
			sc.ns = n.Name
			sc.admin, err = h.authz.IsNamespaceAdmin(r.Context(), id, n.Name)
			if err != nil {
				return err
			}
			if !sc.admin {
				member := false
				if op == robotList {
					role, err := h.authz.NamespaceRole(r.Context(), id, n.Name)
					if err != nil {
						return err
					}
					member = role != ""
				}
				if !member {
					return errForbidden()
				}
			}
		}
		switch op {
		case robotList:
			return h.listRobots(w, r, sc)
		case robotCreate:
			return h.createRobot(w, r, sc, p["robot_shortname"])
		}
		robot, err := h.robotLookup(r.Context(), sc.ns, p["robot_shortname"])
		if err != nil {
			return err
		}
		switch op {
		case robotGet:
			v, err := h.robotView(robot, true, true)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, v)
			return nil
		case robotDelete:
			if err := h.db.DeleteRobot(r.Context(), robot.Username); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		case robotRegenerate:
			return h.regenerateRobot(w, r, robot)
		default:
			return h.robotPermissionList(w, r, robot)
		}
	}
}

// robotLookup loads the robot ns+short, or 404.
func (h *Handler) robotLookup(ctx context.Context, ns, short string) (core.User, error) {
	if !robotShortRe.MatchString(short) {
		return core.User{}, errNotFound("Could not find robot with specified username")
	}
	u, err := h.db.User(ctx, ns+"+"+short)
	if err != nil {
		if core.IsCode(err, core.CodeNotFound) {
			return u, errNotFound("Could not find robot with specified username")
		}
		return u, err
	}
	if !u.IsRobot() || u.RobotNamespace != ns {
		return core.User{}, errNotFound("Could not find robot with specified username")
	}
	return u, nil
}

// rfc2822OrNil formats a time as Quay does, or null when unset.
func rfc2822OrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return rfc2822(t)
}

// robotMetadata decodes the stored unstructured metadata (an object).
func robotMetadata(u core.User) any {
	if u.Metadata == "" {
		return map[string]any{}
	}
	var v any
	if err := json.Unmarshal([]byte(u.Metadata), &v); err != nil {
		return map[string]any{}
	}
	return v
}

// robotToken decrypts a robot's token for an administrator.
func (h *Handler) robotToken(u core.User) (any, error) {
	if u.RobotTokenEnc == "" {
		return nil, nil
	}
	tok, err := h.box.Open(u.RobotTokenEnc)
	if err != nil {
		return nil, core.Wrap(core.CodeInternal, err, "cannot decrypt robot token")
	}
	return tok, nil
}

// robotView is Quay's robot view.
func (h *Handler) robotView(u core.User, withMetadata, withToken bool) (map[string]any, error) {
	v := map[string]any{
		"name":          u.Username,
		"created":       rfc2822OrNil(u.CreatedAt),
		"last_accessed": rfc2822OrNil(u.LastAccessed),
		"description":   u.Description,
	}
	if withToken {
		tok, err := h.robotToken(u)
		if err != nil {
			return nil, err
		}
		v["token"] = tok
	}
	if withMetadata {
		v["unstructured_metadata"] = robotMetadata(u)
	}
	return v, nil
}

// robotBool parses Quay's truthy query flags.
func robotBool(v string, def bool) bool {
	if v == "" {
		return def
	}
	switch v {
	case "false", "False", "FALSE", "0", "null":
		return false
	}
	return true
}

func (h *Handler) listRobots(w http.ResponseWriter, r *http.Request, sc robotScope) error {
	q := r.URL.Query()
	withToken := sc.admin && robotBool(q.Get("token"), true)
	withPerms := sc.admin && robotBool(q.Get("permissions"), false)
	limit := -1
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errInvalid("limit must be a non-negative integer")
		}
		limit = n
	}
	robots, err := h.db.Robots(r.Context(), sc.ns)
	if err != nil {
		return err
	}
	if limit >= 0 && len(robots) > limit {
		robots = robots[:limit]
	}
	var teams map[int64][]string
	if withPerms {
		if teams, err = h.robotTeams(r.Context(), sc.ns); err != nil {
			return err
		}
	}
	out := make([]map[string]any, 0, len(robots))
	for _, u := range robots {
		v, err := h.robotView(u, false, withToken)
		if err != nil {
			return err
		}
		if withPerms {
			tv := []map[string]any{}
			for _, t := range teams[u.ID] {
				tv = append(tv, map[string]any{"name": t, "avatar": avatar(t, "team")})
			}
			perms, err := h.db.UserPermissions(r.Context(), u.ID)
			if err != nil {
				return err
			}
			repos := []string{}
			for _, perm := range perms {
				repos = append(repos, robotRepoName(perm.Repository, sc.ns))
			}
			v["teams"] = tv
			v["repositories"] = repos
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"robots": out})
	return nil
}

// robotTeams maps the robots of an organization to their teams (user
// namespaces have no teams).
func (h *Handler) robotTeams(ctx context.Context, ns string) (map[int64][]string, error) {
	n, err := h.db.Namespace(ctx, ns)
	if err != nil || !n.IsOrg() {
		return nil, err
	}
	members, err := h.db.OrganizationMembers(ctx, ns)
	if err != nil {
		return nil, err
	}
	out := map[int64][]string{}
	for _, m := range members {
		if m.User.IsRobot() {
			out[m.User.ID] = m.Teams
		}
	}
	return out, nil
}

// robotRepoName is the repository name inside the namespace, as Quay lists it.
func robotRepoName(full, ns string) string {
	if rest, ok := strings.CutPrefix(full, ns+"/"); ok {
		return rest
	}
	return full
}

func (h *Handler) createRobot(w http.ResponseWriter, r *http.Request, sc robotScope, short string) error {
	if !sc.admin {
		return errForbidden()
	}
	var req struct {
		Description *string         `json:"description"`
		Metadata    json.RawMessage `json:"unstructured_metadata"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return core.Errorf(core.CodeTooLarge, "request body too large")
		}
		return errInvalid("cannot read the request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return errInvalid("malformed JSON body: " + truncate(err.Error(), 200))
		}
	}
	if !robotShortRe.MatchString(short) {
		return errInvalid("The name for the robot '" + truncate(short, 255) + "' is invalid: must match expression " + robotShortRe.String())
	}
	desc := ""
	if req.Description != nil {
		desc = *req.Description
		if len([]rune(desc)) > 255 {
			return errInvalid("'description' is too long (at most 255 characters)")
		}
	}
	meta := ""
	if m := bytes.TrimSpace(req.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) {
		if m[0] != '{' {
			return errInvalid("'unstructured_metadata' must be an object")
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, m); err != nil {
			return errInvalid("'unstructured_metadata' must be an object")
		}
		meta = compact.String()
	}
	name := sc.ns + "+" + short
	exists := errInvalid("Existing robot with name: " + name)
	if _, err := h.db.User(r.Context(), name); err == nil {
		return exists
	} else if !core.IsCode(err, core.CodeNotFound) {
		return err
	}
	token := auth.NewRobotToken()
	sealed, err := h.box.Seal(token)
	if err != nil {
		return err
	}
	u, err := h.db.CreateRobot(r.Context(), sc.ns, short, sealed, desc, meta)
	if err != nil {
		if core.IsCode(err, core.CodeConflict) {
			return exists
		}
		return err
	}
	v, err := h.robotView(u, true, false)
	if err != nil {
		return err
	}
	v["token"] = token
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (h *Handler) regenerateRobot(w http.ResponseWriter, r *http.Request, robot core.User) error {
	token := auth.NewRobotToken()
	sealed, err := h.box.Seal(token)
	if err != nil {
		return err
	}
	u, err := h.db.UpdateRobot(r.Context(), robot.Username, store.RobotUpdate{TokenEnc: &sealed})
	if err != nil {
		return err
	}
	v, err := h.robotView(u, false, false)
	if err != nil {
		return err
	}
	v["token"] = token
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) robotPermissionList(w http.ResponseWriter, r *http.Request, robot core.User) error {
	perms, err := h.db.UserPermissions(r.Context(), robot.ID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(perms))
	for _, perm := range perms {
		out = append(out, map[string]any{
			"repository": map[string]any{"name": robotRepoName(perm.Repository, robot.RobotNamespace), "is_public": perm.IsPublic},
			"role":       perm.Role,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"permissions": out})
	return nil
}
