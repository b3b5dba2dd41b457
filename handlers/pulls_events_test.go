package handlers_test

import (
	"net/http"
	"testing"
)

// The pull_request events of a pull request's life, each with the full
// pull request as it was after the change.
func TestPullRequestEvents(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	rc := newReceiver(t, "whsec_pulls")
	f.c.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL + "/hook", "secret": "whsec_pulls",
		"events": []string{"pull_request", "issues"}})
	reviewer := f.addCollaborator("write")
	f.c.must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "bug to fix"})
	f.branch("topic", map[string]string{"t.txt": "t\n"})
	f.openPull("topic", "master", "Topic", "Fixes #1")
	pr := func(d hookDelivery) map[string]any { return d.Payload["pull_request"].(map[string]any) }

	d := rc.waitEvent(t, "pull_request", "opened", nil)
	if p := pr(d); d.Payload["number"] != 2.0 || p["commits_count"] != 1.0 || p["mergeable"] != true ||
		p["head"].(map[string]any)["sha"] != f.tip("topic") || !d.SignatureOK || d.Payload["repository"] == nil {
		t.Errorf("opened %v", d.Payload)
	}

	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"title": "Topic v2", "draft": true})
	d = rc.waitEvent(t, "pull_request", "edited", nil)
	if ch := d.Payload["changes"].(map[string]any); ch["title"].(map[string]any)["from"] != "Topic" || pr(d)["title"] != "Topic v2" {
		t.Errorf("edited %v", d.Payload)
	}
	rc.waitEvent(t, "pull_request", "converted_to_draft", nil)
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"draft": false})
	rc.waitEvent(t, "pull_request", "ready_for_review", nil)

	// A push to the head.
	before := f.tip("topic")
	f.git("checkout", "-q", "topic")
	f.commit("more", map[string]string{"u.txt": "u\n"})
	f.git("push", "-q", "origin", "topic")
	f.git("checkout", "-q", "master")
	d = rc.waitEvent(t, "pull_request", "synchronize", nil)
	if d.Payload["before"] != before || d.Payload["after"] != f.tip("topic") || pr(d)["commits_count"] != 2.0 ||
		pr(d)["head"].(map[string]any)["sha"] != f.tip("topic") {
		t.Errorf("synchronize %v", d.Payload)
	}

	f.c.must(http.StatusOK, "POST", f.api+"/pulls/2/labels", map[string]any{"labels": []string{"bug"}})
	if d = rc.waitEvent(t, "pull_request", "labeled", nil); d.Payload["label"].(map[string]any)["name"] != "bug" {
		t.Errorf("labeled %v", d.Payload)
	}
	f.c.must(http.StatusOK, "POST", f.api+"/pulls/2/assignees", map[string]any{"assignees": []string{reviewer.Name}})
	rc.waitEvent(t, "pull_request", "assigned", nil)
	f.c.must(http.StatusCreated, "POST", f.api+"/pulls/2/requested_reviewers", map[string]any{"reviewers": []string{reviewer.Name}})
	if d = rc.waitEvent(t, "pull_request", "review_requested", nil); d.Payload["requested_reviewer"].(map[string]any)["username"] != reviewer.Name {
		t.Errorf("review_requested %v", d.Payload)
	}
	shared.as(t, reviewer.Token).must(http.StatusCreated, "POST", f.api+"/pulls/2/reviews", map[string]any{"state": "approve"})
	if d = rc.waitEvent(t, "pull_request", "review_submitted", nil); d.Payload["review"].(map[string]any)["state"] != "approved" {
		t.Errorf("review_submitted %v", d.Payload)
	}

	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"state": "closed"})
	if d = rc.waitEvent(t, "pull_request", "closed", nil); pr(d)["state"] != "closed" {
		t.Errorf("closed %v", d.Payload)
	}
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/2", map[string]any{"state": "open"})
	rc.waitEvent(t, "pull_request", "reopened", nil)

	// Merging: one merged event (not also closed), and the issue it fixes closes.
	f.c.must(http.StatusOK, "PUT", f.api+"/pulls/2/merge", nil)
	if d = rc.waitEvent(t, "pull_request", "merged", nil); pr(d)["state"] != "merged" || pr(d)["merged"] != true {
		t.Errorf("merged %v", d.Payload)
	}
	if d = rc.waitEvent(t, "issues", "closed", nil); d.Payload["issue"].(map[string]any)["number"] != 1.0 {
		t.Errorf("issues closed %v", d.Payload)
	}
	closed := 0
	for _, d := range rc.all() {
		if d.Event == "pull_request" && d.Payload["action"] == "closed" {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d pull_request closed events, want the one from the PATCH", closed)
	}

	// Deleting the head of an open pull request closes it.
	f.branch("doomed", map[string]string{"d.txt": "d\n"})
	f.openPull("doomed", "master", "Doomed", "")
	f.c.must(http.StatusNoContent, "DELETE", f.api+"/branches/doomed", nil)
	rc.waitEvent(t, "pull_request", "closed", func(p map[string]any) bool { return p["number"] == 3.0 })
}
