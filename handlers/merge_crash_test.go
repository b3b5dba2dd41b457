package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMergeCrashIsFinishedAtRestart: a SIGKILL between the base branch
// moving and the pull request being recorded as merged (the binary kills
// itself there with --crash-at) leaves the pull request merged after the
// restart: the linked issue closed, the merged event delivered, and a
// second merge refused rather than adding an empty squash.
func TestMergeCrashIsFinishedAtRestart(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "")
	data := t.TempDir() + "/data"
	base, cmd := startTapioca(t, data, "--crash-at", "merge-ref-moved")
	srv := &testServer{URL: base, AdminPW: testAdminPassword}
	u := srv.register(t, "mcrash")
	me := srv.as(t, u.Token)
	me.createRepo(map[string]any{"name": "m", "auto_init": true})
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
		"url": rc.URL, "events": []string{"pull_request", "issues"}})
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/m/issues", map[string]any{"title": "bug"})
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", srv.gitURL(u.Token, u.Name, "m"), "w")
	w := dir + "/w"
	runGit(t, w, "checkout", "-q", "-b", "fix")
	commitFile(t, w, "fix.txt", "fixed\n", "Fix the bug")
	runGit(t, w, "push", "-q", "origin", "fix")
	me.must(http.StatusCreated, "POST", "/api/v1/repos/"+u.Name+"/m/pulls", map[string]any{
		"title": "Fix", "head": "fix", "base": "master", "body": "Fixes #1"})
	// The merge moves master, then the process dies before answering.
	req, _ := http.NewRequest("PUT", base+"/api/v1/repos/"+u.Name+"/m/pulls/2/merge", strings.NewReader(`{"merge_method":"squash"}`))
	req.Header.Set("Authorization", "Bearer "+u.Token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the merge answered %d although the process was to crash", resp.StatusCode)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not crash at the merge")
	}

	base, _ = startTapioca(t, data)
	srv.URL = base
	me = srv.as(t, u.Token)
	pr := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/m/pulls/2", nil).obj(t)
	master := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/m/branches/master", nil).obj(t)
	if pr["state"] != "merged" || pr["merged"] != true || pr["merge_commit_sha"] != master["sha"] || pr["mergeable"] != false {
		t.Fatalf("after restart the pull request is %v (master %v)", pr, master["sha"])
	}
	if msg, _ := master["commit"].(map[string]any)["message"].(string); !strings.HasPrefix(msg, "Fix (#2)") {
		t.Errorf("master's commit %q is not the squash", msg)
	}
	if i := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/m/issues/1", nil).obj(t); i["state"] != "closed" {
		t.Errorf("linked issue %v", i["state"])
	}
	rc.waitEvent(t, "pull_request", "merged", nil)
	rc.waitEvent(t, "issues", "closed", nil)
	r := me.do("PUT", "/api/v1/repos/"+u.Name+"/m/pulls/2/merge", map[string]any{"merge_method": "squash"})
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "already merged") {
		t.Fatalf("second merge: %d %s", r.Status, r.Body)
	}
	// The journal is empty again.
	clone := t.TempDir()
	runGit(t, clone, "clone", "-q", srv.gitURL(u.Token, u.Name, "m"), "c")
	if n := strings.TrimSpace(runGit(t, clone+"/c", "rev-list", "--count", "master")); n != "2" {
		t.Errorf("master has %s commits, want the initial one and one squash", n)
	}
}
