package pulls

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/store"
)

// keyedLocks serializes work per key (merges per repository). The
// gitserver repository lock cannot be held across a merge, because
// UpdateRef takes it itself; this one makes "check the pull request is
// open, merge, move the ref, record it" one step per repository, so two
// merge requests never both pass the check.
type keyedLocks struct {
	mu sync.Mutex
	m  map[int64]*keyedLock
}

type keyedLock struct {
	ch   chan struct{} // capacity 1: holding the token is holding the lock
	refs int
}

func (k *keyedLocks) lock(ctx context.Context, key int64) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[int64]*keyedLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("waiting for merge lock: %w", ctx.Err())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.ch
			release()
		})
	}, nil
}

// The refusals of a merge.
var (
	ErrNotMergeable  = core.Conflict("Pull request is not mergeable. Resolve conflicts first.")
	ErrAlreadyMerged = core.Conflict("Pull request is already merged")
	ErrPullClosed    = core.Conflict("Pull request is closed")
	ErrPullDraft     = core.Conflict("Pull request is a draft. Mark it ready for review before merging.")
	ErrBaseModified  = core.Conflict("Base branch was modified. Review and try the merge again.")
	ErrHeadModified  = core.Conflict("Head branch was modified. Review and try the merge again.")
	ErrRebaseMerges  = core.Conflict("This branch can't be rebased: it contains merge commits. Use merge or squash instead.")
)

// MergeInput is how to merge.
type MergeInput struct {
	Method  core.Opt[string] `json:"merge_method" enum:"merge,squash,rebase" doc:"merge (default: a merge commit), squash (one commit) or rebase"`
	Title   string           `json:"commit_title" doc:"The merge or squash commit's title (a default when empty)"`
	Message string           `json:"commit_message" doc:"The commit's body (a default when empty)"`
	SHA     string           `json:"sha" doc:"The head commit the caller reviewed: 409 if the head moved since"`
}

// Merge merges a pull request: write access, and nothing may block it
// (see Gate: failing statuses, requested changes, the base branch's
// protection). The new commit is made by
// gitserver/merge and the base branch moves by compare-and-swap from the
// tip it was computed on, so a push that lands meanwhile is never
// overwritten (the merge is recomputed on the new tip). It returns the
// commit the base now points to.
func (s *Service) Merge(ctx context.Context, a core.Actor, ref issues.Ref, in MergeInput) (plumbing.Hash, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	u := a.User
	method := "merge"
	if in.Method.Given() && in.Method.V != "" {
		method = in.Method.V
	}
	title := strings.TrimSpace(in.Title)
	sha := strings.ToLower(strings.TrimSpace(in.SHA))
	v := core.Validation{}
	switch method {
	case "merge", "squash", "rebase":
	default:
		v.Add("merge_method", `is not included in the list ("merge", "squash", "rebase")`)
	}
	core.CheckLine(v, "commit_title", title)
	core.CheckText(v, "commit_message", in.Message)
	if sha != "" && !core.IsHexSHA(sha) {
		v.Add("sha", "must be a commit SHA")
	}
	if err := v.Err(); err != nil {
		return plumbing.ZeroHash, err
	}
	unlock, err := s.merges.lock(ctx, repo.ID)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer unlock()
	// Re-read under the lock: another merge may have finished meanwhile.
	if p, err = s.env.Store.PullByID(ctx, p.ID); err != nil {
		return plumbing.ZeroHash, err
	}
	switch {
	case p.Merged():
		return plumbing.ZeroHash, ErrAlreadyMerged
	case p.State != "open":
		return plumbing.ZeroHash, ErrPullClosed
	case p.Draft:
		return plumbing.ZeroHash, ErrPullDraft
	}
	path := s.env.RepoPath(repo.ID)
	for attempt := 0; attempt < 3; attempt++ {
		tips, err := s.env.BranchTips(ctx, repo)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		head, ok := tips[p.HeadRef]
		if !ok {
			return plumbing.ZeroHash, core.Conflict("Head branch %s does not exist", p.HeadRef)
		}
		base, ok := tips[p.BaseRef]
		if !ok {
			return plumbing.ZeroHash, core.Conflict("Base branch %s does not exist", p.BaseRef)
		}
		if sha != "" && !strings.HasPrefix(head.String(), sha) {
			return plumbing.ZeroHash, ErrHeadModified
		}
		// Judged on the head about to be merged: a status that passed on
		// an earlier head says nothing about this one.
		blockers, _, err := s.blockers(ctx, repo, p, head)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(blockers) > 0 {
			return plumbing.ZeroHash, core.Conflict("Pull request is blocked: %s.", strings.Join(blockers, "; "))
		}
		tip, err := s.mergeCommit(ctx, repo, p, u, method, title, in.Message, head, base)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		update := core.BranchUpdate(p.BaseRef, base, tip)
		if tip != base {
			done, err := s.Refs.BeginMerge(ctx, repo, u, p.ID, update)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			defer done()
			err = s.env.Git.UpdateRef(ctx, path, p.BaseRef, base, tip)
			if errors.Is(err, gitserver.ErrRefConflict) {
				continue // the base moved under us: merge again onto its new tip
			}
			if err != nil {
				return plumbing.ZeroHash, err
			}
			s.env.CrashPoint("merge-ref-moved")
		}
		// The base has moved: recording the merge must finish even if the
		// client goes away now.
		ctx := context.WithoutCancel(ctx)
		g := p.Git
		if g.HeadSHA != head.String() || g.BaseSHA != base.String() {
			if g, err = s.Facts(ctx, repo, head, base); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		g.Mergeable = true
		if err := s.completeMerge(ctx, repo, p, u, tip.String(), g); err != nil {
			return plumbing.ZeroHash, err
		}
		unlock()
		if tip != base {
			s.Refs.Record(ctx, repo, u, []gitserver.RefUpdate{update})
		}
		return tip, nil
	}
	return plumbing.ZeroHash, ErrBaseModified
}

// FinishMerge records a merge whose base move reached the disk while
// the process stopped before recording it (found in the ref journal at
// start-up): the pull request becomes merged into newBase, with the
// events and closed issues of a merge. A pull request no longer open is
// left alone.
func (s *Service) FinishMerge(ctx context.Context, repo *store.Repo, pullID int64, by *store.User, oldBase, newBase plumbing.Hash) error {
	p, err := s.env.Store.PullByID(ctx, pullID)
	if err != nil || p.State != "open" {
		return err
	}
	g := p.Git
	if head, ok, err := s.env.BranchTip(ctx, repo, p.HeadRef); err == nil && ok && !oldBase.IsZero() {
		if fresh, err := s.Facts(ctx, repo, head, oldBase); err == nil {
			g = fresh
		}
	}
	g.Mergeable = true
	err = s.completeMerge(ctx, repo, p, by, newBase.String(), g)
	if errors.Is(err, store.ErrPullNotOpen) {
		return nil
	}
	return err
}

// mergeCommit computes the commit the base should move to. A head already
// contained in the base needs no new commit: the base tip is returned.
func (s *Service) mergeCommit(ctx context.Context, repo *store.Repo, p *store.Pull, u *store.User, method, title, message string, head, base plumbing.Hash) (plumbing.Hash, error) {
	st, err := s.env.Objects(repo)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer st.Close()
	gs := core.Signature(u)
	sig := merge.Signature{Name: gs.Name, Email: gs.Email, When: gs.When}
	var tip plumbing.Hash
	switch method {
	case "merge":
		if title == "" {
			title = fmt.Sprintf("Merge pull request #%d from %s/%s", p.Number, repo.OwnerName, p.HeadRef)
		}
		if message == "" {
			message = p.Title
		}
		tip, err = merge.MergeCommit(ctx, st, base, head, sig, sig, commitMessage(title, message))
	case "squash":
		if title == "" {
			title = fmt.Sprintf("%s (#%d)", p.Title, p.Number)
		}
		if message == "" {
			if message, err = squashSummary(ctx, st, base, head); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		tip, err = merge.Squash(ctx, st, base, head, sig, sig, commitMessage(title, message))
	case "rebase":
		tip, err = merge.Rebase(ctx, st, base, head, sig)
	}
	var conflict *merge.ErrConflict
	switch {
	case err == nil:
		return tip, nil
	case errors.Is(err, merge.ErrUpToDate):
		return base, nil
	case errors.As(err, &conflict), errors.Is(err, merge.ErrNoMergeBase):
		return plumbing.ZeroHash, ErrNotMergeable
	case errors.Is(err, merge.ErrMergeCommitInRange):
		return plumbing.ZeroHash, ErrRebaseMerges
	}
	return plumbing.ZeroHash, err
}

// commitMessage joins a title and an optional body as git does.
func commitMessage(title, body string) string {
	body = strings.TrimSpace(body)
	if body == "" {
		return title + "\n"
	}
	return title + "\n\n" + body + "\n"
}

// squashSummary lists the subjects of the commits being squashed, oldest
// first, as GitHub's default squash message does: every commit in
// base..head, including ones that came in through merges (an "update
// branch" merge of the base brings none of the base's own commits).
func squashSummary(ctx context.Context, st *core.Objects, base, head plumbing.Hash) (string, error) {
	cs, err := diffstat.Commits(ctx, st, base, head)
	if err != nil {
		return "", fmt.Errorf("squash summary: %w", err)
	}
	if len(cs) < 2 {
		return "", nil // the title says it all
	}
	const maxLines = 250
	var lines []string
	for _, c := range cs[max(0, len(cs)-maxLines):] {
		subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		lines = append(lines, "* "+subject)
	}
	return strings.Join(lines, "\n"), nil
}

// completeMerge records a merge whose commit is already in the base: the
// pull request becomes merged, the issues its body closes are closed, and
// the events are recorded, all in one transaction.
func (s *Service) completeMerge(ctx context.Context, repo *store.Repo, p *store.Pull, by *store.User, sha string, g store.PullGit) error {
	return s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var byID int64
		if by != nil {
			byID = by.ID
		}
		merged, err := tx.MarkPullMerged(ctx, p.ID, byID, sha, g)
		if err != nil {
			return err
		}
		if err := s.events.Pull(ctx, tx, repo, by, "merged", merged, nil); err != nil {
			return err
		}
		if merged.Body == nil {
			return nil
		}
		closed := "closed"
		for _, n := range ClosingRefs(*merged.Body) {
			issue, err := tx.IssueByNumber(ctx, repo.ID, n, false)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if issue.State != "open" {
				continue
			}
			if issue, err = tx.UpdateIssue(ctx, issue.ID, store.IssueUpdate{State: &closed}); err != nil {
				return err
			}
			if err := s.events.Issue(ctx, tx, repo, by, "closed", issue, map[string]any{"closed_by_pull_request": merged.Number}); err != nil {
				return err
			}
		}
		return nil
	})
}

// closingKeyword matches GitHub's closing keywords followed by an issue
// reference in the same repository: "Closes #16", "fixed: #3".
var closingKeyword = regexp.MustCompile(`(?i)\b(?:close|closes|closed|fix|fixes|fixed|resolve|resolves|resolved)\b\s*:?\s*#([0-9]+)\b`)

// ClosingRefs returns the issue numbers a pull request body closes, once
// each, in order of appearance.
func ClosingRefs(body string) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, m := range closingKeyword.FindAllStringSubmatch(body, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n < 1 || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}
