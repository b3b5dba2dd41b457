package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strconv"

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

func (d *Door) adminWebhooks(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	_, pg := listParams(r)
	status := r.URL.Query().Get("status")
	if !slices.Contains(webhooks.Statuses, status) {
		status = ""
	}
	ds, total, err := d.env.Store.ListDeliveries(r.Context(), store.DeliveryFilter{Status: status,
		Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return err
	}
	wd := views.WebhooksData{Status: status,
		Pager: views.Pager{Path: "/admin/webhooks", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}
	for _, dl := range ds {
		wd.Deliveries = append(wd.Deliveries, deliveryRow(dl))
	}
	d.render(w, r, http.StatusOK, views.WebhooksPage(d.page(ar, "webhooks", "Webhooks"), wd))
	return nil
}

// adminRedeliver sends a delivery's payload again, as a new delivery.
func (d *Door) adminRedeliver(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return pageErr(http.StatusNotFound, "No such delivery", "There is no webhook delivery "+r.PathValue("id")+".")
	}
	nd, err := d.Admin.Redeliver(r.Context(), ar.actor(), id)
	if err != nil {
		return err
	}
	back := "/admin/webhooks"
	if s := r.PostFormValue("status"); slices.Contains(webhooks.Statuses, s) {
		back += "?status=" + s
	}
	return d.flashTo(w, r, "success", "Queued delivery #"+strconv.FormatInt(nd.ID, 10)+", a redelivery of #"+strconv.FormatInt(id, 10)+".", back)
}
