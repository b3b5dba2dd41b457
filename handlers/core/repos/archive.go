package repos

import (
	"context"
	"errors"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/store"
)

// ErrRefNotFound is a ref (branch, tag or commit) that names nothing.
var ErrRefNotFound = core.NotFound("Ref not found")

// Archive is what an archive of a ref is made from. Close the objects
// when done.
type Archive struct {
	Repo    *store.Repo
	Commit  plumbing.Hash
	Prefix  string // top folder in the archive, <repo>-<ref> with / as -
	Objects *core.Objects
}

// Archive resolves ref for an archive: a branch (with slashes), tag, full
// or abbreviated sha, with an optional ".zip" suffix (a ref really named
// so wins).
func (s *Service) Archive(ctx context.Context, a core.Actor, owner, name, ref string) (*Archive, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, err
	}
	h, err := s.resolve(ctx, repo, ref)
	if errors.Is(err, ErrRefNotFound) && strings.HasSuffix(ref, ".zip") {
		ref = strings.TrimSuffix(ref, ".zip")
		h, err = s.resolve(ctx, repo, ref)
	}
	if err != nil {
		return nil, err
	}
	st, err := s.env.Objects(repo)
	if err != nil {
		return nil, err
	}
	if _, err := object.GetCommit(st, h); err != nil {
		st.Close()
		return nil, ErrRefNotFound // a tag of a tree or blob has no archive
	}
	return &Archive{Repo: repo, Commit: h, Prefix: repo.Name + "-" + strings.ReplaceAll(ref, "/", "-"), Objects: st}, nil
}

func (s *Service) resolve(ctx context.Context, repo *store.Repo, ref string) (plumbing.Hash, error) {
	if ref == "" {
		return plumbing.ZeroHash, ErrRefNotFound
	}
	h, err := s.env.Git.ResolveRef(ctx, s.env.RepoPath(repo.ID), ref)
	switch {
	case errors.Is(err, gitserver.ErrNotFound), errors.Is(err, gitserver.ErrAmbiguous):
		return plumbing.ZeroHash, ErrRefNotFound
	case err != nil:
		return plumbing.ZeroHash, err
	}
	return h, nil
}
