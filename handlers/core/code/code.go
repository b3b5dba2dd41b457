// Package code is the forge core's service for a repository's code
// without a clone: files, trees, search, history, single commits, tags,
// comparisons and the diffs and patch series of all of them (through
// gitserver/browse and gitserver/gitdiff), and files written as one
// commit (gitserver/commitfiles), which is checked, journaled and
// recorded exactly as a push is. Every operation checks the actor's
// access to the repository itself.
package code

import (
	"context"
	"errors"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/browse"
	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/pulls"
	"tapioca/store"
)

// PushRules is what a commit made here shares with a push: the rules a
// ref update must pass (protected branches), the journal before the ref
// moves and the recording after (events, pull requests). The pushes
// service is one.
type PushRules interface {
	Check(ctx context.Context, repo *store.Repo, u gitserver.RefUpdate) error
	core.RefRecorder
}

// Service is the code service.
type Service struct {
	env   *core.Env
	pulls *pulls.Service
	rules PushRules
}

// New returns the code service.
func New(env *core.Env, pl *pulls.Service, rules PushRules) *Service {
	return &Service{env: env, pulls: pl, rules: rules}
}

// Limits of what one answer holds.
const (
	// MaxInlineContent is the largest file whose bytes the contents
	// answer carries (GitHub's 1 MB); larger ones are read raw.
	MaxInlineContent = 1 << 20
	// MaxTreeEntries bounds a tree listing; past it, truncated is set.
	MaxTreeEntries = 10000
	// MaxPatchBytes bounds one file's patch in JSON answers; the diff
	// and patch media types are never cut.
	MaxPatchBytes = 1 << 20
	// MaxGrepMatches bounds max_matches.
	MaxGrepMatches = 1000
)

// reader is a repository opened for reading with the actor's access.
type reader struct {
	repo *store.Repo
	br   *browse.Repo
	env  *core.Env
}

func (r *reader) Close() { r.br.Close() }

// open checks read access and opens the repository.
func (s *Service) open(ctx context.Context, a core.Actor, owner, name string) (*reader, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, err
	}
	return s.openRepo(repo)
}

func (s *Service) openRepo(repo *store.Repo) (*reader, error) {
	br, err := browse.Open(s.env.Git, s.env.RepoPath(repo.ID))
	if err != nil {
		return nil, err
	}
	return &reader{repo: repo, br: br, env: s.env}, nil
}

// resolve names the commit rev stands for (the default branch when
// empty), with answers that say what was not found.
func (r *reader) resolve(ctx context.Context, rev string) (plumbing.Hash, error) {
	if rev == "" {
		rev = r.repo.DefaultBranch
	}
	h, err := r.br.Resolve(ctx, rev)
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, browse.ErrNotCommit):
		return plumbing.ZeroHash, core.Invalidf("%s names a %s, not a commit", rev, objectKind(err))
	case errors.Is(err, gitserver.ErrAmbiguous):
		return plumbing.ZeroHash, core.Invalidf("%s is ambiguous: give more digits", rev)
	case errors.Is(err, gitserver.ErrNotFound):
		if rev == r.repo.DefaultBranch && r.empty(ctx) {
			return plumbing.ZeroHash, core.NotFound("The repository is empty: it has no commits yet")
		}
		return plumbing.ZeroHash, core.NotFound("Ref %s not found", rev)
	}
	return plumbing.ZeroHash, err
}

func (r *reader) empty(ctx context.Context) bool {
	bs, err := r.env.Git.Branches(ctx, r.env.RepoPath(r.repo.ID))
	return err == nil && len(bs) == 0
}

func objectKind(err error) string {
	for _, k := range []string{"tree", "blob", "tag"} {
		if strings.Contains(err.Error(), " "+k) {
			return k
		}
	}
	return "non-commit object"
}

// readErr maps what browse reports after the revisions resolved: a path
// that is not there, or a request it cannot answer (bad path, pattern).
func readErr(err error, field string) error {
	var ce *core.Error
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.Is(err, gitserver.ErrNotFound):
		return core.NotFound("%s", sentence(err))
	case errors.Is(err, browse.ErrInvalid):
		return core.Invalid(field, strings.TrimSuffix(err.Error(), ": "+browse.ErrInvalid.Error()))
	case errors.Is(err, browse.ErrNoMergeBase):
		return core.Invalidf("The two revisions have no history in common")
	}
	return err
}

// sentence turns a wrapped not-found error into a message: `path "a" at
// 1234...: not found` becomes `Path "a" not found at 1234...`.
func sentence(err error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+gitserver.ErrNotFound.Error())
	if what, at, ok := strings.Cut(msg, " at "); ok {
		msg = what + " not found at " + at
	} else {
		msg += " not found"
	}
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// Short is a commit id as people write it.
func Short(h plumbing.Hash) string { return h.String()[:12] }

// pullRef addresses a pull request.
type pullRef = issues.Ref
