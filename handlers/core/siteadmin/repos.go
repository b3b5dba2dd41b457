package siteadmin

import (
	"context"
	"errors"
	"fmt"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/repos"
	"tapioca/store"
)

// CreateRepo creates a repository owned by the user or organization
// ownerName, within that owner's repository limit; the administrator
// signs its initial commit. Every invalid field is reported at once.
func (s *Service) CreateRepo(ctx context.Context, a core.Actor, ownerName string, in repos.Creation) (*store.Repo, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	owner, err := s.accountFor(ctx, v, "owner", ownerName, false)
	if err != nil {
		return nil, err
	}
	if owner == nil {
		repos.CheckName(v, "name", in.Name)
		return nil, v.Err()
	}
	repo, err := s.repos.CreateFor(ctx, a.User, owner, in)
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "created repository", store.TargetRepo, repo.FullName())
	return repo, nil
}

// RenameRepo renames a repository within its owner.
func (s *Service) RenameRepo(ctx context.Context, a core.Actor, repo *store.Repo, name string) (*store.Repo, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	name = repos.CheckName(v, "name", name)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if name == repo.Name {
		return repo, nil
	}
	renamed, err := s.env.Store.UpdateRepo(ctx, repo.ID, store.RepoUpdate{Name: &name})
	if errors.Is(err, store.ErrRepoExists) {
		return nil, core.Invalid("name", fmt.Sprintf("is taken: %s already has a repository named %s", repo.OwnerName, name))
	}
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "renamed "+repo.FullName()+" to", store.TargetRepo, renamed.FullName())
	return renamed, nil
}

// TransferRepo gives a repository to the user or organization
// newOwnerName, under name ("" keeps its name): refused when the new
// owner already has a repository of that name or has reached its
// repository limit.
func (s *Service) TransferRepo(ctx context.Context, a core.Actor, repo *store.Repo, newOwnerName, name string) (*store.Repo, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	v := core.Validation{}
	owner, err := s.accountFor(ctx, v, "owner", newOwnerName, false)
	if err != nil {
		return nil, err
	}
	if owner == nil {
		if name != "" {
			repos.CheckName(v, "name", name)
		}
		return nil, v.Err()
	}
	moved, err := s.repos.Transfer(ctx, repo, owner, name)
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "transferred "+repo.FullName()+" to", store.TargetRepo, moved.FullName())
	return moved, nil
}

// SetRepoVisibility makes a repository private or public.
func (s *Service) SetRepoVisibility(ctx context.Context, a core.Actor, repo *store.Repo, private bool) (*store.Repo, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	if repo.Private == private {
		return repo, nil
	}
	changed, err := s.env.Store.UpdateRepo(ctx, repo.ID, store.RepoUpdate{Private: &private})
	if err != nil {
		return nil, err
	}
	verb := "made public"
	if private {
		verb = "made private"
	}
	s.auditOf(ctx, a, verb, store.TargetRepo, repo.FullName())
	return changed, nil
}

// MaintainRepo repacks a repository now, as the scheduled
// repository-maintenance job does for every one, and waits for it.
func (s *Service) MaintainRepo(ctx context.Context, a core.Actor, repo *store.Repo) (gitserver.MaintainResult, error) {
	if err := s.Check(a); err != nil {
		return gitserver.MaintainResult{}, err
	}
	res, err := s.repos.Maintain(ctx, repo)
	if err != nil {
		return res, err
	}
	s.auditOf(ctx, a, "ran maintenance on", store.TargetRepo, repo.FullName())
	return res, nil
}
