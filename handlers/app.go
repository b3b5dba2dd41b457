// Package handlers is Tapioca's HTTP side: the CodeBoba API, git over smart
// HTTP (authorization only; gitserver speaks the protocol), health, and the
// process that ties them to the store. Handlers stay thin: parse, ask one
// permission function, call the store or gitserver, write JSON.
package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"tapioca/gitserver"
	"tapioca/store"
)

// Config is everything the server takes from flags and environment.
type Config struct {
	DataDir       string
	BaseURL       string
	RateLimitAuth int // requests per hour per user
	RateLimitAnon int // requests per hour per client IP
	GitHubURL     string
	APISecret     string
	AdminPassword string // used only when the admin account is first created

	MaxReposPerUser int   // 0 = 50
	MaxFileSize     int64 // 0 = 50 MB
	MaxRepoSize     int64 // 0 = 1 GB

	// Webhook delivery; zero values take the defaults in parentheses.
	WebhookTimeout         time.Duration // per attempt (10s)
	WebhookRetryBase       time.Duration // first retry delay, ×3 per attempt, ±20% jitter (1m)
	WebhookMaxAttempts     int           // (8: about a day of retries)
	WebhookWorkers         int           // concurrent deliveries (8)
	WebhookAllowedNetworks []string      // CIDRs (or comma-separated lists) receivers may be in; empty = any
	WebhookDenyLoopback    bool          // refuse loopback, link-local and unspecified destinations

	Version string
	Commit  string
	Logger  *slog.Logger
}

func (c *Config) defaults() {
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:3000"
	}
	if c.RateLimitAuth <= 0 {
		c.RateLimitAuth = 5000
	}
	if c.RateLimitAnon <= 0 {
		c.RateLimitAnon = 60
	}
	if c.GitHubURL == "" {
		c.GitHubURL = "https://github.com"
	}
	if c.MaxReposPerUser <= 0 {
		c.MaxReposPerUser = 50
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = 50 << 20
	}
	if c.MaxRepoSize <= 0 {
		c.MaxRepoSize = 1 << 30
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// App is one running Tapioca: store, git server and HTTP routes.
type App struct {
	cfg     Config
	store   *store.Store
	git     *gitserver.Server
	log     *slog.Logger
	limiter *rateLimiter
	started time.Time
	handler http.Handler
	mux     *http.ServeMux

	// merges serializes pull request merges per repository (merge.go).
	merges keyedLocks

	// workers run for as long as Serve does (webhook delivery, scheduled
	// jobs); each feature adds its own in its init function.
	workers []func(ctx context.Context)

	hooks *webhookDeliverer // webhook delivery: wake-up channel, guarded client, policy

	jobs *scheduler  // scheduled jobs (jobs.go)
	dash *dashboard  // admin dashboard: sessions, login throttle (admin.go)
	poll *pollRunner // operations API poll runs (ops_poll.go)

	// dummyHash is checked against when a sign-in names no account, so
	// that a wrong name costs as much time as a wrong password.
	dummyOnce sync.Once
	dummyHash string

	settingsMu sync.RWMutex
	settings   map[string]string // runtime overrides from the settings table

	// AdminPassword is set when Open created the admin account with a
	// generated password, so the caller can print it once.
	AdminPassword string
}

// Open prepares the data directory and database, creates the site
// administrator on first start, and builds the routes. It does not listen.
func Open(ctx context.Context, cfg Config) (*App, error) {
	cfg.defaults()
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "repos"), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "tapioca.db"))
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg:     cfg,
		store:   st,
		log:     cfg.Logger,
		limiter: newRateLimiter(time.Hour),
		started: time.Now(),
		git: gitserver.New(gitserver.Config{
			MaxFileSize: cfg.MaxFileSize,
			MaxRepoSize: cfg.MaxRepoSize,
			Logger:      cfg.Logger,
		}),
	}
	a.emptyTrash()
	// The last step, before serving, finishes recording pushes a previous
	// process left half-recorded (see journal.go).
	for _, step := range []func(context.Context) error{
		a.reloadSettings, a.bootstrapAdmin, a.initWebhooks, a.initJobs, a.recoverJournal,
	} {
		if err := step(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	a.routes()
	return a, nil
}

// Store exposes the database to the CLI and tests.
func (a *App) Store() *store.Store { return a.store }

// Git exposes the git server to the CLI and tests.
func (a *App) Git() *gitserver.Server { return a.git }

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler { return a.handler }

// Close releases the database.
func (a *App) Close() error { return a.store.Close() }

// Serve answers on ln and runs the background workers until ctx is
// cancelled, then shuts down gracefully: in-flight requests and pushes
// finish, then the workers stop (queued work stays queued in the database).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for _, w := range a.workers {
		workers.Go(func() { w(workCtx) })
	}
	defer func() {
		stopWork()
		workers.Wait()
	}()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// repoPath is where a repository lives on disk: keyed by id, so renames
// and transfers never move files.
func (a *App) repoPath(id int64) string {
	return filepath.Join(a.cfg.DataDir, "repos", strconv.FormatInt(id, 10)+".git")
}

func (a *App) trashDir() string { return filepath.Join(a.cfg.DataDir, "repos", ".trash") }

// emptyTrash removes repositories whose deletion was interrupted.
func (a *App) emptyTrash() {
	if err := os.RemoveAll(a.trashDir()); err != nil {
		a.log.Warn("empty repository trash", "err", err)
	}
}

func (a *App) bootstrapAdmin(ctx context.Context) error {
	n, err := a.store.CountUsers(ctx, store.TypeUser)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	pw := a.cfg.AdminPassword
	generated := pw == ""
	if generated {
		pw = RandomPassword(20)
	}
	hash, err := store.HashPassword(pw)
	if err != nil {
		return err
	}
	_, err = a.store.CreateUser(ctx, store.NewUser{
		Username: "admin", Email: "admin@localhost", PasswordHash: hash, IsAdmin: true,
	})
	if err != nil {
		return fmt.Errorf("create admin account: %w", err)
	}
	if generated {
		a.AdminPassword = pw
	}
	return nil
}

// RandomPassword returns n characters from an alphabet without look-alikes.
func RandomPassword(n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, n)
	buf := make([]byte, n*2)
	for i := 0; i < n; {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if i < n && int(c) < 256-256%len(alphabet) {
				b[i] = alphabet[int(c)%len(alphabet)]
				i++
			}
		}
	}
	return string(b)
}

// reloadSettings reads the runtime settings table; the dashboard calls it
// after a change so that it applies without a restart.
func (a *App) reloadSettings(ctx context.Context) error {
	s, err := a.store.Settings(ctx)
	if err != nil {
		return err
	}
	a.settingsMu.Lock()
	a.settings = s
	a.settingsMu.Unlock()
	return nil
}

func (a *App) setting(key string) (string, bool) {
	a.settingsMu.RLock()
	defer a.settingsMu.RUnlock()
	v, ok := a.settings[key]
	return v, ok
}

// BaseURL is the external URL in effect: the dashboard's setting if one
// is stored, else --base-url.
func (a *App) BaseURL() string { return a.baseURL() }

func (a *App) baseURL() string {
	if v, ok := a.setting(store.SettingBaseURL); ok && v != "" {
		return v
	}
	return a.cfg.BaseURL
}

func (a *App) rateLimits() (auth, anon int) {
	auth, anon = a.cfg.RateLimitAuth, a.cfg.RateLimitAnon
	if v, ok := a.setting(store.SettingRateLimitAuth); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			auth = n
		}
	}
	if v, ok := a.setting(store.SettingRateLimitAnon); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			anon = n
		}
	}
	return auth, anon
}

func (a *App) registrationOpen() bool {
	v, ok := a.setting(store.SettingRegistrationOpen)
	return !ok || v != "false"
}

// ListenerURL is the URL a browser on this machine uses to reach addr:
// localhost for a wildcard address, the address itself otherwise.
func ListenerURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
