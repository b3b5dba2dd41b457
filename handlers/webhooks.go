package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"tapioca/store"
)

const (
	maxWebhooksPerOwner = 20 // as GitHub: enough for any real setup, bounds fan-out per event
	maxWebhookURL       = 2048
	maxWebhookSecret    = 256
	// webhookLogRetention is how long finished deliveries stay in the log.
	webhookLogRetention = 30 * 24 * time.Hour
)

// routesWebhooks registers user and organization webhooks and their
// deliveries. Both trees share handlers: hookOwner tells whose hooks a
// request is about.
func (a *App) routesWebhooks() {
	for _, base := range []string{"/api/v1/user/webhooks", "/api/v1/orgs/{org}/webhooks"} {
		a.api("GET "+base, areaGeneral, a.listWebhooks)
		a.api("POST "+base, areaGeneral, a.createWebhook)
		a.api("GET "+base+"/{id}", areaGeneral, a.getWebhook)
		a.api("PATCH "+base+"/{id}", areaGeneral, a.updateWebhook)
		a.api("DELETE "+base+"/{id}", areaGeneral, a.deleteWebhook)
		a.api("POST "+base+"/{id}/pings", areaGeneral, a.pingWebhook)
		a.api("GET "+base+"/{id}/deliveries", areaGeneral, a.listHookDeliveries)
		a.api("GET "+base+"/{id}/deliveries/{delivery_id}", areaGeneral, a.getHookDelivery)
		a.api("POST "+base+"/{id}/deliveries/{delivery_id}/redeliver", areaGeneral, a.redeliverHookDelivery)
		// GitHub's name for the same action.
		a.api("POST "+base+"/{id}/deliveries/{delivery_id}/attempts", areaGeneral, a.redeliverHookDelivery)
	}
}

// initWebhooks prepares webhook delivery and adds its workers.
func (a *App) initWebhooks(ctx context.Context) error {
	d, err := newWebhookDeliverer(a.cfg)
	if err != nil {
		return err
	}
	a.hooks = d
	// One process per data directory: leases still held were held by a
	// process that died (SIGKILL, power cut). Its attempts are logged as
	// interrupted and the deliveries go out again at once.
	n, err := a.store.ReleaseExpiredLeases(ctx, time.Now().AddDate(100, 0, 0), "interrupted: the server stopped during this attempt")
	if err != nil {
		return fmt.Errorf("resume webhook deliveries: %w", err)
	}
	if n > 0 {
		a.log.Warn("resuming webhook deliveries interrupted by a crash", "count", n)
	}
	a.workers = append(a.workers, a.runDeliveries)
	return nil
}

// sweepWebhooks re-queues deliveries whose lease expired (a stuck or
// crashed attempt), wakes the workers for retries that are due, and prunes
// finished deliveries older than the retention; the scheduled job
// "webhook-retry-sweep" runs it.
func (a *App) sweepWebhooks(ctx context.Context) error {
	if _, err := a.releaseStuckDeliveries(ctx); err != nil {
		return err
	}
	if _, err := a.store.PruneDeliveries(ctx, time.Now().Add(-webhookLogRetention)); err != nil {
		return err
	}
	a.wakeDeliveries()
	return nil
}

// redeliverDelivery queues a new delivery of the same payload and wakes
// the workers; the API and the dashboard both use it.
func (a *App) redeliverDelivery(ctx context.Context, deliveryID int64) (*store.Delivery, error) {
	d, err := a.store.RedeliverDelivery(ctx, deliveryID)
	if err != nil {
		return nil, err
	}
	a.wakeDeliveries()
	return d, nil
}

// hookOwner is the account whose hooks the request addresses: the caller
// for /user/webhooks, the organization (caller must be admin or owner)
// for /orgs/:org/webhooks.
func (a *App) hookOwner(r *http.Request) (*store.User, error) {
	if r.PathValue("org") == "" {
		return requireUser(r)
	}
	org, _, err := a.orgFor(r, store.RoleAdmin)
	return org, err
}

// hookFor loads the hook in the path; another owner's hook is a 404.
func (a *App) hookFor(r *http.Request) (*store.User, *store.Webhook, error) {
	owner, err := a.hookOwner(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, nil, err
	}
	h, err := a.store.OwnedWebhook(r.Context(), owner.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return owner, h, nil
}

type webhookJSON struct {
	ID          int64    `json:"id"`
	URL         string   `json:"url"`
	ContentType string   `json:"content_type"`
	Events      []string `json:"events"`
	Active      bool     `json:"active"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

// webhookOut never includes the secret: it is write-only.
func webhookOut(h *store.Webhook) webhookJSON {
	return webhookJSON{ID: h.ID, URL: h.URL, ContentType: h.ContentType, Events: h.Events, Active: h.Active,
		CreatedAt: timeJSON(h.CreatedAt), UpdatedAt: timeJSON(h.UpdatedAt)}
}

// webhookFields are the hook's parameters. They come flat (the seed), in
// GitHub's {"config": {"url", "secret", "content_type"}} or wrapped in
// {"webhook": {...}}.
type webhookFields struct {
	URL         opt[string]   `json:"url"`
	Secret      opt[string]   `json:"secret"`
	ContentType opt[string]   `json:"content_type"`
	Events      opt[[]string] `json:"events"`
	Active      opt[bool]     `json:"active"`
}

type webhookRequest struct {
	webhookFields
	Config  *webhookFields `json:"config"`
	Webhook *webhookFields `json:"webhook"`
}

// fields merges the accepted forms; a field given in several places takes
// the most specific (webhook, then config, then flat).
func (req webhookRequest) fields() webhookFields {
	f := req.webhookFields
	for _, g := range []*webhookFields{req.Config, req.Webhook} {
		if g == nil {
			continue
		}
		f.URL = or(g.URL, f.URL)
		f.Secret = or(g.Secret, f.Secret)
		f.ContentType = or(g.ContentType, f.ContentType)
		f.Events = or(g.Events, f.Events)
		f.Active = or(g.Active, f.Active)
	}
	return f
}

// checkURL validates a receiver URL: absolute http(s) with a host, and,
// when the host is a literal address, inside the network policy (hostnames
// are checked when dialled).
func (a *App) checkURL(v validation, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		v.add("url", "can't be blank")
		return ""
	}
	if len(raw) > maxWebhookURL {
		v.add("url", fmt.Sprintf("is too long (maximum is %d characters)", maxWebhookURL))
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		v.add("url", "is not a valid URL")
		return ""
	case u.Scheme != "http" && u.Scheme != "https":
		v.add("url", "must be an http or https URL")
		return ""
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := a.hooks.checkAddr(ip); err != nil {
			v.add("url", "is not allowed: "+err.Error())
			return ""
		}
	} else if a.hooks.denyLoopback && strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), "localhost") {
		v.add("url", "is not allowed: loopback destinations are refused on this server")
		return ""
	}
	return raw
}

// checkEvents validates a subscription list, dropping duplicates.
func checkEvents(v validation, events []string) []string {
	if len(events) == 0 {
		v.add("events", "must include at least one event")
		return nil
	}
	out := []string{}
	for _, e := range events {
		e = strings.TrimSpace(e)
		if !slices.Contains(webhookEvents, e) {
			v.add("events", fmt.Sprintf("has an unknown event %q (available: %s)", e, strings.Join(webhookEvents, ", ")))
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func checkContentType(v validation, ct string) string {
	if ct != "json" && ct != "form" {
		v.add("content_type", "must be json or form")
	}
	return ct
}

func checkSecret(v validation, secret string) string {
	if len(secret) > maxWebhookSecret {
		v.add("secret", fmt.Sprintf("is too long (maximum is %d characters)", maxWebhookSecret))
	}
	return secret
}

func (a *App) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	owner, err := a.hookOwner(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	hooks, err := a.store.ListWebhooks(r.Context(), owner.ID)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, webhookOut(h))
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

func (a *App) createWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, err := a.hookOwner(r)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.fields()
	v := validation{}
	nw := store.NewWebhook{OwnerID: owner.ID, ContentType: "json", Events: []string{"push"}, Active: true}
	if f.URL.Null {
		v.add("url", "can't be blank")
	} else {
		nw.URL = a.checkURL(v, f.URL.V)
	}
	if f.Secret.Set && !f.Secret.Null {
		nw.Secret = checkSecret(v, f.Secret.V)
	}
	if f.ContentType.Set && !f.ContentType.Null {
		nw.ContentType = checkContentType(v, f.ContentType.V)
	}
	if f.Events.Set && !f.Events.Null {
		nw.Events = checkEvents(v, f.Events.V)
	}
	if f.Active.Set && !f.Active.Null {
		nw.Active = f.Active.V
	}
	if err := v.err(); err != nil {
		return err
	}
	h, err := a.store.CreateWebhook(r.Context(), nw, maxWebhooksPerOwner)
	if errors.Is(err, store.ErrWebhookLimit) {
		return invalid("base", fmt.Sprintf("Webhook limit reached (%d per account)", maxWebhooksPerOwner))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, webhookOut(h))
	return nil
}

func (a *App) getWebhook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookOut(h))
	return nil
}

// updateWebhook changes only the fields given. A null secret (or "")
// removes it; null for the others is a 422.
func (a *App) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, h, err := a.hookFor(r)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.fields()
	v := validation{}
	var u store.WebhookUpdate
	if f.URL.Set {
		if f.URL.Null {
			v.add("url", "can't be blank")
		} else {
			s := a.checkURL(v, f.URL.V)
			u.URL = &s
		}
	}
	if f.Secret.Set {
		s := ""
		if !f.Secret.Null {
			s = checkSecret(v, f.Secret.V)
		}
		u.Secret = &s
	}
	if f.ContentType.Set {
		if f.ContentType.Null {
			v.add("content_type", "must be json or form")
		} else {
			s := checkContentType(v, f.ContentType.V)
			u.ContentType = &s
		}
	}
	if f.Events.Set {
		if f.Events.Null {
			v.add("events", "must include at least one event")
		} else {
			u.Events = checkEvents(v, f.Events.V)
		}
	}
	if f.Active.Set {
		if f.Active.Null {
			v.add("active", "must be a boolean")
		} else {
			u.Active = &f.Active.V
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	h, err = a.store.UpdateWebhook(r.Context(), owner.ID, h.ID, u)
	if err != nil {
		return err
	}
	if h.Active {
		a.wakeDeliveries() // deliveries held while it was inactive go out now
	}
	writeJSON(w, http.StatusOK, webhookOut(h))
	return nil
}

func (a *App) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, h, err := a.hookFor(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteWebhook(r.Context(), owner.ID, h.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pingWebhook queues a ping event (GitHub's shape: zen, hook_id, hook,
// sender) and answers 202 with the delivery, which the caller can follow.
func (a *App) pingWebhook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFor(r)
	if err != nil {
		return err
	}
	payload := map[string]any{
		"zen":     "Nothing accepted is ever lost.",
		"hook_id": h.ID,
		"hook":    webhookOut(h),
	}
	if u := who(r).user; u != nil {
		payload["sender"] = userBrief(u)
	}
	body, err := marshalPayload(payload)
	if err != nil {
		return err
	}
	ct, b := encodeForHook(h.ContentType, body)
	id, err := a.store.EnqueueDelivery(r.Context(), store.NewDelivery{WebhookID: h.ID, Event: "ping", ContentType: ct, Body: b, Manual: true})
	if err != nil {
		return err
	}
	d, err := a.store.DeliveryByID(r.Context(), id)
	if err != nil {
		return err
	}
	a.wakeDeliveries()
	writeJSON(w, http.StatusAccepted, deliveryOut(d))
	return nil
}

type deliveryJSON struct {
	ID            int64   `json:"id"`
	GUID          string  `json:"guid"`
	WebhookID     int64   `json:"webhook_id"`
	Event         string  `json:"event"`
	Action        *string `json:"action"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	StatusCode    *int    `json:"status_code"`
	DurationMS    *int64  `json:"duration_ms"`
	Error         *string `json:"error"`
	Redelivery    bool    `json:"redelivery"`
	RepositoryID  *int64  `json:"repository_id"`
	DeliveredAt   *string `json:"delivered_at"`
	LastAttemptAt *string `json:"last_attempt_at"`
	NextAttemptAt *string `json:"next_attempt_at"`
	CreatedAt     string  `json:"created_at"`
}

func deliveryOut(d *store.Delivery) deliveryJSON {
	j := deliveryJSON{
		ID: d.ID, GUID: d.GUID, WebhookID: d.WebhookID, Event: d.Event, Status: d.Status, Attempts: d.Attempts,
		StatusCode: d.StatusCode, DurationMS: d.DurationMS, Error: d.LastError, Redelivery: d.RedeliveryOf != nil,
		RepositoryID: d.RepoID, DeliveredAt: timePtrJSON(d.DeliveredAt), LastAttemptAt: timePtrJSON(d.LastAttemptAt),
		NextAttemptAt: timePtrJSON(d.NextAttemptAt), CreatedAt: timeJSON(d.CreatedAt),
	}
	if d.Action != "" {
		action := d.Action
		j.Action = &action
	}
	return j
}

var deliveryStatuses = []string{store.DeliveryPending, store.DeliveryRetrying, store.DeliverySucceeded, store.DeliveryFailed}

// listHookDeliveries lists a hook's deliveries newest first; ?status= and
// ?event= filter.
func (a *App) listHookDeliveries(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFor(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	f := store.DeliveryFilter{WebhookID: h.ID, Status: r.URL.Query().Get("status"), Event: r.URL.Query().Get("event"),
		Limit: p.PerPage, Offset: p.Offset()}
	if f.Status != "" && !slices.Contains(deliveryStatuses, f.Status) {
		return invalid("status", "must be one of "+strings.Join(deliveryStatuses, ", "))
	}
	if f.Event != "" && f.Event != "ping" && !slices.Contains(webhookEvents, f.Event) {
		return invalid("event", "must be one of ping, "+strings.Join(webhookEvents, ", "))
	}
	list, total, err := a.store.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(list))
	for _, d := range list {
		out = append(out, deliveryOut(d))
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// hookDeliveryFor loads the delivery in the path, which must belong to
// the hook in the path.
func (a *App) hookDeliveryFor(r *http.Request) (*store.Delivery, error) {
	_, h, err := a.hookFor(r)
	if err != nil {
		return nil, err
	}
	id, err := pathID(r, "delivery_id")
	if err != nil {
		return nil, err
	}
	d, err := a.store.DeliveryByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if d.WebhookID != h.ID {
		return nil, errNotFound
	}
	return d, nil
}

type attemptJSON struct {
	Attempt         int               `json:"attempt"`
	URL             string            `json:"url"`
	StartedAt       string            `json:"started_at"`
	DurationMS      int64             `json:"duration_ms"`
	StatusCode      *int              `json:"status_code"`
	Error           *string           `json:"error"`
	RequestHeaders  map[string]string `json:"request_headers"`
	ResponseHeaders map[string]string `json:"response_headers"`
	ResponseBody    *string           `json:"response_body"`
}

type deliveryRequestJSON struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Payload json.RawMessage   `json:"payload,omitempty"`
}

type deliveryResponseJSON struct {
	StatusCode int               `json:"status_code"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

type deliveryDetailJSON struct {
	deliveryJSON
	URL        string                `json:"url"`
	Request    deliveryRequestJSON   `json:"request"`
	Response   *deliveryResponseJSON `json:"response"`
	AttemptLog []attemptJSON         `json:"attempt_log"`
}

// getHookDelivery shows a delivery with the request and response of its
// last attempt and the log of all attempts.
func (a *App) getHookDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.hookDeliveryFor(r)
	if err != nil {
		return err
	}
	attempts, err := a.store.DeliveryAttempts(r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := deliveryDetailJSON{deliveryJSON: deliveryOut(d), URL: d.HookURL,
		Request: deliveryRequestJSON{Headers: map[string]string{}, Body: string(d.Body)}, AttemptLog: []attemptJSON{}}
	if d.ContentType == "application/json" && json.Valid(d.Body) {
		out.Request.Payload = d.Body
	}
	for _, at := range attempts {
		j := attemptJSON{Attempt: at.Attempt, URL: at.URL, StartedAt: timeJSON(at.StartedAt), DurationMS: at.DurationMS,
			StatusCode: at.StatusCode, Error: at.Error, RequestHeaders: at.RequestHeaders, ResponseHeaders: at.ResponseHeaders}
		if at.StatusCode != nil {
			body := string(at.ResponseBody)
			j.ResponseBody = &body
		}
		out.AttemptLog = append(out.AttemptLog, j)
	}
	// The last attempt that reached the receiver (an interrupted one has
	// no request headers worth showing).
	for i := len(attempts) - 1; i >= 0; i-- {
		at := attempts[i]
		if len(at.RequestHeaders) == 0 {
			continue
		}
		out.Request.Headers = at.RequestHeaders
		if at.StatusCode != nil {
			out.Response = &deliveryResponseJSON{StatusCode: *at.StatusCode, Headers: at.ResponseHeaders, Body: string(at.ResponseBody)}
		}
		break
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// redeliverHookDelivery queues the same payload again as a new delivery
// (new GUID) and answers 202 with it.
func (a *App) redeliverHookDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.hookDeliveryFor(r)
	if err != nil {
		return err
	}
	nd, err := a.redeliverDelivery(r.Context(), d.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, deliveryOut(nd))
	return nil
}
