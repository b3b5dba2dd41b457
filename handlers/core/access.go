package core

import (
	"context"
	"errors"

	"tapioca/store"
)

// RepoAccess loads owner/name and checks that the actor has at least
// need. A repository the actor cannot read does not exist for them: the
// same "not found" as a missing one (RepoNotFound), never a refusal, so
// no private name leaks. Below need, an anonymous actor is asked to sign
// in and a signed-in one is refused.
func (e *Env) RepoAccess(ctx context.Context, a Actor, owner, name string, need store.Perm) (*store.Repo, store.Perm, error) {
	repo, err := e.Store.RepoByName(ctx, owner, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.PermNone, RepoNotFound(owner, name)
		}
		return nil, store.PermNone, err
	}
	perm, err := e.CheckRepo(ctx, a, repo, need)
	if errors.Is(err, ErrHidden) {
		return nil, perm, RepoNotFound(owner, name)
	}
	if err != nil {
		return nil, perm, err
	}
	return repo, perm, nil
}

// RepoNotFound is the answer for a repository that does not exist or
// that the actor may not see: it says what is missing without repeating
// the name, so an answer about a private repository never carries it.
func RepoNotFound(owner, name string) error {
	return NotFound("Repository not found")
}

// CheckRepo is RepoAccess for a repository already loaded.
func (e *Env) CheckRepo(ctx context.Context, a Actor, repo *store.Repo, need store.Perm) (store.Perm, error) {
	perm, err := e.Store.RepoPerm(ctx, a.User, repo)
	if err != nil {
		return store.PermNone, err
	}
	if perm < store.PermRead {
		return perm, ErrHidden
	}
	if perm < need {
		if a.User == nil {
			return perm, ErrNoIdentity
		}
		return perm, ErrNoPermission
	}
	return perm, nil
}

// GitAccess decides a git fetch (push false) or push over any transport.
// The errors tell the door what to answer: ErrNoIdentity for an
// anonymous caller who lacks access, whether the repository is private
// or missing (so its existence does not leak; git then prompts); a
// not-found "Repository not found" for a signed-in caller who cannot read
// it; a refusal naming
// the repository for a reader who pushes; a scope refusal for a token
// that does not cover git. A deploy key reads its own repository only,
// and pushes to it only if it is writable.
func (e *Env) GitAccess(ctx context.Context, a Actor, owner, name string, push bool) (*store.Repo, error) {
	repo, err := e.Store.RepoByName(ctx, owner, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if k := a.DeployKey; k != nil {
		// A deploy key reaches its repository (by id: it follows renames
		// and transfers) and nothing else, whatever is public.
		switch {
		case repo == nil || repo.ID != k.RepoID:
			return nil, NotFound("Repository not found")
		case push && k.ReadOnly:
			return nil, Forbidden("The deploy key %q is read-only: it cannot push to %s", k.Title, repo.FullName())
		}
		return repo, nil
	}
	perm := store.PermNone
	if repo != nil {
		if perm, err = e.Store.RepoPerm(ctx, a.User, repo); err != nil {
			return nil, err
		}
	}
	need := store.PermRead
	if push {
		need = store.PermWrite
	}
	switch {
	case perm < need && a.User == nil:
		return nil, ErrNoIdentity
	case perm < store.PermRead:
		return nil, NotFound("Repository not found")
	case perm < need:
		return nil, Forbidden("You do not have write access to %s", repo.FullName())
	}
	if a.Scoped() {
		if ok, needScope := ScopeAllows(a.Token.Scopes, push, AreaRepo); !ok {
			return nil, Forbidden("Token scope does not allow this (requires %s)", needScope)
		}
	}
	return repo, nil
}

// RoleRank orders organization roles; 0 for none.
var RoleRank = map[string]int{store.RoleMember: 1, store.RoleAdmin: 2, store.RoleOwner: 3}

// OrgRole is the actor's effective role in org: site admins act as owners.
func (e *Env) OrgRole(ctx context.Context, a Actor, org *store.User) (string, error) {
	if a.User == nil {
		return "", nil
	}
	if a.SiteAdmin() {
		return store.RoleOwner, nil
	}
	return e.Store.OrgRole(ctx, org.ID, a.User.ID)
}

// OrgAccess loads the organization called name and requires the actor to
// hold at least minRole ("" = anyone may see it). It returns the actor's
// effective role.
func (e *Env) OrgAccess(ctx context.Context, a Actor, name, minRole string) (*store.User, string, error) {
	org, err := e.Store.OrgByName(ctx, name)
	if err != nil {
		return nil, "", err
	}
	role, err := e.OrgRole(ctx, a, org)
	if err != nil {
		return nil, "", err
	}
	if minRole != "" && RoleRank[role] < RoleRank[minRole] {
		if a.User == nil {
			return nil, "", ErrNoIdentity
		}
		return nil, "", Forbidden("Requires the %s role in organization %s", minRole, org.Username)
	}
	return org, role, nil
}

// UserNamed resolves a username (or alias) to a user account, not an
// organization.
func (e *Env) UserNamed(ctx context.Context, name string) (*store.User, error) {
	u, err := e.Store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if u.IsOrg() {
		return nil, ErrHidden
	}
	return u, nil
}
