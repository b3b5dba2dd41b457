// Package apps is the forge core's watched-repository service (the
// Docora dialect's rules): apps that site administrators onboard, each
// with a delivery URL, a signing secret and a docora_ token; the
// upstream repositories an app watches (each followed by a mirror of
// the mirror engine); the scans and diffs of their default branch,
// queued as file deliveries in a durable outbox; and the worker that
// delivers them to the app, signed, in commit order per repository,
// with retries and a per-repository circuit breaker.
package apps

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/handlers/core/mirrors"
	"tapioca/store"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRetryBase    = 30 * time.Second // then ×2 per failure: the breaker opens after about 8 minutes of failures
	DefaultBreakerAfter = 5
	DefaultWorkers      = 4
	DefaultRetention    = 7 * 24 * time.Hour
	maxRetryDelay       = time.Hour

	maxName   = 100
	maxSecret = 256
	minSecret = 8
	// TokenPrefix starts every app token.
	TokenPrefix = "docora_"
)

// Config tunes the service.
type Config struct {
	// GitHubURL is the upstream host watched repositories live on
	// (--github-url).
	GitHubURL string
	// Policy decides which delivery URLs apps may have.
	Policy       core.NetPolicy
	Timeout      time.Duration // one delivery attempt
	RetryBase    time.Duration // the first retry's delay, doubled per failure (±20%)
	BreakerAfter int           // consecutive failures that open a repository's breaker
	Workers      int           // deliveries in flight at once (one per repository)
	UserAgent    string
	// Retention is how long delivered deliveries stay in the history.
	Retention time.Duration
}

// Sender makes the HTTP request of a delivery attempt
// (handlers/outbound.Sender: the network policy applies on the address
// dialled).
type Sender interface {
	Post(ctx context.Context, url string, headers map[string]string, body []byte) (status int, respHeaders map[string]string, respBody []byte, err error)
}

// Service is the watched-repository service.
type Service struct {
	env     *core.Env
	mirrors *mirrors.Engine
	sender  Sender
	cfg     Config
	github  *url.URL

	planWake    chan struct{}
	deliverWake chan struct{}

	touchMu sync.Mutex
	touched map[int64]time.Time // app token use, written at most once a minute
}

// New returns the service; it plans after every mirror sync.
func New(env *core.Env, m *mirrors.Engine, sender Sender, cfg Config) (*Service, error) {
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.RetryBase = cmp.Or(cfg.RetryBase, DefaultRetryBase)
	cfg.BreakerAfter = cmp.Or(cfg.BreakerAfter, DefaultBreakerAfter)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.Retention = cmp.Or(cfg.Retention, DefaultRetention)
	gh, err := url.Parse(strings.TrimRight(cmp.Or(cfg.GitHubURL, "https://github.com"), "/"))
	if err != nil || (gh.Scheme != "http" && gh.Scheme != "https") || gh.Host == "" || gh.User != nil || gh.RawQuery != "" {
		return nil, fmt.Errorf("--github-url %q must be an http(s) URL like https://github.com", cfg.GitHubURL)
	}
	s := &Service{env: env, mirrors: m, sender: sender, cfg: cfg, github: gh,
		planWake: make(chan struct{}, 1), deliverWake: make(chan struct{}, 1), touched: map[int64]time.Time{}}
	m.Follow(func(int64) { s.wakePlanner() })
	return s, nil
}

// GitHubURL is the upstream host in effect, without a trailing slash.
func (s *Service) GitHubURL() string { return s.github.String() }

// Operator is whoever runs `tapioca admin app ...` on the data
// directory: the machine's operator, who can read and change everything
// there anyway, acts as a site administrator without an account.
func Operator() core.Actor {
	return core.AsUser(&store.User{Username: "operator", IsAdmin: true})
}

func checkAdmin(a core.Actor) error {
	if a.SiteAdmin() {
		return nil
	}
	if a.User == nil {
		return core.ErrNoIdentity
	}
	return core.Forbidden("Only site administrators can manage apps")
}

// NewApp is the onboarding form.
type NewApp struct {
	Name, URL, Secret string
}

// newToken returns a fresh docora_ token: 40 characters of base32 from
// crypto/rand (200 bits).
func newToken() string {
	return TokenPrefix + strings.ToLower(rand.Text() + rand.Text())[:40]
}

func tokenHint(tok string) string { return tok[:len(TokenPrefix)+4] }

// checkURL validates a delivery URL (see core.CheckReceiverURL).
func (s *Service) checkURL(ctx context.Context, v core.Validation, raw string) string {
	return core.CheckReceiverURL(ctx, s.cfg.Policy, v, "url", raw, "deliveries are signed with the secret")
}

func checkName(v core.Validation, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		v.Add("name", "can't be blank")
	case utf8.RuneCountInString(name) > maxName:
		v.Add("name", fmt.Sprintf("is too long (maximum is %d characters)", maxName))
	case core.LineProblem(name) != "":
		v.Add("name", core.LineProblem(name))
	}
	return name
}

func checkSecret(v core.Validation, secret string) {
	switch {
	case len(secret) < minSecret:
		v.Add("secret", fmt.Sprintf("is too short (minimum is %d characters)", minSecret))
	case len(secret) > maxSecret:
		v.Add("secret", fmt.Sprintf("is too long (maximum is %d characters)", maxSecret))
	case core.LineProblem(secret) != "":
		v.Add("secret", core.LineProblem(secret))
	}
}

// Create onboards an app and returns it with its token, which is shown
// this once and only kept hashed.
func (s *Service) Create(ctx context.Context, a core.Actor, in NewApp) (*store.App, string, error) {
	if err := checkAdmin(a); err != nil {
		return nil, "", err
	}
	v := core.Validation{}
	name := checkName(v, in.Name)
	u := s.checkURL(ctx, v, in.URL)
	checkSecret(v, in.Secret)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	tok := newToken()
	app, err := s.env.Store.CreateApp(ctx, store.NewApp{Name: name, URL: u, Secret: s.env.Secrets.Seal(in.Secret),
		TokenHash: store.HashToken(tok), TokenHint: tokenHint(tok), CreatedBy: a.ID()})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, "", core.Invalid("name", "is already taken by another app")
	}
	if err != nil {
		return nil, "", err
	}
	return app, tok, nil
}

// List lists the apps with their delivery counts.
func (s *Service) List(ctx context.Context, a core.Actor) ([]*store.AppSummary, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	return s.env.Store.ListApps(ctx)
}

// App finds an app by id, or by name when ref is not a number.
func (s *Service) App(ctx context.Context, a core.Actor, ref string) (*store.App, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		app, err := s.env.Store.AppByID(ctx, id)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return app, err
		}
	}
	app, err := s.env.Store.AppByName(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("No app %q", ref)
	}
	return app, err
}

// RotateToken gives an app a new token (shown once); the old one stops
// working at once.
func (s *Service) RotateToken(ctx context.Context, a core.Actor, id int64) (*store.App, string, error) {
	if err := checkAdmin(a); err != nil {
		return nil, "", err
	}
	tok := newToken()
	if err := s.env.Store.SetAppToken(ctx, id, store.HashToken(tok), tokenHint(tok)); err != nil {
		return nil, "", err
	}
	app, err := s.env.Store.AppByID(ctx, id)
	return app, tok, err
}

// SetDisabled disables an app (its token stops working and its
// deliveries wait) or enables it again.
func (s *Service) SetDisabled(ctx context.Context, a core.Actor, id int64, disabled bool) (*store.App, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	if err := s.env.Store.SetAppDisabled(ctx, id, disabled); err != nil {
		return nil, err
	}
	if !disabled {
		s.wakeDeliverer()
	}
	return s.env.Store.AppByID(ctx, id)
}

// Delete removes an app with its watched repositories and their
// deliveries; mirrors no other app watches go too.
func (s *Service) Delete(ctx context.Context, a core.Actor, id int64) error {
	if err := checkAdmin(a); err != nil {
		return err
	}
	ms, err := s.env.Store.DeleteApp(ctx, id)
	if err != nil {
		return err
	}
	return s.removeMirrors(ctx, ms)
}

func (s *Service) removeMirrors(ctx context.Context, ids []int64) error {
	var errs []error
	for _, id := range ids {
		if err := s.afterUnwatch(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Authenticate resolves an app token: ErrBadCredentials for anything
// that is not a current token of an enabled app (a CodeBoba token
// included).
func (s *Service) Authenticate(ctx context.Context, token string) (*store.App, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 200 {
		return nil, core.ErrBadCredentials
	}
	app, err := s.env.Store.AppByTokenHash(ctx, store.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if app.Disabled {
		return nil, &core.Error{Kind: core.ErrUnauthorized, Msg: "This app is disabled"}
	}
	s.touch(ctx, app.ID)
	return app, nil
}

// touch records a token's use, at most once a minute per app.
func (s *Service) touch(ctx context.Context, id int64) {
	now := time.Now()
	s.touchMu.Lock()
	last := s.touched[id]
	fresh := now.Sub(last) < time.Minute
	if !fresh {
		s.touched[id] = now
	}
	s.touchMu.Unlock()
	if fresh {
		return
	}
	if err := s.env.Store.TouchAppToken(context.WithoutCancel(ctx), id, now); err != nil {
		s.env.Log.WarnContext(ctx, "record app token use", "app", id, "err", err)
	}
}
