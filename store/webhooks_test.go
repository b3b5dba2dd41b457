package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func webhookFixture(t *testing.T) (*Store, *Webhook) {
	t.Helper()
	s := openTest(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Username: "hooker", Email: "h@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: u.ID, URL: "http://192.0.2.1/", ContentType: "json", Events: []string{"push"}, Active: true}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

func enqueue(t *testing.T, s *Store, h *Webhook, n int) []*Delivery {
	t.Helper()
	var out []*Delivery
	for i := 0; i < n; i++ {
		id, err := s.EnqueueDelivery(context.Background(), NewDelivery{WebhookID: h.ID, Event: "push", ContentType: "application/json", Body: []byte(`{"n":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.DeliveryByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// Concurrent claimers never get the same delivery twice.
func TestClaimDeliveriesIsExclusive(t *testing.T) {
	t.Parallel()
	s, h := webhookFixture(t)
	enqueue(t, s, h, 50)
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for {
				got, err := s.ClaimDeliveries(context.Background(), time.Now(), time.Minute, 3, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
					if d.Attempts != 1 || d.LeaseToken == "" || string(d.Body) != `{"n":1}` {
						t.Errorf("claimed %+v", d)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 50 {
		t.Errorf("claimed %d distinct deliveries, want 50", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %d claimed %d times", id, n)
		}
	}
}

func TestDeliveryLifecycle(t *testing.T) {
	t.Parallel()
	s, h := webhookFixture(t)
	ctx := context.Background()
	ds := enqueue(t, s, h, 3)
	now := time.Now()

	claimed, err := s.ClaimDeliveries(ctx, now, time.Minute, 10, 0)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	if again, _ := s.ClaimDeliveries(ctx, now, time.Minute, 10, 0); len(again) != 0 {
		t.Errorf("leased deliveries claimed again: %d", len(again))
	}
	// 1: fails, retry scheduled in the future; 2: succeeds; 3: gives up.
	retryAt := now.Add(time.Hour)
	results := []AttemptResult{
		{StatusCode: 500, RetryAt: retryAt},
		{StatusCode: 200, Succeeded: true},
		{Error: "connection refused"},
	}
	for i, c := range claimed {
		r := results[i]
		r.DeliveryID, r.LeaseToken, r.Attempt, r.URL, r.StartedAt, r.Duration = c.ID, c.LeaseToken, c.Attempts, h.URL, now, 15*time.Millisecond
		r.RequestHeaders = map[string]string{"X-CodeBoba-Event": "push"}
		if err := s.FinishAttempt(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{DeliveryRetrying, DeliverySucceeded, DeliveryFailed}
	for i, d := range ds {
		got, err := s.DeliveryByID(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want[i] || got.Attempts != 1 {
			t.Errorf("delivery %d: %s after %d attempts, want %s", i, got.Status, got.Attempts, want[i])
		}
		if (got.NextAttemptAt != nil) != (i == 0) || (got.DeliveredAt != nil) != (i == 1) {
			t.Errorf("delivery %d: next %v delivered %v", i, got.NextAttemptAt, got.DeliveredAt)
		}
	}
	if due, ok, err := s.NextDeliveryDue(ctx, now); err != nil || !ok || due.UnixMilli() != retryAt.UnixMilli() {
		t.Errorf("next due %v %v %v, want %v", due, ok, err, retryAt)
	}
	// Not due yet: nothing to claim; once due, claimed as attempt 2.
	if c, _ := s.ClaimDeliveries(ctx, now, time.Minute, 10, 0); len(c) != 0 {
		t.Errorf("claimed a delivery before its retry time")
	}
	c, err := s.ClaimDeliveries(ctx, retryAt, time.Minute, 10, 0)
	if err != nil || len(c) != 1 || c[0].Attempts != 2 {
		t.Fatalf("claim retry: %v %v", err, c)
	}
	// A stale worker (wrong token) cannot finish it, but its attempt is logged.
	err = s.FinishAttempt(ctx, AttemptResult{DeliveryID: c[0].ID, LeaseToken: "stale", Attempt: 2, StartedAt: now, Succeeded: true, StatusCode: 200})
	if !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale finish: %v", err)
	}
	if got, _ := s.DeliveryByID(ctx, c[0].ID); got.Status != DeliveryRetrying {
		t.Errorf("stale finish changed the status to %s", got.Status)
	}
	// Shutdown: released without counting the attempt.
	if err := s.ReleaseLease(ctx, c[0].ID, c[0].LeaseToken); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeliveryByID(ctx, c[0].ID); got.Attempts != 1 {
		t.Errorf("released attempt counted: %d", got.Attempts)
	}
	attempts, err := s.DeliveryAttempts(ctx, ds[0].ID)
	if err != nil || len(attempts) != 2 || *attempts[0].StatusCode != 500 || attempts[0].RequestHeaders["X-CodeBoba-Event"] != "push" {
		t.Errorf("attempts %v %v", attempts, err)
	}

	// Crash mid-attempt: the lease expires and the delivery is due again.
	c, _ = s.ClaimDeliveries(ctx, retryAt, time.Millisecond, 10, 0)
	if len(c) != 1 {
		t.Fatalf("reclaim %d", len(c))
	}
	if n, err := s.ReleaseExpiredLeases(ctx, retryAt.Add(time.Second), "interrupted"); err != nil || n != 1 {
		t.Fatalf("release expired: %d %v", n, err)
	}
	got, _ := s.DeliveryByID(ctx, c[0].ID)
	if got.LastError == nil || *got.LastError != "interrupted" || got.NextAttemptAt == nil || got.NextAttemptAt.After(time.Now()) {
		t.Errorf("after expiry %+v", got)
	}
	if c, _ := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 0); len(c) != 1 {
		t.Errorf("interrupted delivery not claimable again")
	}

	// Redelivery: same body, new guid, manual.
	re, err := s.RedeliverDelivery(ctx, ds[1].ID)
	if err != nil || re.GUID == ds[1].GUID || string(re.Body) != `{"n":1}` || !re.Manual || re.RedeliveryOf == nil || *re.RedeliveryOf != ds[1].ID {
		t.Errorf("redelivery %+v %v", re, err)
	}
	if _, err := s.RedeliverDelivery(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("redeliver missing: %v", err)
	}

	// Lists, filters and counts for the dashboard.
	failed, total, err := s.ListDeliveries(ctx, DeliveryFilter{Status: DeliveryFailed})
	if err != nil || total != 1 || failed[0].ID != ds[2].ID || failed[0].HookURL != h.URL || failed[0].HookOwner != "hooker" {
		t.Errorf("failed list %v %d %v", failed, total, err)
	}
	all, total, _ := s.ListDeliveries(ctx, DeliveryFilter{OwnerID: h.OwnerID, Limit: 2})
	if total != 4 || len(all) != 2 || all[0].ID != re.ID {
		t.Errorf("owner list %d %d", total, len(all))
	}
	for _, st := range []string{DeliveryFailed, DeliverySucceeded, DeliveryPending} {
		if _, n, err := s.ListDeliveries(ctx, DeliveryFilter{Status: st}); err != nil || n != 1 {
			t.Errorf("%s: %d %v", st, n, err)
		}
	}
	// Pruning keeps waiting deliveries whatever their age.
	if n, err := s.PruneDeliveries(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("pruned %d %v", n, err)
	}
	if _, total, _ := s.ListDeliveries(ctx, DeliveryFilter{}); total != 2 {
		t.Errorf("after prune %d", total)
	}
}

func TestWebhookStore(t *testing.T) {
	t.Parallel()
	s, h := webhookFixture(t)
	ctx := context.Background()
	if _, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: h.OwnerID, URL: "http://x/", ContentType: "json", Events: []string{"issues"}, Active: false}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: h.OwnerID, URL: "http://y/", ContentType: "json", Events: []string{"issues"}}, 2); !errors.Is(err, ErrWebhookLimit) {
		t.Errorf("over the limit: %v", err)
	}
	if hs, err := s.WebhooksForEvent(ctx, h.OwnerID, "push"); err != nil || len(hs) != 1 || hs[0].ID != h.ID {
		t.Errorf("for push %v %v", hs, err)
	}
	if hs, _ := s.WebhooksForEvent(ctx, h.OwnerID, "issues"); len(hs) != 0 {
		t.Errorf("inactive hook selected: %v", hs)
	}
	active := false
	u, err := s.UpdateWebhook(ctx, h.OwnerID, h.ID, WebhookUpdate{Active: &active, Events: []string{"push", "issues"}})
	if err != nil || u.Active || len(u.Events) != 2 || u.URL != h.URL {
		t.Errorf("update %+v %v", u, err)
	}
	if _, err := s.UpdateWebhook(ctx, h.OwnerID+1, h.ID, WebhookUpdate{Active: &active}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update by another owner: %v", err)
	}
	// Deliveries of an inactive hook wait; deleting the hook removes them.
	enqueue(t, s, h, 1)
	if c, _ := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 0); len(c) != 0 {
		t.Errorf("claimed a delivery of an inactive hook")
	}
	if err := s.DeleteWebhook(ctx, h.OwnerID, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.ListDeliveries(ctx, DeliveryFilter{}); total != 0 {
		t.Errorf("deliveries outlived their hook: %d", total)
	}
}

// One hook never holds more than perHook leases, so others get workers.
func TestClaimDeliveriesPerHookCap(t *testing.T) {
	t.Parallel()
	s, slow := webhookFixture(t)
	ctx := context.Background()
	fast, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: slow.OwnerID, URL: "http://192.0.2.2/", ContentType: "json", Events: []string{"push"}, Active: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, slow, 5)
	enqueue(t, s, fast, 1)
	byHook := func(cs []*ClaimedDelivery) map[int64]int {
		m := map[int64]int{}
		for _, c := range cs {
			m[c.WebhookID]++
		}
		return m
	}
	first, err := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 2)
	if m := byHook(first); err != nil || m[slow.ID] != 2 || m[fast.ID] != 1 {
		t.Fatalf("first claim %v %v", m, err)
	}
	if again, _ := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 2); len(again) != 0 {
		t.Errorf("claimed past the per-hook cap: %v", byHook(again))
	}
	for _, c := range first {
		if c.WebhookID == slow.ID {
			if err := s.FinishAttempt(ctx, AttemptResult{DeliveryID: c.ID, LeaseToken: c.LeaseToken, Attempt: 1, StartedAt: time.Now(), StatusCode: 200, Succeeded: true}); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if next, _ := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 2); len(next) != 1 || next[0].WebhookID != slow.ID {
		t.Errorf("after one finished: %v", byHook(next))
	}
}

// Hooks take turns: a hook with a backlog does not delay another hook's
// newer delivery behind all of it.
func TestClaimDeliveriesTakeTurns(t *testing.T) {
	t.Parallel()
	s, flood := webhookFixture(t)
	ctx := context.Background()
	other, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: flood.OwnerID, URL: "http://192.0.2.3/", ContentType: "json", Events: []string{"push"}, Active: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, flood, 100)
	late := enqueue(t, s, other, 1)[0]
	got, err := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 2, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim %v %v", got, err)
	}
	if got[0].WebhookID != flood.ID || got[1].ID != late.ID {
		t.Errorf("claimed hooks %d and %d, want the flood's oldest and the other's", got[0].WebhookID, got[1].WebhookID)
	}
}
