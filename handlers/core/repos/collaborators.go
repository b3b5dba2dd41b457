package repos

import (
	"context"

	"tapioca/handlers/core"
	"tapioca/store"
)

// Collaborators lists who was granted access: anyone who can read the
// repository may see the list.
func (s *Service) Collaborators(ctx context.Context, a core.Actor, owner, name string, p core.Page) ([]store.Collaborator, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	cs, err := s.env.Store.ListCollaborators(ctx, repo.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(cs, p)
	return page, total, nil
}

// SetCollaborator grants username a permission (write when absent):
// admins. The owner cannot be added.
func (s *Service) SetCollaborator(ctx context.Context, a core.Actor, owner, name, username string, permission core.Opt[string]) (*store.User, string, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermAdmin)
	if err != nil {
		return nil, "", err
	}
	perm := "write"
	if permission.Given() {
		perm = permission.V
	}
	if _, ok := store.ParsePerm(perm); !ok {
		return nil, "", core.Invalid("permission", `is not included in the list ("read", "write", "admin")`)
	}
	target, err := s.env.UserNamed(ctx, username)
	if err != nil {
		return nil, "", err
	}
	if target.ID == repo.OwnerID {
		return nil, "", core.Invalid("username", "is the repository's owner")
	}
	if err := s.env.Store.SetCollaborator(ctx, repo.ID, target.ID, perm); err != nil {
		return nil, "", err
	}
	return target, perm, nil
}

// RemoveCollaborator revokes access: admins, or collaborators removing
// themselves.
func (s *Service) RemoveCollaborator(ctx context.Context, a core.Actor, owner, name, username string) error {
	repo, perm, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
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
	if perm < store.PermAdmin && caller.ID != target.ID {
		return core.ErrNoPermission
	}
	return s.env.Store.RemoveCollaborator(ctx, repo.ID, target.ID)
}
