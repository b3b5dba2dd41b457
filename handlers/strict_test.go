package handlers_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
)

// routeFixture is an owner with one of everything a route can name, and
// the path of every route filled in with it.
type routeFixture struct {
	owner   testUser
	c       *client
	values  map[string]string
	hooks   map[string]string // user and org webhook ids
	issue   string
	pull    string
	comment string
}

func newRouteFixture(t *testing.T) *routeFixture {
	t.Helper()
	u := shared.register(t, "routes")
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "r", "auto_init": true})
	api := "/api/v1/repos/" + u.Name + "/r"
	org := newOrg(t, u, nil)
	f := &routeFixture{owner: u, c: c}
	f.issue = ftoa(c.must(http.StatusCreated, "POST", api+"/issues", map[string]any{"title": "i"}).obj(t)["number"].(float64))
	f.comment = ftoa(c.must(http.StatusCreated, "POST", api+"/issues/"+f.issue+"/comments", map[string]any{"body": "c"}).obj(t)["id"].(float64))
	c.must(http.StatusCreated, "POST", api+"/commits", map[string]any{"branch": "topic", "start_branch": "master", "message": "m",
		"actions": []map[string]any{{"action": "create", "path": "t.txt", "content": "t\n"}}})
	f.pull = ftoa(c.must(http.StatusCreated, "POST", api+"/pulls", map[string]any{"title": "p", "head": "topic", "base": "master"}).obj(t)["number"].(float64))
	f.hooks = map[string]string{
		"/user/": ftoa(c.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": "http://192.0.2.1/h"}).obj(t)["id"].(float64)),
		"/orgs/": ftoa(c.must(http.StatusCreated, "POST", "/api/v1/orgs/"+org+"/webhooks", map[string]any{"url": "http://192.0.2.1/h"}).obj(t)["id"].(float64)),
	}
	f.values = map[string]string{
		"{owner}": u.Name, "{repo}": "r", "{username}": u.Name, "{org}": org, "{delivery_id}": "1",
		"{name...}": "bug", "{branch...}": "master", "{ref...}": "master", "{ref}": "master", "{sha}": "master",
		"{path...}": "README.md", "{refpath...}": "master/README.md", "{basehead...}": "master...topic",
	}
	return f
}

// path fills in a route's pattern.
func (f *routeFixture) path(rt string) string {
	p := rt
	switch {
	case strings.Contains(p, "/webhooks/{id}"):
		for prefix, id := range f.hooks {
			if strings.HasPrefix(p, "/api/v1"+prefix) {
				p = strings.Replace(p, "{id}", id, 1)
			}
		}
	case strings.Contains(p, "/comments/{id}"):
		p = strings.Replace(p, "{id}", f.comment, 1)
	}
	p = strings.Replace(p, "/issues/{number}", "/issues/"+f.issue, 1)
	p = strings.Replace(p, "/pulls/{number}", "/pulls/"+f.pull, 1)
	for k, v := range f.values {
		p = strings.ReplaceAll(p, k, v)
	}
	return strings.ReplaceAll(p, "{id}", "1")
}

// TestStrictInputEverywhere drives every route of the table: a query
// parameter the route does not declare is a 422 naming it, on every
// route, before anything is looked up or changed; and a body field the
// route's body type does not have is a 422 naming it on every route that
// takes a body, for a caller who may use it.
func TestStrictInputEverywhere(t *testing.T) {
	t.Parallel()
	f := newRouteFixture(t)
	withBody := 0
	for _, rt := range shared.App.APIRoutes() {
		path := f.path(rt.Path)
		if strings.Contains(path, "{") {
			t.Fatalf("%s %s: unfilled parameter in %s", rt.Method, rt.Path, path)
		}
		r := shared.as(t, "").do(rt.Method, path+"?zzz_unknown=1", nil)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"zzz_unknown":["is not a known parameter"]`) {
			t.Errorf("%s %s?zzz_unknown=1: %d %s", rt.Method, path, r.Status, r.Body)
		}
		if rt.Doc.Body == nil {
			continue
		}
		withBody++
		r = f.c.do(rt.Method, path, map[string]any{"zzz_unknown": 1})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"zzz_unknown":["is not a known field"]`) {
			t.Errorf("%s %s with an unknown field: %d %s", rt.Method, path, r.Status, r.Body)
		}
	}
	if withBody < 40 {
		t.Errorf("only %d routes take a body", withBody)
	}
	// The issue's examples: a typo never silently succeeds, and a search
	// that matches nothing finds nothing.
	api := "/api/v1/repos/" + f.owner.Name + "/r"
	r := f.c.must(http.StatusUnprocessableEntity, "POST", api+"/issues", map[string]any{"title": "t", "bodyy": "lost"})
	if msg := r.obj(t)["error"].(string); !strings.Contains(msg, `"bodyy"`) || !strings.Contains(msg, `did you mean "body"`) {
		t.Errorf("typo: %s", r.Body)
	}
	r = f.c.must(http.StatusUnprocessableEntity, "GET", api+"/issues?sate=open", nil)
	if !strings.Contains(r.obj(t)["error"].(string), `did you mean "state"`) {
		t.Errorf("parameter typo: %s", r.Body)
	}
	if got := f.c.must(http.StatusOK, "GET", api+"/issues?q=nomatch&state=all", nil).list(t); len(got) != 0 {
		t.Errorf("q=nomatch found %d issues", len(got))
	}
	if got := f.c.must(http.StatusOK, "GET", api+"/issues?creator="+f.owner.Name+"&since=2000-01-01", nil).list(t); len(got) != 1 {
		t.Errorf("creator and since: %d issues", len(got))
	}
	r = f.c.must(http.StatusUnprocessableEntity, "GET", api+"/issues?since=yesterday", nil)
	if r.obj(t)["errors"].(map[string]any)["since"] == nil {
		t.Errorf("bad since: %s", r.Body)
	}
}

// TestIdempotentRetries: a retried write with the same Idempotency-Key
// creates one object and gets the first answer; the key with another
// body is refused; another key is another request.
func TestIdempotentRetries(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "idem")
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "r"})
	api := "/api/v1/repos/" + u.Name + "/r/issues"
	key := map[string]string{"Idempotency-Key": "create-issue-1"}
	first := c.doWith("POST", api, map[string]any{"title": "Once"}, key)
	second := c.doWith("POST", api, map[string]any{"title": "Once"}, key)
	if first.Status != http.StatusCreated || second.Status != http.StatusCreated || !bytes.Equal(first.Body, second.Body) {
		t.Fatalf("retry: %d %s / %d %s", first.Status, first.Body, second.Status, second.Body)
	}
	if first.Header.Get("Idempotent-Replayed") != "" || second.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay headers: %v / %v", first.Header, second.Header)
	}
	if got := c.must(http.StatusOK, "GET", api+"?state=all", nil).list(t); len(got) != 1 {
		t.Fatalf("%d issues after a retried creation", len(got))
	}
	r := c.doWith("POST", api, map[string]any{"title": "Different"}, key)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "Idempotency-Key") {
		t.Errorf("same key, other body: %d %s", r.Status, r.Body)
	}
	// Keys are per caller: another user's same key is their own.
	other := shared.register(t, "idem2")
	shared.as(t, other.Token).doWith("POST", api, map[string]any{"title": "Once"}, key)
	if got := c.must(http.StatusOK, "GET", api+"?state=all", nil).list(t); len(got) != 2 {
		t.Errorf("another caller's key replayed someone else's answer: %d issues", len(got))
	}
	// A refused request is kept too: its retry is refused the same way
	// and changes nothing.
	bad := map[string]string{"Idempotency-Key": "bad-1"}
	for range 2 {
		if r := c.doWith("POST", api, map[string]any{"title": ""}, bad); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("invalid creation: %d %s", r.Status, r.Body)
		}
	}
}

// TestConditionalGets: GETs carry an ETag; If-None-Match with it is a 304
// without a body that does not count against the rate limit; a change
// makes a new tag.
func TestConditionalGets(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "etag")
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "r", "auto_init": true})
	path := "/api/v1/repos/" + u.Name + "/r/issues"
	first := c.must(http.StatusOK, "GET", path, nil)
	tag := first.Header.Get("ETag")
	remaining, _ := strconv.Atoi(first.Header.Get("X-RateLimit-Remaining"))
	if tag == "" {
		t.Fatalf("no ETag: %v", first.Header)
	}
	for range 3 {
		r := c.doWith("GET", path, nil, map[string]string{"If-None-Match": tag})
		if r.Status != http.StatusNotModified || len(r.Body) != 0 || r.Header.Get("ETag") != tag {
			t.Fatalf("conditional GET: %d %v %q", r.Status, r.Header, r.Body)
		}
		if got, _ := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining")); got != remaining {
			t.Errorf("a 304 was counted: remaining %d, was %d", got, remaining)
		}
	}
	r := c.must(http.StatusOK, "GET", path, nil)
	if got, _ := strconv.Atoi(r.Header.Get("X-RateLimit-Remaining")); got != remaining-1 {
		t.Errorf("a 200 after the 304s: remaining %d, want %d", got, remaining-1)
	}
	c.must(http.StatusCreated, "POST", path, map[string]any{"title": "new"})
	r = c.doWith("GET", path, nil, map[string]string{"If-None-Match": tag})
	if r.Status != http.StatusOK || r.Header.Get("ETag") == tag {
		t.Errorf("after a change: %d, tag %q", r.Status, r.Header.Get("ETag"))
	}
	// A raw file is tagged by its blob.
	raw := c.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/r/raw/master/README.md", nil)
	blob := c.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/r/contents/README.md", nil).obj(t)["sha"]
	if raw.Header.Get("ETag") != fmt.Sprintf("%q", blob) || !strings.HasPrefix(raw.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("raw: %v", raw.Header)
	}
	if r := c.doWith("GET", "/api/v1/repos/"+u.Name+"/r/raw/master/README.md", nil, map[string]string{"If-None-Match": raw.Header.Get("ETag")}); r.Status != http.StatusNotModified {
		t.Errorf("raw conditional: %d", r.Status)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestIDsAndNotFound: every answer carries X-Request-Id (the
// client's when it sent a sensible one), error bodies and the access log
// name it, and a 404 says what was not found.
func TestRequestIDsAndNotFound(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	srv := newServer(t, func(c *handlers.Config) { c.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	anon := srv.as(t, "")
	r := anon.doWith("GET", "/api/v1/nowhere", nil, map[string]string{"X-Request-Id": "agent-42"})
	if r.Status != http.StatusNotFound || r.Header.Get("X-Request-Id") != "agent-42" {
		t.Fatalf("echo: %d %v", r.Status, r.Header)
	}
	if body := r.obj(t); body["request_id"] != "agent-42" || body["error"] != "No such endpoint: GET /api/v1/nowhere" {
		t.Errorf("error body: %v", body)
	}
	if !logged(&log, "request_id=agent-42") {
		t.Errorf("access log lacks the id:\n%s", log.String())
	}
	for _, sent := range []string{"", "has spaces", strings.Repeat("x", 200)} {
		r := anon.doWith("GET", "/v1/health", nil, map[string]string{"X-Request-Id": sent})
		if id := r.Header.Get("X-Request-Id"); id == "" || id == sent {
			t.Errorf("sent %q, got id %q", sent, id)
		}
	}

	u := srv.register(t, "nf")
	c := srv.as(t, u.Token)
	c.createRepo(map[string]any{"name": "r", "auto_init": true})
	// Every door, answering or refusing, names the request: the same id in
	// the answer and in the access log line.
	for i, req := range []struct{ method, path string }{
		{"POST", "/mcp"},                               // MCP, no token: 401
		{"GET", "/api/repositories/nope"},              // Docora
		{"GET", "/api/repos/" + u.Name + "/r/pulls/9"}, // OpenCodeHub
		{"GET", "/" + u.Name + "/r.git/info/refs?service=git-upload-pack"},
		{"GET", "/admin/"},
		{"GET", "/v1/health"},
		{"GET", "/api/v1/repos/" + u.Name + "/r"},
	} {
		id := "door-" + strconv.Itoa(i)
		r := anon.doWith(req.method, req.path, nil, map[string]string{"X-Request-Id": id})
		if got := r.Header.Get("X-Request-Id"); got != id {
			t.Errorf("%s %s: %d, X-Request-Id %q, want %q", req.method, req.path, r.Status, got, id)
		}
		if !logged(&log, "request_id="+id) {
			t.Errorf("%s %s: access log lacks request_id=%s", req.method, req.path, id)
		}
	}
	api := "/api/v1/repos/" + u.Name + "/r"
	c.must(http.StatusCreated, "POST", api+"/commits", map[string]any{"branch": "b", "start_branch": "master", "message": "m",
		"actions": []map[string]any{{"action": "create", "path": "b.txt", "content": "b"}}})
	c.must(http.StatusCreated, "POST", api+"/pulls", map[string]any{"title": "p", "head": "b", "base": "master"})
	for path, want := range map[string]string{
		"/api/v1/repos/" + u.Name + "/nope": "Repository not found",
		api + "/issues/1":                   "Issue #1 not found: #1 is a pull request, at /repos/" + u.Name + "/r/pulls/1",
		api + "/issues/9":                   "Issue #9 not found",
		api + "/branches/nope":              "Branch nope not found",
		api + "/contents/nope.txt?ref=b":    "not found",
		api + "/commits/nope":               "Ref nope not found",
	} {
		r := c.must(http.StatusNotFound, "GET", path, nil)
		if msg := r.obj(t)["error"].(string); !strings.Contains(msg, want) {
			t.Errorf("GET %s: %q, want %q", path, msg, want)
		}
	}
	if got := c.must(http.StatusNotFound, "GET", api+"/issues/1", nil).obj(t)["url"]; got != srv.URL+"/api/v1/repos/"+u.Name+"/r/pulls/1" {
		t.Errorf("url of the pull request: %v", got)
	}
}

// logged waits for the access log to hold s: the line is written after
// the handler returns, which a client may see before it (a flushed
// answer).
func logged(log *syncBuffer, s string) bool {
	for range 500 {
		if strings.Contains(log.String(), s) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
