package handlers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"tapioca/store"
	"tapioca/views"
)

// jobDef is one scheduled job. The schedule is code; its state (enabled,
// last run, next run) lives in the jobs table and survives restarts.
type jobDef struct {
	Name        string
	Stack       string // the subsystem it works on; the ops API's ?stack= filter
	Description string
	Interval    time.Duration
	// Run does the work and returns a one-line summary for the jobs page.
	Run func(ctx context.Context) (string, error)
}

// key identifies a job: names are unique within a stack.
func (d *jobDef) key() string { return d.Stack + "/" + d.Name }

// jobStates reads every job's stored state, keyed like jobDef.key.
func (a *App) jobStates(ctx context.Context) (map[string]*store.JobState, error) {
	states, err := a.store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*store.JobState, len(states))
	for _, st := range states {
		m[st.Stack+"/"+st.Name] = st
	}
	return m, nil
}

// jobResult is the outcome of one run.
type jobResult struct {
	Status   string // store.JobSuccess or store.JobFailed
	Started  time.Time
	Finished time.Time
	Message  string
	Error    string
}

// jobRun is a run in flight; done closes when result is set.
type jobRun struct {
	started time.Time
	done    chan struct{}
	result  jobResult
	joins   int // callers that joined this run rather than start one; guarded by scheduler.mu
}

// scheduler runs jobs on their interval and on demand. A job never runs
// twice at once: a request to run a job that is running joins the run in
// flight instead of starting another.
type scheduler struct {
	a    *App
	defs []*jobDef

	mu      sync.Mutex
	running map[string]*jobRun // by jobDef.key
	base    context.Context    // the worker's context once Serve runs
	runs    sync.WaitGroup

	wake chan struct{}
}

var errJobDisabled = errors.New("job is disabled")

// firstRunDelay is how long after its first registration a job first
// runs; later starts keep the persisted next run.
const firstRunDelay = 5 * time.Minute

// initJobs registers the built-in jobs and adds the scheduler's worker.
func (a *App) initJobs(ctx context.Context) error {
	s := a.scheduler()
	if err := a.store.MarkInterruptedJobs(ctx); err != nil {
		return err
	}
	builtin := []*jobDef{
		{
			Name: "session-cleanup", Stack: "dashboard", Interval: time.Hour,
			Description: "Deletes expired dashboard sessions",
			Run:         a.jobSessionCleanup,
		},
		{
			Name: "webhook-retry-sweep", Stack: "webhooks", Interval: time.Minute,
			Description: "Re-queues webhook deliveries whose retry time has come",
			Run: func(ctx context.Context) (string, error) {
				if err := a.sweepWebhooks(ctx); err != nil {
					return "", err
				}
				return "Swept webhook deliveries due for retry", nil
			},
		},
		{
			Name: "repository-maintenance", Stack: "repositories", Interval: 24 * time.Hour,
			Description: "Repacks every repository's loose objects and small packs",
			Run:         a.jobRepositoryMaintenance,
		},
	}
	for _, d := range builtin {
		if err := a.addJob(ctx, d); err != nil {
			return err
		}
	}
	a.poll = &pollRunner{base: context.Background()}
	a.workers = append(a.workers, s.loop, a.poll.worker)
	return nil
}

// scheduler returns the App's scheduler, creating it on first use so that
// features may register jobs in their init functions in any order.
func (a *App) scheduler() *scheduler {
	if a.jobs == nil {
		a.jobs = &scheduler{a: a, running: map[string]*jobRun{}, base: context.Background(), wake: make(chan struct{}, 1)}
	}
	return a.jobs
}

// addJob registers a job (before Serve) and creates its state row the
// first time, enabled, with the first run firstRunDelay (or the interval,
// if shorter) away.
func (a *App) addJob(ctx context.Context, d *jobDef) error {
	s := a.scheduler()
	if d.Name == "" || d.Stack == "" || d.Interval <= 0 || d.Run == nil {
		return fmt.Errorf("job %q: name, stack, interval and run are required", d.Name)
	}
	for _, e := range s.defs {
		if e.key() == d.key() {
			return fmt.Errorf("job %s registered twice", d.key())
		}
	}
	if err := a.store.EnsureJob(ctx, d.Stack, d.Name, true, time.Now().Add(min(firstRunDelay, d.Interval))); err != nil {
		return err
	}
	s.defs = append(s.defs, d)
	return nil
}

// match finds the jobs called name, in stack if stack is not empty.
// More than one match means the name is ambiguous without a stack.
func (s *scheduler) match(name, stack string) []*jobDef {
	var out []*jobDef
	for _, d := range s.defs {
		if d.Name == name && (stack == "" || d.Stack == stack) {
			out = append(out, d)
		}
	}
	return out
}

// list returns the jobs of stack ("" = all), sorted by stack and name.
func (s *scheduler) list(stack string) []*jobDef {
	var out []*jobDef
	for _, d := range s.defs {
		if stack == "" || d.Stack == stack {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y *jobDef) int {
		return strings.Compare(x.Stack+"\x00"+x.Name, y.Stack+"\x00"+y.Name)
	})
	return out
}

// inFlight returns the run in progress of a job, or nil.
func (s *scheduler) inFlight(d *jobDef) *jobRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[d.key()]
}

// trigger runs a job now. If it is running already, the run in flight is
// returned with joined set: callers share it rather than start a second
// one. A disabled job is refused with errJobDisabled.
func (s *scheduler) trigger(ctx context.Context, d *jobDef) (run *jobRun, joined bool, err error) {
	st, err := s.a.store.Job(ctx, d.Stack, d.Name)
	if err != nil {
		return nil, false, err
	}
	if !st.Enabled {
		return nil, false, errJobDisabled
	}
	run, joined = s.start(d)
	return run, joined, nil
}

// start begins a run unless one is in flight (single-flight).
func (s *scheduler) start(d *jobDef) (*jobRun, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.running[d.key()]; r != nil {
		r.joins++
		return r, true
	}
	r := &jobRun{started: time.Now(), done: make(chan struct{})}
	s.running[d.key()] = r
	base := s.base
	s.runs.Add(1)
	go s.execute(base, d, r)
	return r, false
}

// execute runs d, records the outcome and schedules the next run one
// interval after this one finished.
func (s *scheduler) execute(ctx context.Context, d *jobDef, r *jobRun) {
	defer s.runs.Done()
	// Bookkeeping writes must land even when the run was cut short by a
	// shutdown.
	bg := context.WithoutCancel(ctx)
	log := s.a.log.With("job", d.Name, "stack", d.Stack)
	if err := s.a.store.JobStarted(bg, d.Stack, d.Name, r.started); err != nil {
		log.Warn("record job start", "err", err)
	}
	msg, err := s.safeRun(ctx, d)
	res := jobResult{Status: store.JobSuccess, Started: r.started, Finished: time.Now(), Message: msg}
	if err != nil {
		res.Status, res.Error = store.JobFailed, err.Error()
		log.Warn("job failed", "err", err, "ms", res.Finished.Sub(r.started).Milliseconds())
	} else {
		log.Info("job finished", "message", msg, "ms", res.Finished.Sub(r.started).Milliseconds())
	}
	if err := s.a.store.JobFinished(bg, d.Stack, d.Name, store.JobRun{Status: res.Status, Finished: res.Finished,
		Duration: res.Finished.Sub(r.started), Error: res.Error, Message: res.Message,
		NextRun: res.Finished.Add(d.Interval)}); err != nil {
		log.Warn("record job result", "err", err)
	}
	s.mu.Lock()
	r.result = res
	delete(s.running, d.key())
	s.mu.Unlock()
	close(r.done)
	s.poke()
}

// safeRun turns a panicking job into a failed run instead of a crash.
func (s *scheduler) safeRun(ctx context.Context, d *jobDef) (msg string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return d.Run(ctx)
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxSchedulerSleep bounds how long the loop sleeps, so a next-run time
// changed behind its back (another page, a restart of a run) is noticed.
const maxSchedulerSleep = 30 * time.Second

// loop starts due jobs until ctx is cancelled, then waits for the runs in
// flight: they see the cancelled context and stop at their next check.
func (s *scheduler) loop(ctx context.Context) {
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

// startDue starts every enabled job whose next run has come and returns
// how long to sleep until the next one is due.
func (s *scheduler) startDue(ctx context.Context) time.Duration {
	states, err := s.a.jobStates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.a.log.Warn("read job states", "err", err)
		}
		return maxSchedulerSleep
	}
	now := time.Now()
	wait := maxSchedulerSleep
	for _, d := range s.defs {
		st := states[d.key()]
		if st == nil || !st.Enabled || s.inFlight(d) != nil {
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

// setEnabled turns a job's schedule on or off and wakes the loop so an
// enabled job that is overdue starts now.
func (s *scheduler) setEnabled(ctx context.Context, d *jobDef, enabled bool) error {
	if err := s.a.store.SetJobEnabled(ctx, d.Stack, d.Name, enabled); err != nil {
		return err
	}
	s.poke()
	return nil
}

// jobSessionCleanup deletes expired dashboard sessions.
func (a *App) jobSessionCleanup(ctx context.Context) (string, error) {
	n, err := a.store.DeleteExpiredSessions(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Deleted %d expired %s", n, views.Plural(int(n), "session", "sessions")), nil
}

// jobRepositoryMaintenance repacks every repository in turn. One failing
// repository does not stop the others; the run fails if any did.
func (a *App) jobRepositoryMaintenance(ctx context.Context) (string, error) {
	ids, err := a.store.AllRepoIDs(ctx)
	if err != nil {
		return "", err
	}
	var done, failed, loose, merged int
	var before, after int64
	var firstErr error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("stopped after %d of %d repositories: %w", done, len(ids), err)
		}
		path := a.repoPath(id)
		if _, err := os.Stat(path); err != nil {
			continue // deleted since the list was read
		}
		res, err := a.git.Maintain(ctx, path)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("repository %d: %w", id, err)
			}
			continue
		}
		done++
		loose += res.LooseObjectsPacked
		merged += res.PacksMerged
		before += res.BytesBefore
		after += res.BytesAfter
	}
	msg := fmt.Sprintf("Maintained %d %s: %d loose objects packed, %d packs merged, %s → %s",
		done, views.Plural(done, "repository", "repositories"), loose, merged, views.Bytes(before), views.Bytes(after))
	if failed > 0 {
		return msg, fmt.Errorf("%d %s failed, first: %w", failed, views.Plural(failed, "repository", "repositories"), firstErr)
	}
	return msg, nil
}
