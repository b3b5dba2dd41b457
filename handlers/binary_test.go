package handlers_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tapioca/handlers"
	"tapioca/store"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tapiocaBinary builds the real binary once per test run, with cgo off as
// it ships.
func tapiocaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tapioca-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tapioca")
		cmd := exec.Command("go", "build", "-o", binPath, "-ldflags", "-X main.version=9.9.9-test", "tapioca")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func runBinary(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tapiocaBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBinaryServeAndShutdown runs `tapioca serve` as a user would: the
// first start creates the data dir and prints the admin password once;
// SIGTERM shuts down cleanly; the offline admin commands work on the data.
func TestBinaryServeAndShutdown(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(tapiocaBinary(t), "serve", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "TAPIOCA_BASE_URL=http://example.test", "TAPIOCA_SSH_ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var password, addr, sshPort string
	for sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`with password: (\S+)`).FindStringSubmatch(line); m != nil {
			password = m[1]
		}
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		// Port 0 picked a port: the start-up line names it.
		if m := regexp.MustCompile(`Git over SSH on 127\.0\.0\.1:(\d+) \(host key SHA256:\S+\)`).FindStringSubmatch(line); m != nil {
			sshPort = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if password == "" || addr == "" || sshPort == "" {
		t.Fatalf("no password (%q), address (%q) or SSH port (%q) printed", password, addr, sshPort)
	}
	if _, err := os.Stat(filepath.Join(data, "tapioca.db")); err != nil {
		t.Errorf("no database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "repos")); err != nil {
		t.Errorf("no repos dir: %v", err)
	}
	base := "http://" + addr
	resp, err := http.Get(base + "/v1/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	resp.Body.Close()
	// The printed password logs in, and TAPIOCA_BASE_URL reached clone_url.
	tok := (&testServer{URL: base, AdminPW: password}).adminToken(t)
	c := (&testServer{URL: base}).as(t, tok)
	repo := c.createRepo(map[string]any{"name": "x"})
	if repo["clone_url"] != "http://example.test/admin/x.git" {
		t.Errorf("clone_url %v", repo["clone_url"])
	}
	if want := "ssh://git@example.test:" + sshPort + "/admin/x.git"; repo["ssh_url"] != want {
		t.Errorf("ssh_url %v, want %s", repo["ssh_url"], want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}

	// A second start does not print a password again.
	out, err := runBinary(t, nil, "admin", "user", "create", "--data", data, "--username", "ops", "--email", "ops@example.com", "--password", "ops-password", "--admin")
	if err != nil || !strings.Contains(out, "site administrator") {
		t.Fatalf("admin user create: %v\n%s", err, out)
	}
	out, err = runBinary(t, nil, "admin", "user", "reset-password", "--data", data, "--username", "ops")
	if err != nil || !regexp.MustCompile(`Password: \S{20}`).MatchString(out) {
		t.Fatalf("reset-password: %v\n%s", err, out)
	}
	if out, err = runBinary(t, nil, "admin", "user", "set-admin", "--data", data, "--username", "ops", "--admin=false"); err != nil {
		t.Fatalf("set-admin: %v\n%s", err, out)
	}
	for i, want := range []string{"balance now 5", "balance now 12"} {
		out, err = runBinary(t, nil, "admin", "vouches", "grant", "--data", data, "--user", "ops", "--count", []string{"5", "7"}[i])
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("vouches grant: %v\n%s", err, out)
		}
	}
	if out, err := runBinary(t, nil, "admin", "vouches", "grant", "--data", data, "--user", "ops", "--count", "0"); err == nil {
		t.Errorf("granting 0 vouches succeeded: %s", out)
	}
	if out, err := runBinary(t, nil, "admin", "user", "set-admin", "--data", data, "--username", "nobody"); err == nil {
		t.Errorf("set-admin on a missing user succeeded: %s", out)
	}
	// The command line is a door like the others: the core's rules hold
	// there too, and the audit log says who acted.
	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"admin", "user", "set-admin", "--username", "admin", "--admin=false"}, "must keep at least one enabled site administrator"},
		{[]string{"admin", "user", "create", "--username", "ops2", "--email", "OPS@example.com"}, "--email has already been taken"},
		{[]string{"admin", "user", "create", "--username", "Ops", "--email", "o@example.com"}, "--username"},
		{[]string{"admin", "user", "reset-password", "--username", "ops", "--password", "short"}, "minimum is 8 characters"},
		{[]string{"admin", "vouches", "grant", "--user", "ops", "--count", "1000001"}, "from 1 to 1000000"},
	}
	for _, r := range refusals {
		out, err := runBinary(t, nil, append(r.args, "--data", data)...)
		if err == nil || !strings.Contains(out, r.want) {
			t.Errorf("%v: %v\n%s\nwant %q", r.args, err, out, r.want)
		}
	}
	st, err := store.Open(t.Context(), filepath.Join(data, "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acts, err := st.RecentActivity(t.Context(), 20)
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	for _, a := range acts {
		if a.Kind == "admin" && a.Actor == store.AuditOperator {
			audited = append(audited, a.Detail+" "+a.Subject)
		}
	}
	for _, want := range []string{"created user ops", "reset the password of ops", "removed site administrator ops", "granted 7 vouches to ops"} {
		if !slices.Contains(audited, want) {
			t.Errorf("audit log lacks %q: %q", want, audited)
		}
	}
	if out, err := runBinary(t, nil, "admin", "user", "create", "--data", filepath.Join(t.TempDir(), "missing"), "--username", "x", "--email", "x@x.io"); err == nil {
		t.Errorf("admin on a missing data dir succeeded: %s", out)
	}
}

func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	out, err := runBinary(t, nil, "version")
	if err != nil || !strings.Contains(out, "tapioca 9.9.9-test") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestBinaryRefusesBadInvocations: a typo never starts a server (nor
// creates a data directory), bad flag values are refused before anything
// happens, and every flag of every command reads TAPIOCA_<FLAG>.
func TestBinaryRefusesBadInvocations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"bogus", "--data", data}, `unknown command or argument "bogus"`},
		{"typo of serve", []string{"servee", "--addr", "127.0.0.1:0", "--data", data}, `"servee"`},
		{"serve with an argument", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "extra"}, `"extra"`},
		{"unknown admin command", []string{"admin", "bogus"}, `unknown command "bogus"`},
		{"unknown admin user command", []string{"admin", "user", "bogus"}, `unknown command "bogus"`},
		{"unknown service command", []string{"service", "bogus"}, `unknown command "bogus"`},
		{"base URL not http", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--base-url", "ftp://x"}, "--base-url"},
		{"base URL not absolute", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--base-url", "notaurl"}, "--base-url"},
		{"negative rate limit", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--rate-limit-auth", "-5"}, "--rate-limit-auth"},
		{"zero retry base", []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--webhook-retry-base", "0s"}, "--webhook-retry-base"},
	}
	for _, tc := range cases {
		out, err := runBinary(t, nil, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: err %v, output %q, want %q", tc.name, err, out, tc.want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatalf("a refused invocation created the data directory: %v", err)
	}

	// A data directory to work on, then every admin flag from the environment.
	out, err := runBinary(t, nil, "restore", "--help")
	if err != nil || !strings.Contains(out, "$TAPIOCA_FORCE") {
		t.Errorf("restore --help does not name TAPIOCA_FORCE: %v\n%s", err, out)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := handlers.Open(t.Context(), handlers.Config{DataDir: data, AdminPassword: "admin-password", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	env := []string{"TAPIOCA_DATA=" + data, "TAPIOCA_USERNAME=envuser", "TAPIOCA_EMAIL=env@example.com", "TAPIOCA_PASSWORD=env-password", "TAPIOCA_ADMIN=true"}
	if out, err := runBinary(t, env, "admin", "user", "create"); err != nil || !strings.Contains(out, "Created user envuser") || !strings.Contains(out, "site administrator") {
		t.Errorf("admin user create from the environment: %v\n%s", err, out)
	}
	if out, err := runBinary(t, nil, "admin", "user", "create", "--data", data, "--username", "bademail", "--email", "not-an-email"); err == nil || !strings.Contains(out, "--email") {
		t.Errorf("invalid email accepted: %v\n%s", err, out)
	}
	backup := filepath.Join(dir, "b.tar.gz")
	if out, err := runBinary(t, []string{"TAPIOCA_DATA=" + data, "TAPIOCA_OUT=" + backup}, "backup"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("TAPIOCA_OUT ignored: %v", err)
	}
	if out, err := runBinary(t, []string{"TAPIOCA_DATA=" + data, "TAPIOCA_FORCE=true"}, "restore", backup); err != nil {
		t.Errorf("restore with TAPIOCA_FORCE over a non-empty directory: %v\n%s", err, out)
	}
}
