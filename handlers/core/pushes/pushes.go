// Package pushes is the forge core's record of ref updates: the rules a
// push must pass (protected branches, the default branch), the journal
// that makes the events of a push survive a crash, and what a push
// changes once the refs moved (push time and size, push/create/delete
// events, pull requests). Git over HTTP and SSH, branches made through
// the API and merges all go through it.
package pushes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/core/text"
	"tapioca/store"
)

// Service records pushes.
type Service struct {
	env    *core.Env
	events *events.Emitter
	pulls  *pulls.Service

	// Followers are told about every recorded push, after its events
	// (projects notify their deploy targets). Set them before serving.
	Followers []Follower
}

// Follower is told about a recorded push. Record runs again for a push a
// crash interrupted, so a follower must tolerate hearing of one twice.
type Follower interface {
	Pushed(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate)
}

// New returns the push service.
func New(env *core.Env, ev *events.Emitter, pl *pulls.Service) *Service {
	return &Service{env: env, events: ev, pulls: pl}
}

// Check refuses force-pushes and deletions of protected branches, and
// deleting the default branch; a protected branch that requires
// approving reviews takes changes only through pull requests, and one
// that requires status checks only commits on which they all passed. The
// error text is shown to the pusher. Every way of moving a branch but a
// merge goes through it (git over HTTP and SSH, files written through the
// API).
func (s *Service) Check(ctx context.Context, repo *store.Repo, u gitserver.RefUpdate) error {
	branch, ok := strings.CutPrefix(u.Name, "refs/heads/")
	if !ok {
		return nil
	}
	// As git's receive.denyDeleteCurrent: HEAD would point nowhere, and
	// every later clone would check out nothing.
	if u.New.IsZero() && branch == repo.DefaultBranch {
		return errors.New("deletion of the current branch prohibited")
	}
	protected, err := s.env.Store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return err
	}
	if !protected[branch] {
		return nil
	}
	if u.New.IsZero() {
		return fmt.Errorf("branch %s is protected: it cannot be deleted", branch)
	}
	if !u.Old.IsZero() && !u.FastForward {
		return fmt.Errorf("branch %s is protected: force-push is not allowed", branch)
	}
	return s.checkRequirements(ctx, repo, branch, u.New)
}

// checkRequirements applies what a protected branch requires of a commit
// pushed straight to it.
func (s *Service) checkRequirements(ctx context.Context, repo *store.Repo, branch string, to plumbing.Hash) error {
	p, ok, err := s.env.Store.BranchProtection(ctx, repo.ID, branch)
	if err != nil || !ok {
		return err
	}
	if p.RequiredApprovals > 0 {
		return fmt.Errorf("branch %s is protected: changes must be made through a pull request (%d approving %s required)",
			branch, p.RequiredApprovals, text.Plural(p.RequiredApprovals, "review", "reviews"))
	}
	if len(p.RequiredContexts) == 0 {
		return nil
	}
	latest, err := s.env.Store.LatestStatuses(ctx, repo.ID, to.String())
	if err != nil {
		return err
	}
	if unmet := statuses.Unmet(p.RequiredContexts, latest); len(unmet) > 0 {
		return fmt.Errorf("branch %s is protected: %s on %s", branch, strings.Join(unmet, "; "), to.String()[:12])
	}
	return nil
}

// Receive is the hooks of one push into repo by pusher, for
// gitserver.ReceiveOptions: each update is checked and journaled before
// the refs move, and recorded after. Call Finish when the push is over.
type Receive struct {
	s         *Service
	repo      *store.Repo
	pusher    *store.User
	journaled []int64
}

// Receive starts recording a push by a. A push made with a deploy key
// is no account's; it is attributed to the repository's owner, as Gitea
// attributes it, so that its events name a sender and a pusher as every
// other push's do (the key's own rights were checked before this).
func (s *Service) Receive(ctx context.Context, repo *store.Repo, a core.Actor) *Receive {
	pusher := a.User
	if pusher == nil && a.DeployKey != nil {
		owner, err := s.env.Store.UserByID(ctx, repo.OwnerID)
		if err != nil {
			s.env.Log.WarnContext(ctx, "deploy key push: repository owner", "repo", repo.ID, "err", err)
		}
		pusher = owner
	}
	return &Receive{s: s, repo: repo, pusher: pusher}
}

// Options are the gitserver hooks of the push.
func (r *Receive) Options() gitserver.ReceiveOptions {
	return gitserver.ReceiveOptions{
		Check: func(ctx context.Context, u gitserver.RefUpdate) error {
			if err := r.s.Check(ctx, r.repo, u); err != nil {
				return err
			}
			id, err := r.s.journal(ctx, r.repo, r.pusher, 0, u)
			if err != nil {
				r.s.env.Log.ErrorContext(ctx, "journal ref update", "repo", r.repo.ID, "err", err)
				return errors.New("internal error: the update could not be recorded")
			}
			r.journaled = append(r.journaled, id)
			return nil
		},
		Updated: func(ctx context.Context, us []gitserver.RefUpdate) { r.s.Record(ctx, r.repo, r.pusher, us) },
	}
}

// Finish forgets the push's journal rows: it is fully recorded (or was
// refused).
func (r *Receive) Finish(ctx context.Context) { r.s.clearJournal(ctx, r.journaled) }

// Record records what updates that already moved the refs change. It
// runs after the refs moved, so it must not fail the push; problems are
// logged.
func (s *Service) Record(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	ctx = context.WithoutCancel(ctx)
	size, err := s.env.Git.Size(ctx, s.env.RepoPath(repo.ID))
	if err != nil {
		s.env.Log.WarnContext(ctx, "repository size after push", "repo", repo.ID, "err", err)
		size = repo.SizeBytes
	}
	if err := s.env.Store.RepoPushed(ctx, repo.ID, time.Now(), size); err != nil {
		s.env.Log.WarnContext(ctx, "record push", "repo", repo.ID, "err", err)
	}
	s.followHEAD(ctx, repo)
	if fresh, err := s.env.Store.RepoByID(ctx, repo.ID); err == nil {
		repo = fresh // payloads show this push's pushed_at, size and default branch
	}
	s.events.Push(ctx, repo, pusher, updates)
	s.pulls.Sync(ctx, repo, pusher, updates)
	for _, f := range s.Followers {
		f.Pushed(ctx, repo, pusher, updates)
	}
}

// followHEAD makes the repository's default branch the one HEAD names
// when the recorded one does not exist: the first push of branches into an
// empty repository points HEAD at one it created (gitserver picks it, as
// GitHub makes the first branch pushed the default). It also repairs the
// record after a crash between the push and this step.
func (s *Service) followHEAD(ctx context.Context, repo *store.Repo) {
	path := s.env.RepoPath(repo.ID)
	head, err := s.env.Git.HEAD(ctx, path)
	if err != nil || head == "" || head == repo.DefaultBranch {
		return
	}
	tips, err := s.env.BranchTips(ctx, repo)
	if err != nil {
		return
	}
	if _, ok := tips[repo.DefaultBranch]; ok {
		return // the recorded default branch exists: HEAD is not the one to follow
	}
	if _, ok := tips[head]; !ok {
		return
	}
	if _, err := s.env.Store.UpdateRepo(ctx, repo.ID, store.RepoUpdate{DefaultBranch: &head}); err != nil {
		s.env.Log.WarnContext(ctx, "follow HEAD to the first branch pushed", "repo", repo.ID, "err", err)
	}
}

// Refs live on disk and events in SQLite, so no transaction covers a push:
// a crash after a ref moved and before its events were recorded would lose
// them. The ref journal closes that gap. Every ref update is written to it
// before the ref moves and cleared only after Record has recorded
// everything that follows (events, pull request sync); at start-up the
// rows left behind are checked against the refs on disk and Record runs
// again for the updates that did land. Events are therefore delivered at
// least once: a crash in the last instant can repeat them, never lose them.

// journal records u as about to happen and returns the row id; pullID
// is the pull request a merge moves the ref for (0 otherwise).
func (s *Service) journal(ctx context.Context, repo *store.Repo, pusher *store.User, pullID int64, u gitserver.RefUpdate) (int64, error) {
	var pusherID int64
	if pusher != nil {
		pusherID = pusher.ID
	}
	return s.env.Store.JournalRefUpdate(ctx, repo.ID, pusherID, pullID, u.Name, u.Old.String(), u.New.String())
}

// clearJournal forgets journal rows whose push is fully recorded (or
// refused). It must not fail the request: a row left behind is checked
// against the disk at the next start.
func (s *Service) clearJournal(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if err := s.env.Store.ClearJournal(context.WithoutCancel(ctx), ids); err != nil {
		s.env.Log.WarnContext(ctx, "clear ref journal", "err", err)
	}
}

// Begin journals one ref update made by the forge itself (branch creation
// and deletion, merges) and returns the function that clears it; callers
// defer that so the row goes only after Record has run.
func (s *Service) Begin(ctx context.Context, repo *store.Repo, pusher *store.User, u gitserver.RefUpdate) (done func(), err error) {
	return s.begin(ctx, repo, pusher, 0, u)
}

// BeginMerge is Begin for a merge: the journal row names the pull
// request, so Recover can finish a merge whose base moved.
func (s *Service) BeginMerge(ctx context.Context, repo *store.Repo, merger *store.User, pullID int64, u gitserver.RefUpdate) (done func(), err error) {
	return s.begin(ctx, repo, merger, pullID, u)
}

func (s *Service) begin(ctx context.Context, repo *store.Repo, pusher *store.User, pullID int64, u gitserver.RefUpdate) (done func(), err error) {
	id, err := s.journal(ctx, repo, pusher, pullID, u)
	if err != nil {
		return nil, err
	}
	return func() { s.clearJournal(ctx, []int64{id}) }, nil
}

// Recover replays Record for journaled updates that reached the disk
// before the process stopped, then empties the journal. It runs at
// start-up, before serving.
func (s *Service) Recover(ctx context.Context) error {
	rows, err := s.env.Store.PendingRefIntents(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	type key struct {
		repo int64
		ref  string
	}
	groups := map[key][]store.RefIntent{}
	var order []key
	for _, r := range rows {
		k := key{r.RepoID, r.Ref}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	landed := map[int64]bool{}
	repos := map[int64]*git.Repository{}
	for _, k := range order {
		gr, ok := repos[k.repo]
		if !ok {
			gr, err = gitserver.Open(s.env.RepoPath(k.repo))
			if err != nil {
				s.env.Log.WarnContext(ctx, "ref journal: open repository", "repo", k.repo, "err", err)
			}
			repos[k.repo] = gr
		}
		if gr == nil {
			continue
		}
		onDisk := plumbing.ZeroHash
		ref, err := gr.Reference(plumbing.ReferenceName(k.ref), false)
		switch {
		case err == nil:
			onDisk = ref.Hash()
		case !errors.Is(err, plumbing.ErrReferenceNotFound):
			s.env.Log.WarnContext(ctx, "ref journal: read ref", "repo", k.repo, "ref", k.ref, "err", err)
			continue
		}
		for _, id := range LandedChain(groups[k], onDisk.String()) {
			landed[id] = true
		}
	}
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ID)
		if !landed[r.ID] {
			continue
		}
		repo, err := s.env.Store.RepoByID(ctx, r.RepoID)
		if err != nil {
			continue
		}
		var pusher *store.User
		if r.PusherID != 0 {
			pusher, _ = s.env.Store.UserByID(ctx, r.PusherID)
		}
		u := gitserver.RefUpdate{Name: r.Ref, Old: plumbing.NewHash(r.Old), New: plumbing.NewHash(r.New)}
		u.FastForward = u.Old.IsZero() || (!u.New.IsZero() && isAncestor(repos[r.RepoID], u.Old, u.New))
		if r.PullID != 0 {
			// The base moved for a merge: the pull request is merged.
			s.env.Log.InfoContext(ctx, "finishing a merge interrupted before it was recorded", "repo", repo.FullName(), "pull", r.PullID, "new", r.New)
			if err := s.pulls.FinishMerge(ctx, repo, r.PullID, pusher, u.Old, u.New); err != nil {
				s.env.Log.ErrorContext(ctx, "finish interrupted merge", "repo", repo.FullName(), "pull", r.PullID, "err", err)
			}
		}
		s.env.Log.InfoContext(ctx, "replaying a push interrupted before its events were recorded", "repo", repo.FullName(), "ref", r.Ref, "new", r.New)
		s.Record(ctx, repo, pusher, []gitserver.RefUpdate{u})
	}
	if err := s.env.Store.ClearJournal(ctx, ids); err != nil {
		return fmt.Errorf("clear ref journal: %w", err)
	}
	return nil
}

// LandedChain decides which of one ref's journaled updates (in the order
// they were written) reached the disk, given the ref's value there: the
// newest update that set that value did, and so did each one before it
// whose result the next landed update started from.
func LandedChain(rows []store.RefIntent, onDisk string) []int64 {
	last := -1
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].New == onDisk {
			last = i
			break
		}
	}
	if last < 0 {
		return nil
	}
	out := []int64{rows[last].ID}
	want := rows[last].Old
	for i := last - 1; i >= 0; i-- {
		// Rows in between that do not lead to want were refused (a stale
		// old value) and are skipped.
		if rows[i].New == want {
			out = append([]int64{rows[i].ID}, out...)
			want = rows[i].Old
		}
	}
	return out
}

func isAncestor(r *git.Repository, old, new plumbing.Hash) bool {
	if r == nil {
		return false
	}
	oc, err := r.CommitObject(old)
	if err != nil {
		return false
	}
	nc, err := r.CommitObject(new)
	if err != nil {
		return false
	}
	ok, err := oc.IsAncestor(nc)
	return err == nil && ok
}
