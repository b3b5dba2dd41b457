package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestEveryRouteAnonymously sends every API route, without credentials,
// against a public repository and a real organization: nothing may fail
// on the server, and every route that changes something must refuse an
// anonymous caller (401, or 404 where the thing is not to be seen)
// before it acts, except registration and sign-in.
func TestEveryRouteAnonymously(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "anon")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "pub", "auto_init": true})
	org := newOrg(t, owner, nil)
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+owner.Name+"/pub/issues", map[string]any{"title": "i"})
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": "http://192.0.2.1/hook"})
	values := map[string]string{
		"{owner}": owner.Name, "{repo}": "pub", "{username}": owner.Name, "{org}": org, "{number}": "1",
		"{id}": "1", "{delivery_id}": "1", "{name...}": "bug", "{branch...}": "master", "{ref...}": "master",
		"{ref}": "master", "{sha}": "master", "{path...}": "README.md", "{refpath...}": "master/README.md",
		"{basehead...}": "master...master",
	}
	anonymousWrites := map[string]bool{"POST /api/v1/users": true, "POST /api/v1/tokens": true}
	anon := shared.as(t, "")
	routes := shared.App.APIRoutes()
	if len(routes) < 80 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		path := rt.Path
		for k, v := range values {
			path = strings.ReplaceAll(path, k, v)
		}
		if strings.Contains(path, "{") {
			t.Errorf("%s %s: unfilled parameter", rt.Method, rt.Path)
			continue
		}
		r := anon.do(rt.Method, path, map[string]any{})
		switch {
		case r.Status >= 500:
			t.Errorf("%s %s: %d %s", rt.Method, path, r.Status, r.Body)
		case rt.Method != http.MethodGet && !anonymousWrites[rt.Method+" "+rt.Path] &&
			r.Status != http.StatusUnauthorized && r.Status != http.StatusNotFound:
			t.Errorf("%s %s: anonymous write answered %d %s", rt.Method, path, r.Status, r.Body)
		case r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "":
			t.Errorf("%s %s: 401 without WWW-Authenticate", rt.Method, path)
		case rt.SignedIn && r.Status != http.StatusUnauthorized:
			t.Errorf("%s %s: a route for signed-in callers answered %d", rt.Method, path, r.Status)
		}
	}
	// Nothing changed: the issue is still open and unlabeled, the
	// repository still there.
	i := me.must(http.StatusOK, "GET", "/api/v1/repos/"+owner.Name+"/pub/issues/1", nil).obj(t)
	if i["state"] != "open" || len(i["labels"].([]any)) != 0 {
		t.Errorf("anonymous requests changed the issue: %v", i)
	}
}
