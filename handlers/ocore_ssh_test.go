package handlers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers"
)

// TestProjectFollowsSSHUpstream: a project connected to an upstream over
// SSH (a second Tapioca's SSH server), read with the project's deploy
// key: validate says why it fails while the key is not installed
// upstream and changes nothing; once the key is a read-only deploy key
// there, sync, status, branches and tags work, a branch moved upstream
// notifies after the next sync and after a scheduled one, and a changed
// host key is refused.
func TestProjectFollowsSSHUpstream(t *testing.T) {
	t.Parallel()
	upstream := newServer(t, func(c *handlers.Config) { c.SSHAddr = "127.0.0.1:0" })
	srv := newServer(t, func(c *handlers.Config) {
		c.RateLimitAnon = 1 << 30
		c.WebhookRetryBase = 20 * time.Millisecond
		c.APISecret = testOpsSecret
	})
	rc := newDeployReceiver(t)
	up := upstream.register(t, "sshup")
	uc := upstream.as(t, up.Token)
	uc.createRepo(map[string]any{"name": "lib", "private": true})
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	commitFile(t, work, "lib.go", "package lib", "start")
	runGit(t, work, "tag", "v0.1")
	pushURL := upstream.gitURL(up.Token, up.Name, "lib")
	runGit(t, work, "push", "-q", pushURL, "main", "v0.1")
	first := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))

	owner := srv.register(t, "sshdep")
	oc := srv.as(t, owner.Token)
	id := newProject(t, oc, "Lib over SSH")
	rp := "/api/projects/" + id + "/repository"
	orgPath := "/api/orgs/" + owner.Name + "/projects/" + id + "/repository"
	// The project reaches the upstream through a TCP relay, which later
	// leads to another SSH server: the host key changes.
	relay := newRelay(t, upstream.App.SSHAddr().String())
	host := relay.addr
	sshURL := "ssh://git@" + host + "/" + up.Name + "/lib.git"

	// Connected before the project has a key: the sync says what to do.
	gr := oc.must(http.StatusCreated, "POST", rp, map[string]any{"repoUrl": sshURL}).obj(t)
	if gr["authType"] != "ssh" || gr["syncStatus"] != "error" || !strings.Contains(gr["syncError"].(string), "regenerate-key") ||
		gr["repoOwner"] != up.Name || gr["repoName"] != "lib" {
		t.Fatalf("ssh connection %v", gr)
	}
	pub := oc.must(http.StatusOK, "POST", rp+"/regenerate-key", nil).obj(t)["publicKey"].(string)

	// The key is not installed upstream yet: validate says so and
	// changes nothing (no host key pinned, the status as it was).
	before := oc.must(http.StatusOK, "GET", orgPath+"/sync/status", nil).obj(t)
	v := oc.must(http.StatusOK, "POST", orgPath+"/validate", nil).obj(t)
	if v["valid"] != false || !strings.Contains(v["reason"].(string), "refused the project's deploy key") {
		t.Errorf("validate without the key installed: %v", v)
	}
	if after := oc.must(http.StatusOK, "GET", orgPath+"/sync/status", nil).obj(t); after["syncError"] != before["syncError"] ||
		after["syncStatusChangedAt"] != before["syncStatusChangedAt"] || after["lastPolledAt"] != before["lastPolledAt"] {
		t.Errorf("validate changed the status: %v, then %v", before, after)
	}
	if pinned := mirrorHostKey(t, srv, sshURL); pinned != "" {
		t.Errorf("validate pinned a host key: %q", pinned)
	}

	uc.must(http.StatusCreated, "POST", "/api/v1/repos/"+up.Name+"/lib/keys", map[string]any{"title": "deploys", "key": pub, "read_only": true})
	if v := oc.must(http.StatusOK, "POST", orgPath+"/validate", nil).obj(t); v["valid"] != true || v["branchCount"] != 1.0 || v["defaultBranch"] != "main" {
		t.Errorf("validate with the key installed: %v", v)
	}
	if st := oc.must(http.StatusOK, "POST", orgPath+"/sync", nil).obj(t); st["syncStatus"] != "synced" || st["syncError"] != nil || st["defaultBranch"] != "main" {
		t.Fatalf("sync %v", st)
	}
	if st := oc.must(http.StatusOK, "GET", orgPath+"/sync/status", nil).obj(t); st["syncStatus"] != "synced" || st["lastSyncedAt"] == nil {
		t.Errorf("status %v", st)
	}
	if bs := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branches", nil).list(t); len(bs) != 1 || bs[0]["name"] != "main" || bs[0]["commitSha"] != first {
		t.Errorf("branches %v", bs)
	}
	if tags := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/tags", nil).list(t); len(tags) != 1 || tags[0]["name"] != "v0.1" || tags[0]["commitSha"] != first {
		t.Errorf("tags %v", tags)
	}
	hostKey := mirrorHostKey(t, srv, sshURL)
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostKey)); err != nil || !strings.HasPrefix(hostKey, "ssh-ed25519 ") || k == nil {
		t.Fatalf("pinned host key %q: %v", hostKey, err)
	}

	// A branch moved upstream notifies after the next sync.
	prod := linkInstance(t, oc, id, "Prod", rc.instance("/ssh-prod", "ssh-prod-secret", 0), "ssh-prod-secret")
	oc.must(http.StatusOK, "PUT", "/api/projects/"+id+"/branch-mappings", map[string]any{"mappings": []any{
		map[string]any{"branchPattern": "main", "instanceId": prod}}})
	commitFile(t, work, "lib.go", "package lib // v2", "second")
	runGit(t, work, "push", "-q", pushURL, "main")
	second := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	if st := oc.must(http.StatusOK, "POST", orgPath+"/sync", nil).obj(t); st["syncStatus"] != "synced" {
		t.Fatalf("sync %v", st)
	}
	if n := rc.wait("/ssh-prod", 1)[0]; n.Branch != "main" || n.OldSHA != first || n.NewSHA != second || n.Source != "sync" {
		t.Errorf("notification %+v", n)
	}

	// Polling: a scheduled sync reads the upstream with the deploy key.
	if u := oc.must(http.StatusOK, "PUT", rp, map[string]any{"pollingEnabled": true}).obj(t); u["pollingEnabled"] != true {
		t.Fatalf("polling %v", u)
	}
	commitFile(t, work, "lib.go", "package lib // v3", "third")
	runGit(t, work, "push", "-q", pushURL, "main")
	third := strings.TrimSpace(runGit(t, work, "rev-parse", "HEAD"))
	m, err := srv.App.Store().MirrorByURL(context.Background(), sshURL)
	if err != nil || m.Interval == 0 || m.Token == "" {
		t.Fatalf("polled mirror %+v %v", m, err)
	}
	if err := srv.App.Store().ScheduleMirror(context.Background(), m.ID, m.Interval, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	r := ops(t, srv, testOpsSecret, "POST", "/v1/api/job/mirror-poll/run", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Synced 1 mirror") || strings.Contains(string(r.Body), "failed") {
		t.Fatalf("mirror-poll: %d %s", r.Status, r.Body)
	}
	if n := rc.wait("/ssh-prod", 2)[1]; n.OldSHA != second || n.NewSHA != third {
		t.Errorf("after a scheduled sync %+v", n)
	}

	// Another SSH server at the address: its host key is refused and
	// nothing is fetched.
	impostor := newServer(t, func(c *handlers.Config) { c.SSHAddr = "127.0.0.1:0" })
	relay.to(impostor.App.SSHAddr().String())
	commitFile(t, work, "lib.go", "package lib // v4", "fourth")
	runGit(t, work, "push", "-q", pushURL, "main")
	st := oc.must(http.StatusOK, "POST", orgPath+"/sync", nil).obj(t)
	if msg, _ := st["syncError"].(string); st["syncStatus"] != "error" || !strings.Contains(msg, "host key for "+host+" changed") {
		t.Errorf("sync with a changed host key: %v", st)
	}
	v = oc.must(http.StatusOK, "POST", orgPath+"/validate", nil).obj(t)
	if v["valid"] != false || !strings.Contains(v["reason"].(string), "host key for "+host+" changed") {
		t.Errorf("validate with a changed host key: %v", v)
	}
	if bs := oc.must(http.StatusOK, "GET", "/api/projects/"+id+"/branches", nil).list(t); len(bs) != 1 || bs[0]["commitSha"] != third {
		t.Errorf("branches after a refused sync %v", bs)
	}
	if got := mirrorHostKey(t, srv, sshURL); got != hostKey {
		t.Errorf("pinned key replaced: %q", got)
	}
	if rc.count("/ssh-prod") != 2 {
		t.Errorf("notified after a refused sync")
	}
}

// mirrorHostKey is the host key pinned on the mirror of url.
func mirrorHostKey(t *testing.T, srv *testServer, url string) string {
	t.Helper()
	var k string
	if err := srv.App.Store().DB().QueryRow(`SELECT host_key FROM mirrors WHERE url = ?`, url).Scan(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

// relay forwards TCP connections to a target that can change.
type relay struct {
	addr   string
	target atomic.Pointer[string]
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String()}
	r.to(target)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				u, err := net.Dial("tcp", *r.target.Load())
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
			})
		}
	})
	return r
}

func (r *relay) to(target string) { r.target.Store(&target) }
