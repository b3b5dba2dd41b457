package gitserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// testServer is an httptest server mapping /{name}.git/... to a Server
// over repositories in a temporary directory, plus an isolated git
// client environment.
type testServer struct {
	t    testing.TB
	srv  *Server
	root string
	url  string
	home string

	mu   sync.Mutex
	opts ReceiveOptions

	// barrier, when set, holds receive-pack ref advertisements until that
	// many clients have asked, so concurrent pushes all see the same refs.
	barrier *barrier

	gzipRequests atomic.Int64
	uploadPosts  atomic.Int64
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git client not installed")
	}
	ts := &testServer{t: t, srv: New(cfg), root: t.TempDir(), home: t.TempDir()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{repo}/info/refs", func(w http.ResponseWriter, r *http.Request) {
		path, ok := ts.repoPath(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ts.mu.Lock()
		b := ts.barrier
		ts.mu.Unlock()
		if b != nil && r.URL.Query().Get("service") == serviceReceivePack {
			b.wait()
		}
		ts.srv.ServeInfoRefs(w, r, path, r.URL.Query().Get("service"))
	})
	mux.HandleFunc("POST /{repo}/git-upload-pack", func(w http.ResponseWriter, r *http.Request) {
		path, ok := ts.repoPath(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ts.uploadPosts.Add(1)
		if r.Header.Get("Content-Encoding") == "gzip" {
			ts.gzipRequests.Add(1)
		}
		ts.srv.ServeUploadPack(w, r, path)
	})
	mux.HandleFunc("POST /{repo}/git-receive-pack", func(w http.ResponseWriter, r *http.Request) {
		path, ok := ts.repoPath(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ts.mu.Lock()
		opts := ts.opts
		ts.mu.Unlock()
		ts.srv.ServeReceivePack(w, r, path, opts)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	ts.url = hs.URL
	gitconfig := "[user]\n\tname = Test\n\temail = test@example.com\n" +
		"[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
	if err := os.WriteFile(filepath.Join(ts.home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return ts
}

func (ts *testServer) setOptions(o ReceiveOptions) {
	ts.mu.Lock()
	ts.opts = o
	ts.mu.Unlock()
}

func (ts *testServer) repoPath(r *http.Request) (string, bool) {
	name, ok := strings.CutSuffix(r.PathValue("repo"), ".git")
	if !ok || name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", false
	}
	return filepath.Join(ts.root, name+".git"), true
}

// newRepo creates an empty bare repository and returns its path.
func (ts *testServer) newRepo(name string) string {
	ts.t.Helper()
	p := filepath.Join(ts.root, name+".git")
	if err := ts.srv.Init(context.Background(), p, "main"); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

func (ts *testServer) remote(name string) string { return ts.url + "/" + name + ".git" }

func (ts *testServer) env(extra ...string) []string {
	env := []string{
		"HOME=" + ts.home,
		"PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	return append(env, extra...)
}

// git runs the git client in dir and fails the test on error.
func (ts *testServer) git(dir string, args ...string) string {
	ts.t.Helper()
	out, errOut, err := ts.gitErr(dir, nil, args...)
	if err != nil {
		ts.t.Fatalf("git %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (ts *testServer) gitErr(dir string, env []string, args ...string) (string, string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = ts.env(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// fsck runs git fsck --full on a server repository.
func (ts *testServer) fsck(repoPath string) {
	ts.t.Helper()
	out, errOut, err := ts.gitErr(repoPath, nil, "fsck", "--full", "--no-dangling")
	var problems []string
	for _, line := range strings.Split(out+errOut, "\n") {
		// "notice: HEAD points to an unborn branch" is information.
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "notice:") {
			problems = append(problems, line)
		}
	}
	if err != nil || len(problems) > 0 {
		ts.t.Fatalf("git fsck --full: %v\n%s\n%s", err, out, errOut)
	}
}

// clone clones a server repository into a fresh directory.
func (ts *testServer) clone(name string, args ...string) string {
	ts.t.Helper()
	dir := filepath.Join(ts.t.TempDir(), name)
	ts.git("", append(append([]string{"clone"}, args...), ts.remote(name), dir)...)
	return dir
}

// workdir makes a local repository with origin pointing at the server.
func (ts *testServer) workdir(name string) string {
	ts.t.Helper()
	dir := ts.t.TempDir()
	ts.git(dir, "init", "-q")
	ts.git(dir, "remote", "add", "origin", ts.remote(name))
	return dir
}

// commitFile writes a file and commits it; returns the new commit id.
func (ts *testServer) commitFile(dir, name, content, msg string) string {
	ts.t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		ts.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		ts.t.Fatal(err)
	}
	ts.git(dir, "add", name)
	ts.git(dir, "commit", "-q", "-m", msg)
	return ts.revParse(dir, "HEAD")
}

func (ts *testServer) revParse(dir, rev string) string {
	ts.t.Helper()
	return strings.TrimSpace(ts.git(dir, "rev-parse", rev))
}

// history imports n commits on branch into dir with git fast-import;
// commit i changes files i%width and adds nothing else. Commit times
// increase by a minute per commit.
func (ts *testServer) history(dir, branch string, n, width int, start int64) {
	ts.t.Helper()
	var b bytes.Buffer
	parent := ""
	if out, _, err := ts.gitErr(dir, nil, "rev-parse", "--verify", "-q", "refs/heads/"+branch); err == nil {
		parent = strings.TrimSpace(out)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "commit refs/heads/%s\n", branch)
		fmt.Fprintf(&b, "committer Test <test@example.com> %d +0000\n", start+int64(i)*60)
		msg := fmt.Sprintf("commit %d\n", i)
		fmt.Fprintf(&b, "data %d\n%s", len(msg), msg)
		if i == 0 && parent != "" {
			fmt.Fprintf(&b, "from %s\n", parent)
		}
		content := fmt.Sprintf("file %d\nrevision %d of %s\n%s", i%width, i, branch, strings.Repeat("lorem ipsum dolor sit amet\n", 20+i%7))
		fmt.Fprintf(&b, "M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n", (i%width)%5, i%width, len(content), content)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = ts.env()
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.t.Fatalf("fast-import: %v\n%s", err, out)
	}
}

func (ts *testServer) readServerRef(repoPath, name string) plumbing.Hash {
	ts.t.Helper()
	h, ok, err := readRef(repoPath, name, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	if !ok {
		return plumbing.ZeroHash
	}
	return h
}

func countLines(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	return len(strings.Split(s, "\n"))
}

type barrier struct {
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(20 * time.Second):
	}
}

// fetchCount runs git fetch in dir and returns how many objects the
// received pack held (0 when no pack came), read from the pack git
// dumps with GIT_TRACE_PACKFILE.
func (ts *testServer) fetchCount(dir string, args ...string) int {
	ts.t.Helper()
	trace := filepath.Join(ts.t.TempDir(), "pack")
	_, errOut, err := ts.gitErr(dir, []string{"GIT_TRACE_PACKFILE=" + trace}, append([]string{"fetch", "-q"}, args...)...)
	if err != nil {
		ts.t.Fatalf("git fetch %v: %v\n%s", args, err, errOut)
	}
	if strings.Contains(errOut, "no common commits") {
		ts.t.Errorf("git fetch %v found no common commits:\n%s", args, errOut)
	}
	data, err := os.ReadFile(trace)
	if err != nil || len(data) < 12 {
		return 0
	}
	return int(binary.BigEndian.Uint32(data[8:12]))
}
