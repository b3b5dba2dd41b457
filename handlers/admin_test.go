package handlers_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tapioca/handlers"
	"tapioca/store"
)

// The dashboard over plain HTTP: what a browser test cannot see easily
// (cookie flags, exact statuses, throttling, forms without tokens).

type dashClient struct {
	t    *testing.T
	srv  *testServer
	http *http.Client
}

func newDashClient(t *testing.T, srv *testServer) *dashClient {
	jar, _ := cookiejar.New(nil)
	return &dashClient{t: t, srv: srv, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (c *dashClient) get(path string) page {
	c.t.Helper()
	return c.send("GET", path, nil)
}

// post sends a form as the browser would from the dashboard itself.
func (c *dashClient) post(path string, form url.Values) page {
	c.t.Helper()
	return c.send("POST", path, form)
}

func (c *dashClient) send(method, path string, form url.Values) page {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token in page (status %d)", p.Status)
	}
	return m[1]
}

// signIn signs in and returns the form token of the signed-in session.
func (c *dashClient) signIn(login, password string) page {
	c.t.Helper()
	tok := csrfOf(c.t, c.get("/login"))
	return c.post("/login", url.Values{"csrf_token": {tok}, "login": {login}, "password": {password}})
}

func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newDashClient(t, srv)

	p := c.get("/admin/repos")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login?next=%2Fadmin%2Frepos" {
		t.Fatalf("signed out: %d %s", p.Status, p.Header.Get("Location"))
	}
	login := c.get("/login")
	// Showing the sign-in page stores no session: anonymous visitors
	// cannot fill the session table.
	if ck := login.Header.Get("Set-Cookie"); ck != "" {
		t.Errorf("GET /login set a cookie: %q", ck)
	}
	if csp := login.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// Without the form's token nothing happens.
	p = c.post("/login", url.Values{"login": {"admin"}, "password": {srv.AdminPW}})
	if p.Status != http.StatusForbidden {
		t.Fatalf("sign-in without token: %d", p.Status)
	}
	// A forged or stale token is refused too.
	for _, tok := range []string{"1.abc", "9999999999." + strings.Repeat("0", 64), "garbage"} {
		if p := c.post("/login", url.Values{"csrf_token": {tok}, "login": {"admin"}, "password": {srv.AdminPW}}); p.Status != http.StatusForbidden {
			t.Fatalf("sign-in with token %q: %d", tok, p.Status)
		}
	}
	p = c.signIn("admin", srv.AdminPW)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin" {
		t.Fatalf("sign-in: %d %s", p.Status, p.Header.Get("Location"))
	}
	cookie := p.Header.Get("Set-Cookie")
	for _, want := range []string{"tapioca_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("plain-HTTP cookie marked Secure: %q", cookie)
	}
	// A failed sign-in stores nothing either.
	planted := newDashClient(t, srv)
	pre := planted.signIn("nobody-here", "wrong-password")
	if ck := pre.Header.Get("Set-Cookie"); ck != "" {
		t.Errorf("failed sign-in set a cookie: %q", ck)
	}
	if p := c.get("/admin"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Recent activity") {
		t.Fatalf("overview: %d", p.Status)
	}
	// The email works as well as the name.
	c2 := newDashClient(t, srv)
	if p := c2.signIn("admin@localhost", srv.AdminPW); p.Status != http.StatusSeeOther {
		t.Fatalf("sign-in by email: %d", p.Status)
	}
	// An open redirect is not possible.
	c3 := newDashClient(t, srv)
	tok := csrfOf(t, c3.get("/login"))
	p = c3.post("/login", url.Values{"csrf_token": {tok}, "login": {"admin"}, "password": {srv.AdminPW}, "next": {"//evil.example/admin"}})
	if p.Header.Get("Location") != "/admin" {
		t.Fatalf("next=//evil: redirected to %q", p.Header.Get("Location"))
	}

	// Forms of a signed-in session need its token too.
	before, _ := srv.App.Store().CountUsers(t.Context(), store.TypeUser)
	p = c.post("/admin/users", url.Values{"username": {"nope-user"}, "email": {"nope@example.com"}, "kind": {"human"}})
	if p.Status != http.StatusForbidden {
		t.Fatalf("form without token: %d", p.Status)
	}
	// A cross-site request is refused before anything else looks at it.
	req, _ := http.NewRequest("POST", srv.URL+"/admin/users", strings.NewReader("username=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	if after, _ := srv.App.Store().CountUsers(t.Context(), store.TypeUser); after != before {
		t.Fatal("a refused form created a user")
	}

	// Sign out ends the session on the server, not just the cookie.
	tok = csrfOf(t, c.get("/admin"))
	if p := c.post("/logout", url.Values{"csrf_token": {tok}}); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login?notice=signed_out" {
		t.Fatalf("sign out: %d %s", p.Status, p.Header.Get("Location"))
	}
	if p := c.get("/admin"); p.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.Status)
	}
}

func TestDashboardRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	member := srv.register(t, "member")

	c := newDashClient(t, srv)
	p := c.signIn(member.Name, "password123")
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "Only site administrators") {
		t.Fatalf("non-admin sign-in: %d", p.Status)
	}
	if p := c.get("/admin"); p.Status != http.StatusSeeOther {
		t.Fatalf("non-admin reached the dashboard: %d", p.Status)
	}

	// An administrator disabled (or whose password is reset) elsewhere is
	// signed out at the next request.
	admin2 := srv.register(t, "second-admin")
	st := srv.App.Store()
	if err := st.SetAdmin(t.Context(), admin2.ID, true); err != nil {
		t.Fatal(err)
	}
	c2 := newDashClient(t, srv)
	if p := c2.signIn(admin2.Name, "password123"); p.Status != http.StatusSeeOther {
		t.Fatalf("second admin sign-in: %d", p.Status)
	}
	if p := c2.get("/admin/users"); p.Status != http.StatusOK {
		t.Fatalf("second admin: %d", p.Status)
	}
	hash, _ := store.HashPassword("a-new-password")
	if err := st.SetPasswordHash(t.Context(), admin2.ID, hash); err != nil {
		t.Fatal(err)
	}
	if p := c2.get("/admin/users"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login?notice=revoked" {
		t.Fatalf("after password reset: %d %s", p.Status, p.Header.Get("Location"))
	}
	if p := c2.signIn(admin2.Name, "a-new-password"); p.Status != http.StatusSeeOther {
		t.Fatalf("sign in again: %d", p.Status)
	}
	if err := st.SetDisabled(t.Context(), admin2.ID, true); err != nil {
		t.Fatal(err)
	}
	if p := c2.get("/admin/users"); p.Status != http.StatusSeeOther {
		t.Fatalf("disabled admin still in: %d", p.Status)
	}
	if p := c2.signIn(admin2.Name, "a-new-password"); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "disabled") {
		t.Fatalf("disabled sign-in: %d", p.Status)
	}
}

func TestDashboardThrottlesSignIn(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newDashClient(t, srv)
	for i := range 5 {
		if p := c.signIn("admin", "wrong-password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, p.Status)
		}
	}
	p := c.signIn("admin", srv.AdminPW)
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many failed sign-in attempts") || p.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt with the right password: %d", p.Status)
	}
	// The limit is the account's, whichever name it is signed in with.
	if p := newDashClient(t, srv).signIn("admin@localhost", "wrong-password"); p.Status != http.StatusTooManyRequests {
		t.Fatalf("the same account by email after five failures by name: %d", p.Status)
	}
	// Unknown accounts count against the client's address as well.
	c2 := newDashClient(t, srv)
	for i := range 15 {
		if p := c2.signIn("ghost-"+itoa(i), "x"); p.Status != http.StatusUnauthorized {
			t.Fatalf("unknown account %d: %d", i, p.Status)
		}
	}
	if p := c2.signIn("ghost-last", "x"); p.Status != http.StatusTooManyRequests {
		t.Fatalf("the 21st failure from one address: %d", p.Status)
	}
}

func TestDashboardSecureCookieOverHTTPS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) {})
	tok := csrfOf(t, newDashClient(t, srv).get("/login"))
	form := url.Values{"csrf_token": {tok}, "login": {"admin"}, "password": {srv.AdminPW}}
	req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(c, "Secure") {
		t.Fatalf("cookie behind a TLS proxy: %d %q", resp.StatusCode, c)
	}
}

// TestDashboardActionsRefuseBadInput: each refused action leaves the
// data as it was.
func TestDashboardActionsRefuseBadInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	st := srv.App.Store()
	c := newDashClient(t, srv)
	c.signIn("admin", srv.AdminPW)
	tok := csrfOf(t, c.get("/admin"))
	admin, _ := st.UserByName(t.Context(), "admin")
	bob := srv.register(t, "bob")
	srv.as(t, bob.Token).createRepo(map[string]any{"name": "keep", "auto_init": true})
	org := uniqueName("org")
	srv.as(t, bob.Token).must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": org})

	form := func(kv ...string) url.Values {
		v := url.Values{"csrf_token": {tok}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, c2 := range []struct {
		name, path string
		form       url.Values
		want       int
	}{
		{"duplicate username", "/admin/users", form("username", bob.Name, "email", "x@example.com", "kind", "human"), 422},
		{"reserved username", "/admin/users", form("username", "admin", "email", "y@example.com", "kind", "human"), 422},
		{"short password", "/admin/users", form("username", uniqueName("u"), "email", "z@example.com", "kind", "human", "password", "short"), 422},
		{"bad kind", "/admin/users", form("username", uniqueName("u"), "email", "w@example.com", "kind", "robot"), 422},
		{"vouches not a number", "/admin/users/" + bob.Name + "/vouches", form("count", "lots"), 422},
		{"vouches too many", "/admin/users/" + bob.Name + "/vouches", form("count", "1000001"), 422},
		{"short reset password", "/admin/users/" + bob.Name + "/password", form("password", "short"), 422},
		{"delete user unconfirmed", "/admin/users/" + bob.Name + "/delete", form("confirm", "bo"), 422},
		{"delete repo unconfirmed", "/admin/repos/" + bob.Name + "/keep/delete", form("confirm", "keep"), 422},
		{"delete org unconfirmed", "/admin/orgs/" + org + "/delete", form("confirm", ""), 422},
		{"delete self", "/admin/users/admin/delete", form("confirm", "admin"), 403},
		{"unknown user", "/admin/users/nobody-here/vouches", form("count", "1"), 404},
		{"bad rate limit", "/admin/settings", form("registration", "open", "rate_limit_auth", "-5"), 422},
		{"bad job switch", "/admin/jobs/session-cleanup/enabled", form("enabled", "maybe"), 422},
		{"unknown job", "/admin/jobs/nope/run", form(), 404},
	} {
		if p := c.post(c2.path, c2.form); p.Status != c2.want {
			t.Errorf("%s: status %d, want %d", c2.name, p.Status, c2.want)
		}
	}
	// Revoking your own rights is refused with a message, not done.
	if p := c.post("/admin/users/admin/admin", form("admin", "false")); p.Status != http.StatusSeeOther {
		t.Fatalf("self-demotion: %d", p.Status)
	}
	if p := c.get("/admin/users/admin"); !strings.Contains(p.Body, "cannot remove your own administrator rights") {
		t.Error("no message after refusing self-demotion")
	}
	u, _ := st.UserByID(t.Context(), admin.ID)
	b, _ := st.UserByID(t.Context(), bob.ID)
	if !u.IsAdmin || b.VouchBalance != 0 {
		t.Fatalf("refused actions changed data: admin %v, balance %d", u.IsAdmin, b.VouchBalance)
	}
	if _, err := st.RepoByName(t.Context(), bob.Name, "keep"); err != nil {
		t.Fatal("repository deleted without confirmation")
	}
	// The sole owner of an organization cannot be deleted.
	p := c.post("/admin/users/"+bob.Name+"/delete", form("confirm", bob.Name))
	if p.Status != http.StatusSeeOther {
		t.Fatalf("delete sole owner: %d", p.Status)
	}
	if p := c.get("/admin/users/" + bob.Name); !strings.Contains(p.Body, "only owner of "+org) {
		t.Fatal("no message about the organization")
	}
	if _, err := st.UserByName(t.Context(), bob.Name); err != nil {
		t.Fatal("sole owner deleted")
	}

	// Confirmed deletions happen, repositories' files included.
	repo, _ := st.RepoByName(t.Context(), bob.Name, "keep")
	if p := c.post("/admin/orgs/"+org+"/delete", form("confirm", org)); p.Status != http.StatusSeeOther {
		t.Fatalf("delete org: %d", p.Status)
	}
	if p := c.post("/admin/users/"+bob.Name+"/delete", form("confirm", bob.Name)); p.Status != http.StatusSeeOther {
		t.Fatalf("delete user: %d", p.Status)
	}
	if _, err := st.UserByName(t.Context(), bob.Name); err == nil {
		t.Fatal("user not deleted")
	}
	if _, err := st.RepoByID(t.Context(), repo.ID); err == nil {
		t.Fatal("their repository row remains")
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "repos", strconv.FormatInt(repo.ID, 10)+".git")); !os.IsNotExist(err) {
		t.Fatalf("repository files remain: %v", err)
	}
	if r := srv.as(t, "").do("GET", "/api/v1/repos/"+bob.Name+"/keep", nil); r.Status != http.StatusNotFound {
		t.Fatalf("repository still served: %d", r.Status)
	}
	if p := c.get("/admin"); !strings.Contains(p.Body, "deleted user") {
		t.Error("deletion missing from recent activity")
	}
}

func TestDashboardRedeliver(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	st := srv.App.Store()
	u := srv.register(t, "hooked")
	c := srv.as(t, u.Token)
	hook := c.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
		"url": "http://hooks.invalid/x", "events": []string{"push"}}).obj(t)
	if r := c.do("POST", "/api/v1/user/webhooks/"+ftoa(hook["id"].(float64))+"/pings", nil); r.Status/100 != 2 {
		t.Fatalf("ping: %d %s", r.Status, r.Body)
	}
	ds, _, err := st.ListDeliveries(t.Context(), store.DeliveryFilter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	d := newDashClient(t, srv)
	d.signIn("admin", srv.AdminPW)
	p := d.get("/admin/webhooks")
	if !strings.Contains(p.Body, ds[0].GUID) || !strings.Contains(p.Body, "http://hooks.invalid/x") {
		t.Fatal("delivery not listed")
	}
	tok := csrfOf(t, p)
	id := strconv.FormatInt(ds[0].ID, 10)
	if p := d.post("/admin/webhooks/deliveries/"+id+"/redeliver", url.Values{"csrf_token": {tok}, "status": {"failed"}}); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/admin/webhooks?status=failed" {
		t.Fatalf("redeliver: %d %s", p.Status, p.Header.Get("Location"))
	}
	after, _, _ := st.ListDeliveries(t.Context(), store.DeliveryFilter{})
	if len(after) != 2 || after[0].RedeliveryOf == nil || *after[0].RedeliveryOf != ds[0].ID || after[0].GUID == ds[0].GUID {
		t.Fatalf("after redeliver: %+v", after)
	}
	if p := d.post("/admin/webhooks/deliveries/999999/redeliver", url.Values{"csrf_token": {tok}}); p.Status != http.StatusNotFound {
		t.Fatalf("unknown delivery: %d", p.Status)
	}
	if p := d.get("/admin/webhooks?status=bogus"); p.Status != http.StatusOK {
		t.Fatalf("unknown filter: %d", p.Status)
	}
}

// TestDashboardEdges: a form over the size limit says so; a page past the
// end of a list says so and links back; a base URL set in Settings is a
// trusted origin at once.
func TestDashboardEdges(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newDashClient(t, srv)
	if p := c.signIn("admin", srv.AdminPW); p.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", p.Status)
	}
	tok := csrfOf(t, c.get("/admin/users"))

	big := c.post("/admin/settings", url.Values{"csrf_token": {tok}, "pad": {strings.Repeat("x", 2<<20)}})
	if big.Status != http.StatusRequestEntityTooLarge || !strings.Contains(big.Body, "Form too large") {
		t.Errorf("oversized form: %d", big.Status)
	}

	p := c.get("/admin/users?page=99")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "No page 99") || strings.Contains(p.Body, "No users yet") || !strings.Contains(p.Body, `href="/admin/users">Go to the last page`) {
		t.Errorf("page past the end: %d\n%s", p.Status, p.Body)
	}

	// Origin equal to the base URL in effect passes even when Host differs
	// (a proxy that rewrites Host), with no restart after Settings change it.
	const proxied = "http://git.example.test:9999"
	form := url.Values{"csrf_token": {tok}, "registration": {"open"}, "base_url": {proxied}}
	if p := c.post("/admin/settings", form); p.Status != http.StatusSeeOther {
		t.Fatalf("save settings: %d %s", p.Status, p.Body)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/admin/settings", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", proxied)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST with the new base URL's Origin: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", srv.URL+"/admin/settings", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST from another origin: %d", resp.StatusCode)
	}
}
