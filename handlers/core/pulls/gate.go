package pulls

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver/diffstat"
	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/core/text"
	"tapioca/store"
)

// The values of a pull request's mergeable_state, as GitHub names them.
const (
	StateClean    = "clean"    // nothing stands in the way
	StateBlocked  = "blocked"  // a failing status, requested changes or an unmet branch requirement
	StateDirty    = "dirty"    // the branches conflict (or share no history)
	StateBehind   = "behind"   // the base has commits the head lacks (mergeable all the same)
	StateUnstable = "unstable" // a status is still pending (mergeable all the same)
	StateDraft    = "draft"    // a draft is not merged
	StateUnknown  = "unknown"  // closed or merged: nothing to decide
)

// Gate is what stands between an open pull request and its merge.
type Gate struct {
	State string
	// Blockers say why the state is blocked; a merge is refused with them.
	Blockers []string
}

// Gate works out a pull request's mergeable_state from its git facts,
// the statuses of its head commit, its reviews and what a protected base
// branch requires.
func (s *Service) Gate(ctx context.Context, a core.Actor, ref issues.Ref) (*store.Pull, Gate, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, Gate{}, err
	}
	if err := s.Fresh(ctx, repo, []*store.Pull{p}); err != nil {
		return nil, Gate{}, err
	}
	g, err := s.gate(ctx, repo, p)
	return p, g, err
}

func (s *Service) gate(ctx context.Context, repo *store.Repo, p *store.Pull) (Gate, error) {
	switch {
	case p.State != "open":
		return Gate{State: StateUnknown}, nil
	case p.Draft:
		return Gate{State: StateDraft}, nil
	case !p.Git.Mergeable:
		return Gate{State: StateDirty}, nil
	}
	head := plumbing.NewHash(p.Git.HeadSHA)
	blockers, pending, err := s.blockers(ctx, repo, p, head)
	if err != nil {
		return Gate{}, err
	}
	if len(blockers) > 0 {
		return Gate{State: StateBlocked, Blockers: blockers}, nil
	}
	st, err := s.env.Objects(repo)
	if err != nil {
		return Gate{}, err
	}
	defer st.Close()
	behind, err := diffstat.CountCommits(ctx, st, head, plumbing.NewHash(p.Git.BaseSHA))
	if err != nil {
		return Gate{}, err
	}
	switch {
	case behind > 0:
		return Gate{State: StateBehind}, nil
	case pending:
		return Gate{State: StateUnstable}, nil
	}
	return Gate{State: StateClean}, nil
}

// blockers lists what forbids merging p with head as its head commit:
// failing statuses on head, changes requested by a reviewer with write
// access (their latest approving or requesting review counts), and the
// base branch's protection (required contexts that have not succeeded on
// head, too few approvals from writers other than the author). pending
// reports a status still running.
func (s *Service) blockers(ctx context.Context, repo *store.Repo, p *store.Pull, head plumbing.Hash) (out []string, pending bool, err error) {
	latest, err := s.env.Store.LatestStatuses(ctx, repo.ID, head.String())
	if err != nil {
		return nil, false, err
	}
	for _, st := range latest {
		switch st.State {
		case statuses.Failure, statuses.Error:
			out = append(out, fmt.Sprintf("status check %q is %s", st.Context, st.State))
		case statuses.Pending:
			pending = true
		}
	}
	prot, protected, err := s.env.Store.BranchProtection(ctx, repo.ID, p.BaseRef)
	if err != nil {
		return nil, false, err
	}
	if protected {
		for _, u := range statuses.Unmet(prot.RequiredContexts, latest) {
			if !strings.HasSuffix(u, " is failure") && !strings.HasSuffix(u, " is error") {
				out = append(out, u) // failures are listed above already
			}
		}
	}
	reviews, _, err := s.env.Store.ListReviews(ctx, p.ID, 0, 0)
	if err != nil {
		return nil, false, err
	}
	verdicts := map[int64]*store.Review{}
	var order []int64
	for _, rv := range reviews {
		if rv.State == store.ReviewCommented || rv.Author.ID == 0 {
			continue // a comment changes no verdict; a deleted account has none
		}
		if _, ok := verdicts[rv.Author.ID]; !ok {
			order = append(order, rv.Author.ID)
		}
		verdicts[rv.Author.ID] = rv
	}
	approvals := 0
	for _, id := range order {
		rv := verdicts[id]
		writer, err := s.canWrite(ctx, repo, id)
		if err != nil {
			return nil, false, err
		}
		if !writer {
			continue
		}
		switch {
		case rv.State == store.ReviewChangesRequested:
			out = append(out, "changes requested by "+rv.Author.Username)
		case rv.State == store.ReviewApproved && id != p.Author.ID:
			approvals++
		}
	}
	if protected && approvals < prot.RequiredApprovals {
		out = append(out, fmt.Sprintf("%d approving %s required by the protection of %s, %d given", prot.RequiredApprovals,
			text.Plural(prot.RequiredApprovals, "review", "reviews"), p.BaseRef, approvals))
	}
	return out, pending, nil
}

func (s *Service) canWrite(ctx context.Context, repo *store.Repo, userID int64) (bool, error) {
	u, err := s.env.Store.UserByID(ctx, userID)
	if core.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	perm, err := s.env.Store.RepoPerm(ctx, u, repo)
	return perm >= store.PermWrite, err
}
