package codeboba

import (
	"encoding/json"
	"net/http"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/webhooks"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// routesWebhooks registers user and organization webhooks and their
// deliveries. Both trees share handlers: the {org} path value tells whose
// hooks a request is about.
func (d *Door) routesWebhooks() {
	for _, base := range []string{"/api/v1/user/webhooks", "/api/v1/orgs/{org}/webhooks"} {
		whose := "your"
		if strings.Contains(base, "{org}") {
			whose = "an organization's"
		}
		d.api("GET "+base, core.AreaGeneral, d.listWebhooks, Doc{Summary: "List " + whose + " webhooks", Paged: true, Out: []payload.Webhook{}})
		d.api("POST "+base, core.AreaGeneral, d.createWebhook,
			Doc{Summary: "Create a webhook", Body: webhookRequest{}, Out: payload.Webhook{}, Status: http.StatusCreated})
		d.api("GET "+base+"/{id}", core.AreaGeneral, d.getWebhook, Doc{Summary: "Get a webhook", Out: payload.Webhook{}})
		d.api("PATCH "+base+"/{id}", core.AreaGeneral, d.updateWebhook,
			Doc{Summary: "Update a webhook", Body: webhookRequest{}, Out: payload.Webhook{}})
		d.api("DELETE "+base+"/{id}", core.AreaGeneral, d.deleteWebhook, Doc{Summary: "Delete a webhook"})
		d.api("POST "+base+"/{id}/pings", core.AreaGeneral, d.pingWebhook,
			Doc{Summary: "Queue a ping delivery", Out: deliveryJSON{}, Status: http.StatusAccepted})
		d.api("GET "+base+"/{id}/deliveries", core.AreaGeneral, d.listHookDeliveries,
			Doc{Summary: "List a webhook's deliveries, newest first", Query: deliveryListParams{}, Paged: true, Out: []deliveryJSON{}})
		d.api("GET "+base+"/{id}/deliveries/{delivery_id}", core.AreaGeneral, d.getHookDelivery,
			Doc{Summary: "Get a delivery with its request, response and attempts", Out: deliveryDetailJSON{}})
		d.api("POST "+base+"/{id}/deliveries/{delivery_id}/redeliver", core.AreaGeneral, d.redeliverHookDelivery,
			Doc{Summary: "Queue a delivery again", Out: deliveryJSON{}, Status: http.StatusAccepted})
		// GitHub's name for the same action.
		d.api("POST "+base+"/{id}/deliveries/{delivery_id}/attempts", core.AreaGeneral, d.redeliverHookDelivery,
			Doc{Summary: "Queue a delivery again (GitHub's name)", Out: deliveryJSON{}, Status: http.StatusAccepted})
	}
}

type deliveryListParams struct {
	Status string `json:"status" enum:"pending,retrying,succeeded,failed" doc:"Only deliveries in this state"`
	Event  string `json:"event" doc:"Only deliveries of this event"`
}

// hookOwner is the account whose hooks the request addresses.
func (d *Door) hookOwner(r *http.Request) (*store.User, error) {
	return d.Webhooks.Owner(r.Context(), actor(r), r.PathValue("org"))
}

// hookFor loads the hook in the path; another owner's hook is a 404.
func (d *Door) hookFor(r *http.Request) (*store.User, *store.Webhook, error) {
	owner, err := d.hookOwner(r)
	if err != nil {
		return nil, nil, err
	}
	id, err := httpx.PathID(r, "id")
	if err != nil {
		return nil, nil, err
	}
	h, err := d.Webhooks.Hook(r.Context(), owner, id)
	if err != nil {
		return nil, nil, err
	}
	return owner, h, nil
}

// webhookFields are the hook's parameters. They come flat (the seed), in
// GitHub's {"config": {"url", "secret", "content_type"}} or wrapped in
// {"webhook": {...}}.
type webhookFields struct {
	URL           core.Opt[string]   `json:"url" doc:"An absolute http or https URL"`
	Secret        core.Opt[string]   `json:"secret" doc:"Signs deliveries (X-CodeBoba-Signature); write-only"`
	ContentType   core.Opt[string]   `json:"content_type" enum:"json,form" doc:"json (default) or form"`
	Events        core.Opt[[]string] `json:"events" doc:"push, pull_request, issues, issue_comment, create, delete"`
	Active        core.Opt[bool]     `json:"active"`
	AllowLoopback core.Opt[bool]     `json:"allow_loopback" doc:"Let this hook reach loopback addresses (site admins)"`
}

type webhookRequest struct {
	webhookFields
	Config  *webhookFields `json:"config" doc:"GitHub's form: the same fields"`
	Webhook *webhookFields `json:"webhook" doc:"The same fields, wrapped"`
}

// fields merges the accepted forms; a field given in several places takes
// the most specific (webhook, then config, then flat).
func (req webhookRequest) fields() webhooks.Fields {
	f := req.webhookFields
	for _, g := range []*webhookFields{req.Config, req.Webhook} {
		if g == nil {
			continue
		}
		f.URL = core.Or(g.URL, f.URL)
		f.Secret = core.Or(g.Secret, f.Secret)
		f.ContentType = core.Or(g.ContentType, f.ContentType)
		f.Events = core.Or(g.Events, f.Events)
		f.Active = core.Or(g.Active, f.Active)
		f.AllowLoopback = core.Or(g.AllowLoopback, f.AllowLoopback)
	}
	return webhooks.Fields{URL: f.URL, Secret: f.Secret, ContentType: f.ContentType, Events: f.Events, Active: f.Active,
		AllowLoopback: f.AllowLoopback}
}

func (d *Door) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	owner, err := d.hookOwner(r)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	hooks, total, err := d.Webhooks.List(r.Context(), owner, p.Core())
	if err != nil {
		return err
	}
	out := make([]payload.Webhook, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, payload.WebhookOf(h))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) createWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, err := d.hookOwner(r)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	h, err := d.Webhooks.Create(r.Context(), actor(r), owner, req.fields())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.WebhookOf(h))
	return nil
}

func (d *Door) getWebhook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := d.hookFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.WebhookOf(h))
	return nil
}

func (d *Door) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, h, err := d.hookFor(r)
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	h, err = d.Webhooks.Update(r.Context(), actor(r), owner, h, req.fields())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.WebhookOf(h))
	return nil
}

func (d *Door) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	owner, h, err := d.hookFor(r)
	if err != nil {
		return err
	}
	if err := d.Webhooks.Delete(r.Context(), owner, h); err != nil {
		return err
	}
	return noContent(w)
}

func (d *Door) pingWebhook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := d.hookFor(r)
	if err != nil {
		return err
	}
	dl, err := d.Webhooks.Ping(r.Context(), actor(r).User, h)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, deliveryOut(dl))
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
		RepositoryID: d.RepoID, DeliveredAt: payload.TimePtr(d.DeliveredAt), LastAttemptAt: payload.TimePtr(d.LastAttemptAt),
		NextAttemptAt: payload.TimePtr(d.NextAttemptAt), CreatedAt: payload.Time(d.CreatedAt),
	}
	if d.Action != "" {
		action := d.Action
		j.Action = &action
	}
	return j
}

func (d *Door) listHookDeliveries(w http.ResponseWriter, r *http.Request) error {
	_, h, err := d.hookFor(r)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	var q deliveryListParams
	if err := query(r, &q); err != nil {
		return err
	}
	list, total, err := d.Webhooks.Deliveries(r.Context(), h, q.Status, q.Event, p.Core())
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(list))
	for _, dl := range list {
		out = append(out, deliveryOut(dl))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// hookDeliveryFor loads the delivery in the path, which must belong to
// the hook in the path.
func (d *Door) hookDeliveryFor(r *http.Request) (*store.Delivery, error) {
	_, h, err := d.hookFor(r)
	if err != nil {
		return nil, err
	}
	id, err := httpx.PathID(r, "delivery_id")
	if err != nil {
		return nil, err
	}
	return d.Webhooks.Delivery(r.Context(), h, id)
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
func (d *Door) getHookDelivery(w http.ResponseWriter, r *http.Request) error {
	dl, err := d.hookDeliveryFor(r)
	if err != nil {
		return err
	}
	attempts, err := d.Webhooks.Attempts(r.Context(), dl)
	if err != nil {
		return err
	}
	out := deliveryDetailJSON{deliveryJSON: deliveryOut(dl), URL: dl.HookURL,
		Request: deliveryRequestJSON{Headers: map[string]string{}, Body: string(dl.Body)}, AttemptLog: []attemptJSON{}}
	if dl.ContentType == "application/json" && json.Valid(dl.Body) {
		out.Request.Payload = dl.Body
	}
	for _, at := range attempts {
		j := attemptJSON{Attempt: at.Attempt, URL: at.URL, StartedAt: payload.Time(at.StartedAt), DurationMS: at.DurationMS,
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
func (d *Door) redeliverHookDelivery(w http.ResponseWriter, r *http.Request) error {
	dl, err := d.hookDeliveryFor(r)
	if err != nil {
		return err
	}
	nd, err := d.Webhooks.Redeliver(r.Context(), dl.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, deliveryOut(nd))
	return nil
}
