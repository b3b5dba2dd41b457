package handlers

import (
	"context"
	"net/http"
	"slices"
	"strconv"

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
func (a *App) failingDeliveries(ctx context.Context, limit int) ([]views.DeliveryRow, error) {
	var out []views.DeliveryRow
	for _, status := range []string{store.DeliveryFailed, store.DeliveryRetrying} {
		ds, _, err := a.store.ListDeliveries(ctx, store.DeliveryFilter{Status: status, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, deliveryRow(d))
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (a *App) adminWebhooks(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	_, pg := listParams(r)
	status := r.URL.Query().Get("status")
	if !slices.Contains(deliveryStatuses, status) {
		status = ""
	}
	ds, total, err := a.store.ListDeliveries(r.Context(), store.DeliveryFilter{Status: status,
		Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return err
	}
	d := views.WebhooksData{Status: status,
		Pager: views.Pager{Path: "/admin/webhooks", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}
	for _, dl := range ds {
		d.Deliveries = append(d.Deliveries, deliveryRow(dl))
	}
	a.render(w, r, http.StatusOK, views.WebhooksPage(a.page(ar, "webhooks", "Webhooks"), d))
	return nil
}

// adminRedeliver sends a delivery's payload again, as a new delivery.
func (a *App) adminRedeliver(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return pageErr(http.StatusNotFound, "No such delivery", "There is no webhook delivery "+r.PathValue("id")+".")
	}
	nd, err := a.redeliverDelivery(ctx, id)
	if err != nil {
		return err
	}
	a.audit(ctx, ar, "redelivered webhook delivery", "#"+strconv.FormatInt(id, 10))
	back := "/admin/webhooks"
	if s := r.PostFormValue("status"); slices.Contains(deliveryStatuses, s) {
		back += "?status=" + s
	}
	return a.flashTo(w, r, "success", "Queued delivery #"+strconv.FormatInt(nd.ID, 10)+", a redelivery of #"+strconv.FormatInt(id, 10)+".", back)
}
