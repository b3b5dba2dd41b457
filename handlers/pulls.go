package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
	"tapioca/store"
)

// routesPulls registers branches, pull requests, reviews, merges and
// archives.
func (a *App) routesPulls() {
	a.routesBranches()
	const pr = "/api/v1/repos/{owner}/{repo}/pulls"
	a.api("GET "+pr, areaRepo, a.listPulls)
	a.api("POST "+pr, areaRepo, a.createPull)
	a.api("GET "+pr+"/{number}", areaRepo, a.getPull)
	a.api("PATCH "+pr+"/{number}", areaRepo, a.updatePull)
	a.api("PUT "+pr+"/{number}/merge", areaRepo, a.mergePull)
	a.api("GET "+pr+"/{number}/comments", areaRepo, a.listComments(true))
	a.api("POST "+pr+"/{number}/comments", areaRepo, a.createComment(true))
	a.api("POST "+pr+"/{number}/labels", areaRepo, a.addLabels(true))
	a.api("DELETE "+pr+"/{number}/labels/{name...}", areaRepo, a.removeLabel(true))
	a.api("POST "+pr+"/{number}/assignees", areaRepo, a.addAssignees(true))
	a.api("DELETE "+pr+"/{number}/assignees", areaRepo, a.removeAssignees(true))
	a.routesReviews()
	a.api("GET /api/v1/repos/{owner}/{repo}/archive/{ref...}", areaRepo, a.getArchive)
}

// --- shape ---

type pullRefJSON struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type pullJSON struct {
	ID                  int64            `json:"id"`
	Number              int64            `json:"number"`
	Title               string           `json:"title"`
	Body                *string          `json:"body"`
	State               string           `json:"state"`
	Merged              bool             `json:"merged"`
	Draft               bool             `json:"draft"`
	Head                pullRefJSON      `json:"head"`
	Base                pullRefJSON      `json:"base"`
	Author              userBriefJSON    `json:"author"`
	Assignees           []userBriefJSON  `json:"assignees"`
	Labels              []labelBriefJSON `json:"labels"`
	RequestedReviewers  []userBriefJSON  `json:"requested_reviewers"`
	CommentsCount       int              `json:"comments_count"`
	ReviewCommentsCount int              `json:"review_comments_count"`
	CommitsCount        int              `json:"commits_count"`
	Additions           int              `json:"additions"`
	Deletions           int              `json:"deletions"`
	ChangedFiles        int              `json:"changed_files"`
	CreatedAt           string           `json:"created_at"`
	UpdatedAt           string           `json:"updated_at"`
	ClosedAt            *string          `json:"closed_at"`
	MergedAt            *string          `json:"merged_at"`
	Mergeable           bool             `json:"mergeable"`
	MergedBy            *userBriefJSON   `json:"merged_by"`
	MergeCommitSHA      *string          `json:"merge_commit_sha"`
}

func pullOut(p *store.Pull) pullJSON {
	out := pullJSON{
		ID: p.ID, Number: p.Number, Title: p.Title, Body: p.Body, State: p.State, Merged: p.Merged(), Draft: p.Draft,
		Head:   pullRefJSON{Ref: p.HeadRef, SHA: p.Git.HeadSHA},
		Base:   pullRefJSON{Ref: p.BaseRef, SHA: p.Git.BaseSHA},
		Author: refBrief(p.Author), Assignees: refsBrief(p.Assignees), Labels: labelsBrief(p.Labels),
		RequestedReviewers: refsBrief(p.RequestedReviewers),
		CommentsCount:      p.CommentsCount, ReviewCommentsCount: p.ReviewCommentsCount,
		CommitsCount: p.Git.Commits, Additions: p.Git.Additions, Deletions: p.Git.Deletions, ChangedFiles: p.Git.ChangedFiles,
		CreatedAt: timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt), ClosedAt: timePtrJSON(p.ClosedAt),
		MergedAt: timePtrJSON(p.MergedAt),
		// A merged pull request cannot be merged again.
		Mergeable:      p.Git.Mergeable && !p.Merged(),
		MergeCommitSHA: p.MergeCommitSHA,
	}
	if p.MergedBy != nil {
		b := refBrief(*p.MergedBy)
		out.MergedBy = &b
	}
	return out
}

// emitPullAction sends a pull_request event; the pull request is read
// through tx so the payload shows the change being committed. It serves
// the shared issue machinery (labels, assignees) as well as pulls.
func (a *App) emitPullAction(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	p, err := tx.PullByID(ctx, i.ID)
	if err != nil {
		return err
	}
	return a.emitPull(ctx, tx, repo, sender, action, p, extra)
}

// emitPull sends a pull_request event for p, which the caller has just
// read or written through tx.
func (a *App) emitPull(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, p *store.Pull, extra map[string]any) error {
	payload := map[string]any{"number": p.Number, "pull_request": pullOut(p)}
	for k, v := range extra {
		payload[k] = v
	}
	return a.emit(ctx, tx, event{Name: "pull_request", Action: action, Repo: repo, Sender: sender, Payload: payload})
}

// pullFor loads /pulls/{number} with the caller's permission check.
func (a *App) pullFor(r *http.Request, need store.Perm) (*store.Repo, store.Perm, *store.Pull, error) {
	repo, perm, i, err := a.issueFor(r, need, true)
	if err != nil {
		return nil, perm, nil, err
	}
	p, err := a.store.PullOf(r.Context(), i)
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, p, nil
}

// --- git facts ---

// computePull works out what merging head into base would do: the
// statistics of `git diff --numstat base...head` and `git rev-list --count
// base..head`, and whether the merge is clean. For branches without common
// history it returns what it could (the commit count, not mergeable) with
// merge.ErrNoMergeBase.
func (a *App) computePull(ctx context.Context, repo *store.Repo, head, base plumbing.Hash) (store.PullGit, error) {
	g := store.PullGit{HeadSHA: head.String(), BaseSHA: base.String()}
	st, err := a.objects(repo)
	if err != nil {
		return g, err
	}
	defer st.Close()
	stats, err := diffstat.Compute(ctx, st, base, head)
	if errors.Is(err, merge.ErrNoMergeBase) {
		n, cerr := diffstat.CountCommits(ctx, st, base, head)
		if cerr != nil {
			return g, cerr
		}
		g.Commits = n
		return g, err
	}
	if err != nil {
		return g, err
	}
	g.Commits, g.Additions, g.Deletions, g.ChangedFiles = stats.Commits, stats.Additions, stats.Deletions, stats.ChangedFiles
	if g.Mergeable, err = merge.Mergeable(ctx, st, base, head); err != nil {
		return g, err
	}
	return g, nil
}

// freshPulls brings open pull requests up to date with their branches
// where the stored facts were computed for other tips (a push whose sync
// has not run yet, or was lost in a crash), so mergeable and the counts
// are never stale or unknown. Closed and merged ones keep their frozen
// facts; so do open ones whose branch is gone (the sync closes those).
func (a *App) freshPulls(ctx context.Context, repo *store.Repo, pulls []*store.Pull) error {
	var tips map[string]plumbing.Hash
	for k, p := range pulls {
		if p.State != "open" {
			continue
		}
		if tips == nil {
			var err error
			if tips, err = a.branchTips(ctx, repo); err != nil {
				return err
			}
		}
		head, hok := tips[p.HeadRef]
		base, bok := tips[p.BaseRef]
		if !hok || !bok || (head.String() == p.Git.HeadSHA && base.String() == p.Git.BaseSHA) {
			continue
		}
		g, err := a.computePull(ctx, repo, head, base)
		if err != nil && !errors.Is(err, merge.ErrNoMergeBase) {
			return err
		}
		if _, err := a.store.UpdatePullGit(ctx, p.ID, p.Git.HeadSHA, p.Git.BaseSHA, g, head.String() != p.Git.HeadSHA); err != nil {
			return err
		}
		// Whoever won the race stored facts for these tips or newer ones.
		if pulls[k], err = a.store.PullByID(ctx, p.ID); err != nil {
			return err
		}
	}
	return nil
}

// errPullMoved makes a sync transaction roll back and try again because
// another writer updated the pull request's facts meanwhile.
var errPullMoved = errors.New("pull request facts changed meanwhile")

// syncPulls updates open pull requests whose head or base branch moved in
// a push (new head sha, counts, mergeable, updated_at), emits synchronize
// for head moves, closes those whose branch was deleted, and marks merged
// those whose head the push brought into their base (a merge done with
// git and pushed, as GitHub detects). It runs after the refs moved and
// must not fail the push: problems are logged.
func (a *App) syncPulls(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	ctx = context.WithoutCancel(ctx)
	for _, u := range updates {
		branch, ok := strings.CutPrefix(u.Name, "refs/heads/")
		if !ok {
			continue
		}
		pulls, _, err := a.store.ListPulls(ctx, store.PullList{
			IssueList: store.IssueList{RepoID: repo.ID, States: []string{"open"}, Sort: "created", Asc: true},
			Branch:    branch,
		})
		if err != nil {
			a.log.WarnContext(ctx, "pull requests of pushed branch", "repo", repo.ID, "branch", branch, "err", err)
			continue
		}
		for _, p := range pulls {
			if err := a.syncPull(ctx, repo, pusher, p, branch, u); err != nil {
				a.log.WarnContext(ctx, "sync pull request", "repo", repo.ID, "number", p.Number, "err", err)
			}
		}
	}
}

func (a *App) syncPull(ctx context.Context, repo *store.Repo, pusher *store.User, p *store.Pull, branch string, u gitserver.RefUpdate) error {
	if u.New.IsZero() {
		// A pull request cannot outlive its branches (GitHub closes it too);
		// it can be reopened once the branch is back.
		closed := "closed"
		return a.store.Tx(ctx, func(tx *store.Store) error {
			// Re-read in the transaction: a merge may have finished since
			// the list was taken, and a merged pull request stays merged.
			if cur, err := tx.PullByID(ctx, p.ID); err != nil || cur.State != "open" {
				return err
			}
			updated, err := tx.UpdatePull(ctx, p.ID, store.PullUpdate{IssueUpdate: store.IssueUpdate{State: &closed}})
			if err != nil {
				return err
			}
			return a.emitPull(ctx, tx, repo, pusher, "closed", updated, map[string]any{"reason": "branch " + branch + " was deleted"})
		})
	}
	isHead := branch == p.HeadRef
	for attempt := 0; ; attempt++ {
		tips, err := a.branchTips(ctx, repo)
		if err != nil {
			return err
		}
		head, hok := tips[p.HeadRef]
		base, bok := tips[p.BaseRef]
		if !hok || !bok {
			return nil
		}
		var g *store.PullGit
		if head.String() != p.Git.HeadSHA || base.String() != p.Git.BaseSHA {
			fresh, err := a.computePull(ctx, repo, head, base)
			if err != nil && !errors.Is(err, merge.ErrNoMergeBase) {
				return err
			}
			g = &fresh
		}
		err = a.store.Tx(ctx, func(tx *store.Store) error {
			if g != nil {
				ok, err := tx.UpdatePullGit(ctx, p.ID, p.Git.HeadSHA, p.Git.BaseSHA, *g, false)
				if err != nil {
					return err
				}
				if !ok {
					return errPullMoved
				}
			}
			if !isHead {
				return nil
			}
			if err := tx.TouchIssue(ctx, p.ID); err != nil {
				return err
			}
			return a.emitPullAction(ctx, tx, repo, pusher, "synchronize", p.Issue,
				map[string]any{"before": u.Old.String(), "after": u.New.String()})
		})
		if errors.Is(err, errPullMoved) && attempt < 3 {
			if p, err = a.store.PullByID(ctx, p.ID); err != nil {
				return err
			}
			if p.State != "open" {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		if !isHead && !u.Old.IsZero() {
			return a.detectMerged(ctx, repo, pusher, p, head, u)
		}
		return nil
	}
}

// detectMerged marks a pull request merged when a push to its base brought
// in every commit of its head that the base did not have before.
func (a *App) detectMerged(ctx context.Context, repo *store.Repo, pusher *store.User, p *store.Pull, head plumbing.Hash, u gitserver.RefUpdate) error {
	st, err := a.objects(repo)
	if err != nil {
		return err
	}
	defer st.Close()
	after, err := diffstat.CountCommits(ctx, st, u.New, head)
	if err != nil || after != 0 {
		return err
	}
	before, err := diffstat.CountCommits(ctx, st, u.Old, head)
	if err != nil || before == 0 {
		return err
	}
	p, err = a.store.PullByID(ctx, p.ID)
	if err != nil {
		return err
	}
	g := p.Git
	g.Mergeable = true
	err = a.completeMerge(ctx, repo, p, pusher, u.New.String(), g)
	if errors.Is(err, store.ErrPullNotOpen) {
		return nil
	}
	return err
}

// --- endpoints ---

var pullStates = map[string][]string{"open": {"open"}, "closed": {"closed"}, "merged": {"merged"}, "all": nil}

// headBranch accepts GitHub's "owner:branch" form for the repository's own
// owner (there are no forks) as well as a plain branch name.
func headBranch(repo *store.Repo, s string) (string, bool) {
	owner, branch, ok := strings.Cut(s, ":")
	if !ok {
		return s, true
	}
	return branch, strings.EqualFold(owner, repo.OwnerName)
}

func (a *App) listPulls(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	v := validation{}
	f, p := issueListQuery(r, v, pullStates)
	q := r.URL.Query()
	if s := q.Get("sort"); s != "" && s != "created" && s != "updated" {
		v["sort"] = []string{`is not included in the list ("created", "updated")`}
	}
	if err := v.err(); err != nil {
		return err
	}
	pf := store.PullList{IssueList: f, Base: q.Get("base")}
	pf.RepoID = repo.ID
	if h := q.Get("head"); h != "" {
		branch, ok := headBranch(repo, h)
		if !ok {
			a.setPageHeaders(w, r, p, 0)
			writeJSON(w, http.StatusOK, []pullJSON{})
			return nil
		}
		pf.Head = branch
	}
	pulls, total, err := a.store.ListPulls(r.Context(), pf)
	if err != nil {
		return err
	}
	if err := a.freshPulls(r.Context(), repo, pulls); err != nil {
		return err
	}
	out := make([]pullJSON, 0, len(pulls))
	for _, pr := range pulls {
		out = append(out, pullOut(pr))
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkBranches validates a head/base pair for an open pull request and
// computes its facts; problems are added to v on the given fields.
func (a *App) checkBranches(ctx context.Context, repo *store.Repo, head, base, headField, baseField string, v validation) (*store.PullGit, error) {
	tips, err := a.branchTips(ctx, repo)
	if err != nil {
		return nil, err
	}
	headTip, hok := tips[head]
	baseTip, bok := tips[base]
	if !hok {
		v.add(headField, fmt.Sprintf("branch %q does not exist", head))
	}
	if !bok {
		v.add(baseField, fmt.Sprintf("branch %q does not exist", base))
	}
	if hok && bok && head == base {
		msg := "must be a different branch than base"
		if headField == "base" {
			msg = "must be a different branch than head"
		}
		v.add(headField, msg)
	}
	if len(v) > 0 {
		return nil, nil
	}
	g, err := a.computePull(ctx, repo, headTip, baseTip)
	if errors.Is(err, merge.ErrNoMergeBase) {
		v.add(headField, fmt.Sprintf("%s and %s have no history in common", head, base))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &g, nil
}

func duplicateMessage(head, base string, n int64) string {
	return fmt.Sprintf("a pull request from %s into %s is already open (#%d)", head, base, n)
}

// createPull opens a pull request: anyone signed in who can read the
// repository may.
func (a *App) createPull(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		Title opt[string] `json:"title"`
		Body  opt[string] `json:"body"`
		Head  opt[string] `json:"head"`
		Base  opt[string] `json:"base"`
		Draft opt[bool]   `json:"draft"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	checkTitle(v, req.Title.V)
	body := checkBody(v, "body", req.Body)
	head, ok := headBranch(repo, strings.TrimSpace(req.Head.V))
	base := strings.TrimSpace(req.Base.V)
	switch {
	case head == "":
		v.add("head", "can't be blank")
	case !ok:
		v.add("head", "must be a branch of this repository (pull requests between repositories are not supported)")
	}
	if base == "" {
		v.add("base", "can't be blank")
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := r.Context()
	g, err := a.checkBranches(ctx, repo, head, base, "head", "base", v)
	if err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	np := store.NewPull{
		Issue:   store.NewIssue{RepoID: repo.ID, Title: strings.TrimSpace(req.Title.V), AuthorID: u.ID},
		HeadRef: head, BaseRef: base, Draft: req.Draft.V, Git: *g,
	}
	if body != nil {
		np.Issue.Body = *body
	}
	var p *store.Pull
	err = a.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if p, err = tx.CreatePull(ctx, np); err != nil {
			return err
		}
		return a.emitPull(ctx, tx, repo, u, "opened", p, nil)
	})
	var dup *store.DuplicatePullError
	if errors.As(err, &dup) {
		return invalid("head", duplicateMessage(head, base, dup.Number))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pullOut(p))
	return nil
}

func (a *App) getPull(w http.ResponseWriter, r *http.Request) error {
	repo, _, p, err := a.pullFor(r, store.PermRead)
	if err != nil {
		return err
	}
	if err := a.freshPulls(r.Context(), repo, []*store.Pull{p}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pullOut(p))
	return nil
}

// updatePull edits title, body, state, base or draft: the author or anyone
// with write access may. A merged pull request keeps its state and base.
func (a *App) updatePull(w http.ResponseWriter, r *http.Request) error {
	repo, perm, p, err := a.pullFor(r, store.PermRead)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	if perm < store.PermWrite && p.Author.ID != u.ID {
		return errStatus(http.StatusForbidden, "Only the author or collaborators with write access can edit this pull request")
	}
	var req struct {
		Title opt[string] `json:"title"`
		Body  opt[string] `json:"body"`
		State opt[string] `json:"state"`
		Base  opt[string] `json:"base"`
		Draft opt[bool]   `json:"draft"`
		// Labels and assignees replace the current ones, as on issues.
		Labels    opt[[]string] `json:"labels"`
		Assignees opt[[]string] `json:"assignees"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	lists, err := a.readListEdit(r.Context(), repo, perm, req.Labels, req.Assignees, v)
	if err != nil {
		return err
	}
	upd := store.PullUpdate{IssueUpdate: editTitleBody(v, req.Title, req.Body)}
	state := p.State
	if req.State.Set {
		switch {
		case req.State.V != "open" && req.State.V != "closed":
			v.add("state", `is not included in the list ("open", "closed")`)
		case p.Merged():
			v.add("state", "cannot be changed: the pull request is merged")
		case req.State.V != p.State:
			state = req.State.V
			upd.State = &state
		}
	}
	base := p.BaseRef
	if req.Base.Set {
		b := strings.TrimSpace(req.Base.V)
		switch {
		case b == "":
			v.add("base", "can't be blank")
		case p.Merged():
			v.add("base", "cannot be changed: the pull request is merged")
		case b != p.BaseRef:
			base = b
			upd.BaseRef = &base
		}
	}
	if req.Draft.Set {
		if req.Draft.Null {
			v.add("draft", "must be true or false")
		} else if req.Draft.V != p.Draft {
			d := req.Draft.V
			upd.Draft = &d
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := r.Context()
	reopened := upd.State != nil && state == "open"
	if state == "open" && (reopened || upd.BaseRef != nil) {
		// The pull request proposes a (possibly new) pair of branches:
		// check them as creation does, and recompute its facts.
		headField, baseField := "base", "base"
		if reopened {
			headField = "state"
		}
		g, err := a.checkBranches(ctx, repo, p.HeadRef, base, headField, baseField, v)
		if err != nil {
			return err
		}
		if err := v.err(); err != nil {
			return err
		}
		upd.Git = g
	} else if upd.BaseRef != nil {
		// A closed pull request may be retargeted; its facts are
		// recomputed when it is reopened.
		if _, ok, err := a.branchTip(ctx, repo, base); err != nil {
			return err
		} else if !ok {
			return invalid("base", fmt.Sprintf("branch %q does not exist", base))
		}
	}
	before := p
	err = a.store.Tx(ctx, func(tx *store.Store) error {
		if upd.State != nil || upd.BaseRef != nil {
			// A merge may have finished since the checks above.
			cur, err := tx.PullByID(ctx, p.ID)
			if err != nil {
				return err
			}
			if cur.Merged() {
				return invalid("state", "cannot be changed: the pull request is merged")
			}
		}
		if state == "open" && (reopened || upd.BaseRef != nil) {
			n, err := tx.OpenPullFor(ctx, repo.ID, p.HeadRef, base, p.ID)
			if err != nil {
				return err
			}
			if n != 0 {
				return invalid("base", duplicateMessage(p.HeadRef, base, n))
			}
		}
		var err error
		if p, err = tx.UpdatePull(ctx, p.ID, upd); err != nil {
			return err
		}
		if lists.any() {
			if _, err := a.applyListEdit(ctx, tx, repo, u, p.Issue, lists); err != nil {
				return err
			}
			if p, err = tx.PullByID(ctx, p.ID); err != nil {
				return err
			}
		}
		emit := func(action string, extra map[string]any) error {
			return a.emitPull(ctx, tx, repo, u, action, p, extra)
		}
		changes := editedChanges(before.Issue, upd.IssueUpdate)
		if upd.BaseRef != nil {
			changes["base"] = map[string]any{"ref": map[string]any{"from": before.BaseRef}, "sha": map[string]any{"from": before.Git.BaseSHA}}
		}
		if len(changes) > 0 {
			if err := emit("edited", map[string]any{"changes": changes}); err != nil {
				return err
			}
		}
		if upd.State != nil {
			action := "closed"
			if reopened {
				action = "reopened"
			}
			if err := emit(action, nil); err != nil {
				return err
			}
		}
		if upd.Draft != nil {
			action := "converted_to_draft"
			if !*upd.Draft {
				action = "ready_for_review"
			}
			return emit(action, nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.freshPulls(ctx, repo, []*store.Pull{p}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pullOut(p))
	return nil
}
