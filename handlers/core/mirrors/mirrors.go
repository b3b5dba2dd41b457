// Package mirrors is the forge core's mirror engine: bare mirrors of
// upstream git repositories under <data>/mirrors, synced over smart HTTP
// or SSH (through a Fetcher the process provides, which sends every
// request, and dials every connection, through the SSRF guard; an SSH
// upstream's host key is pinned on the first successful sync), one sync
// at a time per mirror, with
// each mirror's sync status, times and errors in the database; scheduled
// syncs on an interval with jitter and exponential backoff after errors.
// Watched repositories and poll runs use it.
package mirrors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/text"
	"tapioca/store"
)

// Credentials are what a sync authenticates with; zero = none. Over
// HTTP, Username and Password go as Basic credentials (a token as the
// password); over SSH, SSHKey is the private key.
type Credentials struct {
	Username, Password string
	// SSHKey is a private key in PEM form (OpenSSH's format): an SSH
	// upstream's deploy key.
	SSHKey string
	// HostKey is the SSH host key expected (authorized_keys form); ""
	// takes the mirror's pinned one, or trusts the first seen.
	HostKey string
}

// Fetch and List report the SSH host key the upstream showed in the
// results' HostKey, for the engine to pin.

// Fetcher reaches upstreams. The process builds it on gitserver's fetch
// client with the guarded HTTP client; the core never speaks HTTP.
type Fetcher interface {
	// Fetch brings the bare repository at path (created if missing) up
	// to date with the upstream at url.
	Fetch(ctx context.Context, path, url string, c Credentials) (*gitserver.FetchResult, error)
	// List reads the upstream's HEAD, branches and tags: whether the
	// repository exists and c can read it.
	List(ctx context.Context, url string, c Credentials) (*gitserver.RemoteRefs, error)
}

// Defaults for Config fields left zero.
const (
	DefaultInterval   = 5 * time.Minute
	DefaultTimeout    = 10 * time.Minute
	DefaultMaxBackoff = 6 * time.Hour
	// parallel bounds the syncs one poll job runs at once.
	parallel = 4
)

// Config tunes the engine.
type Config struct {
	Interval   time.Duration // between scheduled syncs of a watched mirror
	Timeout    time.Duration // one sync
	MaxBackoff time.Duration // the longest wait after repeated failures
}

// Engine syncs mirrors.
type Engine struct {
	env   *core.Env
	fetch Fetcher
	cfg   Config

	mu        sync.Mutex
	base      context.Context
	runs      sync.WaitGroup
	followers []func(mirrorID int64)
}

// New returns the engine.
func New(env *core.Env, f Fetcher, cfg Config) *Engine {
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	return &Engine{env: env, fetch: f, cfg: cfg, base: context.Background()}
}

// Interval is the scheduled sync interval in effect.
func (e *Engine) Interval() time.Duration { return e.cfg.Interval }

// Follow registers fn to be told, quickly and without blocking, that a
// mirror finished a successful sync (watched repositories plan their
// deliveries then).
func (e *Engine) Follow(fn func(mirrorID int64)) {
	e.mu.Lock()
	e.followers = append(e.followers, fn)
	e.mu.Unlock()
}

// Worker records the serving context for background syncs and, at
// shutdown, waits for those in flight.
func (e *Engine) Worker(ctx context.Context) {
	e.mu.Lock()
	e.base = ctx
	e.mu.Unlock()
	<-ctx.Done()
	e.runs.Wait()
}

// Recover returns syncs a dead process left in flight to pending.
func (e *Engine) Recover(ctx context.Context) error {
	n, err := e.env.Store.ResetSyncingMirrors(ctx)
	if n > 0 {
		e.env.Log.Warn("mirror syncs interrupted by a stop", "count", n)
	}
	return err
}

// Path is where a mirror lives on disk.
func (e *Engine) Path(id int64) string {
	return filepath.Join(e.env.Cfg.DataDir, "mirrors", strconv.FormatInt(id, 10)+".git")
}

// Ensure returns the mirror of url, creating its row the first time (the
// repository on disk comes with the first sync).
func (e *Engine) Ensure(ctx context.Context, url string) (*store.Mirror, error) {
	return e.env.Store.EnsureMirror(ctx, url)
}

// Find returns the mirror of an upstream URL written either with or
// without ".git", or ErrNotFound.
func (e *Engine) Find(ctx context.Context, url string) (*store.Mirror, error) {
	url = strings.TrimRight(url, "/")
	alt := url + ".git"
	if trimmed, ok := strings.CutSuffix(url, ".git"); ok {
		alt = trimmed
	}
	m, err := e.env.Store.MirrorByURL(ctx, url)
	if errors.Is(err, store.ErrNotFound) {
		m, err = e.env.Store.MirrorByURL(ctx, alt)
	}
	return m, err
}

// Schedule makes a mirror synced on the engine's interval, the first
// scheduled sync one interval away (callers sync it now themselves).
func (e *Engine) Schedule(ctx context.Context, id int64) error {
	m, err := e.env.Store.MirrorByID(ctx, id)
	if err != nil {
		return err
	}
	if m.Interval > 0 {
		return nil
	}
	return e.env.Store.ScheduleMirror(ctx, id, e.cfg.Interval, time.Now().Add(e.jitter(e.cfg.Interval)))
}

// SetToken stores the credential scheduled syncs use (sealed; "" = none)
// and clears the mirror's error state. For an SSH upstream it is the
// private key (PEM).
func (e *Engine) SetToken(ctx context.Context, id int64, token string) error {
	return e.env.Store.SetMirrorToken(ctx, id, e.env.Secrets.Seal(token))
}

// Probe reads an upstream's refs with c: the check that it exists and c
// can read it. An SSH upstream's host key must be the one its mirror
// pinned, if it has one; nothing is pinned.
func (e *Engine) Probe(ctx context.Context, url string, c Credentials) (*gitserver.RemoteRefs, error) {
	ctx, cancel := context.WithTimeout(ctx, min(e.cfg.Timeout, time.Minute))
	defer cancel()
	if c.HostKey == "" {
		if m, err := e.Find(ctx, url); err == nil {
			c.HostKey = m.HostKey
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return e.fetch.List(ctx, url, c)
}

// Result is what one sync did.
type Result struct {
	Mirror  *store.Mirror // as recorded after the sync
	Updates []gitserver.RefUpdate
	Objects int
}

// Sync syncs a mirror now and waits: with c when given, else with the
// stored token (or key). An SSH upstream's host key must be the pinned
// one; the first successful sync pins it. A failure is recorded on the
// mirror (status error, the message, backoff) and returned.
func (e *Engine) Sync(ctx context.Context, id int64, c *Credentials) (*Result, error) {
	st := e.env.Store
	m, err := st.MirrorByID(ctx, id)
	if err != nil {
		return nil, err
	}
	creds := Credentials{}
	if c != nil {
		creds = *c
	} else if m.Token != "" {
		tok, err := e.env.Secrets.Open(m.Token)
		if err != nil {
			return nil, fmt.Errorf("mirror %d token: %w", id, err)
		}
		if gitserver.IsSSHURL(m.URL) {
			creds.SSHKey = tok
		} else {
			creds.Password = tok
		}
	}
	if creds.HostKey == "" {
		creds.HostKey = m.HostKey
	}
	if err := st.StartMirrorSync(ctx, id); err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	path := e.Path(id)
	res, ferr := e.fetch.Fetch(fctx, path, m.URL, creds)
	cancel()
	// The outcome is recorded even when the caller has gone away.
	bg := context.WithoutCancel(ctx)
	out := store.MirrorSyncOutcome{}
	if ferr == nil && res.HEAD != "" {
		h, err := e.env.Git.ResolveRef(bg, path, res.HEAD)
		switch {
		case err == nil:
			out.HeadCommit = h.String()
		case !errors.Is(err, gitserver.ErrNotFound):
			ferr = fmt.Errorf("resolve the mirror's HEAD: %w", err)
		}
	}
	if ferr != nil {
		out.Err = syncError(ferr)
		out.Failures = m.Failures + 1
		out.Next = time.Now().Add(e.backoff(m, out.Failures))
	} else {
		out.HeadRef = res.HEAD
		out.Changed = len(res.Updates) > 0
		out.HostKey = res.HostKey
		out.Next = time.Now().Add(e.jitter(cmp.Or(m.Interval, e.cfg.Interval)))
	}
	if err := st.FinishMirrorSync(bg, id, out); err != nil {
		return nil, errors.Join(ferr, err)
	}
	if ferr != nil {
		e.env.Log.Info("mirror sync failed", "mirror", id, "url", m.URL, "err", ferr)
		return nil, ferr
	}
	after, err := st.MirrorByID(bg, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	followers := e.followers
	e.mu.Unlock()
	for _, f := range followers {
		f(id)
	}
	return &Result{Mirror: after, Updates: res.Updates, Objects: res.Objects}, nil
}

// syncError is the message recorded for a failed sync.
func syncError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the sync took too long and was stopped: " + err.Error()
	}
	return err.Error()
}

// jitter spreads d by ±10%, so mirrors scheduled together drift apart.
func (e *Engine) jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// backoff is the wait after the n-th consecutive failure: the interval
// doubled per failure up to the maximum, with jitter.
func (e *Engine) backoff(m *store.Mirror, n int) time.Duration {
	base := cmp.Or(m.Interval, e.cfg.Interval)
	d := float64(base) * math.Pow(2, float64(max(n, 1)-1))
	return e.jitter(time.Duration(min(d, float64(e.cfg.MaxBackoff))))
}

// Kick syncs a mirror in the background with its stored token; the sync
// goes on until the server shuts down.
func (e *Engine) Kick(id int64) { e.kick(id, nil) }

// KickWith is Kick with credentials (a project's own token).
func (e *Engine) KickWith(id int64, c Credentials) { e.kick(id, &c) }

func (e *Engine) kick(id int64, c *Credentials) {
	e.mu.Lock()
	base := e.base
	e.runs.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.runs.Done()
		// The error is on the mirror's record.
		_, _ = e.Sync(base, id, c)
	}()
}

// SyncDue syncs the scheduled mirrors whose time has come, a few at a
// time, then removes the mirrors nothing has kept for IdleAfter: the
// mirror-poll job.
func (e *Engine) SyncDue(ctx context.Context) (string, error) {
	due, err := e.env.Store.DueMirrors(ctx, time.Now())
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, m := range due {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := e.Sync(ctx, m.ID, nil); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Synced %d %s", len(due), text.Plural(len(due), "mirror", "mirrors"))
	if failed > 0 {
		msg += fmt.Sprintf(", %d failed", failed)
	}
	removed, err := e.RemoveIdle(ctx, time.Now().Add(-IdleAfter))
	if removed > 0 {
		msg += fmt.Sprintf("; removed %d unused %s", removed, text.Plural(removed, "mirror", "mirrors"))
	}
	return msg, err
}

// RemoveIfUnwatched deletes a mirror, on disk too, when no watched
// repository follows it any more; a watched mirror stays.
func (e *Engine) RemoveIfUnwatched(ctx context.Context, id int64) error {
	err := e.env.Store.DeleteUnwatchedMirror(ctx, id)
	if errors.Is(err, store.ErrMirrorWatched) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return e.removeFiles(ctx, id)
}

// IdleAfter is how long a mirror that nothing keeps (a poll run's cache
// of an upstream) stays after its last poll; the mirror-poll job then
// removes it, and a later poll fetches the upstream afresh.
const IdleAfter = 7 * 24 * time.Hour

// RemoveIdle removes the mirrors nothing keeps and nobody polled since
// before, on disk too, and says how many.
func (e *Engine) RemoveIdle(ctx context.Context, before time.Time) (int, error) {
	ids, err := e.env.Store.IdleMirrors(ctx, before)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		ok, err := e.env.Store.DeleteIdleMirror(ctx, id, before)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		if err := e.removeFiles(ctx, id); err != nil {
			return n, err
		}
	}
	return n, nil
}

// removeFiles removes a deleted mirror's repository: renamed aside under
// the repository lock first, so a removal a stop interrupts leaves only
// trash that EmptyTrash clears.
func (e *Engine) removeFiles(ctx context.Context, id int64) error {
	path := e.Path(id)
	unlock, err := e.env.Git.LockContext(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	trash := path + ".deleted-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(path, trash); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("remove mirror %d: %w", id, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		e.env.Log.WarnContext(ctx, "remove mirror files", "path", trash, "err", err)
	}
	return nil
}

// EmptyTrash removes mirror directories whose removal a stop interrupted.
func (e *Engine) EmptyTrash() {
	dirs, _ := filepath.Glob(filepath.Join(e.env.Cfg.DataDir, "mirrors", "*.git.deleted-*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			e.env.Log.Warn("remove deleted mirror", "path", d, "err", err)
		}
	}
}

// List lists every mirror with its watchers: site administrators only.
func (e *Engine) List(ctx context.Context, a core.Actor) ([]*store.Mirror, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	return e.env.Store.ListMirrors(ctx)
}

// SyncNow starts a sync of a mirror in the background: site
// administrators only (the dashboard's "Sync now").
func (e *Engine) SyncNow(ctx context.Context, a core.Actor, id int64) (*store.Mirror, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	m, err := e.env.Store.MirrorByID(ctx, id)
	if err != nil {
		return nil, err
	}
	e.Kick(id)
	return m, nil
}

func checkAdmin(a core.Actor) error {
	if a.SiteAdmin() {
		return nil
	}
	if a.User == nil {
		return core.ErrNoIdentity
	}
	return core.Forbidden("Only site administrators can do this")
}
