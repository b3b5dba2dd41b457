package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestFirstPushSetsTheDefaultBranch: an empty repository whose default
// branch is "master" takes the first branch pushed ("main") as its
// default, on disk (HEAD) and in the API, as GitHub does.
func TestFirstPushSetsTheDefaultBranch(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "first")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "empty"})
	dir := t.TempDir()
	runGit(t, dir, "init", "-q", "-b", "main", "w")
	commitFile(t, dir+"/w", "a.txt", "a\n", "first")
	runGit(t, dir+"/w", "push", "-q", shared.gitURL(u.Token, u.Name, "empty"), "main")
	repo := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/empty", nil).obj(t)
	if repo["default_branch"] != "main" {
		t.Errorf("default_branch %v", repo["default_branch"])
	}
	clone := t.TempDir()
	runGit(t, clone, "clone", "-q", shared.gitURL(u.Token, u.Name, "empty"), "c")
	if b := strings.TrimSpace(runGit(t, clone+"/c", "rev-parse", "--abbrev-ref", "HEAD")); b != "main" {
		t.Errorf("a clone checks out %q", b)
	}
}
