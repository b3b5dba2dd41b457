package handlers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
)

// hookReceiver is a webhook receiver on 127.0.0.1 that verifies every
// signature exactly as the seed's Python does and records what arrives.
type hookReceiver struct {
	*httptest.Server
	secret string

	mu       sync.Mutex
	got      []hookDelivery
	changed  chan struct{}
	respond  func(n int) int // status for the n-th request (1-based); nil = 200
	requests int
}

// hookDelivery is one request the receiver got.
type hookDelivery struct {
	Event, GUID, Signature, UserAgent, ContentType string
	SignatureOK                                    bool
	Status                                         int // what the receiver answered
	Body                                           []byte
	Payload                                        map[string]any
}

func newReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	return newReceiverFunc(t, secret, nil)
}

// newReceiverFunc is a receiver that answers the n-th request (1-based)
// with respond(n).
func newReceiverFunc(t *testing.T, secret string, respond func(n int) int) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{secret: secret, changed: make(chan struct{}, 1), respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

// verifySignature is the seed's verify_signature:
//
//	expected = hmac.new(secret.encode(), payload_body, hashlib.sha256).hexdigest()
//	return hmac.compare_digest(f"sha256={expected}", signature_header)
func verifySignature(body []byte, secret, header string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	expected := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte("sha256="+expected), []byte(header))
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := hookDelivery{
		Event: r.Header.Get("X-CodeBoba-Event"), GUID: r.Header.Get("X-CodeBoba-Delivery"),
		Signature: r.Header.Get("X-CodeBoba-Signature"), UserAgent: r.Header.Get("User-Agent"),
		ContentType: r.Header.Get("Content-Type"), Body: body,
	}
	d.SignatureOK = verifySignature(body, rc.secret, d.Signature)
	_ = json.Unmarshal(body, &d.Payload)
	rc.mu.Lock()
	rc.requests++
	d.Status = http.StatusOK
	if rc.respond != nil {
		d.Status = rc.respond(rc.requests)
	}
	rc.got = append(rc.got, d)
	rc.mu.Unlock()
	select {
	case rc.changed <- struct{}{}:
	default:
	}
	w.Header().Set("X-Receiver", "test")
	w.WriteHeader(d.Status)
	fmt.Fprintf(w, "answered %d", d.Status)
}

// all returns a copy of everything received.
func (rc *hookReceiver) all() []hookDelivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookDelivery(nil), rc.got...)
}

// waitFor waits until match accepts a received delivery and returns it.
func (rc *hookReceiver) waitFor(t *testing.T, what string, match func(hookDelivery) bool) hookDelivery {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		for _, d := range rc.all() {
			if match(d) {
				return d
			}
		}
		select {
		case <-rc.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			var seen []string
			for _, d := range rc.all() {
				seen = append(seen, d.Event+"/"+fmt.Sprint(d.Payload["action"]))
			}
			t.Fatalf("no %s delivery arrived; got %v", what, seen)
		}
	}
}

// waitEvent waits for an event (and action, if not "") whose payload
// passes check (nil = any).
func (rc *hookReceiver) waitEvent(t *testing.T, event, action string, check func(map[string]any) bool) hookDelivery {
	t.Helper()
	return rc.waitFor(t, event+"/"+action, func(d hookDelivery) bool {
		return d.Event == event && (action == "" || d.Payload["action"] == action) && (check == nil || check(d.Payload))
	})
}

// waitStatus polls a delivery until it reaches status.
func waitStatus(t *testing.T, c *client, path, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d := c.must(http.StatusOK, "GET", path, nil).obj(t)
		if d["status"] == status {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s: status %v, want %s: %v", path, d["status"], status, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhookCRUD(t *testing.T) {
	t.Parallel()
	u, other := shared.register(t, "hookcrud"), shared.register(t, "hookother")
	me, them := shared.as(t, u.Token), shared.as(t, other.Token)
	const base = "/api/v1/user/webhooks"

	// Defaults as the seed: json, ["push"], active; the secret is never shown.
	h := me.must(http.StatusCreated, "POST", base, map[string]any{"url": "https://example.com/webhook", "secret": "whsec_mysecretkey"}).obj(t)
	for k, want := range map[string]any{"url": "https://example.com/webhook", "content_type": "json", "active": true} {
		if h[k] != want {
			t.Errorf("%s = %v, want %v", k, h[k], want)
		}
	}
	if ev, _ := json.Marshal(h["events"]); string(ev) != `["push"]` {
		t.Errorf("events %s", ev)
	}
	if _, ok := h["secret"]; ok {
		t.Errorf("secret returned: %v", h)
	}
	if h["created_at"] == nil || h["created_at"] != h["updated_at"] || !strings.HasSuffix(h["created_at"].(string), "Z") {
		t.Errorf("timestamps %v %v", h["created_at"], h["updated_at"])
	}
	id := ftoa(h["id"].(float64))

	h2 := me.must(http.StatusCreated, "POST", base, map[string]any{"url": "http://10.0.0.5:8080/hook", "events": []string{"push", "pull_request", "push"}, "active": false}).obj(t)
	if ev, _ := json.Marshal(h2["events"]); string(ev) != `["push","pull_request"]` || h2["active"] != false {
		t.Errorf("second hook %v", h2)
	}
	// GitHub's nested config form works too.
	h3 := me.must(http.StatusCreated, "POST", base, map[string]any{"config": map[string]any{"url": "https://ci.example.com/x", "content_type": "form"}, "events": []string{"issues"}}).obj(t)
	if h3["url"] != "https://ci.example.com/x" || h3["content_type"] != "form" {
		t.Errorf("config form %v", h3)
	}

	l := me.must(http.StatusOK, "GET", base, nil)
	if list := l.list(t); len(list) != 3 || list[0]["id"] != h["id"] || l.Header.Get("X-Total-Count") != "3" {
		t.Errorf("list %s", l.Body)
	}
	if got := me.must(http.StatusOK, "GET", base+"/"+id, nil).obj(t); got["url"] != h["url"] || got["secret"] != nil {
		t.Errorf("get %v", got)
	}

	// PATCH changes only what is given.
	p := me.must(http.StatusOK, "PATCH", base+"/"+id, map[string]any{"active": false}).obj(t)
	if p["active"] != false || p["url"] != h["url"] || p["content_type"] != "json" {
		t.Errorf("patch active %v", p)
	}
	p = me.must(http.StatusOK, "PATCH", base+"/"+id, map[string]any{"events": []string{"issues", "issue_comment"}, "secret": nil}).obj(t)
	if ev, _ := json.Marshal(p["events"]); string(ev) != `["issues","issue_comment"]` || p["active"] != false {
		t.Errorf("patch events %v", p)
	}

	// Validation: 422 with field errors, nothing changed.
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"url": "ftp://example.com/x"}, "url"},
		{map[string]any{"url": "not a url"}, "url"},
		{map[string]any{"url": ""}, "url"},
		{map[string]any{}, "url"},
		{map[string]any{"url": "https://example.com", "events": []string{"push", "deploy"}}, "events"},
		{map[string]any{"url": "https://example.com", "events": []string{}}, "events"},
		{map[string]any{"url": "https://example.com", "events": "push"}, "events"},
		{map[string]any{"url": "https://example.com", "content_type": "xml"}, "content_type"},
		{map[string]any{"url": "https://example.com", "active": "yes"}, "active"},
		{map[string]any{"url": "https://example.com", "secret": strings.Repeat("s", 300)}, "secret"},
	} {
		r := me.do("POST", base, tc.body)
		var e struct {
			Error  string              `json:"error"`
			Errors map[string][]string `json:"errors"`
		}
		r.decode(t, &e)
		if r.Status != http.StatusUnprocessableEntity || e.Error != "Validation failed" || len(e.Errors[tc.field]) == 0 {
			t.Errorf("POST %v: %d %s, want 422 on %s", tc.body, r.Status, r.Body, tc.field)
		}
	}
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/"+id, map[string]any{"url": "javascript:alert(1)"})
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/"+id, map[string]any{"events": []string{"star"}})
	me.must(http.StatusBadRequest, "POST", base, "{not json")
	if got := me.must(http.StatusOK, "GET", base+"/"+id, nil).obj(t); got["url"] != h["url"] {
		t.Errorf("failed PATCH changed the hook: %v", got)
	}
	if n := len(me.must(http.StatusOK, "GET", base, nil).list(t)); n != 3 {
		t.Errorf("failed POSTs created hooks: %d", n)
	}

	// Another user's hook is a 404, whatever the method; anonymous is 401.
	them.must(http.StatusNotFound, "GET", base+"/"+id, nil)
	them.must(http.StatusNotFound, "PATCH", base+"/"+id, map[string]any{"active": true})
	them.must(http.StatusNotFound, "DELETE", base+"/"+id, nil)
	them.must(http.StatusNotFound, "GET", base+"/"+id+"/deliveries", nil)
	them.must(http.StatusNotFound, "POST", base+"/"+id+"/pings", nil)
	if n := len(them.must(http.StatusOK, "GET", base, nil).list(t)); n != 0 {
		t.Errorf("other user sees %d hooks", n)
	}
	shared.as(t, "").must(http.StatusUnauthorized, "GET", base, nil)
	shared.as(t, "").must(http.StatusUnauthorized, "POST", base, map[string]any{"url": "https://example.com"})
	me.must(http.StatusNotFound, "GET", base+"/abc", nil)
	me.must(http.StatusNotFound, "GET", base+"/999999", nil)

	me.must(http.StatusNoContent, "DELETE", base+"/"+id, nil)
	me.must(http.StatusNotFound, "GET", base+"/"+id, nil)
	me.must(http.StatusNotFound, "DELETE", base+"/"+id, nil)

	// At most 20 hooks per account.
	for i := len(me.must(http.StatusOK, "GET", base, nil).list(t)); i < 20; i++ {
		me.must(http.StatusCreated, "POST", base, map[string]any{"url": fmt.Sprintf("https://example.com/%d", i)})
	}
	r := me.must(http.StatusUnprocessableEntity, "POST", base, map[string]any{"url": "https://example.com/21"})
	if !strings.Contains(string(r.Body), `"base"`) {
		t.Errorf("limit body %s", r.Body)
	}
}

func TestOrgWebhooks(t *testing.T) {
	t.Parallel()
	owner, admin, member, outsider := shared.register(t, "ohown"), shared.register(t, "ohadm"), shared.register(t, "ohmem"), shared.register(t, "ohout")
	me := shared.as(t, owner.Token)
	org := uniqueName("hookorg")
	me.must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{"username": org})
	me.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+admin.Name, map[string]any{"role": "admin"})
	me.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+member.Name, map[string]any{"role": "member"})
	base := "/api/v1/orgs/" + org + "/webhooks"

	orgRC, userRC := newReceiver(t, "org-secret"), newReceiver(t, "user-secret")
	h := shared.as(t, admin.Token).must(http.StatusCreated, "POST", base, map[string]any{"url": orgRC.URL, "secret": "org-secret", "events": []string{"issues"}}).obj(t)
	id := ftoa(h["id"].(float64))
	me.must(http.StatusOK, "GET", base+"/"+id, nil)
	if l := me.must(http.StatusOK, "GET", base, nil).list(t); len(l) != 1 {
		t.Errorf("org hooks %v", l)
	}
	// Members and outsiders: 403; anonymous 401; an org hook id is not a user hook.
	shared.as(t, member.Token).must(http.StatusForbidden, "GET", base, nil)
	shared.as(t, member.Token).must(http.StatusForbidden, "POST", base, map[string]any{"url": "https://example.com"})
	shared.as(t, outsider.Token).must(http.StatusForbidden, "GET", base+"/"+id, nil)
	shared.as(t, "").must(http.StatusUnauthorized, "GET", base, nil)
	me.must(http.StatusNotFound, "GET", "/api/v1/user/webhooks/"+id, nil)
	me.must(http.StatusNotFound, "GET", "/api/v1/orgs/"+uniqueName("nope")+"/webhooks", nil)
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/"+id, map[string]any{"events": []string{"nope"}})

	// The owner's personal hook does not fire for the org's repositories;
	// the org's hook does, and not for the owner's own repositories.
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": userRC.URL, "secret": "user-secret", "events": []string{"issues"}})
	me.must(http.StatusCreated, "POST", "/api/v1/orgs/"+org+"/repos", map[string]any{"name": "svc"})
	me.createRepo(map[string]any{"name": "mine"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+org+"/svc/issues", map[string]any{"title": "org issue"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+owner.Name+"/mine/issues", map[string]any{"title": "own issue"})
	d := orgRC.waitEvent(t, "issues", "opened", nil)
	if !d.SignatureOK || d.Payload["repository"].(map[string]any)["full_name"] != org+"/svc" {
		t.Errorf("org delivery %v", d.Payload)
	}
	if o := d.Payload["repository"].(map[string]any)["owner"].(map[string]any); o["kind"] != "organization" {
		t.Errorf("org repo owner %v", o)
	}
	u := userRC.waitEvent(t, "issues", "opened", nil)
	if u.Payload["repository"].(map[string]any)["full_name"] != owner.Name+"/mine" {
		t.Errorf("user delivery %v", u.Payload)
	}
	time.Sleep(200 * time.Millisecond)
	if n, m := len(orgRC.all()), len(userRC.all()); n != 1 || m != 1 {
		t.Errorf("org receiver got %d, user receiver got %d deliveries; want 1 each", n, m)
	}
	if l := me.must(http.StatusOK, "GET", base+"/"+id+"/deliveries", nil).list(t); len(l) != 1 || l[0]["event"] != "issues" {
		t.Errorf("org hook deliveries %v", l)
	}
	shared.as(t, admin.Token).must(http.StatusNoContent, "DELETE", base+"/"+id, nil)
}

// TestWebhookEvents drives every event type from the real git client and
// the API and checks each arrives signed, with the seed's payload shape.
func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "hookev")
	me := shared.as(t, u.Token)
	rc := newReceiver(t, "whsec_events")
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL + "/hook", "secret": "whsec_events",
		"events": []string{"push", "pull_request", "issues", "issue_comment", "create", "delete"}})
	repo := me.createRepo(map[string]any{"name": "evlib", "auto_init": true})
	repoID := repo["id"].(float64)
	api := "/api/v1/repos/" + u.Name + "/evlib"

	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "evlib"), "w")
	work := dir + "/w"
	before := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	commitFile(t, work, "a.txt", "one\n", "Fix widget crash")
	// The second commit's author email is the account's, so its "author"
	// is the username; the first's is not, so it is the git name.
	commitFile(t, work, "b.txt", "two\n", "Add JSON output")
	runGit(t, work, "commit", "-q", "--amend", "--no-edit", "--author", "Git Name <"+u.Email+">")
	after := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	runGit(t, work, "push", "-q", "origin", "master")

	// push: the seed's fields plus created/deleted/forced.
	d := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["after"] == after })
	p := d.Payload
	if !d.SignatureOK || d.GUID == "" || !strings.HasPrefix(d.UserAgent, "Tapioca-Hookshot/") || d.ContentType != "application/json" {
		t.Errorf("push headers: sig ok %v guid %q ua %q ct %q", d.SignatureOK, d.GUID, d.UserAgent, d.ContentType)
	}
	if p["ref"] != "refs/heads/master" || p["before"] != before || p["created"] != false || p["deleted"] != false || p["forced"] != false {
		t.Errorf("push payload %v", p)
	}
	commits := p["commits"].([]any)
	if len(commits) != 2 {
		t.Fatalf("push commits %v", commits)
	}
	c0, c1 := commits[0].(map[string]any), commits[1].(map[string]any)
	if c0["message"] != "Fix widget crash\n" || c0["author"] != "Test" || c1["id"] != after || c1["author"] != u.Name || c1["author_name"] != "Git Name" ||
		!strings.HasSuffix(c1["timestamp"].(string), "Z") {
		t.Errorf("push commits %v", commits)
	}
	if hc := p["head_commit"].(map[string]any); hc["id"] != after {
		t.Errorf("head_commit %v", hc)
	}
	r := p["repository"].(map[string]any)
	if r["id"] != repoID || r["full_name"] != u.Name+"/evlib" || r["name"] != "evlib" || r["private"] != false ||
		r["visibility"] != "public" || r["clone_url"] != shared.URL+"/"+u.Name+"/evlib.git" {
		t.Errorf("repository %v", r)
	}
	// The repository in a push payload already shows that push.
	if api := me.must(http.StatusOK, "GET", api, nil).obj(t); r["pushed_at"] == nil || r["pushed_at"] != api["pushed_at"] {
		t.Errorf("payload pushed_at %v, API pushed_at %v", r["pushed_at"], api["pushed_at"])
	}
	if s := p["sender"].(map[string]any); s["id"] != float64(u.ID) || s["username"] != u.Name || s["kind"] != "human" {
		t.Errorf("sender %v", s)
	}
	if _, ok := p["action"]; ok {
		t.Errorf("push has an action: %v", p["action"])
	}

	// A new branch: create, and a push with created=true listing only the
	// commit no other branch had.
	runGit(t, work, "checkout", "-q", "-b", "feature/x")
	commitFile(t, work, "c.txt", "three\n", "Feature work")
	runGit(t, work, "push", "-q", "origin", "feature/x")
	cr := rc.waitEvent(t, "create", "", func(p map[string]any) bool { return p["ref"] == "feature/x" })
	if cr.Payload["ref_type"] != "branch" || cr.Payload["master_branch"] != "master" || !cr.SignatureOK {
		t.Errorf("create %v", cr.Payload)
	}
	np := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/heads/feature/x" && p["created"] == true })
	if cs := np.Payload["commits"].([]any); len(cs) != 1 || cs[0].(map[string]any)["message"] != "Feature work\n" ||
		np.Payload["before"] != strings.Repeat("0", 40) {
		t.Errorf("new branch push %v", np.Payload)
	}

	// A tag (annotated): create with ref_type tag.
	runGit(t, work, "tag", "-a", "v1.0", "-m", "release")
	runGit(t, work, "push", "-q", "origin", "v1.0")
	tg := rc.waitEvent(t, "create", "", func(p map[string]any) bool { return p["ref"] == "v1.0" })
	if tg.Payload["ref_type"] != "tag" {
		t.Errorf("tag create %v", tg.Payload)
	}
	rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/tags/v1.0" })

	// Force-push, then delete the branch.
	runGit(t, work, "commit", "-q", "--amend", "-m", "Feature work, amended")
	runGit(t, work, "push", "-q", "-f", "origin", "feature/x")
	rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/heads/feature/x" && p["forced"] == true })
	runGit(t, work, "push", "-q", "origin", "--delete", "feature/x")
	del := rc.waitEvent(t, "delete", "", func(p map[string]any) bool { return p["ref"] == "feature/x" })
	if del.Payload["ref_type"] != "branch" || !del.SignatureOK {
		t.Errorf("delete %v", del.Payload)
	}
	rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/heads/feature/x" && p["deleted"] == true })

	// issues: every action.
	other := shared.register(t, "hookev2")
	me.must(http.StatusCreated, "POST", api+"/issues", map[string]any{"title": "Widget crashes"})
	me.must(http.StatusOK, "PATCH", api+"/issues/1", map[string]any{"title": "Widget crashes on empty input"})
	me.must(http.StatusOK, "PATCH", api+"/issues/1", map[string]any{"state": "closed"})
	me.must(http.StatusOK, "PATCH", api+"/issues/1", map[string]any{"state": "open"})
	me.must(http.StatusOK, "POST", api+"/issues/1/labels", map[string]any{"labels": []string{"bug"}})
	me.must(http.StatusNoContent, "DELETE", api+"/issues/1/labels/bug", nil)
	me.must(http.StatusOK, "PUT", api+"/collaborators/"+other.Name, map[string]any{"permission": "write"})
	me.must(http.StatusOK, "POST", api+"/issues/1/assignees", map[string]any{"assignees": []string{other.Name}})
	me.must(http.StatusOK, "DELETE", api+"/issues/1/assignees", map[string]any{"assignees": []string{other.Name}})
	for _, action := range []string{"opened", "edited", "closed", "reopened", "labeled", "unlabeled", "assigned", "unassigned"} {
		d := rc.waitEvent(t, "issues", action, nil)
		if !d.SignatureOK || d.Payload["number"] != 1.0 || d.Payload["issue"].(map[string]any)["number"] != 1.0 || d.Payload["repository"] == nil {
			t.Errorf("issues/%s: %v", action, d.Payload)
		}
	}
	if d := rc.waitEvent(t, "issues", "labeled", nil); d.Payload["label"].(map[string]any)["name"] != "bug" {
		t.Errorf("labeled %v", d.Payload)
	}
	if d := rc.waitEvent(t, "issues", "assigned", nil); d.Payload["assignee"].(map[string]any)["username"] != other.Name {
		t.Errorf("assigned %v", d.Payload)
	}

	// issue_comment: created, edited, deleted.
	c := me.must(http.StatusCreated, "POST", api+"/issues/1/comments", map[string]any{"body": "Looking into it"}).obj(t)
	cid := ftoa(c["id"].(float64))
	me.must(http.StatusOK, "PATCH", api+"/comments/"+cid, map[string]any{"body": "Fixed in master"})
	me.must(http.StatusNoContent, "DELETE", api+"/comments/"+cid, nil)
	for _, action := range []string{"created", "edited", "deleted"} {
		d := rc.waitEvent(t, "issue_comment", action, nil)
		if !d.SignatureOK || d.Payload["comment"].(map[string]any)["id"] != c["id"] || d.Payload["issue"] == nil {
			t.Errorf("issue_comment/%s: %v", action, d.Payload)
		}
	}

	// pull_request from the pull request API.
	runGit(t, work, "checkout", "-q", "-b", "json-output", "master")
	commitFile(t, work, "json.go", "package x\n", "Add JSON output support")
	runGit(t, work, "push", "-q", "origin", "json-output")
	pr := me.must(http.StatusCreated, "POST", api+"/pulls", map[string]any{"title": "Add JSON output support", "head": "json-output", "base": "master"}).obj(t)
	d = rc.waitEvent(t, "pull_request", "opened", nil)
	pp := d.Payload["pull_request"].(map[string]any)
	if !d.SignatureOK || d.Payload["number"] != pr["number"] || pp["number"] != pr["number"] || pp["title"] != "Add JSON output support" ||
		pp["state"] != "open" || pp["author"].(map[string]any)["username"] != u.Name {
		t.Errorf("pull_request opened %v", d.Payload)
	}
	if s := d.Payload["sender"].(map[string]any); s["username"] != u.Name {
		t.Errorf("pull_request sender %v", s)
	}

	// Merging through the API moves master: pull_request merged and a push.
	num := ftoa(pr["number"].(float64))
	merged := me.must(http.StatusOK, "PUT", api+"/pulls/"+num+"/merge", map[string]any{"merge_method": "merge"}).obj(t)
	rc.waitEvent(t, "pull_request", "merged", nil)
	mp := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/heads/master" && p["after"] == merged["sha"] })
	if mp.Payload["forced"] != false || len(mp.Payload["commits"].([]any)) != 2 {
		t.Errorf("merge push %v", mp.Payload)
	}

	// Branches made and deleted through the API fire create and delete.
	me.must(http.StatusCreated, "POST", api+"/branches", map[string]any{"name": "from-api", "sha": after})
	rc.waitEvent(t, "create", "", func(p map[string]any) bool { return p["ref"] == "from-api" && p["ref_type"] == "branch" })
	if p := rc.waitEvent(t, "push", "", func(p map[string]any) bool { return p["ref"] == "refs/heads/from-api" }).Payload; p["created"] != true || len(p["commits"].([]any)) != 0 {
		t.Errorf("API branch push %v", p)
	}
	me.must(http.StatusNoContent, "DELETE", api+"/branches/from-api", nil)
	rc.waitEvent(t, "delete", "", func(p map[string]any) bool { return p["ref"] == "from-api" })

	// The delivery log shows them all, newest first, as succeeded.
	hooks := me.must(http.StatusOK, "GET", "/api/v1/user/webhooks", nil).list(t)
	dl := me.must(http.StatusOK, "GET", "/api/v1/user/webhooks/"+ftoa(hooks[0]["id"].(float64))+"/deliveries?per_page=100", nil)
	list := dl.list(t)
	if len(list) < 20 || dl.Header.Get("X-Total-Count") == "" {
		t.Fatalf("deliveries %d %v", len(list), dl.Header)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1]["id"].(float64) <= list[i]["id"].(float64) {
			t.Fatalf("deliveries not newest first: %v then %v", list[i-1]["id"], list[i]["id"])
		}
	}
}

// TestWebhookRetryThenSuccess: a receiver that fails twice then succeeds
// gets the event once as a success, with three attempts logged.
func TestWebhookRetryThenSuccess(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) { c.WebhookRetryBase = 20 * time.Millisecond })
	u := srv.register(t, "retry")
	me := srv.as(t, u.Token)
	rc := newReceiverFunc(t, "s3cret", func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "secret": "s3cret", "events": []string{"issues"}}).obj(t)
	hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
	me.createRepo(map[string]any{"name": "r"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "flaky receiver"})

	rc.waitFor(t, "third attempt", func(d hookDelivery) bool { return d.Status == http.StatusOK })
	list := me.must(http.StatusOK, "GET", hook+"/deliveries", nil).list(t)
	if len(list) != 1 {
		t.Fatalf("deliveries %v", list)
	}
	d := waitStatus(t, me, hook+"/deliveries/"+ftoa(list[0]["id"].(float64)), "succeeded")
	if d["attempts"] != 3.0 || d["status_code"] != 200.0 || d["delivered_at"] == nil || d["next_attempt_at"] != nil || d["error"] != nil {
		t.Errorf("delivery %v", d)
	}
	log := d["attempt_log"].([]any)
	if len(log) != 3 {
		t.Fatalf("attempt log %v", log)
	}
	for i, want := range []float64{503, 503, 200} {
		a := log[i].(map[string]any)
		if a["attempt"] != float64(i+1) || a["status_code"] != want || a["url"] != rc.URL {
			t.Errorf("attempt %d: %v", i+1, a)
		}
		if rh := a["request_headers"].(map[string]any); rh["X-CodeBoba-Event"] != "issues" || rh["X-CodeBoba-Delivery"] != d["guid"] {
			t.Errorf("attempt %d request headers %v", i+1, rh)
		}
	}
	if resp := d["response"].(map[string]any); resp["status_code"] != 200.0 || resp["body"] != "answered 200" ||
		resp["headers"].(map[string]any)["X-Receiver"] != "test" {
		t.Errorf("response %v", resp)
	}
	req := d["request"].(map[string]any)
	if !verifySignature([]byte(req["body"].(string)), "s3cret", req["headers"].(map[string]any)["X-CodeBoba-Signature"].(string)) {
		t.Errorf("logged request does not verify: %v", req)
	}
	if req["payload"].(map[string]any)["action"] != "opened" {
		t.Errorf("request payload %v", req["payload"])
	}

	// The receiver saw one delivery id three times, and succeeded once.
	got := rc.all()
	ok := 0
	for _, g := range got {
		if g.GUID != d["guid"] || !g.SignatureOK {
			t.Errorf("request guid %s (want %v), signature ok %v", g.GUID, d["guid"], g.SignatureOK)
		}
		if g.Status == http.StatusOK {
			ok++
		}
	}
	if len(got) != 3 || ok != 1 {
		t.Errorf("receiver got %d requests, %d successes", len(got), ok)
	}
}

// TestWebhookGivesUp: after the last attempt a delivery is failed and
// not retried; redelivery sends the same body again under a new id.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) {
		c.WebhookRetryBase = 10 * time.Millisecond
		c.WebhookMaxAttempts = 2
	})
	u := srv.register(t, "giveup")
	me := srv.as(t, u.Token)
	rc := newReceiverFunc(t, "", func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "events": []string{"issues"}}).obj(t)
	hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
	me.createRepo(map[string]any{"name": "r"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "down"})
	var first map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for first == nil || first["status"] != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("delivery never failed: %v", first)
		}
		time.Sleep(20 * time.Millisecond)
		if l := me.must(http.StatusOK, "GET", hook+"/deliveries?status=failed", nil).list(t); len(l) == 1 {
			first = l[0]
		}
	}
	if first["attempts"] != 2.0 || first["status_code"] != 500.0 || first["next_attempt_at"] != nil || first["delivered_at"] != nil {
		t.Errorf("failed delivery %v", first)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.all()); n != 2 {
		t.Errorf("receiver got %d requests after giving up, want 2", n)
	}
	// No signature header without a secret.
	if s := rc.all()[0].Signature; s != "" {
		t.Errorf("signature without a secret: %q", s)
	}

	id := ftoa(first["id"].(float64))
	re := me.must(http.StatusAccepted, "POST", hook+"/deliveries/"+id+"/redeliver", nil).obj(t)
	if re["guid"] == first["guid"] || re["redelivery"] != true || re["event"] != "issues" || re["action"] != "opened" {
		t.Errorf("redelivery %v", re)
	}
	waitStatus(t, me, hook+"/deliveries/"+ftoa(re["id"].(float64)), "succeeded")
	all := rc.all()
	if len(all) != 3 || string(all[2].Body) != string(all[0].Body) || all[2].GUID != re["guid"] {
		t.Errorf("redelivered request differs: %d requests", len(all))
	}
	me.must(http.StatusNotFound, "POST", hook+"/deliveries/999999/redeliver", nil)
	me.must(http.StatusUnprocessableEntity, "GET", hook+"/deliveries?status=lost", nil)
	me.must(http.StatusUnprocessableEntity, "GET", hook+"/deliveries?event=bogus", nil)
	me.must(http.StatusOK, "GET", hook+"/deliveries?event=ping", nil)
	if l := me.must(http.StatusOK, "GET", hook+"/deliveries?per_page=1", nil); l.Header.Get("X-Total-Count") != "2" || len(l.list(t)) != 1 {
		t.Errorf("paginated deliveries %s %v", l.Body, l.Header)
	}
}

// TestWebhookPingAndInactive: a ping reaches even an inactive hook;
// events while inactive queue nothing.
func TestWebhookPingAndInactive(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "ping")
	me := shared.as(t, u.Token)
	rc := newReceiver(t, "pingsecret")
	h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "secret": "pingsecret", "events": []string{"issues"}, "active": false}).obj(t)
	hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
	me.createRepo(map[string]any{"name": "r"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "while inactive"})

	pd := me.must(http.StatusAccepted, "POST", hook+"/pings", nil).obj(t)
	if pd["event"] != "ping" || pd["status"] != "pending" || pd["guid"] == "" {
		t.Errorf("ping delivery %v", pd)
	}
	d := rc.waitEvent(t, "ping", "", nil)
	if !d.SignatureOK || d.Payload["hook_id"] != h["id"] || d.Payload["hook"].(map[string]any)["url"] != rc.URL || d.GUID != pd["guid"] {
		t.Errorf("ping %v", d.Payload)
	}
	waitStatus(t, me, hook+"/deliveries/"+ftoa(pd["id"].(float64)), "succeeded")
	if l := me.must(http.StatusOK, "GET", hook+"/deliveries", nil).list(t); len(l) != 1 {
		t.Errorf("inactive hook queued events: %v", l)
	}
	// Reactivated, it gets new events.
	me.must(http.StatusOK, "PATCH", hook, map[string]any{"active": true})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "active again"})
	rc.waitEvent(t, "issues", "opened", func(p map[string]any) bool { return p["issue"].(map[string]any)["title"] == "active again" })
	if n := len(rc.all()); n != 2 {
		t.Errorf("receiver got %d requests, want ping + one issue", n)
	}
}

// TestWebhookFormContentType: content_type form sends payload=<json>,
// signed as sent.
func TestWebhookFormContentType(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "form")
	me := shared.as(t, u.Token)
	rc := newReceiver(t, "formsecret")
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "secret": "formsecret", "content_type": "form", "events": []string{"issues"}})
	me.createRepo(map[string]any{"name": "r"})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "form & friends"})
	d := rc.waitFor(t, "form delivery", func(hookDelivery) bool { return true })
	if d.ContentType != "application/x-www-form-urlencoded" || !d.SignatureOK || !strings.HasPrefix(string(d.Body), "payload=") {
		t.Fatalf("form delivery ct %q sig %v body %.60s", d.ContentType, d.SignatureOK, d.Body)
	}
	req, _ := http.NewRequest("POST", "/", strings.NewReader(string(d.Body)))
	req.Header.Set("Content-Type", d.ContentType)
	var p map[string]any
	if err := req.ParseForm(); err != nil || json.Unmarshal([]byte(req.PostForm.Get("payload")), &p) != nil || p["action"] != "opened" {
		t.Errorf("form payload %v %v", err, p)
	}
}

// TestWebhookNetworkPolicy: literal addresses outside the policy are
// refused at creation; hostnames are checked against the address actually
// dialled; redirects are never followed.
func TestWebhookNetworkPolicy(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))

	t.Run("deny loopback", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(c *handlers.Config) { c.WebhookDenyLoopback = true })
		me := srv.as(t, srv.register(t, "deny").Token)
		for _, u := range []string{rc.URL, "http://[::1]:" + port + "/", "http://169.254.169.254/latest/meta-data", "http://localhost:" + port} {
			r := me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/webhooks", map[string]any{"url": u})
			if !strings.Contains(string(r.Body), `"url"`) {
				t.Errorf("%s: %s", u, r.Body)
			}
		}
		me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": "http://192.168.1.20:9000/hook"})
	})

	t.Run("allowed networks checked at dial time", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(c *handlers.Config) {
			c.WebhookAllowedNetworks = []string{"10.0.0.0/8, 192.168.0.0/16"}
			c.WebhookMaxAttempts = 1
		})
		u := srv.register(t, "allow")
		me := srv.as(t, u.Token)
		me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL})
		// "localhost" passes creation (it is a name) but resolves to loopback.
		h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": "http://localhost:" + port + "/", "events": []string{"issues"}}).obj(t)
		hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
		pd := me.must(http.StatusAccepted, "POST", hook+"/pings", nil).obj(t)
		d := waitStatus(t, me, hook+"/deliveries/"+ftoa(pd["id"].(float64)), "failed")
		if e, _ := d["error"].(string); !strings.Contains(e, "not in the allowed webhook networks") || d["status_code"] != nil {
			t.Errorf("refused delivery %v", d)
		}
		for _, g := range rc.all() {
			if g.Event == "ping" {
				t.Errorf("the receiver was reached: %s %s", g.Event, g.GUID)
			}
		}
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		t.Parallel()
		target := newReceiver(t, "")
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
		}))
		t.Cleanup(redirect.Close)
		srv := newServer(t, func(c *handlers.Config) { c.WebhookMaxAttempts = 1 })
		me := srv.as(t, srv.register(t, "redir").Token)
		h := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": redirect.URL}).obj(t)
		hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
		pd := me.must(http.StatusAccepted, "POST", hook+"/pings", nil).obj(t)
		d := waitStatus(t, me, hook+"/deliveries/"+ftoa(pd["id"].(float64)), "failed")
		if e, _ := d["error"].(string); d["status_code"] != 307.0 || !strings.Contains(e, "redirect not followed") {
			t.Errorf("redirected delivery %v", d)
		}
		if n := len(target.all()); n != 0 {
			t.Errorf("redirect target got %d requests", n)
		}
	})
}

// TestWebhookSlowReceiverDoesNotStarveOthers: a receiver that hangs holds
// at most half the workers; another hook's events still go out at once.
func TestWebhookSlowReceiverDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) { c.WebhookWorkers = 2 })
	u := srv.register(t, "starve")
	me := srv.as(t, u.Token)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	fast := newReceiver(t, "")
	slowHook := me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": hang.URL, "events": []string{"issues"}}).obj(t)
	me.createRepo(map[string]any{"name": "r"})
	for i := 0; i < 5; i++ {
		me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues", map[string]any{"title": "slow " + itoa(i)})
	}
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": fast.URL, "events": []string{"issue_comment"}})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/r/issues/1/comments", map[string]any{"body": "hello"})
	start := time.Now()
	fast.waitEvent(t, "issue_comment", "created", nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the fast hook waited %v behind the slow one", d)
	}
	l := me.must(http.StatusOK, "GET", "/api/v1/user/webhooks/"+ftoa(slowHook["id"].(float64))+"/deliveries", nil).list(t)
	if len(l) != 5 {
		t.Errorf("slow hook deliveries %d", len(l))
	}
}
