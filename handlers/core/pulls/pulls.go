// Package pulls is the forge core's pull request service: opening,
// listing, editing and merging pull requests, keeping their git facts
// (counts, mergeable) in step with their branches as pushes move them,
// reviews and review requests.
package pulls

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
	"tapioca/handlers/core"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/issues"
	"tapioca/store"
)

// Service is the pull request service.
type Service struct {
	env    *core.Env
	events *events.Emitter
	issues *issues.Service
	// Refs records merges as pushes to the base branch.
	Refs core.RefRecorder

	// merges serializes merges per repository.
	merges keyedLocks
}

// New returns the pull request service; set Refs before use.
func New(env *core.Env, ev *events.Emitter, is *issues.Service) *Service {
	return &Service{env: env, events: ev, issues: is}
}

// Load resolves /pulls/:n with the actor's permission check.
func (s *Service) Load(ctx context.Context, a core.Actor, ref issues.Ref, need store.Perm) (*store.Repo, store.Perm, *store.Pull, error) {
	ref.Pull = true
	repo, perm, i, err := s.issues.Load(ctx, a, ref, need)
	if err != nil {
		return nil, perm, nil, err
	}
	p, err := s.env.Store.PullOf(ctx, i)
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, p, nil
}

// Facts works out what merging head into base would do: the statistics
// of `git diff --numstat base...head` and `git rev-list --count
// base..head`, and whether the merge is clean. For branches without
// common history it returns what it could (the commit count, not
// mergeable) with merge.ErrNoMergeBase.
func (s *Service) Facts(ctx context.Context, repo *store.Repo, head, base plumbing.Hash) (store.PullGit, error) {
	g := store.PullGit{HeadSHA: head.String(), BaseSHA: base.String()}
	st, err := s.env.Objects(repo)
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

// Fresh brings open pull requests up to date with their branches where
// the stored facts were computed for other tips (a push whose sync has
// not run yet, or was lost in a crash), so mergeable and the counts are
// never stale. Closed and merged ones keep their frozen facts; so do open
// ones whose branch is gone (the sync closes those).
func (s *Service) Fresh(ctx context.Context, repo *store.Repo, pulls []*store.Pull) error {
	var tips map[string]plumbing.Hash
	for k, p := range pulls {
		if p.State != "open" {
			continue
		}
		if tips == nil {
			var err error
			if tips, err = s.env.BranchTips(ctx, repo); err != nil {
				return err
			}
		}
		head, hok := tips[p.HeadRef]
		base, bok := tips[p.BaseRef]
		if !hok || !bok || (head.String() == p.Git.HeadSHA && base.String() == p.Git.BaseSHA) {
			continue
		}
		g, err := s.Facts(ctx, repo, head, base)
		if err != nil && !errors.Is(err, merge.ErrNoMergeBase) {
			return err
		}
		if _, err := s.env.Store.UpdatePullGit(ctx, p.ID, p.Git.HeadSHA, p.Git.BaseSHA, g, head.String() != p.Git.HeadSHA); err != nil {
			return err
		}
		// Whoever won the race stored facts for these tips or newer ones.
		if pulls[k], err = s.env.Store.PullByID(ctx, p.ID); err != nil {
			return err
		}
	}
	return nil
}

// OfIssue is the pull request i is the issue side of, with fresh facts.
func (s *Service) OfIssue(ctx context.Context, repo *store.Repo, i *store.Issue) (*store.Pull, error) {
	p, err := s.env.Store.PullOf(ctx, i)
	if err != nil {
		return nil, err
	}
	if err := s.Fresh(ctx, repo, []*store.Pull{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// errPullMoved makes a sync transaction roll back and try again because
// another writer updated the pull request's facts meanwhile.
var errPullMoved = errors.New("pull request facts changed meanwhile")

// Sync updates open pull requests whose head or base branch moved in a
// push (new head sha, counts, mergeable, updated_at), emits synchronize
// for head moves, closes those whose branch was deleted, and marks merged
// those whose head the push brought into their base (a merge done with
// git and pushed, as GitHub detects). It runs after the refs moved and
// must not fail the push: problems are logged.
func (s *Service) Sync(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	ctx = context.WithoutCancel(ctx)
	for _, u := range updates {
		branch, ok := strings.CutPrefix(u.Name, "refs/heads/")
		if !ok {
			continue
		}
		pulls, _, err := s.env.Store.ListPulls(ctx, store.PullList{
			IssueList: store.IssueList{RepoID: repo.ID, States: []string{"open"}, Sort: "created", Asc: true},
			Branch:    branch,
		})
		if err != nil {
			s.env.Log.WarnContext(ctx, "pull requests of pushed branch", "repo", repo.ID, "branch", branch, "err", err)
			continue
		}
		for _, p := range pulls {
			if err := s.syncPull(ctx, repo, pusher, p, branch, u); err != nil {
				s.env.Log.WarnContext(ctx, "sync pull request", "repo", repo.ID, "number", p.Number, "err", err)
			}
		}
	}
}

func (s *Service) syncPull(ctx context.Context, repo *store.Repo, pusher *store.User, p *store.Pull, branch string, u gitserver.RefUpdate) error {
	if u.New.IsZero() {
		// A pull request cannot outlive its branches (GitHub closes it too);
		// it can be reopened once the branch is back.
		closed := "closed"
		return s.env.Store.Tx(ctx, func(tx *store.Store) error {
			// Re-read in the transaction: a merge may have finished since
			// the list was taken, and a merged pull request stays merged.
			if cur, err := tx.PullByID(ctx, p.ID); err != nil || cur.State != "open" {
				return err
			}
			updated, err := tx.UpdatePull(ctx, p.ID, store.PullUpdate{IssueUpdate: store.IssueUpdate{State: &closed}})
			if err != nil {
				return err
			}
			return s.events.Pull(ctx, tx, repo, pusher, "closed", updated, map[string]any{"reason": "branch " + branch + " was deleted"})
		})
	}
	isHead := branch == p.HeadRef
	for attempt := 0; ; attempt++ {
		tips, err := s.env.BranchTips(ctx, repo)
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
			fresh, err := s.Facts(ctx, repo, head, base)
			if err != nil && !errors.Is(err, merge.ErrNoMergeBase) {
				return err
			}
			g = &fresh
		}
		err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
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
			return s.events.PullOfIssue(ctx, tx, repo, pusher, "synchronize", p.Issue,
				map[string]any{"before": u.Old.String(), "after": u.New.String()})
		})
		if errors.Is(err, errPullMoved) && attempt < 3 {
			if p, err = s.env.Store.PullByID(ctx, p.ID); err != nil {
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
			return s.detectMerged(ctx, repo, pusher, p, head, u)
		}
		return nil
	}
}

// detectMerged marks a pull request merged when a push to its base brought
// in every commit of its head that the base did not have before.
func (s *Service) detectMerged(ctx context.Context, repo *store.Repo, pusher *store.User, p *store.Pull, head plumbing.Hash, u gitserver.RefUpdate) error {
	st, err := s.env.Objects(repo)
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
	p, err = s.env.Store.PullByID(ctx, p.ID)
	if err != nil {
		return err
	}
	g := p.Git
	g.Mergeable = true
	err = s.completeMerge(ctx, repo, p, pusher, u.New.String(), g)
	if errors.Is(err, store.ErrPullNotOpen) {
		return nil
	}
	return err
}

// PullStates are the state filters of the pull request list.
var PullStates = map[string][]string{"open": {"open"}, "closed": {"closed"}, "merged": {"merged"}, "all": nil}

// HeadBranch accepts GitHub's "owner:branch" form for the repository's
// own owner (there are no forks) as well as a plain branch name.
func HeadBranch(repo *store.Repo, s string) (string, bool) {
	owner, branch, ok := strings.Cut(s, ":")
	if !ok {
		return s, true
	}
	return branch, strings.EqualFold(owner, repo.OwnerName)
}

// ListQuery filters a pull request list: the issue filters plus head and
// base branches.
type ListQuery struct {
	issues.ListQuery
	Head string `json:"head" doc:"The head branch (branch or owner:branch)"`
	Base string `json:"base" doc:"The base branch"`
}

// CheckListQuery validates q, adding problems to v.
func CheckListQuery(v core.Validation, q ListQuery) store.IssueList {
	f := q.Filter(v, PullStates)
	if q.Sort != "" && q.Sort != "created" && q.Sort != "updated" {
		v["sort"] = []string{`is not included in the list ("created", "updated")`}
	}
	return f
}

// List lists a repository's pull requests, with fresh facts.
func (s *Service) List(ctx context.Context, a core.Actor, owner, name string, q ListQuery) ([]*store.Pull, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	v := core.Validation{}
	f := CheckListQuery(v, q)
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	pf := store.PullList{IssueList: f, Base: q.Base}
	pf.RepoID = repo.ID
	if q.Head != "" {
		branch, ok := HeadBranch(repo, q.Head)
		if !ok {
			return []*store.Pull{}, 0, nil
		}
		pf.Head = branch
	}
	pulls, total, err := s.env.Store.ListPulls(ctx, pf)
	if err != nil {
		return nil, 0, err
	}
	if err := s.Fresh(ctx, repo, pulls); err != nil {
		return nil, 0, err
	}
	return pulls, total, nil
}

// checkBranches validates a head/base pair for an open pull request and
// computes its facts; problems are added to v on the given fields.
func (s *Service) checkBranches(ctx context.Context, repo *store.Repo, head, base, headField, baseField string, v core.Validation) (*store.PullGit, error) {
	tips, err := s.env.BranchTips(ctx, repo)
	if err != nil {
		return nil, err
	}
	headTip, hok := tips[head]
	baseTip, bok := tips[base]
	if !hok {
		v.Add(headField, fmt.Sprintf("branch %q does not exist", head))
	}
	if !bok {
		v.Add(baseField, fmt.Sprintf("branch %q does not exist", base))
	}
	if hok && bok && head == base {
		msg := "must be a different branch than base"
		if headField == "base" {
			msg = "must be a different branch than head"
		}
		v.Add(headField, msg)
	}
	if len(v) > 0 {
		return nil, nil
	}
	g, err := s.Facts(ctx, repo, headTip, baseTip)
	if errors.Is(err, merge.ErrNoMergeBase) {
		v.Add(headField, fmt.Sprintf("%s and %s have no history in common", head, base))
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

// Creation is the input of Create.
type Creation struct {
	Title core.Opt[string] `json:"title" api:"required" doc:"The title"`
	Body  core.Opt[string] `json:"body" doc:"The description; \"Closes #N\" closes issue N when the pull request merges"`
	Head  string           `json:"head" api:"required" doc:"The branch with the changes (branch or owner:branch)"`
	Base  string           `json:"base" api:"required" doc:"The branch to merge into"`
	Draft bool             `json:"draft" doc:"Open as a draft, which cannot be merged"`
}

// Create opens a pull request: anyone signed in who can read the
// repository may. Both branches must exist, differ and share history,
// and no open pull request may have the same pair.
func (s *Service) Create(ctx context.Context, a core.Actor, owner, name string, in Creation) (*store.Pull, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	issues.CheckTitle(v, in.Title.V)
	body := core.CheckBody(v, "body", in.Body)
	head, ok := HeadBranch(repo, strings.TrimSpace(in.Head))
	base := strings.TrimSpace(in.Base)
	switch {
	case head == "":
		v.Add("head", "can't be blank")
	case !ok:
		v.Add("head", "must be a branch of this repository (pull requests between repositories are not supported)")
	}
	if base == "" {
		v.Add("base", "can't be blank")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	g, err := s.checkBranches(ctx, repo, head, base, "head", "base", v)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	np := store.NewPull{
		Issue:   store.NewIssue{RepoID: repo.ID, Title: strings.TrimSpace(in.Title.V), AuthorID: u.ID},
		HeadRef: head, BaseRef: base, Draft: in.Draft, Git: *g,
	}
	if body != nil {
		np.Issue.Body = *body
	}
	var p *store.Pull
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if p, err = tx.CreatePull(ctx, np); err != nil {
			return err
		}
		return s.events.Pull(ctx, tx, repo, u, "opened", p, nil)
	})
	var dup *store.DuplicatePullError
	if errors.As(err, &dup) {
		return nil, core.Invalid("head", duplicateMessage(head, base, dup.Number))
	}
	return p, err
}

// Get is one pull request with fresh facts.
func (s *Service) Get(ctx context.Context, a core.Actor, ref issues.Ref) (*store.Pull, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	if err := s.Fresh(ctx, repo, []*store.Pull{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// Update is the input of Update; absent fields stay as they are.
type Update struct {
	Title     core.Opt[string]   `json:"title" doc:"The new title"`
	Body      core.Opt[string]   `json:"body" doc:"The new description; null clears it"`
	State     core.Opt[string]   `json:"state" enum:"open,closed" doc:"open or closed"`
	Base      core.Opt[string]   `json:"base" doc:"A new base branch"`
	Draft     core.Opt[bool]     `json:"draft" doc:"Mark as a draft, or ready for review"`
	Labels    core.Opt[[]string] `json:"labels" doc:"Replaces the labels, as on issues"`
	Assignees core.Opt[[]string] `json:"assignees" doc:"Replaces the assignees"`
}

// Update edits title, body, state, base, draft, labels or assignees: the
// author or anyone with write access may. A merged pull request keeps
// its state and base.
func (s *Service) Update(ctx context.Context, a core.Actor, ref issues.Ref, in Update) (*store.Pull, error) {
	repo, perm, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	if perm < store.PermWrite && p.Author.ID != u.ID {
		return nil, core.Forbidden("Only the author or collaborators with write access can edit this pull request")
	}
	v := core.Validation{}
	lists, err := s.issues.ReadListEdit(ctx, repo, perm, in.Labels, in.Assignees, v)
	if err != nil {
		return nil, err
	}
	upd := store.PullUpdate{IssueUpdate: issues.EditTitleBody(v, in.Title, in.Body)}
	state := p.State
	if in.State.Set {
		switch {
		case in.State.V != "open" && in.State.V != "closed":
			v.Add("state", `is not included in the list ("open", "closed")`)
		case p.Merged():
			v.Add("state", "cannot be changed: the pull request is merged")
		case in.State.V != p.State:
			state = in.State.V
			upd.State = &state
		}
	}
	base := p.BaseRef
	if in.Base.Set {
		b := strings.TrimSpace(in.Base.V)
		switch {
		case b == "":
			v.Add("base", "can't be blank")
		case p.Merged():
			v.Add("base", "cannot be changed: the pull request is merged")
		case b != p.BaseRef:
			base = b
			upd.BaseRef = &base
		}
	}
	if in.Draft.Set {
		if in.Draft.Null {
			v.Add("draft", "must be true or false")
		} else if in.Draft.V != p.Draft {
			d := in.Draft.V
			upd.Draft = &d
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	reopened := upd.State != nil && state == "open"
	if state == "open" && (reopened || upd.BaseRef != nil) {
		// The pull request proposes a (possibly new) pair of branches:
		// check them as creation does, and recompute its facts.
		headField, baseField := "base", "base"
		if reopened {
			headField = "state"
		}
		g, err := s.checkBranches(ctx, repo, p.HeadRef, base, headField, baseField, v)
		if err != nil {
			return nil, err
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
		upd.Git = g
	} else if upd.BaseRef != nil {
		// A closed pull request may be retargeted; its facts are
		// recomputed when it is reopened.
		if _, ok, err := s.env.BranchTip(ctx, repo, base); err != nil {
			return nil, err
		} else if !ok {
			return nil, core.Invalid("base", fmt.Sprintf("branch %q does not exist", base))
		}
	}
	before := p
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if upd.State != nil || upd.BaseRef != nil {
			// A merge may have finished since the checks above.
			cur, err := tx.PullByID(ctx, p.ID)
			if err != nil {
				return err
			}
			if cur.Merged() {
				return core.Invalid("state", "cannot be changed: the pull request is merged")
			}
		}
		if state == "open" && (reopened || upd.BaseRef != nil) {
			n, err := tx.OpenPullFor(ctx, repo.ID, p.HeadRef, base, p.ID)
			if err != nil {
				return err
			}
			if n != 0 {
				return core.Invalid("base", duplicateMessage(p.HeadRef, base, n))
			}
		}
		var err error
		if p, err = tx.UpdatePull(ctx, p.ID, upd); err != nil {
			return err
		}
		if lists.Any() {
			if _, err := s.issues.ApplyListEdit(ctx, tx, repo, u, p.Issue, lists); err != nil {
				return err
			}
			if p, err = tx.PullByID(ctx, p.ID); err != nil {
				return err
			}
		}
		emit := func(action string, extra map[string]any) error {
			return s.events.Pull(ctx, tx, repo, u, action, p, extra)
		}
		changes := issues.EditedChanges(before.Issue, upd.IssueUpdate)
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
		return nil, err
	}
	if err := s.Fresh(ctx, repo, []*store.Pull{p}); err != nil {
		return nil, err
	}
	return p, nil
}
