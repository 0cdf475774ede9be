package store

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/internal/core"
)

// setPermission gives a user (userID) or a team (teamID) a role on a
// repository, replacing any role it had.
func setPermission(ctx context.Context, t *tx, repoID, userID, teamID int64, role string) error {
	if !core.ValidRepoRole(role) {
		return core.Errorf(core.CodeInvalid, "invalid role %q: want read, write or admin", role)
	}
	col, id := "user_id", userID
	if teamID != 0 {
		col, id = "team_id", teamID
	}
	if _, err := t.exec(ctx, `DELETE FROM repository_permissions WHERE repository_id = ? AND `+col+` = ?`, repoID, id); err != nil {
		return fmt.Errorf("set permission: %w", err)
	}
	if _, err := t.exec(ctx, `INSERT INTO repository_permissions (repository_id, `+col+`, role) VALUES (?, ?, ?)`, repoID, id, role); err != nil {
		return fmt.Errorf("set permission: %w", err)
	}
	return nil
}

// SetUserPermission gives a person or robot a role on a repository.
func (db *DB) SetUserPermission(ctx context.Context, repo, username, role string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, t, username)
		if err != nil {
			return err
		}
		kind, err := permissionLogKind(ctx, t, r.ID, "user_id", u.ID)
		if err != nil {
			return err
		}
		if err := setPermission(ctx, t, r.ID, u.ID, 0, role); err != nil {
			return err
		}
		return logAction(ctx, t, kind, 0, r.ID, auditMeta{"username": username, "role": role})
	})
}

// SetTeamPermission gives a team of the repository's organization a role.
func (db *DB) SetTeamPermission(ctx context.Context, repo, team, role string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		tm, err := getTeam(ctx, t, r.Namespace, team)
		if err != nil {
			return err
		}
		kind, err := permissionLogKind(ctx, t, r.ID, "team_id", tm.ID)
		if err != nil {
			return err
		}
		if err := setPermission(ctx, t, r.ID, 0, tm.ID, role); err != nil {
			return err
		}
		return logAction(ctx, t, kind, 0, r.ID, auditMeta{"team": team, "role": role})
	})
}

// DeleteUserPermission removes a person's or robot's direct role.
func (db *DB) DeleteUserPermission(ctx context.Context, repo, username string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, t, username)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM repository_permissions WHERE repository_id = ? AND user_id = ?`, r.ID, u.ID)
		if err != nil {
			return fmt.Errorf("delete permission: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeNotFound, "%s has no permission on %s", username, repo)
		}
		return logAction(ctx, t, core.LogDeleteRepoPermission, 0, r.ID, auditMeta{"username": username})
	})
}

// DeleteTeamPermission removes a team's role.
func (db *DB) DeleteTeamPermission(ctx context.Context, repo, team string) error {
	return db.write(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		tm, err := getTeam(ctx, t, r.Namespace, team)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM repository_permissions WHERE repository_id = ? AND team_id = ?`, r.ID, tm.ID)
		if err != nil {
			return fmt.Errorf("delete permission: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeNotFound, "team %s has no permission on %s", team, repo)
		}
		return logAction(ctx, t, core.LogDeleteRepoPermission, 0, r.ID, auditMeta{"team": team})
	})
}

const permColumns = `p.repository_id, r.full_name, r.visibility = 'public', p.role,
	COALESCE(p.user_id, 0), COALESCE(u.username, ''), COALESCE(u.kind = 'robot', FALSE), COALESCE(p.team_id, 0), COALESCE(tm.name, '')`

const permFrom = ` FROM repository_permissions p JOIN repositories r ON r.id = p.repository_id
	LEFT JOIN users u ON u.id = p.user_id LEFT JOIN teams tm ON tm.id = p.team_id `

func queryPermissions(ctx context.Context, t *tx, where string, args ...any) ([]core.Permission, error) {
	rows, err := t.query(ctx, `SELECT `+permColumns+permFrom+`WHERE `+where+` ORDER BY r.full_name, u.username, tm.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	defer rows.Close()
	var out []core.Permission
	for rows.Next() {
		var p core.Permission
		if err := rows.Scan(&p.RepositoryID, &p.Repository, &p.IsPublic, &p.Role, &p.UserID, &p.Username, &p.IsRobot, &p.TeamID, &p.TeamName); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RepositoryPermissions lists the direct user, robot and team roles on a
// repository.
func (db *DB) RepositoryPermissions(ctx context.Context, repo string) ([]core.Permission, error) {
	var out []core.Permission
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		out, err = queryPermissions(ctx, t, `p.repository_id = ?`, r.ID)
		return err
	})
	return out, err
}

// UserPermissions lists a person's or robot's direct roles on repositories.
func (db *DB) UserPermissions(ctx context.Context, userID int64) ([]core.Permission, error) {
	var out []core.Permission
	err := db.read(ctx, func(t *tx) error {
		var err error
		out, err = queryPermissions(ctx, t, `p.user_id = ?`, userID)
		return err
	})
	return out, err
}

// TeamPermissions lists a team's roles on repositories.
func (db *DB) TeamPermissions(ctx context.Context, teamID int64) ([]core.Permission, error) {
	var out []core.Permission
	err := db.read(ctx, func(t *tx) error {
		var err error
		out, err = queryPermissions(ctx, t, `p.team_id = ?`, teamID)
		return err
	})
	return out, err
}

// Access is what a user may do with one repository, as the store sees it.
type Access struct {
	Repo core.Repository
	// Role is the strongest of: owner of the user namespace (admin),
	// member of an admin team of the organization (admin), direct role,
	// team roles.
	Role string
	// NamespaceRole is the user's role in the repository's namespace.
	NamespaceRole string
}

// RepositoryAccess computes a user's role on an existing repository
// (userID 0 = anonymous: no role). Missing repositories are
// core.CodeNameUnknown.
func (db *DB) RepositoryAccess(ctx context.Context, userID int64, repo string) (Access, error) {
	var a Access
	err := db.read(ctx, func(t *tx) error {
		r, err := getRepo(ctx, t, repo)
		if err != nil {
			return err
		}
		a.Repo = r
		if userID == 0 {
			return nil
		}
		ns, err := getNamespace(ctx, t, r.Namespace)
		if err != nil {
			return err
		}
		a.NamespaceRole, err = namespaceRole(ctx, t, userID, ns)
		if err != nil {
			return err
		}
		if a.NamespaceRole == core.TeamAdmin {
			a.Role = core.RoleAdmin
			return nil
		}
		rows, err := t.query(ctx, `SELECT role FROM repository_permissions WHERE repository_id = ? AND user_id = ?
			UNION ALL
			SELECT p.role FROM repository_permissions p JOIN team_members tm ON tm.team_id = p.team_id
			WHERE p.repository_id = ? AND tm.user_id = ?`, r.ID, userID, r.ID, userID)
		if err != nil {
			return fmt.Errorf("repository access: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var role string
			if err := rows.Scan(&role); err != nil {
				return err
			}
			a.Role = core.MaxRole(a.Role, role)
		}
		return rows.Err()
	})
	return a, err
}
