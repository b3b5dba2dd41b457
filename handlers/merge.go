package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
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

var (
	errNotMergeable  = errStatus(http.StatusConflict, "Pull request is not mergeable. Resolve conflicts first.")
	errAlreadyMerged = errStatus(http.StatusConflict, "Pull request is already merged")
	errPullClosed    = errStatus(http.StatusConflict, "Pull request is closed")
	errPullDraft     = errStatus(http.StatusConflict, "Pull request is a draft. Mark it ready for review before merging.")
	errBaseModified  = errStatus(http.StatusConflict, "Base branch was modified. Review and try the merge again.")
	errHeadModified  = errStatus(http.StatusConflict, "Head branch was modified. Review and try the merge again.")
	errRebaseMerges  = errStatus(http.StatusConflict, "This branch can't be rebased: it contains merge commits. Use merge or squash instead.")
)

// mergeResultJSON is the seed's success answer, fields in its order.
type mergeResultJSON struct {
	SHA     string `json:"sha"`
	Merged  bool   `json:"merged"`
	Message string `json:"message"`
}

// mergeRequest is the body of PUT /pulls/:n/merge.
type mergeRequest struct {
	Method  string
	Title   string
	Message string
	SHA     string // optional: the head the caller reviewed
}

// mergePull merges a pull request: write access; the new commit is made
// by gitserver/merge and the base branch moves by compare-and-swap from the
// tip it was computed on, so a push that lands meanwhile is never
// overwritten (the merge is recomputed on the new tip).
func (a *App) mergePull(w http.ResponseWriter, r *http.Request) error {
	repo, _, p, err := a.pullFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	u := who(r).user
	var body struct {
		MergeMethod   opt[string] `json:"merge_method"`
		CommitTitle   opt[string] `json:"commit_title"`
		CommitMessage opt[string] `json:"commit_message"`
		SHA           opt[string] `json:"sha"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	req := mergeRequest{Method: "merge", Title: strings.TrimSpace(body.CommitTitle.V), Message: body.CommitMessage.V,
		SHA: strings.ToLower(strings.TrimSpace(body.SHA.V))}
	v := validation{}
	if body.MergeMethod.Set && !body.MergeMethod.Null && body.MergeMethod.V != "" {
		req.Method = body.MergeMethod.V
	}
	switch req.Method {
	case "merge", "squash", "rebase":
	default:
		v.add("merge_method", `is not included in the list ("merge", "squash", "rebase")`)
	}
	if strings.ContainsAny(req.Title, "\n\r") {
		v.add("commit_title", "must be a single line")
	}
	if req.SHA != "" && !isHexSHA(req.SHA) {
		v.add("sha", "must be a commit SHA")
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := r.Context()
	unlock, err := a.merges.lock(ctx, repo.ID)
	if err != nil {
		return err
	}
	defer unlock()
	// Re-read under the lock: another merge may have finished meanwhile.
	if p, err = a.store.PullByID(ctx, p.ID); err != nil {
		return err
	}
	switch {
	case p.Merged():
		return errAlreadyMerged
	case p.State != "open":
		return errPullClosed
	case p.Draft:
		return errPullDraft
	}
	path := a.repoPath(repo.ID)
	for attempt := 0; attempt < 3; attempt++ {
		tips, err := a.branchTips(ctx, repo)
		if err != nil {
			return err
		}
		head, ok := tips[p.HeadRef]
		if !ok {
			return errStatus(http.StatusConflict, "Head branch %s does not exist", p.HeadRef)
		}
		base, ok := tips[p.BaseRef]
		if !ok {
			return errStatus(http.StatusConflict, "Base branch %s does not exist", p.BaseRef)
		}
		if req.SHA != "" && !strings.HasPrefix(head.String(), req.SHA) {
			return errHeadModified
		}
		tip, err := a.mergeCommit(ctx, repo, p, u, req, head, base)
		if err != nil {
			return err
		}
		if tip != base {
			clear, err := a.journalOne(ctx, repo, u, refUpdate(p.BaseRef, base, tip))
			if err != nil {
				return err
			}
			defer clear()
			err = a.git.UpdateRef(ctx, path, p.BaseRef, base, tip)
			if errors.Is(err, gitserver.ErrRefConflict) {
				continue // the base moved under us: merge again onto its new tip
			}
			if err != nil {
				return err
			}
		}
		// The base has moved: recording the merge must finish even if the
		// client goes away now.
		ctx := context.WithoutCancel(ctx)
		g := p.Git
		if g.HeadSHA != head.String() || g.BaseSHA != base.String() {
			if g, err = a.computePull(ctx, repo, head, base); err != nil {
				return err
			}
		}
		g.Mergeable = true
		if err := a.completeMerge(ctx, repo, p, u, tip.String(), g); err != nil {
			return err
		}
		unlock()
		if tip != base {
			a.afterPush(ctx, repo, u, []gitserver.RefUpdate{refUpdate(p.BaseRef, base, tip)})
		}
		writeJSON(w, http.StatusOK, mergeResultJSON{SHA: tip.String(), Merged: true, Message: "Pull request successfully merged."})
		return nil
	}
	return errBaseModified
}

// mergeCommit computes the commit the base should move to. A head already
// contained in the base needs no new commit: the base tip is returned.
func (a *App) mergeCommit(ctx context.Context, repo *store.Repo, p *store.Pull, u *store.User, req mergeRequest, head, base plumbing.Hash) (plumbing.Hash, error) {
	st, err := a.objects(repo)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer st.Close()
	gs := signatureOf(u)
	sig := merge.Signature{Name: gs.Name, Email: gs.Email, When: gs.When}
	var tip plumbing.Hash
	switch req.Method {
	case "merge":
		title := req.Title
		if title == "" {
			title = fmt.Sprintf("Merge pull request #%d from %s/%s", p.Number, repo.OwnerName, p.HeadRef)
		}
		msg := req.Message
		if msg == "" {
			msg = p.Title
		}
		tip, err = merge.MergeCommit(ctx, st, base, head, sig, sig, commitMessage(title, msg))
	case "squash":
		title := req.Title
		if title == "" {
			title = fmt.Sprintf("%s (#%d)", p.Title, p.Number)
		}
		msg := req.Message
		if msg == "" {
			if msg, err = squashSummary(ctx, st, base, head); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		tip, err = merge.Squash(ctx, st, base, head, sig, sig, commitMessage(title, msg))
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
		return plumbing.ZeroHash, errNotMergeable
	case errors.Is(err, merge.ErrMergeCommitInRange):
		return plumbing.ZeroHash, errRebaseMerges
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
func squashSummary(ctx context.Context, st *objectStore, base, head plumbing.Hash) (string, error) {
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
func (a *App) completeMerge(ctx context.Context, repo *store.Repo, p *store.Pull, by *store.User, sha string, g store.PullGit) error {
	return a.store.Tx(ctx, func(tx *store.Store) error {
		var byID int64
		if by != nil {
			byID = by.ID
		}
		merged, err := tx.MarkPullMerged(ctx, p.ID, byID, sha, g)
		if err != nil {
			return err
		}
		if err := a.emitPull(ctx, tx, repo, by, "merged", merged, nil); err != nil {
			return err
		}
		if merged.Body == nil {
			return nil
		}
		closed := "closed"
		for _, n := range closingRefs(*merged.Body) {
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
			if err := a.emitIssue(ctx, tx, repo, by, "closed", issue, map[string]any{"closed_by_pull_request": merged.Number}); err != nil {
				return err
			}
		}
		return nil
	})
}

// closingKeyword matches GitHub's closing keywords followed by an issue
// reference in the same repository: "Closes #16", "fixed: #3".
var closingKeyword = regexp.MustCompile(`(?i)\b(?:close|closes|closed|fix|fixes|fixed|resolve|resolves|resolved)\b\s*:?\s*#([0-9]+)\b`)

// closingRefs returns the issue numbers a pull request body closes, once
// each, in order of appearance.
func closingRefs(body string) []int64 {
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
