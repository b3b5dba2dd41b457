package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tapioca/handlers"
)

// ochEnvelope decodes an OpenCodeHub answer.
type ochEnvelope struct {
	Data  json.RawMessage `json:"data"`
	Meta  map[string]any  `json:"meta"`
	Error *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func och(t *testing.T, c *client, method, path string, body any) (int, ochEnvelope) {
	t.Helper()
	r := c.do(method, path, body)
	var e ochEnvelope
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, r.Body)
	}
	if e.Meta == nil || e.Meta["timestamp"] == nil {
		t.Errorf("%s %s: no meta.timestamp in %s", method, path, r.Body)
	}
	if r.Status >= 400 {
		if e.Error == nil || e.Error.Code == "" || e.Error.Message == "" || e.Meta["request_id"] == "" || e.Meta["request_id"] == nil {
			t.Errorf("%s %s: error envelope %s", method, path, r.Body)
		}
	} else if e.Data == nil {
		t.Errorf("%s %s: no data in %s", method, path, r.Body)
	}
	return r.Status, e
}

// TestOpenCodeHubDialect: the OpenCodeHub calls create and list the same
// repositories and pull requests the CodeBoba API shows, with the
// envelope on every success and every error status.
func TestOpenCodeHubDialect(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "och")
	me := shared.as(t, u.Token)
	code, e := och(t, me, "POST", "/api/repos", map[string]any{"name": "hub", "description": "via OCH", "visibility": "private", "auto_init": true})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %+v", code, e.Error)
	}
	var repo map[string]any
	_ = json.Unmarshal(e.Data, &repo)
	cb := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/hub", nil).obj(t)
	if repo["id"] != "repo-"+ftoa(cb["id"].(float64)) || repo["visibility"] != "private" ||
		repo["owner"].(map[string]any)["id"] != "user-"+ftoa(cb["owner"].(map[string]any)["id"].(float64)) {
		t.Errorf("the same repository: %v vs %v", repo, cb)
	}
	// A branch, then a pull request through OpenCodeHub, seen by CodeBoba.
	tip := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/hub/branches/master", nil).obj(t)["sha"]
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/hub/branches", map[string]any{"name": "feat", "sha": tip})
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "hub"), "w")
	runGit(t, dir+"/w", "checkout", "-q", "feat")
	commitFile(t, dir+"/w", "f.txt", "f\n", "feature")
	runGit(t, dir+"/w", "push", "-q", "origin", "feat")
	code, e = och(t, me, "POST", "/api/repos/"+u.Name+"/hub/pulls", map[string]any{"title": "Feature", "head": "feat", "base": "master", "body": "adds f"})
	if code != http.StatusCreated {
		t.Fatalf("create pull: %d %+v", code, e.Error)
	}
	var pr map[string]any
	_ = json.Unmarshal(e.Data, &pr)
	if pr["number"] != 1.0 || !strings.HasPrefix(pr["id"].(string), "pr-") {
		t.Errorf("pull %v", pr)
	}
	if l := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/hub/pulls", nil).list(t); len(l) != 1 || l[0]["title"] != "Feature" {
		t.Errorf("CodeBoba sees %v", l)
	}
	code, e = och(t, me, "GET", "/api/repos/"+u.Name+"/hub/pulls", nil)
	var list []map[string]any
	_ = json.Unmarshal(e.Data, &list)
	if code != http.StatusOK || len(list) != 1 || e.Meta["pagination"] == nil {
		t.Errorf("list pulls: %d %v %v", code, list, e.Meta)
	}
	if code, _ := och(t, me, "GET", "/api/repos/"+u.Name+"/hub/pulls/1", nil); code != http.StatusOK {
		t.Errorf("get pull: %d", code)
	}
	if code, e := och(t, me, "GET", "/api/repos", nil); code != http.StatusOK || !strings.Contains(string(e.Data), `"hub"`) {
		t.Errorf("list repos: %d %s", code, e.Data)
	}

	// Errors, each in the envelope with its code.
	stranger := shared.as(t, shared.register(t, "ochx").Token)
	for _, c := range []struct {
		client       *client
		method, path string
		body         any
		status       int
		code         string
	}{
		{me, "POST", "/api/repos", map[string]any{"description": "no name"}, 422, "VALIDATION_ERROR"},
		{me, "POST", "/api/repos", `{"name":`, 400, "BAD_REQUEST"},
		{shared.as(t, ""), "POST", "/api/repos", map[string]any{"name": "x"}, 401, "UNAUTHORIZED"},
		{shared.as(t, "cb_notatoken"), "GET", "/api/repos", nil, 401, "UNAUTHORIZED"},
		{stranger, "GET", "/api/repos/" + u.Name + "/hub", nil, 404, "NOT_FOUND"},
		{me, "GET", "/api/repos/" + u.Name + "/hub/nothing", nil, 404, "NOT_FOUND"},
		{me, "DELETE", "/api/repos/" + u.Name + "/hub", nil, 405, "METHOD_NOT_ALLOWED"},
		{me, "POST", "/api/repos/" + u.Name + "/hub/pulls", map[string]any{"title": "Again", "head": "feat", "base": "master"}, 422, "VALIDATION_ERROR"},
	} {
		code, e := och(t, c.client, c.method, c.path, c.body)
		if code != c.status || e.Error == nil || e.Error.Code != c.code {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, code, e.Error, c.status, c.code)
		}
	}
	_, e = och(t, me, "POST", "/api/repos", map[string]any{"description": "no name"})
	if e.Error.Details["field"] != "name" || e.Error.Details["constraint"] != "required" {
		t.Errorf("validation details %v", e.Error.Details)
	}
	// A read-only token is refused writes, in the envelope.
	ro := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "ro", "scopes": []string{"read"}}).obj(t)["token"].(string)
	if code, e := och(t, shared.as(t, ro), "POST", "/api/repos", map[string]any{"name": "nope"}); code != 403 || e.Error.Code != "FORBIDDEN" {
		t.Errorf("read-only token: %d %+v", code, e.Error)
	}
}

// TestOpenCodeHubRateLimited: the dialect shares the API's quota and
// answers 429 in its envelope.
func TestOpenCodeHubRateLimited(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) { c.RateLimitAnon = 2 })
	anon := srv.as(t, "")
	anon.do("GET", "/api/v1/users/admin", nil)
	anon.do("GET", "/api/repos/admin/x", nil)
	code, e := och(t, anon, "GET", "/api/repos/admin/x", nil)
	if code != http.StatusTooManyRequests || e.Error.Code != "RATE_LIMITED" {
		t.Fatalf("%d %+v", code, e.Error)
	}
}
