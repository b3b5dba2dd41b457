// Package handlers is the Tapioca process: it reads the configuration,
// opens the data directory, builds the forge core (handlers/core and its
// services), mounts the doors on one HTTP handler (the CodeBoba API, the
// operations API, the dashboard, git over HTTP) and the SSH server (git
// over SSH), and runs the background workers until it is told to stop.
//
// The layers:
//
//	doors:  codeboba  mcp  opencodehub  ops  dashboard  githttp  sshd  docora  ocore  (wire formats; decide nothing)
//	           \       |        |        |       |         |      |     /
//	core:   core/{accounts,orgs,repos,issues,pulls,pushes,code,statuses,vouches,
//	              webhooks,jobs,polls,mirrors,apps,projects,siteadmin,deploykeys,events,payload}
//	           \                       /
//	        store (SQLite)        gitserver (git)
//
// httpx is the HTTP plumbing doors share; outbound makes the guarded
// requests the core's workers send. A door never imports another door.
package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers/codeboba"
	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/deploykeys"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/idempotency"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/mirrors"
	"tapioca/handlers/core/orgs"
	"tapioca/handlers/core/polls"
	"tapioca/handlers/core/projects"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/pushes"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/siteadmin"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/core/text"
	"tapioca/handlers/core/vouches"
	"tapioca/handlers/core/webhooks"
	"tapioca/handlers/dashboard"
	"tapioca/handlers/docora"
	"tapioca/handlers/githttp"
	"tapioca/handlers/httpx"
	"tapioca/handlers/mcp"
	"tapioca/handlers/ocore"
	"tapioca/handlers/opencodehub"
	"tapioca/handlers/ops"
	"tapioca/handlers/outbound"
	"tapioca/handlers/sshd"
	"tapioca/store"
)

// DefaultSSHAddr is where `tapioca serve` runs git over SSH unless told
// otherwise.
const DefaultSSHAddr = ":2222"

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
	// OutboundAllowLoopback lets webhooks, deliveries and upstreams reach
	// loopback and link-local addresses, which are refused by default.
	OutboundAllowLoopback bool
	// WebhookDenyLoopback refuses loopback even when OutboundAllowLoopback
	// is set (kept from before loopback was refused by default).
	WebhookDenyLoopback bool

	// Connection and body limits; zero values take the defaults in
	// parentheses.
	MaxConnsPerAddr int           // concurrent connections from one client address (256)
	BodyGrace       time.Duration // time a request body may take before its rate counts (60s)
	BodyMinRate     int64         // bytes per second a request body must keep up after that (1024)

	// Watched repositories (Docora); zero values take the defaults in
	// parentheses.
	DeliveryTimeout   time.Duration // one app delivery attempt (10s)
	DeliveryRetryBase time.Duration // first retry of an app delivery, ×2 per failure (30s)
	MirrorInterval    time.Duration // between scheduled syncs of a watched mirror (5m)

	// SSHAddr is where git over SSH listens ("" = no SSH server; port 0
	// picks a free port, which ssh_url then names). The command line's
	// default is DefaultSSHAddr; the zero value is off, as tests want.
	SSHAddr string

	// CrashAt names a point where the process kills itself, for
	// crash-recovery tests of the built binary; never set in real use.
	CrashAt string

	Version string
	Commit  string
	Logger  *slog.Logger
	// LogLevel is the level Logger was made with (--log-level), for the
	// dashboard's configuration page; "" reads as info.
	LogLevel string
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
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = 256
	}
	if c.BodyGrace <= 0 {
		c.BodyGrace = time.Minute
	}
	if c.BodyMinRate <= 0 {
		c.BodyMinRate = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// App is one running Tapioca: the core, its workers and the doors.
type App struct {
	cfg     Config
	env     *core.Env
	log     *slog.Logger
	handler http.Handler
	api     *codeboba.Door
	ssh     *sshd.Door   // nil when SSH is off
	sshLn   net.Listener // listened to by Open, served by Serve

	// workers run for as long as Serve does (webhook delivery, scheduled
	// jobs, background poll runs).
	workers []func(ctx context.Context)

	// Services is the forge core, for the CLI and tests.
	Services Services

	// AdminPassword is set when Open created the admin account with a
	// generated password, so the caller can print it once.
	AdminPassword string
}

// Services are the core's services as the process built them.
type Services struct {
	Accounts  *accounts.Service
	Orgs      *orgs.Service
	Repos     *repos.Service
	Issues    *issues.Service
	Pulls     *pulls.Service
	Pushes    *pushes.Service
	Vouches   *vouches.Service
	Webhooks  *webhooks.Service
	Deliverer *webhooks.Deliverer
	Events    *events.Emitter
	Jobs      *jobs.Scheduler
	Polls     *polls.Service
	Mirrors   *mirrors.Engine
	Apps      *apps.Service
	Admin     *siteadmin.Service
	Code      *code.Service
	Statuses  *statuses.Service

	// DeployKeys manages repositories' deploy keys (git over SSH).
	DeployKeys *deploykeys.Service
	// Projects are the oCore dialect's projects and their deploy targets.
	Projects *projects.Service
}

// Open prepares the data directory and database, creates the site
// administrator on first start, builds the core and mounts the doors. It
// does not listen.
func Open(ctx context.Context, cfg Config) (*App, error) {
	cfg.defaults()
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "repos"), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "tapioca.db"))
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Logger}
	// SSH listens first: with port 0 its port is known only then, and
	// ssh_url names it.
	if cfg.SSHAddr != "" {
		if a.sshLn, err = net.Listen("tcp", cfg.SSHAddr); err != nil {
			st.Close()
			return nil, fmt.Errorf("ssh listen: %w", err)
		}
	}
	if err := a.build(ctx, st); err != nil {
		st.Close()
		if a.sshLn != nil {
			a.sshLn.Close()
		}
		return nil, err
	}
	return a, nil
}

// build wires the core and the doors, and runs the start-up steps.
func (a *App) build(ctx context.Context, st *store.Store) error {
	cfg := a.cfg
	git := gitserver.New(gitserver.Config{MaxFileSize: cfg.MaxFileSize, MaxRepoSize: cfg.MaxRepoSize, Logger: cfg.Logger})
	env, err := core.NewEnv(st, git, core.Config{
		DataDir: cfg.DataDir, BaseURL: cfg.BaseURL, RateLimitAuth: cfg.RateLimitAuth, RateLimitAnon: cfg.RateLimitAnon,
		MaxReposPerUser: cfg.MaxReposPerUser, Version: cfg.Version, CrashAt: cfg.CrashAt, SSHPort: a.sshPort(),
	}, cfg.Logger)
	if err != nil {
		return err
	}
	a.env = env
	env.EmptyTrash()
	if err := env.LoadSettings(ctx); err != nil {
		return err
	}

	allowed, err := core.ParseNetworks(cfg.WebhookAllowedNetworks)
	if err != nil {
		return fmt.Errorf("webhook allowed networks: %w", err)
	}
	policy := core.NetPolicy{Allowed: allowed, AllowLoopback: cfg.OutboundAllowLoopback && !cfg.WebhookDenyLoopback}
	hookCfg := webhooks.Config{Timeout: cfg.WebhookTimeout, RetryBase: cfg.WebhookRetryBase,
		MaxAttempts: cfg.WebhookMaxAttempts, Workers: cfg.WebhookWorkers, UserAgent: "Tapioca-Hookshot/" + cfg.Version}
	sender := outbound.NewSender(policy, cmp.Or(cfg.WebhookTimeout, webhooks.DefaultTimeout),
		cmp.Or(cfg.WebhookWorkers, webhooks.DefaultWorkers), webhooks.ResponseKept)
	deliverer := webhooks.NewDeliverer(env, sender, hookCfg)
	ev := events.New(env, deliverer)

	s := &a.Services
	s.Accounts = accounts.New(env)
	s.Orgs = orgs.New(env)
	s.Repos = repos.New(env)
	s.Issues = issues.New(env, ev)
	s.Pulls = pulls.New(env, ev, s.Issues)
	s.Pushes = pushes.New(env, ev, s.Pulls)
	s.Repos.Refs, s.Pulls.Refs = s.Pushes, s.Pushes
	s.Code = code.New(env, s.Pulls, s.Pushes)
	s.Statuses = statuses.New(env)
	s.Vouches = vouches.New(env)
	s.Webhooks = webhooks.New(env, ev, policy)
	s.Deliverer, s.Events = deliverer, ev
	s.Jobs = jobs.New(env)
	// Upstreams are reached through the guarded client too: loopback and
	// link-local only with --outbound-allow-loopback. The webhook network
	// list is for receivers, not for upstream hosts.
	upstreamPolicy := core.NetPolicy{AllowLoopback: cfg.OutboundAllowLoopback}
	s.Mirrors = mirrors.New(env, upstreamFetcher{git: git, client: outbound.Client(upstreamPolicy, time.Minute, 4),
		dial: outbound.Dial(upstreamPolicy, time.Minute)}, mirrors.Config{Interval: cfg.MirrorInterval})
	s.Polls = polls.New(env, s.Mirrors)
	appTimeout := cmp.Or(cfg.DeliveryTimeout, apps.DefaultTimeout)
	if s.Apps, err = apps.New(env, s.Mirrors, outbound.NewSender(policy, appTimeout, apps.DefaultWorkers, 4<<10), apps.Config{
		GitHubURL: cfg.GitHubURL, Policy: policy, Timeout: appTimeout, RetryBase: cfg.DeliveryRetryBase,
		UserAgent: "Tapioca-Docora/" + cfg.Version,
	}); err != nil {
		return err
	}
	s.Admin = siteadmin.New(env, s.Accounts, s.Orgs, s.Repos, s.Webhooks, s.Jobs)
	s.DeployKeys = deploykeys.New(env)
	// Deploy-target notifications follow the webhook delivery settings.
	projTimeout := cmp.Or(cfg.WebhookTimeout, projects.DefaultTimeout)
	s.Projects = projects.New(env, s.Mirrors, s.DeployKeys, outbound.NewSender(policy, projTimeout, projects.DefaultWorkers, 4<<10),
		projects.Config{Policy: policy, Timeout: projTimeout, RetryBase: cfg.WebhookRetryBase, MaxAttempts: cfg.WebhookMaxAttempts,
			UserAgent: "Tapioca-Projects/" + cfg.Version})
	s.Pushes.Followers = append(s.Pushes.Followers, s.Projects, s.Repos)
	if a.sshLn != nil {
		key, err := sshd.LoadHostKey(cfg.DataDir)
		if err != nil {
			return err
		}
		if a.ssh, err = sshd.New(env, s.Accounts, s.Pushes, sshd.Config{HostKey: key}); err != nil {
			return err
		}
	}

	if a.AdminPassword, err = s.Accounts.EnsureAdmin(ctx, cfg.AdminPassword); err != nil {
		return err
	}
	if err := s.Webhooks.SealSecrets(ctx); err != nil {
		return fmt.Errorf("seal webhook secrets: %w", err)
	}
	// One process per data directory: attempts a dead process left in
	// flight are logged as interrupted and go out again.
	if err := deliverer.Resume(ctx); err != nil {
		return fmt.Errorf("resume webhook deliveries: %w", err)
	}
	s.Mirrors.EmptyTrash()
	if err := s.Mirrors.Recover(ctx); err != nil {
		return fmt.Errorf("recover mirror syncs: %w", err)
	}
	if err := s.Apps.Resume(ctx); err != nil {
		return fmt.Errorf("resume app deliveries: %w", err)
	}
	if err := s.Projects.Resume(ctx); err != nil {
		return fmt.Errorf("resume project notifications: %w", err)
	}
	if err := a.addJobs(ctx); err != nil {
		return err
	}
	// The last step before serving finishes recording pushes a previous
	// process left half-recorded.
	if err := s.Pushes.Recover(ctx); err != nil {
		return err
	}
	a.workers = append(a.workers, deliverer.Run, s.Jobs.Loop, s.Polls.Worker, s.Mirrors.Worker, s.Apps.Planner, s.Apps.Deliverer, s.Projects.Worker, s.Repos.MaintainSoon)
	a.handler = a.mount()
	return nil
}

// addJobs registers the built-in scheduled jobs.
func (a *App) addJobs(ctx context.Context) error {
	s := a.Services
	if err := s.Jobs.MarkInterrupted(ctx); err != nil {
		return err
	}
	builtin := []*jobs.Def{
		{
			Name: "session-cleanup", Stack: "dashboard", Interval: time.Hour,
			Description: "Deletes expired dashboard sessions",
			Run: func(ctx context.Context) (string, error) {
				n, err := a.env.Store.DeleteExpiredSessions(ctx)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("Deleted %d expired %s", n, text.Plural(int(n), "session", "sessions")), nil
			},
		},
		{
			Name: "webhook-retry-sweep", Stack: "webhooks", Interval: time.Minute,
			Description: "Re-queues webhook deliveries whose retry time has come",
			Run: func(ctx context.Context) (string, error) {
				if err := s.Webhooks.Sweep(ctx, s.Deliverer); err != nil {
					return "", err
				}
				return "Swept webhook deliveries due for retry", nil
			},
		},
		{
			Name: "mirror-poll", Stack: "mirrors", Interval: time.Minute,
			Description: "Syncs the mirrors of watched repositories whose time has come (interval, jitter, backoff after errors) and removes the poll runs' mirrors nobody has polled for a week",
			Run:         s.Mirrors.SyncDue,
		},
		{
			Name: "app-delivery-cleanup", Stack: "apps", Interval: 24 * time.Hour,
			Description: "Deletes delivered app deliveries older than a week from the history",
			Run:         s.Apps.Prune,
		},
		{
			Name: "repository-maintenance", Stack: "repositories", Interval: 24 * time.Hour,
			Description: "Repacks every repository's loose objects and small packs",
			Run:         s.Repos.MaintainAll,
		},
	}
	for _, d := range builtin {
		if err := s.Jobs.Add(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// mount builds the one handler: every door on one mux, git paths first,
// the API's authentication and rate limits around the API.
func (a *App) mount() http.Handler {
	s := a.Services
	mux := http.NewServeMux()
	// One gate for the token dialects: a client's quota is one quota.
	gate := httpx.NewGate(s.Accounts.Authenticate, a.env.RateLimits)
	api := codeboba.New(a.env, codeboba.Services{Accounts: s.Accounts, Orgs: s.Orgs, Repos: s.Repos,
		Issues: s.Issues, Pulls: s.Pulls, Vouches: s.Vouches, Webhooks: s.Webhooks, DeployKeys: s.DeployKeys,
		Code: s.Code, Statuses: s.Statuses, Idempotency: idempotency.New(a.env)}, gate)
	api.Register(mux)
	a.api = api
	mcp.New(a.env, mcp.Services{Repos: s.Repos, Issues: s.Issues, Pulls: s.Pulls, Code: s.Code, Statuses: s.Statuses}, gate).Register(mux)
	opencodehub.New(a.env, gate, s.Repos, s.Pulls).Register(mux)
	// /api/repositories has its own tokens (docora_): the API's
	// authentication and rate limits do not apply to it.
	api.Others = []string{opencodehub.Prefix + "/", docora.Prefix + "/", ocore.Prefix + "/", ocore.OrgsPrefix, ocore.HooksPrefix}
	ops.New(a.env, a.cfg.APISecret, s.Jobs, s.Polls).Register(mux)
	dashboard.New(a.env, dashboard.Config{Version: a.cfg.Version, Commit: a.cfg.Commit, DataDir: a.cfg.DataDir,
		OpsAPI: a.cfg.APISecret != "", RateLimitAuth: a.cfg.RateLimitAuth, RateLimitAnon: a.cfg.RateLimitAnon,
		BaseURL: a.cfg.BaseURL, Server: serverConfig(a.cfg, a.SSHAddr(), a.SSHHostKey())}, dashboard.Services{Admin: s.Admin, Accounts: s.Accounts, Jobs: s.Jobs,
		Apps: s.Apps, Mirrors: s.Mirrors, Projects: s.Projects}).Register(mux)
	// /api/repositories is under /api/: before the API's catch-all.
	docora.New(a.env, s.Apps).Register(mux)
	ocore.New(a.env, gate, s.Projects).Register(mux)
	api.RegisterFallback(mux)
	mux.HandleFunc("/", a.rootFallback)
	git := githttp.New(a.env, s.Accounts, s.Pushes)
	h := httpx.Recover(a.log, git.Middleware(api.Middleware(mux)))
	return httpx.RequestID(httpx.AccessLog(a.log, httpx.BodyRate(a.cfg.BodyGrace, a.cfg.BodyMinRate, h)))
}

// rootFallback answers paths no route matched.
func (a *App) rootFallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Tapioca %s: a git forge. API at /api/v1, dashboard at /admin, health at /v1/health.\n", a.cfg.Version)
		return
	}
	httpx.WriteError(w, r, a.log, httpx.NoSuchEndpoint(r))
}

// APIRoutes lists the CodeBoba API's endpoints (tests, documentation).
func (a *App) APIRoutes() []codeboba.Route { return a.api.Routes() }

// Store exposes the database to the CLI and tests.
func (a *App) Store() *store.Store { return a.env.Store }

// Git exposes the git server to the CLI and tests.
func (a *App) Git() *gitserver.Server { return a.env.Git }

// Env exposes the core's environment to tests.
func (a *App) Env() *core.Env { return a.env }

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler { return a.handler }

// BaseURL is the external URL in effect: the dashboard's setting if one
// is stored, else --base-url.
func (a *App) BaseURL() string { return a.env.BaseURL() }

// SSHAddr is the SSH server's address, nil when SSH is off.
func (a *App) SSHAddr() net.Addr {
	if a.sshLn == nil {
		return nil
	}
	return a.sshLn.Addr()
}

// SSHHostKey is the SHA-256 fingerprint of the SSH server's host key
// ("" when SSH is off), for users to check what ssh asks them to trust.
func (a *App) SSHHostKey() string { return a.ssh.HostKeyFingerprint() }

func (a *App) sshPort() int {
	if addr, ok := a.SSHAddr().(*net.TCPAddr); ok {
		return addr.Port
	}
	return 0
}

// Close releases the database (and the SSH listener if Serve never ran).
func (a *App) Close() error {
	if a.sshLn != nil {
		a.sshLn.Close()
	}
	return a.env.Store.Close()
}

// Serve answers on ln (and on the SSH listener) and runs the background
// workers until ctx is cancelled, then shuts down gracefully: in-flight
// requests, git commands and pushes finish, then the workers stop (queued
// work stays queued in the database).
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
	go func() { errc <- srv.Serve(httpx.LimitConns(ln, a.cfg.MaxConnsPerAddr)) }()
	sshErrc := make(chan error, 1)
	if a.ssh != nil {
		go func() { sshErrc <- a.ssh.Serve(a.sshLn) }()
	}
	var failed error
	select {
	case failed = <-errc:
		errc <- failed // collected below
	case failed = <-sshErrc:
		sshErrc <- failed
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var shut sync.WaitGroup
	var sshErr error
	if a.ssh != nil {
		shut.Go(func() {
			sshErr = a.ssh.Shutdown(shutdownCtx)
			if e := <-sshErrc; !errors.Is(e, sshd.ErrServerClosed) {
				sshErr = errors.Join(sshErr, e)
			}
		})
	}
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	shut.Wait()
	return errors.Join(err, sshErr)
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
