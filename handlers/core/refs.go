package core

import (
	"context"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/store"
)

// RefRecorder is how a service that moves refs itself (a branch made
// through the API, a merge) goes through the same steps as a push: the
// update is journaled before the ref moves, and afterwards recorded
// (push time, events, pull requests). The pushes service implements it.
type RefRecorder interface {
	// Begin journals u before the ref moves; done clears the journal row
	// and must be called after Record (deferring it is right).
	Begin(ctx context.Context, repo *store.Repo, pusher *store.User, u gitserver.RefUpdate) (done func(), err error)
	// BeginMerge is Begin for the base move of pull request pullID's
	// merge: should the process stop before the merge is recorded, the
	// next start finishes it (the merge intent).
	BeginMerge(ctx context.Context, repo *store.Repo, merger *store.User, pullID int64, u gitserver.RefUpdate) (done func(), err error)
	// Record records what updates that already moved the refs change.
	Record(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate)
}

// BranchUpdate builds the RefUpdate an API change of a branch amounts
// to. The API only ever creates, deletes or moves a branch forward.
func BranchUpdate(branch string, old, new plumbing.Hash) gitserver.RefUpdate {
	return gitserver.RefUpdate{Name: "refs/heads/" + branch, Old: old, New: new, FastForward: !new.IsZero()}
}
