package gitserver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSSHEnv makes the test binary act as the ssh client git runs for
// ssh:// URLs (see TestMain): it serves the command git asks the remote
// to run through UploadPack or ReceivePack on its own stdin and stdout,
// as the SSH server will, so the stateful mode meets the real client.
const fakeSSHEnv = "TAPIOCA_TEST_FAKE_SSH"

func TestMain(m *testing.M) {
	if os.Getenv(fakeSSHEnv) != "" {
		os.Exit(fakeSSH(os.Args[1:]))
	}
	if root := os.Getenv(childRootEnv); root != "" {
		os.Exit(runChildServer(root))
	}
	os.Exit(m.Run())
}

// fakeSSH is invoked as `ssh [-o SendEnv=GIT_PROTOCOL] [-p port] host
// "git-upload-pack '/path'"` (GIT_SSH_VARIANT=ssh); GIT_PROTOCOL is in
// its environment, as sshd would pass it on with SendEnv.
func fakeSSH(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "fake ssh: no command")
		return 2
	}
	service, path, err := parseSSHCommand(args[len(args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake ssh:", err)
		return 2
	}
	srv := New(Config{})
	o := StreamOptions{Protocol: ProtocolVersion(os.Getenv("GIT_PROTOCOL"))}
	out := bufio.NewWriterSize(os.Stdout, 64*1024)
	ctx := context.Background()
	switch service {
	case serviceUploadPack:
		err = srv.UploadPack(ctx, path, os.Stdin, out, o)
	case serviceReceivePack:
		err = srv.ReceivePack(ctx, path, os.Stdin, out, o, ReceiveOptions{})
	default:
		err = fmt.Errorf("unknown service %q", service)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake ssh:", err)
		return 1
	}
	return 0
}

// parseSSHCommand splits "git-upload-pack '/a/b.git'" as git quotes it:
// in single quotes, a quote inside written as quote, backslash, quote,
// quote.
func parseSSHCommand(cmd string) (service, path string, err error) {
	service, quoted, ok := strings.Cut(cmd, " ")
	if !ok || len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
		return "", "", fmt.Errorf("bad command %q", cmd)
	}
	return service, strings.ReplaceAll(quoted[1:len(quoted)-1], `'\''`, "'"), nil
}

// sshEnv makes git reach the server through the fake ssh client.
func sshEnv() []string {
	return []string{
		"GIT_SSH_COMMAND=" + os.Args[0],
		"GIT_SSH_VARIANT=ssh",
		fakeSSHEnv + "=1",
	}
}

// TestStatefulTransportOverSSH drives the stream API's stateful mode with
// the real git client over ssh://, protocols v0 and v2: clone, shallow
// and partial clones with on-demand fetches, ls-remote, push, and a fetch
// whose negotiation takes several rounds on the one connection.
func TestStatefulTransportOverSSH(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	work := protoRepo(ts, "ssh")
	repo := filepath.Join(ts.root, "ssh.git")
	url := "ssh://fakehost" + repo
	env := sshEnv()
	run := func(proto int, dir string, args ...string) string {
		t.Helper()
		out, errOut, err := ts.gitErr(dir, env, protoArgs(proto, args...)...)
		if err != nil {
			t.Fatalf("git %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	for _, proto := range []int{0, 2} {
		clone := filepath.Join(t.TempDir(), "c")
		run(proto, "", "clone", "-q", url, clone)
		if a, b := ts.revParse(clone, "origin/other"), ts.revParse(work, "other"); a != b {
			t.Errorf("v%d: origin/other = %s, want %s", proto, a, b)
		}
		ts.git(clone, "fsck", "--full")

		ls := run(proto, "", "ls-remote", "--symref", url)
		for _, want := range []string{"ref: refs/heads/main\tHEAD", "refs/heads/other", "refs/tags/v1^{}"} {
			if !strings.Contains(ls, want) {
				t.Errorf("v%d: ls-remote lacks %q:\n%s", proto, want, ls)
			}
		}

		shallow := filepath.Join(t.TempDir(), "s")
		run(proto, "", "clone", "-q", "--depth", "1", url, shallow)
		run(proto, shallow, "fetch", "-q", "--deepen", "3")
		if n := countLines(ts.git(shallow, "rev-list", "HEAD")); n != 4 {
			t.Errorf("v%d: shallow clone deepened by 3 has %d commits, want 4", proto, n)
		}

		partial := filepath.Join(t.TempDir(), "p")
		run(proto, "", "clone", "-q", "--filter=tree:0", url, partial)
		if missing := ts.cloneState(partial).missing; len(missing) == 0 {
			t.Errorf("v%d: tree:0 clone misses nothing", proto)
		}
		// Missing trees and blobs come on demand, over ssh too.
		run(proto, partial, "checkout", "-q", "other")
		if data, err := os.ReadFile(filepath.Join(partial, "big", "b.txt")); err != nil || !strings.HasPrefix(string(data), "another big file") {
			t.Errorf("v%d: checkout in the partial clone: %q %v", proto, data, err)
		}

		// A clone with many commits the server lacks: the client sends
		// haves in rounds and the server answers each on the connection.
		ts.history(clone, "main", 300, 7, 1800000000)
		c := ts.commitFile(work, "dir3/new.txt", fmt.Sprintf("v%d\n", proto), "server side")
		ts.git(work, "push", "-q", "origin", "main")
		trace := filepath.Join(t.TempDir(), "trace")
		_, errOut, err := ts.gitErr(clone, append(env, "GIT_TRACE_PACKET="+trace), protoArgs(proto, "fetch", "origin")...)
		if err != nil || strings.Contains(errOut, "no common commits") {
			t.Errorf("v%d: fetch after local history: %v\n%s", proto, err, errOut)
		}
		tr, _ := os.ReadFile(trace)
		rounds := strings.Count(string(tr), "< NAK") // v0: one per round
		if proto == 2 {
			rounds = strings.Count(string(tr), "> command=fetch")
			if !strings.Contains(string(tr), "< version 2") {
				t.Errorf("v2: the server did not answer in protocol v2")
			}
		}
		if rounds < 2 {
			t.Errorf("v%d: negotiation took %d rounds; the test meant several", proto, rounds)
		}
		if got := ts.revParse(clone, "origin/main"); got != c {
			t.Errorf("v%d: origin/main = %s, want %s", proto, got, c)
		}

		// Push: git pushes over v0 whatever it was asked.
		ts.git(clone, "checkout", "-q", "-b", fmt.Sprintf("pushed-v%d", proto), "origin/main")
		p := ts.commitFile(clone, "pushed.txt", "pushed\n", "pushed over ssh")
		run(proto, clone, "push", "-q", "origin", "HEAD")
		if got := ts.readServerRef(repo, fmt.Sprintf("refs/heads/pushed-v%d", proto)); got.String() != p {
			t.Errorf("v%d: pushed branch at %s, want %s", proto, got, p)
		}
	}
	ts.fsck(repo)

	// A refused request reaches the client as the remote's error.
	_, errOut, err := ts.gitErr("", env, "clone", "-q", "--filter=sparse:oid=HEAD", url, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(errOut, "filter 'sparse' not supported") {
		t.Errorf("clone with an unsupported filter: %v\n%s", err, errOut)
	}
	_, errOut, err = ts.gitErr("", env, "ls-remote", "ssh://fakehost"+filepath.Join(ts.root, "missing.git"))
	if err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("ls-remote of a missing repository: %v\n%s", err, errOut)
	}
}

func TestParseSSHCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, service, path string
		ok                bool
	}{
		{"git-upload-pack '/a/b.git'", "git-upload-pack", "/a/b.git", true},
		{`git-receive-pack '/it'\''s.git'`, "git-receive-pack", "/it's.git", true},
		{"git-upload-pack /a", "", "", false},
		{"git-upload-pack", "", "", false},
	}
	for _, tc := range cases {
		s, p, err := parseSSHCommand(tc.in)
		if (err == nil) != tc.ok || s != tc.service || p != tc.path {
			t.Errorf("parseSSHCommand(%q) = %q, %q, %v", tc.in, s, p, err)
		}
	}
}
