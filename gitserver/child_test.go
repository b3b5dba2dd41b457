package gitserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// A test that measures what a request costs the server (peak memory,
// bytes written) runs the server in a child process: the test binary
// re-executed with childRootEnv set (TestMain, in stream_test.go, then
// calls runChildServer), serving gitserver over HTTP on 127.0.0.1:0. The
// child's /proc files then describe the server alone.
const (
	childRootEnv     = "GITSERVER_TEST_CHILD_ROOT"
	childMaxFileEnv  = "GITSERVER_TEST_CHILD_MAX_FILE"
	childMaxRepoEnv  = "GITSERVER_TEST_CHILD_MAX_REPO"
	childListeningAt = "listening on "
)

// runChildServer serves the repositories under root until its standard
// input closes (the parent test ended or died).
func runChildServer(root string) int {
	maxFile, _ := strconv.ParseInt(os.Getenv(childMaxFileEnv), 10, 64)
	maxRepo, _ := strconv.ParseInt(os.Getenv(childMaxRepoEnv), 10, 64)
	srv := New(Config{MaxFileSize: maxFile, MaxRepoSize: maxRepo})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	repo := func(r *http.Request) string {
		return filepath.Join(root, filepath.Base(r.PathValue("repo")))
	}
	mux.HandleFunc("GET /{repo}/info/refs", func(w http.ResponseWriter, r *http.Request) {
		srv.ServeInfoRefs(w, r, repo(r), r.URL.Query().Get("service"))
	})
	mux.HandleFunc("POST /{repo}/git-receive-pack", func(w http.ResponseWriter, r *http.Request) {
		srv.ServeReceivePack(w, r, repo(r), ReceiveOptions{})
	})
	mux.HandleFunc("POST /{repo}/git-upload-pack", func(w http.ResponseWriter, r *http.Request) {
		srv.ServeUploadPack(w, r, repo(r))
	})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	fmt.Printf("%shttp://%s\n", childListeningAt, ln.Addr())
	http.Serve(ln, mux)
	return 0
}

// childServer is a gitserver running in a child process.
type childServer struct {
	url   string
	cmd   *exec.Cmd
	stdin io.Closer
}

func startChildServer(t *testing.T, root string, cfg Config) *childServer {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads the child's /proc files")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childRootEnv+"="+root,
		childMaxFileEnv+"="+strconv.FormatInt(cfg.MaxFileSize, 10),
		childMaxRepoEnv+"="+strconv.FormatInt(cfg.MaxRepoSize, 10),
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childServer{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		c.stdin.Close()
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("child server: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child server did not start: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), childListeningAt)
	if !ok {
		t.Fatalf("child server said %q", line)
	}
	c.url = url
	return c
}

// procField reads a "Name: value" field from one of the child's /proc
// files, as a number (the first word of the value).
func (c *childServer) procField(t *testing.T, file, name string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", c.cmd.Process.Pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatalf("%s %s: %v", file, name, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/<child>/%s", name, file)
	return 0
}

// peakRSS is the child's high-water resident set size in bytes.
func (c *childServer) peakRSS(t *testing.T) int64 { return c.procField(t, "status", "VmHWM") << 10 }

// written is how many bytes the child has passed to write(2) and the like.
func (c *childServer) written(t *testing.T) int64 { return c.procField(t, "io", "wchar") }

// post sends a receive-pack request body and returns the response.
func (c *childServer) post(t *testing.T, repo string, body []byte, gzipped bool) string {
	t.Helper()
	req, err := http.NewRequest("POST", c.url+"/"+repo+"/git-receive-pack", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("push to the child server: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("push to the child server: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("receive-pack: HTTP %d: %s", resp.StatusCode, out)
	}
	return string(out)
}
