package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/text"
	"tapioca/handlers/httpx"
	"tapioca/views"
)

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

func (d *Door) loginForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	next := safeNext(r.URL.Query().Get("next"))
	if uid := d.sessions.GetInt64(ctx, sessUserID); uid != 0 {
		if u, err := d.env.Store.UserByID(ctx, uid); err == nil && u.IsAdmin && !u.Disabled {
			redirect(w, r, next)
			return
		}
	}
	d.render(w, r, http.StatusOK, views.LoginPage(views.LoginData{AssetV: d.assetV, CSRF: d.loginToken(time.Now()),
		Next: next, Notice: loginNotices[r.URL.Query().Get("notice")], Version: d.cfg.Version}))
}

// loginSubmit signs a site administrator in with username or email and
// password. Statuses: 401 wrong credentials, 403 not allowed (disabled,
// not an administrator, stale form), 429 throttled.
func (d *Door) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	login := strings.TrimSpace(r.PostFormValue("login"))
	password := r.PostFormValue("password")
	data := views.LoginData{AssetV: d.assetV, Login: login, Next: safeNext(r.PostFormValue("next")), Version: d.cfg.Version}
	fail := func(status int, msg string) {
		data.Error = msg
		data.CSRF = d.loginToken(time.Now())
		d.render(w, r, status, views.LoginPage(data))
	}
	if !d.validLoginToken(r.PostFormValue("csrf_token"), time.Now()) {
		fail(http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	if login == "" || password == "" {
		fail(http.StatusUnprocessableEntity, "Enter your username or email and your password.")
		return
	}
	u, err := d.Admin.SignIn(ctx, login, password, httpx.ClientIP(r))
	var ce *core.Error
	switch {
	case errors.As(err, &ce) && errors.Is(err, core.ErrRateLimited):
		mins := int(math.Ceil(ce.RetryAfter.Minutes()))
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(ce.RetryAfter.Seconds()))))
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-in attempts. Try again in %d %s.", mins, text.Plural(mins, "minute", "minutes")))
		return
	case errors.As(err, &ce) && errors.Is(err, core.ErrUnauthorized):
		fail(http.StatusUnauthorized, ce.Msg)
		return
	case errors.As(err, &ce) && errors.Is(err, core.ErrForbidden):
		fail(http.StatusForbidden, ce.Msg)
		return
	case err != nil:
		d.env.Log.ErrorContext(ctx, "sign-in", "err", err)
		fail(http.StatusInternalServerError, "Signing in failed on the server. Try again.")
		return
	}
	sm := d.sessions
	// A new token at sign-in: a session id planted before cannot be
	// ridden into the signed-in session.
	if err := sm.RenewToken(ctx); err != nil {
		d.env.Log.ErrorContext(ctx, "renew session", "err", err)
		fail(http.StatusInternalServerError, "Signing in failed on the server. Try again.")
		return
	}
	sm.Put(ctx, sessUserID, u.ID)
	sm.Put(ctx, sessPasswordFP, passwordFingerprint(u.PasswordHash))
	sm.Remove(ctx, sessCSRF)
	d.csrfToken(ctx)
	d.env.Log.InfoContext(ctx, "dashboard sign-in", "user", u.Username, "ip", httpx.ClientIP(r))
	redirect(w, r, data.Next)
}

// loginToken is the sign-in form's anti-forgery token. It is signed
// rather than kept in a session, so that showing the sign-in page to
// anonymous visitors stores nothing: a session starts only at sign-in.
func (d *Door) loginToken(now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + d.loginMAC(ts)
}

func (d *Door) loginMAC(ts string) string {
	m := hmac.New(sha256.New, d.loginKey)
	m.Write([]byte("tapioca-login:" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

// validLoginToken accepts a token this process signed within the last
// 12 hours (a session's lifetime).
func (d *Door) validLoginToken(tok string, now time.Time) bool {
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
	return hmac.Equal([]byte(mac), []byte(d.loginMAC(ts)))
}

func (d *Door) logoutForm(w http.ResponseWriter, r *http.Request) {
	if d.sessions.GetInt64(r.Context(), sessUserID) == 0 {
		redirect(w, r, "/login")
		return
	}
	d.render(w, r, http.StatusOK, views.LogoutPage(d.assetV, d.csrfToken(r.Context())))
}

func (d *Door) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !d.validCSRF(r) {
		d.renderError(w, r, nil, http.StatusForbidden, "Form expired",
			"The sign-out form was not sent with a valid security token. Reload the page and try again.")
		return
	}
	if err := d.sessions.Destroy(r.Context()); err != nil {
		d.env.Log.ErrorContext(r.Context(), "end session", "err", err)
	}
	redirect(w, r, "/login?notice=signed_out")
}
