package handlers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
	"tapioca/handlers/core/projects"
)

// The seed's key sets (ocore-projects-api.txt).
var (
	seedProjectKeys = []string{"branchMappings", "createdAt", "description", "gitRepository", "id", "instanceCount",
		"isArchived", "linkedInstances", "name", "slug", "testGateProduction", "testGateStaging", "testSuiteEnabled", "updatedAt"}
	seedRepoKeys = []string{"authType", "createdAt", "defaultBranch", "githubRepoId", "hasAccessToken", "hasDeployKey",
		"hasWebhook", "id", "lastPolledAt", "lastSyncedAt", "pollingEnabled", "provider", "providerCapabilities",
		"providerRepoId", "repoName", "repoOwner", "repoUrl", "syncError", "syncStatus", "syncStatusChangedAt", "updatedAt"}
	seedMappingKeys  = []string{"branchPattern", "createdAt", "id", "instanceId", "priority"}
	seedInstanceKeys = []string{"id", "name", "slug"}
	seedMessageKeys  = []string{"message"}
)

// wantKeys fails unless m's keys are exactly want plus extra.
func wantKeys(t testing.TB, what string, m map[string]any, want []string, extra ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	all := append(slices.Clone(want), extra...)
	sort.Strings(got)
	sort.Strings(all)
	if !slices.Equal(got, all) {
		t.Errorf("%s keys = %v, want %v", what, got, all)
	}
}

// wantProject checks a project's shape, nested objects included.
func wantProject(t testing.TB, p map[string]any) {
	t.Helper()
	wantKeys(t, "project", p, seedProjectKeys)
	if r, ok := p["gitRepository"].(map[string]any); ok {
		wantKeys(t, "gitRepository", r, seedRepoKeys)
	}
	for _, m := range p["branchMappings"].([]any) {
		wantKeys(t, "branch mapping", m.(map[string]any), seedMappingKeys)
	}
	for _, i := range p["linkedInstances"].([]any) {
		wantKeys(t, "linked instance", i.(map[string]any), seedInstanceKeys)
	}
}

// wantError fails unless r is status with {"error": ...} naming field
// (when not "").
func wantError(t testing.TB, r *response, status int, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	msg, _ := m["error"].(string)
	if msg == "" {
		t.Fatalf("no error message: %s", r.Body)
	}
	if field != "" && !strings.Contains(msg, field) {
		t.Errorf("error %q does not name %s", msg, field)
	}
	if field != "" {
		if _, ok := m["errors"].(map[string]any)[field]; !ok && !strings.Contains(string(r.Body), field) {
			t.Errorf("errors do not name %s: %s", field, r.Body)
		}
	}
}

// deployReceiver is the instances' side: one path per instance, each
// checking the signature with its secret, optionally failing its first
// attempts.
type deployReceiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string]string
	failures map[string]int // failures still to answer
	got      map[string][]projects.Notification
	guids    map[string][]string
	problems []string
}

func newDeployReceiver(t testing.TB) *deployReceiver {
	rc := &deployReceiver{t: t, secrets: map[string]string{}, failures: map[string]int{},
		got: map[string][]projects.Notification{}, guids: map[string][]string{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *deployReceiver) instance(path, secret string, fail int) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path], rc.failures[path] = secret, fail
	return rc.srv.URL + path
}

func (rc *deployReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	secret, ok := rc.secrets[r.URL.Path]
	if !ok {
		rc.problems = append(rc.problems, "notification to unknown path "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if rc.failures[r.URL.Path] > 0 {
		rc.failures[r.URL.Path]--
		http.Error(w, "deploying something else", http.StatusServiceUnavailable)
		return
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if r.Header.Get(projects.HeaderSignature) != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		rc.problems = append(rc.problems, "bad signature on "+r.URL.Path)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n projects.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.problems = append(rc.problems, "bad body: "+err.Error())
	}
	rc.got[r.URL.Path] = append(rc.got[r.URL.Path], n)
	rc.guids[r.URL.Path] = append(rc.guids[r.URL.Path], r.Header.Get(projects.HeaderDelivery))
	w.WriteHeader(http.StatusNoContent)
}

// wait returns path's notifications once there are n, failing after a
// generous deadline (no timing is asserted).
func (rc *deployReceiver) wait(path string, n int) []projects.Notification {
	rc.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rc.mu.Lock()
		got := slices.Clone(rc.got[path])
		problems := slices.Clone(rc.problems)
		rc.mu.Unlock()
		if len(problems) > 0 {
			rc.t.Fatalf("receiver problems: %v", problems)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%s: %d notifications, want %d", path, len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (rc *deployReceiver) count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got[path])
}

func projectServer(t *testing.T) *testServer {
	return newServer(t, func(c *handlers.Config) {
		c.RateLimitAnon = 1 << 30
		c.WebhookRetryBase = 20 * time.Millisecond
	})
}

// TestProjectsAPI covers the project, instance and mapping endpoints:
// shapes against the seed, namespace visibility and each error case.
func TestProjectsAPI(t *testing.T) {
	t.Parallel()
	srv := projectServer(t)
	owner, admin, member, outsider := srv.register(t, "po"), srv.register(t, "pa"), srv.register(t, "pm"), srv.register(t, "px")
	oc, ac, mc, xc := srv.as(t, owner.Token), srv.as(t, admin.Token), srv.as(t, member.Token), srv.as(t, outsider.Token)
	org := uniqueName("deploys")
	oc.must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": org})
	oc.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+admin.Name, map[string]any{"role": "admin"})
	oc.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+member.Name, map[string]any{"role": "member"})

	// Create.
	r := oc.must(http.StatusCreated, "POST", "/api/projects", map[string]any{"name": "My App", "description": "the shop"})
	mine := r.obj(t)
	wantProject(t, mine)
	id := mine["id"].(string)
	if mine["slug"] != "my-app" || mine["gitRepository"] != nil || mine["isArchived"] != false || mine["instanceCount"] != 0.0 ||
		mine["testGateStaging"] != "none" || len(id) != 36 || r.Header.Get("Location") != "/api/projects/"+id {
		t.Errorf("created %v (Location %q)", mine, r.Header.Get("Location"))
	}
	if again := oc.must(http.StatusCreated, "POST", "/api/projects", map[string]any{"name": "My App"}).obj(t); again["slug"] != "my-app-2" {
		t.Errorf("second generated slug %v", again["slug"])
	}
	wantError(t, oc.do("POST", "/api/projects", map[string]any{"name": "Other", "slug": "my-app"}), http.StatusConflict, "slug")
	wantError(t, oc.do("POST", "/api/projects", `{"name": "x"`), http.StatusBadRequest, "")
	wantError(t, oc.do("POST", "/api/projects", map[string]any{"description": "no name"}), http.StatusUnprocessableEntity, "name")
	wantError(t, oc.do("POST", "/api/projects", map[string]any{"name": 5}), http.StatusUnprocessableEntity, "name")
	wantError(t, oc.do("POST", "/api/projects", map[string]any{"name": "x", "slug": "Bad Slug"}), http.StatusUnprocessableEntity, "slug")
	wantError(t, oc.do("POST", "/api/projects", map[string]any{"name": "x", "namespace": uniqueName("nobody")}), http.StatusUnprocessableEntity, "namespace")
	wantError(t, srv.as(t, "").do("POST", "/api/projects", map[string]any{"name": "x"}), http.StatusUnauthorized, "")
	wantError(t, srv.as(t, "").do("GET", "/api/projects", nil), http.StatusUnauthorized, "")

	// An organization's project: members read, admins write, others see
	// nothing.
	orgProj := ac.must(http.StatusCreated, "POST", "/api/projects", map[string]any{"name": "Org Site", "namespace": org}).obj(t)
	oid := orgProj["id"].(string)
	wantError(t, mc.do("POST", "/api/projects", map[string]any{"name": "nope", "namespace": org}), http.StatusForbidden, "")
	wantError(t, xc.do("POST", "/api/projects", map[string]any{"name": "nope", "namespace": org}), http.StatusUnprocessableEntity, "namespace")
	mc.must(http.StatusOK, "GET", "/api/projects/"+oid, nil)
	wantError(t, xc.do("GET", "/api/projects/"+oid, nil), http.StatusNotFound, "")
	wantError(t, xc.do("GET", "/api/projects/"+id, nil), http.StatusNotFound, "")
	wantError(t, mc.do("PUT", "/api/projects/"+oid, map[string]any{"name": "Mine now"}), http.StatusForbidden, "")
	wantError(t, oc.do("GET", "/api/projects/"+"00000000-0000-4000-8000-000000000000", nil), http.StatusNotFound, "")

	// List.
	list := func(c *client, q string) []string {
		t.Helper()
		var out struct {
			Projects []map[string]any `json:"projects"`
			Total    int              `json:"total"`
		}
		c.must(http.StatusOK, "GET", "/api/projects"+q, nil).decode(t, &out)
		if out.Total != len(out.Projects) {
			t.Errorf("total %d for %d projects", out.Total, len(out.Projects))
		}
		var slugs []string
		for _, p := range out.Projects {
			wantProject(t, p)
			slugs = append(slugs, p["slug"].(string))
		}
		return slugs
	}
	if got := list(oc, ""); !slices.Equal(got, []string{"my-app", "my-app-2", "org-site"}) {
		t.Errorf("owner's list %v", got)
	}
	if got := list(mc, ""); !slices.Equal(got, []string{"org-site"}) {
		t.Errorf("member's list %v", got)
	}
	if got := list(oc, "?namespace="+org); !slices.Equal(got, []string{"org-site"}) {
		t.Errorf("namespace filter %v", got)
	}
	if got := list(xc, ""); len(got) != 0 {
		t.Errorf("outsider's list %v", got)
	}
	wantError(t, xc.do("GET", "/api/projects?namespace="+org, nil), http.StatusNotFound, "")
	wantError(t, oc.do("GET", "/api/projects?include_archived=maybe", nil), http.StatusUnprocessableEntity, "include_archived")

	// Update.
	up := ac.must(http.StatusOK, "PUT", "/api/projects/"+oid, map[string]any{"name": "Org Website", "testSuiteEnabled": true,
		"testGateStaging": "required"}).obj(t)
	wantProject(t, up)
	if up["name"] != "Org Website" || up["slug"] != "org-site" || up["testSuiteEnabled"] != true || up["testGateStaging"] != "required" {
		t.Errorf("updated %v", up)
	}
	wantError(t, ac.do("PUT", "/api/projects/"+oid, map[string]any{"name": ""}), http.StatusUnprocessableEntity, "name")
	wantError(t, ac.do("PUT", "/api/projects/"+oid, map[string]any{"testSuiteEnabled": "yes"}), http.StatusUnprocessableEntity, "testSuiteEnabled")
	wantError(t, ac.do("PUT", "/api/projects/"+oid, map[string]any{"testGateProduction": "sometimes"}), http.StatusUnprocessableEntity, "testGateProduction")
	wantError(t, ac.do("PUT", "/api/projects/"+oid, "[1]"), http.StatusBadRequest, "")
	wantError(t, ac.do("PUT", "/api/projects/nope", map[string]any{"name": "x"}), http.StatusNotFound, "")
	if got := mc.must(http.StatusOK, "GET", "/api/projects/"+oid, nil).obj(t); got["name"] != "Org Website" {
		t.Errorf("a refused update changed the project: %v", got["name"])
	}

	// Archive and unarchive.
	wantKeys(t, "archive", oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/archive", nil).obj(t), seedMessageKeys)
	if got := list(oc, ""); slices.Contains(got, "my-app") {
		t.Errorf("archived project listed: %v", got)
	}
	if got := list(oc, "?include_archived=true"); !slices.Contains(got, "my-app") {
		t.Errorf("include_archived: %v", got)
	}
	wantKeys(t, "unarchive", oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/unarchive", nil).obj(t), seedMessageKeys)
	if got := list(oc, ""); !slices.Contains(got, "my-app") {
		t.Errorf("unarchived project not listed: %v", got)
	}
	wantError(t, oc.do("PUT", "/api/projects/nope/archive", nil), http.StatusNotFound, "")
	wantError(t, mc.do("PUT", "/api/projects/"+oid+"/archive", nil), http.StatusForbidden, "")
	wantError(t, xc.do("PUT", "/api/projects/"+id+"/unarchive", nil), http.StatusNotFound, "")

	// Instances.
	inst := oc.must(http.StatusOK, "POST", "/api/projects/"+id+"/instances",
		map[string]any{"name": "Production", "hookUrl": "http://127.0.0.1:9/deploy", "secret": "s3cret-value"})
	wantKeys(t, "link instance", inst.obj(t), seedMessageKeys)
	loc := inst.Header.Get("Location")
	instID := loc[strings.LastIndex(loc, "/")+1:]
	got := oc.must(http.StatusOK, "GET", "/api/projects/"+id, nil).obj(t)
	wantProject(t, got)
	if got["instanceCount"] != 1.0 || got["linkedInstances"].([]any)[0].(map[string]any)["id"] != instID ||
		got["linkedInstances"].([]any)[0].(map[string]any)["slug"] != "production" {
		t.Errorf("after linking: %v (Location %s)", got, loc)
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{}, "instanceId"},
		{map[string]any{"instanceId": "00000000-0000-4000-8000-000000000000"}, "instanceId"},
		{map[string]any{"name": "Bad", "hookUrl": "ftp://example.com/x", "secret": "s3cret-value"}, "hookUrl"},
		{map[string]any{"name": "Bad", "hookUrl": "http://u:p@example.com/x", "secret": "s3cret-value"}, "hookUrl"},
		{map[string]any{"name": "Bad", "hookUrl": "http://example.com/x", "secret": "short"}, "secret"},
		{map[string]any{"name": "", "hookUrl": "http://example.com/x", "secret": "s3cret-value"}, "name"},
	} {
		wantError(t, oc.do("POST", "/api/projects/"+id+"/instances", c.body), http.StatusUnprocessableEntity, c.field)
	}
	wantError(t, oc.do("POST", "/api/projects/"+id+"/instances", "{"), http.StatusBadRequest, "")
	wantError(t, oc.do("POST", "/api/projects/nope/instances", map[string]any{"instanceId": instID}), http.StatusNotFound, "")
	// The namespace's instance links to its other project by id.
	var p2 string
	for _, p := range oc.must(http.StatusOK, "GET", "/api/projects", nil).obj(t)["projects"].([]any) {
		if p.(map[string]any)["slug"] == "my-app-2" {
			p2 = p.(map[string]any)["id"].(string)
		}
	}
	oc.must(http.StatusOK, "POST", "/api/projects/"+p2+"/instances", map[string]any{"instanceId": instID})
	// Not across namespaces.
	wantError(t, ac.do("POST", "/api/projects/"+oid+"/instances", map[string]any{"instanceId": instID}), http.StatusUnprocessableEntity, "instanceId")

	// Branch mappings.
	wantError(t, oc.do("PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": "00000000-0000-4000-8000-000000000000"}}}), http.StatusUnprocessableEntity, "instanceId")
	wantError(t, oc.do("PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "", "instanceId": instID}}}), http.StatusUnprocessableEntity, "branchPattern")
	wantError(t, oc.do("PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": instID, "priority": "high"}}}), http.StatusUnprocessableEntity, "priority")
	wantError(t, oc.do("PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{}), http.StatusUnprocessableEntity, "mappings")
	wantError(t, oc.do("PUT", "/api/projects/"+id+"/branch-mappings", "nope"), http.StatusBadRequest, "")
	wantError(t, oc.do("PUT", "/api/projects/nope/branch-mappings", map[string]any{"mappings": []any{}}), http.StatusNotFound, "")
	wantError(t, oc.do("GET", "/api/projects/nope/branch-mappings", nil), http.StatusNotFound, "")
	if ms := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branch-mappings", nil).list(t); len(ms) != 0 {
		t.Errorf("refused mappings were stored: %v", ms)
	}
	ms := oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": instID, "priority": 10},
		map[string]any{"branchPattern": "release/*", "instanceId": instID},
	}}).list(t)
	if len(ms) != 2 || ms[0]["branchPattern"] != "main" || ms[0]["priority"] != 10.0 || ms[0]["instanceId"] != instID {
		t.Errorf("mappings %v", ms)
	}
	for _, m := range ms {
		wantKeys(t, "mapping", m, seedMappingKeys)
	}
	if again := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branch-mappings", nil).list(t); len(again) != 2 {
		t.Errorf("GET mappings %v", again)
	}
	wantError(t, mc.do("PUT", "/api/projects/"+oid+"/branch-mappings", map[string]any{"mappings": []any{}}), http.StatusForbidden, "")

	// Clone: settings and mappings, no instances, no repository.
	cl := oc.must(http.StatusCreated, "POST", "/api/projects/"+id+"/clone", nil).obj(t)
	wantProject(t, cl)
	if cl["name"] != "My App (copy)" || cl["slug"] != "my-app-copy" || cl["description"] != "the shop" ||
		len(cl["branchMappings"].([]any)) != 2 || cl["instanceCount"] != 0.0 || cl["gitRepository"] != nil || cl["id"] == id {
		t.Errorf("clone %v", cl)
	}
	wantError(t, oc.do("POST", "/api/projects/"+id+"/clone", map[string]any{"name": "Again", "slug": "my-app"}), http.StatusConflict, "slug")
	wantError(t, oc.do("POST", "/api/projects/nope/clone", nil), http.StatusNotFound, "")
	wantError(t, mc.do("POST", "/api/projects/"+oid+"/clone", nil), http.StatusForbidden, "")

	// Unlink: the project's mappings to the instance go with it.
	wantKeys(t, "unlink", oc.must(http.StatusOK, "DELETE", "/api/projects/"+id+"/instances/"+instID, nil).obj(t), seedMessageKeys)
	if ms := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branch-mappings", nil).list(t); len(ms) != 0 {
		t.Errorf("mappings to an unlinked instance remain: %v", ms)
	}
	wantError(t, oc.do("DELETE", "/api/projects/"+id+"/instances/"+instID, nil), http.StatusNotFound, "")
	wantError(t, oc.do("DELETE", "/api/projects/nope/instances/"+instID, nil), http.StatusNotFound, "")

	// A project's member reads the refs of its repository only when they
	// can read the repository.
	ac.createRepo(map[string]any{"name": "private-site", "private": true})
	ac.must(http.StatusCreated, "POST", "/api/projects/"+oid+"/repository", map[string]any{"repoOwner": admin.Name, "repoName": "private-site"})
	ac.must(http.StatusOK, "GET", "/api/projects/"+oid+"/branches", nil)
	wantError(t, mc.do("GET", "/api/projects/"+oid+"/branches", nil), http.StatusNotFound, "")
	wantError(t, mc.do("GET", "/api/projects/"+oid+"/tags", nil), http.StatusNotFound, "")
	wantError(t, oc.do("POST", "/api/projects/"+id+"/repository", map[string]any{"repoOwner": admin.Name, "repoName": "private-site"}),
		http.StatusUnprocessableEntity, "repoName")

	// Delete.
	wantError(t, mc.do("DELETE", "/api/projects/"+oid, nil), http.StatusForbidden, "")
	oc.must(http.StatusNoContent, "DELETE", "/api/projects/"+id, nil)
	wantError(t, oc.do("GET", "/api/projects/"+id, nil), http.StatusNotFound, "")
	wantError(t, oc.do("DELETE", "/api/projects/"+id, nil), http.StatusNotFound, "")

	// Unknown paths and methods under the prefixes answer JSON.
	wantError(t, oc.do("GET", "/api/projects/"+oid+"/nothing", nil), http.StatusNotFound, "")
	wantError(t, oc.do("PATCH", "/api/projects/"+oid, nil), http.StatusMethodNotAllowed, "")
}

// newProject creates a project for c and returns its id.
func newProject(t *testing.T, c *client, name string) string {
	t.Helper()
	return c.must(http.StatusCreated, "POST", "/api/projects", map[string]any{"name": name}).obj(t)["id"].(string)
}

// linkInstance creates an instance of project id notified at url.
func linkInstance(t *testing.T, c *client, id, name, url, secret string) string {
	t.Helper()
	loc := c.must(http.StatusOK, "POST", "/api/projects/"+id+"/instances",
		map[string]any{"name": name, "hookUrl": url, "secret": secret}).Header.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:]
}

// TestProjectFollowsTapiocaRepository: a project connected to a Tapioca
// repository; a push to a mapped branch notifies the highest-priority
// instance once, signed, after a failing attempt; an unmapped branch
// notifies nobody; the repository endpoints and their errors.
func TestProjectFollowsTapiocaRepository(t *testing.T) {
	t.Parallel()
	srv := projectServer(t)
	rc := newDeployReceiver(t)
	owner, outsider := srv.register(t, "tr"), srv.register(t, "tx")
	oc, xc := srv.as(t, owner.Token), srv.as(t, outsider.Token)
	oc.createRepo(map[string]any{"name": "site"})
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	commitFile(t, work, "index.html", "v1", "first page")
	runGit(t, work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "site"), "main")

	id := newProject(t, oc, "Site")
	repoPath := "/api/projects/" + id + "/repository"
	// Connection errors change nothing.
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoOwner": owner.Name, "repoName": "nope"}), http.StatusUnprocessableEntity, "repoName")
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoUrl": srv.URL + "/just-one-part"}), http.StatusUnprocessableEntity, "repoUrl")
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoUrl": "ftp://example.com/a/b"}), http.StatusUnprocessableEntity, "repoUrl")
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoUrl": "https://example.com/a/b", "authType": "token"}), http.StatusUnprocessableEntity, "accessToken")
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoUrl": "https://example.com/a/b", "authType": "magic"}), http.StatusUnprocessableEntity, "authType")
	wantError(t, oc.do("POST", repoPath, `{"repoUrl": `), http.StatusBadRequest, "")
	wantError(t, oc.do("POST", "/api/projects/nope/repository", map[string]any{"repoOwner": owner.Name, "repoName": "site"}), http.StatusNotFound, "")
	wantError(t, xc.do("POST", repoPath, map[string]any{"repoOwner": owner.Name, "repoName": "site"}), http.StatusNotFound, "")
	wantError(t, oc.do("GET", "/api/projects/"+id+"/branches", nil), http.StatusNotFound, "")
	if p := oc.must(http.StatusOK, "GET", "/api/projects/"+id, nil).obj(t); p["gitRepository"] != nil {
		t.Fatalf("a refused connection was stored: %v", p["gitRepository"])
	}

	// By clone URL.
	gr := oc.must(http.StatusCreated, "POST", repoPath, map[string]any{"repoUrl": srv.URL + "/" + owner.Name + "/site.git"}).obj(t)
	wantKeys(t, "connect", gr, seedRepoKeys)
	if gr["provider"] != "tapioca" || gr["repoOwner"] != owner.Name || gr["repoName"] != "site" || gr["defaultBranch"] != "main" ||
		gr["syncStatus"] != "synced" || gr["hasWebhook"] != true || gr["hasAccessToken"] != false || gr["syncError"] != nil {
		t.Errorf("connected %v", gr)
	}
	wantError(t, oc.do("POST", repoPath, map[string]any{"repoOwner": owner.Name, "repoName": "site"}), http.StatusConflict, "")

	prod := linkInstance(t, oc, id, "Production", rc.instance("/prod", "prod-secret", 1), "prod-secret")
	catchAll := linkInstance(t, oc, id, "Preview", rc.instance("/preview", "preview-secret", 0), "preview-secret")
	oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "release/**", "instanceId": catchAll, "priority": 1},
		map[string]any{"branchPattern": "main", "instanceId": prod, "priority": 10},
		map[string]any{"branchPattern": "ma*", "instanceId": catchAll, "priority": 5},
	}})

	old := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	commitFile(t, work, "index.html", "v2", "second page")
	runGit(t, work, "branch", "dev")
	runGit(t, work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "site"), "main", "dev")
	head := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	got := rc.wait("/prod", 1)
	n := got[0]
	if n.Branch != "main" || n.OldSHA != old || n.NewSHA != head || n.CommitMessage != "second page\n" || n.Pusher == nil ||
		n.Pusher.Username != owner.Name || n.Project.ID != id || n.Instance.ID != prod || n.Source != "push" ||
		n.Repository.Name != "site" || n.Event != "deploy" {
		t.Errorf("notification %+v", n)
	}
	// Once: the failed attempt was retried, and no other instance or
	// branch was notified (the outbox is written before the push ends).
	ds, err := srv.App.Store().ListProjectDeliveries(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Branch != "main" {
		t.Errorf("deliveries %+v", ds)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _ = srv.App.Store().ListProjectDeliveries(t.Context(), 10)
		if ds[0].Status == "succeeded" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ds[0].Status != "succeeded" || ds[0].Attempts != 2 {
		t.Errorf("delivery %+v, want succeeded on the second attempt", ds[0])
	}
	if rc.count("/prod") != 1 || rc.count("/preview") != 0 {
		t.Errorf("prod got %d, preview %d", rc.count("/prod"), rc.count("/preview"))
	}
	// The dashboard's deploy notifications page shows it.
	dash := newDashClient(t, srv)
	dash.signIn("admin", srv.AdminPW)
	if pg := dash.get("/admin/deployments"); pg.Status != http.StatusOK || !strings.Contains(pg.Body, owner.Name+"/Site") ||
		!strings.Contains(pg.Body, "Production") || !strings.Contains(pg.Body, "Delivered") || !strings.Contains(pg.Body, head[:7]) {
		t.Errorf("deployments page %d:\n%s", pg.Status, pg.Body)
	}

	// Branches and tags.
	runGit(t, work, "tag", "-a", "v1.0", "-m", "release")
	runGit(t, work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "site"), "v1.0")
	bs := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branches", nil).list(t)
	if len(bs) != 2 || bs[0]["name"] != "dev" || bs[1]["name"] != "main" || bs[1]["isDefault"] != true || bs[1]["commitSha"] != head {
		t.Errorf("branches %v", bs)
	}
	tags := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/tags", nil).list(t)
	if len(tags) != 1 || tags[0]["name"] != "v1.0" || tags[0]["commitSha"] != head {
		t.Errorf("tags %v", tags)
	}
	wantError(t, xc.do("GET", "/api/projects/"+id+"/tags", nil), http.StatusNotFound, "")

	// Sync notices a rename; the org-scoped routes take the namespace's
	// name or id and refuse any other.
	oc.must(http.StatusOK, "PATCH", "/api/v1/repos/"+owner.Name+"/site", map[string]any{"name": "website"})
	orgPath := "/api/orgs/" + owner.Name + "/projects/" + id + "/repository"
	st := oc.must(http.StatusOK, "POST", orgPath+"/sync", nil).obj(t)
	if st["syncStatus"] != "synced" || st["repoName"] != "website" || !strings.HasSuffix(st["repoUrl"].(string), "/website.git") {
		t.Errorf("sync %v", st)
	}
	st = oc.must(http.StatusOK, "GET", "/api/orgs/"+itoa(int(owner.ID))+"/projects/"+id+"/repository/sync/status", nil).obj(t)
	if st["syncStatus"] != "synced" || st["lastSyncedAt"] == nil || st["syncError"] != nil {
		t.Errorf("status %v", st)
	}
	wantError(t, oc.do("POST", "/api/orgs/"+outsider.Name+"/projects/"+id+"/repository/sync", nil), http.StatusNotFound, "")
	wantError(t, oc.do("POST", "/api/orgs/"+owner.Name+"/projects/nope/repository/sync", nil), http.StatusNotFound, "")
	wantError(t, xc.do("GET", orgPath+"/sync/status", nil), http.StatusNotFound, "")
	v := oc.must(http.StatusOK, "POST", orgPath+"/validate", nil).obj(t)
	if v["valid"] != true || v["reason"] != nil || v["defaultBranch"] != "main" {
		t.Errorf("validate %v", v)
	}
	wantError(t, oc.do("POST", orgPath+"/validate", map[string]any{"repoUrl": "nonsense"}), http.StatusUnprocessableEntity, "repoUrl")
	wantError(t, oc.do("POST", orgPath+"/validate", "{"), http.StatusBadRequest, "")
	wantError(t, oc.do("POST", "/api/orgs/"+owner.Name+"/projects/nope/repository/validate", nil), http.StatusNotFound, "")

	// A deploy key: public key shown, private key sealed at rest, and the
	// repository's read-only deploy key.
	k := oc.must(http.StatusOK, "POST", repoPath+"/regenerate-key", nil).obj(t)
	wantKeys(t, "regenerate-key", k, seedRepoKeys, "publicKey")
	pub, _ := k["publicKey"].(string)
	if !strings.HasPrefix(pub, "ssh-ed25519 ") || k["hasDeployKey"] != true {
		t.Errorf("regenerated %v", k)
	}
	keys := oc.must(http.StatusOK, "GET", "/api/v1/repos/"+owner.Name+"/website/keys", nil).list(t)
	if len(keys) != 1 || !strings.HasPrefix(pub, keys[0]["key"].(string)) || keys[0]["read_only"] != true {
		t.Errorf("deploy keys %v (public %s)", keys, pub)
	}
	var sealed string
	if err := srv.App.Store().DB().QueryRow(`SELECT deploy_private_key FROM project_repos`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if sealed == "" || strings.Contains(sealed, "PRIVATE KEY") {
		t.Errorf("private key stored as %q", sealed[:min(len(sealed), 40)])
	}
	k2 := oc.must(http.StatusOK, "POST", repoPath+"/regenerate-key", nil).obj(t)
	if k2["publicKey"] == pub || len(oc.must(http.StatusOK, "GET", "/api/v1/repos/"+owner.Name+"/website/keys", nil).list(t)) != 1 {
		t.Errorf("a regenerated key did not replace the old one")
	}
	wantKeys(t, "reconfigure-webhook", oc.must(http.StatusOK, "POST", repoPath+"/reconfigure-webhook", nil).obj(t), seedRepoKeys)
	wantError(t, oc.do("POST", "/api/projects/nope/repository/regenerate-key", nil), http.StatusNotFound, "")
	wantError(t, oc.do("POST", "/api/projects/nope/repository/reconfigure-webhook", nil), http.StatusNotFound, "")

	// Settings.
	u := oc.must(http.StatusOK, "PUT", repoPath, map[string]any{"defaultBranch": "dev"}).obj(t)
	wantKeys(t, "update repository", u, seedRepoKeys)
	if u["defaultBranch"] != "dev" {
		t.Errorf("updated %v", u)
	}
	wantError(t, oc.do("PUT", repoPath, map[string]any{"pollingEnabled": true}), http.StatusUnprocessableEntity, "pollingEnabled")
	wantError(t, oc.do("PUT", repoPath, map[string]any{"defaultBranch": "bad..name"}), http.StatusUnprocessableEntity, "defaultBranch")
	wantError(t, oc.do("PUT", repoPath, "{"), http.StatusBadRequest, "")
	wantError(t, oc.do("PUT", "/api/projects/nope/repository", map[string]any{}), http.StatusNotFound, "")

	// Disconnect takes the deploy key with it.
	oc.must(http.StatusNoContent, "DELETE", repoPath, nil)
	wantError(t, oc.do("DELETE", repoPath, nil), http.StatusNotFound, "")
	if p := oc.must(http.StatusOK, "GET", "/api/projects/"+id, nil).obj(t); p["gitRepository"] != nil {
		t.Errorf("still connected: %v", p["gitRepository"])
	}
	if keys := oc.must(http.StatusOK, "GET", "/api/v1/repos/"+owner.Name+"/website/keys", nil).list(t); len(keys) != 0 {
		t.Errorf("deploy key left behind: %v", keys)
	}
}

// TestProjectFollowsUpstream: a project connected to an upstream (a
// second Tapioca): sync, status, branches, tags, validate with a bad
// token, a branch moved upstream notifying after the next sync (and
// after the upstream's webhook call). Over SSH: ocore_ssh_test.go.
func TestProjectFollowsUpstream(t *testing.T) {
	t.Parallel()
	upstream := newServer(t, nil)
	srv := projectServer(t)
	rc := newDeployReceiver(t)
	up := upstream.register(t, "up")
	upstream.as(t, up.Token).createRepo(map[string]any{"name": "lib", "private": true})
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	commitFile(t, work, "lib.go", "package lib", "start")
	runGit(t, work, "tag", "v0.1")
	pushURL := upstream.gitURL(up.Token, up.Name, "lib")
	runGit(t, work, "push", "-q", pushURL, "main", "v0.1")
	first := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))

	owner := srv.register(t, "dep")
	oc := srv.as(t, owner.Token)
	id := newProject(t, oc, "Lib")
	libURL := upstream.URL + "/" + up.Name + "/lib.git"

	// A bad token: connected, and the sync's error says why.
	bad := newProject(t, oc, "Lib bad token")
	gr := oc.must(http.StatusCreated, "POST", "/api/projects/"+bad+"/repository", map[string]any{"repoUrl": libURL, "accessToken": "not-a-token"}).obj(t)
	if gr["syncStatus"] != "error" || gr["syncError"] == nil || gr["hasAccessToken"] != true || gr["authType"] != "token" {
		t.Errorf("bad token connection %v", gr)
	}

	gr = oc.must(http.StatusCreated, "POST", "/api/projects/"+id+"/repository", map[string]any{"repoUrl": libURL, "accessToken": up.Token}).obj(t)
	wantKeys(t, "connect upstream", gr, seedRepoKeys)
	if gr["syncStatus"] != "synced" || gr["provider"] != "git" || gr["repoOwner"] != up.Name || gr["repoName"] != "lib" ||
		gr["defaultBranch"] != "main" || gr["hasAccessToken"] != true || gr["lastSyncedAt"] == nil {
		t.Errorf("connected %v", gr)
	}
	if bs := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branches", nil).list(t); len(bs) != 1 || bs[0]["name"] != "main" || bs[0]["commitSha"] != first {
		t.Errorf("branches %v", bs)
	}
	if tags := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/tags", nil).list(t); len(tags) != 1 || tags[0]["name"] != "v0.1" || tags[0]["commitSha"] != first {
		t.Errorf("tags %v", tags)
	}
	orgPath := "/api/orgs/" + owner.Name + "/projects/" + id + "/repository"
	v := oc.must(http.StatusOK, "POST", orgPath+"/validate", map[string]any{"accessToken": "wrong-token"}).obj(t)
	if v["valid"] != false || !strings.Contains(v["reason"].(string), "credentials") {
		t.Errorf("validate with a bad token %v", v)
	}
	if v := oc.must(http.StatusOK, "POST", orgPath+"/validate", nil).obj(t); v["valid"] != true || v["branchCount"] != 1.0 {
		t.Errorf("validate %v", v)
	}

	prod := linkInstance(t, oc, id, "Prod", rc.instance("/lib-prod", "lib-prod-secret", 0), "lib-prod-secret")
	oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": prod}}})
	// Connecting notified nobody: the first sync is the baseline.
	commitFile(t, work, "lib.go", "package lib // v2", "second")
	runGit(t, work, "push", "-q", pushURL, "main")
	second := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	if rc.count("/lib-prod") != 0 {
		t.Fatal("notified before a sync")
	}
	st := oc.must(http.StatusOK, "POST", orgPath+"/sync", nil).obj(t)
	if st["syncStatus"] != "synced" {
		t.Errorf("sync %v", st)
	}
	n := rc.wait("/lib-prod", 1)[0]
	if n.Branch != "main" || n.OldSHA != first || n.NewSHA != second || n.CommitMessage != "second\n" || n.Pusher != nil || n.Source != "sync" {
		t.Errorf("notification %+v", n)
	}
	// A second sync with nothing new notifies nobody.
	oc.must(http.StatusOK, "POST", orgPath+"/sync", nil)
	if st := oc.must(http.StatusOK, "GET", orgPath+"/sync/status", nil).obj(t); st["syncStatus"] != "synced" || st["lastPolledAt"] == nil {
		t.Errorf("status %v", st)
	}

	// The upstream's webhook: a signed call syncs; a bad signature is refused.
	wh := oc.must(http.StatusOK, "POST", "/api/projects/"+id+"/repository/reconfigure-webhook", nil).obj(t)
	wantKeys(t, "reconfigure-webhook", wh, seedRepoKeys, "webhookUrl", "webhookSecret")
	hookURL, secret := wh["webhookUrl"].(string), wh["webhookSecret"].(string)
	if wh["hasWebhook"] != true || !strings.HasPrefix(hookURL, srv.URL+"/api/project-hooks/") || len(secret) < 16 {
		t.Errorf("webhook %v", wh)
	}
	commitFile(t, work, "lib.go", "package lib // v3", "third")
	runGit(t, work, "push", "-q", pushURL, "main")
	third := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	body := []byte(`{"ref": "refs/heads/main"}`)
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", hookURL, strings.NewReader(string(body)))
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=00"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: %d", code)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if code := post("sha256=" + hex.EncodeToString(m.Sum(nil))); code != http.StatusAccepted {
		t.Errorf("signed webhook: %d", code)
	}
	if n := rc.wait("/lib-prod", 2)[1]; n.OldSHA != second || n.NewSHA != third {
		t.Errorf("after the webhook %+v", n)
	}

	// Polling: the mirror is scheduled.
	if u := oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/repository", map[string]any{"pollingEnabled": true}).obj(t); u["pollingEnabled"] != true {
		t.Errorf("polling %v", u)
	}

	// Disconnecting the last follower removes the mirror.
	oc.must(http.StatusNoContent, "DELETE", "/api/projects/"+bad, nil)
	oc.must(http.StatusNoContent, "DELETE", "/api/projects/"+id+"/repository", nil)
	var mirrors int
	if err := srv.App.Store().DB().QueryRow(`SELECT COUNT(*) FROM mirrors`).Scan(&mirrors); err != nil {
		t.Fatal(err)
	}
	if mirrors != 0 {
		t.Errorf("%d mirrors left", mirrors)
	}
}
