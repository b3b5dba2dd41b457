package siteadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// MaxRepoLimit bounds a per-account repository limit.
const MaxRepoLimit = 100_000

// UserEdit is an administrator's edit of a user account. Every field is
// written: the dashboard's form sends them all.
type UserEdit struct {
	Email       string
	DisplayName string // "" clears it
	Kind        string // human or bot
	MaxRepos    *int   // nil follows the site's limit (--max-repos)
}

// UpdateUser edits a user's email, display name, kind and repository
// limit. Every invalid field is reported at once and nothing changes.
func (s *Service) UpdateUser(ctx context.Context, a core.Actor, u *store.User, in UserEdit) (*store.User, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	email := strings.TrimSpace(in.Email)
	switch {
	case email == "":
		v.Add("email", "can't be blank")
	case !core.ValidEmail(email):
		v.Add("email", "is not a valid email address")
	case !strings.EqualFold(email, u.Email):
		taken, err := s.env.Store.EmailTaken(ctx, email)
		if err != nil {
			return nil, err
		}
		if taken {
			v.Add("email", "has already been taken")
		}
	}
	display := core.OptionalLine(v, "display_name", core.Some(in.DisplayName), 255, nil)
	if in.Kind != "human" && in.Kind != "bot" {
		v.Add("kind", "must be human or bot")
	}
	if in.MaxRepos != nil && (*in.MaxRepos < 0 || *in.MaxRepos > MaxRepoLimit) {
		v.Add("max_repos", fmt.Sprintf("must be a whole number from 0 to %d, or empty for the site's limit", MaxRepoLimit))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	nu, err := s.env.Store.UpdateAccount(ctx, u.ID, store.AccountUpdate{Email: &email, DisplayName: display,
		Kind: &in.Kind, MaxRepos: &in.MaxRepos})
	if errors.Is(err, store.ErrEmailTaken) {
		return nil, core.Invalid("email", "has already been taken")
	}
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "edited the account of", store.TargetUser, u.Username)
	return nu, nil
}

// RevokeToken revokes one of u's API tokens and returns it.
func (s *Service) RevokeToken(ctx context.Context, a core.Actor, u *store.User, id int64) (*store.Token, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	ts, err := s.env.Store.ListTokens(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.ID == id {
			if err := s.env.Store.DeleteToken(ctx, u.ID, id); err != nil {
				return nil, err
			}
			s.auditOf(ctx, a, fmt.Sprintf("revoked the token %q of", t.Name), store.TargetUser, u.Username)
			return t, nil
		}
	}
	return nil, core.NotFound("%s has no token %d; it may have been revoked already.", u.Username, id)
}

// RevokeSSHKey removes one of u's SSH keys and returns it.
func (s *Service) RevokeSSHKey(ctx context.Context, a core.Actor, u *store.User, id int64) (*store.SSHKey, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	ks, err := s.env.Store.ListSSHKeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if k.ID == id {
			if err := s.env.Store.DeleteSSHKey(ctx, u.ID, id); err != nil {
				return nil, err
			}
			s.auditOf(ctx, a, fmt.Sprintf("revoked the SSH key %q of", k.Title), store.TargetUser, u.Username)
			return k, nil
		}
	}
	return nil, core.NotFound("%s has no SSH key %d; it may have been removed already.", u.Username, id)
}

// accountFor resolves the account a form names for field of v: nil, with
// the problem added, when there is none or (usersOnly) it is an
// organization.
func (s *Service) accountFor(ctx context.Context, v core.Validation, field, name string, usersOnly bool) (*store.User, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		v.Add(field, "can't be blank")
		return nil, nil
	}
	u, err := s.env.Store.UserByName(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if usersOnly {
			v.Add(field, fmt.Sprintf("names no user: there is no %s on this site", name))
		} else {
			v.Add(field, fmt.Sprintf("names no user or organization: there is no %s on this site", name))
		}
		return nil, nil
	case err != nil:
		return nil, err
	case usersOnly && u.IsOrg():
		v.Add(field, fmt.Sprintf("names the organization %s; name a user", u.Username))
		return nil, nil
	}
	return u, nil
}
