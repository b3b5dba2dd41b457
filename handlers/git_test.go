package handlers_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
)

func serverRepoPath(s *testServer, repo map[string]any) string {
	return filepath.Join(s.Dir, "repos", ftoa(repo["id"].(float64))+".git")
}

func fsck(t *testing.T, path string) {
	t.Helper()
	if out, err := tryGit(path, "fsck", "--full", "--strict"); err != nil {
		t.Fatalf("git fsck %s: %v\n%s", path, err, out)
	}
}

func TestGitCloneAndPush(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "git")
	me := shared.as(t, u.Token)
	repo := me.createRepo(map[string]any{"name": "proj"})
	dir := t.TempDir()
	url := shared.gitURL(u.Token, u.Name, "proj")

	// An empty repository clones.
	out := runGit(t, dir, "clone", url, "w")
	if !strings.Contains(out, "empty repository") {
		t.Logf("clone of empty repo said: %s", out)
	}
	w := filepath.Join(dir, "w")
	commitFile(t, w, "README.md", "hello\n", "first")
	runGit(t, w, "push", "-q", "origin", "HEAD:master")
	runGit(t, w, "checkout", "-q", "-b", "feature/x")
	commitFile(t, w, "f.txt", "feature\n", "feature work")
	runGit(t, w, "push", "-q", "origin", "feature/x")
	runGit(t, w, "tag", "v1.0")
	runGit(t, w, "tag", "-a", "v1.1", "-m", "annotated")
	runGit(t, w, "push", "-q", "origin", "--tags")

	branches := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/proj/branches", nil).list(t)
	if len(branches) != 2 || branches[0]["name"] != "feature/x" || branches[1]["name"] != "master" {
		t.Errorf("branches %v", branches)
	}
	// A fresh clone has everything, including peeled tags.
	runGit(t, dir, "clone", "-q", url, "c")
	c := filepath.Join(dir, "c")
	if tags := runGit(t, c, "tag"); tags != "v1.0\nv1.1\n" {
		t.Errorf("tags %q", tags)
	}
	if got := runGit(t, c, "ls-remote", "origin"); !strings.Contains(got, "refs/tags/v1.1^{}") {
		t.Errorf("ls-remote lacks the peeled tag:\n%s", got)
	}
	fsck(t, serverRepoPath(shared, repo))

	// pushed_at is recorded.
	if r := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/proj", nil).obj(t); r["pushed_at"] == nil {
		t.Errorf("pushed_at not set: %v", r)
	}

	// Force-push and branch deletion.
	runGit(t, w, "reset", "-q", "--hard", "HEAD~1")
	commitFile(t, w, "g.txt", "rewritten\n", "rewritten history")
	if out, err := tryGit(w, "push", "origin", "feature/x"); err == nil {
		t.Fatalf("non-fast-forward push accepted without force: %s", out)
	}
	runGit(t, w, "push", "-q", "--force", "origin", "feature/x")
	want := strings.TrimSpace(runGit(t, w, "rev-parse", "HEAD"))
	if got := strings.Fields(runGit(t, c, "ls-remote", "origin", "refs/heads/feature/x"))[0]; got != want {
		t.Errorf("after force-push remote has %s, want %s", got, want)
	}
	runGit(t, w, "push", "-q", "origin", "--delete", "feature/x")
	if got := runGit(t, c, "ls-remote", "origin", "refs/heads/feature/x"); got != "" {
		t.Errorf("deleted branch still advertised: %q", got)
	}
	fsck(t, serverRepoPath(shared, repo))
}

func TestGitAccess(t *testing.T) {
	t.Parallel()
	owner, other := shared.register(t, "gacc"), shared.register(t, "gother")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "pub", "auto_init": true})
	me.createRepo(map[string]any{"name": "priv", "visibility": "private", "auto_init": true})
	dir := t.TempDir()

	// Anonymous read of a public repository; anonymous push is refused.
	runGit(t, dir, "clone", "-q", shared.gitURL("", owner.Name, "pub"), "pub")
	commitFile(t, filepath.Join(dir, "pub"), "x", "x\n", "anon")
	if out, err := tryGit(filepath.Join(dir, "pub"), "push", "origin", "HEAD"); err == nil || !strings.Contains(out, "Authentication failed") && !strings.Contains(out, "could not read Username") {
		t.Errorf("anonymous push: %v %s", err, out)
	}
	// Also without the .git suffix.
	runGit(t, dir, "clone", "-q", strings.TrimSuffix(shared.gitURL("", owner.Name, "pub"), ".git"), "pub2")

	// Anonymous private: 401 with a Basic challenge (git would prompt).
	resp, err := http.Get(shared.URL + "/" + owner.Name + "/priv.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous private: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The same answer for a repository that does not exist: nothing leaks.
	resp, err = http.Get(shared.URL + "/" + owner.Name + "/nope.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("anonymous missing repo: %d", resp.StatusCode)
	}
	if out, err := tryGit(dir, "clone", shared.gitURL("", owner.Name, "priv"), "p0"); err == nil {
		t.Errorf("anonymous clone of private succeeded: %s", out)
	}
	// A foreign token: 404.
	out, err := tryGit(dir, "clone", shared.gitURL(other.Token, owner.Name, "priv"), "p1")
	if err == nil || !strings.Contains(out, "not found") {
		t.Errorf("foreign token clone: %v %s", err, out)
	}
	// The token as password with any username works too.
	host := strings.TrimPrefix(shared.URL, "http://")
	runGit(t, dir, "clone", "-q", "http://anyone:"+owner.Token+"@"+host+"/"+owner.Name+"/priv.git", "p2")
	// A bad token is refused (git only sends credentials after a 401, so
	// this needs a private repository).
	if out, err := tryGit(dir, "clone", shared.gitURL("cb_"+strings.Repeat("0", 40), owner.Name, "priv"), "p3"); err == nil {
		t.Errorf("bad token clone succeeded: %s", out)
	}

	// Scopes: read can clone but not push; write cannot clone; repo does both.
	mk := func(scopes ...string) string {
		return me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "g", "scopes": scopes}).obj(t)["token"].(string)
	}
	readTok, writeTok, repoTok := mk("read"), mk("write"), mk("repo")
	runGit(t, dir, "clone", "-q", shared.gitURL(readTok, owner.Name, "priv"), "r")
	commitFile(t, filepath.Join(dir, "r"), "r.txt", "r\n", "read scope")
	if out, err := tryGit(filepath.Join(dir, "r"), "push", "origin", "HEAD"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("read-scoped push: %v %s", err, out)
	}
	if out, err := tryGit(dir, "clone", shared.gitURL(writeTok, owner.Name, "priv"), "wt"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("write-scoped clone: %v %s", err, out)
	}
	runGit(t, dir, "clone", "-q", shared.gitURL(repoTok, owner.Name, "priv"), "rt")
	commitFile(t, filepath.Join(dir, "rt"), "rt.txt", "rt\n", "repo scope")
	runGit(t, filepath.Join(dir, "rt"), "push", "-q", "origin", "HEAD")
}

// fetchObjectCount runs a fetch and returns how many objects the server
// put in the pack it sent (from the pack header that GIT_TRACE_PACKFILE
// records) and git's packet trace.
func fetchObjectCount(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	packFile := filepath.Join(t.TempDir(), "received.pack")
	cmd := gitCmd(dir, args...)
	cmd.Env = append(cmd.Env, "GIT_TRACE_PACKET=1", "GIT_TRACE_PACKFILE="+packFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, stderr.String())
	}
	pack, err := os.ReadFile(packFile)
	if err != nil || len(pack) < 12 || string(pack[:4]) != "PACK" {
		return -1, stderr.String()
	}
	return int(pack[8])<<24 | int(pack[9])<<16 | int(pack[10])<<8 | int(pack[11]), stderr.String()
}

func TestGitIncrementalFetchAndShallow(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "fetch")
	shared.as(t, u.Token).createRepo(map[string]any{"name": "hist"})
	dir := t.TempDir()
	url := shared.gitURL(u.Token, u.Name, "hist")
	runGit(t, dir, "clone", "-q", url, "w")
	w := filepath.Join(dir, "w")
	for i := 0; i < 30; i++ {
		commitFile(t, w, fmt.Sprintf("f%02d.txt", i), strings.Repeat(fmt.Sprintf("line %d\n", i), 50), fmt.Sprintf("commit %d", i))
	}
	runGit(t, w, "push", "-q", "origin", "HEAD:master")
	runGit(t, dir, "clone", "-q", url, "c")
	c := filepath.Join(dir, "c")

	// Two more commits: the fetch must send only their objects (2 commits,
	// 2 trees, 2 blobs), and never fall back to "no common commits".
	commitFile(t, w, "new1.txt", "one\n", "new 1")
	commitFile(t, w, "new2.txt", "two\n", "new 2")
	runGit(t, w, "push", "-q", "origin", "HEAD:master")
	n, trace := fetchObjectCount(t, c, "fetch", "origin")
	t.Logf("incremental fetch received %d objects", n)
	if n < 0 || n > 6 {
		t.Errorf("incremental fetch received %d objects, want at most 6", n)
	}
	if strings.Contains(trace, "no common commits") {
		t.Errorf("fetch negotiated no common commits:\n%s", trace)
	}
	// A no-op fetch transfers nothing.
	if out := runGit(t, c, "fetch", "origin"); strings.TrimSpace(out) != "" {
		t.Errorf("no-op fetch printed %q", out)
	}

	// Shallow clone, then deepen.
	runGit(t, dir, "clone", "-q", "--depth", "1", url, "s")
	s := filepath.Join(dir, "s")
	if n := strings.TrimSpace(runGit(t, s, "rev-list", "--count", "HEAD")); n != "1" {
		t.Errorf("depth 1 clone has %s commits", n)
	}
	runGit(t, s, "fetch", "-q", "--deepen", "5")
	if n := strings.TrimSpace(runGit(t, s, "rev-list", "--count", "HEAD")); n != "6" {
		t.Errorf("after --deepen 5: %s commits, want 6", n)
	}
	runGit(t, s, "fetch", "-q", "--unshallow")
	if n := strings.TrimSpace(runGit(t, s, "rev-list", "--count", "HEAD")); n != "32" {
		t.Errorf("after --unshallow: %s commits, want 32", n)
	}
	runGit(t, s, "fsck", "--full")
}

// TestGitConcurrentPushes: two groups of ten clients push different
// histories to one branch at once. Each push succeeds or is rejected
// cleanly; the branch ends at one of the pushed tips; fsck is clean.
func TestGitConcurrentPushes(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "race")
	repo := shared.as(t, u.Token).createRepo(map[string]any{"name": "race", "auto_init": true})
	url := shared.gitURL(u.Token, u.Name, "race")
	base := t.TempDir()
	const n = 20
	tips := make([]string, n)
	dirs := make([]string, n)
	for i := 0; i < n; i++ {
		dirs[i] = filepath.Join(base, fmt.Sprintf("c%d", i))
		runGit(t, base, "clone", "-q", url, dirs[i])
		for j := 0; j < 3; j++ {
			commitFile(t, dirs[i], fmt.Sprintf("client%d-%d.txt", i, j), fmt.Sprintf("client %d change %d\n", i, j), fmt.Sprintf("client %d commit %d", i, j))
		}
		tips[i] = strings.TrimSpace(runGit(t, dirs[i], "rev-parse", "HEAD"))
	}
	var wg sync.WaitGroup
	results := make([]error, n)
	outs := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			outs[i], results[i] = tryGit(dirs[i], "push", "origin", "HEAD:master")
		}(i)
	}
	wg.Wait()
	ok := 0
	for i, err := range results {
		if err == nil {
			ok++
			continue
		}
		if !strings.Contains(outs[i], "rejected") && !strings.Contains(outs[i], "fetch first") && !strings.Contains(outs[i], "failed to update ref") {
			t.Errorf("push %d failed uncleanly: %s", i, outs[i])
		}
	}
	if ok == 0 {
		t.Fatal("no push succeeded")
	}
	head := strings.Fields(runGit(t, base, "ls-remote", url, "refs/heads/master"))[0]
	found := false
	for _, tip := range tips {
		found = found || tip == head
	}
	if !found {
		t.Errorf("master is at %s, which nobody pushed", head)
	}
	fsck(t, serverRepoPath(shared, repo))
}

func TestGitFileSizeLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *handlers.Config) { c.MaxFileSize = 1 << 20 })
	u := s.register(t, "big")
	repo := s.as(t, u.Token).createRepo(map[string]any{"name": "big", "auto_init": true})
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", s.gitURL(u.Token, u.Name, "big"), "w")
	w := filepath.Join(dir, "w")
	before := strings.TrimSpace(runGit(t, w, "rev-parse", "HEAD"))
	blob := make([]byte, 2<<20)
	rand.Read(blob)
	if err := os.WriteFile(filepath.Join(w, "huge.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, w, "add", "huge.bin")
	runGit(t, w, "commit", "-q", "-m", "too big")
	out, err := tryGit(w, "push", "origin", "HEAD:master")
	if err == nil {
		t.Fatalf("oversized push accepted: %s", out)
	}
	if !strings.Contains(out, "remote:") || !strings.Contains(out, "huge.bin") {
		t.Errorf("rejection does not explain itself: %s", out)
	}
	if got := strings.Fields(runGit(t, w, "ls-remote", "origin", "refs/heads/master"))[0]; got != before {
		t.Errorf("master moved to %s", got)
	}
	fsck(t, serverRepoPath(s, repo))
}

// The bootstrap account is called admin, and /admin/ is also the
// dashboard: its repositories must still be served over git.
func TestGitAdminOwnedRepo(t *testing.T) {
	t.Parallel()
	tok := shared.adminToken(t)
	name := uniqueName("adm")
	shared.as(t, tok).createRepo(map[string]any{"name": name, "auto_init": true})
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(tok, "admin", name), "w")
	commitFile(t, filepath.Join(dir, "w"), "a.txt", "a\n", "admin commit")
	runGit(t, filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD")
}

// TestLongHistoryIndexedSoonAfterPush: a first push of a long history
// leaves the repository without a reachability index, so every clone
// would walk the whole history until the daily maintenance; the core
// maintains it in the background soon after the push instead, and the
// repository still clones whole.
func TestLongHistoryIndexedSoonAfterPush(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "longhist")
	repo := shared.as(t, u.Token).createRepo(map[string]any{"name": "long"})
	src := t.TempDir()
	runGit(t, src, "init", "-q")
	var b strings.Builder
	// 10,000 files (gitserver's autoIndexObjects) in one commit.
	fmt.Fprintf(&b, "commit refs/heads/master\ncommitter Test <test@example.com> 1700000000 +0000\ndata 5\nlong\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "M 100644 inline d%d/f%d\ndata %d\n%d\n", i%100, i, len(fmt.Sprint(i))+1, i)
	}
	cmd := gitCmd(src, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	runGit(t, src, "push", "-q", shared.gitURL(u.Token, u.Name, "long"), "master")
	path := serverRepoPath(shared, repo)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if idx, _ := filepath.Glob(filepath.Join(path, "objects", "info", "tapioca-reach-*")); len(idx) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reachability index two minutes after the push")
		}
		time.Sleep(50 * time.Millisecond)
	}
	clone := filepath.Join(t.TempDir(), "c.git")
	runGit(t, "", "clone", "-q", "--bare", shared.gitURL(u.Token, u.Name, "long"), clone)
	if n := strings.Count(runGit(t, clone, "ls-tree", "-r", "master"), "\n"); n != 10000 {
		t.Errorf("the clone has %d files", n)
	}
	fsck(t, path)
}
