package sshd

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
)

func newSigner(t *testing.T) ssh.Signer {
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

// startDoor serves SSH for a fresh core on 127.0.0.1 and returns its
// address, with one user whose key is returned.
func startDoor(t *testing.T, cfg Config) (*Door, string, *coretest.Forge, core.Actor, ssh.Signer) {
	t.Helper()
	f := coretest.New(t)
	cfg.HostKey = newSigner(t)
	d, err := New(f.Env, f.Accounts, f.Pushes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ln) }()
	t.Cleanup(func() {
		_ = d.Shutdown(context.Background())
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	user := f.User(t, "alice")
	key := newSigner(t)
	if _, err := f.Accounts.AddSSHKey(t.Context(), user, "laptop", string(ssh.MarshalAuthorizedKey(key.PublicKey()))); err != nil {
		t.Fatal(err)
	}
	return d, ln.Addr().String(), f, user, key
}

func dial(addr string, banner *string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: "git", Auth: auth, HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		BannerCallback: func(msg string) error {
			if banner != nil {
				*banner += msg
			}
			return nil
		},
	})
}

// waitClosed fails the test unless the server closes c.
func waitClosed(t *testing.T, c *ssh.Client) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close the connection")
	}
}

// Keys only, a few attempts, and a disabled account is told so.
func TestAuthentication(t *testing.T) {
	_, addr, f, user, key := startDoor(t, Config{})
	c, err := dial(addr, nil, ssh.PublicKeys(key))
	if err != nil {
		t.Fatalf("registered key: %v", err)
	}
	c.Close()
	if _, err := dial(addr, nil, ssh.Password("password"), ssh.KeyboardInteractive(
		func(string, string, []string, []bool) ([]string, error) { return nil, nil })); err == nil {
		t.Error("password and keyboard-interactive accepted")
	}
	// Six keys nobody registered use up the attempts before the right one.
	var many []ssh.Signer
	for range 6 {
		many = append(many, newSigner(t))
	}
	if _, err := dial(addr, nil, ssh.PublicKeys(append(many, key)...)); err == nil || !strings.Contains(err.Error(), "too many authentication failures") {
		t.Errorf("seventh key: %v", err)
	}
	if err := f.Env.Store.SetDisabled(t.Context(), user.User.ID, true); err != nil {
		t.Fatal(err)
	}
	var banner string
	if _, err := dial(addr, &banner, ssh.PublicKeys(key)); err == nil || !strings.Contains(banner, "disabled") {
		t.Errorf("disabled account: %v, banner %q", err, banner)
	}
}

// The limits that keep one client from holding the server: connections
// per address, the handshake's time, idle connections, and shutdown
// closing what runs nothing.
func TestLimits(t *testing.T) {
	d, addr, _, _, key := startDoor(t, Config{MaxConnsPerAddr: 2, HandshakeTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})

	// Two silent connections are admitted (the server speaks first) and
	// closed when their handshake time is up; a third at the same time
	// is closed at once.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "SSH-2.0-Tapioca") {
			t.Fatalf("server version %q %v", line, err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := third.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Errorf("third connection from one address: read %d bytes, %v", n, err)
	}
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("handshake never finished, connection not closed: %v", err)
		}
	}

	// An authenticated connection that runs nothing is closed when idle.
	c, err := dial(addr, nil, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)

	// Shutdown closes connections that run no command.
	d, addr, _, _, key = startDoor(t, Config{})
	c, err = dial(addr, nil, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
}

func TestHostKey(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, HostKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v", st, err)
	}
	again, err := LoadHostKey(dir)
	if err != nil || string(again.PublicKey().Marshal()) != string(first.PublicKey().Marshal()) ||
		first.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("second start: %v, same key %v", err, again != nil && string(again.PublicKey().Marshal()) == string(first.PublicKey().Marshal()))
	}
	if err := os.WriteFile(filepath.Join(dir, HostKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKey(dir); err == nil {
		t.Error("a damaged host key was accepted")
	}
}

// The idle clock runs while the server waits on the client, and stops
// while a command works for it, however long that takes.
func TestIdleClock(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ic := newIdleConn(a, time.Hour)
	defer ic.Close()
	running := func() bool { // leaves the clock as it was
		ic.mu.Lock()
		defer ic.mu.Unlock()
		if ic.timer.Stop() {
			ic.timer.Reset(ic.timeout)
			return true
		}
		return false
	}
	if !running() {
		t.Fatal("stopped on a new connection")
	}
	done := ic.working()
	if running() {
		t.Fatal("runs while a command works")
	}
	var whileWaiting bool
	_, _ = ic.waiting(func() (int, error) { whileWaiting = running(); return 0, nil })
	if !whileWaiting || running() {
		t.Fatalf("running while the command waits on the client: %v; after: %v", whileWaiting, running())
	}
	done()
	done() // once only
	if !running() {
		t.Fatal("stopped after the command")
	}
}
