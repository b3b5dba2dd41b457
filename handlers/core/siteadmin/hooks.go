package siteadmin

import (
	"context"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/text"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
)

// Hook loads any user's or organization's hook, with its owner.
func (s *Service) Hook(ctx context.Context, a core.Actor, id int64) (*store.Webhook, *store.User, error) {
	if err := s.Check(a); err != nil {
		return nil, nil, err
	}
	if id < 1 {
		return nil, nil, core.NotFound("There is no webhook %d.", id)
	}
	h, err := s.env.Store.WebhookByID(ctx, id)
	if err != nil {
		return nil, nil, core.NotFound("There is no webhook %d; it may have been deleted.", id)
	}
	owner, err := s.env.Store.UserByID(ctx, h.OwnerID)
	if err != nil {
		return nil, nil, err
	}
	return h, owner, nil
}

func hookTarget(h *store.Webhook) string { return "#" + strconv.FormatInt(h.ID, 10) }

// SetHookActive switches a hook on or off: an inactive hook's deliveries
// wait (pings and redeliveries still go out).
func (s *Service) SetHookActive(ctx context.Context, a core.Actor, id int64, active bool) (*store.Webhook, error) {
	h, owner, err := s.Hook(ctx, a, id)
	if err != nil {
		return nil, err
	}
	h, err = s.hooks.Update(ctx, a, owner, h, webhooks.Fields{Active: core.Some(active)})
	if err != nil {
		return nil, err
	}
	verb := "disabled webhook"
	if active {
		verb = "enabled webhook"
	}
	s.auditOf(ctx, a, verb, store.TargetHook, hookTarget(h))
	return h, nil
}

// DeleteHook deletes a hook with its delivery log and returns what it
// was.
func (s *Service) DeleteHook(ctx context.Context, a core.Actor, id int64) (*store.Webhook, error) {
	h, owner, err := s.Hook(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if err := s.hooks.Delete(ctx, owner, h); err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "deleted "+owner.Username+"'s webhook to", "", h.URL)
	return h, nil
}

// FailedDeliveries selects the failed deliveries RedeliverFailed sends
// again; zero fields do not filter.
type FailedDeliveries struct {
	HookID int64
	Repo   *store.Repo
	Event  string
}

func (f FailedDeliveries) String() string {
	var parts []string
	if f.HookID != 0 {
		parts = append(parts, "hook #"+strconv.FormatInt(f.HookID, 10))
	}
	if f.Repo != nil {
		parts = append(parts, f.Repo.FullName())
	}
	if f.Event != "" {
		parts = append(parts, "event "+f.Event)
	}
	if len(parts) == 0 {
		return "every hook"
	}
	return strings.Join(parts, ", ")
}

// RedeliverBatch is how many failed deliveries one RedeliverFailed sends
// again; the rest wait for another call.
const RedeliverBatch = 500

// RedeliverFailed queues a redelivery of each failed delivery f selects
// that was not redelivered yet (so a failure is sent again once, however
// often this runs), at most RedeliverBatch at once; more reports that
// others are left.
func (s *Service) RedeliverFailed(ctx context.Context, a core.Actor, f FailedDeliveries) (n int, more bool, err error) {
	if err := s.Check(a); err != nil {
		return 0, false, err
	}
	v := core.Validation{}
	webhooks.CheckEvent(v, "event", f.Event)
	if err := v.Err(); err != nil {
		return 0, false, err
	}
	df := store.DeliveryFilter{WebhookID: f.HookID, Event: f.Event}
	if f.Repo != nil {
		df.RepoID = f.Repo.ID
	}
	n, more, err = s.hooks.RedeliverFailed(ctx, df, RedeliverBatch)
	if err != nil {
		return 0, false, err
	}
	if n > 0 {
		s.auditOf(ctx, a, "redelivered "+text.Count(n, "failed delivery", "failed deliveries")+" of", "", f.String())
	}
	return n, more, nil
}
