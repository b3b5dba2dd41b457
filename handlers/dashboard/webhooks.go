package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"tapioca/handlers/core/events"
	"tapioca/handlers/core/siteadmin"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
	"tapioca/views"
)

func deliveryRow(d *store.Delivery) views.DeliveryRow {
	row := views.DeliveryRow{ID: d.ID, GUID: d.GUID, HookID: d.WebhookID, HookURL: d.HookURL, Owner: d.HookOwner,
		Event: d.Event, Action: d.Action, Status: d.Status, Code: d.StatusCode, DurationMS: d.DurationMS,
		Attempts: d.Attempts, Manual: d.Manual, At: d.LastAttemptAt, NextAt: d.NextAttemptAt}
	if d.LastError != nil {
		row.Error = *d.LastError
	}
	if row.At == nil {
		created := d.CreatedAt
		row.At = &created
	}
	if d.Status != store.DeliveryRetrying {
		row.NextAt = nil
	}
	return row
}

// deliveryRows makes the rows of ds with their repositories' names (a
// deleted repository's deliveries have none).
func (d *Door) deliveryRows(ctx context.Context, ds []*store.Delivery) ([]views.DeliveryRow, error) {
	names := map[int64]string{}
	var out []views.DeliveryRow
	for _, dl := range ds {
		row := deliveryRow(dl)
		if dl.RepoID != nil {
			name, ok := names[*dl.RepoID]
			if !ok {
				repo, err := d.env.Store.RepoByID(ctx, *dl.RepoID)
				switch {
				case err == nil:
					name = repo.FullName()
				case !isNotFound(err):
					return nil, err
				}
				names[*dl.RepoID] = name
			}
			row.Repo = name
		}
		out = append(out, row)
	}
	return out, nil
}

// failingDeliveries lists the newest failed or retrying deliveries for
// the overview.
func (d *Door) failingDeliveries(ctx context.Context, limit int) ([]views.DeliveryRow, error) {
	var out []views.DeliveryRow
	for _, status := range []string{store.DeliveryFailed, store.DeliveryRetrying} {
		ds, _, err := d.env.Store.ListDeliveries(ctx, store.DeliveryFilter{Status: status, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, dl := range ds {
			out = append(out, deliveryRow(dl))
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// eventChoices are the event filter's options.
func eventChoices() []string { return append([]string{"ping"}, events.Names...) }

// deliveryFilter reads the deliveries page's filters from q. A filter
// that names nothing is an empty page with notice saying why; an invalid
// one is reported in errs and ignored.
func (d *Door) deliveryFilter(ctx context.Context, q url.Values) (f store.DeliveryFilter, typed views.DeliveryFilters, repo *store.Repo, notice string, errs views.FieldErrors, err error) {
	typed = views.DeliveryFilters{Hook: strings.TrimSpace(q.Get("hook")), Repo: strings.Trim(strings.TrimSpace(q.Get("repo")), "/"),
		Event: q.Get("event"), Status: q.Get("status")}
	if !slices.Contains(webhooks.Statuses, typed.Status) {
		typed.Status = ""
	}
	if !slices.Contains(eventChoices(), typed.Event) {
		typed.Event = ""
	}
	f = store.DeliveryFilter{Status: typed.Status, Event: typed.Event}
	errs = views.FieldErrors{}
	if typed.Hook != "" {
		id, perr := strconv.ParseInt(strings.TrimPrefix(typed.Hook, "#"), 10, 64)
		if perr != nil || id < 1 {
			errs["hook"] = "Hook: enter a hook's number, as the Hooks tab lists them."
			typed.Hook = ""
		} else {
			f.WebhookID = id
		}
	}
	if typed.Repo != "" {
		owner, name, _ := strings.Cut(typed.Repo, "/")
		repo, err = d.env.Store.RepoByName(ctx, owner, name)
		switch {
		case err == nil:
			f.RepoID = repo.ID
		case isNotFound(err):
			notice = "There is no repository " + typed.Repo + " (deliveries of a deleted repository can only be found by hook)."
			err = nil
		default:
			return
		}
	}
	return
}

func (d *Door) adminWebhooks(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	_, pg := listParams(r)
	f, typed, _, notice, errs, err := d.deliveryFilter(ctx, r.URL.Query())
	if err != nil {
		return err
	}
	wd := views.WebhooksData{Filters: typed, Events: eventChoices(), Notice: notice, Errors: errs,
		Pager: views.Pager{Path: "/admin/webhooks", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage}}
	if notice == "" {
		f.Limit, f.Offset = adminPerPage, (pg-1)*adminPerPage
		ds, total, err := d.env.Store.ListDeliveries(ctx, f)
		if err != nil {
			return err
		}
		wd.Pager.Total = total
		if wd.Deliveries, err = d.deliveryRows(ctx, ds); err != nil {
			return err
		}
	}
	d.render(w, r, http.StatusOK, views.WebhooksPage(d.page(ar, "webhooks", "Webhooks"), wd))
	return nil
}

// Bounds of what a delivery's page shows of a body; the log keeps the
// whole payload and the first webhooks.ResponseKept bytes of a response.
const (
	payloadShown  = 256 << 10
	responseShown = 16 << 10
)

// bodyView is b as the page shows it: JSON indented, text cut at limit,
// anything else only counted.
func bodyView(b []byte, contentType string, limit int) views.Body {
	v := views.Body{Bytes: len(b)}
	if len(b) == 0 {
		return v
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		// A form-encoded delivery is its JSON in the payload field.
		if form, err := url.ParseQuery(string(b)); err == nil && form.Get("payload") != "" {
			b, mt = []byte(form.Get("payload")), "application/json"
		}
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") || json.Valid(b) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", "  "); err == nil {
			b = buf.Bytes()
		}
	}
	if !utf8.Valid(b) {
		// The stored start of a response may end inside a character;
		// anything else that is not UTF-8 is not text.
		text := false
		for k := 1; k <= 3 && k < len(b); k++ {
			if utf8.Valid(b[:len(b)-k]) {
				b, text = b[:len(b)-k], true
				break
			}
		}
		if !text {
			v.Binary = true
			return v
		}
	}
	if len(b) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b, v.Truncated = b[:cut], true
	}
	v.Text = string(b)
	return v
}

func headerList(h map[string]string) []views.Header {
	out := make([]views.Header, 0, len(h))
	for k, v := range h {
		out = append(out, views.Header{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// adminDelivery shows one delivery: the request it sends and every
// attempt's response, as the log keeps them.
func (d *Door) adminDelivery(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	id, err := pathID(r, "id", "delivery")
	if err != nil {
		return err
	}
	dl, err := d.env.Store.DeliveryByID(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return pageErr(http.StatusNotFound, "No such delivery", "There is no webhook delivery "+r.PathValue("id")+"; the log keeps finished deliveries for 30 days.")
		}
		return err
	}
	rows, err := d.deliveryRows(ctx, []*store.Delivery{dl})
	if err != nil {
		return err
	}
	attempts, err := d.env.Store.DeliveryAttempts(ctx, dl.ID)
	if err != nil {
		return err
	}
	hook, err := d.env.Store.WebhookByID(ctx, dl.WebhookID)
	if err != nil {
		return err
	}
	redeliveries, err := d.env.Store.Redeliveries(ctx, dl.ID)
	if err != nil {
		return err
	}
	dd := views.DeliveryDetail{D: rows[0], ContentType: dl.ContentType, HookActive: hook.Active, CreatedAt: dl.CreatedAt,
		Payload: bodyView(dl.Body, dl.ContentType, payloadShown), RedeliveryOf: dl.RedeliveryOf, Redeliveries: redeliveries}
	for _, at := range attempts {
		av := views.AttemptView{N: at.Attempt, URL: at.URL, Code: at.StatusCode, Headers: headerList(at.ResponseHeaders),
			Body: bodyView(at.ResponseBody, at.ResponseHeaders["Content-Type"], responseShown), DurationMS: at.DurationMS, StartedAt: at.StartedAt}
		if at.Error != nil {
			av.Error = *at.Error
		}
		dd.Attempts = append(dd.Attempts, av)
		// An attempt the server logged as interrupted sent no headers.
		if len(at.RequestHeaders) > 0 {
			dd.RequestHeaders = headerList(at.RequestHeaders)
		}
	}
	d.render(w, r, http.StatusOK, views.DeliveryPage(d.page(ar, "webhooks", "Delivery "+strconv.FormatInt(dl.ID, 10)), dd))
	return nil
}

// adminRedeliver sends a delivery's payload again, as a new delivery.
func (d *Door) adminRedeliver(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := pathID(r, "id", "delivery")
	if err != nil {
		return err
	}
	nd, err := d.Admin.Redeliver(r.Context(), ar.actor(), id)
	if err != nil {
		return err
	}
	back := "/admin/webhooks"
	if s := r.PostFormValue("status"); slices.Contains(webhooks.Statuses, s) {
		back += "?status=" + s
	}
	if r.PostFormValue("back") == "detail" {
		back = string(views.DeliveryURL(nd.ID))
	}
	return d.flashTo(w, r, "success", "Queued delivery #"+strconv.FormatInt(nd.ID, 10)+", a redelivery of #"+strconv.FormatInt(id, 10)+".", back)
}

// adminRedeliverFailed redelivers the failed deliveries the list's
// hook, repository and event filters select, each failure once.
func (d *Door) adminRedeliverFailed(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	f, typed, repo, notice, errs, err := d.deliveryFilter(ctx, r.PostForm)
	if err != nil {
		return err
	}
	back := url.Values{}
	for k, v := range map[string]string{"hook": typed.Hook, "repo": typed.Repo, "event": typed.Event} {
		if v != "" {
			back.Set(k, v)
		}
	}
	back.Set("status", store.DeliveryFailed)
	target := "/admin/webhooks?" + back.Encode()
	if notice != "" || len(errs) > 0 {
		// Never widen a filter that names nothing to "every hook".
		msg := notice
		for _, e := range errs {
			msg = e
		}
		return d.flashTo(w, r, "error", "Nothing was redelivered. "+msg, target)
	}
	n, more, err := d.Admin.RedeliverFailed(ctx, ar.actor(), siteadmin.FailedDeliveries{HookID: f.WebhookID, Repo: repo, Event: f.Event})
	if err != nil {
		return err
	}
	scope := siteadmin.FailedDeliveries{HookID: f.WebhookID, Repo: repo, Event: f.Event}.String()
	switch {
	case n == 0:
		return d.flashTo(w, r, "success", "No failed delivery of "+scope+" waits for a redelivery: each was sent again already, or none failed.", target)
	case more:
		return d.flashTo(w, r, "success", "Queued "+views.Count(n, "redelivery", "redeliveries")+" of "+scope+
			". More failures are left: press Redeliver all failed again for the next ones.", target)
	}
	return d.flashTo(w, r, "success", "Queued "+views.Count(n, "redelivery", "redeliveries")+" of "+scope+".", target)
}

func (d *Door) adminHooks(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	_, pg := listParams(r)
	hooks, total, err := d.env.Store.ListHookSummaries(r.Context(), store.HookList{Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return err
	}
	hd := views.HooksData{Hooks: hooks,
		Pager: views.Pager{Path: "/admin/webhooks/hooks", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}
	d.render(w, r, http.StatusOK, views.HooksPage(d.page(ar, "webhooks", "Webhooks"), hd))
	return nil
}

// hookBack is where a hook's form returns: the page it was sent from.
func hookBack(r *http.Request) string {
	if b := safeNext(r.FormValue("back")); b != "/admin" {
		return b
	}
	return "/admin/webhooks/hooks"
}

func (d *Door) adminSetHookActive(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := pathID(r, "id", "webhook")
	if err != nil {
		return err
	}
	active, err := strconv.ParseBool(r.PostFormValue("active"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "active must be true or false.")
	}
	h, err := d.Admin.SetHookActive(r.Context(), ar.actor(), id, active)
	if err != nil {
		return d.refusedTo(w, r, hookBack(r), err)
	}
	if h.Active {
		return d.flashTo(w, r, "success", "Enabled hook "+strconv.FormatInt(h.ID, 10)+": its waiting deliveries go out now.", hookBack(r))
	}
	return d.flashTo(w, r, "success", "Disabled hook "+strconv.FormatInt(h.ID, 10)+": new deliveries wait until it is enabled again.", hookBack(r))
}

func (d *Door) adminConfirmDeleteHook(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := pathID(r, "id", "webhook")
	if err != nil {
		return err
	}
	h, owner, err := d.Admin.Hook(r.Context(), ar.actor(), id)
	if err != nil {
		return err
	}
	back := hookBack(r)
	d.render(w, r, http.StatusOK, views.ConfirmPage(d.page(ar, "webhooks", "Delete webhook"), views.ConfirmData{
		Action: "/admin/webhooks/hooks/" + strconv.FormatInt(h.ID, 10) + "/delete", Title: "Delete hook " + strconv.FormatInt(h.ID, 10) + " of " + owner.Username,
		Message: "This deletes the hook that posts " + strings.Join(h.Events, ", ") + " events to " + h.URL +
			", with its delivery log. Deliveries waiting for it are dropped. It cannot be undone.",
		Button: "Delete webhook", Back: back, Hidden: map[string]string{"back": back},
	}))
	return nil
}

func (d *Door) adminDeleteHook(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := pathID(r, "id", "webhook")
	if err != nil {
		return err
	}
	h, err := d.Admin.DeleteHook(r.Context(), ar.actor(), id)
	if err != nil {
		return d.refusedTo(w, r, hookBack(r), err)
	}
	return d.flashTo(w, r, "success", "Deleted hook "+strconv.FormatInt(h.ID, 10)+" to "+h.URL+".", hookBack(r))
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
