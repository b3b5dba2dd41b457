// Package dashboard is the admin dashboard door (/admin, /login,
// /logout, /assets/): server-rendered pages for site administrators,
// sessions in SQLite, CSRF-safe forms that work without JavaScript. Every
// change it offers is a call on the core's site administration.
package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"

	"tapioca/assets"
	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/mirrors"
	"tapioca/handlers/core/projects"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
	"tapioca/views"
)

// Config is what the dashboard shows of the server's configuration.
type Config struct {
	Version, Commit string
	DataDir         string
	OpsAPI          bool // the operations API is enabled
	RateLimitAuth   int  // the --rate-limit-auth default
	RateLimitAnon   int  // the --rate-limit-anon default
	BaseURL         string
	// Server is the rest of the process's configuration, as the
	// read-only configuration page lists it after the runtime settings.
	Server []ConfigSection
}

// ConfigSection is a group of values on the configuration page.
type ConfigSection = views.ConfigSection

// ConfigEntry is one value on the configuration page.
type ConfigEntry = views.ConfigEntry

// Services are the core services the dashboard calls.
type Services struct {
	Admin    *siteadmin.Service
	Accounts *accounts.Service
	Jobs     *jobs.Scheduler
	Apps     *apps.Service
	Mirrors  *mirrors.Engine
	Projects *projects.Service
}

// Door is the admin dashboard: server-rendered pages (views/), sessions
// kept by scs in SQLite, and forms protected twice against cross-site
// requests: Go's CrossOriginProtection refuses cross-origin POSTs by
// their Sec-Fetch-Site/Origin headers, and every form carries a
// per-session token. Everything works without JavaScript.
type Door struct {
	Services
	env     *core.Env
	cfg     Config
	started time.Time
	mux     *http.ServeMux

	sessions *scs.SessionManager
	cop      *http.CrossOriginProtection
	assetV   string
	loginKey []byte // signs the sign-in form's token (see loginToken)
}

const (
	sessionCookie = "tapioca_session"

	sessUserID      = "uid"
	sessPasswordFP  = "pwfp" // fingerprint of the password hash at sign-in
	sessCSRF        = "csrf"
	sessFlashKind   = "flash_kind"
	sessFlashMsg    = "flash_msg"
	sessFlashSecret = "flash_secret"

	adminPerPage = 25
)

// New returns the dashboard.
func New(env *core.Env, cfg Config, s Services) *Door {
	// scs.New also starts the cleanup goroutine of a default in-memory
	// store, which the SQLite store replaces. That goroutine stays idle;
	// memstore's StopCleanup cannot be called safely this early (it races
	// with the goroutine it stops).
	sm := scs.New()
	sm.Store = env.Store.SessionStore()
	sm.Lifetime = 12 * time.Hour
	sm.IdleTimeout = 2 * time.Hour
	sm.Cookie.Name = sessionCookie
	d := &Door{Services: s, env: env, cfg: cfg, started: time.Now(),
		sessions: sm, cop: http.NewCrossOriginProtection(), assetV: assets.Version(), loginKey: []byte(rand.Text())}
	d.cop.SetDenyHandler(http.HandlerFunc(d.crossOriginRefused))
	return d
}

// Register adds the dashboard (/admin, /login, /logout, /assets/) to mux.
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	mux.Handle("GET /assets/", d.assetHandler())

	d.dashPage("GET /login", d.loginForm)
	d.dashPage("POST /login", d.loginSubmit)
	d.dashPage("GET /logout", d.logoutForm)
	d.dashPage("POST /logout", d.logoutSubmit)

	d.admin("GET /admin", d.adminOverview)
	d.admin("GET /admin/{$}", d.adminOverview)
	d.admin("GET /admin/users", d.adminUsers)
	d.admin("POST /admin/users", d.adminCreateUser)
	d.admin("GET /admin/accounts/{name}", d.adminAccount)
	d.admin("GET /admin/users/{name}", d.adminUser)
	d.admin("POST /admin/users/{name}/edit", d.adminEditUser)
	d.admin("POST /admin/users/{name}/tokens/{id}/revoke", d.adminRevokeToken)
	d.admin("POST /admin/users/{name}/keys/{id}/revoke", d.adminRevokeKey)
	d.admin("POST /admin/users/{name}/admin", d.adminSetAdmin)
	d.admin("POST /admin/users/{name}/disabled", d.adminSetDisabled)
	d.admin("POST /admin/users/{name}/password", d.adminResetPassword)
	d.admin("POST /admin/users/{name}/vouches", d.adminGrantVouches)
	d.admin("GET /admin/users/{name}/delete", d.adminConfirmDeleteUser)
	d.admin("POST /admin/users/{name}/delete", d.adminDeleteUser)
	d.admin("GET /admin/orgs", d.adminOrgs)
	d.admin("POST /admin/orgs", d.adminCreateOrg)
	d.admin("GET /admin/orgs/{name}", d.adminOrg)
	d.admin("POST /admin/orgs/{name}/members", d.adminAddMember)
	d.admin("POST /admin/orgs/{name}/members/{user}/role", d.adminSetMemberRole)
	d.admin("POST /admin/orgs/{name}/members/{user}/remove", d.adminRemoveMember)
	d.admin("GET /admin/orgs/{name}/delete", d.adminConfirmDeleteOrg)
	d.admin("POST /admin/orgs/{name}/delete", d.adminDeleteOrg)
	d.admin("GET /admin/repos", d.adminRepos)
	d.admin("POST /admin/repos", d.adminCreateRepo)
	d.admin("GET /admin/repos/{owner}/{repo}", d.adminRepo)
	d.admin("POST /admin/repos/{owner}/{repo}/rename", d.adminRenameRepo)
	d.admin("POST /admin/repos/{owner}/{repo}/transfer", d.adminTransferRepo)
	d.admin("POST /admin/repos/{owner}/{repo}/visibility", d.adminRepoVisibility)
	d.admin("POST /admin/repos/{owner}/{repo}/maintain", d.adminMaintainRepo)
	d.admin("GET /admin/repos/{owner}/{repo}/delete", d.adminConfirmDeleteRepo)
	d.admin("POST /admin/repos/{owner}/{repo}/delete", d.adminDeleteRepo)
	d.admin("GET /admin/webhooks", d.adminWebhooks)
	d.admin("GET /admin/deployments", d.adminDeployments)
	d.admin("GET /admin/webhooks/deliveries/{id}", d.adminDelivery)
	d.admin("POST /admin/webhooks/deliveries/{id}/redeliver", d.adminRedeliver)
	d.admin("POST /admin/webhooks/redeliver-failed", d.adminRedeliverFailed)
	d.admin("GET /admin/webhooks/hooks", d.adminHooks)
	d.admin("POST /admin/webhooks/hooks/{id}/active", d.adminSetHookActive)
	d.admin("GET /admin/webhooks/hooks/{id}/delete", d.adminConfirmDeleteHook)
	d.admin("POST /admin/webhooks/hooks/{id}/delete", d.adminDeleteHook)
	d.admin("GET /admin/apps", d.adminApps)
	d.admin("POST /admin/apps", d.adminCreateApp)
	d.admin("POST /admin/apps/{id}/token", d.adminRotateAppToken)
	d.admin("POST /admin/apps/{id}/disabled", d.adminSetAppDisabled)
	d.admin("GET /admin/apps/{id}/delete", d.adminConfirmDeleteApp)
	d.admin("POST /admin/apps/{id}/delete", d.adminDeleteApp)
	d.admin("GET /admin/watched", d.adminWatched)
	d.admin("POST /admin/watched/mirrors/{id}/sync", d.adminSyncMirror)
	d.admin("POST /admin/watched/{id}/breaker", d.adminResetBreaker)
	d.admin("GET /admin/jobs", d.adminJobs)
	d.admin("POST /admin/jobs/{name}/run", d.adminRunJob)
	d.admin("POST /admin/jobs/{name}/enabled", d.adminSetJobEnabled)
	d.admin("GET /admin/settings", d.adminSettings)
	d.admin("POST /admin/settings", d.adminSaveSettings)
	d.admin("GET /admin/config", d.adminConfig)
	d.admin("/admin/", func(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
		return pageErr(http.StatusNotFound, "Page not found", "There is no dashboard page at "+r.URL.Path+".")
	})
}

// assetHandler serves the embedded files. A request carrying the current
// ?v= may be cached for a year; any other is revalidated.
func (d *Door) assetHandler() http.Handler {
	files := http.StripPrefix("/assets/", http.FileServerFS(assets.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == d.assetV {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(r.URL.Path, "/") {
			// No directory listings.
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// adminReq is what every signed-in handler gets, explicitly.
type adminReq struct {
	user  *store.User
	csrf  string
	flash *views.Flash
	now   time.Time
}

// actor is the signed-in administrator as the core sees them.
func (ar *adminReq) actor() core.Actor { return core.AsUser(ar.user) }

type adminFunc func(w http.ResponseWriter, r *http.Request, ar *adminReq) error

// dashPage registers a dashboard route open to visitors (sign-in pages).
func (d *Door) dashPage(pattern string, h http.HandlerFunc) {
	d.mux.Handle(pattern, d.dashChain(h))
}

// admin registers a page for signed-in site administrators. Unsafe
// methods must carry the session's CSRF token.
func (d *Door) admin(pattern string, h adminFunc) {
	d.mux.Handle(pattern, d.dashChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ar, ok := d.adminAuth(w, r)
		if !ok {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Read the form first, so a body over the limit is reported
			// as such rather than as a missing token.
			var mbe *http.MaxBytesError
			if err := r.ParseForm(); errors.As(err, &mbe) {
				d.renderError(w, r, ar, http.StatusRequestEntityTooLarge, "Form too large", "The form sent more data than the dashboard accepts.")
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !d.validCSRF(r) {
			d.renderError(w, r, ar, http.StatusForbidden, "Form expired",
				"The form was not sent with a valid security token, so nothing was changed. Reload the page and try again.")
			return
		}
		if err := h(w, r, ar); err != nil {
			d.adminError(w, r, ar, err)
		}
	})))
}

// dashChain wraps dashboard handlers: security headers, then the
// cross-origin check, then the session.
func (d *Door) dashChain(h http.Handler) http.Handler {
	withSession := d.withSession(h)
	protected := d.cop.Handler(withSession)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		// Behind a proxy that rewrites Host, the browser's Origin is the
		// base URL's: the one in effect now, settings included.
		if o := r.Header.Get("Origin"); o != "" && o == d.baseOrigin() {
			withSession.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// baseOrigin is the scheme://host of the base URL in effect.
func (d *Door) baseOrigin() string {
	u, err := url.Parse(d.env.BaseURL())
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// crossOriginRefused answers a cross-origin form POST: nothing changes.
func (d *Door) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	d.renderError(w, r, nil, http.StatusForbidden, "Cross-origin request refused",
		"This form was sent from another site, so Tapioca did not act on it. Use the dashboard itself to make changes.")
}

// withSession loads the scs session around h and writes the cookie
// before the first byte of the response. It is scs's LoadAndSave, except
// that the cookie's Secure flag is decided per request: set when the
// request came over TLS (directly or through a proxy saying so) or the
// base URL is https on this host.
func (d *Door) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie")
		token := ""
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		ctx, err := d.sessions.Load(r.Context(), token)
		if err != nil {
			d.env.Log.ErrorContext(r.Context(), "load session", "err", err)
			d.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong", "The session could not be read.")
			return
		}
		r = r.WithContext(ctx)
		sw := &sessionWriter{ResponseWriter: w, d: d, r: r}
		next.ServeHTTP(sw, r)
		sw.commit()
	})
}

type sessionWriter struct {
	http.ResponseWriter
	d    *Door
	r    *http.Request
	done bool
}

func (s *sessionWriter) commit() {
	if s.done {
		return
	}
	s.done = true
	sm := s.d.sessions
	ctx := s.r.Context()
	cookie := &http.Cookie{Name: sessionCookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.d.secureRequest(s.r)}
	switch sm.Status(ctx) {
	case scs.Modified:
		token, _, err := sm.Commit(ctx)
		if err != nil {
			s.d.env.Log.ErrorContext(ctx, "save session", "err", err)
			return
		}
		// A browser-session cookie: closing the browser signs out; the
		// server side expires after the lifetime or idle timeout anyway.
		cookie.Value = token
	case scs.Destroyed:
		cookie.MaxAge = -1
		cookie.Expires = time.Unix(1, 0)
	default:
		return
	}
	s.ResponseWriter.Header().Add("Set-Cookie", cookie.String())
}

func (s *sessionWriter) WriteHeader(code int) {
	s.commit()
	s.ResponseWriter.WriteHeader(code)
}

func (s *sessionWriter) Write(b []byte) (int, error) {
	s.commit()
	return s.ResponseWriter.Write(b)
}

func (s *sessionWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// secureRequest reports whether the browser reached us over https.
func (d *Door) secureRequest(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	u, err := url.Parse(d.env.BaseURL())
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
}

// passwordFingerprint ties a session to the password it signed in with:
// a password reset ends the account's dashboard sessions.
func passwordFingerprint(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

// adminAuth resolves the signed-in administrator, or answers for the
// visitor (to the sign-in page) and returns false. The account is read on
// every request, so disabling it or revoking its rights takes effect at
// once.
func (d *Door) adminAuth(w http.ResponseWriter, r *http.Request) (*adminReq, bool) {
	ctx := r.Context()
	sm := d.sessions
	uid := sm.GetInt64(ctx, sessUserID)
	if uid == 0 {
		target := "/login"
		if r.Method == http.MethodGet && r.URL.Path != "/admin" && r.URL.Path != "/admin/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil, false
	}
	u, err := d.env.Store.UserByID(ctx, uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		d.env.Log.ErrorContext(ctx, "load dashboard user", "err", err)
		d.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong", "Your account could not be read; try again.")
		return nil, false
	}
	if err != nil || u.IsOrg() || u.Disabled || !u.IsAdmin || sm.GetString(ctx, sessPasswordFP) != passwordFingerprint(u.PasswordHash) {
		if derr := sm.Destroy(ctx); derr != nil {
			d.env.Log.WarnContext(ctx, "end session", "err", derr)
		}
		http.Redirect(w, r, "/login?notice=revoked", http.StatusSeeOther)
		return nil, false
	}
	return &adminReq{user: u, csrf: d.csrfToken(ctx), flash: d.popFlash(ctx), now: time.Now()}, true
}

// csrfToken returns the session's form token, creating it on first use.
func (d *Door) csrfToken(ctx context.Context) string {
	sm := d.sessions
	if t := sm.GetString(ctx, sessCSRF); t != "" {
		return t
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	sm.Put(ctx, sessCSRF, t)
	return t
}

// validCSRF checks the form's csrf_token against the session's.
func (d *Door) validCSRF(r *http.Request) bool {
	want := d.sessions.GetString(r.Context(), sessCSRF)
	got := r.PostFormValue("csrf_token")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// flash stores a message for the next page the administrator sees.
func (d *Door) flash(ctx context.Context, kind, msg string) { d.flashSecret(ctx, kind, msg, "") }

// flashTo answers a dashboard form: the administrator is sent to target,
// which shows msg.
func (d *Door) flashTo(w http.ResponseWriter, r *http.Request, kind, msg, target string) error {
	d.flash(r.Context(), kind, msg)
	redirect(w, r, target)
	return nil
}

// flashSecret is flash with a value shown once (a generated password).
func (d *Door) flashSecret(ctx context.Context, kind, msg, secret string) {
	sm := d.sessions
	sm.Put(ctx, sessFlashKind, kind)
	sm.Put(ctx, sessFlashMsg, msg)
	if secret != "" {
		sm.Put(ctx, sessFlashSecret, secret)
	}
}

func (d *Door) popFlash(ctx context.Context) *views.Flash {
	sm := d.sessions
	msg := sm.PopString(ctx, sessFlashMsg)
	if msg == "" {
		return nil
	}
	return &views.Flash{Kind: sm.PopString(ctx, sessFlashKind), Message: msg, Secret: sm.PopString(ctx, sessFlashSecret)}
}

// page is the layout data of a signed-in page.
func (d *Door) page(ar *adminReq, nav, title string) views.Page {
	return views.Page{Title: title, Nav: nav, User: ar.user.Username, CSRF: ar.csrf, Flash: ar.flash,
		Version: d.cfg.Version, AssetV: d.assetV, Now: ar.now}
}

// render writes a page. It renders into memory first, so a failure is a
// clean error page rather than half a page.
func (d *Door) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		d.env.Log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect answers a form POST: see the page at target.
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// pageError is an error a dashboard handler returns to show an error
// page with its status.
type pageError struct {
	status     int
	title, msg string
}

func (e *pageError) Error() string { return e.title + ": " + e.msg }

func pageErr(status int, title, msg string) error { return &pageError{status, title, msg} }

func (d *Door) adminError(w http.ResponseWriter, r *http.Request, ar *adminReq, err error) {
	var pe *pageError
	var ce *core.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &pe):
		d.renderError(w, r, ar, pe.status, pe.title, pe.msg)
	case errors.Is(err, store.ErrNotFound):
		d.renderError(w, r, ar, http.StatusNotFound, "Not found", "What you were looking for does not exist, or no longer does.")
	case errors.As(err, &mbe):
		d.renderError(w, r, ar, http.StatusRequestEntityTooLarge, "Form too large", "The form sent more data than the dashboard accepts.")
	case errors.As(err, &ce) && errors.Is(err, core.ErrForbidden):
		d.renderError(w, r, ar, http.StatusForbidden, "Not allowed", ce.Msg)
	case errors.As(err, &ce) && errors.Is(err, core.ErrNotFound):
		d.renderError(w, r, ar, http.StatusNotFound, "Not found", ce.Msg)
	case errors.As(err, &ce) && (errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrInvalid)):
		d.renderError(w, r, ar, http.StatusConflict, "Refused", ce.Msg)
	default:
		d.env.Log.ErrorContext(r.Context(), "dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		d.renderError(w, r, ar, http.StatusInternalServerError, "Something went wrong", "The request failed on the server; the log has the details.")
	}
}

func (d *Door) renderError(w http.ResponseWriter, r *http.Request, ar *adminReq, status int, title, msg string) {
	if ar == nil {
		d.render(w, r, status, views.BareErrorPage(d.assetV, status, title, msg))
		return
	}
	d.render(w, r, status, views.ErrorPage(d.page(ar, "", title), status, title, msg))
}

// listParams reads a list page's ?q= and ?page= (anything but a positive
// page number is page 1: it is a browser address, not an API).
func listParams(r *http.Request) (q string, page int) {
	q = strings.TrimSpace(r.URL.Query().Get("q"))
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	return q, page
}

func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// formErrors turns the core's field errors into the form's messages,
// each led by its field's label (labels; else the field's name).
func formErrors(ce *core.Error, labels map[string]string) views.FieldErrors {
	errs := views.FieldErrors{}
	for field, msgs := range ce.Fields {
		label, ok := labels[field]
		if !ok {
			label = capitalize(strings.ReplaceAll(field, "_", " "))
		}
		errs[field] = label + " " + strings.Join(msgs, "; ")
	}
	return errs
}

// fieldsOf reports the field errors in err, if that is what it is.
func fieldsOf(err error) (*core.Error, bool) {
	var ce *core.Error
	if errors.As(err, &ce) && errors.Is(err, core.ErrInvalid) && len(ce.Fields) > 0 {
		return ce, true
	}
	return nil, false
}

// refusedTo answers the core's refusals of an action (a conflict, a
// forbidden or missing target) with a message on the page at target;
// any other error is returned as it is.
func (d *Door) refusedTo(w http.ResponseWriter, r *http.Request, target string, err error) error {
	var ce *core.Error
	if errors.As(err, &ce) && (errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrForbidden) || errors.Is(err, core.ErrNotFound)) {
		return d.flashTo(w, r, "error", ce.Msg, target)
	}
	return err
}

// pathID reads a positive id from the path, or answers 404 for what.
func pathID(r *http.Request, key, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(key), 10, 64)
	if err != nil || id < 1 {
		return 0, pageErr(http.StatusNotFound, "No such "+what, "There is no "+what+" "+r.PathValue(key)+".")
	}
	return id, nil
}
