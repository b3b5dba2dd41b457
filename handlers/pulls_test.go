package handlers_test

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// gitCounts is what the git client says about a pull request.
func gitCounts(t *testing.T, f *prRepo, base, head string) (commits, additions, deletions, files int) {
	t.Helper()
	f.git("fetch", "-q", "origin")
	commits, err := strconv.Atoi(strings.TrimSpace(f.git("rev-list", "--count", "origin/"+base+"..origin/"+head)))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(f.git("diff", "--numstat", "origin/"+base+"...origin/"+head)), "\n") {
		if line == "" {
			continue
		}
		cols := strings.SplitN(line, "\t", 3)
		a, _ := strconv.Atoi(cols[0]) // "-" for binary files counts 0
		d, _ := strconv.Atoi(cols[1])
		additions += a
		deletions += d
		files++
	}
	return commits, additions, deletions, files
}

func checkCounts(t *testing.T, f *prRepo, pr map[string]any) {
	t.Helper()
	base := pr["base"].(map[string]any)["ref"].(string)
	head := pr["head"].(map[string]any)["ref"].(string)
	c, a, d, n := gitCounts(t, f, base, head)
	got := []float64{pr["commits_count"].(float64), pr["additions"].(float64), pr["deletions"].(float64), pr["changed_files"].(float64)}
	want := []float64{float64(c), float64(a), float64(d), float64(n)}
	for k, name := range []string{"commits_count", "additions", "deletions", "changed_files"} {
		if got[k] != want[k] {
			t.Errorf("%s = %v, git says %v", name, got[k], want[k])
		}
	}
}

func TestPullCreateShapeAndCounts(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.commit("base files", map[string]string{
		"lib/widget.rb": "class Widget\n  def a; end\n  def b; end\nend\n",
		"old.txt":       strings.Repeat("same line\n", 20),
		"gone.txt":      "bye\n",
	})
	f.git("push", "-q", "origin", "master")
	f.branch("feature/json-output",
		map[string]string{"lib/widget.rb": "class Widget\n  def a; 1; end\n  def b; end\n  def c; end\nend\n", "bin.dat": "\x00\x01\x02binary"},
		map[string]string{"gone.txt": "", "new/dir/file.go": "package dir\n"},
		map[string]string{"old.txt": "", "renamed.txt": strings.Repeat("same line\n", 20) + "one more\n"},
	)
	// The base moves on too: counts are from the merge base, not the tip.
	f.commit("master moves", map[string]string{"master-only.txt": "x\ny\n"})
	f.git("push", "-q", "origin", "master")

	pr := f.openPull("feature/json-output", "master", "Add JSON output support", "Implements the `--json` flag.\n\nCloses #16.")
	head, master := f.tip("feature/json-output"), f.tip("master")
	want := map[string]any{
		"number": 1.0, "title": "Add JSON output support", "body": "Implements the `--json` flag.\n\nCloses #16.",
		"state": "open", "merged": false, "draft": false, "comments_count": 0.0, "review_comments_count": 0.0,
		"closed_at": nil, "merged_at": nil, "mergeable": true, "merged_by": nil, "merge_commit_sha": nil,
	}
	for k, v := range want {
		if pr[k] != v {
			t.Errorf("%s = %#v, want %#v", k, pr[k], v)
		}
	}
	if h := pr["head"].(map[string]any); h["ref"] != "feature/json-output" || h["sha"] != head {
		t.Errorf("head %v, want sha %s", h, head)
	}
	if b := pr["base"].(map[string]any); b["ref"] != "master" || b["sha"] != master {
		t.Errorf("base %v, want sha %s", b, master)
	}
	if a := pr["author"].(map[string]any); a["username"] != f.owner.Name || a["kind"] != "human" {
		t.Errorf("author %v", a)
	}
	if len(pr["assignees"].([]any)) != 0 || len(pr["labels"].([]any)) != 0 || pr["id"].(float64) < 1 {
		t.Errorf("pr %v", pr)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := pr[k].(string); !strings.HasSuffix(s, "Z") || len(s) != 20 {
			t.Errorf("%s = %v", k, pr[k])
		}
	}
	checkCounts(t, f, pr)
	if pr["commits_count"] != 3.0 {
		t.Errorf("commits_count %v", pr["commits_count"])
	}
	// GET answers the same.
	got := f.pull(1)
	for _, k := range []string{"id", "title", "state", "additions", "deletions", "changed_files", "commits_count", "mergeable"} {
		if got[k] != pr[k] {
			t.Errorf("GET %s = %v, POST said %v", k, got[k], pr[k])
		}
	}
	// Issues and pull requests share numbers, but not paths.
	issue := f.c.must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "an issue"}).obj(t)
	if issue["number"] != 2.0 {
		t.Errorf("issue number %v", issue["number"])
	}
	f.c.must(http.StatusNotFound, "GET", f.api+"/issues/1", nil)
	f.c.must(http.StatusNotFound, "GET", f.api+"/pulls/2", nil)
	f.c.must(http.StatusNotFound, "GET", f.api+"/pulls/99", nil)
	f.c.must(http.StatusNotFound, "GET", f.api+"/pulls/x", nil)
	if r := f.c.must(http.StatusOK, "GET", f.api, nil).obj(t); r["open_pull_requests_count"] != 1.0 || r["open_issues_count"] != 1.0 {
		t.Errorf("repo counts %v %v", r["open_pull_requests_count"], r["open_issues_count"])
	}
}

func TestPullCreateValidation(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	f.git("checkout", "-q", "--orphan", "unrelated")
	f.commit("unrelated root", map[string]string{"u.txt": "u\n"})
	f.git("push", "-q", "origin", "unrelated")
	f.git("checkout", "-q", "master")
	f.openPull("feature", "master", "first", "")

	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no title", map[string]any{"head": "feature", "base": "master"}, "title"},
		{"blank title", map[string]any{"title": "  ", "head": "feature", "base": "master"}, "title"},
		{"no head", map[string]any{"title": "t", "base": "master"}, "head"},
		{"no base", map[string]any{"title": "t", "head": "feature"}, "base"},
		{"unknown head", map[string]any{"title": "t", "head": "nope", "base": "master"}, "head"},
		{"unknown base", map[string]any{"title": "t", "head": "feature", "base": "nope"}, "base"},
		{"same branch", map[string]any{"title": "t", "head": "master", "base": "master"}, "head"},
		{"duplicate", map[string]any{"title": "t", "head": "feature", "base": "master"}, "head"},
		{"duplicate owner:branch", map[string]any{"title": "t", "head": f.owner.Name + ":feature", "base": "master"}, "head"},
		{"other owner", map[string]any{"title": "t", "head": "someone:feature", "base": "master"}, "head"},
		{"unrelated history", map[string]any{"title": "t", "head": "unrelated", "base": "master"}, "head"},
		{"draft not bool", map[string]any{"title": "t", "head": "feature", "base": "master", "draft": "yes"}, "draft"},
	}
	for _, tc := range cases {
		r := f.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/pulls", tc.body)
		if len(errField(t, r, tc.field)) == 0 {
			t.Errorf("%s: no error on %s: %s", tc.name, tc.field, r.Body)
		}
	}
	if list := f.c.must(http.StatusOK, "GET", f.api+"/pulls?state=all", nil).list(t); len(list) != 1 {
		t.Fatalf("failed creations left pull requests: %d", len(list))
	}
	// The duplicate rule is about open pull requests: after closing, a new one may open.
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"state": "closed"})
	pr := f.c.must(http.StatusCreated, "POST", f.api+"/pulls", map[string]any{"title": "again", "head": f.owner.Name + ":feature", "base": "master", "draft": true}).obj(t)
	if pr["number"] != 2.0 || pr["draft"] != true || pr["head"].(map[string]any)["ref"] != "feature" {
		t.Errorf("second pull request %v", pr)
	}
	// A branch with nothing new is a valid (empty) pull request.
	f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "empty", "sha": f.tip("master")})
	pr = f.openPull("empty", "master", "nothing yet", "")
	if pr["commits_count"] != 0.0 || pr["changed_files"] != 0.0 || pr["mergeable"] != true {
		t.Errorf("empty pull request %v", pr)
	}
}

func TestPullAuthorization(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, true)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	f.branch("other", map[string]string{"o.txt": "o\n"})
	reader := f.addCollaborator("read")
	outsider := shared.register(t, "outsider")
	body := map[string]any{"title": "t", "head": "feature", "base": "master"}

	for _, c := range []*client{shared.as(t, outsider.Token), shared.as(t, "")} {
		c.must(http.StatusNotFound, "GET", f.api+"/pulls", nil)
		c.must(http.StatusNotFound, "POST", f.api+"/pulls", body)
	}
	// Readers may open pull requests and edit their own.
	rd := shared.as(t, reader.Token)
	pr := rd.must(http.StatusCreated, "POST", f.api+"/pulls", body).obj(t)
	rd.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"title": "mine"})
	for _, c := range []*client{shared.as(t, outsider.Token), shared.as(t, "")} {
		c.must(http.StatusNotFound, "GET", f.api+"/pulls/1", nil)
		c.must(http.StatusNotFound, "PATCH", f.api+"/pulls/1", map[string]any{"title": "x"})
		c.must(http.StatusNotFound, "PUT", f.api+"/pulls/1/merge", nil)
	}
	// ...but not someone else's, and they cannot merge.
	f.openPull("other", "master", "owner's", "")
	r := rd.must(http.StatusForbidden, "PATCH", f.api+"/pulls/2", map[string]any{"title": "x"})
	if !strings.Contains(string(r.Body), "author") {
		t.Errorf("reader editing another's pull request: %s", r.Body)
	}
	rd.must(http.StatusForbidden, "PUT", f.api+"/pulls/1/merge", nil)
	if got := f.pull(pr["number"]); got["state"] != "open" || got["title"] != "mine" {
		t.Errorf("after refused merge: %v", got)
	}
	// A public repository: anonymous can read, not write.
	pub := newPRRepo(t, false)
	pub.branch("feature", map[string]string{"f.txt": "f\n"})
	pub.openPull("feature", "master", "t", "")
	anon := shared.as(t, "")
	anon.must(http.StatusOK, "GET", pub.api+"/pulls/1", nil)
	anon.must(http.StatusUnauthorized, "POST", pub.api+"/pulls", body)
	anon.must(http.StatusUnauthorized, "PATCH", pub.api+"/pulls/1", map[string]any{"title": "x"})
	anon.must(http.StatusUnauthorized, "PUT", pub.api+"/pulls/1/merge", nil)
}

func TestPullList(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("a", map[string]string{"a.txt": "a\n"})
	f.branch("b", map[string]string{"b.txt": "b\n"})
	f.branch("c/deep", map[string]string{"c.txt": "c\n"})
	f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "develop", "sha": f.tip("master")})
	f.openPull("a", "master", "A", "")
	f.openPull("b", "master", "B", "")
	f.openPull("c/deep", "develop", "C", "")
	f.openPull("b", "develop", "B2", "")
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"state": "closed"})
	f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", nil)

	numbers := func(q string) []int {
		t.Helper()
		var out []int
		for _, p := range f.c.must(http.StatusOK, "GET", f.api+"/pulls"+q, nil).list(t) {
			out = append(out, int(p["number"].(float64)))
		}
		return out
	}
	cases := []struct {
		q    string
		want []int
	}{
		{"", []int{4, 3}},
		{"?state=open", []int{4, 3}},
		{"?state=closed", []int{2}},
		{"?state=merged", []int{1}},
		{"?state=all", []int{4, 3, 2, 1}},
		{"?state=all&direction=asc", []int{1, 2, 3, 4}},
		{"?state=all&base=develop", []int{4, 3}},
		{"?state=all&head=b", []int{4, 2}},
		{"?state=all&head=" + f.owner.Name + ":c/deep", []int{3}},
		{"?state=all&head=stranger:b", nil},
		{"?state=all&sort=updated&direction=desc", nil}, // checked below: some order, all four
	}
	for _, tc := range cases[:len(cases)-1] {
		if got := numbers(tc.q); !equalInts(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := numbers("?state=all&sort=updated"); len(got) != 4 {
		t.Errorf("sort=updated: %v", got)
	}
	r := f.c.must(http.StatusOK, "GET", f.api+"/pulls?state=all&per_page=3&page=2", nil)
	if l := r.list(t); len(l) != 1 || r.Header.Get("X-Total-Count") != "4" || !strings.Contains(r.Header.Get("Link"), `rel="prev"`) {
		t.Errorf("page 2: %d items, total %q, link %q", len(l), r.Header.Get("X-Total-Count"), r.Header.Get("Link"))
	}
	for _, q := range []string{"?state=bogus", "?sort=comments", "?direction=up", "?page=0"} {
		f.c.must(http.StatusUnprocessableEntity, "GET", f.api+"/pulls"+q, nil)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPullSyncOnPush(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.commit("shared file", map[string]string{"shared.txt": "one\ntwo\nthree\n"})
	f.git("push", "-q", "origin", "master")
	f.branch("topic", map[string]string{"topic.txt": "t\n"})
	pr := f.openPull("topic", "master", "Topic", "")
	checkCounts(t, f, pr)

	// Push to the head: new sha, counts, updated_at.
	f.git("checkout", "-q", "topic")
	f.commit("more topic", map[string]string{"topic.txt": "t\nu\nv\n", "shared.txt": "one\nTWO\nthree\n"})
	f.git("push", "-q", "origin", "topic")
	got := f.pull(1)
	if got["head"].(map[string]any)["sha"] != f.tip("topic") || got["commits_count"] != 2.0 {
		t.Fatalf("after push to head: %v", got)
	}
	if got["updated_at"].(string) < pr["updated_at"].(string) {
		t.Errorf("updated_at went back: %v -> %v", pr["updated_at"], got["updated_at"])
	}
	checkCounts(t, f, got)

	// Push a conflicting change to the base: no longer mergeable, base sha follows.
	f.git("checkout", "-q", "master")
	f.commit("conflict on master", map[string]string{"shared.txt": "one\nzwei\nthree\n"})
	f.git("push", "-q", "origin", "master")
	got = f.pull(1)
	if got["mergeable"] != false || got["base"].(map[string]any)["sha"] != f.tip("master") {
		t.Fatalf("after conflicting push to base: mergeable %v base %v", got["mergeable"], got["base"])
	}
	checkCounts(t, f, got)

	// Resolve on the head by merging master in: mergeable again.
	f.git("checkout", "-q", "topic")
	if out, err := tryGit(f.work, "merge", "-q", "master"); err == nil {
		t.Fatalf("expected a local conflict:\n%s", out)
	}
	f.commit("resolve", map[string]string{"shared.txt": "one\nTWO zwei\nthree\n"})
	f.git("push", "-q", "origin", "topic")
	f.git("checkout", "-q", "master")
	got = f.pull(1)
	if got["mergeable"] != true || got["head"].(map[string]any)["sha"] != f.tip("topic") {
		t.Fatalf("after resolving: %v", got)
	}
	checkCounts(t, f, got)

	// Deleting the head branch closes the pull request.
	f.git("push", "-q", "origin", ":topic")
	got = f.pull(1)
	if got["state"] != "closed" || got["closed_at"] == nil || got["merged"] != false {
		t.Fatalf("after deleting the head: %v", got)
	}
	// It cannot be reopened without its branch.
	r := f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/1", map[string]any{"state": "open"})
	if len(errField(t, r, "state")) == 0 {
		t.Errorf("reopen without head: %s", r.Body)
	}
}

// A merge done with git and pushed to the base marks the pull request
// merged, as GitHub does.
func TestPullMergedByPush(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("topic", map[string]string{"topic.txt": "t\n"})
	f.openPull("topic", "master", "Topic", "")
	f.git("merge", "-q", "--no-ff", "-m", "local merge", "origin/topic")
	f.git("push", "-q", "origin", "master")
	got := f.pull(1)
	if got["state"] != "merged" || got["merged"] != true || got["merge_commit_sha"] != f.tip("master") ||
		got["merged_by"].(map[string]any)["username"] != f.owner.Name {
		t.Fatalf("after pushing a local merge: %v", got)
	}
}

func TestPullUpdate(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "develop", "sha": f.tip("master")})
	f.git("fetch", "-q")
	f.git("checkout", "-q", "-b", "develop", "origin/develop")
	f.commit("develop moves", map[string]string{"d.txt": "d\n"})
	f.git("push", "-q", "origin", "develop")
	f.git("checkout", "-q", "master")
	f.openPull("feature", "master", "Title", "Body")

	got := f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"title": "New title", "body": nil, "draft": true}).obj(t)
	if got["title"] != "New title" || got["body"] != nil || got["draft"] != true {
		t.Fatalf("edit: %v", got)
	}
	// Retarget: base and counts follow.
	got = f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"base": "develop"}).obj(t)
	if b := got["base"].(map[string]any); b["ref"] != "develop" || b["sha"] != f.tip("develop") {
		t.Fatalf("retarget: %v", got["base"])
	}
	checkCounts(t, f, got)
	// Close and reopen.
	got = f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"state": "closed"}).obj(t)
	if got["state"] != "closed" || got["closed_at"] == nil {
		t.Fatalf("close: %v", got)
	}
	got = f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"state": "open", "draft": false}).obj(t)
	if got["state"] != "open" || got["closed_at"] != nil || got["draft"] != false {
		t.Fatalf("reopen: %v", got)
	}

	cases := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"title": ""}, "title"},
		{map[string]any{"state": "merged"}, "state"},
		{map[string]any{"base": "nope"}, "base"},
		{map[string]any{"base": "feature"}, "base"}, // its own head
		{map[string]any{"base": ""}, "base"},
		{map[string]any{"draft": nil}, "draft"},
	}
	for _, tc := range cases {
		r := f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/1", tc.body)
		if len(errField(t, r, tc.field)) == 0 {
			t.Errorf("%v: no error on %s: %s", tc.body, tc.field, r.Body)
		}
	}
	// A second open pull request for the same pair cannot come from a retarget or a reopen.
	f.openPull("feature", "master", "Other", "")
	r := f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/2", map[string]any{"base": "develop"})
	if len(errField(t, r, "base")) == 0 {
		t.Errorf("retarget onto a duplicate: %s", r.Body)
	}
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"state": "closed"})
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"base": "develop"}) // closed: fine
	f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/2", map[string]any{"state": "open"})
	if got := f.pull(2); got["state"] != "closed" {
		t.Errorf("refused reopen changed the state: %v", got["state"])
	}

	// A merged pull request keeps its state and base.
	f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", nil)
	for _, body := range []map[string]any{{"state": "open"}, {"state": "closed"}, {"base": "master"}} {
		f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/1", body)
	}
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/1", map[string]any{"title": "still editable"})
}

func TestPullCommentsLabelsAssignees(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	f.openPull("feature", "master", "PR", "")
	helper := f.addCollaborator("write")
	stranger := shared.register(t, "stranger")

	// Comments work as on issues and count on the pull request.
	c := shared.as(t, stranger.Token).must(http.StatusCreated, "POST", f.api+"/pulls/1/comments", map[string]any{"body": "Nice!"}).obj(t)
	if c["body"] != "Nice!" || c["author"].(map[string]any)["username"] != stranger.Name {
		t.Errorf("comment %v", c)
	}
	f.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/pulls/1/comments", map[string]any{"body": " "})
	if l := f.c.must(http.StatusOK, "GET", f.api+"/pulls/1/comments", nil).list(t); len(l) != 1 {
		t.Errorf("comments %v", l)
	}
	if p := f.pull(1); p["comments_count"] != 1.0 {
		t.Errorf("comments_count %v", p["comments_count"])
	}

	// Labels.
	labels := f.c.must(http.StatusOK, "POST", f.api+"/pulls/1/labels", map[string]any{"labels": []string{"bug", "enhancement"}}).list(t)
	if len(labels) != 2 {
		t.Fatalf("labels %v", labels)
	}
	f.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/pulls/1/labels", map[string]any{"labels": []string{"nope"}})
	shared.as(t, stranger.Token).must(http.StatusForbidden, "POST", f.api+"/pulls/1/labels", map[string]any{"labels": []string{"bug"}})
	f.c.must(http.StatusNoContent, "DELETE", f.api+"/pulls/1/labels/bug", nil)
	if p := f.pull(1); len(p["labels"].([]any)) != 1 {
		t.Errorf("labels after removal %v", p["labels"])
	}

	// Assignees answer with the pull request's shape.
	p := f.c.must(http.StatusOK, "POST", f.api+"/pulls/1/assignees", map[string]any{"assignees": []string{helper.Name, f.owner.Name}}).obj(t)
	var names []string
	for _, a := range p["assignees"].([]any) {
		names = append(names, a.(map[string]any)["username"].(string))
	}
	sort.Strings(names)
	want := []string{helper.Name, f.owner.Name}
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") || p["head"] == nil || p["commits_count"] != 1.0 {
		t.Fatalf("assign: %v", p)
	}
	f.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/pulls/1/assignees", map[string]any{"assignees": []string{"no-such-user-xyz"}})
	p = f.c.must(http.StatusOK, "DELETE", f.api+"/pulls/1/assignees", map[string]any{"assignees": []string{helper.Name}}).obj(t)
	if len(p["assignees"].([]any)) != 1 || p["mergeable"] != true {
		t.Errorf("unassign: %v", p)
	}
	// The issue paths do not reach pull requests.
	f.c.must(http.StatusNotFound, "POST", f.api+"/issues/1/comments", map[string]any{"body": "x"})
	f.c.must(http.StatusNotFound, "POST", f.api+"/issues/1/labels", map[string]any{"labels": []string{"bug"}})
}
