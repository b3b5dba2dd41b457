package dashboard

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
	"tapioca/views"
)

func (d *Door) adminOverview(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	counts, err := d.env.Store.Counts(ctx)
	if err != nil {
		return err
	}
	activity, err := d.env.Store.RecentActivity(ctx, 12)
	if err != nil {
		return err
	}
	o := views.OverviewData{
		Healthy: true, Version: d.cfg.Version, Commit: d.cfg.Commit, GoVersion: runtime.Version(), Platform: platform(),
		StartedAt: d.started, Uptime: time.Since(d.started), Counts: counts, DataDir: absPath(d.cfg.DataDir),
		BaseURL: d.env.BaseURL(), OpsAPI: d.cfg.OpsAPI, Activity: activity,
	}
	if o.Commit == "" {
		o.Commit = "unknown"
	}
	if err := d.env.Health(ctx); err != nil {
		o.Healthy, o.HealthError = false, err.Error()
	}
	o.RepoBytes = diskUsage(filepath.Join(d.cfg.DataDir, "repos"))
	o.DiskFree, o.DiskTotal, o.DiskKnown = volumeSpace(d.cfg.DataDir)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(d.env.Store.Path() + suffix); err == nil {
			o.DBBytes += st.Size()
		}
	}
	if o.FailingHooks, err = d.failingDeliveries(ctx, 5); err != nil {
		return err
	}
	rows, err := d.jobRows(ctx)
	if err != nil {
		return err
	}
	for _, j := range rows {
		if j.Status == store.JobFailed || j.Status == store.JobInterrupted {
			o.FailedJobs = append(o.FailedJobs, j)
		}
	}
	d.render(w, r, http.StatusOK, views.OverviewPage(d.page(ar, "overview", "Overview"), o))
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// diskUsage adds up the regular files under root; files vanishing while
// it walks (a push finishing, a repository deleted) are skipped.
func diskUsage(root string) int64 {
	var total int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// settingsData is the settings form as stored.
func (d *Door) settingsData() views.SettingsData {
	sd := views.SettingsData{RegistrationOpen: d.env.RegistrationOpen(),
		DefaultAuth: d.cfg.RateLimitAuth, DefaultAnon: d.cfg.RateLimitAnon, DefaultBaseURL: d.cfg.BaseURL}
	sd.RateLimitAuth, _ = d.env.Setting(store.SettingRateLimitAuth)
	sd.RateLimitAnon, _ = d.env.Setting(store.SettingRateLimitAnon)
	sd.BaseURL, _ = d.env.Setting(store.SettingBaseURL)
	return sd
}

func (d *Door) adminSettings(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	d.render(w, r, http.StatusOK, views.SettingsPage(d.page(ar, "settings", "Settings"), d.settingsData()))
	return nil
}

// adminSaveSettings validates the whole form, then stores it and reloads
// the settings so they apply at once. An empty field removes the
// override.
func (d *Door) adminSaveSettings(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	errs := views.FieldErrors{}
	sd := d.settingsData()
	reg := r.PostFormValue("registration")
	switch reg {
	case "open", "closed":
		sd.RegistrationOpen = reg == "open"
	default:
		errs["registration"] = "Choose open or closed."
	}
	st := siteadmin.Settings{RegistrationOpen: sd.RegistrationOpen,
		RateLimitAuth: strings.TrimSpace(r.PostFormValue("rate_limit_auth")),
		RateLimitAnon: strings.TrimSpace(r.PostFormValue("rate_limit_anon")),
		BaseURL:       strings.TrimSpace(r.PostFormValue("base_url"))}
	for field, msgs := range siteadmin.CheckSettings(&st) {
		errs[field] = strings.Join(msgs, " ")
	}
	sd.RateLimitAuth, sd.RateLimitAnon, sd.BaseURL = st.RateLimitAuth, st.RateLimitAnon, st.BaseURL
	if len(errs) > 0 {
		sd.Errors = errs
		p := d.page(ar, "settings", "Settings")
		p.Flash = &views.Flash{Kind: "error", Message: "Nothing was saved: fix the fields marked below."}
		d.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(p, sd))
		return nil
	}
	if err := d.Admin.SaveSettings(ctx, ar.actor(), st); err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Settings saved. They apply now, without a restart.", "/admin/settings")
}

// jobRows is the jobs page's table.
func (d *Door) jobRows(ctx context.Context) ([]views.JobRow, error) {
	states, err := d.Jobs.States(ctx)
	if err != nil {
		return nil, err
	}
	var rows []views.JobRow
	for _, def := range d.Jobs.List("") {
		row := views.JobRow{Name: def.Name, Stack: def.Stack, Description: def.Description, Every: def.Interval,
			Running: d.Jobs.InFlight(def) != nil}
		if st := states[def.Key()]; st != nil {
			row.Enabled, row.Status = st.Enabled, st.LastStatus
			row.LastStartedAt, row.LastFinishedAt, row.NextRunAt = st.LastStartedAt, st.LastFinishedAt, st.NextRunAt
			row.LastDuration, row.Message, row.Error = st.LastDuration, st.LastMessage, st.LastError
			row.Runs, row.Failures = st.RunCount, st.FailureCount
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (d *Door) adminJobs(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	rows, err := d.jobRows(r.Context())
	if err != nil {
		return err
	}
	p := d.page(ar, "jobs", "Jobs")
	for _, j := range rows {
		if j.Running {
			p.Refresh = 2 // follow the run without JavaScript
		}
	}
	d.render(w, r, http.StatusOK, views.JobsPage(p, rows))
	return nil
}

// jobNamed finds the job of a dashboard form, which names the stack too.
func (d *Door) jobNamed(r *http.Request) (*jobs.Def, error) {
	name := r.PathValue("name")
	m := d.Jobs.Match(name, r.PostFormValue("stack"))
	if len(m) != 1 {
		return nil, pageErr(http.StatusNotFound, "No such job", "There is no scheduled job named "+name+".")
	}
	return m[0], nil
}

// adminRunJob runs a job now and waits briefly, so that a quick job's
// outcome is on the page the administrator lands on.
func (d *Door) adminRunJob(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	def, err := d.jobNamed(r)
	if err != nil {
		return err
	}
	run, err := d.Admin.RunJob(ctx, ar.actor(), def)
	if errors.Is(err, core.ErrConflict) {
		return d.flashTo(w, r, "error", err.Error(), "/admin/jobs")
	}
	if err != nil {
		return err
	}
	timer := time.NewTimer(3 * time.Second)
	defer timer.Stop()
	select {
	case <-run.Done():
		if res := run.Result(); res.Status == store.JobFailed {
			d.flash(ctx, "error", def.Name+" failed: "+res.Error)
		} else {
			d.flash(ctx, "success", def.Name+" finished: "+res.Message)
		}
	case <-timer.C:
		d.flash(ctx, "success", def.Name+" is running; this page follows it.")
	case <-ctx.Done():
		return ctx.Err()
	}
	redirect(w, r, "/admin/jobs")
	return nil
}

func (d *Door) adminSetJobEnabled(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	def, err := d.jobNamed(r)
	if err != nil {
		return err
	}
	enabled, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "enabled must be true or false.")
	}
	if err := d.Admin.SetJobEnabled(ctx, ar.actor(), def, enabled); err != nil {
		return err
	}
	verb := "disabled"
	if enabled {
		verb = "enabled"
	}
	return d.flashTo(w, r, "success", def.Name+" "+verb+".", "/admin/jobs")
}
