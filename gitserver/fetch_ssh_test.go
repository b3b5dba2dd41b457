package gitserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshTestServer serves git-upload-pack over SSH for the repositories of
// a testServer: with this package's upload-pack, or with C git's
// (git upload-pack run as sshd would). Only the client key it was given
// gets in.
type sshTestServer struct {
	ts        *testServer
	addr      string
	hostKey   ssh.Signer
	native    bool // C git's upload-pack instead of this package's
	declineV2 bool // decline the GIT_PROTOCOL variable and serve v0
}

func newSSHTestServer(t *testing.T, ts *testServer, client ssh.PublicKey, native, declineV2 bool) *sshTestServer {
	t.Helper()
	s := &sshTestServer{ts: ts, hostKey: newTestSigner(t), native: native, declineV2: declineV2}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), client.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(s.hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serveConn(nc, cfg) })
		}
	})
	return s
}

func newTestSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sshTestServer) serveConn(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

func (s *sshTestServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	protocol := ""
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := !s.declineV2 && ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
			if ok {
				protocol = kv.Value
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var ex struct{ Command string }
			_ = ssh.Unmarshal(req.Payload, &ex)
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			status := s.run(ch, ex.Command, protocol)
			_ = ch.CloseWrite()
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (s *sshTestServer) run(ch ssh.Channel, command, protocol string) uint32 {
	quoted, ok := strings.CutPrefix(command, "git-upload-pack '")
	name, ok2 := strings.CutSuffix(quoted, ".git'")
	name = strings.TrimPrefix(name, "/")
	path := filepath.Join(s.ts.root, name+".git")
	if !ok || !ok2 || strings.ContainsAny(name, `/'\`) || !isRepo(path) {
		_, _ = ch.Stderr().Write([]byte("ERROR: Repository not found.\n"))
		return 1
	}
	if s.native {
		cmd := exec.Command("git", "upload-pack", path)
		cmd.Env = s.ts.env("GIT_PROTOCOL=" + protocol)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		if cmd.Run() != nil {
			return 1
		}
		return 0
	}
	out := bufio.NewWriter(ch)
	err := s.ts.srv.UploadPack(context.Background(), path, ch, out, StreamOptions{Protocol: ProtocolVersion(protocol)})
	if ferr := out.Flush(); err != nil || ferr != nil {
		return 1
	}
	return 0
}

// TestFetchMirrorSSH mirrors over SSH from this package's upload-pack
// and from C git's, then follows a push; the host key seen is reported,
// and a changed one is refused.
func TestFetchMirrorSSH(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("up")
	work := ts.workdir("up")
	ts.history(work, "main", 12, 3, 1_700_000_000)
	ts.git(work, "tag", "-a", "v1", "-m", "release one", "main~3")
	ts.git(work, "push", "-q", "origin", "main", "v1")
	key := newTestSigner(t)
	ctx := context.Background()

	for _, native := range []bool{false, true} {
		name := map[bool]string{false: "tapioca", true: "git-upload-pack"}[native]
		t.Run(name, func(t *testing.T) {
			ss := newSSHTestServer(t, ts, key.PublicKey(), native, false)
			auth := &SSHAuth{Key: key}
			up := Upstream{URL: "ssh://git@" + ss.addr + "/up.git", SSH: auth}
			refs, err := ListRemote(ctx, up)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ss.hostKey.PublicKey())))
			if refs.HEAD != "refs/heads/main" || len(refs.Refs) != 2 || refs.HostKey != want {
				t.Fatalf("ls-refs: %+v", refs)
			}
			srv := New(Config{})
			mirror := filepath.Join(t.TempDir(), "m.git")
			auth.HostKey = refs.HostKey // pinned from now on
			res, err := srv.FetchMirror(ctx, mirror, up)
			if err != nil {
				t.Fatal(err)
			}
			if res.HostKey != want || res.Objects == 0 {
				t.Fatalf("first sync: %+v", res)
			}
			sameRefs(t, "first sync", mirrorRefsOf(t, mirror), upstreamRefs(ts, ts.remote("up")))
			ts.fsck(mirror)

			ts.commitFile(work, "ssh-"+name+".txt", "over ssh\n", "after the first sync")
			ts.git(work, "push", "-q", "origin", "main")
			res, err = srv.FetchMirror(ctx, mirror, up)
			if err != nil {
				t.Fatal(err)
			}
			if got := updateNames(res.Updates); len(got) != 1 || got[0] != "~refs/heads/main" || res.Haves == 0 || res.Objects > 4 {
				t.Fatalf("incremental sync: %v %+v", got, res)
			}
			sameRefs(t, "after a push", mirrorRefsOf(t, mirror), upstreamRefs(ts, ts.remote("up")))
			ts.fsck(mirror)
		})
	}

	t.Run("refusals", func(t *testing.T) {
		ss := newSSHTestServer(t, ts, key.PublicKey(), false, false)
		url := "ssh://git@" + ss.addr + "/up.git"
		other := newTestSigner(t)
		cases := []struct {
			name string
			up   Upstream
			want error
			text string
		}{
			{"key not authorized", Upstream{URL: url, SSH: &SSHAuth{Key: other}}, ErrUpstreamNotReadable, "did not accept the key"},
			{"no key", Upstream{URL: url}, ErrUpstreamNotReadable, "needs a private key"},
			{"no repository", Upstream{URL: "ssh://git@" + ss.addr + "/nothing.git", SSH: &SSHAuth{Key: key}}, ErrUpstreamNotReadable, "Repository not found"},
			{"host key changed", Upstream{URL: url, SSH: &SSHAuth{Key: key,
				HostKey: string(ssh.MarshalAuthorizedKey(newTestSigner(t).PublicKey()))}}, ErrHostKeyChanged, "host key for " + ss.addr + " changed"},
			{"unreachable", Upstream{URL: "ssh://git@127.0.0.1:1/up.git", SSH: &SSHAuth{Key: key}}, ErrUpstreamUnreachable, "127.0.0.1:1"},
		}
		for _, c := range cases {
			_, err := ListRemote(ctx, c.up)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		// A refused fetch leaves no mirror behind it but an empty one.
		mirror := filepath.Join(t.TempDir(), "m.git")
		if _, err := New(Config{}).FetchMirror(ctx, mirror, cases[3].up); !errors.Is(err, ErrHostKeyChanged) {
			t.Fatalf("fetch with a changed host key: %v", err)
		}
		if refs := mirrorRefsOf(t, mirror); len(refs) != 0 {
			t.Fatalf("refs after a refused fetch: %v", refs)
		}
	})

	t.Run("v0 only", func(t *testing.T) {
		ss := newSSHTestServer(t, ts, key.PublicKey(), false, true)
		_, err := ListRemote(ctx, Upstream{URL: "ssh://git@" + ss.addr + "/up.git", SSH: &SSHAuth{Key: key}})
		if !errors.Is(err, ErrUpstreamProtocol) || !strings.Contains(err.Error(), "GIT_PROTOCOL") {
			t.Fatalf("server without v2: %v", err)
		}
	})
}

func TestParseSSHURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want sshAddr
		ok   bool
	}{
		{"ssh://git@example.com/owner/repo.git", sshAddr{"git", "example.com", "22", "/owner/repo.git"}, true},
		{"ssh://example.com:2222/owner/repo.git", sshAddr{"git", "example.com", "2222", "/owner/repo.git"}, true},
		{"ssh://deploy@[::1]:2222/r.git", sshAddr{"deploy", "::1", "2222", "/r.git"}, true},
		{"ssh://host/~alice/r.git", sshAddr{"git", "host", "22", "~alice/r.git"}, true},
		{"git@github.com:owner/repo.git", sshAddr{"git", "github.com", "22", "owner/repo.git"}, true},
		{"ssh://host/", sshAddr{}, false},
		{"ssh:///path", sshAddr{}, false},
		{"https://example.com/owner/repo.git", sshAddr{}, false},
		{"git@host:", sshAddr{}, false},
		{"/srv/git/repo.git", sshAddr{}, false},
		{"dir/a@b:c", sshAddr{}, false},
	} {
		got, ok := parseSSHURL(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("parseSSHURL(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if q := shellQuote("it's!"); q != `'it'\''s'\!''` {
		t.Errorf("shellQuote: %s", q)
	}
}
