package events_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// testEnv is a core environment on a fresh data directory: a real SQLite
// database, no HTTP anywhere.
func testEnv(t *testing.T) *core.Env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := core.NewEnv(st, gitserver.New(gitserver.Config{Logger: log}), core.Config{DataDir: dir, BaseURL: "http://forge.test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func prOpened(repo *store.Repo, u *store.User, i *store.Issue) events.Event {
	return events.Event{Name: "pull_request", Action: "opened", Repo: repo, Sender: u,
		Payload: map[string]any{"number": i.Number, "pull_request": payload.IssueOf(i)}}
}

// TestEmitFollowsTheTransaction: a committed change always has its
// delivery, a rolled-back one never does, and only active hooks
// subscribed to the event get one.
func TestEmitFollowsTheTransaction(t *testing.T) {
	t.Parallel()
	env := testEnv(t)
	em := events.New(env, nil)
	ctx := context.Background()
	st := env.Store
	u, err := st.CreateUser(ctx, store.NewUser{Username: "alice", Email: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := st.CreateRepo(ctx, store.NewRepo{OwnerID: u.ID, Name: "lib"})
	if err != nil {
		t.Fatal(err)
	}
	hook := func(events []string, active bool) *store.Webhook {
		h, err := st.CreateWebhook(ctx, store.NewWebhook{OwnerID: u.ID, URL: "http://192.0.2.1/hook", ContentType: "json", Events: events, Active: active}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	prHook := hook([]string{"pull_request"}, true)
	issuesHook := hook([]string{"issues"}, true)
	inactive := hook([]string{"pull_request"}, false)
	count := func(h *store.Webhook) int {
		_, n, err := st.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: h.ID})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Rolled back: the pull request row and its delivery both vanish.
	boom := errors.New("later step failed")
	err = st.Tx(ctx, func(tx *store.Store) error {
		i, err := tx.CreateIssue(ctx, store.NewIssue{RepoID: repo.ID, IsPull: true, Title: "rolled back", AuthorID: u.ID})
		if err != nil {
			return err
		}
		if err := em.Emit(ctx, tx, prOpened(repo, u, i)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("tx: %v", err)
	}
	if n := count(prHook); n != 0 {
		t.Errorf("rolled-back change left %d deliveries", n)
	}

	// Committed: exactly one delivery, for the subscribed active hook.
	err = st.Tx(ctx, func(tx *store.Store) error {
		i, err := tx.CreateIssue(ctx, store.NewIssue{RepoID: repo.ID, IsPull: true, Title: "kept", AuthorID: u.ID})
		if err != nil {
			return err
		}
		return em.Emit(ctx, tx, prOpened(repo, u, i))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, m, k := count(prHook), count(issuesHook), count(inactive); n != 1 || m != 0 || k != 0 {
		t.Errorf("deliveries: subscribed %d, other event %d, inactive %d; want 1, 0, 0", n, m, k)
	}
	list, _, err := st.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: prHook.ID})
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.DeliveryByID(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Event != "pull_request" || d.Action != "opened" || d.Status != store.DeliveryPending || len(d.GUID) != 36 {
		t.Errorf("delivery %+v", d)
	}

	// emit given the store itself (no transaction) still records the
	// event atomically.
	if err := em.Emit(ctx, st, events.Event{Name: "issues", Action: "opened", Repo: repo, Sender: u, Payload: map[string]any{"number": 9}}); err != nil {
		t.Fatal(err)
	}
	if n := count(issuesHook); n != 1 {
		t.Errorf("issues deliveries %d", n)
	}
}
