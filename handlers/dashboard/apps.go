package dashboard

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/apps"
	"tapioca/store"
	"tapioca/views"
)

// The apps and watched-repositories pages: onboarding apps (the token is
// shown once), their tokens and delivery state; watched repositories,
// their mirrors, "Sync now" and "Reset breaker". Every change is a call
// on the core's apps service or mirror engine, which check the
// administrator themselves.

func appRow(a *store.AppSummary) views.AppRow {
	return views.AppRow{ID: a.ID, Name: a.Name, URL: a.URL, TokenHint: a.TokenHint, Disabled: a.Disabled,
		Watched: a.Watched, Delivered: a.Delivered, Pending: a.Pending, Failing: a.Failing, OpenBreakers: a.OpenBreakers,
		LastError: a.LastError, LastFailureAt: a.LastFailureAt, TokenUsedAt: a.TokenUsedAt, CreatedAt: a.CreatedAt}
}

func (d *Door) appsData(r *http.Request, ar *adminReq) (views.AppsData, error) {
	list, err := d.Apps.List(r.Context(), ar.actor())
	if err != nil {
		return views.AppsData{}, err
	}
	out := views.AppsData{GitHubURL: d.Apps.GitHubURL()}
	for _, a := range list {
		out.Apps = append(out.Apps, appRow(a))
	}
	return out, nil
}

func (d *Door) adminApps(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ad, err := d.appsData(r, ar)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.AppsPage(d.page(ar, "apps", "Apps"), ad))
	return nil
}

// adminCreateApp onboards an app from the form; its token is shown once.
// Any invalid field re-shows the form with every problem marked.
func (d *Door) adminCreateApp(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	f := views.AppForm{Name: strings.TrimSpace(r.PostFormValue("name")), URL: strings.TrimSpace(r.PostFormValue("url"))}
	app, token, err := d.Apps.Create(ctx, ar.actor(), apps.NewApp{Name: f.Name, URL: f.URL, Secret: r.PostFormValue("secret")})
	var ce *core.Error
	switch {
	case err == nil:
		d.Admin.Audit(ctx, ar.actor(), "onboarded app", app.Name)
		d.flashSecret(ctx, "success", "Onboarded "+app.Name+". Its token for /api/repositories:", token)
		redirect(w, r, "/admin/apps")
		return nil
	case !errors.As(err, &ce) || len(ce.Fields) == 0:
		return err
	}
	ad, err := d.appsData(r, ar)
	if err != nil {
		return err
	}
	f.Errors = views.FieldErrors{}
	for field, msgs := range ce.Fields {
		f.Errors[field] = capitalize(field) + " " + strings.Join(msgs, "; ")
	}
	ad.Form = f
	p := d.page(ar, "apps", "Apps")
	p.Flash = &views.Flash{Kind: "error", Message: "The app was not onboarded: fix the fields marked below."}
	d.render(w, r, http.StatusUnprocessableEntity, views.AppsPage(p, ad))
	return nil
}

// appOf reads the {id} of an app path.
func (d *Door) appOf(r *http.Request, ar *adminReq) (*store.App, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return nil, pageErr(http.StatusNotFound, "No such app", "There is no app "+r.PathValue("id")+".")
	}
	return d.Apps.App(r.Context(), ar.actor(), strconv.FormatInt(id, 10))
}

func (d *Door) adminRotateAppToken(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	app, err := d.appOf(r, ar)
	if err != nil {
		return err
	}
	app, token, err := d.Apps.RotateToken(ctx, ar.actor(), app.ID)
	if err != nil {
		return err
	}
	d.Admin.Audit(ctx, ar.actor(), "rotated the token of app", app.Name)
	d.flashSecret(ctx, "success", "New token for "+app.Name+"; the old one no longer works:", token)
	redirect(w, r, "/admin/apps")
	return nil
}

func (d *Door) adminSetAppDisabled(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	app, err := d.appOf(r, ar)
	if err != nil {
		return err
	}
	disabled := r.PostFormValue("disabled") == "true"
	if app, err = d.Apps.SetDisabled(ctx, ar.actor(), app.ID, disabled); err != nil {
		return err
	}
	verb := map[bool]string{true: "Disabled", false: "Enabled"}[disabled]
	d.Admin.Audit(ctx, ar.actor(), strings.ToLower(verb)+" app", app.Name)
	msg := verb + " " + app.Name + "."
	if disabled {
		msg += " Its token is refused and its deliveries wait until it is enabled."
	}
	return d.flashTo(w, r, "success", msg, "/admin/apps")
}

func (d *Door) adminConfirmDeleteApp(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	app, err := d.appOf(r, ar)
	if err != nil {
		return err
	}
	d.renderConfirmDeleteApp(w, r, ar, app, http.StatusOK, "")
	return nil
}

func (d *Door) renderConfirmDeleteApp(w http.ResponseWriter, r *http.Request, ar *adminReq, app *store.App, status int, errMsg string) {
	d.render(w, r, status, views.ConfirmPage(d.page(ar, "apps", "Delete app"), views.ConfirmData{
		Action: "/admin/apps/" + strconv.FormatInt(app.ID, 10) + "/delete", Title: "Delete app " + app.Name,
		Message: "This deletes " + app.Name + ", its token, the repositories it watches and their deliveries " +
			"(waiting ones too). Mirrors no other app watches are removed. It cannot be undone.",
		Name: app.Name, Button: "Delete app", Back: "/admin/apps", Error: errMsg,
	}))
}

func (d *Door) adminDeleteApp(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	app, err := d.appOf(r, ar)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != app.Name {
		d.renderConfirmDeleteApp(w, r, ar, app, http.StatusUnprocessableEntity, "Type "+app.Name+" exactly to confirm.")
		return nil
	}
	if err := d.Apps.Delete(ctx, ar.actor(), app.ID); err != nil {
		return err
	}
	d.Admin.Audit(ctx, ar.actor(), "deleted app", app.Name)
	return d.flashTo(w, r, "success", "Deleted app "+app.Name+".", "/admin/apps")
}

func (d *Door) adminWatched(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	ws, err := d.Apps.Watches(ctx, ar.actor())
	if err != nil {
		return err
	}
	ms, err := d.Mirrors.List(ctx, ar.actor())
	if err != nil {
		return err
	}
	byID := map[int64]*store.Mirror{}
	wd := views.WatchedData{}
	for _, m := range ms {
		byID[m.ID] = m
		wd.Mirrors = append(wd.Mirrors, views.MirrorRow{ID: m.ID, URL: m.URL, Status: m.Status, Error: m.LastError,
			Watchers: m.Watchers, HeadRef: m.HeadRef, Scheduled: m.Interval > 0, LastPolledAt: m.LastPolledAt,
			LastSyncedAt: m.LastSyncedAt, NextSyncAt: m.NextSyncAt})
	}
	appFilter, _ := strconv.ParseInt(r.URL.Query().Get("app"), 10, 64)
	for _, wt := range ws {
		if appFilter != 0 && wt.AppID != appFilter {
			continue
		}
		if appFilter != 0 {
			wd.AppName = wt.AppName
		}
		row := views.WatchedRow{ID: wt.ID, PublicID: wt.PublicID, App: wt.AppName, AppID: wt.AppID, GitHubURL: wt.GitHubURL,
			Private: wt.IsPrivate, MirrorID: wt.MirrorID, MirrorStatus: wt.MirrorStatus, MirrorError: wt.MirrorError,
			Pending: wt.Pending, Failures: wt.Failures, BreakerOpen: wt.BreakerOpen, LastError: wt.LastError}
		if m := byID[wt.MirrorID]; m != nil {
			row.LastSyncedAt = m.LastSyncedAt
		}
		if len(wt.DeliveredCommit) >= 7 {
			row.Delivered = wt.DeliveredCommit[:7]
		}
		wd.Watched = append(wd.Watched, row)
	}
	d.render(w, r, http.StatusOK, views.WatchedPage(d.page(ar, "watched", "Watched repositories"), wd))
	return nil
}

// adminSyncMirror starts a mirror's sync in the background.
func (d *Door) adminSyncMirror(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return pageErr(http.StatusNotFound, "No such mirror", "There is no mirror "+r.PathValue("id")+".")
	}
	m, err := d.Mirrors.SyncNow(r.Context(), ar.actor(), id)
	if err != nil {
		return err
	}
	d.Admin.Audit(r.Context(), ar.actor(), "started a sync of mirror", m.URL)
	return d.flashTo(w, r, "success", "Syncing "+m.URL+" now; reload to see the result.", "/admin/watched")
}

// adminResetBreaker closes a watched repository's circuit breaker.
func (d *Door) adminResetBreaker(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return pageErr(http.StatusNotFound, "No such repository", "There is no watched repository "+r.PathValue("id")+".")
	}
	wt, err := d.Apps.ResetBreaker(r.Context(), ar.actor(), id)
	if err != nil {
		return err
	}
	d.Admin.Audit(r.Context(), ar.actor(), "reset the circuit breaker of", wt.PublicID+" ("+wt.GitHubURL+")")
	return d.flashTo(w, r, "success", "Reset the circuit breaker of "+wt.GitHubURL+" for "+wt.AppName+"; its deliveries resume.", "/admin/watched")
}
