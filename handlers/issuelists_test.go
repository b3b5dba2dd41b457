package handlers_test

import (
	"net/http"
	"slices"
	"testing"
)

func names(t *testing.T, v any, key string) []string {
	t.Helper()
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(map[string]any)[key].(string))
	}
	slices.Sort(out)
	return out
}

// TestPatchLabelsAssignees: PATCH on an issue or a pull request replaces
// its labels and assignees when given (as GitHub's does), needs write
// access for them, and refuses unknown names without changing anything.
func TestPatchLabelsAssignees(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	writer := f.addCollaborator("write")
	reader := f.addCollaborator("read")
	f.c.must(http.StatusCreated, "POST", f.api+"/labels", map[string]any{"name": "needs review", "color": "#00ff00"})
	f.c.must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "issue", "labels": []string{"bug"}, "assignees": []string{f.owner.Name}})
	f.openPull("feature", "master", "PR", "")
	// The reader authored neither, so make them the author of a third item.
	shared.as(t, reader.Token).must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "reader's"})

	for _, path := range []string{f.api + "/issues/1", f.api + "/pulls/2"} {
		got := f.c.must(http.StatusOK, "PATCH", path, map[string]any{"labels": []string{"enhancement", "needs review", "enhancement"}, "assignees": []string{writer.Name, reader.Name}}).obj(t)
		if l := names(t, got["labels"], "name"); !slices.Equal(l, []string{"enhancement", "needs review"}) {
			t.Errorf("%s labels %v", path, l)
		}
		if a := names(t, got["assignees"], "username"); !slices.Equal(a, sorted(writer.Name, reader.Name)) {
			t.Errorf("%s assignees %v", path, a)
		}
		// Absent lists are left alone; [] clears.
		got = f.c.must(http.StatusOK, "PATCH", path, map[string]any{"title": "renamed", "assignees": []string{}}).obj(t)
		if len(got["labels"].([]any)) != 2 || len(got["assignees"].([]any)) != 0 || got["title"] != "renamed" {
			t.Errorf("%s after partial PATCH: %v", path, got)
		}
		// Unknown label or assignee: 422 and nothing changes, title included.
		r := f.c.must(http.StatusUnprocessableEntity, "PATCH", path, map[string]any{"title": "x", "labels": []string{"nope"}})
		if len(errField(t, r, "labels")) == 0 {
			t.Errorf("%s unknown label: %s", path, r.Body)
		}
		f.c.must(http.StatusUnprocessableEntity, "PATCH", path, map[string]any{"assignees": []string{uniqueName("ghost")}})
		after := f.c.must(http.StatusOK, "GET", path, nil).obj(t)
		if after["title"] != "renamed" || len(after["labels"].([]any)) != 2 {
			t.Errorf("%s changed by a refused PATCH: %v", path, after)
		}
	}
	// An author without write access may edit the text but not the lists.
	rc := shared.as(t, reader.Token)
	rc.must(http.StatusForbidden, "PATCH", f.api+"/issues/3", map[string]any{"labels": []string{"bug"}})
	rc.must(http.StatusForbidden, "PATCH", f.api+"/issues/3", map[string]any{"assignees": []string{}})
	rc.must(http.StatusOK, "PATCH", f.api+"/issues/3", map[string]any{"title": "reader's, edited"})
	if l := f.c.must(http.StatusOK, "GET", f.api+"/issues/3", nil).obj(t)["labels"].([]any); len(l) != 0 {
		t.Errorf("reader set labels: %v", l)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func TestPullEditMessagesAndReviewerPages(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("feature", map[string]string{"f.txt": "f\n"})
	f.openPull("feature", "master", "PR", "")
	r := f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/pulls/1", map[string]any{"base": "feature"})
	if m := errField(t, r, "base"); len(m) != 1 || m[0] != "must be a different branch than head" {
		t.Errorf("base = head: %s", r.Body)
	}
	var want []string
	for range 3 {
		u := f.addCollaborator("read")
		want = append(want, u.Name)
	}
	f.c.must(http.StatusCreated, "POST", f.api+"/pulls/1/requested_reviewers", map[string]any{"reviewers": want})
	page := f.c.must(http.StatusOK, "GET", f.api+"/pulls/1/requested_reviewers?per_page=1&page=2", nil)
	if l := page.list(t); len(l) != 1 || l[0]["username"] != want[1] || page.Header.Get("X-Total-Count") != "3" {
		t.Errorf("reviewers page 2: %v %v", l, page.Header)
	}
	f.c.must(http.StatusUnprocessableEntity, "GET", f.api+"/pulls/1/requested_reviewers?per_page=0", nil)
}
