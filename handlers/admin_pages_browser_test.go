package handlers_test

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tapioca/handlers"
	"tapioca/handlers/core/apps"
	"tapioca/store"
)

// The dashboard's detail pages and their actions (issue 15) in headless
// Chromium: one browser and one server for every step. Every page is
// checked with axe-core in light and dark at a desktop and a phone size,
// and on the phone for sideways scrolling.

// axeSource is axe-core (MPL-2.0), vendored unchanged: see testdata.
//
//go:embed testdata/axe.min.js
var axeSource string

const (
	desktopW, desktopH = 1440, 900
	phoneW, phoneH     = 390, 844
)

// theme makes the page prefer a colour scheme, light or dark.
func (b *tab) theme(scheme string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// scripts turns the page's JavaScript on or off (for the next pages).
func (b *tab) scripts(on bool) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
}

func (b *tab) size(w, h int64) {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(w, h))
}

func evalIn[T any](b *tab, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := b.step(30 * time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %.60q: %v (at %s)", expr, err, b.location())
	}
	return v
}

// sideScroll reports how much wider than the viewport the page is (0
// when it fits), and the outermost elements that stick out.
func (b *tab) sideScroll() (int, string) {
	b.t.Helper()
	wh := evalIn[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if wh[0] <= wh[1] {
		return 0, ""
	}
	culprits := evalIn[string](b, `Array.from(document.querySelectorAll("body *"))
		.filter(e => e.getBoundingClientRect().right > innerWidth + 1 && !(e.parentElement && e.parentElement.getBoundingClientRect().right > innerWidth + 1))
		.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).replace(/ /g, ".") : "") +
			" (" + Math.round(e.getBoundingClientRect().right) + "px)").join(", ")`)
	return wh[0] - wh[1], culprits
}

// clear empties a form field.
func (b *tab) clear(css string) {
	b.t.Helper()
	evalIn[chromedp.Void](b, fmt.Sprintf(`document.querySelector(%q).value = ""`, css))
}

// axeFindings runs axe-core on the page and returns its serious and
// critical violations, one line each. colorsOnly runs just the rules a
// colour scheme can change, for a second run in the other scheme.
func (b *tab) axeFindings(colorsOnly bool) []string {
	b.t.Helper()
	if !evalIn[bool](b, `typeof window.axe === "object"`) {
		evalIn[chromedp.Void](b, axeSource)
	}
	opts := `{resultTypes: ["violations"]}`
	if colorsOnly {
		opts = `{resultTypes: ["violations"], runOnly: {type: "rule", values: ["color-contrast", "link-in-text-block", "non-text-contrast"].filter(r => axe.getRules().some(x => x.ruleId === r))}}`
	}
	return evalIn[[]string](b, `axe.run(document, `+opts+`).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.impact + " " + v.id + ": " + v.help + " at " +
			v.nodes.slice(0, 4).map(n => n.target.join(" ") + " (" + (n.any.concat(n.all)[0] || {}).message + ")").join("; ")))`,
		chromedp.EvalAwaitPromise)
}

// checkPage runs axe-core in light and dark at desktop and phone size on
// the page the tab shows (every rule in light, the colour rules again in
// dark), and checks that on the phone nothing scrolls sideways and the
// menu names the current section (nav). It leaves the tab at desktop
// size in light.
func (b *tab) checkPage(what, nav string) {
	b.t.Helper()
	for _, size := range [][2]int64{{desktopW, desktopH}, {phoneW, phoneH}} {
		b.size(size[0], size[1])
		for _, scheme := range []string{"light", "dark"} {
			b.theme(scheme)
			for _, f := range b.axeFindings(scheme == "dark") {
				b.t.Errorf("%s at %dx%d, %s: %s", what, size[0], size[1], scheme, f)
			}
			if b.shots != "" {
				name := strings.Trim(strings.NewReplacer("/", "-", "?", "-", "&", "-", "=", "-").Replace(what), "-")
				b.shot(fmt.Sprintf("page-%s-%d-%s", name, size[0], scheme))
			}
			if size[0] == phoneW {
				if over, culprits := b.sideScroll(); over > 0 {
					b.t.Errorf("%s at %dpx, %s: the page is %dpx wider than the screen: %s", what, phoneW, scheme, over, culprits)
				}
				// A table that scrolls inside its card hides its last
				// columns (the actions) with no hint: rows are cards.
				if tables := evalIn[[]string](b, `Array.from(document.querySelectorAll(".table-wrap"))
					.filter(w => w.scrollWidth > w.clientWidth + 1)
					.map(w => Array.from(w.querySelectorAll("th")).map(th => th.textContent.trim()).join("|"))`); len(tables) > 0 {
					b.t.Errorf("%s at %dpx, %s: tables wider than their card (columns %q)", what, phoneW, scheme, tables)
				}
			}
		}
		if size[0] == phoneW && nav != "" {
			// The menu button names the current page and is on screen.
			got := evalIn[[]string](b, `(() => { const s = document.querySelector(".nav-menu summary");
				const r = s.getBoundingClientRect();
				return [s.querySelector(".nav-menu-current").textContent.trim(), String(r.width > 0 && r.left >= 0 && r.right <= innerWidth)]; })()`)
			if got[0] != nav || got[1] != "true" {
				b.t.Errorf("%s on a phone: the menu shows %q (on screen: %s), want %q", what, got[0], got[1], nav)
			}
		}
	}
	b.theme("light")
	b.size(desktopW, desktopH)
}

// detailSeed is what seedDetails made.
type detailSeed struct {
	alice, bob testUser
	org        string
	hookID     int64
	pushID     int64 // a failed push delivery of alice/web
	pingID     int64 // a failed ping
	botName    string
	// receiverUp makes the hook's receiver answer 200 from now on.
	receiverUp func()
}

// seedDetails adds to seedDashboard's kind of data what the detail pages
// show: a branch protection, a collaborator, an organization repository,
// a token that was used, an SSH key, a bot, and a hook whose receiver
// answers 500, with failed deliveries and their attempts.
func seedDetails(t *testing.T, srv *testServer) detailSeed {
	var up atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Receiver", "seed")
		if up.Load() {
			fmt.Fprint(w, `{"ok":true}`)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":"receiver down"}`)
	}))
	t.Cleanup(receiver.Close)
	s := detailSeed{alice: srv.register(t, "alice"), bob: srv.register(t, "bob"), org: uniqueName("acme"),
		receiverUp: func() { up.Store(true) }}
	ca, cb := srv.as(t, s.alice.Token), srv.as(t, s.bob.Token)
	ca.createRepo(map[string]any{"name": "web", "auto_init": true, "description": "The public website"})
	ca.createRepo(map[string]any{"name": "notes", "auto_init": true, "private": true})
	cb.createRepo(map[string]any{"name": "tools", "auto_init": true})
	ca.must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": s.org, "display_name": "Acme Inc."})
	ca.must(http.StatusCreated, "POST", "/api/v1/orgs/"+s.org+"/repos", map[string]any{"name": "site", "auto_init": true})
	ca.must(http.StatusCreated, "POST", "/api/v1/orgs/"+s.org+"/webhooks", map[string]any{"url": receiver.URL + "/org-hook", "events": []string{"issues"}})
	ca.must(http.StatusOK, "PATCH", "/api/v1/repos/"+s.alice.Name+"/web/branches/master", map[string]any{"protected": true})
	ca.must(http.StatusOK, "PUT", "/api/v1/repos/"+s.alice.Name+"/web/collaborators/"+s.bob.Name, map[string]any{"permission": "write"})
	cb.must(http.StatusCreated, "POST", "/api/v1/repos/"+s.alice.Name+"/web/issues", map[string]any{"title": "Footer links are broken"})
	key, _ := newSSHKey(t, "alice@laptop")
	ca.must(http.StatusCreated, "POST", "/api/v1/user/ssh_keys", map[string]any{"title": "laptop key", "key": key})
	tok := ca.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "ci", "scopes": []string{"read"}}).obj(t)
	srv.as(t, tok["token"].(string)).must(http.StatusOK, "GET", "/api/v1/user", nil)
	s.botName = uniqueName("deploy-bot")
	if _, err := srv.App.Store().CreateUser(t.Context(), store.NewUser{Username: s.botName, Email: s.botName + "@example.com", Kind: "bot"}); err != nil {
		t.Fatal(err)
	}

	hook := ca.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": receiver.URL + "/hook", "events": []string{"push"}}).obj(t)
	s.hookID = int64(hook["id"].(float64))
	ca.must(http.StatusAccepted, "POST", "/api/v1/user/webhooks/"+strconv.FormatInt(s.hookID, 10)+"/pings", nil)
	pushCommit(t, srv.gitURL(s.alice.Token, s.alice.Name, "web"), "index.html")
	// The receiver fails and the server makes one attempt: wait for both
	// deliveries to be logged as failed.
	st := srv.App.Store()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, total, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{WebhookID: s.hookID, Status: store.DeliveryFailed})
		if err != nil {
			t.Fatal(err)
		}
		if total == 2 {
			for _, d := range ds {
				if d.Event == "push" {
					s.pushID = d.ID
				} else {
					s.pingID = d.ID
				}
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seeded deliveries did not fail in 30s (%d failed)", total)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seedWatched onboards an app and has it watch a repository of the
// shared server (srv's --github-url), so the Apps and Watched pages have
// rows; it returns the app's id.
func seedWatched(t *testing.T, srv *testServer) int64 {
	owner := shared.register(t, "upstream")
	shared.as(t, owner.Token).createRepo(map[string]any{"name": "site", "auto_init": true})
	rc := newAppReceiver(t)
	app, token, err := srv.App.Services.Apps.Create(t.Context(), apps.Operator(),
		apps.NewApp{Name: "docs-indexer", URL: rc.app("/indexer", "indexer-secret"), Secret: "indexer-secret"})
	if err != nil {
		t.Fatal(err)
	}
	srv.as(t, token).must(http.StatusCreated, "POST", "/api/repositories", map[string]any{"github_url": shared.URL + "/" + owner.Name + "/site"})
	return app.ID
}

func TestDashboardPagesInBrowser(t *testing.T) {
	ctx := browser(t)
	srv := newServer(t, func(c *handlers.Config) { c.WebhookMaxAttempts = 1; c.GitHubURL = shared.URL })
	s := seedDetails(t, srv)
	appID := strconv.FormatInt(seedWatched(t, srv), 10)
	st := srv.App.Store()
	b := &tab{t: t, ctx: ctx, base: srv.URL, shots: os.Getenv("TAPIOCA_SCREENSHOTS")}
	shot := func(name string) { b.shot("issue15-" + name) }
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	webPath := "/admin/repos/" + s.alice.Name + "/web"
	hook := strconv.FormatInt(s.hookID, 10)

	// Signed out: the sign-in page, then sign in.
	wantPage(t, b.open("/login"), http.StatusOK, "sign-in page")
	b.checkPage("/login", "")
	b.do(chromedp.SendKeys(chromedp.CSS("#login"), "admin"), chromedp.SendKeys(chromedp.CSS("#password"), srv.AdminPW))
	wantPage(t, b.load(chromedp.Click(chromedp.CSS("form button[type=submit]"))), http.StatusOK, "sign in")

	t.Run("every page in light and dark, on a desktop and a phone", func(t *testing.T) {
		b.t = t
		for _, p := range []struct {
			path, nav string
			status    int
		}{
			{"/admin", "Overview", 200},
			{"/admin/users", "Users", 200},
			{"/admin/users/" + s.alice.Name, "Users", 200},
			{"/admin/orgs", "Organizations", 200},
			{"/admin/orgs/" + s.org, "Organizations", 200},
			{"/admin/repos", "Repositories", 200},
			{webPath, "Repositories", 200},
			{"/admin/webhooks", "Webhooks", 200},
			{"/admin/webhooks/deliveries/" + strconv.FormatInt(s.pushID, 10), "Webhooks", 200},
			{"/admin/webhooks/hooks", "Webhooks", 200},
			{"/admin/deployments", "Deployments", 200},
			{"/admin/apps", "Apps", 200},
			{"/admin/apps/" + appID + "/delete", "Apps", 200},
			{"/admin/watched", "Watched", 200},
			{"/admin/jobs", "Jobs", 200},
			{"/admin/settings", "Settings", 200},
			{"/admin/config", "Configuration", 200},
			{webPath + "/delete", "Repositories", 200},
			{"/admin/nope", "Menu", 404},
			{"/logout", "", 200},
		} {
			wantPage(t, b.open(p.path), p.status, p.path)
			b.checkPage(p.path, p.nav)
		}
	})
	// What each detail page and list holds, before the actions below
	// change it; names are links to their pages.
	t.Run("what the pages show, names as links", func(t *testing.T) {
		b.t = t
		squash := func(css string) string { return strings.Join(strings.Fields(b.text(css)), " ") }
		wantIn := func(where, css string, wants ...string) {
			t.Helper()
			got := squash(css)
			for _, w := range wants {
				// innerText: headings in capitals are capitals.
				if !strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
					t.Errorf("%s %s lacks %q: %.300q", where, css, w, got)
				}
			}
		}
		wantLinks := func(where string, hrefs ...string) {
			t.Helper()
			for _, h := range hrefs {
				if !b.has(`main a[href="` + h + `"]`) {
					t.Errorf("%s: no link to %s", where, h)
				}
			}
		}
		repoPath := func(owner, name string) string { return "/admin/repos/" + owner + "/" + name }

		b.open(webPath)
		wantIn("repository", "main", "Open issues 1", "Open PRs 0", "Branches 1", "Default branch master", "The SSH server is off")
		wantIn("repository", "#clone-url", "/"+s.alice.Name+"/web.git")
		wantIn("repository", "#branches", "master", "Default", "Protected")
		wantIn("repository", "#collaborators", s.bob.Name, "write")
		wantIn("repository", "#webhooks", "/hook")
		if got := squash("main .kv"); strings.Contains(got, "Last push never") {
			t.Errorf("repository: the push is not shown: %q", got)
		}
		if size := b.text("#repo-size"); size == "" || size == "0 B" {
			t.Errorf("repository size %q", size)
		}
		wantLinks("repository", "/admin/users/"+s.alice.Name, "/admin/users/"+s.bob.Name)

		b.open("/admin/orgs/" + s.org)
		wantIn("organization", "#members", s.alice.Name, "owner")
		wantIn("organization", "#webhooks", "/org-hook", "issues")
		wantLinks("organization", "/admin/users/"+s.alice.Name, repoPath(s.org, "site"))

		b.open("/admin/users/" + s.alice.Name)
		wantIn("user", "#tokens", "ci", "read")
		wantIn("user", "#keys", "laptop key", "SHA256:")
		wantLinks("user", "/admin/orgs/"+s.org)
		// The dashboard sign-in above is recorded.
		b.open("/admin/users/admin")
		if got := b.text("#last-sign-in"); got == "" || strings.Contains(got, "never") {
			t.Errorf("admin's last sign-in: %q", got)
		}

		b.open("/admin/repos")
		wantLinks("repositories", webPath, repoPath(s.org, "site"))
		b.open("/admin/users")
		wantLinks("users", "/admin/users/"+s.alice.Name, "/admin/users/"+s.bob.Name)
		b.open("/admin/orgs")
		wantLinks("organizations", "/admin/orgs/"+s.org)

		// Deliveries: the event filter, and links to the repository and
		// the owner.
		b.open("/admin/webhooks?event=ping")
		if rows := squash("tbody"); !strings.Contains(rows, "ping") || strings.Contains(rows, "push") {
			t.Errorf("ping deliveries only: %q", rows)
		}
		b.open("/admin/webhooks?event=push")
		// An owner's link goes by /admin/accounts/, which knows whether a
		// name is a user or an organization.
		wantLinks("deliveries", webPath, "/admin/accounts/"+s.alice.Name, "/admin/webhooks/deliveries/"+strconv.FormatInt(s.pushID, 10))
		for name, want := range map[string]string{s.alice.Name: "/admin/users/" + s.alice.Name, s.org: "/admin/orgs/" + s.org} {
			b.open("/admin/accounts/" + name)
			if p := b.path(); p != want {
				t.Errorf("/admin/accounts/%s went to %s, want %s", name, p, want)
			}
		}
		wantPage(t, b.open("/admin/accounts/nobody-at-all"), http.StatusNotFound, "unknown account")
		b.open("/admin/webhooks/hooks")
		wantIn("hooks", "#hook-"+hook, "/hook", s.alice.Name, "push", "failed")
		wantLinks("hooks", "/admin/users/"+s.alice.Name)
	})

	// The checks above must not have failed silently: a page that breaks
	// the rules is found.
	t.Run("axe finds a violation when there is one", func(t *testing.T) {
		b.t = t
		b.open("/admin/config")
		evalIn[chromedp.Void](b, `document.querySelector("h1").style.color = "#d8d8d8"`)
		if f := b.axeFindings(true); len(f) == 0 || !strings.Contains(strings.Join(f, "\n"), "color-contrast") {
			t.Fatalf("an invisible heading passed: %v", f)
		}
	})

	t.Run("users: filter, sort, edit, revoke", func(t *testing.T) {
		b.t = t
		b.open("/admin/users")
		// Ticking a filter submits it (JavaScript); the URL keeps it.
		b.load(chromedp.Click(chromedp.CSS(`input[name=bot]`)))
		if p := b.path(); !strings.Contains(p, "bot=1") {
			t.Fatalf("bot filter went to %s", p)
		}
		if rows := b.text("tbody"); !strings.Contains(rows, s.botName) || strings.Contains(rows, s.alice.Name) {
			t.Fatalf("bots only, got %q", rows)
		}
		b.open("/admin/users?sort=signin")
		if first := b.text("tbody tr:first-child td.title-cell"); !strings.HasPrefix(first, "admin") {
			t.Fatalf("last signed in first: %q", first)
		}
		shot("users-filtered")

		b.open("/admin/users/" + s.alice.Name)
		if got := b.text("#last-api-use"); got == "never" {
			t.Fatal("the token's use is not shown")
		}
		b.do(chromedp.SetValue(chromedp.CSS("#edit-email"), "not-an-email"), chromedp.SetValue(chromedp.CSS("#edit-max-repos"), "-4"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`#account button[type=submit]`))), http.StatusUnprocessableEntity, "invalid edit")
		if msg := b.text("#email-error"); !strings.Contains(msg, "not a valid email") {
			t.Fatalf("email error %q", msg)
		}
		if msg := b.text("#max_repos-error"); !strings.Contains(msg, "Repository limit must be a whole number") {
			t.Fatalf("limit error %q", msg)
		}
		if u, _ := st.UserByID(t.Context(), s.alice.ID); u.Email != s.alice.Email || u.MaxRepos != nil {
			t.Fatalf("a refused edit changed %+v", u)
		}
		b.do(chromedp.SetValue(chromedp.CSS("#edit-email"), "alice@new.example"), chromedp.SetValue(chromedp.CSS("#edit-max-repos"), "3"),
			chromedp.SetValue(chromedp.CSS("#edit-display-name"), "Alice Liddell"), chromedp.SetValue(chromedp.CSS("#edit-kind"), "bot"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`#account button[type=submit]`))), http.StatusOK, "edit")
		if msg := b.text(".flash"); !strings.Contains(msg, "Saved the account") {
			t.Fatalf("flash %q", msg)
		}
		u, _ := st.UserByID(t.Context(), s.alice.ID)
		if u.Email != "alice@new.example" || u.MaxRepos == nil || *u.MaxRepos != 3 || u.Kind != "bot" || *u.DisplayName != "Alice Liddell" {
			t.Fatalf("after edit: %+v", u)
		}
		shot("user-edited")

		ciToken := ""
		ts, _ := st.ListTokens(t.Context(), s.alice.ID)
		for _, tk := range ts {
			if tk.Name == "ci" {
				ciToken = strconv.FormatInt(tk.ID, 10)
			}
		}
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/tokens/`+ciToken+`/revoke"] button`))), http.StatusOK, "revoke token")
		if msg := b.text(".flash"); !strings.Contains(msg, "Revoked the token “ci”") {
			t.Fatalf("flash %q", msg)
		}
		if ts, _ := st.ListTokens(t.Context(), s.alice.ID); len(ts) != 1 {
			t.Fatalf("%d tokens left, want the default one", len(ts))
		}
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`#keys form[action$="/revoke"] button`))), http.StatusOK, "revoke key")
		if ks, _ := st.ListSSHKeys(t.Context(), s.alice.ID); len(ks) != 0 {
			t.Fatalf("%d keys left", len(ks))
		}
		if !strings.Contains(b.text("#keys"), "No SSH keys") {
			t.Fatal("the page still lists a key")
		}
	})

	var newOrg string
	t.Run("organizations: create for an owner, members and roles", func(t *testing.T) {
		b.t = t
		newOrg = uniqueName("guild")
		b.open("/admin/orgs")
		b.do(chromedp.Click(chromedp.CSS("details.create summary")),
			chromedp.SendKeys(chromedp.CSS("#new-org-name"), newOrg), chromedp.SendKeys(chromedp.CSS("#new-org-owner"), "nobody-at-all"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusUnprocessableEntity, "unknown owner")
		if msg := b.text("#owner-error"); !strings.Contains(msg, "names no user") {
			t.Fatalf("owner error %q", msg)
		}
		b.do(chromedp.SetValue(chromedp.CSS("#new-org-owner"), s.bob.Name))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("details.create button[type=submit]"))), http.StatusOK, "create org")
		if p := b.path(); p != "/admin/orgs/"+newOrg {
			t.Fatalf("after create at %s", p)
		}
		org, err := st.OrgByName(t.Context(), newOrg)
		if err != nil {
			t.Fatal(err)
		}
		if role, _ := st.OrgRole(t.Context(), org.ID, s.bob.ID); role != store.RoleOwner {
			t.Fatalf("the chosen owner is %q", role)
		}
		// The only owner cannot be demoted: the page says what to do.
		b.do(chromedp.SetValue(chromedp.CSS("#role-"+s.bob.Name), "member"))
		b.load(chromedp.Click(chromedp.CSS(`#member-` + s.bob.Name + ` form[action$="/role"] button`)))
		if msg := b.text(".flash"); !strings.Contains(msg, "only owner") || !strings.Contains(msg, "Make another member an owner first") {
			t.Fatalf("flash %q", msg)
		}
		// Add Alice as an owner, then Bob can step down and leave.
		b.do(chromedp.SendKeys(chromedp.CSS("#add-member"), s.alice.Name), chromedp.SetValue(chromedp.CSS("#add-role"), "owner"))
		b.load(chromedp.Click(chromedp.CSS(`#members form[action$="/members"] button`)))
		if msg := b.text(".flash"); !strings.Contains(msg, s.alice.Name+" is now an owner of "+newOrg) {
			t.Fatalf("flash %q", msg)
		}
		b.do(chromedp.SetValue(chromedp.CSS("#role-"+s.bob.Name), "admin"))
		b.load(chromedp.Click(chromedp.CSS(`#member-` + s.bob.Name + ` form[action$="/role"] button`)))
		if role, _ := st.OrgRole(t.Context(), org.ID, s.bob.ID); role != store.RoleAdmin {
			t.Fatalf("bob is %q after the change", role)
		}
		shot("org")
		b.load(chromedp.Click(chromedp.CSS(`#member-` + s.bob.Name + ` form[action$="/remove"] button`)))
		if role, _ := st.OrgRole(t.Context(), org.ID, s.bob.ID); role != "" {
			t.Fatalf("bob is still %q", role)
		}
	})

	t.Run("repositories: create for an owner, rename, transfer, visibility, maintenance", func(t *testing.T) {
		b.t = t
		// The organization's "New repository" link opens the form with
		// the owner filled in.
		b.open("/admin/orgs/" + newOrg)
		b.load(chromedp.Click(chromedp.CSS(`a[href*="/admin/repos?owner="]`)))
		if got := evalIn[string](b, `document.querySelector("#new-repo-owner").value`); got != newOrg {
			t.Fatalf("owner filled in: %q", got)
		}
		b.do(chromedp.SendKeys(chromedp.CSS("#new-repo-name"), "infra"), chromedp.Click(chromedp.CSS(`input[name=auto_init]`)))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS("#new-repo button[type=submit]"))), http.StatusOK, "create repo")
		if p := b.path(); p != "/admin/repos/"+newOrg+"/infra" {
			t.Fatalf("after create at %s", p)
		}
		if !strings.Contains(b.text("#clone-url"), "/"+newOrg+"/infra.git") || !strings.Contains(b.text("#branches"), "master") {
			t.Fatal("the new repository's page lacks its clone URL or branch")
		}
		b.do(chromedp.SetValue(chromedp.CSS("#rename-name"), "infra-2"))
		b.load(chromedp.Click(chromedp.CSS(`form[action$="/rename"] button`)))
		if p := b.path(); p != "/admin/repos/"+newOrg+"/infra-2" {
			t.Fatalf("after rename at %s", p)
		}
		// Bob has a "tools" already: the transfer under that name is
		// refused and says why.
		b.do(chromedp.SendKeys(chromedp.CSS("#transfer-owner"), s.bob.Name), chromedp.SendKeys(chromedp.CSS("#transfer-name"), "tools"))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`form[action$="/transfer"] button`))), http.StatusUnprocessableEntity, "transfer collision")
		if msg := b.text("#transfer_name-error"); !strings.Contains(msg, "already has a repository named tools") {
			t.Fatalf("transfer error %q", msg)
		}
		b.clear("#transfer-name")
		b.load(chromedp.Click(chromedp.CSS(`form[action$="/transfer"] button`)))
		if p := b.path(); p != "/admin/repos/"+s.bob.Name+"/infra-2" {
			t.Fatalf("after transfer at %s", p)
		}
		b.load(chromedp.Click(chromedp.CSS(`form[action$="/visibility"] button`)))
		repo, err := st.RepoByName(t.Context(), s.bob.Name, "infra-2")
		if err != nil || !repo.Private {
			t.Fatalf("visibility: %+v %v", repo, err)
		}
		b.load(chromedp.Click(chromedp.CSS(`form[action$="/maintain"] button`)))
		if msg := b.text(".flash"); !strings.Contains(msg, "Maintained "+s.bob.Name+"/infra-2") {
			t.Fatalf("flash %q", msg)
		}
		shot("repo")
	})

	t.Run("deliveries: filters, detail, redeliver all failed, hooks", func(t *testing.T) {
		b.t = t
		b.open("/admin/webhooks?repo=" + s.alice.Name + "/web")
		if rows := b.text("tbody"); !strings.Contains(rows, "push") || strings.Contains(rows, "ping") {
			t.Fatalf("one repository's deliveries: %q", rows)
		}
		b.open("/admin/webhooks?hook=" + hook + "&status=failed")
		b.load(chromedp.Click(chromedp.CSS(`a[href="/admin/webhooks/deliveries/` + strconv.FormatInt(s.pushID, 10) + `"]`)))
		for sel, want := range map[string]string{
			"#request":   "X-CodeBoba-Event",
			"#attempts":  "receiver down",
			"#attempt-1": "X-Receiver",
		} {
			if got := b.text(sel); !strings.Contains(got, want) {
				t.Errorf("%s lacks %q: %q", sel, want, got)
			}
		}
		if got := b.text("#attempt-1"); !regexp.MustCompile(`500[\s\S]*· \d+ ms`).MatchString(got) {
			t.Errorf("attempt 1 lacks its status and duration: %.300q", got)
		}
		if got := b.text("#request pre"); !strings.Contains(got, `"ref": "refs/heads/master"`) {
			t.Errorf("payload not shown indented: %.200q", got)
		}
		shot("delivery")

		// The receiver is back: redeliver what failed, each failure once.
		s.receiverUp()
		b.open("/admin/webhooks?hook=" + hook)
		b.load(chromedp.Click(chromedp.CSS(`form[action="/admin/webhooks/redeliver-failed"] button`)))
		if msg := b.text(".flash"); !strings.Contains(msg, "Queued 2 redeliveries of hook #"+hook) {
			t.Fatalf("flash %q", msg)
		}
		b.load(chromedp.Click(chromedp.CSS(`form[action="/admin/webhooks/redeliver-failed"] button`)))
		if msg := b.text(".flash"); !strings.Contains(msg, "No failed delivery") {
			t.Fatalf("second press: %q", msg)
		}
		for _, id := range []int64{s.pushID, s.pingID} {
			if re, _ := st.Redeliveries(t.Context(), id); len(re) != 1 {
				t.Fatalf("delivery %d redelivered %d times", id, len(re))
			}
		}

		b.open("/admin/webhooks/hooks")
		b.load(chromedp.Click(chromedp.CSS(`#hook-` + hook + ` form[action$="/active"] button`)))
		if h, _ := st.WebhookByID(t.Context(), s.hookID); h.Active {
			t.Fatal("hook still active")
		}
		if !strings.Contains(b.text("#hook-"+hook), "Disabled") {
			t.Fatal("the list does not say the hook is disabled")
		}
		shot("hooks")
		b.load(chromedp.Click(chromedp.CSS(`#hook-` + hook + ` a[href*="/delete"]`)))
		wantPage(t, b.load(chromedp.Click(chromedp.CSS(`.confirm button[type=submit]`))), http.StatusOK, "delete hook")
		if p := b.path(); p != "/admin/webhooks/hooks" {
			t.Fatalf("after delete at %s", p)
		}
		if _, err := st.WebhookByID(t.Context(), s.hookID); err == nil {
			t.Fatal("hook not deleted")
		}
	})

	t.Run("configuration, free space and linked activity", func(t *testing.T) {
		b.t = t
		b.open("/admin/config")
		body := b.text("main")
		for _, want := range []string{"In effect now", "Repositories per account", "Timeout per attempt", "--webhook-timeout", "Upstream for watched repositories"} {
			if !strings.Contains(body, want) {
				t.Errorf("configuration lacks %q", want)
			}
		}
		for _, name := range []string{"Log level", "Repositories per account", "Time between mirror syncs"} {
			row := evalIn[string](b, fmt.Sprintf(`Array.from(document.querySelectorAll("main tbody tr")).find(r => r.querySelector("strong").textContent === %q).innerText`, name))
			if !strings.Contains(row, "Default") {
				t.Errorf("%s is not marked as the default: %q", name, row)
			}
		}
		shot("config")
		// No form shows a default (or an example) as grey text that reads
		// as a value: the help line names the default and which applies.
		for _, path := range []string{"/admin/settings", "/admin/apps", "/admin/users", "/admin/repos", "/admin/orgs"} {
			b.open(path)
			if got := evalIn[[]string](b, `Array.from(document.querySelectorAll("main input[placeholder]:not([type=search])")).map(i => i.id)`); len(got) > 0 {
				t.Errorf("%s: placeholders in %v", path, got)
			}
		}
		b.open("/admin/settings")
		if help := b.text("#rate_limit_anon-help"); !strings.Contains(help, "Default: 60 (--rate-limit-anon)") || !strings.Contains(help, "Using the default") {
			t.Errorf("rate limit help %q", help)
		}
		b.open("/admin")
		if got := b.text("#disk-free"); !strings.Contains(got, "free of") {
			t.Errorf("free space: %q", got)
		}
		// The organization created above is a link in recent activity.
		b.load(chromedp.Click(chromedp.CSS(`.activity a[href="/admin/orgs/` + newOrg + `"]`)))
		if p := b.path(); p != "/admin/orgs/"+newOrg {
			t.Fatalf("activity link went to %s", p)
		}
	})

	t.Run("a visible focus ring from the keyboard", func(t *testing.T) {
		b.t = t
		b.open("/admin/users")
		// Tab past the skip link to the first menu entry, then on to a
		// button: each shows the 3px ring.
		for i, want := range []string{"A", "A"} {
			b.do(chromedp.KeyEvent("\t"))
			got := evalIn[[]string](b, `(() => { const e = document.activeElement, s = getComputedStyle(e);
				return [e.tagName, s.outlineStyle, s.outlineWidth]; })()`)
			if got[0] != want || got[1] != "solid" || got[2] != "3px" {
				t.Fatalf("tab %d: focus on %s with outline %s %s", i+1, got[0], got[1], got[2])
			}
		}
		evalIn[chromedp.Void](b, `document.querySelector("form[role=search] button").focus({focusVisible: true})`)
		b.theme("dark")
		defer b.theme("light")
		b.do(chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t", chromedp.KeyModifiers(kb.ModifierShift)))
		if got := evalIn[[]string](b, `(() => { const s = getComputedStyle(document.activeElement); return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth, s.outlineColor]; })()`); got[1] != "solid" || got[2] != "3px" || got[3] != "rgb(138, 180, 255)" {
			t.Fatalf("dark mode focus: %v", got)
		}
	})

	t.Run("a phone in dark mode: the menu and the cards", func(t *testing.T) {
		b.t = t
		b.size(phoneW, phoneH)
		b.theme("dark")
		defer func() {
			b.theme("light")
			b.size(desktopW, desktopH)
		}()
		b.open("/admin/repos")
		if !evalIn[bool](b, `getComputedStyle(document.body).backgroundColor !== "rgb(246, 244, 241)"`) {
			t.Fatal("the dark theme is not applied")
		}
		b.do(chromedp.Click(chromedp.CSS(".nav-menu summary")))
		b.load(chromedp.Click(chromedp.CSS(`.nav-menu a[href="/admin/webhooks"]`)))
		if p := b.path(); p != "/admin/webhooks" || b.text(".nav-menu-current") != "Webhooks" {
			t.Fatalf("menu went to %s", p)
		}
		// A row's actions are on screen and work.
		b.open("/admin/repos?q=" + s.alice.Name + "/web")
		inView := evalIn[bool](b, `(() => { const r = document.querySelector("tbody td.actions a").getBoundingClientRect();
			return r.left >= 0 && r.right <= innerWidth && r.width > 0; })()`)
		if !inView {
			t.Fatal("the row's Manage button is off screen")
		}
		shot("repos-phone-dark")
		b.load(chromedp.Click(chromedp.CSS("tbody td.actions a")))
		if p := b.path(); p != webPath {
			t.Fatalf("Manage went to %s", p)
		}
		shot("repo-phone-dark")
	})

	t.Run("forms without JavaScript", func(t *testing.T) {
		b.t = t
		b.scripts(false)
		defer b.scripts(true)
		b.open("/admin/users")
		// The filter does not submit itself; its button does.
		b.do(chromedp.Click(chromedp.CSS(`input[name=disabled]`)))
		if p := b.path(); strings.Contains(p, "disabled=1") {
			t.Fatal("the filter submitted itself with scripts off")
		}
		b.load(chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)))
		if p := b.path(); !strings.Contains(p, "disabled=1") {
			t.Fatalf("filter button went to %s", p)
		}
		b.open(webPath)
		b.load(chromedp.Click(chromedp.CSS(`form[action$="/visibility"] button`)))
		if repo, _ := st.RepoByName(t.Context(), s.alice.Name, "web"); !repo.Private {
			t.Fatal("visibility form did nothing without JavaScript")
		}
	})
}
