package handlers_test

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWatchedDashboardInBrowser onboards an app on the dashboard's Apps
// page in headless Chromium, registers a repository with the token the
// page showed once, and runs the Watched page's actions: Sync now,
// Reset breaker; then rotates, disables and deletes the app.
func TestWatchedDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	upstream := newServer(t, nil)
	owner := upstream.register(t, "dash")
	upstream.as(t, owner.Token).createRepo(map[string]any{"name": "site", "auto_init": true})
	watcher := docoraWatcher(t, upstream, nil)
	rc := newAppReceiver(t)
	hookURL := rc.app("/gamma", "gamma-secret")
	shots := os.Getenv("TAPIOCA_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &tab{t: t, ctx: ctx, base: watcher.URL, shots: shots}
	st := watcher.App.Store()

	b.open("/login")
	b.do(chromedp.SendKeys(chromedp.CSS("#login"), "admin"), chromedp.SendKeys(chromedp.CSS("#password"), watcher.AdminPW))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button[type=submit]"))), http.StatusOK, "sign in")

	// Onboard: a short secret is refused with the form kept, then the
	// token is shown once.
	wantPage(t, b.open("/admin/apps"), http.StatusOK, "apps page")
	if h := b.text(".topbar h1"); h != "Apps" {
		t.Fatalf("heading %q", h)
	}
	b.shot("apps-empty")
	b.do(chromedp.Click(chromedp.CSS("details.create summary")),
		chromedp.SendKeys(chromedp.CSS("#app-name"), "gamma"),
		chromedp.SendKeys(chromedp.CSS("#app-url"), hookURL),
		chromedp.SendKeys(chromedp.CSS("#app-secret"), "short"))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusUnprocessableEntity, "short secret")
	if msg := b.text("#secret-error"); !strings.Contains(msg, "too short") {
		t.Fatalf("secret error %q", msg)
	}
	if list, _ := st.ListApps(context.Background()); len(list) != 0 {
		t.Fatal("an app was created from a refused form")
	}
	b.do(chromedp.SetValue(chromedp.CSS("#app-secret"), "gamma-secret"))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusOK, "onboard")
	token := b.text("#flash-secret")
	if !regexp.MustCompile(`^docora_[a-z0-9]{40}$`).MatchString(token) || !strings.Contains(b.text(".flash"), "Onboarded gamma") {
		t.Fatalf("flash %q, token %q", b.text(".flash"), token)
	}
	b.shot("apps-onboarded")
	b.open("/admin/apps")
	if b.has("#flash-secret") || strings.Contains(b.text("main"), token) {
		t.Fatal("the token is shown a second time")
	}

	api := watcher.as(t, token)
	r := api.must(http.StatusCreated, "POST", "/api/repositories", map[string]any{"github_url": upstream.URL + "/" + owner.Name + "/site"})
	repoID := r.obj(t)["repository_id"].(string)
	rc.waitFor("/gamma", 0, 1)
	waitIdle(t, watcher, repoID)

	wantPage(t, b.open("/admin/watched"), http.StatusOK, "watched page")
	row := b.text("#watch-" + repoID)
	for _, want := range []string{upstream.URL + "/" + owner.Name + "/site", "gamma", "Synced", "Breaker closed", "0 pending"} {
		if !strings.Contains(row, want) {
			t.Errorf("watched row lacks %q: %q", want, row)
		}
	}
	b.shot("watched")
	b.open("/admin/apps")
	if s := b.text("main"); !strings.Contains(s, "1 delivered") || !strings.Contains(s, "gamma") {
		t.Errorf("apps page: %q", s)
	}

	// A push while the app is down: Sync now fetches it, the deliveries
	// fail until the breaker opens, Reset breaker sends them.
	rc.setFailing("/gamma", true)
	pushFiles(t, upstream.gitURL(owner.Token, owner.Name, "site"), map[string]string{"page.html": "<p>hi</p>\n"})
	b.open("/admin/watched")
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("#watch-"+repoID+` form[action$="/sync"] button`))), http.StatusOK, "sync now")
	if msg := b.text(".flash"); !strings.Contains(msg, "Syncing") {
		t.Fatalf("flash %q", msg)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !watchOf(t, watcher, repoID).BreakerOpen {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.open("/admin/watched")
	if row := b.text("#watch-" + repoID); !strings.Contains(row, "Breaker open") || !strings.Contains(row, "503") {
		t.Fatalf("row with the breaker open: %q", row)
	}
	b.shot("watched-breaker-open")
	rc.setFailing("/gamma", false)
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("#watch-"+repoID+` form[action$="/breaker"] button`))), http.StatusOK, "reset breaker")
	if msg := b.text(".flash"); !strings.Contains(msg, "Reset the circuit breaker") {
		t.Fatalf("flash %q", msg)
	}
	if got := rc.waitFor("/gamma", 1, 1); got[0].P.Path != "page.html" || got[0].P.ChangeType != "created" {
		t.Fatalf("after the reset: %+v", got[0].P)
	}

	// Rotate: the old token stops working, the new one works.
	b.open("/admin/apps")
	wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/token"] button`))), http.StatusOK, "rotate")
	newToken := b.text("#flash-secret")
	api.must(http.StatusUnauthorized, "DELETE", "/api/repositories/"+repoID, nil)
	watcher.as(t, newToken).must(http.StatusNotFound, "DELETE", "/api/repositories/repo_000000000000000000000000", nil)
	// Disable: refused; enable again.
	wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/disabled"] button`))), http.StatusOK, "disable")
	watcher.as(t, newToken).must(http.StatusUnauthorized, "DELETE", "/api/repositories/"+repoID, nil)
	b.shot("apps-disabled")
	b.load(chromedp.Click(chromedp.CSS(`form[action$="/disabled"] button`)))
	// Delete through the confirmation page.
	wantPage(t, b.load(chromedp.Click(chromedp.CSS(`a[href$="/delete"]`))), http.StatusOK, "confirm delete")
	b.do(chromedp.SendKeys(chromedp.CSS("#confirm"), "gamma"))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button.btn-danger"))), http.StatusOK, "delete app")
	if msg := b.text(".flash"); !strings.Contains(msg, "Deleted app gamma") {
		t.Fatalf("flash %q", msg)
	}
	if list, _ := st.ListApps(context.Background()); len(list) != 0 {
		t.Fatalf("apps left: %d", len(list))
	}
	if ms, _ := st.ListMirrors(context.Background()); len(ms) != 0 {
		t.Fatalf("mirrors left: %d", len(ms))
	}
	rc.checkClean()
}
