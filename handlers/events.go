package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"

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

// webhookEvents are the events a hook may subscribe to (the seed's list).
var webhookEvents = []string{"push", "pull_request", "issues", "issue_comment", "create", "delete"}

// emit records ev for delivery. Callers pass the transaction that makes
// the change, so a committed change always produces its deliveries and a
// rolled-back one never does. Where the change is not in SQL (a git push
// moves refs on disk), callers pass a.store right after the change.
//
// The repository owner's active hooks subscribed to ev.Name each get one
// delivery row with the exact body they will be sent. The workers are
// woken at once; their claim needs the single writer connection, which
// this transaction holds until it commits, so they cannot miss the rows
// (and never see rolled-back ones).
func (a *App) emit(ctx context.Context, tx *store.Store, ev event) error {
	if ev.Repo == nil {
		return fmt.Errorf("emit %s: no repository", ev.Name)
	}
	// Tx joins the caller's transaction, or makes one when given a.store,
	// so the deliveries of one event land together.
	queued := false
	err := tx.Tx(ctx, func(tx *store.Store) error {
		hooks, err := tx.WebhooksForEvent(ctx, ev.Repo.OwnerID, ev.Name)
		if err != nil || len(hooks) == 0 {
			return err
		}
		body, err := marshalPayload(a.eventPayload(ev))
		if err != nil {
			return err
		}
		for _, h := range hooks {
			ct, b := encodeForHook(h.ContentType, body)
			if _, err := tx.EnqueueDelivery(ctx, store.NewDelivery{
				WebhookID: h.ID, Event: ev.Name, Action: ev.Action, RepoID: ev.Repo.ID, ContentType: ct, Body: b,
			}); err != nil {
				return err
			}
		}
		queued = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("emit %s: %w", ev.Name, err)
	}
	if queued {
		a.wakeDeliveries()
	}
	return nil
}

// eventPayload is ev.Payload plus action, repository and sender, as in the
// seed's push and pull_request examples.
func (a *App) eventPayload(ev event) map[string]any {
	p := make(map[string]any, len(ev.Payload)+3)
	maps.Copy(p, ev.Payload)
	if ev.Action != "" {
		p["action"] = ev.Action
	}
	p["repository"] = a.hookRepoJSON(ev.Repo) // emit refuses events without one
	if ev.Sender != nil {
		p["sender"] = userBrief(ev.Sender)
	}
	return p
}

// hookRepoJSON is the repository inside payloads: the API's repository
// shape plus GitHub's private flag and the API URL.
type hookRepoJSON struct {
	repoJSON
	Private bool   `json:"private"`
	URL     string `json:"url"`
}

func (a *App) hookRepoJSON(r *store.Repo) hookRepoJSON {
	return hookRepoJSON{
		repoJSON: a.repoJSON(r),
		Private:  r.Private,
		URL:      strings.TrimRight(a.baseURL(), "/") + "/api/v1/repos/" + r.FullName(),
	}
}

// marshalPayload encodes without HTML escaping, as the API writes JSON,
// so bodies read naturally in the delivery log.
func marshalPayload(p any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// encodeForHook returns the Content-Type and body for a hook's
// content_type: the JSON itself, or GitHub's form encoding payload=<json>.
func encodeForHook(contentType string, body []byte) (string, []byte) {
	if contentType == "form" {
		return "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(body)))
	}
	return "application/json", body
}
