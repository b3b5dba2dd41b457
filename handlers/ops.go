package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"time"

	"tapioca/store"
	"tapioca/views"
)

// The operations API (Doco-CD dialect) under /v1/api: scheduled jobs and
// poll runs, for scripts and CD pipelines. It exists only when an API
// secret is configured and every call carries it in x-api-key.

var (
	errOpsDisabled = &apiError{Status: http.StatusNotFound,
		Msg: "The operations API is disabled. Start tapioca with --api-secret, API_SECRET or API_SECRET_FILE to enable it."}
	errOpsKey = &apiError{Status: http.StatusUnauthorized, Msg: "Invalid or missing x-api-key header"}
)

// opsTimeoutDefault and opsTimeoutMax bound ?timeout= (seconds): how long
// a waiting request waits before answering 202 and leaving the work to
// finish in the background.
const (
	opsTimeoutDefault = 30
	opsTimeoutMax     = 3600
)

// routesOps registers the operations API (/v1/api/...).
func (a *App) routesOps() {
	a.ops("GET /v1/api/jobs", a.opsListJobs)
	a.ops("POST /v1/api/job/{jobName}/run", a.opsRunJob)
	a.ops("POST /v1/api/poll/run", a.opsPollRun)
	// Unknown paths and methods answer JSON too, after the key check, so
	// the API's shape is not revealed to callers without the secret.
	a.ops("/v1/api/", a.opsFallback)
	// The bare prefix would otherwise get the mux's HTML redirect to "/v1/api/".
	a.ops("/v1/api", func(http.ResponseWriter, *http.Request) error { return errNotFound })
}

// ops registers an operations API route behind the secret check.
func (a *App) ops(pattern string, h apiFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := a.opsAuth(r); err != nil {
			a.writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// opsAuth checks x-api-key against the secret in constant time. Both
// sides are hashed first so that the comparison does not leak the
// secret's length either.
func (a *App) opsAuth(r *http.Request) error {
	if a.cfg.APISecret == "" {
		return errOpsDisabled
	}
	key := r.Header.Get("x-api-key")
	if key == "" {
		return errOpsKey
	}
	got, want := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(a.cfg.APISecret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errOpsKey
	}
	return nil
}

func (a *App) opsFallback(w http.ResponseWriter, r *http.Request) error {
	return a.unrouted(r, "/v1/api/")
}

// opsWait parses ?wait= (default true) and ?timeout= (seconds, default 30).
func opsWait(r *http.Request) (wait bool, timeout time.Duration, err error) {
	q := r.URL.Query()
	v := validation{}
	wait = true
	if s := q.Get("wait"); s != "" {
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			v.add("wait", "must be true or false")
		}
		wait = b
	}
	timeout = opsTimeout(r, v)
	return wait, timeout, v.err()
}

// opsTimeout parses ?timeout=, which doco-cd accepts on every endpoint
// that takes query parameters.
func opsTimeout(r *http.Request, v validation) time.Duration {
	secs := opsTimeoutDefault
	if s := r.URL.Query().Get("timeout"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > opsTimeoutMax {
			v.add("timeout", "must be a whole number of seconds from 1 to "+strconv.Itoa(opsTimeoutMax))
		}
		secs = n
	}
	return time.Duration(secs) * time.Second
}

// jobJSON is a job as the operations API lists it.
type jobJSON struct {
	Name           string  `json:"name"`
	Stack          string  `json:"stack"`
	Description    string  `json:"description"`
	Schedule       string  `json:"schedule"`
	IntervalSecs   int64   `json:"interval_seconds"`
	Enabled        bool    `json:"enabled"`
	Running        bool    `json:"running"`
	LastStatus     *string `json:"last_status"`
	LastStartedAt  *string `json:"last_started_at"`
	LastFinishedAt *string `json:"last_finished_at"`
	LastDurationMS *int64  `json:"last_duration_ms"`
	LastMessage    *string `json:"last_message"`
	LastError      *string `json:"last_error"`
	NextRunAt      *string `json:"next_run_at"`
	RunCount       int64   `json:"run_count"`
	FailureCount   int64   `json:"failure_count"`
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *App) jobOut(d *jobDef, st *store.JobState) jobJSON {
	j := jobJSON{Name: d.Name, Stack: d.Stack, Description: d.Description,
		Schedule: "@every " + views.Every(d.Interval), IntervalSecs: int64(d.Interval / time.Second),
		Running: a.jobs.inFlight(d) != nil}
	if st == nil {
		return j
	}
	j.Enabled = st.Enabled
	j.LastStatus = nonEmpty(st.LastStatus)
	j.LastStartedAt, j.LastFinishedAt, j.NextRunAt = timePtrJSON(st.LastStartedAt), timePtrJSON(st.LastFinishedAt), timePtrJSON(st.NextRunAt)
	if st.LastFinishedAt != nil {
		ms := st.LastDuration.Milliseconds()
		j.LastDurationMS = &ms
	}
	j.LastMessage, j.LastError = nonEmpty(st.LastMessage), nonEmpty(st.LastError)
	j.RunCount, j.FailureCount = st.RunCount, st.FailureCount
	return j
}

// opsListJobs lists the scheduled jobs, optionally of one stack. An
// unknown stack is an empty list, as a filter that matches nothing.
func (a *App) opsListJobs(w http.ResponseWriter, r *http.Request) error {
	// Listing is immediate; timeout is checked so a bad one is not silently
	// accepted.
	v := validation{}
	opsTimeout(r, v)
	if err := v.err(); err != nil {
		return err
	}
	states, err := a.jobStates(r.Context())
	if err != nil {
		return err
	}
	out := []jobJSON{}
	for _, d := range a.jobs.list(r.URL.Query().Get("stack")) {
		out = append(out, a.jobOut(d, states[d.key()]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// jobRunJSON answers a run request.
type jobRunJSON struct {
	Job        string  `json:"job"`
	Stack      string  `json:"stack"`
	Status     string  `json:"status"` // running, success, failed
	Joined     bool    `json:"joined"` // the job was already running; this request joined that run
	StartedAt  string  `json:"started_at"`
	FinishedAt *string `json:"finished_at"`
	DurationMS *int64  `json:"duration_ms"`
	Message    string  `json:"message"`
	Error      *string `json:"error"`
}

// opsRunJob runs a job now: 200 with the outcome when waiting (the
// default), 202 when not waiting or when the run outlives ?timeout=.
// 404 when no job matches, 409 when the match is disabled or ambiguous.
func (a *App) opsRunJob(w http.ResponseWriter, r *http.Request) error {
	wait, timeout, err := opsWait(r)
	if err != nil {
		return err
	}
	name, stack := r.PathValue("jobName"), r.URL.Query().Get("stack")
	matches := a.jobs.match(name, stack)
	switch {
	case len(matches) == 0 && stack != "":
		return errStatus(http.StatusNotFound, "No scheduled job named %q in stack %q", name, stack)
	case len(matches) == 0:
		return errStatus(http.StatusNotFound, "No scheduled job named %q", name)
	case len(matches) > 1:
		stacks := make([]string, len(matches))
		for i, m := range matches {
			stacks[i] = m.Stack
		}
		return &apiError{Status: http.StatusConflict,
			Msg:   "Job name " + strconv.Quote(name) + " is ambiguous; pass stack to choose one",
			Extra: map[string]any{"stacks": stacks}}
	}
	d := matches[0]
	run, joined, err := a.jobs.trigger(r.Context(), d)
	if errors.Is(err, errJobDisabled) {
		return errStatus(http.StatusConflict, "Job %q is disabled; enable it in the dashboard to run it", d.Name)
	}
	if err != nil {
		return err
	}
	out := jobRunJSON{Job: d.Name, Stack: d.Stack, Status: store.JobRunning, Joined: joined,
		StartedAt: timeJSON(run.started)}
	if !wait {
		out.Message = "Job started; it runs in the background"
		if joined {
			out.Message = "Job was already running; the run in progress continues in the background"
		}
		writeJSON(w, http.StatusAccepted, out)
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-run.done:
	case <-timer.C:
		out.Message = "Job still running after " + timeout.String() + "; it continues in the background"
		writeJSON(w, http.StatusAccepted, out)
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
	res := run.result
	fin := timeJSON(res.Finished)
	ms := res.Finished.Sub(res.Started).Milliseconds()
	out.Status, out.FinishedAt, out.DurationMS, out.Message, out.Error = res.Status, &fin, &ms, res.Message, nonEmpty(res.Error)
	writeJSON(w, http.StatusOK, out)
	return nil
}
