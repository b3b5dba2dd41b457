package handlers_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// agentRepo is the setting of an agent's day: a repository whose master
// is protected and requires the "ci" status, and its owner (the agent).
type agentRepo struct {
	t     *testing.T
	owner testUser
	c     *client
	api   string
}

func newAgentRepo(t *testing.T) *agentRepo {
	t.Helper()
	u := shared.register(t, "agent")
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "day", "auto_init": true})
	f := &agentRepo{t: t, owner: u, c: c, api: "/api/v1/repos/" + u.Name + "/day"}
	b := c.must(http.StatusOK, "PATCH", f.api+"/branches/master", map[string]any{"required_status_checks": []string{"ci"}}).obj(t)
	if b["protected"] != true {
		t.Fatalf("protection: %v", b)
	}
	return f
}

// gitDiff is what the real git prints for a diff in a fresh clone.
func (f *agentRepo) gitDiff(args ...string) string {
	f.t.Helper()
	dir := f.t.TempDir()
	runGit(f.t, dir, "clone", "-q", shared.gitURL(f.owner.Token, f.owner.Name, "day"), "w")
	return runGit(f.t, filepath.Join(dir, "w"), append([]string{"-c", "core.quotepath=true", "diff"}, args...)...)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestAgentDayREST is an agent's whole day through the REST API only:
// read a file, grep, branch, commit three files in one call, open a pull
// request, read its diff (and check it against git's), post a failing
// then a passing status, review with an inline comment, merge with
// squash, and find the linked issue closed.
func TestAgentDayREST(t *testing.T) {
	t.Parallel()
	f := newAgentRepo(t)
	c := f.c

	readme := c.must(http.StatusOK, "GET", f.api+"/contents/README.md", nil).obj(t)
	text, err := base64.StdEncoding.DecodeString(readme["content"].(string))
	if err != nil || !strings.Contains(string(text), "day") || readme["encoding"] != "base64" {
		t.Fatalf("README: %v %q", readme, text)
	}
	grep := c.must(http.StatusOK, "GET", f.api+"/grep?q=^%23+day&path=README.md", nil).obj(t)
	matches := grep["matches"].([]any)
	if len(matches) != 1 || matches[0].(map[string]any)["line"] != 1.0 {
		t.Fatalf("grep: %v", grep)
	}

	issue := c.must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "Widgets are missing"}).obj(t)
	master := c.must(http.StatusOK, "GET", f.api+"/branches/master", nil).obj(t)["sha"].(string)
	c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "feature/widgets", "sha": master})

	// The protection holds for commits made through the API: master
	// takes no commit that has not passed ci.
	r := c.must(http.StatusConflict, "POST", f.api+"/commits", map[string]any{"branch": "master", "message": "direct",
		"actions": []map[string]any{{"action": "create", "path": "x.txt", "content": "x"}}})
	if !strings.Contains(r.obj(t)["error"].(string), `required status check "ci"`) {
		t.Errorf("direct commit refusal: %s", r.Body)
	}

	commit := map[string]any{"branch": "feature/widgets", "message": "Add widgets", "expected_head_sha": master,
		"actions": []map[string]any{
			{"action": "create", "path": "widgets/widget.go", "content": "package widgets\n\n// Widget is a widget.\ntype Widget struct{}\n"},
			{"action": "create", "path": "widgets/logo.bin", "content": b64("\x00\x01binary"), "encoding": "base64"},
			{"action": "update", "path": "README.md", "content": "# day\n\nNow with widgets.\n"},
		}}
	key := map[string]string{"Idempotency-Key": "agent-day-commit"}
	first := c.doWith("POST", f.api+"/commits", commit, key)
	if first.Status != http.StatusCreated {
		t.Fatalf("commit: %d %s", first.Status, first.Body)
	}
	// A retry of the same request (the agent lost the answer) makes no
	// second commit: it gets the first answer.
	again := c.doWith("POST", f.api+"/commits", commit, key)
	if again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("retry: %d %v %s", again.Status, again.Header, again.Body)
	}
	written := first.obj(t)
	head := written["commit"].(map[string]any)["sha"].(string)
	if len(written["files"].([]any)) != 3 || written["commit"].(map[string]any)["parents"].([]any)[0].(map[string]any)["sha"] != master {
		t.Fatalf("commit answer: %v", written)
	}
	if got := c.must(http.StatusOK, "GET", f.api+"/branches/feature/widgets", nil).obj(t)["sha"]; got != head {
		t.Fatalf("branch at %v, want %s", got, head)
	}
	// A stale expected head is a conflict.
	c.must(http.StatusConflict, "POST", f.api+"/commits", commit)

	pr := c.must(http.StatusCreated, "POST", f.api+"/pulls", map[string]any{"title": "Add widgets",
		"head": "feature/widgets", "base": "master", "body": "Fixes #" + ftoa(issue["number"].(float64))}).obj(t)
	n := ftoa(pr["number"].(float64))
	diff := c.doWith("GET", f.api+"/pulls/"+n, nil, map[string]string{"Accept": "application/vnd.codeboba.diff"})
	if diff.Status != http.StatusOK || !strings.HasPrefix(diff.Header.Get("Content-Type"), "application/vnd.codeboba.diff") {
		t.Fatalf("diff: %d %v", diff.Status, diff.Header)
	}
	if want := f.gitDiff("origin/master...origin/feature/widgets"); string(diff.Body) != want {
		t.Fatalf("pull request diff differs from git diff:\n%s\n--- git:\n%s", diff.Body, want)
	}
	files := c.must(http.StatusOK, "GET", f.api+"/pulls/"+n+"/files", nil).list(t)
	if len(files) != 3 || files[0]["filename"] != "README.md" || !strings.Contains(files[0]["patch"].(string), "+Now with widgets.") {
		t.Fatalf("files: %v", files)
	}

	c.must(http.StatusCreated, "POST", f.api+"/statuses/"+head, map[string]any{"state": "failure", "context": "ci", "description": "2 tests failed"})
	got := c.must(http.StatusOK, "GET", f.api+"/pulls/"+n, nil).obj(t)
	if got["mergeable_state"] != "blocked" {
		t.Fatalf("with a failing status: %v", got)
	}
	r = c.must(http.StatusConflict, "PUT", f.api+"/pulls/"+n+"/merge", map[string]any{"merge_method": "squash"})
	if !strings.Contains(r.obj(t)["error"].(string), `"ci" is failure`) {
		t.Errorf("blocked merge: %s", r.Body)
	}
	c.must(http.StatusCreated, "POST", f.api+"/statuses/"+head, map[string]any{"state": "success", "context": "ci"})
	combined := c.must(http.StatusOK, "GET", f.api+"/commits/"+head+"/status", nil).obj(t)
	if combined["state"] != "success" || combined["total_count"] != 1.0 {
		t.Fatalf("combined status: %v", combined)
	}
	if got := c.must(http.StatusOK, "GET", f.api+"/pulls/"+n, nil).obj(t); got["mergeable_state"] != "clean" {
		t.Fatalf("with a passing status: %v", got)
	}

	rv := c.must(http.StatusCreated, "POST", f.api+"/pulls/"+n+"/reviews", map[string]any{"state": "comment",
		"comments": []map[string]any{{"path": "widgets/widget.go", "line": 3, "body": "Say what a widget does."}}}).obj(t)
	if cs := rv["comments"].([]any); len(cs) != 1 || cs[0].(map[string]any)["line"] != 3.0 {
		t.Fatalf("review: %v", rv)
	}
	merged := c.must(http.StatusOK, "PUT", f.api+"/pulls/"+n+"/merge", map[string]any{"merge_method": "squash"}).obj(t)
	squash := c.must(http.StatusOK, "GET", f.api+"/commits/"+merged["sha"].(string), nil).obj(t)
	if ps := squash["parents"].([]any); len(ps) != 1 || ps[0].(map[string]any)["sha"] != master || len(squash["files"].([]any)) != 3 {
		t.Fatalf("squash commit: %v", squash)
	}
	if got := c.must(http.StatusOK, "GET", f.api+"/issues/"+ftoa(issue["number"].(float64)), nil).obj(t); got["state"] != "closed" {
		t.Fatalf("linked issue: %v", got)
	}
	// The squash is what master now holds, as git sees it.
	if out := f.gitDiff(master, "origin/master", "--stat"); !strings.Contains(out, "3 files changed") {
		t.Errorf("git after the merge: %s", out)
	}
}

// A protected branch that requires an approval blocks a pull request's
// merge over REST until a writer other than the author approves; a
// reader's approval does not count, and a later request for changes
// blocks it again.
func TestRequiredApprovalOverREST(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "approvalowner")
	writer := shared.register(t, "approvalwriter")
	reader := shared.register(t, "approvalreader")
	c := shared.as(t, owner.Token)
	c.createRepo(map[string]any{"name": "gated", "auto_init": true})
	api := "/api/v1/repos/" + owner.Name + "/gated"
	c.must(http.StatusOK, "PUT", api+"/collaborators/"+writer.Name, map[string]any{"permission": "write"})
	c.must(http.StatusOK, "PUT", api+"/collaborators/"+reader.Name, map[string]any{"permission": "read"})
	b := c.must(http.StatusOK, "PATCH", api+"/branches/master", map[string]any{"required_approvals": 1}).obj(t)
	if b["protected"] != true || b["protection"].(map[string]any)["required_approvals"] != 1.0 {
		t.Fatalf("protection: %v", b)
	}
	master := c.must(http.StatusOK, "GET", api+"/branches/master", nil).obj(t)["sha"].(string)
	c.must(http.StatusCreated, "POST", api+"/branches", map[string]any{"name": "topic", "sha": master})
	c.must(http.StatusCreated, "POST", api+"/commits", map[string]any{"branch": "topic", "message": "Add a file",
		"actions": []map[string]any{{"action": "create", "path": "a.txt", "content": "a\n"}}})
	n := ftoa(c.must(http.StatusCreated, "POST", api+"/pulls", map[string]any{"title": "Topic", "head": "topic", "base": "master"}).obj(t)["number"].(float64))

	blocked := func(when, want string) {
		t.Helper()
		if got := c.must(http.StatusOK, "GET", api+"/pulls/"+n, nil).obj(t); got["mergeable_state"] != "blocked" {
			t.Fatalf("%s: mergeable_state %v", when, got["mergeable_state"])
		}
		r := c.must(http.StatusConflict, "PUT", api+"/pulls/"+n+"/merge", map[string]any{"merge_method": "merge"})
		if msg, _ := r.obj(t)["error"].(string); !strings.Contains(msg, want) {
			t.Fatalf("%s: merge refusal %s, want it to say %q", when, r.Body, want)
		}
	}
	blocked("no review", "1 approving review required by the protection of master, 0 given")
	// The author cannot approve their own pull request, and a reader's
	// approval is not a writer's.
	c.must(http.StatusUnprocessableEntity, "POST", api+"/pulls/"+n+"/reviews", map[string]any{"state": "approve"})
	shared.as(t, reader.Token).must(http.StatusCreated, "POST", api+"/pulls/"+n+"/reviews", map[string]any{"state": "approve"})
	blocked("a reader's approval", "0 given")

	w := shared.as(t, writer.Token)
	w.must(http.StatusCreated, "POST", api+"/pulls/"+n+"/reviews", map[string]any{"state": "request_changes", "body": "Not yet."})
	blocked("changes requested", "")
	w.must(http.StatusCreated, "POST", api+"/pulls/"+n+"/reviews", map[string]any{"state": "approve"})
	if got := c.must(http.StatusOK, "GET", api+"/pulls/"+n, nil).obj(t); got["mergeable_state"] != "clean" {
		t.Fatalf("approved: mergeable_state %v", got["mergeable_state"])
	}
	if c.must(http.StatusOK, "PUT", api+"/pulls/"+n+"/merge", map[string]any{"merge_method": "merge"}).obj(t)["merged"] != true {
		t.Fatal("the approved pull request did not merge")
	}
}
