package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"tapioca/handlers"
	"tapioca/handlers/core/apps"
	"tapioca/store"
)

// The dashboard's forms of issue 15 over plain HTTP, as a browser without
// JavaScript sends them: each works with the session's token, and is
// refused, changing nothing, without it or from another site.

// postCrossSite sends a form with a valid token as another site's page
// would: the browser says so in Sec-Fetch-Site.
func (c *dashClient) postCrossSite(path string, form url.Values) page {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return page{Status: resp.StatusCode, Header: resp.Header}
}

// failedDelivery pings hook (whose receiver cannot be reached) and waits
// for the one attempt the server makes to fail.
func failedDelivery(t *testing.T, srv *testServer, token string, hookID int64) int64 {
	t.Helper()
	d := srv.as(t, token).must(http.StatusAccepted, "POST", "/api/v1/user/webhooks/"+strconv.FormatInt(hookID, 10)+"/pings", nil).obj(t)
	id := int64(d["id"].(float64))
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, err := srv.App.Store().DeliveryByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.DeliveryFailed {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %d is still %s after 30s", id, got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDashboardFormsWithoutJavaScript(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) { c.WebhookMaxAttempts = 1 })
	st := srv.App.Store()
	ctx := t.Context()
	c := newDashClient(t, srv)
	if p := c.signIn("admin", srv.AdminPW); p.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", p.Status)
	}
	tok := csrfOf(t, c.get("/admin"))
	bob, carol := srv.register(t, "bob"), srv.register(t, "carol")
	key, _ := newSSHKey(t, "")
	srv.as(t, bob.Token).must(http.StatusCreated, "POST", "/api/v1/user/ssh_keys", map[string]any{"title": "k", "key": key})
	hook := srv.as(t, bob.Token).must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
		"url": "http://hooks.invalid/x", "events": []string{"push"}}).obj(t)
	hookID := int64(hook["id"].(float64))
	failed := failedDelivery(t, srv, bob.Token, hookID)
	org := uniqueName("org")
	app, appToken, err := srv.App.Services.Apps.Create(ctx, apps.Operator(), apps.NewApp{Name: "indexer", URL: "http://apps.invalid/x", Secret: "indexer-secret"})
	if err != nil {
		t.Fatal(err)
	}
	appPath := "/admin/apps/" + strconv.FormatInt(app.ID, 10)
	appNow := func() *store.App { a, _ := st.AppByID(ctx, app.ID); return a }

	user := func(name string) *store.User {
		u, err := st.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	role := func(name string) string {
		o, err := st.OrgByName(ctx, org)
		if err != nil {
			return ""
		}
		r, _ := st.OrgRole(ctx, o.ID, user(name).ID)
		return r
	}
	repo := func(owner, name string) *store.Repo {
		r, err := st.RepoByName(ctx, owner, name)
		if err != nil {
			return nil
		}
		return r
	}
	tokens, _ := st.ListTokens(ctx, bob.ID)
	keys, _ := st.ListSSHKeys(ctx, bob.ID)
	hookPath := "/admin/webhooks/hooks/" + strconv.FormatInt(hookID, 10)
	activity := func(detail string) bool {
		acts, _ := st.RecentActivity(ctx, 50)
		for _, a := range acts {
			if a.Kind == "admin" && a.Detail == detail {
				return true
			}
		}
		return false
	}

	// In order: each builds on the ones before.
	for _, fc := range []struct {
		name, path string
		form       url.Values
		done       func() bool // the action's effect is there
	}{
		{"edit a user", "/admin/users/" + bob.Name + "/edit",
			url.Values{"email": {"bob@new.example"}, "display_name": {"Bob"}, "kind": {"human"}, "max_repos": {"7"}},
			func() bool { u := user(bob.Name); return u.MaxRepos != nil && *u.MaxRepos == 7 }},
		{"revoke a token", "/admin/users/" + bob.Name + "/tokens/" + strconv.FormatInt(tokens[0].ID, 10) + "/revoke", url.Values{},
			func() bool { ts, _ := st.ListTokens(ctx, bob.ID); return len(ts) == 0 }},
		{"revoke an SSH key", "/admin/users/" + bob.Name + "/keys/" + strconv.FormatInt(keys[0].ID, 10) + "/revoke", url.Values{},
			func() bool { ks, _ := st.ListSSHKeys(ctx, bob.ID); return len(ks) == 0 }},
		{"create an organization", "/admin/orgs", url.Values{"name": {org}, "owner": {bob.Name}},
			func() bool { return role(bob.Name) == store.RoleOwner }},
		{"add an owner", "/admin/orgs/" + org + "/members", url.Values{"username": {carol.Name}, "role": {"owner"}},
			func() bool { return role(carol.Name) == store.RoleOwner }},
		{"change a role", "/admin/orgs/" + org + "/members/" + bob.Name + "/role", url.Values{"role": {"member"}},
			func() bool { return role(bob.Name) == store.RoleMember }},
		{"remove a member", "/admin/orgs/" + org + "/members/" + bob.Name + "/remove", url.Values{},
			func() bool { return role(bob.Name) == "" }},
		{"create a repository", "/admin/repos", url.Values{"owner": {org}, "name": {"r1"}, "auto_init": {"true"}},
			func() bool { return repo(org, "r1") != nil }},
		{"rename a repository", "/admin/repos/" + org + "/r1/rename", url.Values{"name": {"r2"}},
			func() bool { return repo(org, "r2") != nil }},
		{"transfer a repository", "/admin/repos/" + org + "/r2/transfer", url.Values{"owner": {bob.Name}},
			func() bool { return repo(bob.Name, "r2") != nil }},
		{"make it private", "/admin/repos/" + bob.Name + "/r2/visibility", url.Values{"visibility": {"private"}},
			func() bool { r := repo(bob.Name, "r2"); return r != nil && r.Private }},
		{"run maintenance", "/admin/repos/" + bob.Name + "/r2/maintain", url.Values{},
			func() bool { return activity("ran maintenance on") }},
		{"disable a hook", hookPath + "/active", url.Values{"active": {"false"}, "back": {"/admin/webhooks/hooks"}},
			func() bool { h, _ := st.WebhookByID(ctx, hookID); return !h.Active }},
		{"redeliver all failed", "/admin/webhooks/redeliver-failed", url.Values{"hook": {strconv.FormatInt(hookID, 10)}},
			func() bool { re, _ := st.Redeliveries(ctx, failed); return len(re) == 1 }},
		{"delete a hook", hookPath + "/delete", url.Values{"back": {"/admin/webhooks/hooks"}},
			func() bool { _, err := st.WebhookByID(ctx, hookID); return err != nil }},
		// Main's Apps page, registered the same way.
		{"onboard an app", "/admin/apps", url.Values{"name": {"second"}, "url": {"http://apps.invalid/y"}, "secret": {"second-secret"}},
			func() bool { _, err := st.AppByName(ctx, "second"); return err == nil }},
		{"rotate an app's token", appPath + "/token", url.Values{},
			func() bool { _, err := st.AppByTokenHash(ctx, store.HashToken(appToken)); return err != nil }},
		{"disable an app", appPath + "/disabled", url.Values{"disabled": {"true"}},
			func() bool { return appNow().Disabled }},
		{"delete an app", appPath + "/delete", url.Values{"confirm": {"indexer"}},
			func() bool { return appNow() == nil }},
	} {
		if p := c.post(fc.path, fc.form); p.Status != http.StatusForbidden {
			t.Errorf("%s without a token: %d", fc.name, p.Status)
		}
		withToken := url.Values{"csrf_token": {tok}}
		for k, v := range fc.form {
			withToken[k] = v
		}
		if p := c.postCrossSite(fc.path, withToken); p.Status != http.StatusForbidden {
			t.Errorf("%s from another site: %d", fc.name, p.Status)
		}
		if fc.done() {
			t.Fatalf("%s happened though refused", fc.name)
		}
		p := c.post(fc.path, withToken)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/admin") {
			t.Fatalf("%s: %d %s", fc.name, p.Status, p.Header.Get("Location"))
		}
		if !fc.done() {
			t.Fatalf("%s did not happen", fc.name)
		}
	}
}

// TestDashboardNewFormsRefuseBadInput: each refused form says why and
// changes nothing.
func TestDashboardNewFormsRefuseBadInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	st := srv.App.Store()
	ctx := t.Context()
	c := newDashClient(t, srv)
	c.signIn("admin", srv.AdminPW)
	tok := csrfOf(t, c.get("/admin"))
	bob := srv.register(t, "bob")
	srv.as(t, bob.Token).createRepo(map[string]any{"name": "keep", "auto_init": true})
	srv.as(t, bob.Token).createRepo(map[string]any{"name": "other"})
	org := uniqueName("org")
	srv.as(t, bob.Token).must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": org})
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf_token": {tok}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	keep := "/admin/repos/" + bob.Name + "/keep"
	for _, fc := range []struct {
		name, path string
		form       url.Values
		want       int
		says       string
	}{
		{"bad email", "/admin/users/" + bob.Name + "/edit", form("email", "nope", "kind", "human"), 422, "Email is not a valid email address"},
		{"limit not a number", "/admin/users/" + bob.Name + "/edit", form("email", bob.Email, "kind", "human", "max_repos", "lots"), 422, "Repository limit must be a whole number"},
		{"bad kind", "/admin/users/" + bob.Name + "/edit", form("email", bob.Email, "kind", "robot"), 422, "Kind must be human or bot"},
		{"another user's token", "/admin/users/" + bob.Name + "/tokens/999999/revoke", form(), 303, ""},
		{"token id not a number", "/admin/users/" + bob.Name + "/tokens/x/revoke", form(), 404, "No such token"},
		{"org with a bad name and no owner", "/admin/orgs", form("name", "bad name", "owner", ""), 422, "Owner can&#39;t be blank"},
		{"org owned by an org", "/admin/orgs", form("name", uniqueName("o"), "owner", org), 422, "names the organization"},
		{"member nobody", "/admin/orgs/" + org + "/members", form("username", "nobody-here", "role", "member"), 422, "names no user"},
		{"member bad role", "/admin/orgs/" + org + "/members", form("username", bob.Name, "role", "boss"), 422, "Role must be member, admin or owner"},
		{"demote the only owner", "/admin/orgs/" + org + "/members/" + bob.Name + "/role", form("role", "member"), 303, ""},
		{"unknown organization", "/admin/orgs/nope-org/members", form("username", bob.Name), 404, "No such organization"},
		{"repo bad name", "/admin/repos", form("owner", bob.Name, "name", "x.git"), 422, "Name is invalid"},
		{"repo unknown owner", "/admin/repos", form("owner", "nobody-here", "name", "x"), 422, "names no user or organization"},
		{"rename onto a taken name", keep + "/rename", form("name", "Other"), 422, "already has a repository named Other"},
		{"transfer to its owner", keep + "/transfer", form("owner", bob.Name), 422, "already owns"},
		{"transfer to nobody", keep + "/transfer", form("owner", "nobody-here"), 422, "names no user or organization"},
		{"bad visibility", keep + "/visibility", form("visibility", "secret"), 422, "visibility must be public or private"},
		{"unknown repository", "/admin/repos/" + bob.Name + "/nope/rename", form("name", "x"), 404, "No such repository"},
		{"hook active not a bool", "/admin/webhooks/hooks/1/active", form("active", "maybe"), 422, "active must be true or false"},
		{"unknown hook", "/admin/webhooks/hooks/999999/delete", form(), 303, ""},
		{"redeliver failed for a bad hook", "/admin/webhooks/redeliver-failed", form("hook", "abc"), 303, ""},
		{"redeliver failed for an unknown repository", "/admin/webhooks/redeliver-failed", form("repo", "nobody/nothing"), 303, ""},
	} {
		p := c.post(fc.path, fc.form)
		if p.Status != fc.want || !strings.Contains(p.Body, fc.says) {
			t.Errorf("%s: status %d, want %d saying %q", fc.name, p.Status, fc.want, fc.says)
		}
	}
	// The refusals that answer with a redirect say why on the next page.
	if p := c.post("/admin/orgs/"+org+"/members/"+bob.Name+"/role", form("role", "member")); p.Status != http.StatusSeeOther {
		t.Fatalf("demote the only owner: %d", p.Status)
	} else if next := c.get(p.Header.Get("Location")); !strings.Contains(next.Body, "only owner of "+org) {
		t.Error("no message after refusing to demote the only owner")
	}
	if p := c.post("/admin/webhooks/redeliver-failed", form("repo", "nobody/nothing")); p.Status != http.StatusSeeOther {
		t.Fatalf("redeliver for an unknown repository: %d", p.Status)
	} else if next := c.get(p.Header.Get("Location")); !strings.Contains(next.Body, "Nothing was redelivered. There is no repository nobody/nothing") {
		t.Error("no message after refusing to redeliver for an unknown repository")
	}

	u, _ := st.UserByID(ctx, bob.ID)
	if u.Email != bob.Email || u.Kind != "human" || u.MaxRepos != nil {
		t.Fatalf("refused edits changed %+v", u)
	}
	o, _ := st.OrgByName(ctx, org)
	if role, _ := st.OrgRole(ctx, o.ID, bob.ID); role != store.RoleOwner {
		t.Fatalf("the only owner became %q", role)
	}
	if _, err := st.RepoByName(ctx, bob.Name, "keep"); err != nil {
		t.Fatal("a refused form moved bob/keep")
	}
	if n, _ := st.CountOwnedRepos(ctx, bob.ID); n != 2 {
		t.Fatalf("bob owns %d repositories", n)
	}
	if _, err := st.OrgByName(ctx, "bad name"); err == nil {
		t.Fatal("an organization with a bad name exists")
	}
}
