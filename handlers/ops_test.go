package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tapioca/handlers"
)

const testOpsSecret = "ops-secret-for-tests"

// opsServer is a server with the operations API enabled.
func opsServer(t *testing.T) *testServer {
	t.Helper()
	return newServer(t, func(c *handlers.Config) { c.APISecret = testOpsSecret })
}

// ops calls the operations API with key as x-api-key ("" = none).
func ops(t *testing.T, srv *testServer, key, method, path string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON; body %s", method, path, ct, data)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func wantStatus(t *testing.T, r *response, want int, what string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, want, r.Body)
	}
}

// TestOpsAPIDisabledWithoutSecret: with no secret the API does not exist,
// and says how to turn it on.
func TestOpsAPIDisabledWithoutSecret(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/api/jobs"},
		{"POST", "/v1/api/job/session-cleanup/run"},
		{"POST", "/v1/api/poll/run"},
		{"GET", "/v1/api/nothing-here"},
	} {
		r := ops(t, shared, testOpsSecret, c.method, c.path, nil)
		wantStatus(t, r, http.StatusNotFound, c.method+" "+c.path)
		if msg := r.obj(t)["error"].(string); !strings.Contains(msg, "--api-secret") {
			t.Errorf("%s %s: error %q does not say how to enable the API", c.method, c.path, msg)
		}
	}
	wantStatus(t, ops(t, shared, "", "GET", "/v1/health", nil), http.StatusOK, "health stays public")
}

func TestOpsAPIKey(t *testing.T) {
	t.Parallel()
	srv := opsServer(t)
	for _, c := range []struct {
		name, key string
		want      int
	}{
		{"missing key", "", http.StatusUnauthorized},
		{"wrong key", "not-the-secret", http.StatusUnauthorized},
		{"prefix of the key", testOpsSecret[:5], http.StatusUnauthorized},
		{"right key", testOpsSecret, http.StatusOK},
	} {
		r := ops(t, srv, c.key, "GET", "/v1/api/jobs", nil)
		wantStatus(t, r, c.want, c.name)
		if c.want == http.StatusUnauthorized && r.obj(t)["error"] != "Invalid or missing x-api-key header" {
			t.Errorf("%s: body %s", c.name, r.Body)
		}
	}
	// Unknown paths and wrong methods answer only after the key check.
	wantStatus(t, ops(t, srv, "", "GET", "/v1/api/nothing-here", nil), http.StatusUnauthorized, "unknown path without key")
	wantStatus(t, ops(t, srv, testOpsSecret, "GET", "/v1/api/nothing-here", nil), http.StatusNotFound, "unknown path")
	// The bare prefixes answer JSON themselves rather than redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, key string
		want      int
	}{{"/v1/api", testOpsSecret, 404}, {"/v1/api", "", 401}, {"/api", "", 404}} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		if c.key != "" {
			req.Header.Set("x-api-key", c.key)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %q, want %d JSON", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.want)
		}
	}
	// timeout is checked wherever it is accepted; wait is a boolean.
	wantStatus(t, ops(t, srv, testOpsSecret, "GET", "/v1/api/jobs?timeout=bogus", nil), http.StatusUnprocessableEntity, "jobs?timeout=bogus")
	wantStatus(t, ops(t, srv, testOpsSecret, "GET", "/v1/api/jobs?timeout=60", nil), http.StatusOK, "jobs?timeout=60")
	wantStatus(t, ops(t, srv, testOpsSecret, "POST", "/v1/api/job/session-cleanup/run?wait=yes", nil), http.StatusUnprocessableEntity, "wait=yes")
	wantStatus(t, ops(t, srv, testOpsSecret, "POST", "/v1/api/job/session-cleanup/run?wait=1", nil), http.StatusOK, "wait=1")
	r := ops(t, srv, testOpsSecret, "POST", "/v1/api/jobs", nil)
	wantStatus(t, r, http.StatusMethodNotAllowed, "POST jobs")
	if r.Header.Get("Allow") != "GET" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
}

func TestOpsJobs(t *testing.T) {
	t.Parallel()
	srv := opsServer(t)
	key := testOpsSecret

	all := ops(t, srv, key, "GET", "/v1/api/jobs", nil)
	wantStatus(t, all, http.StatusOK, "list")
	jobs := map[string]map[string]any{}
	for _, j := range all.list(t) {
		jobs[j["name"].(string)] = j
	}
	for name, stack := range map[string]string{"session-cleanup": "dashboard", "webhook-retry-sweep": "webhooks",
		"repository-maintenance": "repositories"} {
		j := jobs[name]
		if j == nil {
			t.Fatalf("job %s missing from %s", name, all.Body)
		}
		if j["stack"] != stack || j["enabled"] != true || j["running"] != false || j["next_run_at"] == nil {
			t.Errorf("job %s: %v", name, j)
		}
	}

	t.Run("stack filter", func(t *testing.T) {
		l := ops(t, srv, key, "GET", "/v1/api/jobs?stack=dashboard", nil).list(t)
		if len(l) != 1 || l[0]["name"] != "session-cleanup" {
			t.Fatalf("stack=dashboard: %v", l)
		}
		if l := ops(t, srv, key, "GET", "/v1/api/jobs?stack=nope", nil).list(t); len(l) != 0 {
			t.Fatalf("unknown stack: %v", l)
		}
	})

	t.Run("run and wait", func(t *testing.T) {
		r := ops(t, srv, key, "POST", "/v1/api/job/session-cleanup/run", nil)
		wantStatus(t, r, http.StatusOK, "run")
		o := r.obj(t)
		if o["status"] != "success" || o["job"] != "session-cleanup" || o["stack"] != "dashboard" ||
			o["finished_at"] == nil || !strings.HasPrefix(o["message"].(string), "Deleted ") {
			t.Fatalf("run: %s", r.Body)
		}
		// The run is recorded and shows in the list.
		l := ops(t, srv, key, "GET", "/v1/api/jobs?stack=dashboard", nil).list(t)
		if l[0]["last_status"] != "success" || l[0]["run_count"].(float64) < 1 || l[0]["last_finished_at"] == nil {
			t.Fatalf("after run: %v", l[0])
		}
		r = ops(t, srv, key, "POST", "/v1/api/job/repository-maintenance/run?stack=repositories&wait=true&timeout=60", nil)
		wantStatus(t, r, http.StatusOK, "run with stack")
	})

	t.Run("run without waiting", func(t *testing.T) {
		r := ops(t, srv, key, "POST", "/v1/api/job/webhook-retry-sweep/run?wait=false", nil)
		wantStatus(t, r, http.StatusAccepted, "wait=false")
		if o := r.obj(t); o["status"] != "running" || o["finished_at"] != nil {
			t.Fatalf("wait=false: %s", r.Body)
		}
	})

	t.Run("no match", func(t *testing.T) {
		wantStatus(t, ops(t, srv, key, "POST", "/v1/api/job/nope/run", nil), http.StatusNotFound, "unknown job")
		wantStatus(t, ops(t, srv, key, "POST", "/v1/api/job/session-cleanup/run?stack=webhooks", nil), http.StatusNotFound, "job in another stack")
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"wait=maybe", "timeout=0", "timeout=abc", "timeout=99999"} {
			r := ops(t, srv, key, "POST", "/v1/api/job/session-cleanup/run?"+q, nil)
			wantStatus(t, r, http.StatusUnprocessableEntity, q)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		if err := srv.App.Store().SetJobEnabled(t.Context(), "repositories", "repository-maintenance", false); err != nil {
			t.Fatal(err)
		}
		r := ops(t, srv, key, "POST", "/v1/api/job/repository-maintenance/run", nil)
		wantStatus(t, r, http.StatusConflict, "disabled job")
		if !strings.Contains(r.obj(t)["error"].(string), "disabled") {
			t.Fatalf("body %s", r.Body)
		}
		l := ops(t, srv, key, "GET", "/v1/api/jobs?stack=repositories", nil).list(t)
		if l[0]["enabled"] != false {
			t.Fatalf("listed as %v", l[0])
		}
	})
}

// pollResult is one element of a poll run's results.
type pollResult struct {
	URL            string  `json:"url"`
	Reference      string  `json:"reference"`
	Source         string  `json:"source"`
	Repository     *string `json:"repository"`
	Commit         *string `json:"commit"`
	PreviousCommit *string `json:"previous_commit"`
	Changed        bool    `json:"changed"`
	Error          *string `json:"error"`
}

func poll(t *testing.T, srv *testServer, targets any) []pollResult {
	t.Helper()
	r := ops(t, srv, testOpsSecret, "POST", "/v1/api/poll/run", targets)
	wantStatus(t, r, http.StatusOK, "poll run")
	var out struct {
		Results []pollResult `json:"results"`
	}
	r.decode(t, &out)
	return out.Results
}

func branchSHA(t *testing.T, c *client, owner, repo, branch string) string {
	t.Helper()
	for _, b := range c.must(http.StatusOK, "GET", "/api/v1/repos/"+owner+"/"+repo+"/branches", nil).list(t) {
		if b["name"] == branch {
			return b["sha"].(string)
		}
	}
	t.Fatalf("no branch %s", branch)
	return ""
}

// pushCommit clones, commits a file and pushes, returning nothing: the
// caller reads the new head through the API.
func pushCommit(t *testing.T, url, file string) {
	t.Helper()
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", url, "w")
	commitFile(t, filepath.Join(dir, "w"), file, "change "+file+"\n", "change "+file)
	runGit(t, filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD")
}

func TestOpsPollLocal(t *testing.T) {
	t.Parallel()
	srv := opsServer(t)
	u := srv.register(t, "poller")
	c := srv.as(t, u.Token)
	c.createRepo(map[string]any{"name": "app", "auto_init": true})
	head := branchSHA(t, c, u.Name, "app", "master")
	url := srv.URL + "/" + u.Name + "/app.git"

	first := poll(t, srv, []map[string]any{{"url": url}})
	if len(first) != 1 || first[0].Error != nil || first[0].Source != "local" || first[0].Commit == nil ||
		*first[0].Commit != head || !first[0].Changed || first[0].PreviousCommit != nil || first[0].Reference != "master" {
		t.Fatalf("first poll: %+v", first)
	}
	again := poll(t, srv, []map[string]any{{"url": url, "deployments": []any{map[string]any{"name": "ignored"}}}})
	if again[0].Changed || again[0].PreviousCommit == nil || *again[0].PreviousCommit != head {
		t.Fatalf("second poll: %+v", again[0])
	}

	pushCommit(t, srv.gitURL(u.Token, u.Name, "app"), "next.txt")
	moved := branchSHA(t, c, u.Name, "app", "master")
	// The shorthand owner/repo names a local repository too.
	res := poll(t, srv, []map[string]any{
		{"url": url},
		{"url": u.Name + "/app", "reference": head[:10]},
		{"url": url, "reference": "no-such-branch"},
		{"url": srv.URL + "/" + u.Name + "/missing.git"},
	})
	if !res[0].Changed || *res[0].Commit != moved || *res[0].PreviousCommit != head {
		t.Errorf("after push: %+v", res[0])
	}
	if res[1].Error != nil || *res[1].Commit != head || res[1].Source != "local" {
		t.Errorf("abbreviated commit: %+v", res[1])
	}
	if res[2].Error == nil || !strings.Contains(*res[2].Error, "not found") || res[2].Commit != nil {
		t.Errorf("missing branch: %+v", res[2])
	}
	if res[3].Error == nil || !strings.Contains(*res[3].Error, "not found") {
		t.Errorf("missing repository: %+v", res[3])
	}

	r := ops(t, srv, testOpsSecret, "POST", "/v1/api/poll/run?wait=false", []map[string]any{{"url": url}})
	wantStatus(t, r, http.StatusAccepted, "wait=false")
	if r.obj(t)["status"] != "accepted" {
		t.Errorf("wait=false: %s", r.Body)
	}
}

// TestOpsPollUpstream polls this server under another host name
// (localhost instead of 127.0.0.1), so the target is upstream: fetched
// by the mirror engine over HTTP into the mirror area.
func TestOpsPollUpstream(t *testing.T) {
	t.Parallel()
	srv := opsServer(t)
	u := srv.register(t, "upstream")
	c := srv.as(t, u.Token)
	c.createRepo(map[string]any{"name": "lib", "auto_init": true})
	c.createRepo(map[string]any{"name": "secret", "auto_init": true, "private": true})
	head := branchSHA(t, c, u.Name, "lib", "master")
	upstream := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/" + u.Name

	res := poll(t, srv, []map[string]any{{"url": upstream + "/lib.git"}})
	if res[0].Error != nil || res[0].Source != "upstream" || *res[0].Commit != head || !res[0].Changed || res[0].Reference != "master" {
		t.Fatalf("first upstream poll: %+v", res[0])
	}
	mirrors, _ := filepath.Glob(filepath.Join(srv.Dir, "mirrors", "*.git"))
	if len(mirrors) != 1 {
		t.Fatalf("mirrors: %v", mirrors)
	}
	runGit(t, srv.Dir, "--git-dir", mirrors[0], "fsck", "--full")

	if res := poll(t, srv, []map[string]any{{"url": upstream + "/lib.git", "reference": "master"}}); res[0].Changed != true {
		// A different reference is a different poll target: first poll.
		t.Fatalf("first poll of reference master: %+v", res[0])
	}
	pushCommit(t, srv.gitURL(u.Token, u.Name, "lib"), "more.txt")
	moved := branchSHA(t, c, u.Name, "lib", "master")
	res = poll(t, srv, []map[string]any{{"url": upstream + "/lib.git"}})
	if res[0].Error != nil || !res[0].Changed || *res[0].Commit != moved || *res[0].PreviousCommit != head {
		t.Fatalf("poll after push: %+v", res[0])
	}

	// Credentials in the URL authenticate the fetch and never come back.
	withToken := strings.Replace(upstream, "http://", "http://"+u.Token+"@", 1) + "/secret.git"
	res = poll(t, srv, []map[string]any{{"url": withToken}, {"url": upstream + "/secret.git"}})
	if res[0].Error != nil || res[0].Commit == nil {
		t.Fatalf("private upstream with token: %+v", res[0])
	}
	if strings.Contains(res[0].URL, u.Token) {
		t.Fatalf("credentials echoed: %s", res[0].URL)
	}
	if res[1].Error == nil || !strings.Contains(*res[1].Error, "authentication") {
		t.Fatalf("private upstream without token: %+v", res[1])
	}
	for _, m := range mustGlob(t, filepath.Join(srv.Dir, "mirrors", "*.git", "config")) {
		if b, _ := os.ReadFile(m); strings.Contains(string(b), u.Token) {
			t.Fatalf("token stored in %s", m)
		}
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpsPollValidation(t *testing.T) {
	t.Parallel()
	srv := opsServer(t)
	for _, c := range []struct {
		name  string
		body  string
		want  int
		field string
	}{
		{"malformed JSON", `[{"url":`, http.StatusBadRequest, ""},
		{"object instead of array", `{"url":"https://example.com/a/b.git"}`, http.StatusBadRequest, ""},
		{"empty body", ``, http.StatusBadRequest, ""},
		{"empty array", `[]`, http.StatusUnprocessableEntity, "targets"},
		{"missing url", `[{"reference":"main"}]`, http.StatusUnprocessableEntity, "[0].url"},
		{"url of wrong type", `[{"url":42}]`, http.StatusUnprocessableEntity, "[0].url"},
		{"not an object", `["https://example.com/a/b.git"]`, http.StatusUnprocessableEntity, "[0]"},
		{"ftp url", `[{"url":"https://example.com/a/b.git"},{"url":"ftp://example.com/a/b.git"}]`, http.StatusUnprocessableEntity, "[1].url"},
		{"local url that is no repository", `[{"url":"` + srv.URL + `/api/v1/user"}]`, http.StatusUnprocessableEntity, "[0].url"},
		{"bad reference", `[{"url":"https://example.com/a/b.git","reference":"a..b"}]`, http.StatusUnprocessableEntity, "[0].reference"},
	} {
		r := ops(t, srv, testOpsSecret, "POST", "/v1/api/poll/run", c.body)
		if c.body == "" {
			r = ops(t, srv, testOpsSecret, "POST", "/v1/api/poll/run", nil)
		}
		wantStatus(t, r, c.want, c.name)
		o := r.obj(t)
		if c.field != "" {
			errs, _ := o["errors"].(map[string]any)
			if errs[c.field] == nil {
				t.Errorf("%s: no error for %s in %s", c.name, c.field, r.Body)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "mirrors")); !os.IsNotExist(err) {
		t.Errorf("a refused poll created the mirror area: %v", err)
	}
}
