package handlers_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProjectNotificationSurvivesSIGKILL: the built binary kills itself
// right after a push's notification is committed to the outbox, before
// any attempt; after the restart the instance is notified, once (the
// push's replay from the ref journal queues nothing new), and later
// pushes notify as usual.
func TestProjectNotificationSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	rc := newDeployReceiver(t)
	hook := rc.instance("/kill", "kill-secret", 0)
	data := filepath.Join(t.TempDir(), "data")
	flags := []string{"--webhook-retry-base", "50ms"}
	base, cmd := startTapioca(t, data, append(flags, "--crash-at", "project-delivery-queued")...)
	srv := &testServer{URL: base, AdminPW: testAdminPassword}
	owner := srv.register(t, "crash")
	oc := srv.as(t, owner.Token)
	oc.createRepo(map[string]any{"name": "app"})
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	commitFile(t, work, "a.txt", "1", "one")
	runGit(t, work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "app"), "main")
	first := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))

	id := newProject(t, oc, "App")
	oc.must(http.StatusCreated, "POST", "/api/projects/"+id+"/repository", map[string]any{"repoOwner": owner.Name, "repoName": "app"})
	inst := linkInstance(t, oc, id, "Prod", hook, "kill-secret")
	oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": inst}}})

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	commitFile(t, work, "a.txt", "2", "two")
	second := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	// The server dies during the push: the client may or may not hear
	// the result.
	_, _ = tryGit(work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "app"), "main")
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not kill itself at project-delivery-queued")
	}
	if n := rc.count("/kill"); n != 0 {
		t.Fatalf("%d notifications before the restart", n)
	}

	base, _ = startTapioca(t, data, flags...)
	srv.URL = base
	got := rc.wait("/kill", 1)
	if got[0].OldSHA != first || got[0].NewSHA != second || got[0].Pusher == nil || got[0].Pusher.Username != owner.Name {
		t.Errorf("after the restart %+v", got[0])
	}
	commitFile(t, work, "a.txt", "3", "three")
	third := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	runGit(t, work, "push", "-q", srv.gitURL(owner.Token, owner.Name, "app"), "main")
	got = rc.wait("/kill", 2)
	if len(got) != 2 || got[1].OldSHA != second || got[1].NewSHA != third {
		t.Errorf("notifications %+v, want the crashed push's once, then the next", got)
	}
}
