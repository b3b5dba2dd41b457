package events_test

import (
	"context"
	"fmt"
	"testing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
)

// TestManyNewRefsAreCoalesced: a push that creates many refs does not
// queue two deliveries per ref and hook: past MaxCreateEvents, new refs
// fire no create event and new tags no push event.
func TestManyNewRefsAreCoalesced(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	me := f.User(t, "tagger")
	repo, err := f.Repos.Create(ctx, me, "", repos.Creation{Name: "many", AutoInit: true})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := f.Webhooks.Create(ctx, me, me.User, webhooks.Fields{URL: core.Some("http://192.0.2.1/h"),
		Events: core.Some([]string{"push", "create"})})
	if err != nil {
		t.Fatal(err)
	}
	tip, _, err := f.Env.BranchTip(ctx, repo, "master")
	if err != nil {
		t.Fatal(err)
	}
	var updates []gitserver.RefUpdate
	for i := range 25 {
		updates = append(updates, gitserver.RefUpdate{Name: fmt.Sprintf("refs/heads/b%d", i), New: tip, FastForward: true})
	}
	for i := range 30 {
		updates = append(updates, gitserver.RefUpdate{Name: fmt.Sprintf("refs/tags/v%d", i), New: tip, FastForward: true})
	}
	f.Events.Push(ctx, repo, me.User, updates)
	count := func(event string) int {
		_, n, err := f.Env.Store.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: hook.ID, Event: event})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if c, p := count("create"), count("push"); c != events.MaxCreateEvents || p != 25 {
		t.Errorf("create deliveries %d (want %d), push deliveries %d (want 25: every new branch, no tag past the limit)", c, events.MaxCreateEvents, p)
	}
	// A small push is not affected.
	f.Events.Push(ctx, repo, me.User, []gitserver.RefUpdate{{Name: "refs/tags/one", New: tip, FastForward: true}})
	if c, p := count("create"), count("push"); c != events.MaxCreateEvents+1 || p != 26 {
		t.Errorf("after a one-tag push: create %d, push %d", c, p)
	}
}
