package handlers

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"tapioca/store"
	"tapioca/views"
)

func (a *App) adminOverview(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	counts, err := a.store.Counts(ctx)
	if err != nil {
		return err
	}
	activity, err := a.store.RecentActivity(ctx, 12)
	if err != nil {
		return err
	}
	d := views.OverviewData{
		Healthy: true, Version: a.cfg.Version, Commit: a.cfg.Commit, GoVersion: runtime.Version(), Platform: platform(),
		StartedAt: a.started, Uptime: time.Since(a.started), Counts: counts, DataDir: absPath(a.cfg.DataDir),
		BaseURL: a.baseURL(), OpsAPI: a.cfg.APISecret != "", Activity: activity,
	}
	if d.Commit == "" {
		d.Commit = "unknown"
	}
	if err := a.checkHealth(r); err != nil {
		d.Healthy, d.HealthError = false, err.Error()
	}
	d.RepoBytes = diskUsage(filepath.Join(a.cfg.DataDir, "repos"))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(a.store.Path() + suffix); err == nil {
			d.DBBytes += st.Size()
		}
	}
	if d.FailingHooks, err = a.failingDeliveries(ctx, 5); err != nil {
		return err
	}
	rows, err := a.jobRows(ctx)
	if err != nil {
		return err
	}
	for _, j := range rows {
		if j.Status == store.JobFailed || j.Status == store.JobInterrupted {
			d.FailedJobs = append(d.FailedJobs, j)
		}
	}
	a.render(w, r, http.StatusOK, views.OverviewPage(a.page(ar, "overview", "Overview"), d))
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

func (a *App) adminOrgs(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	q, pg := listParams(r)
	orgs, total, err := a.store.ListOrgSummaries(r.Context(), q, adminPerPage, (pg-1)*adminPerPage)
	if err != nil {
		return err
	}
	d := views.OrgsData{Orgs: orgs, Query: q,
		Pager: views.Pager{Path: "/admin/orgs", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}
	a.render(w, r, http.StatusOK, views.OrgsPage(a.page(ar, "orgs", "Organizations"), d))
	return nil
}

func (a *App) adminConfirmDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := a.store.OrgByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	a.renderConfirmDeleteOrg(w, r, ar, org, http.StatusOK, "")
	return nil
}

func (a *App) renderConfirmDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq, org *store.User, status int, errMsg string) {
	n, _ := a.store.CountOwnedRepos(r.Context(), org.ID)
	a.render(w, r, status, views.ConfirmPage(a.page(ar, "orgs", "Delete organization"), views.ConfirmData{
		Action: "/admin/orgs/" + org.Username + "/delete", Title: "Delete organization " + org.Username,
		Message: "This deletes " + org.Username + " and its " + views.Count(n, "repository", "repositories") +
			", with their issues, pull requests and webhooks. It cannot be undone.",
		Name: org.Username, Button: "Delete organization", Back: "/admin/orgs", Error: errMsg,
	}))
}

func (a *App) adminDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	org, err := a.store.OrgByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != org.Username {
		a.renderConfirmDeleteOrg(w, r, ar, org, http.StatusUnprocessableEntity, "Type "+org.Username+" exactly to confirm.")
		return nil
	}
	ids, err := a.store.DeleteOrg(ctx, org.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		a.removeRepoFiles(ctx, id)
	}
	a.audit(ctx, ar, "deleted organization", org.Username)
	return a.flashTo(w, r, "success", "Deleted organization "+org.Username+" and its "+views.Count(len(ids), "repository", "repositories")+".", "/admin/orgs")
}

func (a *App) adminRepos(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	q, pg := listParams(r)
	query := r.URL.Query()
	sort := query.Get("sort")
	if sort != "created" && sort != "size" && sort != "name" {
		sort = "pushed"
	}
	vis := query.Get("visibility")
	if vis != "public" && vis != "private" {
		vis = "all"
	}
	repos, total, err := a.store.ListRepos(r.Context(), store.RepoList{Visibility: vis, Query: q, Sort: sort,
		Asc: sort == "name", Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return err
	}
	d := views.ReposData{Repos: repos, Query: q, Sort: sort, Visibility: vis,
		Pager: views.Pager{Path: "/admin/repos", Query: query, Page: pg, PerPage: adminPerPage, Total: total}}
	a.render(w, r, http.StatusOK, views.ReposPage(a.page(ar, "repos", "Repositories"), d))
	return nil
}

func (a *App) adminConfirmDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := a.store.RepoByName(r.Context(), r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return err
	}
	a.renderConfirmDeleteRepo(w, r, ar, repo, http.StatusOK, "")
	return nil
}

func (a *App) renderConfirmDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq, repo *store.Repo, status int, errMsg string) {
	a.render(w, r, status, views.ConfirmPage(a.page(ar, "repos", "Delete repository"), views.ConfirmData{
		Action: "/admin/repos/" + repo.FullName() + "/delete", Title: "Delete repository " + repo.FullName(),
		Message: "This deletes " + repo.FullName() + " (" + views.Bytes(repo.SizeBytes) +
			") with its git data, issues, pull requests and labels. It cannot be undone.",
		Name: repo.FullName(), Button: "Delete repository", Back: "/admin/repos", Error: errMsg,
	}))
}

func (a *App) adminDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	repo, err := a.store.RepoByName(ctx, r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != repo.FullName() {
		a.renderConfirmDeleteRepo(w, r, ar, repo, http.StatusUnprocessableEntity, "Type "+repo.FullName()+" exactly to confirm.")
		return nil
	}
	if err := a.removeRepo(ctx, repo.ID); err != nil {
		return err
	}
	a.audit(ctx, ar, "deleted repository", repo.FullName())
	return a.flashTo(w, r, "success", "Deleted repository "+repo.FullName()+".", "/admin/repos")
}

// settingsData is the settings form as stored.
func (a *App) settingsData() views.SettingsData {
	d := views.SettingsData{RegistrationOpen: a.registrationOpen(),
		DefaultAuth: a.cfg.RateLimitAuth, DefaultAnon: a.cfg.RateLimitAnon, DefaultBaseURL: a.cfg.BaseURL}
	d.RateLimitAuth, _ = a.setting(store.SettingRateLimitAuth)
	d.RateLimitAnon, _ = a.setting(store.SettingRateLimitAnon)
	d.BaseURL, _ = a.setting(store.SettingBaseURL)
	return d
}

func (a *App) adminSettings(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	a.render(w, r, http.StatusOK, views.SettingsPage(a.page(ar, "settings", "Settings"), a.settingsData()))
	return nil
}

// maxRateLimit bounds the configurable hourly limits.
const maxRateLimit = 10_000_000

// adminSaveSettings validates the whole form, then stores it in one
// transaction and reloads the settings so they apply at once. An empty
// field removes the override.
func (a *App) adminSaveSettings(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	errs := views.FieldErrors{}
	d := a.settingsData()
	reg := r.PostFormValue("registration")
	switch reg {
	case "open", "closed":
		d.RegistrationOpen = reg == "open"
	default:
		errs["registration"] = "Choose open or closed."
	}
	limit := func(field string) string {
		v := strings.TrimSpace(r.PostFormValue(field))
		if v == "" {
			return ""
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRateLimit {
			errs[field] = "Enter a whole number from 1 to " + strconv.Itoa(maxRateLimit) + ", or leave empty for the default."
		}
		return v
	}
	d.RateLimitAuth, d.RateLimitAnon = limit("rate_limit_auth"), limit("rate_limit_anon")
	d.BaseURL = strings.TrimSpace(r.PostFormValue("base_url"))
	if d.BaseURL != "" {
		if !ValidBaseURL(d.BaseURL) {
			errs["base_url"] = "Enter an absolute http:// or https:// address without query, fragment or credentials, or leave empty for the default."
		} else {
			d.BaseURL = strings.TrimRight(d.BaseURL, "/")
		}
	}
	if len(errs) > 0 {
		d.Errors = errs
		p := a.page(ar, "settings", "Settings")
		p.Flash = &views.Flash{Kind: "error", Message: "Nothing was saved: fix the fields marked below."}
		a.render(w, r, http.StatusUnprocessableEntity, views.SettingsPage(p, d))
		return nil
	}
	err := a.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetSetting(ctx, store.SettingRegistrationOpen, strconv.FormatBool(d.RegistrationOpen)); err != nil {
			return err
		}
		for key, v := range map[string]string{store.SettingRateLimitAuth: d.RateLimitAuth,
			store.SettingRateLimitAnon: d.RateLimitAnon, store.SettingBaseURL: d.BaseURL} {
			var err error
			if v == "" {
				err = tx.DeleteSetting(ctx, key)
			} else {
				err = tx.SetSetting(ctx, key, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.reloadSettings(ctx); err != nil {
		return err
	}
	a.audit(ctx, ar, "changed", "settings")
	return a.flashTo(w, r, "success", "Settings saved. They apply now, without a restart.", "/admin/settings")
}

// jobRows is the jobs page's table.
func (a *App) jobRows(ctx context.Context) ([]views.JobRow, error) {
	states, err := a.jobStates(ctx)
	if err != nil {
		return nil, err
	}
	var rows []views.JobRow
	for _, d := range a.jobs.list("") {
		row := views.JobRow{Name: d.Name, Stack: d.Stack, Description: d.Description, Every: d.Interval,
			Running: a.jobs.inFlight(d) != nil}
		if st := states[d.key()]; st != nil {
			row.Enabled, row.Status = st.Enabled, st.LastStatus
			row.LastStartedAt, row.LastFinishedAt, row.NextRunAt = st.LastStartedAt, st.LastFinishedAt, st.NextRunAt
			row.LastDuration, row.Message, row.Error = st.LastDuration, st.LastMessage, st.LastError
			row.Runs, row.Failures = st.RunCount, st.FailureCount
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (a *App) adminJobs(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	rows, err := a.jobRows(r.Context())
	if err != nil {
		return err
	}
	p := a.page(ar, "jobs", "Jobs")
	for _, j := range rows {
		if j.Running {
			p.Refresh = 2 // follow the run without JavaScript
		}
	}
	a.render(w, r, http.StatusOK, views.JobsPage(p, rows))
	return nil
}

// jobNamed finds the job of a dashboard form, which names the stack too.
func (a *App) jobNamed(r *http.Request) (*jobDef, error) {
	name := r.PathValue("name")
	m := a.jobs.match(name, r.PostFormValue("stack"))
	if len(m) != 1 {
		return nil, pageErr(http.StatusNotFound, "No such job", "There is no scheduled job named "+name+".")
	}
	return m[0], nil
}

// adminRunJob runs a job now and waits briefly, so that a quick job's
// outcome is on the page the administrator lands on.
func (a *App) adminRunJob(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	d, err := a.jobNamed(r)
	if err != nil {
		return err
	}
	run, joined, err := a.jobs.trigger(ctx, d)
	if errors.Is(err, errJobDisabled) {
		return a.flashTo(w, r, "error", d.Name+" is disabled; enable it to run it.", "/admin/jobs")
	}
	if err != nil {
		return err
	}
	if !joined {
		a.audit(ctx, ar, "ran job", d.Name)
	}
	timer := time.NewTimer(3 * time.Second)
	defer timer.Stop()
	select {
	case <-run.done:
		if run.result.Status == store.JobFailed {
			a.flash(ctx, "error", d.Name+" failed: "+run.result.Error)
		} else {
			a.flash(ctx, "success", d.Name+" finished: "+run.result.Message)
		}
	case <-timer.C:
		a.flash(ctx, "success", d.Name+" is running; this page follows it.")
	case <-ctx.Done():
		return ctx.Err()
	}
	redirect(w, r, "/admin/jobs")
	return nil
}

func (a *App) adminSetJobEnabled(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	d, err := a.jobNamed(r)
	if err != nil {
		return err
	}
	enabled, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "enabled must be true or false.")
	}
	if err := a.jobs.setEnabled(ctx, d, enabled); err != nil {
		return err
	}
	verb := "disabled"
	if enabled {
		verb = "enabled"
	}
	a.audit(ctx, ar, verb+" job", d.Name)
	return a.flashTo(w, r, "success", d.Name+" "+verb+".", "/admin/jobs")
}

// ValidBaseURL reports whether s can be the external URL: absolute http or
// https, without query, fragment or credentials.
func ValidBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
