// Package vouches is the forge core's reputation service: vouches spent
// from a granted balance on users, organizations and repositories, and
// the local endorsements (scores) kept per repository and organization.
package vouches

import (
	"context"
	"errors"
	"math"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// NoVouchesMessage is the seed's exact message for an empty balance.
const NoVouchesMessage = "No vouches remaining. Purchase more at https://codeboba.com/vouches."

// Service is the reputation service.
type Service struct{ env *core.Env }

// New returns the reputation service.
func New(env *core.Env) *Service { return &Service{env: env} }

// Vouch spends one unit of the actor's balance on a user, an
// organization or a repository ("owner/repo"). Nobody vouches for
// themselves or for what they own.
func (s *Service) Vouch(ctx context.Context, a core.Actor, targetType, target string) (*store.Vouch, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	target = strings.TrimSpace(target)
	switch targetType {
	case store.VouchUser, store.VouchOrg, store.VouchRepo:
	case "":
		v.Add("target_type", "can't be blank")
	default:
		v.Add("target_type", `is not included in the list ("User", "Organization", "Repository")`)
	}
	if target == "" {
		v.Add("target", "can't be blank")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	nv := store.NewVouch{VoucherID: u.ID, TargetType: targetType}
	// The account that owns the target: the target itself, or the
	// repository's owner.
	var ownerID int64
	var ownerIsOrg bool
	switch targetType {
	case store.VouchRepo:
		owner, name, ok := strings.Cut(target, "/")
		if !ok {
			return nil, core.Invalid("target", `must be "owner/repo"`)
		}
		repo, err := s.env.Store.RepoByName(ctx, owner, name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if repo != nil {
			perm, err := s.env.Store.RepoPerm(ctx, u, repo)
			if err != nil {
				return nil, err
			}
			if perm < store.PermRead {
				repo = nil // a private repository the voucher cannot see does not exist for them
			}
		}
		if repo == nil {
			return nil, core.Invalid("target", "repository not found")
		}
		ownerID, ownerIsOrg = repo.OwnerID, repo.OwnerType == store.TypeOrg
		nv.TargetRepo, nv.TargetName = repo, repo.FullName()
	default:
		t, err := s.env.Store.UserByName(ctx, target)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if t == nil || (targetType == store.VouchOrg) != t.IsOrg() {
			return nil, core.Invalid("target", strings.ToLower(targetType)+" not found")
		}
		ownerID, ownerIsOrg = t.ID, t.IsOrg()
		nv.TargetUserID, nv.TargetName = t.ID, t.Username
	}
	ownErr := core.Invalid("target", "cannot be yourself or something you own")
	if ownerID == u.ID {
		return nil, ownErr
	}
	if ownerIsOrg {
		role, err := s.env.Store.OrgRole(ctx, ownerID, u.ID)
		if err != nil {
			return nil, err
		}
		if role == store.RoleOwner {
			return nil, ownErr
		}
	}
	vouch, err := s.env.Store.CreateVouch(ctx, nv)
	if errors.Is(err, store.ErrNoVouches) {
		return nil, core.Invalidf(NoVouchesMessage)
	}
	return vouch, err
}

// VouchesFor lists the vouches a user received.
func (s *Service) VouchesFor(ctx context.Context, username string, p core.Page) ([]*store.Vouch, int, error) {
	u, err := s.env.Store.UserByName(ctx, username)
	if err != nil {
		return nil, 0, err
	}
	return s.env.Store.ListVouchesFor(ctx, u.ID, p.Limit, p.Offset)
}

// Scope is where endorsements are kept: a repository or an organization.
type Scope struct {
	Kind  string // store.ScopeRepoRep or store.ScopeOrgRep
	ID    int64
	Admin bool // the actor administers the scope
}

// RepoScope authorizes the actor on a repository's endorsements: need is
// PermRead to read or remove, PermWrite to endorse.
func (s *Service) RepoScope(ctx context.Context, a core.Actor, owner, name string, need store.Perm) (Scope, error) {
	repo, perm, err := s.env.RepoAccess(ctx, a, owner, name, need)
	if err != nil {
		return Scope{}, err
	}
	return Scope{Kind: store.ScopeRepoRep, ID: repo.ID, Admin: perm >= store.PermAdmin}, nil
}

// OrgScope authorizes a member on an organization's endorsements.
func (s *Service) OrgScope(ctx context.Context, a core.Actor, org string) (Scope, error) {
	o, role, err := s.env.OrgAccess(ctx, a, org, store.RoleMember)
	if err != nil {
		return Scope{}, err
	}
	return Scope{Kind: store.ScopeOrgRep, ID: o.ID, Admin: core.RoleRank[role] >= core.RoleRank[store.RoleAdmin]}, nil
}

// Endorsements lists a scope's endorsements.
func (s *Service) Endorsements(ctx context.Context, sc Scope) ([]*store.Endorsement, error) {
	return s.env.Store.ListEndorsements(ctx, sc.Kind, sc.ID)
}

// Endorse creates or updates the actor's endorsement of username.
func (s *Service) Endorse(ctx context.Context, a core.Actor, sc Scope, username string, score core.Opt[float64]) (*store.Endorsement, error) {
	grantor, err := a.Require()
	if err != nil {
		return nil, err
	}
	switch {
	case !score.Given():
		return nil, core.Invalid("score", "can't be blank")
	case !(score.V > 0) || math.IsInf(score.V, 0):
		return nil, core.Invalid("score", "must be greater than 0")
	}
	target, err := s.env.UserNamed(ctx, username)
	if err != nil {
		return nil, err
	}
	if target.ID == grantor.ID {
		return nil, core.Invalid("username", "cannot endorse yourself")
	}
	return s.env.Store.SetEndorsement(ctx, sc.Kind, sc.ID, target.ID, grantor.ID, score.V)
}

// RemoveEndorsements removes the actor's endorsement of username. Admins
// of the scope may remove others': one grantor's (grantor given), or all
// of them when they have none of their own.
func (s *Service) RemoveEndorsements(ctx context.Context, a core.Actor, sc Scope, username, grantor string) error {
	caller, err := a.Require()
	if err != nil {
		return err
	}
	target, err := s.env.UserNamed(ctx, username)
	if err != nil {
		return err
	}
	grantorID := caller.ID
	if grantor != "" {
		gu, err := s.env.UserNamed(ctx, grantor)
		if err != nil {
			return err
		}
		if gu.ID != caller.ID && !sc.Admin {
			return core.Forbidden("Only admins can remove other people's endorsements")
		}
		grantorID = gu.ID
	}
	n, err := s.env.Store.DeleteEndorsements(ctx, sc.Kind, sc.ID, target.ID, grantorID)
	if err != nil {
		return err
	}
	if n == 0 && sc.Admin && grantor == "" {
		if n, err = s.env.Store.DeleteEndorsements(ctx, sc.Kind, sc.ID, target.ID, 0); err != nil {
			return err
		}
	}
	if n == 0 {
		return core.ErrHidden
	}
	return nil
}
