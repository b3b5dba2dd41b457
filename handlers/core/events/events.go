// Package events records what happens in the forge for delivery: every
// operation that fires a webhook event calls Emit inside the transaction
// that makes its change, so a committed change always produces its
// deliveries (the outbox) and a rolled-back one never does. It also turns
// ref updates into push, create and delete events.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Event is something that happened to a repository that webhooks may
// deliver.
type Event struct {
	Name    string         // push, create, delete, issues, issue_comment, pull_request
	Action  string         // "opened", "closed", ...; "" for push, create and delete
	Repo    *store.Repo    // the repository it happened in
	Sender  *store.User    // who caused it (nil for the system)
	Payload map[string]any // event-specific fields; repository, sender and action are added
}

// Names are the events a hook may subscribe to (the seed's list).
var Names = []string{"push", "pull_request", "issues", "issue_comment", "create", "delete"}

// Waker is told when new deliveries are queued (the delivery worker).
type Waker interface{ Wake() }

// Emitter writes events into the outbox.
type Emitter struct {
	env  *core.Env
	wake Waker
}

// New returns an emitter that wakes w after queueing deliveries.
func New(env *core.Env, w Waker) *Emitter { return &Emitter{env: env, wake: w} }

// Emit records ev for delivery. Callers pass the transaction that makes
// the change. Where the change is not in SQL (a git push moves refs on
// disk), callers pass the store itself right after the change.
//
// The repository owner's active hooks subscribed to ev.Name each get one
// delivery row with the exact body they will be sent. The workers are
// woken at once; their claim needs the single writer connection, which
// this transaction holds until it commits, so they cannot miss the rows
// (and never see rolled-back ones).
func (e *Emitter) Emit(ctx context.Context, tx *store.Store, ev Event) error {
	if ev.Repo == nil {
		return fmt.Errorf("emit %s: no repository", ev.Name)
	}
	// Tx joins the caller's transaction, or makes one when given the
	// store, so the deliveries of one event land together.
	queued := false
	err := tx.Tx(ctx, func(tx *store.Store) error {
		hooks, err := tx.WebhooksForEvent(ctx, ev.Repo.OwnerID, ev.Name)
		if err != nil || len(hooks) == 0 {
			return err
		}
		body, err := Marshal(e.payload(ev))
		if err != nil {
			return err
		}
		for _, h := range hooks {
			ct, b := EncodeForHook(h.ContentType, body)
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
		e.Wake()
	}
	return nil
}

// Wake tells the delivery worker to look for due deliveries now.
func (e *Emitter) Wake() {
	if e.wake != nil {
		e.wake.Wake()
	}
}

// payload is ev.Payload plus action, repository and sender, as in the
// seed's push and pull_request examples.
func (e *Emitter) payload(ev Event) map[string]any {
	p := make(map[string]any, len(ev.Payload)+3)
	maps.Copy(p, ev.Payload)
	if ev.Action != "" {
		p["action"] = ev.Action
	}
	p["repository"] = e.env.Site().HookRepoOf(ev.Repo) // Emit refuses events without one
	if ev.Sender != nil {
		p["sender"] = payload.UserOf(ev.Sender)
	}
	return p
}

// Marshal encodes without HTML escaping, as the API writes JSON, so
// bodies read naturally in the delivery log.
func Marshal(p any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// EncodeForHook returns the Content-Type and body for a hook's
// content_type: the JSON itself, or GitHub's form encoding payload=<json>.
func EncodeForHook(contentType string, body []byte) (string, []byte) {
	if contentType == "form" {
		return "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(string(body)))
	}
	return "application/json", body
}

// Issue records an issues event. Pull requests fire pull_request events
// instead (see Pull); for them Issue does nothing.
func (e *Emitter) Issue(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	if i.IsPull {
		return nil
	}
	p := map[string]any{"number": i.Number, "issue": payload.IssueOf(i)}
	maps.Copy(p, extra)
	return e.Emit(ctx, tx, Event{Name: "issues", Action: action, Repo: repo, Sender: sender, Payload: p})
}

// Pull records a pull_request event for p, which the caller has just read
// or written through tx.
func (e *Emitter) Pull(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, p *store.Pull, extra map[string]any) error {
	pl := map[string]any{"number": p.Number, "pull_request": payload.PullOf(p)}
	maps.Copy(pl, extra)
	return e.Emit(ctx, tx, Event{Name: "pull_request", Action: action, Repo: repo, Sender: sender, Payload: pl})
}

// PullOfIssue records a pull_request event for the pull request i is the
// issue side of, read through tx so the payload shows the change being
// committed.
func (e *Emitter) PullOfIssue(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	p, err := tx.PullByID(ctx, i.ID)
	if err != nil {
		return err
	}
	return e.Pull(ctx, tx, repo, sender, action, p, extra)
}

// IssueOrPull sends an issues event for an issue and a pull_request event
// for a pull request.
func (e *Emitter) IssueOrPull(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	if i.IsPull {
		return e.PullOfIssue(ctx, tx, repo, sender, action, i, extra)
	}
	return e.Issue(ctx, tx, repo, sender, action, i, extra)
}

// Comment records an issue_comment event.
func (e *Emitter) Comment(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, issue *store.Issue, c *store.Comment, extra map[string]any) error {
	p := map[string]any{"comment": payload.CommentOf(c), "issue": payload.IssueOf(issue)}
	if issue.IsPull {
		p["is_pull_request"] = true
	}
	maps.Copy(p, extra)
	return e.Emit(ctx, tx, Event{Name: "issue_comment", Action: action, Repo: repo, Sender: sender, Payload: p})
}
