package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/store"
)

// Refs live on disk and events in SQLite, so no transaction covers a push:
// a crash after a ref moved and before its events were recorded would lose
// them. The ref journal closes that gap. Every ref update is written to it
// before the ref moves and cleared only after afterPush has recorded
// everything that follows (events, pull request sync); at start-up the
// rows left behind are checked against the refs on disk and afterPush runs
// again for the updates that did land. Events are therefore delivered at
// least once: a crash in the last instant can repeat them, never lose them.

// journal records u as about to happen and returns the row id.
func (a *App) journal(ctx context.Context, repo *store.Repo, pusher *store.User, u gitserver.RefUpdate) (int64, error) {
	var pusherID int64
	if pusher != nil {
		pusherID = pusher.ID
	}
	return a.store.JournalRefUpdate(ctx, repo.ID, pusherID, u.Name, u.Old.String(), u.New.String())
}

// clearJournal forgets journal rows whose push is fully recorded (or
// refused). It must not fail the request: a row left behind is checked
// against the disk at the next start.
func (a *App) clearJournal(ctx context.Context, ids []int64) {
	if err := a.store.ClearJournal(context.WithoutCancel(ctx), ids); err != nil {
		a.log.WarnContext(ctx, "clear ref journal", "err", err)
	}
}

// journalOne journals one API-made ref update (branch creation and
// deletion, merges) and returns the function that clears it; callers defer
// that so the row goes only after afterPush has run.
func (a *App) journalOne(ctx context.Context, repo *store.Repo, pusher *store.User, u gitserver.RefUpdate) (clear func(), err error) {
	id, err := a.journal(ctx, repo, pusher, u)
	if err != nil {
		return nil, err
	}
	return func() { a.clearJournal(ctx, []int64{id}) }, nil
}

// recoverJournal replays afterPush for journaled updates that reached the
// disk before the process stopped, then empties the journal.
func (a *App) recoverJournal(ctx context.Context) error {
	rows, err := a.store.PendingRefIntents(ctx)
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
			gr, err = gitserver.Open(a.repoPath(k.repo))
			if err != nil {
				a.log.WarnContext(ctx, "ref journal: open repository", "repo", k.repo, "err", err)
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
			a.log.WarnContext(ctx, "ref journal: read ref", "repo", k.repo, "ref", k.ref, "err", err)
			continue
		}
		for _, id := range landedChain(groups[k], onDisk.String()) {
			landed[id] = true
		}
	}
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ID)
		if !landed[r.ID] {
			continue
		}
		repo, err := a.store.RepoByID(ctx, r.RepoID)
		if err != nil {
			continue
		}
		var pusher *store.User
		if r.PusherID != 0 {
			pusher, _ = a.store.UserByID(ctx, r.PusherID)
		}
		u := gitserver.RefUpdate{Name: r.Ref, Old: plumbing.NewHash(r.Old), New: plumbing.NewHash(r.New)}
		u.FastForward = u.Old.IsZero() || (!u.New.IsZero() && isAncestor(repos[r.RepoID], u.Old, u.New))
		a.log.InfoContext(ctx, "replaying a push interrupted before its events were recorded", "repo", repo.FullName(), "ref", r.Ref, "new", r.New)
		a.afterPush(ctx, repo, pusher, []gitserver.RefUpdate{u})
	}
	if err := a.store.ClearJournal(ctx, ids); err != nil {
		return fmt.Errorf("clear ref journal: %w", err)
	}
	return nil
}

// landedChain decides which of one ref's journaled updates (in the order
// they were written) reached the disk, given the ref's value there: the
// newest update that set that value did, and so did each one before it
// whose result the next landed update started from.
func landedChain(rows []store.RefIntent, onDisk string) []int64 {
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
