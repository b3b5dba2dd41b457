// Package ops is the operations API door (Doco-CD dialect): /v1/health,
// and, only when an API secret is configured and every call carries it
// in x-api-key, /v1/api/... for scheduled jobs and poll runs, for scripts
// and CD pipelines.
package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/polls"
	"tapioca/handlers/core/text"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

var (
	errDisabled = &httpx.StatusError{Status: http.StatusNotFound,
		Msg: "The operations API is disabled. Start tapioca with --api-secret, API_SECRET or API_SECRET_FILE to enable it."}
	errKey = &httpx.StatusError{Status: http.StatusUnauthorized, Msg: "Invalid or missing x-api-key header"}
)

// timeoutDefault and timeoutMax bound ?timeout= (seconds): how long a
// waiting request waits before answering 202 and leaving the work to
// finish in the background.
const (
	timeoutDefault = 30
	timeoutMax     = 3600
)

// Door is the operations API.
type Door struct {
	env    *core.Env
	secret string
	jobs   *jobs.Scheduler
	polls  *polls.Service
	mux    *http.ServeMux
}

// New returns the operations door; secret "" leaves /v1/api disabled.
func New(env *core.Env, secret string, js *jobs.Scheduler, ps *polls.Service) *Door {
	return &Door{env: env, secret: secret, jobs: js, polls: ps}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Register adds /v1/health and /v1/api/... to mux.
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	mux.HandleFunc("GET /v1/health", d.health)
	d.route("GET /v1/api/jobs", d.listJobs)
	d.route("POST /v1/api/job/{jobName}/run", d.runJob)
	d.route("POST /v1/api/poll/run", d.pollRun)
	// Unknown paths and methods answer JSON too, after the key check, so
	// the API's shape is not revealed to callers without the secret.
	d.route("/v1/api/", func(w http.ResponseWriter, r *http.Request) error {
		return httpx.Unrouted(mux, r, "/v1/api/")
	})
	// The bare prefix would otherwise get the mux's HTML redirect to "/v1/api/".
	d.route("/v1/api", func(http.ResponseWriter, *http.Request) error { return core.ErrHidden })
}

// route registers an operations API route behind the secret check.
func (d *Door) route(pattern string, h handlerFunc) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := d.auth(r); err != nil {
			httpx.WriteError(w, r, d.env.Log, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody)
		if err := h(w, r); err != nil {
			httpx.WriteError(w, r, d.env.Log, err)
		}
	})
}

// auth checks x-api-key against the secret in constant time. Both sides
// are hashed first so that the comparison does not leak the secret's
// length either.
func (d *Door) auth(r *http.Request) error {
	if d.secret == "" {
		return errDisabled
	}
	key := r.Header.Get("x-api-key")
	if key == "" {
		return errKey
	}
	got, want := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(d.secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errKey
	}
	return nil
}

// health answers 200 when the forge can serve, else 503 with the reason
// (Doco-CD's shape).
func (d *Door) health(w http.ResponseWriter, r *http.Request) {
	if err := d.env.Health(r.Context()); err != nil {
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"details": "unhealthy", "error": err.Error()})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"details": "healthy"})
}

// waitParams parses ?wait= (default true) and ?timeout= (seconds,
// default 30).
func waitParams(r *http.Request) (wait bool, timeout time.Duration, err error) {
	q := r.URL.Query()
	v := core.Validation{}
	wait = true
	if s := q.Get("wait"); s != "" {
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			v.Add("wait", "must be true or false")
		}
		wait = b
	}
	timeout = timeoutParam(r, v)
	return wait, timeout, v.Err()
}

// timeoutParam parses ?timeout=, which doco-cd accepts on every endpoint
// that takes query parameters.
func timeoutParam(r *http.Request, v core.Validation) time.Duration {
	secs := timeoutDefault
	if s := r.URL.Query().Get("timeout"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > timeoutMax {
			v.Add("timeout", "must be a whole number of seconds from 1 to "+strconv.Itoa(timeoutMax))
		}
		secs = n
	}
	return time.Duration(secs) * time.Second
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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

func (d *Door) jobOut(def *jobs.Def, st *store.JobState) jobJSON {
	j := jobJSON{Name: def.Name, Stack: def.Stack, Description: def.Description,
		Schedule: "@every " + text.Every(def.Interval), IntervalSecs: int64(def.Interval / time.Second),
		Running: d.jobs.InFlight(def) != nil}
	if st == nil {
		return j
	}
	j.Enabled = st.Enabled
	j.LastStatus = nonEmpty(st.LastStatus)
	j.LastStartedAt, j.LastFinishedAt, j.NextRunAt = payload.TimePtr(st.LastStartedAt), payload.TimePtr(st.LastFinishedAt), payload.TimePtr(st.NextRunAt)
	if st.LastFinishedAt != nil {
		ms := st.LastDuration.Milliseconds()
		j.LastDurationMS = &ms
	}
	j.LastMessage, j.LastError = nonEmpty(st.LastMessage), nonEmpty(st.LastError)
	j.RunCount, j.FailureCount = st.RunCount, st.FailureCount
	return j
}

// listJobs lists the scheduled jobs, optionally of one stack. An unknown
// stack is an empty list, as a filter that matches nothing.
func (d *Door) listJobs(w http.ResponseWriter, r *http.Request) error {
	// Listing is immediate; timeout is checked so a bad one is not
	// silently accepted.
	v := core.Validation{}
	timeoutParam(r, v)
	if err := v.Err(); err != nil {
		return err
	}
	states, err := d.jobs.States(r.Context())
	if err != nil {
		return err
	}
	out := []jobJSON{}
	for _, def := range d.jobs.List(r.URL.Query().Get("stack")) {
		out = append(out, d.jobOut(def, states[def.Key()]))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
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

// runJob runs a job now: 200 with the outcome when waiting (the
// default), 202 when not waiting or when the run outlives ?timeout=.
// 404 when no job matches, 409 when the match is disabled or ambiguous.
func (d *Door) runJob(w http.ResponseWriter, r *http.Request) error {
	wait, timeout, err := waitParams(r)
	if err != nil {
		return err
	}
	def, err := d.jobs.Find(r.PathValue("jobName"), r.URL.Query().Get("stack"))
	if err != nil {
		return err
	}
	run, joined, err := d.jobs.Trigger(r.Context(), def)
	if errors.Is(err, jobs.ErrDisabled) {
		return core.Conflict("Job %q is disabled; enable it in the dashboard to run it", def.Name)
	}
	if err != nil {
		return err
	}
	out := jobRunJSON{Job: def.Name, Stack: def.Stack, Status: store.JobRunning, Joined: joined,
		StartedAt: payload.Time(run.Started)}
	if !wait {
		out.Message = "Job started; it runs in the background"
		if joined {
			out.Message = "Job was already running; the run in progress continues in the background"
		}
		httpx.WriteJSON(w, http.StatusAccepted, out)
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-run.Done():
	case <-timer.C:
		out.Message = "Job still running after " + timeout.String() + "; it continues in the background"
		httpx.WriteJSON(w, http.StatusAccepted, out)
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
	res := run.Result()
	fin := payload.Time(res.Finished)
	ms := res.Finished.Sub(res.Started).Milliseconds()
	out.Status, out.FinishedAt, out.DurationMS, out.Message, out.Error = res.Status, &fin, &ms, res.Message, nonEmpty(res.Error)
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

type pollResultJSON struct {
	URL            string  `json:"url"`
	Reference      string  `json:"reference"`
	Source         string  `json:"source"` // local or upstream
	Repository     *string `json:"repository"`
	Commit         *string `json:"commit"`
	PreviousCommit *string `json:"previous_commit"`
	Changed        bool    `json:"changed"`
	PolledAt       string  `json:"polled_at"`
	Error          *string `json:"error"`
	// Moved lists the refs an upstream's mirror sync moved (upstream
	// targets only).
	Moved []refMoveJSON `json:"moved,omitempty"`
}

// refMoveJSON is one ref a mirror sync moved: before null for a new
// ref, after null for one deleted upstream.
type refMoveJSON struct {
	Ref    string  `json:"ref"`
	Before *string `json:"before"`
	After  *string `json:"after"`
}

type pollRunJSON struct {
	Results []pollResultJSON `json:"results"`
	Changed int              `json:"changed"`
	Failed  int              `json:"failed"`
}

func pollRunOut(run polls.Run) pollRunJSON {
	out := pollRunJSON{Results: make([]pollResultJSON, len(run.Results)), Changed: run.Changed, Failed: run.Failed}
	for i, r := range run.Results {
		out.Results[i] = pollResultJSON{URL: r.URL, Reference: r.Reference, Source: r.Source,
			Repository: nonEmpty(r.Repository), Changed: r.Changed, PolledAt: payload.Time(r.PolledAt), Error: nonEmpty(r.Error)}
		if r.Commit != "" {
			commit := r.Commit
			out.Results[i].Commit = &commit
			out.Results[i].PreviousCommit = nonEmpty(r.PreviousCommit)
		}
		for _, u := range r.Moved {
			mv := refMoveJSON{Ref: u.Name}
			if !u.Old.IsZero() {
				mv.Before = nonEmpty(u.Old.String())
			}
			if !u.New.IsZero() {
				mv.After = nonEmpty(u.New.String())
			}
			out.Results[i].Moved = append(out.Results[i].Moved, mv)
		}
	}
	return out
}

// pollRun fetches the given repositories now and reports, per target,
// the commit the reference resolves to and whether it moved since the
// previous poll of that (url, reference).
func (d *Door) pollRun(w http.ResponseWriter, r *http.Request) error {
	wait, timeout, err := waitParams(r)
	if err != nil {
		return err
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return err
	}
	targets, err := d.polls.Parse(body)
	if err != nil {
		return err
	}
	done := d.polls.Start(targets)
	if !wait {
		httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"status": "accepted",
			"message": fmt.Sprintf("Poll run started for %d %s", len(targets), text.Plural(len(targets), "target", "targets"))})
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case run := <-done:
		httpx.WriteJSON(w, http.StatusOK, pollRunOut(run))
	case <-timer.C:
		httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"status": "running",
			"message": "Poll run still in progress after " + timeout.String() + "; it continues in the background"})
	case <-r.Context().Done():
		return r.Context().Err()
	}
	return nil
}
