package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrLastOwner is returned when a change would leave an organization
// without an owner.
var ErrLastOwner = errors.New("an organization must keep at least one owner")

// CreateOrg creates an organization with creator as its first owner.
func (s *Store) CreateOrg(ctx context.Context, nu NewUser, creatorID int64) (*User, error) {
	nu.Type = TypeOrg
	nu.Email, nu.PasswordHash, nu.IsAdmin = "", "", false
	var org *User
	err := s.Tx(ctx, func(tx *Store) error {
		var err error
		org, err = tx.CreateUser(ctx, nu)
		if err != nil {
			return err
		}
		_, err = tx.w.ExecContext(ctx, `INSERT INTO org_members(org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			org.ID, creatorID, RoleOwner, Now())
		if err != nil {
			return fmt.Errorf("add org owner: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return org, nil
}

// OrgByName resolves an organization by canonical name or alias;
// ErrNotFound when the name is a user's.
func (s *Store) OrgByName(ctx context.Context, name string) (*User, error) {
	u, err := s.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if !u.IsOrg() {
		return nil, fmt.Errorf("organization: %w", ErrNotFound)
	}
	return u, nil
}

// DeleteOrg removes an organization and, by cascade, its repositories'
// rows. It returns the ids of those repositories so the caller can remove
// them from disk.
func (s *Store) DeleteOrg(ctx context.Context, orgID int64) ([]int64, error) {
	var ids []int64
	err := s.Tx(ctx, func(tx *Store) error {
		var err error
		if ids, err = tx.repoIDs(ctx, `WHERE owner_id = ?`, orgID); err != nil {
			return err
		}
		return tx.execOne(ctx, "delete organization", `DELETE FROM users WHERE id = ? AND type = 'org'`, orgID)
	})
	return ids, err
}

// ListUserOrgs lists the organizations a user belongs to, by name.
func (s *Store) ListUserOrgs(ctx context.Context, userID int64) ([]*User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM org_members m JOIN users u ON u.id = m.org_id
		WHERE m.user_id = ? ORDER BY lower(u.username)`, userID)
	if err != nil {
		return nil, fmt.Errorf("list user orgs: %w", err)
	}
	defer rows.Close()
	out := []*User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan org: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Membership is an organization a user belongs to, with their role and
// how many owners it has.
type Membership struct {
	Org    *User
	Role   string
	Owners int
}

// ListMemberships lists the organizations a user belongs to, by name,
// with their role in each: the user's page shows where they are the only
// owner.
func (s *Store) ListMemberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+`, m.role,
		(SELECT COUNT(*) FROM org_members x INDEXED BY org_members_role WHERE x.org_id = m.org_id AND x.role = 'owner')
		FROM org_members m JOIN users u ON u.id = m.org_id
		WHERE m.user_id = ? ORDER BY lower(u.username)`, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	out := []Membership{}
	for rows.Next() {
		var m Membership
		u, err := scanUser(rows, &m.Role, &m.Owners)
		if err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		m.Org = u
		out = append(out, m)
	}
	return out, rows.Err()
}

// Member is a user with their role in an organization.
type Member struct {
	User *User
	Role string
}

// memberRank orders roles owners first; org_members_list indexes it.
const memberRank = `(CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END)`

// memberListSQL is the count query and the page query (for window.order)
// of an organization's members, of one role or ("") all, owners first,
// then admins, then members, each by name.
func memberListSQL(role string) (count, page string, args []any) {
	if role == "" {
		return `SELECT COUNT(*) FROM org_members m WHERE m.org_id = ?`,
			`SELECT ` + userColumns + `, m.role FROM org_members m INDEXED BY org_members_list JOIN users u ON u.id = m.user_id
			WHERE m.org_id = ? ORDER BY ` + memberRank + `{dir}, m.sort_name{dir}, m.user_id{dir} LIMIT ? OFFSET ?`, nil
	}
	return `SELECT COUNT(*) FROM org_members m INDEXED BY org_members_role WHERE m.org_id = ? AND m.role = ?`,
		`SELECT ` + userColumns + `, m.role FROM org_members m INDEXED BY org_members_role JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.role = ? ORDER BY m.sort_name{dir}, m.user_id{dir} LIMIT ? OFFSET ?`, []any{role}
}

// ListMembers lists an organization's members, optionally of one role,
// with the total before paging.
func (s *Store) ListMembers(ctx context.Context, orgID int64, role string, limit, offset int) ([]Member, int, error) {
	countQuery, pageQuery, extra := memberListSQL(role)
	return rowsPage(ctx, s, "members", countQuery, pageQuery, true, append([]any{orgID}, extra...), limit, offset,
		func(rows *sql.Rows) (Member, error) {
			var m Member
			u, err := scanUser(rows, &m.Role)
			m.User = u
			return m, err
		})
}

// SetMemberRole adds a member or changes their role. Demoting the last
// owner is ErrLastOwner. It reports whether the user was already a member.
func (s *Store) SetMemberRole(ctx context.Context, orgID, userID int64, role string) (existed bool, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		cur, err := tx.OrgRole(ctx, orgID, userID)
		if err != nil {
			return err
		}
		existed = cur != ""
		if cur == RoleOwner && role != RoleOwner {
			n, err := tx.countOwners(ctx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastOwner
			}
		}
		_, err = tx.w.ExecContext(ctx, `INSERT INTO org_members(org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, role, Now())
		if err != nil {
			return fmt.Errorf("set member role: %w", err)
		}
		return nil
	})
	return existed, err
}

// RemoveMember removes a member; removing the last owner is ErrLastOwner.
func (s *Store) RemoveMember(ctx context.Context, orgID, userID int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		cur, err := tx.OrgRole(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if cur == "" {
			return fmt.Errorf("member: %w", ErrNotFound)
		}
		if cur == RoleOwner {
			n, err := tx.countOwners(ctx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastOwner
			}
		}
		return tx.execOne(ctx, "remove member", `DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID)
	})
}

func (s *Store) countOwners(ctx context.Context, orgID int64) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_members WHERE org_id = ? AND role = 'owner'`, orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// SetAlias gives a user or org its one alias, replacing any previous one.
// ErrNameTaken when the name is in use by anyone (including the caller's
// own canonical name).
func (s *Store) SetAlias(ctx context.Context, userID int64, alias string) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM names WHERE user_id = ? AND is_alias = 1`, userID); err != nil {
			return fmt.Errorf("drop old alias: %w", err)
		}
		_, err := tx.w.ExecContext(ctx, `INSERT INTO names(lower_name, user_id, is_alias, alias) VALUES (?, ?, 1, ?)`,
			strings.ToLower(alias), userID, alias)
		if err != nil {
			if isUnique(err) {
				return ErrNameTaken
			}
			return fmt.Errorf("set alias: %w", err)
		}
		return nil
	})
}

// RemoveAlias drops the alias; ErrNotFound when there is none.
func (s *Store) RemoveAlias(ctx context.Context, userID int64) error {
	return s.execOne(ctx, "remove alias", `DELETE FROM names WHERE user_id = ? AND is_alias = 1`, userID)
}

// Collaborator is a user with an explicit permission on a repository.
type Collaborator struct {
	User       *User
	Permission string
}

// ListCollaborators lists a repository's collaborators by name.
func (s *Store) ListCollaborators(ctx context.Context, repoID int64) ([]Collaborator, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+`, c.permission FROM collaborators c JOIN users u ON u.id = c.user_id
		WHERE c.repo_id = ? ORDER BY lower(u.username)`, repoID)
	if err != nil {
		return nil, fmt.Errorf("list collaborators: %w", err)
	}
	defer rows.Close()
	out := []Collaborator{}
	for rows.Next() {
		var perm string
		u, err := scanUser(rows, &perm)
		if err != nil {
			return nil, fmt.Errorf("scan collaborator: %w", err)
		}
		out = append(out, Collaborator{User: u, Permission: perm})
	}
	return out, rows.Err()
}

// SetCollaborator grants or changes a collaborator's permission.
func (s *Store) SetCollaborator(ctx context.Context, repoID, userID int64, perm string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO collaborators(repo_id, user_id, permission, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(repo_id, user_id) DO UPDATE SET permission = excluded.permission`, repoID, userID, perm, Now())
	if err != nil {
		return fmt.Errorf("set collaborator: %w", err)
	}
	return nil
}

// RemoveCollaborator revokes a collaborator; ErrNotFound if not one.
func (s *Store) RemoveCollaborator(ctx context.Context, repoID, userID int64) error {
	return s.execOne(ctx, "remove collaborator", `DELETE FROM collaborators WHERE repo_id = ? AND user_id = ?`, repoID, userID)
}
