// Package orgs is the forge core's organization service: creating,
// editing and deleting organizations, their members and roles, and the
// aliases of users and organizations.
package orgs

import (
	"context"
	"errors"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// Service is the organization service.
type Service struct{ env *core.Env }

// New returns the organization service.
func New(env *core.Env) *Service { return &Service{env: env} }

// Get is the organization called name; anyone may read it.
func (s *Service) Get(ctx context.Context, a core.Actor, name string) (*store.User, string, error) {
	return s.env.OrgAccess(ctx, a, name, "")
}

// Create makes an organization owned by the actor.
func (s *Service) Create(ctx context.Context, a core.Actor, name string, profile core.ProfileInput) (*store.User, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	return s.CreateFor(ctx, u, name, profile)
}

// CreateFor makes an organization whose first owner is u (already
// authorized).
func (s *Service) CreateFor(ctx context.Context, u *store.User, name string, profile core.ProfileInput) (*store.User, error) {
	v := core.Validation{}
	name = strings.TrimSpace(name)
	if err := s.env.CheckNewName(ctx, v, "username", name); err != nil {
		return nil, err
	}
	p := profile.Check(v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	nu := store.NewUser{Username: name}
	if p.DisplayName != nil {
		nu.DisplayName = *p.DisplayName
	}
	if p.Bio != nil {
		nu.Bio = *p.Bio
	}
	if p.URL != nil {
		nu.URL = *p.URL
	}
	org, err := s.env.Store.CreateOrg(ctx, nu, u.ID)
	if errors.Is(err, store.ErrNameTaken) {
		return nil, core.Invalid("username", "has already been taken")
	}
	return org, err
}

// Update edits the profile: admins and owners.
func (s *Service) Update(ctx context.Context, a core.Actor, name string, profile core.ProfileInput) (*store.User, error) {
	org, _, err := s.env.OrgAccess(ctx, a, name, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	p := profile.Check(v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.env.Store.UpdateProfile(ctx, org.ID, p)
}

// Delete removes the organization and all its repositories: owners.
func (s *Service) Delete(ctx context.Context, a core.Actor, name string) error {
	org, _, err := s.env.OrgAccess(ctx, a, name, store.RoleOwner)
	if err != nil {
		return err
	}
	return s.Remove(ctx, org)
}

// Remove deletes an organization (already authorized) and its
// repositories' files.
func (s *Service) Remove(ctx context.Context, org *store.User) error {
	ids, err := s.env.Store.DeleteOrg(ctx, org.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.env.RemoveRepoFiles(ctx, id)
	}
	return nil
}

// Mine lists the organizations the actor belongs to.
func (s *Service) Mine(ctx context.Context, a core.Actor, p core.Page) ([]*store.User, int, error) {
	u, err := a.Require()
	if err != nil {
		return nil, 0, err
	}
	orgs, err := s.env.Store.ListUserOrgs(ctx, u.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(orgs, p)
	return page, total, nil
}

// Members lists an organization's members; role filters ("" or "all" for
// everyone).
func (s *Service) Members(ctx context.Context, a core.Actor, name, role string, p core.Page) ([]store.Member, int, error) {
	org, _, err := s.env.OrgAccess(ctx, a, name, "")
	if err != nil {
		return nil, 0, err
	}
	switch role {
	case "all":
		role = ""
	case "", store.RoleOwner, store.RoleAdmin, store.RoleMember:
	default:
		return nil, 0, core.Invalid("role", `is not included in the list ("owner", "admin", "member", "all")`)
	}
	return s.env.Store.ListMembers(ctx, org.ID, role, p.Limit, p.Offset)
}

// SetMember adds a member or changes a role (member when role is
// absent). Admins manage members; only owners grant or take away the
// owner role; the last owner stays.
func (s *Service) SetMember(ctx context.Context, a core.Actor, orgName, username string, role core.Opt[string]) (*store.User, string, error) {
	org, callerRole, err := s.env.OrgAccess(ctx, a, orgName, store.RoleAdmin)
	if err != nil {
		return nil, "", err
	}
	r := store.RoleMember
	if role.Given() {
		r = role.V
	}
	if core.RoleRank[r] == 0 {
		return nil, "", core.Invalid("role", `is not included in the list ("member", "admin", "owner")`)
	}
	target, err := s.env.UserNamed(ctx, username)
	if err != nil {
		return nil, "", err
	}
	cur, err := s.env.Store.OrgRole(ctx, org.ID, target.ID)
	if err != nil {
		return nil, "", err
	}
	if (r == store.RoleOwner || cur == store.RoleOwner) && callerRole != store.RoleOwner {
		return nil, "", core.Forbidden("Only organization owners can grant or remove the owner role")
	}
	if _, err := s.env.Store.SetMemberRole(ctx, org.ID, target.ID, r); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return nil, "", core.Invalidf("Cannot demote the last owner of an organization")
		}
		return nil, "", err
	}
	return target, r, nil
}

// RemoveMember removes a member; members may also leave on their own.
func (s *Service) RemoveMember(ctx context.Context, a core.Actor, orgName, username string) error {
	org, err := s.env.Store.OrgByName(ctx, orgName)
	if err != nil {
		return err
	}
	caller, err := a.Require()
	if err != nil {
		return err
	}
	target, err := s.env.UserNamed(ctx, username)
	if err != nil {
		return err
	}
	callerRole, err := s.env.OrgRole(ctx, a, org)
	if err != nil {
		return err
	}
	cur, err := s.env.Store.OrgRole(ctx, org.ID, target.ID)
	if err != nil {
		return err
	}
	self := caller.ID == target.ID
	switch {
	case self && cur != "":
	case core.RoleRank[callerRole] < core.RoleRank[store.RoleAdmin]:
		return core.Forbidden("Requires the admin role in organization %s", org.Username)
	case cur == store.RoleOwner && callerRole != store.RoleOwner:
		return core.Forbidden("Only organization owners can remove an owner")
	}
	if err := s.env.Store.RemoveMember(ctx, org.ID, target.ID); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return core.Invalidf("Cannot remove the last owner of an organization")
		}
		return err
	}
	return nil
}

// AliasOwner resolves whose alias a request changes: the actor's own
// (orgName empty) or an organization's (admins and owners).
func (s *Service) AliasOwner(ctx context.Context, a core.Actor, orgName string) (*store.User, error) {
	if orgName == "" {
		return a.Require()
	}
	org, _, err := s.env.OrgAccess(ctx, a, orgName, store.RoleAdmin)
	return org, err
}

// SetAlias gives owner a second name in the shared namespace, replacing
// any previous one. Setting the alias it already has changes nothing.
func (s *Service) SetAlias(ctx context.Context, owner *store.User, alias string) (string, error) {
	alias = strings.TrimSpace(alias)
	if strings.EqualFold(alias, owner.Alias) && alias != "" {
		return owner.Alias, nil
	}
	v := core.Validation{}
	if err := s.env.CheckNewName(ctx, v, "alias", alias); err != nil {
		return "", err
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	if err := s.env.Store.SetAlias(ctx, owner.ID, alias); err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			return "", core.Invalid("alias", "has already been taken")
		}
		return "", err
	}
	return alias, nil
}

// RemoveAlias drops owner's alias; without one it is ErrNotFound.
func (s *Service) RemoveAlias(ctx context.Context, owner *store.User) error {
	return s.env.Store.RemoveAlias(ctx, owner.ID)
}
