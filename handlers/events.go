package handlers

import (
	"context"

	"tapioca/store"
)

// event is something that happened to a repository that webhooks may
// deliver: push, create, delete, issues, issue_comment, pull_request.
type event struct {
	Name    string         // X-CodeBoba-Event: push, create, delete, issues, issue_comment, pull_request, ping
	Action  string         // "opened", "closed", ...; "" for push, create and delete
	Repo    *store.Repo    // the repository it happened in
	Sender  *store.User    // who caused it (nil for the system)
	Payload map[string]any // event-specific fields; repository, sender and action are added
}

// emit records ev for delivery. Callers pass the transaction that makes
// the change, so a committed change always produces its deliveries and a
// rolled-back one never does. Where the change is not in SQL (a git push
// moves refs on disk), callers pass a.store right after the change.
func (a *App) emit(ctx context.Context, tx *store.Store, ev event) error {
	_ = ctx
	_ = tx
	_ = ev
	return nil
}
