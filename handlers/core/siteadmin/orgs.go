package siteadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// CreateOrg creates the organization name whose first owner is the user
// ownerName. Every invalid field is reported at once: the name's as
// "username" (as the API calls it), the owner's as "owner".
func (s *Service) CreateOrg(ctx context.Context, a core.Actor, name, ownerName, displayName string) (*store.User, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	owner, err := s.accountFor(ctx, v, "owner", ownerName, true)
	if err != nil {
		return nil, err
	}
	if owner == nil {
		if err := s.env.CheckNewName(ctx, v, "username", strings.TrimSpace(name)); err != nil {
			return nil, err
		}
		return nil, v.Err()
	}
	org, err := s.orgs.CreateFor(ctx, owner, name, core.ProfileInput{DisplayName: core.Some(displayName)})
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "created organization", store.TargetOrg, org.Username)
	return org, nil
}

// RoleNoun is role with its article: "an owner", "a member".
func RoleNoun(role string) string {
	if role == store.RoleMember {
		return "a member"
	}
	return "an " + role
}

// SetOrgRole adds the user username to org with role, or changes their
// role. A site administrator may grant any role; the last owner stays.
// It returns the user.
func (s *Service) SetOrgRole(ctx context.Context, a core.Actor, org *store.User, username, role string) (*store.User, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	target, err := s.accountFor(ctx, v, "username", username, true)
	if err != nil {
		return nil, err
	}
	if core.RoleRank[role] == 0 {
		v.Add("role", "must be member, admin or owner")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	existed, err := s.env.Store.SetMemberRole(ctx, org.ID, target.ID, role)
	if errors.Is(err, store.ErrLastOwner) {
		return nil, core.Conflict("Refused: %s is the only owner of %s. Make another member an owner first.", target.Username, org.Username)
	}
	if err != nil {
		return nil, err
	}
	verb := "made " + target.Username + " " + RoleNoun(role) + " of"
	if !existed {
		verb = "added " + target.Username + " as " + RoleNoun(role) + " of"
	}
	s.auditOf(ctx, a, verb, store.TargetOrg, org.Username)
	return target, nil
}

// RemoveOrgMember takes the user username out of org; the last owner
// stays.
func (s *Service) RemoveOrgMember(ctx context.Context, a core.Actor, org *store.User, username string) error {
	if err := s.Check(a); err != nil {
		return err
	}
	v := core.Validation{}
	target, err := s.accountFor(ctx, v, "username", username, true)
	if err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return err
	}
	err = s.env.Store.RemoveMember(ctx, org.ID, target.ID)
	switch {
	case errors.Is(err, store.ErrLastOwner):
		return core.Conflict("Refused: %s is the only owner of %s. Make another member an owner first.", target.Username, org.Username)
	case errors.Is(err, store.ErrNotFound):
		return core.NotFound("%s is not a member of %s.", target.Username, org.Username)
	case err != nil:
		return err
	}
	s.auditOf(ctx, a, fmt.Sprintf("removed %s from", target.Username), store.TargetOrg, org.Username)
	return nil
}
