package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestBranchAPI(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	master := f.tip("master")

	// Create from a full sha and from an abbreviated one; names with '/'.
	b := f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "feature/new-api", "sha": master}).obj(t)
	if b["name"] != "feature/new-api" || b["sha"] != master || b["protected"] != false {
		t.Fatalf("created branch %v", b)
	}
	f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "short", "sha": master[:7]})
	if got := f.tip("feature/new-api"); got != master {
		t.Fatalf("git sees feature/new-api at %q, want %s", got, master)
	}

	// Get, with the commit.
	g := f.c.must(http.StatusOK, "GET", f.api+"/branches/feature/new-api", nil).obj(t)
	c := g["commit"].(map[string]any)
	if g["name"] != "feature/new-api" || g["sha"] != master || c["sha"] != master ||
		c["message"] != "Initial commit" || c["author"] != f.owner.Name || !strings.HasSuffix(c["committed_at"].(string), "Z") {
		t.Fatalf("get branch %v", g)
	}
	if list := f.c.must(http.StatusOK, "GET", f.api+"/branches", nil).list(t); len(list) != 3 {
		t.Fatalf("branches %v", list)
	}

	// Validation: nothing is created.
	cases := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"sha": master}, "name"},
		{map[string]any{"name": "bad..name", "sha": master}, "name"},
		{map[string]any{"name": "has space", "sha": master}, "name"},
		{map[string]any{"name": "short", "sha": master}, "name"},                    // exists
		{map[string]any{"name": "feature", "sha": master}, "name"},                  // feature/new-api exists
		{map[string]any{"name": "short/deeper", "sha": master}, "name"},             // short exists
		{map[string]any{"name": "nosha"}, "sha"},                                    // missing
		{map[string]any{"name": "badsha", "sha": "not-a-sha"}, "sha"},               // not hex
		{map[string]any{"name": "unknown", "sha": strings.Repeat("ab", 20)}, "sha"}, // no such commit
	}
	for _, tc := range cases {
		r := f.c.must(http.StatusUnprocessableEntity, "POST", f.api+"/branches", tc.body)
		if len(errField(t, r, tc.field)) == 0 {
			t.Errorf("%v: no error on %s: %s", tc.body, tc.field, r.Body)
		}
	}
	f.c.must(http.StatusBadRequest, "POST", f.api+"/branches", "{")
	if list := f.c.must(http.StatusOK, "GET", f.api+"/branches", nil).list(t); len(list) != 3 {
		t.Fatalf("a failed creation left a branch: %v", list)
	}

	// Unknown branches.
	f.c.must(http.StatusNotFound, "GET", f.api+"/branches/nope", nil)
	f.c.must(http.StatusNotFound, "PATCH", f.api+"/branches/nope", map[string]any{"protected": true})
	f.c.must(http.StatusNotFound, "DELETE", f.api+"/branches/nope", nil)

	// Delete; the default branch cannot go.
	f.c.must(http.StatusNoContent, "DELETE", f.api+"/branches/feature/new-api", nil)
	f.c.must(http.StatusNotFound, "GET", f.api+"/branches/feature/new-api", nil)
	if got := f.tip("feature/new-api"); got != "" {
		t.Fatalf("deleted branch still on the server at %s", got)
	}
	r := f.c.must(http.StatusUnprocessableEntity, "DELETE", f.api+"/branches/master", nil)
	if !strings.Contains(string(r.Body), "default branch") {
		t.Errorf("delete default branch: %s", r.Body)
	}
}

func TestBranchAPIAuthorization(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, true)
	master := f.tip("master")
	reader := f.addCollaborator("read")
	writer := f.addCollaborator("write")
	outsider := shared.register(t, "outsider")
	body := map[string]any{"name": "x", "sha": master}

	// Private: invisible to outsiders and anonymous callers.
	for _, c := range []*client{shared.as(t, outsider.Token), shared.as(t, "")} {
		c.must(http.StatusNotFound, "POST", f.api+"/branches", body)
		c.must(http.StatusNotFound, "GET", f.api+"/branches/master", nil)
		c.must(http.StatusNotFound, "DELETE", f.api+"/branches/master", nil)
		c.must(http.StatusNotFound, "PATCH", f.api+"/branches/master", map[string]any{"protected": true})
	}
	rd := shared.as(t, reader.Token)
	rd.must(http.StatusOK, "GET", f.api+"/branches/master", nil)
	rd.must(http.StatusForbidden, "POST", f.api+"/branches", body)
	wr := shared.as(t, writer.Token)
	wr.must(http.StatusCreated, "POST", f.api+"/branches", body)
	rd.must(http.StatusForbidden, "DELETE", f.api+"/branches/x", nil)
	// Protection is for admins.
	wr.must(http.StatusForbidden, "PATCH", f.api+"/branches/x", map[string]any{"protected": true})
	wr.must(http.StatusNoContent, "DELETE", f.api+"/branches/x", nil)

	// A public repository answers 401 to anonymous writes.
	pub := newPRRepo(t, false)
	shared.as(t, "").must(http.StatusUnauthorized, "POST", pub.api+"/branches", map[string]any{"name": "x", "sha": pub.tip("master")})
	shared.as(t, "").must(http.StatusOK, "GET", pub.api+"/branches/master", nil)
}

func TestProtectedBranch(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("release/1.0", map[string]string{"a.txt": "a\n"})

	r := f.c.must(http.StatusUnprocessableEntity, "PATCH", f.api+"/branches/release/1.0", map[string]any{})
	if len(errField(t, r, "protected")) == 0 {
		t.Errorf("missing protected: %s", r.Body)
	}
	for _, name := range []string{"master", "release/1.0"} {
		b := f.c.must(http.StatusOK, "PATCH", f.api+"/branches/"+name, map[string]any{"protected": true}).obj(t)
		if b["protected"] != true || b["name"] != name {
			t.Fatalf("protect %s: %v", name, b)
		}
	}
	for _, b := range f.c.must(http.StatusOK, "GET", f.api+"/branches", nil).list(t) {
		if b["protected"] != true {
			t.Errorf("branch list: %v not protected", b)
		}
	}

	// Over git: a fast-forward is fine, a force-push and a deletion are not.
	f.commit("fast forward", map[string]string{"b.txt": "b\n"})
	f.git("push", "-q", "origin", "master")
	before := f.tip("master")
	f.git("reset", "-q", "--hard", "HEAD~1")
	f.commit("rewritten history", map[string]string{"c.txt": "c\n"})
	out, err := tryGit(f.work, "push", "--force", "origin", "master")
	if err == nil || !strings.Contains(out, "remote:") || !strings.Contains(out, "branch master is protected: force-push is not allowed") {
		t.Fatalf("force-push to protected branch: err %v\n%s", err, out)
	}
	if got := f.tip("master"); got != before {
		t.Fatalf("force-push moved master to %s", got)
	}
	releaseTip := f.tip("release/1.0")
	out, err = tryGit(f.work, "push", "origin", ":release/1.0")
	if err == nil || !strings.Contains(out, "branch release/1.0 is protected: it cannot be deleted") {
		t.Fatalf("delete protected branch over git: err %v\n%s", err, out)
	}
	if got := f.tip("release/1.0"); got != releaseTip {
		t.Fatalf("protected branch moved to %q", got)
	}

	// Over the API too.
	r = f.c.must(http.StatusUnprocessableEntity, "DELETE", f.api+"/branches/release/1.0", nil)
	if !strings.Contains(string(r.Body), "protected") {
		t.Errorf("API delete of protected branch: %s", r.Body)
	}
	// Unprotected, both work again.
	f.c.must(http.StatusOK, "PATCH", f.api+"/branches/release/1.0", map[string]any{"protected": false})
	f.c.must(http.StatusNoContent, "DELETE", f.api+"/branches/release/1.0", nil)
	f.c.must(http.StatusOK, "PATCH", f.api+"/branches/master", map[string]any{"protected": false})
	f.git("push", "-q", "--force", "origin", "master")
	if got := f.tip("master"); got == before {
		t.Fatal("force-push to an unprotected branch did not land")
	}
	// The default branch cannot be deleted over git, protected or not
	// (git's receive.denyDeleteCurrent): HEAD would point nowhere.
	master := f.tip("master")
	out, err = tryGit(f.work, "push", "origin", ":master")
	if err == nil || !strings.Contains(out, "deletion of the current branch prohibited") || f.tip("master") != master {
		t.Fatalf("delete the default branch over git: err %v\n%s", err, out)
	}
}
