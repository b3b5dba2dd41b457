package handlers

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
	"tapioca/store"
	"tapioca/views"
)

// The admin dashboard: server-rendered pages (views/), sessions kept by
// scs in SQLite, and forms protected twice against cross-site requests:
// Go's CrossOriginProtection refuses cross-origin POSTs by their
// Sec-Fetch-Site/Origin headers, and every form carries a per-session
// token. Everything works without JavaScript.

// dashboard is the dashboard's share of the App.
type dashboard struct {
	sessions *scs.SessionManager
	throttle *loginThrottle
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

// routesAdmin registers the admin dashboard (/admin, /login, /logout,
// /assets/).
func (a *App) routesAdmin() {
	// scs.New also starts the cleanup goroutine of a default in-memory
	// store, which the SQLite store replaces. That goroutine stays idle;
	// memstore's StopCleanup cannot be called safely this early (it races
	// with the goroutine it stops).
	sm := scs.New()
	sm.Store = a.store.SessionStore()
	sm.Lifetime = 12 * time.Hour
	sm.IdleTimeout = 2 * time.Hour
	sm.Cookie.Name = sessionCookie
	cop := http.NewCrossOriginProtection()
	a.dash = &dashboard{
		sessions: sm,
		throttle: newLoginThrottle(),
		cop:      cop,
		assetV:   assets.Version(),
		loginKey: []byte(rand.Text()),
	}
	cop.SetDenyHandler(http.HandlerFunc(a.crossOriginRefused))

	a.mux.Handle("GET /assets/", a.assetHandler())

	a.dashPage("GET /login", a.loginForm)
	a.dashPage("POST /login", a.loginSubmit)
	a.dashPage("GET /logout", a.logoutForm)
	a.dashPage("POST /logout", a.logoutSubmit)

	a.admin("GET /admin", a.adminOverview)
	a.admin("GET /admin/{$}", a.adminOverview)
	a.admin("GET /admin/users", a.adminUsers)
	a.admin("POST /admin/users", a.adminCreateUser)
	a.admin("GET /admin/users/{name}", a.adminUser)
	a.admin("POST /admin/users/{name}/admin", a.adminSetAdmin)
	a.admin("POST /admin/users/{name}/disabled", a.adminSetDisabled)
	a.admin("POST /admin/users/{name}/password", a.adminResetPassword)
	a.admin("POST /admin/users/{name}/vouches", a.adminGrantVouches)
	a.admin("GET /admin/users/{name}/delete", a.adminConfirmDeleteUser)
	a.admin("POST /admin/users/{name}/delete", a.adminDeleteUser)
	a.admin("GET /admin/orgs", a.adminOrgs)
	a.admin("GET /admin/orgs/{name}/delete", a.adminConfirmDeleteOrg)
	a.admin("POST /admin/orgs/{name}/delete", a.adminDeleteOrg)
	a.admin("GET /admin/repos", a.adminRepos)
	a.admin("GET /admin/repos/{owner}/{repo}/delete", a.adminConfirmDeleteRepo)
	a.admin("POST /admin/repos/{owner}/{repo}/delete", a.adminDeleteRepo)
	a.admin("GET /admin/webhooks", a.adminWebhooks)
	a.admin("POST /admin/webhooks/deliveries/{id}/redeliver", a.adminRedeliver)
	a.admin("GET /admin/jobs", a.adminJobs)
	a.admin("POST /admin/jobs/{name}/run", a.adminRunJob)
	a.admin("POST /admin/jobs/{name}/enabled", a.adminSetJobEnabled)
	a.admin("GET /admin/settings", a.adminSettings)
	a.admin("POST /admin/settings", a.adminSaveSettings)
	a.admin("/admin/", func(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
		return pageErr(http.StatusNotFound, "Page not found", "There is no dashboard page at "+r.URL.Path+".")
	})
}

// assetHandler serves the embedded files. A request carrying the current
// ?v= may be cached for a year; any other is revalidated.
func (a *App) assetHandler() http.Handler {
	files := http.StripPrefix("/assets/", http.FileServerFS(assets.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == a.dash.assetV {
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

type adminFunc func(w http.ResponseWriter, r *http.Request, ar *adminReq) error

// dashPage registers a dashboard route open to visitors (sign-in pages).
func (a *App) dashPage(pattern string, h http.HandlerFunc) {
	a.mux.Handle(pattern, a.dashChain(h))
}

// admin registers a page for signed-in site administrators. Unsafe
// methods must carry the session's CSRF token.
func (a *App) admin(pattern string, h adminFunc) {
	a.mux.Handle(pattern, a.dashChain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ar, ok := a.adminAuth(w, r)
		if !ok {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Read the form first, so a body over the limit is reported
			// as such rather than as a missing token.
			var mbe *http.MaxBytesError
			if err := r.ParseForm(); errors.As(err, &mbe) {
				a.renderError(w, r, ar, http.StatusRequestEntityTooLarge, "Form too large", "The form sent more data than the dashboard accepts.")
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !a.validCSRF(r) {
			a.renderError(w, r, ar, http.StatusForbidden, "Form expired",
				"The form was not sent with a valid security token, so nothing was changed. Reload the page and try again.")
			return
		}
		if err := h(w, r, ar); err != nil {
			a.adminError(w, r, ar, err)
		}
	})))
}

// dashChain wraps dashboard handlers: security headers, then the
// cross-origin check, then the session.
func (a *App) dashChain(h http.Handler) http.Handler {
	withSession := a.withSession(h)
	protected := a.dash.cop.Handler(withSession)
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
		if o := r.Header.Get("Origin"); o != "" && o == a.baseOrigin() {
			withSession.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// baseOrigin is the scheme://host of the base URL in effect.
func (a *App) baseOrigin() string {
	u, err := url.Parse(a.baseURL())
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// crossOriginRefused answers a cross-origin form POST: nothing changes.
func (a *App) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	a.renderError(w, r, nil, http.StatusForbidden, "Cross-origin request refused",
		"This form was sent from another site, so Tapioca did not act on it. Use the dashboard itself to make changes.")
}

// withSession loads the scs session around h and writes the cookie
// before the first byte of the response. It is scs's LoadAndSave, except
// that the cookie's Secure flag is decided per request: set when the
// request came over TLS (directly or through a proxy saying so) or the
// base URL is https on this host.
func (a *App) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie")
		token := ""
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		ctx, err := a.dash.sessions.Load(r.Context(), token)
		if err != nil {
			a.log.ErrorContext(r.Context(), "load session", "err", err)
			a.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong", "The session could not be read.")
			return
		}
		r = r.WithContext(ctx)
		sw := &sessionWriter{ResponseWriter: w, a: a, r: r}
		next.ServeHTTP(sw, r)
		sw.commit()
	})
}

type sessionWriter struct {
	http.ResponseWriter
	a    *App
	r    *http.Request
	done bool
}

func (s *sessionWriter) commit() {
	if s.done {
		return
	}
	s.done = true
	sm := s.a.dash.sessions
	ctx := s.r.Context()
	cookie := &http.Cookie{Name: sessionCookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.a.secureRequest(s.r)}
	switch sm.Status(ctx) {
	case scs.Modified:
		token, _, err := sm.Commit(ctx)
		if err != nil {
			s.a.log.ErrorContext(ctx, "save session", "err", err)
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
func (a *App) secureRequest(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return true
	}
	u, err := url.Parse(a.baseURL())
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
func (a *App) adminAuth(w http.ResponseWriter, r *http.Request) (*adminReq, bool) {
	ctx := r.Context()
	sm := a.dash.sessions
	uid := sm.GetInt64(ctx, sessUserID)
	if uid == 0 {
		target := "/login"
		if r.Method == http.MethodGet && r.URL.Path != "/admin" && r.URL.Path != "/admin/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil, false
	}
	u, err := a.store.UserByID(ctx, uid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.log.ErrorContext(ctx, "load dashboard user", "err", err)
		a.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong", "Your account could not be read; try again.")
		return nil, false
	}
	if err != nil || u.IsOrg() || u.Disabled || !u.IsAdmin || sm.GetString(ctx, sessPasswordFP) != passwordFingerprint(u.PasswordHash) {
		if derr := sm.Destroy(ctx); derr != nil {
			a.log.WarnContext(ctx, "end session", "err", derr)
		}
		http.Redirect(w, r, "/login?notice=revoked", http.StatusSeeOther)
		return nil, false
	}
	return &adminReq{user: u, csrf: a.csrfToken(ctx), flash: a.popFlash(ctx), now: time.Now()}, true
}

// csrfToken returns the session's form token, creating it on first use.
func (a *App) csrfToken(ctx context.Context) string {
	sm := a.dash.sessions
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
func (a *App) validCSRF(r *http.Request) bool {
	want := a.dash.sessions.GetString(r.Context(), sessCSRF)
	got := r.PostFormValue("csrf_token")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// flash stores a message for the next page the administrator sees.
func (a *App) flash(ctx context.Context, kind, msg string) { a.flashSecret(ctx, kind, msg, "") }

// flashTo answers a dashboard form: the administrator is sent to target,
// which shows msg.
func (a *App) flashTo(w http.ResponseWriter, r *http.Request, kind, msg, target string) error {
	a.flash(r.Context(), kind, msg)
	redirect(w, r, target)
	return nil
}

// flashSecret is flash with a value shown once (a generated password).
func (a *App) flashSecret(ctx context.Context, kind, msg, secret string) {
	sm := a.dash.sessions
	sm.Put(ctx, sessFlashKind, kind)
	sm.Put(ctx, sessFlashMsg, msg)
	if secret != "" {
		sm.Put(ctx, sessFlashSecret, secret)
	}
}

func (a *App) popFlash(ctx context.Context) *views.Flash {
	sm := a.dash.sessions
	msg := sm.PopString(ctx, sessFlashMsg)
	if msg == "" {
		return nil
	}
	return &views.Flash{Kind: sm.PopString(ctx, sessFlashKind), Message: msg, Secret: sm.PopString(ctx, sessFlashSecret)}
}

// page is the layout data of a signed-in page.
func (a *App) page(ar *adminReq, nav, title string) views.Page {
	return views.Page{Title: title, Nav: nav, User: ar.user.Username, CSRF: ar.csrf, Flash: ar.flash,
		Version: a.cfg.Version, AssetV: a.dash.assetV, Now: ar.now}
}

// render writes a page. It renders into memory first, so a failure is a
// clean error page rather than half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		a.log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
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

func (a *App) adminError(w http.ResponseWriter, r *http.Request, ar *adminReq, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		a.renderError(w, r, ar, pe.status, pe.title, pe.msg)
	case errors.Is(err, store.ErrNotFound):
		a.renderError(w, r, ar, http.StatusNotFound, "Not found", "What you were looking for does not exist, or no longer does.")
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.renderError(w, r, ar, http.StatusRequestEntityTooLarge, "Form too large", "The form sent more data than the dashboard accepts.")
			return
		}
		a.log.ErrorContext(r.Context(), "dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		a.renderError(w, r, ar, http.StatusInternalServerError, "Something went wrong", "The request failed on the server; the log has the details.")
	}
}

func (a *App) renderError(w http.ResponseWriter, r *http.Request, ar *adminReq, status int, title, msg string) {
	if ar == nil {
		a.render(w, r, status, views.BareErrorPage(a.dash.assetV, status, title, msg))
		return
	}
	a.render(w, r, status, views.ErrorPage(a.page(ar, "", title), status, title, msg))
}

// audit records a dashboard action; a failure to record is only logged,
// the action itself has happened.
func (a *App) audit(ctx context.Context, ar *adminReq, action, target string) {
	if err := a.store.Audit(ctx, ar.user.Username, action, target); err != nil {
		a.log.WarnContext(ctx, "audit log", "err", err)
	}
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
