// Package sshd is the git-over-SSH door: an SSH server (on
// golang.org/x/crypto/ssh) that authenticates clients by the public keys
// users registered and by repositories' deploy keys, runs the exec
// requests git sends (git-upload-pack and git-receive-pack on
// owner/repo), asks the core whether the fetch or push is allowed, as the
// smart-HTTP door does, and hands the channel to gitserver. Pushes are
// recorded by the core's push service. Everything else (a shell, other
// commands, port forwarding) is refused with a message saying what works.
package sshd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/pushes"
)

// Config is the SSH server's configuration; zero values take the defaults
// in parentheses.
type Config struct {
	HostKey ssh.Signer // required; see LoadHostKey
	// IdleTimeout closes a connection on which the server has waited on
	// the client that long (10m); see idleConn.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the key exchange and authentication (30s).
	HandshakeTimeout time.Duration
	// MaxConnsPerAddr is how many connections one client address may hold
	// open at once (32); more are closed as they arrive.
	MaxConnsPerAddr int
	// MaxSessionsPerConn is how many sessions (commands) one connection
	// may run at once (10, as OpenSSH's MaxSessions).
	MaxSessionsPerConn int
	// MaxAuthTries is how many failed authentication attempts (each key
	// offered that is not registered counts) a connection gets (6, as
	// OpenSSH's).
	MaxAuthTries int
}

func (c *Config) defaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 30 * time.Second
	}
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = 32
	}
	if c.MaxSessionsPerConn <= 0 {
		c.MaxSessionsPerConn = 10
	}
	if c.MaxAuthTries <= 0 {
		c.MaxAuthTries = 6
	}
}

// ErrServerClosed is what Serve returns after Shutdown.
var ErrServerClosed = errors.New("ssh server closed")

// Door is git over SSH.
type Door struct {
	env      *core.Env
	accounts *accounts.Service
	pushes   *pushes.Service
	cfg      Config
	server   *ssh.ServerConfig
	log      *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	closing  bool
	conns    map[*conn]struct{}
	perAddr  map[string]int
	handlers sync.WaitGroup // one per accepted connection
}

// New returns the SSH door.
func New(env *core.Env, acc *accounts.Service, ps *pushes.Service, cfg Config) (*Door, error) {
	if cfg.HostKey == nil {
		return nil, errors.New("ssh server: no host key")
	}
	cfg.defaults()
	d := &Door{env: env, accounts: acc, pushes: ps, cfg: cfg, log: env.Log,
		conns: map[*conn]struct{}{}, perAddr: map[string]int{}}
	d.server = &ssh.ServerConfig{
		// Public keys only: no PasswordCallback or
		// KeyboardInteractiveCallback, so those methods are refused.
		PublicKeyCallback:         d.offered,
		VerifiedPublicKeyCallback: d.verified,
		MaxAuthTries:              cfg.MaxAuthTries,
		ServerVersion:             "SSH-2.0-Tapioca",
	}
	d.server.AddHostKey(cfg.HostKey)
	return d, nil
}

// extFingerprint carries the authenticated key from the handshake to the
// sessions.
const extFingerprint = "tapioca-key-fingerprint"

// offered accepts a key offered by a client if it is registered: a
// user's key (even a disabled account's, refused once proven, with a
// message) or a deploy key. The client has not proven it holds the key
// yet.
func (d *Door) offered(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, errors.New("certificates are not accepted")
	}
	fp := ssh.FingerprintSHA256(key)
	_, err := d.accounts.AuthenticateKey(context.Background(), fp)
	switch {
	case err == nil, errors.Is(err, core.ErrDisabled):
		return &ssh.Permissions{Extensions: map[string]string{extFingerprint: fp}}, nil
	case errors.Is(err, core.ErrBadCredentials):
		return nil, errors.New("unknown key")
	}
	d.log.Error("ssh: look up key", "remote", meta.RemoteAddr().String(), "err", err)
	return nil, err
}

// verified completes authentication once the client proved it holds the
// key: a disabled account is refused with a banner git shows.
func (d *Door) verified(meta ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	_, err := d.accounts.AuthenticateKey(context.Background(), perms.Extensions[extFingerprint])
	if errors.Is(err, core.ErrDisabled) {
		return nil, &ssh.BannerError{Err: err, Message: "Tapioca: the account of this key is disabled.\r\n"}
	}
	if err != nil {
		return nil, err
	}
	return perms, nil
}

// conn is one client connection.
type conn struct {
	nc   net.Conn
	ic   *idleConn
	addr string // client host, for the per-address limit

	mu       sync.Mutex
	running  int // commands running
	sessions int // session channels open
}

// Serve accepts connections on ln until Shutdown; it returns
// ErrServerClosed then, or the listener's error.
func (d *Door) Serve(ln net.Listener) error {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	d.ln = ln
	d.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			d.mu.Lock()
			closing := d.closing
			d.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors and the like: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := d.admit(nc)
		if c == nil {
			nc.Close()
			continue
		}
		go d.serveConn(c)
	}
}

// admit registers a new connection, or returns nil when its client
// address is at its limit or the server is shutting down.
func (d *Door) admit(nc net.Conn) *conn {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		host = nc.RemoteAddr().String()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing || d.perAddr[host] >= d.cfg.MaxConnsPerAddr {
		return nil
	}
	d.perAddr[host]++
	c := &conn{nc: nc, ic: newIdleConn(nc, d.cfg.IdleTimeout), addr: host}
	d.conns[c] = struct{}{}
	d.handlers.Add(1)
	return c
}

func (d *Door) forget(c *conn) {
	c.ic.Close()
	d.mu.Lock()
	delete(d.conns, c)
	if d.perAddr[c.addr]--; d.perAddr[c.addr] <= 0 {
		delete(d.perAddr, c.addr)
	}
	d.mu.Unlock()
	d.handlers.Done()
}

// Shutdown stops accepting connections, closes those running no command,
// and waits for the commands in flight to finish (each connection is
// closed as its last command ends). When ctx ends first, it closes every
// connection and returns ctx's error.
func (d *Door) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	if d.ln != nil {
		d.ln.Close()
	}
	for c := range d.conns {
		c.mu.Lock()
		if c.running == 0 {
			c.ic.Close()
		}
		c.mu.Unlock()
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	d.mu.Lock()
	for c := range d.conns {
		c.ic.Close()
	}
	d.mu.Unlock()
	<-done
	return ctx.Err()
}

func (d *Door) shuttingDown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closing
}

// serveConn runs the handshake and the connection's sessions.
func (d *Door) serveConn(c *conn) {
	defer d.forget(c)
	_ = c.nc.SetDeadline(time.Now().Add(d.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c.ic, d.server)
	if err != nil {
		d.log.Debug("ssh handshake", "remote", c.nc.RemoteAddr().String(), "err", err)
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	// A command's context ends when its connection does: a client that
	// went away stops the work done for it. Shutdown does not end it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ssh.DiscardRequests(reqs) // global requests: keepalives, port forwarding
	fp := sc.Permissions.Extensions[extFingerprint]
	var sessions sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "Tapioca serves git only")
			continue
		}
		c.mu.Lock()
		full := c.sessions >= d.cfg.MaxSessionsPerConn
		if !full {
			c.sessions++
		}
		c.mu.Unlock()
		if full {
			_ = nch.Reject(ssh.ResourceShortage, "too many sessions on one connection")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			c.mu.Lock()
			c.sessions--
			c.mu.Unlock()
			continue
		}
		sessions.Go(func() {
			defer func() {
				c.mu.Lock()
				c.sessions--
				c.mu.Unlock()
			}()
			d.session(ctx, c, fp, ch, creqs)
		})
	}
	cancel()
	sessions.Wait()
}

// session serves one session channel: environment, then one exec (or
// shell) request.
func (d *Door) session(ctx context.Context, c *conn, fp string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	protocol := ""
	for req := range reqs {
		switch req.Type {
		case "env":
			// git passes the protocol version it wants in GIT_PROTOCOL;
			// other variables are declined, as sshd's AcceptEnv does.
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
			if ok {
				protocol = kv.Value
			}
			_ = req.Reply(ok, nil)
		case "exec", "shell":
			var ex struct{ Command string }
			if req.Type == "exec" && ssh.Unmarshal(req.Payload, &ex) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			// Later requests (window-change, signals) are declined; they
			// must be read, or the connection would stall.
			go ssh.DiscardRequests(reqs)
			d.started(c)
			status := d.run(ctx, c, fp, ch, ex.Command, req.Type == "shell", protocol)
			_ = ch.CloseWrite()
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			d.finished(c)
			return
		default:
			// pty-req: only people ask for a terminal (git never does);
			// OpenSSH prints "PTY allocation request failed" and asks for
			// the shell, which greets them (as GitHub does). Also
			// subsystem (sftp), x11-req, agent forwarding.
			_ = req.Reply(false, nil)
		}
	}
}

// started and finished bracket a command, with its exit status: Shutdown
// leaves a connection open while it runs one, and its last command
// closes it then.
func (d *Door) started(c *conn) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
}

func (d *Door) finished(c *conn) {
	c.mu.Lock()
	c.running--
	idle := c.running == 0
	c.mu.Unlock()
	if idle && d.shuttingDown() {
		c.ic.Close()
	}
}

// run runs one command and returns its exit status. Messages for the
// user go to stderr, which git prints.
func (d *Door) run(ctx context.Context, c *conn, fp string, ch ssh.Channel, command string, shell bool, protocol string) uint32 {
	done := c.ic.working()
	defer done()
	start := time.Now()
	stderr := clientIO{ic: c.ic, rw: ch.Stderr()}
	// Re-read on every command: the key may have been removed, or its
	// account disabled, since the connection was authenticated.
	a, err := d.accounts.AuthenticateKey(ctx, fp)
	if err != nil {
		d.tell(ctx, stderr, err)
		return 1
	}
	who := d.who(ctx, a)
	log := d.log.With("remote", c.nc.RemoteAddr().String(), "user", who)
	cmd, err := parseCommand(command)
	switch {
	case shell || errors.Is(err, errNotGit):
		if shell {
			command = ""
		}
		d.greet(stderr, a, who, command)
		log.Info("ssh", "command", command, "status", 1, "ms", time.Since(start).Milliseconds())
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "remote: %s\n", err)
		return 1
	}
	repo, err := d.env.GitAccess(ctx, a, cmd.owner, cmd.repo, cmd.push())
	if err != nil {
		d.tell(ctx, stderr, err)
		log.Info("ssh", "command", cmd.service, "path", cmd.path, "status", 1, "ms", time.Since(start).Milliseconds())
		return 1
	}
	path := d.env.RepoPath(repo.ID)
	stream := clientIO{ic: c.ic, rw: ch}
	// gitserver flushes when the client must see what was written.
	out := bufio.NewWriterSize(stream, 64<<10)
	o := gitserver.StreamOptions{Protocol: gitserver.ProtocolVersion(protocol)}
	if cmd.push() {
		rec := d.pushes.Receive(ctx, repo, a)
		err = d.env.Git.ReceivePack(ctx, path, stream, out, o, rec.Options())
		rec.Finish(ctx)
	} else {
		err = d.env.Git.UploadPack(ctx, path, stream, out, o)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	status := uint32(0)
	if err != nil {
		status = 1
		if errors.Is(err, gitserver.ErrNotFound) {
			fmt.Fprintln(stderr, "remote: Repository not found")
		}
		// Refusals and bad requests reached the client as ERR packets;
		// the rest is a client that went away or a server fault.
		log.Warn("ssh command failed", "command", cmd.service, "repo", repo.FullName(), "err", err)
	}
	log.Info("ssh", "command", cmd.service, "repo", repo.FullName(), "protocol", o.Protocol, "status", status,
		"ms", time.Since(start).Milliseconds())
	return status
}

// tell writes a core error to the client as git shows remote messages.
func (d *Door) tell(ctx context.Context, stderr io.Writer, err error) {
	var ce *core.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "remote: %s\n", ce.Msg)
		return
	}
	d.log.ErrorContext(ctx, "ssh", "err", err)
	fmt.Fprintln(stderr, "remote: Internal server error")
}

// who names the actor in greetings and logs: the username, or the
// repository a deploy key reaches.
func (d *Door) who(ctx context.Context, a core.Actor) string {
	if a.User != nil {
		return a.User.Username
	}
	if a.DeployKey != nil {
		if repo, err := d.env.Store.RepoByID(ctx, a.DeployKey.RepoID); err == nil {
			return repo.FullName()
		}
		return "deploy key " + a.DeployKey.Title
	}
	return "anonymous"
}

// greet answers a shell ("" command) or a command other than git's, as
// GitHub does: the key works, there is no shell, and here is what does
// work.
func (d *Door) greet(stderr io.Writer, a core.Actor, who, command string) {
	fmt.Fprintf(stderr, "Hi %s! You've successfully authenticated, but Tapioca does not provide shell access.\n", who)
	if command != "" {
		fmt.Fprintf(stderr, "Only git-upload-pack and git-receive-pack run here, not %q.\n", command)
	}
	example := d.env.Site().SSHURL("<owner>/<repository>")
	if a.DeployKey != nil {
		example = d.env.Site().SSHURL(who)
	}
	fmt.Fprintf(stderr, "Use git: git clone %s\n", example)
}
