package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tapioca/handlers"
)

// testServer is a real Tapioca on 127.0.0.1 with its own data directory.
type testServer struct {
	URL      string
	App      *handlers.App
	Dir      string
	AdminPW  string
	shutdown func()
}

const testAdminPassword = "admin-password-for-tests"

// startServer starts a server; mod may adjust the configuration.
func startServer(mod func(*handlers.Config)) (*testServer, error) {
	dir, err := os.MkdirTemp("", "tapioca-test-*")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	cfg := handlers.Config{
		DataDir:       dir,
		BaseURL:       url,
		AdminPassword: testAdminPassword,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		// The tests' receivers and upstreams listen on 127.0.0.1.
		OutboundAllowLoopback: true,
	}
	if os.Getenv("TAPIOCA_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := handlers.Open(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Serve(ctx, ln)
	}()
	return &testServer{URL: url, App: app, Dir: dir, AdminPW: testAdminPassword, shutdown: func() {
		cancel()
		<-done
		app.Close()
		os.RemoveAll(dir)
	}}, nil
}

// newServer starts a server owned by one test.
func newServer(t testing.TB, mod func(*handlers.Config)) *testServer {
	t.Helper()
	s, err := startServer(mod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.shutdown)
	return s
}

// shared is the package's shared server: tests that only add their own
// users and repositories run against it in parallel.
var shared *testServer

func TestMain(m *testing.M) {
	var err error
	// Every test registers its users anonymously from 127.0.0.1: the
	// shared server must not rate-limit them (TestRateLimit has its own).
	shared, err = startServer(func(c *handlers.Config) { c.RateLimitAnon = 1 << 30 })
	if err != nil {
		fmt.Fprintln(os.Stderr, "start shared server:", err)
		os.Exit(1)
	}
	code := m.Run()
	shared.shutdown()
	os.Exit(code)
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// obj decodes a JSON object body.
func (r *response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// list decodes a JSON array body.
func (r *response) list(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	r.decode(t, &l)
	return l
}

// client talks to a server as one caller (token "" = anonymous).
type client struct {
	t     testing.TB
	srv   *testServer
	token string
}

func (s *testServer) as(t testing.TB, token string) *client {
	return &client{t: t, srv: s, token: token}
}

func (c *client) do(method, path string, body any) *response {
	c.t.Helper()
	return c.doWith(method, path, body, nil)
}

// doWith is do with extra request headers (set last, so they win).
func (c *client) doWith(method, path string, body any, hdr map[string]string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// must does a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any) *response {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r
}

var userSeq atomic.Int64

// uniqueName returns a fresh name for users, orgs and repositories.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, userSeq.Add(1))
}

// testUser is a registered account and its default token.
type testUser struct {
	Name  string
	Email string
	Token string
	ID    int64
}

// register creates a user on s and returns it.
func (s *testServer) register(t testing.TB, prefix string) testUser {
	t.Helper()
	name := uniqueName(prefix)
	email := name + "@example.com"
	r := s.as(t, "").must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{
		"username": name,
		"user":     map[string]any{"email": email, "password": "password123", "password_confirmation": "password123"},
	})
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	r.decode(t, &out)
	return testUser{Name: name, Email: email, Token: out.Token, ID: out.User.ID}
}

// adminToken logs in as the bootstrap admin.
func (s *testServer) adminToken(t testing.TB) string {
	t.Helper()
	r := s.as(t, "").must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"email": "admin", "password": s.AdminPW})
	return r.obj(t)["token"].(string)
}

// createRepo makes a repository for the token's user.
func (c *client) createRepo(body map[string]any) map[string]any {
	c.t.Helper()
	return c.must(http.StatusCreated, "POST", "/api/v1/user/repos", body).obj(c.t)
}

// git runs the real git client in dir with no global configuration and
// no credential prompts.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tryGit runs git and returns its output and error without failing.
func tryGit(dir string, args ...string) (string, error) {
	out, err := gitCmd(dir, args...).CombinedOutput()
	return string(out), err
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	return cmd
}

// gitURL is the clone URL for owner/repo with a token as the username.
func (s *testServer) gitURL(token, owner, repo string) string {
	u := strings.TrimPrefix(s.URL, "http://")
	if token == "" {
		return "http://" + u + "/" + owner + "/" + repo + ".git"
	}
	return "http://" + token + "@" + u + "/" + owner + "/" + repo + ".git"
}

// commitFile writes a file and commits it in a work tree.
func commitFile(t testing.TB, dir, name, content, msg string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "add", name)
	runGit(t, dir, "commit", "-q", "-m", msg)
}

func ftoa(f float64) string { return strconv.FormatInt(int64(f), 10) }

func itoa(i int) string { return strconv.Itoa(i) }
