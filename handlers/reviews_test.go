package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestReviews(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.commit("base", map[string]string{"lib/widget.rb": "a\nb\nc\n", "untouched.txt": "u\n"})
	f.git("push", "-q", "origin", "master")
	f.branch("feature", map[string]string{"lib/widget.rb": "a\nB\nc\n", "docs/new.md": "# new\n", "logo.bin": "\x00\x01png"})
	f.openPull("feature", "master", "PR", "")
	alice := shared.register(t, "alice")
	al := shared.as(t, alice.Token)

	rv := al.must(http.StatusCreated, "POST", f.api+"/pulls/1/reviews", map[string]any{
		"body": "LGTM! Just one small nit.", "state": "approve",
		"comments": []map[string]any{{"path": "lib/widget.rb", "line": 2, "body": "Consider using `fetch` here."}},
	}).obj(t)
	if rv["state"] != "approved" || rv["body"] != "LGTM! Just one small nit." || rv["author"].(map[string]any)["username"] != alice.Name ||
		rv["commit_id"] != f.tip("feature") || !strings.HasSuffix(rv["submitted_at"].(string), "Z") {
		t.Fatalf("review %v", rv)
	}
	cs := rv["comments"].([]any)
	if len(cs) != 1 {
		t.Fatalf("comments %v", cs)
	}
	if c := cs[0].(map[string]any); c["path"] != "lib/widget.rb" || c["line"] != 2.0 || c["body"] != "Consider using `fetch` here." ||
		c["author"].(map[string]any)["username"] != alice.Name || c["id"].(float64) < 1 {
		t.Errorf("inline comment %v", c)
	}
	al.must(http.StatusCreated, "POST", f.api+"/pulls/1/reviews", map[string]any{"state": "request_changes", "body": "Please add tests."})
	f.c.must(http.StatusCreated, "POST", f.api+"/pulls/1/reviews", map[string]any{"state": "comment", "comments": []map[string]any{{"path": "docs/new.md", "line": 1, "body": "Typo?"}}})

	list := shared.as(t, "").must(http.StatusOK, "GET", f.api+"/pulls/1/reviews", nil).list(t)
	var states []string
	for _, r := range list {
		states = append(states, r["state"].(string))
	}
	if strings.Join(states, ",") != "approved,changes_requested,commented" {
		t.Errorf("review states %v", states)
	}
	if p := f.pull(1); p["review_comments_count"] != 2.0 || p["comments_count"] != 0.0 {
		t.Errorf("counts: review_comments_count %v comments_count %v", p["review_comments_count"], p["comments_count"])
	}

	cases := []struct {
		name string
		c    *client
		body map[string]any
		want string // field
	}{
		{"own approval", f.c, map[string]any{"state": "approve"}, "state"},
		{"own request_changes", f.c, map[string]any{"state": "request_changes", "body": "hmm"}, "state"},
		{"no state", al, map[string]any{"body": "x"}, "state"},
		{"bad state", al, map[string]any{"state": "approved"}, "state"},
		{"changes without body", al, map[string]any{"state": "request_changes"}, "body"},
		{"empty comment review", al, map[string]any{"state": "comment"}, "body"},
		{"unchanged file", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "untouched.txt", "line": 1, "body": "x"}}}, "comments"},
		{"missing file", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "nope.go", "line": 1, "body": "x"}}}, "comments"},
		{"line zero", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "lib/widget.rb", "line": 0, "body": "x"}}}, "comments"},
		{"no line", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "lib/widget.rb", "body": "x"}}}, "comments"},
		{"blank comment", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "lib/widget.rb", "line": 1, "body": ""}}}, "comments"},
		{"line past the end", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "lib/widget.rb", "line": 4, "body": "x"}}}, "comments"},
		{"binary file", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "logo.bin", "line": 1, "body": "x"}}}, "comments"},
		{"line not a number", al, map[string]any{"state": "comment", "comments": []map[string]any{{"path": "lib/widget.rb", "line": "2", "body": "x"}}}, "comments"},
	}
	for _, tc := range cases {
		r := tc.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/pulls/1/reviews", tc.body)
		if len(errField(t, r, tc.want)) == 0 {
			t.Errorf("%s: no error on %s: %s", tc.name, tc.want, r.Body)
		}
	}
	if n := len(al.must(http.StatusOK, "GET", f.api+"/pulls/1/reviews", nil).list(t)); n != 3 {
		t.Errorf("refused reviews were stored: %d reviews", n)
	}
	shared.as(t, "").must(http.StatusUnauthorized, "POST", f.api+"/pulls/1/reviews", map[string]any{"state": "comment", "body": "x"})
	al.must(http.StatusNotFound, "POST", f.api+"/pulls/9/reviews", map[string]any{"state": "comment", "body": "x"})

	// Private repositories hide reviews from outsiders.
	priv := newPRRepo(t, true)
	priv.branch("feature", map[string]string{"f.txt": "f\n"})
	priv.openPull("feature", "master", "PR", "")
	al.must(http.StatusNotFound, "GET", priv.api+"/pulls/1/reviews", nil)
	al.must(http.StatusNotFound, "POST", priv.api+"/pulls/1/reviews", map[string]any{"state": "approve"})
}

func TestRequestedReviewers(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, true)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	reader := f.addCollaborator("read")
	writer := f.addCollaborator("write")
	outsider := shared.register(t, "outsider")
	shared.as(t, reader.Token).must(http.StatusCreated, "POST", f.api+"/pulls", map[string]any{"title": "by reader", "head": "feature", "base": "master"})
	path := f.api + "/pulls/1/requested_reviewers"

	if l := f.c.must(http.StatusOK, "GET", path, nil).list(t); len(l) != 0 {
		t.Fatalf("initial reviewers %v", l)
	}
	if rr := f.c.must(http.StatusOK, "GET", f.api+"/pulls/1", nil).obj(t)["requested_reviewers"]; rr == nil || len(rr.([]any)) != 0 {
		t.Errorf("pull request's requested_reviewers before any request: %v", rr)
	}
	l := f.c.must(http.StatusCreated, "POST", path, map[string]any{"reviewers": []string{writer.Name, f.owner.Name}}).list(t)
	if len(l) != 2 || l[0]["username"] != writer.Name || l[1]["username"] != f.owner.Name || l[0]["kind"] != "human" {
		t.Fatalf("requested %v", l)
	}
	if _, ok := l[0]["display_name"]; !ok {
		t.Errorf("reviewer shape %v", l[0])
	}
	// Asking again keeps one request each.
	if l = f.c.must(http.StatusCreated, "POST", path, map[string]any{"reviewers": []string{writer.Name}}).list(t); len(l) != 2 {
		t.Errorf("re-request %v", l)
	}

	cases := []struct {
		name  string
		users []string
	}{
		{"author", []string{reader.Name}},
		{"no access", []string{outsider.Name}},
		{"unknown", []string{"no-such-user-zz"}},
		{"empty", []string{}},
		{"mixed", []string{writer.Name, outsider.Name}},
	}
	for _, tc := range cases {
		r := f.c.must(http.StatusUnprocessableEntity, "POST", path, map[string]any{"reviewers": tc.users})
		if len(errField(t, r, "reviewers")) == 0 {
			t.Errorf("%s: %s", tc.name, r.Body)
		}
	}
	shared.as(t, reader.Token).must(http.StatusForbidden, "POST", path, map[string]any{"reviewers": []string{writer.Name}})
	shared.as(t, reader.Token).must(http.StatusOK, "GET", path, nil)
	shared.as(t, outsider.Token).must(http.StatusNotFound, "GET", path, nil)
	shared.as(t, outsider.Token).must(http.StatusNotFound, "POST", path, map[string]any{"reviewers": []string{writer.Name}})

	// Removing answers the remaining list.
	l = f.c.must(http.StatusOK, "DELETE", path, map[string]any{"reviewers": []string{f.owner.Name, "no-such-user-zz"}}).list(t)
	if len(l) != 1 || l[0]["username"] != writer.Name {
		t.Fatalf("after removal %v", l)
	}
	// The pull request shows its pending requests, in lists too.
	if rr := f.c.must(http.StatusOK, "GET", f.api+"/pulls/1", nil).obj(t)["requested_reviewers"].([]any); len(rr) != 1 || rr[0].(map[string]any)["username"] != writer.Name {
		t.Errorf("pull request's requested_reviewers %v", rr)
	}
	if ps := f.c.must(http.StatusOK, "GET", f.api+"/pulls", nil).list(t); len(ps) != 1 || len(ps[0]["requested_reviewers"].([]any)) != 1 {
		t.Errorf("listed pull request's requested_reviewers %v", ps)
	}
	shared.as(t, reader.Token).must(http.StatusForbidden, "DELETE", path, map[string]any{"reviewers": []string{writer.Name}})
	f.c.must(http.StatusUnprocessableEntity, "DELETE", path, map[string]any{})

	// Submitting a review satisfies the request.
	shared.as(t, writer.Token).must(http.StatusCreated, "POST", f.api+"/pulls/1/reviews", map[string]any{"state": "approve"})
	if l = f.c.must(http.StatusOK, "GET", path, nil).list(t); len(l) != 0 {
		t.Errorf("after review %v", l)
	}
}
