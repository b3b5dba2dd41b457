package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"tapioca/store"
)

// The dashboard driven in headless Chromium, as an administrator would:
// one browser and one server for every step, run in order. Without
// Chromium the test fails under CI=true and skips elsewhere.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed, so the dashboard's browser tests cannot run (Debian: apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts headless Chromium with a fresh profile and returns a
// context for its first tab. Starting Chromium in a container now and
// then fails or hangs, so a start gets 30 seconds and three tries.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-breakpad", true),
			chromedp.Flag("disable-crash-reporter", true),
			chromedp.Flag("password-store", "basic"),
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1360, 900),
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(actx)
		// The first action starts the browser; it must not run under a
		// timeout, which would stop the whole browser when it fires, so
		// the watchdog cancels the allocator instead.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }()
		select {
		case lastErr = <-started:
		case <-time.After(30 * time.Second):
			cancelBrowser()
			cancelAlloc()
			lastErr = fmt.Errorf("no answer in 30s: %v", <-started)
		}
		if lastErr == nil {
			t.Cleanup(func() {
				cancelBrowser()
				cancelAlloc()
			})
			return ctx
		}
		cancelBrowser()
		cancelAlloc()
		t.Logf("starting Chromium, attempt %d: %v", attempt, lastErr)
	}
	t.Fatalf("start Chromium: %v", lastErr)
	return nil
}

// tab drives one browser tab against the server.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func (b *tab) step(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, timeout)
}

// do runs actions that do not navigate.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step(20 * time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

// load runs actions that navigate and returns the response of the page
// they land on (after redirects).
func (b *tab) load(actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step(20 * time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
	return resp
}

func (b *tab) open(path string) *network.Response {
	b.t.Helper()
	return b.load(chromedp.Navigate(b.base + path))
}

func (b *tab) location() string {
	ctx, cancel := b.step(5 * time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *tab) path() string {
	return strings.TrimPrefix(b.location(), b.base)
}

func (b *tab) text(css string) string {
	b.t.Helper()
	ctx, cancel := b.step(10 * time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("text of %s: %v (at %s)", css, err, b.location())
	}
	return strings.TrimSpace(s)
}

// has reports whether an element matches css right now.
func (b *tab) has(css string) bool {
	ctx, cancel := b.step(5 * time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", css)))
	return err == nil && n
}

// shot saves a full-page screenshot as name.png in $TAPIOCA_SCREENSHOTS;
// without it, none is taken (they cost time and nobody looks at them).
func (b *tab) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := b.step(20 * time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func wantPage(t *testing.T, resp *network.Response, status int, what string) {
	t.Helper()
	if resp == nil || int(resp.Status) != status {
		got := -1
		if resp != nil {
			got = int(resp.Status)
		}
		t.Fatalf("%s: status %d, want %d", what, got, status)
	}
}

// seedDashboard gives the pages something to show: people, an
// organization, repositories with pushes, an issue and a webhook whose
// deliveries cannot be delivered.
func seedDashboard(t *testing.T, srv *testServer) {
	alice := srv.register(t, "alice")
	bob := srv.register(t, "bob")
	ca, cb := srv.as(t, alice.Token), srv.as(t, bob.Token)
	ca.createRepo(map[string]any{"name": "web", "auto_init": true, "description": "The public website"})
	ca.createRepo(map[string]any{"name": "notes", "auto_init": true, "private": true})
	cb.createRepo(map[string]any{"name": "tools", "auto_init": true})
	pushCommit(t, srv.gitURL(alice.Token, alice.Name, "web"), "index.html")
	ca.must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": uniqueName("acme"), "display_name": "Acme Inc."})
	cb.must(http.StatusCreated, "POST", "/api/v1/repos/"+alice.Name+"/web/issues", map[string]any{"title": "Footer links are broken"})
	hook := ca.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
		"url": "http://hooks.invalid/tapioca", "events": []string{"push"}}).obj(t)
	if r := ca.do("POST", fmt.Sprintf("/api/v1/user/webhooks/%.0f/pings", hook["id"]), nil); r.Status/100 != 2 {
		t.Fatalf("ping: %d %s", r.Status, r.Body)
	}
}

func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	srv := newServer(t, nil)
	seedDashboard(t, srv)
	shots := os.Getenv("TAPIOCA_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := &tab{t: t, ctx: ctx, base: srv.URL, shots: shots}
	st := srv.App.Store()

	// Signed out, the dashboard sends you to the sign-in page.
	wantPage(t, b.open("/admin/users"), http.StatusOK, "sign-in page")
	if p := b.path(); p != "/login?next=%2Fadmin%2Fusers" {
		t.Fatalf("signed-out /admin/users went to %s", p)
	}
	b.shot("login")

	b.do(chromedp.SendKeys(chromedp.CSS("#login"), "admin"), chromedp.SendKeys(chromedp.CSS("#password"), "wrong password"))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button[type=submit]"))), http.StatusUnauthorized, "wrong password")
	if msg := b.text(".alert-error"); msg != "Incorrect username, email or password." {
		t.Fatalf("wrong password said %q", msg)
	}
	b.shot("login-error")

	b.do(chromedp.SetValue(chromedp.CSS("#password"), srv.AdminPW))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button[type=submit]"))), http.StatusOK, "sign in")
	if p := b.path(); p != "/admin/users" {
		t.Fatalf("after sign-in at %s, want the page asked for", p)
	}

	t.Run("every page", func(t *testing.T) {
		b.t = t
		for _, p := range []struct{ path, title, shot string }{
			{"/admin", "Overview", "overview"},
			{"/admin/users", "Users", "users"},
			{"/admin/orgs", "Organizations", "orgs"},
			{"/admin/repos", "Repositories", "repos"},
			{"/admin/webhooks", "Webhooks", "webhooks"},
			{"/admin/jobs", "Jobs", "jobs"},
			{"/admin/settings", "Settings", "settings"},
			{"/admin/repos?q=zzz-nothing", "Repositories", "repos-empty"},
		} {
			wantPage(t, b.open(p.path), http.StatusOK, p.path)
			if h := b.text(".topbar h1"); h != p.title {
				t.Errorf("%s: heading %q, want %q", p.path, h, p.title)
			}
			if cur := b.text(`.nav a[aria-current="page"]`); cur != p.title {
				t.Errorf("%s: active nav %q", p.path, cur)
			}
			b.shot(p.shot)
		}
		b.open("/admin")
		for _, want := range []string{"Healthy", "Recent activity", "Failing webhooks"} {
			if !strings.Contains(b.text("main"), want) {
				t.Errorf("overview lacks %q", want)
			}
		}
		if !b.has(".activity li") {
			t.Error("overview shows no recent activity")
		}
		wantPage(t, b.open("/admin/nope"), http.StatusNotFound, "unknown dashboard page")

		// A phone-sized screen: the sidebar turns into a top bar.
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
		b.open("/admin/users")
		b.shot("users-phone")
		b.do(chromedp.EmulateViewport(1360, 900))
	})

	var newUser string
	t.Run("create a user", func(t *testing.T) {
		b.t = t
		newUser = uniqueName("carol")
		b.open("/admin/users")
		b.do(chromedp.Click(chromedp.CSS("details.create summary")),
			chromedp.SendKeys(chromedp.CSS("#new-username"), newUser),
			chromedp.SendKeys(chromedp.CSS("#new-email"), "not-an-email"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusUnprocessableEntity, "invalid email")
		if msg := b.text("#email-error"); !strings.Contains(msg, "not a valid email") {
			t.Fatalf("email error %q", msg)
		}
		b.shot("users-create-error")
		if _, err := st.UserByName(t.Context(), newUser); err == nil {
			t.Fatal("user created despite the invalid email")
		}
		b.do(chromedp.SetValue(chromedp.CSS("#new-email"), newUser+"@example.com"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusOK, "create user")
		if p := b.path(); p != "/admin/users/"+newUser {
			t.Fatalf("after create at %s", p)
		}
		if msg := b.text(".flash"); !strings.Contains(msg, "Created "+newUser) {
			t.Fatalf("flash %q", msg)
		}
		password := b.text("#flash-secret")
		u, err := st.UserByName(t.Context(), newUser)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := store.CheckPassword(u.PasswordHash, password); !ok {
			t.Fatalf("the password shown (%q) does not sign in", password)
		}
		b.shot("user-created")
	})

	t.Run("grant vouches", func(t *testing.T) {
		b.t = t
		b.open("/admin/users/" + newUser)
		b.do(chromedp.SetValue(chromedp.CSS("#vouch-count"), "25"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/vouches"] button`))), http.StatusOK, "grant")
		if msg := b.text(".flash"); !strings.Contains(msg, "Granted 25 vouches to "+newUser+"; balance now 25") {
			t.Fatalf("flash %q", msg)
		}
		if got := b.text("#vouch-balance"); got != "25" {
			t.Fatalf("balance shown %q", got)
		}
		u, _ := st.UserByName(t.Context(), newUser)
		if u.VouchBalance != 25 {
			t.Fatalf("stored balance %d", u.VouchBalance)
		}
		b.shot("user")
		b.do(chromedp.SetValue(chromedp.CSS("#vouch-count"), "0"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/vouches"] button`))), http.StatusUnprocessableEntity, "grant 0")
		if u, _ := st.UserByName(t.Context(), newUser); u.VouchBalance != 25 {
			t.Fatalf("a refused grant changed the balance to %d", u.VouchBalance)
		}
	})

	t.Run("run a job", func(t *testing.T) {
		b.t = t
		b.open("/admin/jobs")
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`#job-dashboard-session-cleanup form[action$="/run"] button`))), http.StatusOK, "run job")
		if msg := b.text(".flash"); !strings.Contains(msg, "session-cleanup finished: Deleted") {
			t.Fatalf("flash %q", msg)
		}
		if s := b.text("#job-dashboard-session-cleanup"); !strings.Contains(s, "Succeeded") {
			t.Fatalf("row after run: %q", s)
		}
		j, err := st.Job(t.Context(), "dashboard", "session-cleanup")
		if err != nil || j.RunCount != 1 || j.LastStatus != "success" {
			t.Fatalf("job state %+v %v", j, err)
		}
		b.shot("jobs-after-run")
		// Disable, and the run button goes grey.
		b.load(chromedp.Click(chromedp.CSS(`#job-repositories-repository-maintenance form[action$="/enabled"] button`)))
		if !b.has(`#job-repositories-repository-maintenance button[disabled]`) {
			t.Fatal("a disabled job can still be run from the page")
		}
		b.load(chromedp.Click(chromedp.CSS(`#job-repositories-repository-maintenance form[action$="/enabled"] button`)))
	})

	t.Run("settings", func(t *testing.T) {
		b.t = t
		b.open("/admin/settings")
		b.do(chromedp.Click(chromedp.CSS(`input[name=registration][value=closed]`)),
			chromedp.SetValue(chromedp.CSS("#rate_limit_anon"), "120"),
			chromedp.SetValue(chromedp.CSS("#base_url"), "ftp://files.example.com"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action="/admin/settings"] button[type=submit]`))), http.StatusUnprocessableEntity, "bad setting")
		if msg := b.text("#base_url-error"); !strings.Contains(msg, "http://") {
			t.Fatalf("base URL error %q", msg)
		}
		b.shot("settings-error")
		if !srvRegistrationOpen(t, srv) {
			t.Fatal("a refused form closed registration")
		}
		b.do(chromedp.SetValue(chromedp.CSS("#base_url"), srv.URL+"/"))
		b.load(chromedp.Click(chromedp.CSS(`form[action="/admin/settings"] button[type=submit]`)))
		if msg := b.text(".flash"); !strings.Contains(msg, "Settings saved") {
			t.Fatalf("flash %q", msg)
		}
		if srvRegistrationOpen(t, srv) {
			t.Fatal("registration still open after closing it")
		}
		if got := srv.as(t, "").do("GET", "/api/v1/users/nobody", nil).Header.Get("X-RateLimit-Limit"); got != "120" {
			t.Fatalf("anonymous rate limit %q, want 120 without restart", got)
		}
		b.shot("settings-saved")
	})

	t.Run("cross-origin form post is refused", func(t *testing.T) {
		b.t = t
		victim := uniqueName("forged")
		// Another origin (same host, other port) serves a form that posts
		// to the dashboard, as a malicious page would; the browser still
		// holds the administrator's session cookie.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form method="post" action="%s/admin/users">
				<input name="username" value="%s"><input name="email" value="%s@example.com">
				<input name="kind" value="human"><input name="admin" value="true">
				<button id="go" type="submit">Win a prize</button></form>`, srv.URL, victim, victim)
		}))
		defer evil.Close()
		wantPage(t, b.load(chromedp.Navigate(evil.URL)), http.StatusOK, "evil page")
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("#go"))), http.StatusForbidden, "cross-origin POST")
		if h := b.text("h1"); h != "Cross-origin request refused" {
			t.Fatalf("page says %q", h)
		}
		b.shot("cross-origin-refused")
		if _, err := st.UserByName(t.Context(), victim); err == nil {
			t.Fatal("the cross-origin form created a user")
		}
	})

	t.Run("sign out", func(t *testing.T) {
		b.t = t
		b.open("/admin")
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action="/logout"] button`))), http.StatusOK, "sign out")
		if msg := b.text(".alert-info"); msg != "You have been signed out." {
			t.Fatalf("after sign-out: %q at %s", msg, b.path())
		}
		b.open("/admin/jobs")
		if p := b.path(); !strings.HasPrefix(p, "/login") {
			t.Fatalf("signed out but /admin/jobs showed %s", p)
		}
	})

	t.Run("a non-admin is refused", func(t *testing.T) {
		b.t = t
		// Registration was closed above; an administrator's tool makes
		// the account.
		name := uniqueName("member")
		hash, err := store.HashPassword("password123")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateUser(t.Context(), store.NewUser{Username: name, Email: name + "@example.com", PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		b.open("/login")
		b.do(chromedp.SendKeys(chromedp.CSS("#login"), name+"@example.com"), chromedp.SendKeys(chromedp.CSS("#password"), "password123"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button[type=submit]"))), http.StatusForbidden, "non-admin sign-in")
		if msg := b.text(".alert-error"); !strings.Contains(msg, "Only site administrators") {
			t.Fatalf("refusal said %q", msg)
		}
		b.shot("login-refused")
		b.open("/admin")
		if p := b.path(); !strings.HasPrefix(p, "/login") {
			t.Fatalf("non-admin reached %s", p)
		}
	})
}

func srvRegistrationOpen(t *testing.T, srv *testServer) bool {
	t.Helper()
	r := srv.as(t, "").do("POST", "/api/v1/users", map[string]any{"username": uniqueName("reg"),
		"user": map[string]any{"email": uniqueName("reg") + "@example.com", "password": "password123", "password_confirmation": "password123"}})
	return r.Status == http.StatusCreated
}
