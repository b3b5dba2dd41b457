package repos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/store"
)

// BranchNotFound is the answer for a branch the repository does not have.
func BranchNotFound(repo *store.Repo, branch string) error {
	return core.NotFound("Branch %s not found", branch)
}

// Branch is a branch with its tip commit and what its protection
// requires.
type Branch struct {
	Name       string
	SHA        string
	Protected  bool
	Protection store.Protection
	Commit     CommitInfo
}

// CommitInfo is the brief commit shown with a branch. Author is the
// Tapioca username whose email matches the commit's author email (as the
// seed's example shows a username), else the name in the commit.
type CommitInfo struct {
	SHA         string
	Message     string
	Author      string
	CommittedAt time.Time
}

// BranchRef is a branch in a list: name, tip and protection.
type BranchRef struct {
	Name      string
	SHA       string
	Protected bool
}

// Branches lists a repository's branches.
func (s *Service) Branches(ctx context.Context, a core.Actor, owner, name string, p core.Page) ([]BranchRef, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	branches, err := s.env.Git.Branches(ctx, s.env.RepoPath(repo.ID))
	if err != nil {
		return nil, 0, err
	}
	protected, err := s.env.Store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return nil, 0, err
	}
	all := make([]BranchRef, 0, len(branches))
	for _, b := range branches {
		all = append(all, BranchRef{Name: b.Name, SHA: b.Hash.String(), Protected: protected[b.Name]})
	}
	page, total := core.Slice(all, p)
	return page, total, nil
}

func (s *Service) branch(ctx context.Context, repo *store.Repo, name string, tip plumbing.Hash) (*Branch, error) {
	protected, err := s.env.Store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	st, err := s.env.Objects(repo)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c, err := object.GetCommit(st, tip)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", tip, err)
	}
	author, err := s.env.AuthorName(ctx, c.Author.Name, c.Author.Email)
	if err != nil {
		return nil, err
	}
	prot, _, err := s.env.Store.BranchProtection(ctx, repo.ID, name)
	if err != nil {
		return nil, err
	}
	return &Branch{Name: name, SHA: tip.String(), Protected: protected[name], Protection: prot, Commit: CommitInfo{
		SHA: tip.String(), Message: strings.TrimRight(c.Message, "\n"), Author: author,
		CommittedAt: c.Committer.When.UTC(),
	}}, nil
}

// BranchCreation is a branch to make.
type BranchCreation struct {
	Name core.Opt[string] `json:"name" api:"required" doc:"The new branch's name"`
	SHA  core.Opt[string] `json:"sha" api:"required" doc:"The commit it starts at: a full or abbreviated (4+ hex digits) SHA"`
}

// CreateBranch makes a branch at a commit given by full or abbreviated
// sha: write access.
func (s *Service) CreateBranch(ctx context.Context, a core.Actor, owner, name, branch, sha string) (*Branch, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermWrite)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	branch = strings.TrimPrefix(branch, "refs/heads/")
	switch {
	case branch == "":
		v.Add("name", "can't be blank")
	case !store.ValidBranchName(branch):
		v.Add("name", "is not a valid branch name")
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	switch {
	case sha == "":
		v.Add("sha", "can't be blank")
	case !core.IsHexSHA(sha):
		v.Add("sha", "must be a commit SHA (4 to 40 hexadecimal digits)")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	path := s.env.RepoPath(repo.ID)
	tips, err := s.env.BranchTips(ctx, repo)
	if err != nil {
		return nil, err
	}
	if _, ok := tips[branch]; ok {
		v.Add("name", "already exists")
	}
	for other := range tips {
		if strings.HasPrefix(branch, other+"/") || strings.HasPrefix(other, branch+"/") {
			v.Add("name", fmt.Sprintf("conflicts with the existing branch %q", other))
			break
		}
	}
	h, err := s.env.Git.ResolveRef(ctx, path, sha)
	switch {
	case errors.Is(err, gitserver.ErrNotFound):
		v.Add("sha", "does not match any commit in the repository")
	case errors.Is(err, gitserver.ErrAmbiguous):
		v.Add("sha", "is ambiguous: give more digits")
	case err != nil:
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	u := core.BranchUpdate(branch, plumbing.ZeroHash, h)
	done, err := s.Refs.Begin(ctx, repo, a.User, u)
	if err != nil {
		return nil, err
	}
	defer done()
	err = s.env.Git.UpdateRef(ctx, path, branch, plumbing.ZeroHash, h)
	switch {
	case errors.Is(err, gitserver.ErrRefConflict):
		return nil, core.Invalid("name", "already exists")
	case errors.Is(err, gitserver.ErrInvalidName):
		return nil, core.Invalid("sha", "is not a commit")
	case err != nil:
		return nil, err
	}
	s.Refs.Record(ctx, repo, a.User, []gitserver.RefUpdate{u})
	return s.branch(ctx, repo, branch, h)
}

// branchAccess loads a branch and its tip with the actor's permission
// check.
func (s *Service) branchAccess(ctx context.Context, a core.Actor, owner, name, branch string, need store.Perm) (*store.Repo, plumbing.Hash, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, need)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	tip, ok, err := s.env.BranchTip(ctx, repo, branch)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	if !ok {
		return nil, plumbing.ZeroHash, BranchNotFound(repo, branch)
	}
	return repo, tip, nil
}

// Branch is one branch with its tip commit.
func (s *Service) Branch(ctx context.Context, a core.Actor, owner, name, branch string) (*Branch, error) {
	repo, tip, err := s.branchAccess(ctx, a, owner, name, branch, store.PermRead)
	if err != nil {
		return nil, err
	}
	return s.branch(ctx, repo, branch, tip)
}

// ProtectionInput changes a branch's protection; absent fields stay as
// they are.
type ProtectionInput struct {
	Protected            core.Opt[bool]     `json:"protected" doc:"Refuse force-pushes and deletion of the branch"`
	RequiredStatusChecks core.Opt[[]string] `json:"required_status_checks" doc:"Status contexts that must have succeeded on a commit pushed to the branch, and on a pull request's head before it merges (protects the branch)"`
	RequiredApprovals    core.Opt[int]      `json:"required_approvals" doc:"Approving reviews from users with write access a pull request needs before it merges; above 0, changes reach the branch only through pull requests (protects the branch)"`
}

// SetProtection turns protection on or off and sets what it requires:
// repository admins only. Requirements protect the branch; turning
// protection off drops them.
func (s *Service) SetProtection(ctx context.Context, a core.Actor, owner, name, branch string, in ProtectionInput) (*Branch, error) {
	repo, tip, err := s.branchAccess(ctx, a, owner, name, branch, store.PermAdmin)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	requirements := in.RequiredStatusChecks.Set || in.RequiredApprovals.Set
	switch {
	case in.Protected.Set && in.Protected.Null:
		v.Add("protected", "must be true or false")
	case !in.Protected.Set && !requirements:
		v.Add("protected", "must be true or false")
	case in.Protected.Set && !in.Protected.V && requirements:
		v.Add("protected", "must be true when requirements are given")
	}
	prot, _, err := s.env.Store.BranchProtection(ctx, repo.ID, branch)
	if err != nil {
		return nil, err
	}
	if in.RequiredStatusChecks.Set {
		prot.RequiredContexts = []string{}
		seen := map[string]bool{}
		for _, c := range in.RequiredStatusChecks.V {
			c = strings.TrimSpace(c)
			switch {
			case c == "":
				v.Add("required_status_checks", "can't contain a blank context")
			case core.LineProblem(c) != "" || len(c) > 255:
				v.Add("required_status_checks", fmt.Sprintf("context %q is not a valid context name", c))
			case !seen[c]:
				seen[c] = true
				prot.RequiredContexts = append(prot.RequiredContexts, c)
			}
		}
	}
	if in.RequiredApprovals.Set {
		switch n := in.RequiredApprovals.V; {
		case in.RequiredApprovals.Null || n < 0 || n > 10:
			v.Add("required_approvals", "must be a number from 0 to 10")
		default:
			prot.RequiredApprovals = n
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.Protected.Set && !in.Protected.V {
		err = s.env.Store.SetBranchProtected(ctx, repo.ID, branch, false)
	} else {
		err = s.env.Store.SetBranchRequirements(ctx, repo.ID, prot)
	}
	if err != nil {
		return nil, err
	}
	return s.branch(ctx, repo, branch, tip)
}

// DeleteBranch removes a branch: write access; never the default branch
// or a protected one (as over git).
func (s *Service) DeleteBranch(ctx context.Context, a core.Actor, owner, name, branch string) error {
	repo, tip, err := s.branchAccess(ctx, a, owner, name, branch, store.PermWrite)
	if err != nil {
		return err
	}
	if branch == repo.DefaultBranch {
		return core.Invalidf("Branch %s is the default branch: it cannot be deleted", branch)
	}
	protected, err := s.env.Store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return err
	}
	if protected[branch] {
		return core.Invalidf("Branch %s is protected: it cannot be deleted", branch)
	}
	u := core.BranchUpdate(branch, tip, plumbing.ZeroHash)
	done, err := s.Refs.Begin(ctx, repo, a.User, u)
	if err != nil {
		return err
	}
	defer done()
	err = s.env.Git.UpdateRef(ctx, s.env.RepoPath(repo.ID), branch, tip, plumbing.ZeroHash)
	if errors.Is(err, gitserver.ErrRefConflict) {
		return core.Conflict("Branch %s moved while it was being deleted; try again", branch)
	}
	if err != nil {
		return err
	}
	s.Refs.Record(ctx, repo, a.User, []gitserver.RefUpdate{u})
	return nil
}
