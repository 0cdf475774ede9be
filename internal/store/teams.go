package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wharfhq/wharf/internal/core"
)

const teamColumns = `t.id, t.namespace_id, t.name, t.role, t.description, t.created_at,
	(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id)`

func scanTeam(row interface{ Scan(...any) error }) (core.Team, error) {
	var tm core.Team
	var created int64
	err := row.Scan(&tm.ID, &tm.NamespaceID, &tm.Name, &tm.Role, &tm.Description, &created, &tm.MemberCount)
	tm.CreatedAt = time.UnixMilli(created)
	return tm, err
}

func getTeam(ctx context.Context, t *tx, org, name string) (core.Team, error) {
	tm, err := scanTeam(t.queryRow(ctx, `SELECT `+teamColumns+` FROM teams t JOIN namespaces n ON n.id = t.namespace_id
		WHERE n.name = ? AND t.name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		return tm, core.Errorf(core.CodeNotFound, "team %q not found in %s", name, org)
	}
	if err != nil {
		return tm, fmt.Errorf("get team: %w", err)
	}
	return tm, nil
}

// Team returns a team of an organization, or core.CodeNotFound.
func (db *DB) Team(ctx context.Context, org, name string) (core.Team, error) {
	var tm core.Team
	err := db.read(ctx, func(t *tx) error {
		var err error
		tm, err = getTeam(ctx, t, org, name)
		return err
	})
	return tm, err
}

// Teams lists an organization's teams by name.
func (db *DB) Teams(ctx context.Context, org string) ([]core.Team, error) {
	var out []core.Team
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+teamColumns+` FROM teams t JOIN namespaces n ON n.id = t.namespace_id
			WHERE n.name = ? ORDER BY t.name`, org)
		if err != nil {
			return fmt.Errorf("list teams: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			tm, err := scanTeam(rows)
			if err != nil {
				return err
			}
			out = append(out, tm)
		}
		return rows.Err()
	})
	return out, err
}

// PutTeam creates a team or updates its role and description. The owners
// team stays admin.
func (db *DB) PutTeam(ctx context.Context, org, name, role, description string) (core.Team, error) {
	var tm core.Team
	err := db.write(ctx, func(t *tx) error {
		if !core.ValidTeamRole(role) {
			return core.Errorf(core.CodeInvalid, "invalid team role %q: want member, creator or admin", role)
		}
		n, err := getNamespace(ctx, t, org)
		if err != nil {
			return err
		}
		if !n.IsOrg() {
			return core.Errorf(core.CodeNotFound, "organization %q not found", org)
		}
		cur, err := getTeam(ctx, t, org, name)
		switch {
		case err == nil:
			if name == core.OwnersTeam && role != core.TeamAdmin {
				return core.Errorf(core.CodeInvalid, "the owners team must keep the admin role")
			}
			if _, err := t.exec(ctx, `UPDATE teams SET role = ?, description = ? WHERE id = ?`, role, description, cur.ID); err != nil {
				return fmt.Errorf("update team: %w", err)
			}
			if cur.Role != role {
				if err := logAction(ctx, t, core.LogOrgSetTeamRole, n.ID, 0, auditMeta{"team": name, "role": role}); err != nil {
					return err
				}
			}
			if cur.Description != description {
				if err := logAction(ctx, t, core.LogOrgSetTeamDescription, n.ID, 0, auditMeta{"team": name, "description": description}); err != nil {
					return err
				}
			}
		case core.IsCode(err, core.CodeNotFound):
			if _, err := t.exec(ctx, `INSERT INTO teams (namespace_id, name, role, description, created_at) VALUES (?, ?, ?, ?, ?)`,
				n.ID, name, role, description, t.now); err != nil {
				return fmt.Errorf("create team: %w", err)
			}
			if err := logAction(ctx, t, core.LogOrgCreateTeam, n.ID, 0, auditMeta{"team": name, "role": role}); err != nil {
				return err
			}
		default:
			return err
		}
		tm, err = getTeam(ctx, t, org, name)
		return err
	})
	return tm, err
}

// DeleteTeam deletes a team (not the owners team).
func (db *DB) DeleteTeam(ctx context.Context, org, name string) error {
	return db.write(ctx, func(t *tx) error {
		tm, err := getTeam(ctx, t, org, name)
		if err != nil {
			return err
		}
		if name == core.OwnersTeam {
			return core.Errorf(core.CodeInvalid, "the owners team cannot be deleted")
		}
		if err := logAction(ctx, t, core.LogOrgDeleteTeam, tm.NamespaceID, 0, auditMeta{"team": name}); err != nil {
			return err
		}
		_, err = t.exec(ctx, `DELETE FROM teams WHERE id = ?`, tm.ID)
		return err
	})
}

// AddTeamMember adds a person or a robot of the organization to a team.
func (db *DB) AddTeamMember(ctx context.Context, org, team, username string) error {
	return db.write(ctx, func(t *tx) error {
		tm, err := getTeam(ctx, t, org, team)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, t, username)
		if err != nil {
			return err
		}
		if u.IsRobot() && u.RobotNamespace != org {
			return core.Errorf(core.CodeInvalid, "robot %s does not belong to organization %s", username, org)
		}
		res, err := t.exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT (team_id, user_id) DO NOTHING`, tm.ID, u.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return logAction(ctx, t, core.LogOrgAddTeamMember, tm.NamespaceID, 0, auditMeta{"team": team, "member": username})
	})
}

// RemoveTeamMember removes a member. The owners team keeps at least one
// member.
func (db *DB) RemoveTeamMember(ctx context.Context, org, team, username string) error {
	return db.write(ctx, func(t *tx) error {
		tm, err := getTeam(ctx, t, org, team)
		if err != nil {
			return err
		}
		u, err := getUser(ctx, t, username)
		if err != nil {
			return err
		}
		if team == core.OwnersTeam && tm.MemberCount <= 1 {
			return core.Errorf(core.CodeInvalid, "the owners team must keep at least one member")
		}
		res, err := t.exec(ctx, `DELETE FROM team_members WHERE team_id = ? AND user_id = ?`, tm.ID, u.ID)
		if err != nil {
			return fmt.Errorf("remove team member: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.Errorf(core.CodeNotFound, "%s is not a member of %s", username, team)
		}
		return logAction(ctx, t, core.LogOrgRemoveTeamMember, tm.NamespaceID, 0, auditMeta{"team": team, "member": username})
	})
}

// TeamMembers lists a team's members (people and robots) by name.
func (db *DB) TeamMembers(ctx context.Context, org, team string) ([]core.User, error) {
	var out []core.User
	err := db.read(ctx, func(t *tx) error {
		tm, err := getTeam(ctx, t, org, team)
		if err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT `+userColumns+userFrom+`JOIN team_members m ON m.user_id = u.id
			WHERE m.team_id = ? ORDER BY u.username`, tm.ID)
		if err != nil {
			return fmt.Errorf("team members: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}

// OrganizationMember is a member of an organization with its teams.
type OrganizationMember struct {
	User  core.User
	Teams []string
}

// OrganizationMembers lists everyone in any team of the organization.
func (db *DB) OrganizationMembers(ctx context.Context, org string) ([]OrganizationMember, error) {
	var out []OrganizationMember
	err := db.read(ctx, func(t *tx) error {
		rows, err := t.query(ctx, `SELECT `+userColumns+`, t.name`+userFrom+`JOIN team_members m ON m.user_id = u.id
			JOIN teams t ON t.id = m.team_id JOIN namespaces n ON n.id = t.namespace_id
			WHERE n.name = ? ORDER BY u.username, t.name`, org)
		if err != nil {
			return fmt.Errorf("organization members: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var u core.User
			var team string
			var created, accessed int64
			if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Kind, &u.RobotNamespace, &u.RobotNamespaceID,
				&u.RobotTokenEnc, &u.Description, &u.Metadata, &u.Superuser, &u.Enabled, &created, &accessed, &team); err != nil {
				return err
			}
			u.CreatedAt = time.UnixMilli(created)
			if len(out) > 0 && out[len(out)-1].User.ID == u.ID {
				out[len(out)-1].Teams = append(out[len(out)-1].Teams, team)
				continue
			}
			out = append(out, OrganizationMember{User: u, Teams: []string{team}})
		}
		return rows.Err()
	})
	return out, err
}
