// Package webhooks is the forge core's webhook service: user and
// organization hooks (configuration, pings), their delivery log and
// redeliveries, and the worker pool that delivers the outbox with
// retries.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

const (
	// MaxPerOwner is how many hooks a user or organization may have: as
	// GitHub, enough for any real setup, and it bounds fan-out per event.
	MaxPerOwner = 20
	maxSecret   = 256
	// logRetention is how long finished deliveries stay in the log.
	logRetention = 30 * 24 * time.Hour
)

// Service is the webhook service.
type Service struct {
	env    *core.Env
	events *events.Emitter
	policy core.NetPolicy
}

// New returns the webhook service; policy decides which receiver
// addresses hooks may have.
func New(env *core.Env, ev *events.Emitter, policy core.NetPolicy) *Service {
	return &Service{env: env, events: ev, policy: policy}
}

// Owner is whose hooks an operation addresses: the actor's own (org
// empty) or an organization's, whose admins and owners manage them (also
// for reading).
func (s *Service) Owner(ctx context.Context, a core.Actor, org string) (*store.User, error) {
	if org == "" {
		return a.Require()
	}
	o, _, err := s.env.OrgAccess(ctx, a, org, store.RoleAdmin)
	return o, err
}

// Hook loads a hook of owner; another owner's hook does not exist.
func (s *Service) Hook(ctx context.Context, owner *store.User, id int64) (*store.Webhook, error) {
	if id < 1 {
		return nil, core.ErrHidden
	}
	return s.env.Store.OwnedWebhook(ctx, owner.ID, id)
}

// Fields are a hook's parameters; absent ones keep their value (or
// default, at creation).
type Fields struct {
	URL         core.Opt[string]
	Secret      core.Opt[string] // null or "" removes it
	ContentType core.Opt[string] // json or form
	Events      core.Opt[[]string]
	Active      core.Opt[bool]
	// AllowLoopback lets the hook reach loopback and link-local
	// addresses: site administrators only.
	AllowLoopback core.Opt[bool]
}

// checkURL validates a receiver URL (see core.CheckReceiverURL);
// allowLoopback is the hook's site-administrator allowance.
func (s *Service) checkURL(ctx context.Context, v core.Validation, raw string, allowLoopback bool) string {
	if allowLoopback {
		ctx = core.AllowLoopbackFor(ctx)
	}
	return core.CheckReceiverURL(ctx, s.policy, v, "url", raw, "use the secret to sign deliveries")
}

// checkEvents validates a subscription list, dropping duplicates.
func checkEvents(v core.Validation, evs []string) []string {
	if len(evs) == 0 {
		v.Add("events", "must include at least one event")
		return nil
	}
	out := []string{}
	for _, e := range evs {
		e = strings.TrimSpace(e)
		if !slices.Contains(events.Names, e) {
			v.Add("events", fmt.Sprintf("has an unknown event %q (available: %s)", e, strings.Join(events.Names, ", ")))
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func checkContentType(v core.Validation, ct string) string {
	if ct != "json" && ct != "form" {
		v.Add("content_type", "must be json or form")
	}
	return ct
}

func checkSecret(v core.Validation, secret string) string {
	if len(secret) > maxSecret {
		v.Add("secret", fmt.Sprintf("is too long (maximum is %d characters)", maxSecret))
	}
	return secret
}

// List lists owner's hooks.
func (s *Service) List(ctx context.Context, owner *store.User, p core.Page) ([]*store.Webhook, int, error) {
	hooks, err := s.env.Store.ListWebhooks(ctx, owner.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(hooks, p)
	return page, total, nil
}

// checkAllowLoopback reads the allowance: only site administrators may
// give it.
func checkAllowLoopback(v core.Validation, a core.Actor, o core.Opt[bool]) *bool {
	if !o.Set {
		return nil
	}
	if o.Null {
		v.Add("allow_loopback", "must be true or false")
		return nil
	}
	if o.V && !a.SiteAdmin() {
		v.Add("allow_loopback", "can only be set by a site administrator")
		return nil
	}
	return &o.V
}

// Create adds a hook for owner (json, push, active unless given), on
// behalf of a.
func (s *Service) Create(ctx context.Context, a core.Actor, owner *store.User, f Fields) (*store.Webhook, error) {
	v := core.Validation{}
	nw := store.NewWebhook{OwnerID: owner.ID, ContentType: "json", Events: []string{"push"}, Active: true}
	if allow := checkAllowLoopback(v, a, f.AllowLoopback); allow != nil {
		nw.AllowLoopback = *allow
	}
	if f.URL.Null {
		v.Add("url", "can't be blank")
	} else {
		nw.URL = s.checkURL(ctx, v, f.URL.V, nw.AllowLoopback)
	}
	if f.Secret.Given() {
		nw.Secret = s.env.Secrets.Seal(checkSecret(v, f.Secret.V))
	}
	if f.ContentType.Given() {
		nw.ContentType = checkContentType(v, f.ContentType.V)
	}
	if f.Events.Given() {
		nw.Events = checkEvents(v, f.Events.V)
	}
	if f.Active.Given() {
		nw.Active = f.Active.V
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	h, err := s.env.Store.CreateWebhook(ctx, nw, MaxPerOwner)
	if errors.Is(err, store.ErrWebhookLimit) {
		return nil, core.Invalid("base", fmt.Sprintf("Webhook limit reached (%d per account)", MaxPerOwner))
	}
	return h, err
}

// Update changes only the fields given, on behalf of a. A null secret
// (or "") removes it; null for the others is invalid.
func (s *Service) Update(ctx context.Context, a core.Actor, owner *store.User, h *store.Webhook, f Fields) (*store.Webhook, error) {
	v := core.Validation{}
	var u store.WebhookUpdate
	u.AllowLoopback = checkAllowLoopback(v, a, f.AllowLoopback)
	allow := h.AllowLoopback
	if u.AllowLoopback != nil {
		allow = *u.AllowLoopback
	}
	url := h.URL
	if f.URL.Set {
		if f.URL.Null {
			v.Add("url", "can't be blank")
		} else {
			url = s.checkURL(ctx, v, f.URL.V, allow)
			u.URL = &url
		}
	} else if u.AllowLoopback != nil && !allow {
		// Taking the allowance away re-checks the address kept.
		s.checkURL(ctx, v, url, false)
	}
	if f.Secret.Set {
		str := ""
		if !f.Secret.Null {
			str = s.env.Secrets.Seal(checkSecret(v, f.Secret.V))
		}
		u.Secret = &str
	}
	if f.ContentType.Set {
		if f.ContentType.Null {
			v.Add("content_type", "must be json or form")
		} else {
			str := checkContentType(v, f.ContentType.V)
			u.ContentType = &str
		}
	}
	if f.Events.Set {
		if f.Events.Null {
			v.Add("events", "must include at least one event")
		} else {
			u.Events = checkEvents(v, f.Events.V)
		}
	}
	if f.Active.Set {
		if f.Active.Null {
			v.Add("active", "must be a boolean")
		} else {
			u.Active = &f.Active.V
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	h, err := s.env.Store.UpdateWebhook(ctx, owner.ID, h.ID, u)
	if err != nil {
		return nil, err
	}
	if h.Active {
		s.events.Wake() // deliveries held while it was inactive go out now
	}
	return h, nil
}

// Delete removes a hook and its deliveries.
func (s *Service) Delete(ctx context.Context, owner *store.User, h *store.Webhook) error {
	return s.env.Store.DeleteWebhook(ctx, owner.ID, h.ID)
}

// Zen is the ping payload's line.
const Zen = "Nothing accepted is ever lost."

// Ping queues a ping event (GitHub's shape: zen, hook_id, hook, sender)
// and returns the delivery, which the caller can follow.
func (s *Service) Ping(ctx context.Context, sender *store.User, h *store.Webhook) (*store.Delivery, error) {
	p := map[string]any{
		"zen":     Zen,
		"hook_id": h.ID,
		"hook":    payload.WebhookOf(h),
	}
	if sender != nil {
		p["sender"] = payload.UserOf(sender)
	}
	body, err := events.Marshal(p)
	if err != nil {
		return nil, err
	}
	ct, b := events.EncodeForHook(h.ContentType, body)
	id, err := s.env.Store.EnqueueDelivery(ctx, store.NewDelivery{WebhookID: h.ID, Event: "ping", ContentType: ct, Body: b, Manual: true})
	if err != nil {
		return nil, err
	}
	d, err := s.env.Store.DeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	s.events.Wake()
	return d, nil
}

// Statuses are the delivery states a list may filter on.
var Statuses = []string{store.DeliveryPending, store.DeliveryRetrying, store.DeliverySucceeded, store.DeliveryFailed}

// Deliveries lists a hook's deliveries newest first, optionally of one
// status and event.
func (s *Service) Deliveries(ctx context.Context, h *store.Webhook, status, event string, p core.Page) ([]*store.Delivery, int, error) {
	f := store.DeliveryFilter{WebhookID: h.ID, Status: status, Event: event, Limit: p.Limit, Offset: p.Offset}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return nil, 0, core.Invalid("status", "must be one of "+strings.Join(Statuses, ", "))
	}
	if f.Event != "" && f.Event != "ping" && !slices.Contains(events.Names, f.Event) {
		return nil, 0, core.Invalid("event", "must be one of ping, "+strings.Join(events.Names, ", "))
	}
	return s.env.Store.ListDeliveries(ctx, f)
}

// Delivery loads a delivery of hook h.
func (s *Service) Delivery(ctx context.Context, h *store.Webhook, id int64) (*store.Delivery, error) {
	if id < 1 {
		return nil, core.ErrHidden
	}
	d, err := s.env.Store.DeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.WebhookID != h.ID {
		return nil, core.ErrHidden
	}
	return d, nil
}

// Attempts is a delivery's attempt log.
func (s *Service) Attempts(ctx context.Context, d *store.Delivery) ([]*store.DeliveryAttempt, error) {
	return s.env.Store.DeliveryAttempts(ctx, d.ID)
}

// Redeliver queues a new delivery of the same payload (a new GUID); the
// API and the dashboard both use it.
func (s *Service) Redeliver(ctx context.Context, deliveryID int64) (*store.Delivery, error) {
	d, err := s.env.Store.RedeliverDelivery(ctx, deliveryID)
	if err != nil {
		return nil, err
	}
	s.events.Wake()
	return d, nil
}

// CheckEvent validates an event filter: "", ping or an event's name.
func CheckEvent(v core.Validation, field, event string) {
	if event != "" && event != "ping" && !slices.Contains(events.Names, event) {
		v.Add(field, "must be one of ping, "+strings.Join(events.Names, ", "))
	}
}

// RedeliverFailed queues a redelivery of every failed delivery f selects
// that was not redelivered yet, at most limit of them; more reports that
// others are left for another call.
func (s *Service) RedeliverFailed(ctx context.Context, f store.DeliveryFilter, limit int) (n int, more bool, err error) {
	n, more, err = s.env.Store.RedeliverFailed(ctx, f, limit)
	if err != nil {
		return 0, false, err
	}
	if n > 0 {
		s.events.Wake()
	}
	return n, more, nil
}

// SealSecrets seals the hook secrets stored in plain text before
// secrets were sealed; it runs at start-up.
func (s *Service) SealSecrets(ctx context.Context) error {
	plain, err := s.env.Store.UnsealedWebhookSecrets(ctx, core.Sealed)
	if err != nil {
		return err
	}
	for id, secret := range plain {
		if err := s.env.Store.SetWebhookSecret(ctx, id, s.env.Secrets.Seal(secret)); err != nil {
			return err
		}
	}
	return nil
}

// Sweep re-queues deliveries whose lease expired (a stuck or crashed
// attempt), wakes the workers for retries that are due, and prunes
// finished deliveries older than the retention; the scheduled job
// "webhook-retry-sweep" runs it.
func (s *Service) Sweep(ctx context.Context, d *Deliverer) error {
	if _, err := d.ReleaseStuck(ctx); err != nil {
		return err
	}
	if _, err := s.env.Store.PruneDeliveries(ctx, time.Now().Add(-logRetention)); err != nil {
		return err
	}
	d.Wake()
	return nil
}
