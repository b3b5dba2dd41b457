package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Perm is a level of access to a repository; higher includes lower.
type Perm int

// Permission levels.
const (
	PermNone Perm = iota
	PermRead
	PermWrite
	PermAdmin
)

// String names the level as the API shows it.
func (p Perm) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermAdmin:
		return "admin"
	}
	return "none"
}

// ParsePerm reads "read", "write" or "admin".
func ParsePerm(s string) (Perm, bool) {
	switch s {
	case "read":
		return PermRead, true
	case "write":
		return PermWrite, true
	case "admin":
		return PermAdmin, true
	}
	return PermNone, false
}

// Org roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// RepoPerm is the one place that decides what a user may do with a
// repository (SPEC §4): site admins and owners have admin; org owners and
// admins have admin on the org's repositories and members write;
// collaborators have their granted level; anyone may read a public one.
// u is nil for anonymous callers. Disabled accounts count as anonymous.
func (s *Store) RepoPerm(ctx context.Context, u *User, r *Repo) (Perm, error) {
	p := PermNone
	if !r.Private {
		p = PermRead
	}
	if u == nil || u.Disabled {
		return p, nil
	}
	if u.IsAdmin || u.ID == r.OwnerID {
		return PermAdmin, nil
	}
	// One query for both the org role and the collaborator grant: every
	// repository request by someone other than the owner asks.
	var role, granted sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT role FROM org_members WHERE org_id = ? AND user_id = ?),
		(SELECT permission FROM collaborators WHERE repo_id = ? AND user_id = ?)`,
		r.OwnerID, u.ID, r.ID, u.ID).Scan(&role, &granted)
	if err != nil {
		return PermNone, fmt.Errorf("repository permission: %w", err)
	}
	if r.OwnerType == TypeOrg {
		switch role.String {
		case RoleOwner, RoleAdmin:
			return PermAdmin, nil
		case RoleMember:
			p = max(p, PermWrite)
		}
	}
	if c, ok := ParsePerm(granted.String); ok {
		p = max(p, c)
	}
	return p, nil
}

// OrgRole returns the user's role in the organization, or "" if they are
// not a member.
func (s *Store) OrgRole(ctx context.Context, orgID, userID int64) (string, error) {
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("org role: %w", err)
	}
	return role, nil
}
