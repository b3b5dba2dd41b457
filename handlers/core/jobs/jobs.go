// Package jobs is the forge core's scheduler: the scheduled jobs that
// keep the forge tidy (session cleanup, webhook retries, repository
// maintenance, ...), run on their interval and on demand, never twice at
// once, with their state (enabled, last run, next run) in the database so
// it survives restarts.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"tapioca/handlers/core"
	"tapioca/store"
)

// Def is one scheduled job. The schedule is code; its state lives in the
// jobs table.
type Def struct {
	Name        string
	Stack       string // the subsystem it works on; the ops API's ?stack= filter
	Description string
	Interval    time.Duration
	// Run does the work and returns a one-line summary for the jobs page.
	Run func(ctx context.Context) (string, error)
}

// Key identifies a job: names are unique within a stack.
func (d *Def) Key() string { return d.Stack + "/" + d.Name }

// Result is the outcome of one run.
type Result struct {
	Status   string // store.JobSuccess or store.JobFailed
	Started  time.Time
	Finished time.Time
	Message  string
	Error    string
}

// Run is a run in flight; Done closes when Result is set.
type Run struct {
	Started time.Time
	done    chan struct{}
	result  Result
	joins   int // callers that joined this run rather than start one; guarded by Scheduler.mu
}

// Done is closed when the run has finished.
func (r *Run) Done() <-chan struct{} { return r.done }

// Result is the run's outcome; valid once Done is closed.
func (r *Run) Result() Result { return r.result }

// ErrDisabled refuses running a job that is switched off.
var ErrDisabled = errors.New("job is disabled")

// firstRunDelay is how long after its first registration a job first
// runs; later starts keep the persisted next run.
const firstRunDelay = 5 * time.Minute

// maxSleep bounds how long the loop sleeps, so a next-run time changed
// behind its back (another page, a restart of a run) is noticed.
const maxSleep = 30 * time.Second

// Scheduler runs jobs on their interval and on demand. A job never runs
// twice at once: a request to run a job that is running joins the run in
// flight instead of starting another.
type Scheduler struct {
	env  *core.Env
	defs []*Def

	mu      sync.Mutex
	running map[string]*Run // by Def.Key
	base    context.Context // the worker's context once Loop runs
	runs    sync.WaitGroup

	wake chan struct{}
}

// New returns a scheduler with no jobs.
func New(env *core.Env) *Scheduler {
	return &Scheduler{env: env, running: map[string]*Run{}, base: context.Background(), wake: make(chan struct{}, 1)}
}

// MarkInterrupted records runs a previous process left unfinished.
func (s *Scheduler) MarkInterrupted(ctx context.Context) error {
	return s.env.Store.MarkInterruptedJobs(ctx)
}

// Add registers a job (before Loop) and creates its state row the first
// time, enabled, with the first run firstRunDelay (or the interval, if
// shorter) away.
func (s *Scheduler) Add(ctx context.Context, d *Def) error {
	if d.Name == "" || d.Stack == "" || d.Interval <= 0 || d.Run == nil {
		return fmt.Errorf("job %q: name, stack, interval and run are required", d.Name)
	}
	for _, e := range s.defs {
		if e.Key() == d.Key() {
			return fmt.Errorf("job %s registered twice", d.Key())
		}
	}
	if err := s.env.Store.EnsureJob(ctx, d.Stack, d.Name, true, time.Now().Add(min(firstRunDelay, d.Interval))); err != nil {
		return err
	}
	s.defs = append(s.defs, d)
	return nil
}

// States reads every job's stored state, keyed like Def.Key.
func (s *Scheduler) States(ctx context.Context) (map[string]*store.JobState, error) {
	states, err := s.env.Store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*store.JobState, len(states))
	for _, st := range states {
		m[st.Stack+"/"+st.Name] = st
	}
	return m, nil
}

// Match finds the jobs called name, in stack if stack is not empty. More
// than one match means the name is ambiguous without a stack.
func (s *Scheduler) Match(name, stack string) []*Def {
	var out []*Def
	for _, d := range s.defs {
		if d.Name == name && (stack == "" || d.Stack == stack) {
			out = append(out, d)
		}
	}
	return out
}

// Find is the one job called name (in stack, if given): a not-found
// error when there is none, a conflict naming the stacks when the name
// is ambiguous.
func (s *Scheduler) Find(name, stack string) (*Def, error) {
	matches := s.Match(name, stack)
	switch {
	case len(matches) == 0 && stack != "":
		return nil, core.NotFound("No scheduled job named %q in stack %q", name, stack)
	case len(matches) == 0:
		return nil, core.NotFound("No scheduled job named %q", name)
	case len(matches) > 1:
		stacks := make([]string, len(matches))
		for i, m := range matches {
			stacks[i] = m.Stack
		}
		return nil, &core.Error{Kind: core.ErrConflict,
			Msg:     fmt.Sprintf("Job name %q is ambiguous; pass stack to choose one", name),
			Details: map[string]any{"stacks": stacks}}
	}
	return matches[0], nil
}

// List returns the jobs of stack ("" = all), sorted by stack and name.
func (s *Scheduler) List(stack string) []*Def {
	var out []*Def
	for _, d := range s.defs {
		if stack == "" || d.Stack == stack {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y *Def) int {
		return strings.Compare(x.Stack+"\x00"+x.Name, y.Stack+"\x00"+y.Name)
	})
	return out
}

// InFlight returns the run in progress of a job, or nil.
func (s *Scheduler) InFlight(d *Def) *Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[d.Key()]
}

// Joins is how many callers joined the run in flight of d (0 without one).
func (s *Scheduler) Joins(d *Def) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.running[d.Key()]; r != nil {
		return r.joins
	}
	return 0
}

// Trigger runs a job now. If it is running already, the run in flight is
// returned with joined set: callers share it rather than start a second
// one. A disabled job is refused with ErrDisabled.
func (s *Scheduler) Trigger(ctx context.Context, d *Def) (run *Run, joined bool, err error) {
	st, err := s.env.Store.Job(ctx, d.Stack, d.Name)
	if err != nil {
		return nil, false, err
	}
	if !st.Enabled {
		return nil, false, ErrDisabled
	}
	run, joined = s.start(d)
	return run, joined, nil
}

// start begins a run unless one is in flight (single-flight).
func (s *Scheduler) start(d *Def) (*Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.running[d.Key()]; r != nil {
		r.joins++
		return r, true
	}
	r := &Run{Started: time.Now(), done: make(chan struct{})}
	s.running[d.Key()] = r
	base := s.base
	s.runs.Add(1)
	go s.execute(base, d, r)
	return r, false
}

// execute runs d, records the outcome and schedules the next run one
// interval after this one finished.
func (s *Scheduler) execute(ctx context.Context, d *Def, r *Run) {
	defer s.runs.Done()
	// Bookkeeping writes must land even when the run was cut short by a
	// shutdown.
	bg := context.WithoutCancel(ctx)
	log := s.env.Log.With("job", d.Name, "stack", d.Stack)
	if err := s.env.Store.JobStarted(bg, d.Stack, d.Name, r.Started); err != nil {
		log.Warn("record job start", "err", err)
	}
	msg, err := safeRun(ctx, d)
	res := Result{Status: store.JobSuccess, Started: r.Started, Finished: time.Now(), Message: msg}
	if err != nil {
		res.Status, res.Error = store.JobFailed, err.Error()
		log.Warn("job failed", "err", err, "ms", res.Finished.Sub(r.Started).Milliseconds())
	} else {
		log.Info("job finished", "message", msg, "ms", res.Finished.Sub(r.Started).Milliseconds())
	}
	if err := s.env.Store.JobFinished(bg, d.Stack, d.Name, store.JobRun{Status: res.Status, Finished: res.Finished,
		Duration: res.Finished.Sub(r.Started), Error: res.Error, Message: res.Message,
		NextRun: res.Finished.Add(d.Interval)}); err != nil {
		log.Warn("record job result", "err", err)
	}
	s.mu.Lock()
	r.result = res
	delete(s.running, d.Key())
	s.mu.Unlock()
	close(r.done)
	s.poke()
}

// safeRun turns a panicking job into a failed run instead of a crash.
func safeRun(ctx context.Context, d *Def) (msg string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return d.Run(ctx)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Loop starts due jobs until ctx is cancelled, then waits for the runs in
// flight: they see the cancelled context and stop at their next check.
func (s *Scheduler) Loop(ctx context.Context) {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	defer s.runs.Wait()
	for {
		wait := s.startDue(ctx)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Wait waits for the runs in flight (tests; Loop does it at shutdown).
func (s *Scheduler) Wait() { s.runs.Wait() }

// startDue starts every enabled job whose next run has come and returns
// how long to sleep until the next one is due.
func (s *Scheduler) startDue(ctx context.Context) time.Duration {
	states, err := s.States(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.env.Log.Warn("read job states", "err", err)
		}
		return maxSleep
	}
	now := time.Now()
	wait := maxSleep
	for _, d := range s.defs {
		st := states[d.Key()]
		if st == nil || !st.Enabled || s.InFlight(d) != nil {
			continue
		}
		if st.NextRunAt == nil || !st.NextRunAt.After(now) {
			s.start(d)
			continue
		}
		wait = min(wait, st.NextRunAt.Sub(now))
	}
	return max(wait, 100*time.Millisecond)
}

// SetEnabled turns a job's schedule on or off and wakes the loop so an
// enabled job that is overdue starts now.
func (s *Scheduler) SetEnabled(ctx context.Context, d *Def, enabled bool) error {
	if err := s.env.Store.SetJobEnabled(ctx, d.Stack, d.Name, enabled); err != nil {
		return err
	}
	s.poke()
	return nil
}
