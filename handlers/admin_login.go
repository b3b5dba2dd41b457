package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"tapioca/views"
)

// Sign-in throttling: failures are counted per account and per client IP
// over a sliding window. The per-IP allowance is larger because several
// administrators may share one address behind a proxy.
const (
	loginWindow        = 15 * time.Minute
	loginMaxPerAccount = 5
	loginMaxPerIP      = 20
	loginMaxKeys       = 100_000 // bound on remembered keys: old entries go first
)

// loginThrottle remembers recent sign-in failures in memory; a restart
// forgets them, which only gives an attacker one fresh window.
type loginThrottle struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{fails: map[string][]time.Time{}, now: time.Now}
}

// recent drops failures older than the window and returns the rest.
func (t *loginThrottle) recent(key string, now time.Time) []time.Time {
	l := t.fails[key]
	i := 0
	for i < len(l) && now.Sub(l[i]) >= loginWindow {
		i++
	}
	l = l[i:]
	if len(l) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = l
	return l
}

// blocked reports whether any key is over its limit and, if so, for how
// long still.
func (t *loginThrottle) blocked(limits map[string]int) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for key, limit := range limits {
		l := t.recent(key, now)
		if len(l) >= limit {
			// Free again when enough of the failures have aged out.
			wait = max(wait, l[len(l)-limit].Add(loginWindow).Sub(now))
		}
	}
	return wait, wait > 0
}

func (t *loginThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.fails) >= loginMaxKeys {
		for k := range t.fails {
			t.recent(k, now)
		}
	}
	for _, k := range keys {
		if _, ok := t.fails[k]; !ok && len(t.fails) >= loginMaxKeys {
			continue
		}
		t.fails[k] = append(t.fails[k], now)
	}
}

func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

// safeNext keeps a post-sign-in redirect inside the dashboard.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin"
	}
	return next
}

var loginNotices = map[string]string{
	"signed_out": "You have been signed out.",
	"revoked":    "Your session ended because your account changed. Sign in again.",
}

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	next := safeNext(r.URL.Query().Get("next"))
	if uid := a.dash.sessions.GetInt64(ctx, sessUserID); uid != 0 {
		if u, err := a.store.UserByID(ctx, uid); err == nil && u.IsAdmin && !u.Disabled {
			redirect(w, r, next)
			return
		}
	}
	a.render(w, r, http.StatusOK, views.LoginPage(views.LoginData{AssetV: a.dash.assetV, CSRF: a.loginToken(time.Now()),
		Next: next, Notice: loginNotices[r.URL.Query().Get("notice")], Version: a.cfg.Version}))
}

// loginSubmit signs a site administrator in with username or email and
// password. Statuses: 401 wrong credentials, 403 not allowed (disabled,
// not an administrator, stale form), 429 throttled.
func (a *App) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	login := strings.TrimSpace(r.PostFormValue("login"))
	password := r.PostFormValue("password")
	data := views.LoginData{AssetV: a.dash.assetV, Login: login, Next: safeNext(r.PostFormValue("next")), Version: a.cfg.Version}
	fail := func(status int, msg string) {
		data.Error = msg
		data.CSRF = a.loginToken(time.Now())
		a.render(w, r, status, views.LoginPage(data))
	}
	if !a.validLoginToken(r.PostFormValue("csrf_token"), time.Now()) {
		fail(http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	if login == "" || password == "" {
		fail(http.StatusUnprocessableEntity, "Enter your username or email and your password.")
		return
	}
	// Failures count per account, however it is named (username or
	// email), and per client address.
	account, err := a.loginUser(ctx, login)
	if err != nil {
		a.log.ErrorContext(ctx, "sign-in lookup", "err", err)
		fail(http.StatusInternalServerError, "Signing in failed on the server. Try again.")
		return
	}
	acctKey, ipKey := "acct:"+strings.ToLower(login), "ip:"+clientIP(r)
	if account != nil {
		acctKey = "acct#" + strconv.FormatInt(account.ID, 10)
	}
	if wait, blocked := a.dash.throttle.blocked(map[string]int{acctKey: loginMaxPerAccount, ipKey: loginMaxPerIP}); blocked {
		mins := int(math.Ceil(wait.Minutes()))
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts. Try again in %d %s.", mins, views.Plural(mins, "minute", "minutes")))
		return
	}
	u := a.checkLogin(account, password)
	if u == nil {
		a.dash.throttle.fail(acctKey, ipKey)
		fail(http.StatusUnauthorized, "Incorrect username, email or password.")
		return
	}
	switch {
	case u.Disabled:
		fail(http.StatusForbidden, "This account is disabled.")
		return
	case !u.IsAdmin:
		fail(http.StatusForbidden, "Only site administrators can sign in to the dashboard, and "+u.Username+" is not one.")
		return
	}
	a.dash.throttle.reset(acctKey)
	sm := a.dash.sessions
	// A new token at sign-in: a session id planted before cannot be
	// ridden into the signed-in session.
	if err := sm.RenewToken(ctx); err != nil {
		a.log.ErrorContext(ctx, "renew session", "err", err)
		fail(http.StatusInternalServerError, "Signing in failed on the server. Try again.")
		return
	}
	sm.Put(ctx, sessUserID, u.ID)
	sm.Put(ctx, sessPasswordFP, passwordFingerprint(u.PasswordHash))
	sm.Remove(ctx, sessCSRF)
	a.csrfToken(ctx)
	a.log.InfoContext(ctx, "dashboard sign-in", "user", u.Username, "ip", clientIP(r))
	redirect(w, r, data.Next)
}

// loginToken is the sign-in form's anti-forgery token. It is signed
// rather than kept in a session, so that showing the sign-in page to
// anonymous visitors stores nothing: a session starts only at sign-in.
func (a *App) loginToken(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + a.loginMAC(ts)
}

func (a *App) loginMAC(ts string) string {
	m := hmac.New(sha256.New, a.dash.loginKey)
	m.Write([]byte("tapioca-login:" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

// validLoginToken accepts a token this process signed within the last
// 12 hours (a session's lifetime).
func (a *App) validLoginToken(tok string, now time.Time) bool {
	ts, mac, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	issued := time.Unix(n, 0)
	if issued.After(now.Add(time.Minute)) || now.Sub(issued) > 12*time.Hour {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(a.loginMAC(ts)))
}

func (a *App) logoutForm(w http.ResponseWriter, r *http.Request) {
	if a.dash.sessions.GetInt64(r.Context(), sessUserID) == 0 {
		redirect(w, r, "/login")
		return
	}
	a.render(w, r, http.StatusOK, views.LogoutPage(a.dash.assetV, a.csrfToken(r.Context())))
}

func (a *App) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !a.validCSRF(r) {
		a.renderError(w, r, nil, http.StatusForbidden, "Form expired",
			"The sign-out form was not sent with a valid security token. Reload the page and try again.")
		return
	}
	if err := a.dash.sessions.Destroy(r.Context()); err != nil {
		a.log.ErrorContext(r.Context(), "end session", "err", err)
	}
	redirect(w, r, "/login?notice=signed_out")
}
