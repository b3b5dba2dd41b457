package gitserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// The fetch client's SSH transport: one SSH session running
// git-upload-pack, asked for protocol v2 with GIT_PROTOCOL. After the
// capability advertisement the client writes each command to the
// session's stdin and reads its response from stdout; one buffered
// reader spans the whole session so nothing read ahead is lost between
// responses.

// SSHAuth is what fetching from an SSH address needs.
type SSHAuth struct {
	// Dial opens the TCP connection. The app's checks the address it
	// dials against its network policy; nil is a plain net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Key is the client's private key (a deploy key installed upstream).
	Key ssh.Signer
	// HostKey is the server's key as pinned, in authorized_keys form; ""
	// trusts the key the server shows the first time, which the result
	// reports (RemoteRefs.HostKey, FetchResult.HostKey) to be pinned.
	HostKey string
}

// ErrHostKeyChanged is returned (as a *HostKeyChangedError) when an SSH
// upstream shows a host key other than the pinned one: the server was
// reinstalled, or something is in the way.
var ErrHostKeyChanged = errors.New("upstream host key changed")

// ErrUpstreamUnreachable is returned when an SSH upstream's address
// cannot be connected to (refused, unknown host, refused by the network
// policy, timed out).
var ErrUpstreamUnreachable = errors.New("upstream unreachable")

// HostKeyChangedError says which host changed its key.
type HostKeyChangedError struct {
	Host            string
	Pinned, Offered string // SHA256 fingerprints
}

func (e *HostKeyChangedError) Error() string {
	return fmt.Sprintf("host key for %s changed: it was %s and is now %s; nothing was fetched", e.Host, e.Pinned, e.Offered)
}

// Is makes errors.Is(err, ErrHostKeyChanged) true.
func (e *HostKeyChangedError) Is(target error) bool { return target == ErrHostKeyChanged }

// sshAddr is an SSH address split up.
type sshAddr struct {
	user, host, port string
	path             string // as git-upload-pack gets it
}

// display names the host in messages: host, with the port when not 22.
func (a sshAddr) display() string {
	if a.port == "22" {
		return a.host
	}
	return net.JoinHostPort(a.host, a.port)
}

// IsSSHURL reports whether u is an SSH address the fetch client reaches
// over SSH: ssh://[user@]host[:port]/path or scp-like user@host:path.
func IsSSHURL(u string) bool {
	_, ok := parseSSHURL(u)
	return ok
}

// parseSSHURL splits an SSH address. The user defaults to "git", as
// every forge names it; the port to 22. For ssh:// the path keeps its
// leading "/" (git sends it so), except before "~user".
func parseSSHURL(raw string) (sshAddr, bool) {
	if strings.HasPrefix(raw, "ssh://") {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" || u.Path == "" || u.Path == "/" || u.RawQuery != "" || u.Fragment != "" {
			return sshAddr{}, false
		}
		a := sshAddr{user: "git", host: u.Hostname(), port: "22", path: u.Path}
		if u.User != nil && u.User.Username() != "" {
			a.user = u.User.Username()
		}
		if p := u.Port(); p != "" {
			a.port = p
		}
		if strings.HasPrefix(a.path, "/~") {
			a.path = a.path[1:]
		}
		return a, true
	}
	at, colon := strings.Index(raw, "@"), strings.Index(raw, ":")
	if at <= 0 || colon <= at+1 || strings.Contains(raw[:colon], "/") || colon == len(raw)-1 {
		return sshAddr{}, false
	}
	return sshAddr{user: raw[:at], host: raw[at+1 : colon], port: "22", path: raw[colon+1:]}, true
}

// shellQuote quotes a path as git's sq_quote does: in single quotes,
// with ' and ! escaped outside them.
func shellQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '!':
			b.WriteString(`'\` + string(r) + `'`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// sshTransport is one SSH session running git-upload-pack.
type sshTransport struct {
	addr    sshAddr
	ctx     context.Context
	client  *ssh.Client
	sess    *ssh.Session
	stdin   io.WriteCloser
	meter   *meteredReader
	pr      *pktReader
	stderr  *headBuffer
	seen    ssh.PublicKey
	envErr  error
	stop    func() bool
	closeMu sync.Once
}

// dialSSH connects, authenticates with the key, checks the host key and
// starts git-upload-pack in protocol v2. The connection is closed when
// ctx ends.
func dialSSH(ctx context.Context, auth *SSHAuth, addr sshAddr) (*sshTransport, error) {
	if auth == nil || auth.Key == nil {
		return nil, fmt.Errorf("%w: fetching from %s over SSH needs a private key", ErrUpstreamNotReadable, addr.display())
	}
	var pinned ssh.PublicKey
	if auth.HostKey != "" {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(auth.HostKey))
		if err != nil {
			return nil, fmt.Errorf("pinned host key for %s: %w", addr.display(), err)
		}
		pinned = k
	}
	dial := auth.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", net.JoinHostPort(addr.host, addr.port))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream %s: %w", addr.display(), ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUpstreamUnreachable, addr.display(), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	t := &sshTransport{addr: addr, ctx: ctx, stderr: &headBuffer{max: 4 << 10}}
	// Ending ctx ends everything: a read blocked on the server returns.
	t.stop = context.AfterFunc(ctx, func() { nc.Close() })
	var hostErr error
	cfg := &ssh.ClientConfig{
		User: addr.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(auth.Key)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			t.seen = key
			if pinned != nil && !bytes.Equal(pinned.Marshal(), key.Marshal()) {
				hostErr = &HostKeyChangedError{Host: addr.display(),
					Pinned: ssh.FingerprintSHA256(pinned), Offered: ssh.FingerprintSHA256(key)}
				return hostErr
			}
			return nil
		},
		// RFC 4253: no spaces or minus signs in the software version.
		ClientVersion: "SSH-2.0-" + strings.NewReplacer(" ", "_", "-", "_").Replace(Agent),
	}
	if pinned != nil {
		// A server with keys of several types shows the pinned one.
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(pinned.Type())
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, net.JoinHostPort(addr.host, addr.port), cfg)
	if err != nil {
		t.stop()
		nc.Close()
		switch {
		case hostErr != nil:
			return nil, hostErr
		case ctx.Err() != nil:
			return nil, fmt.Errorf("upstream %s: %w", addr.display(), ctx.Err())
		case t.seen != nil && strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%w (%s did not accept the key %s)", ErrUpstreamNotReadable, addr.display(),
				ssh.FingerprintSHA256(auth.Key.PublicKey()))
		}
		return nil, fmt.Errorf("upstream %s: %w", addr.display(), err)
	}
	t.client = ssh.NewClient(sc, chans, reqs)
	if err := t.start(); err != nil {
		t.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream %s: %w", addr.display(), ctx.Err())
		}
		return nil, err
	}
	return t, nil
}

// hostKeyAlgorithms are the signature algorithms that show a key of
// type typ.
func hostKeyAlgorithms(typ string) []string {
	if typ == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{typ}
}

// start opens the session and runs git-upload-pack on the path.
func (t *sshTransport) start() error {
	sess, err := t.client.NewSession()
	if err != nil {
		return fmt.Errorf("upstream %s: open session: %w", t.addr.display(), err)
	}
	t.sess = sess
	// A server that declines the variable may still speak v2 (some
	// default to it); the advertisement decides.
	t.envErr = sess.Setenv("GIT_PROTOCOL", "version=2")
	if t.stdin, err = sess.StdinPipe(); err != nil {
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return err
	}
	sess.Stderr = t.stderr
	t.meter = &meteredReader{r: ctxReader{ctx: t.ctx, r: stdout}, left: -1}
	t.pr = newPktReader(bufio.NewReaderSize(t.meter, 64<<10))
	if err := sess.Start("git-upload-pack " + shellQuote(t.addr.path)); err != nil {
		return fmt.Errorf("upstream %s refused to run git-upload-pack: %w", t.addr.display(), err)
	}
	return nil
}

// advertisement is what git-upload-pack writes first. A server that
// ends the session before writing anything refused the repository: it
// does not exist, or this key cannot read it.
func (t *sshTransport) advertisement(ctx context.Context) (*pktReader, func(), error) {
	t.meter.left = maxAdvertisement
	if _, err := t.pr.r.Peek(1); err != nil {
		t.meter.left = -1
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("upstream %s: %w", t.addr.display(), ctx.Err())
		}
		status, msg := t.exit()
		if status != 0 {
			if msg == "" {
				msg = fmt.Sprintf("git-upload-pack exited with status %d", status)
			}
			return nil, nil, fmt.Errorf("%w (%s said: %s)", ErrUpstreamNotReadable, t.addr.display(), msg)
		}
		return nil, nil, fmt.Errorf("%w: %s ended the session without a capability advertisement", ErrUpstreamProtocol, t.addr.display())
	}
	return t.pr, func() { t.meter.left = -1 }, nil
}

// exit waits a little for the command's exit status and returns it with
// the first line it wrote to stderr; -1 when it did not say.
func (t *sshTransport) exit() (int, string) {
	done := make(chan error, 1)
	go func() { done <- t.sess.Wait() }()
	status := -1
	select {
	case err := <-done:
		var ee *ssh.ExitError
		switch {
		case err == nil:
			status = 0
		case errors.As(err, &ee):
			status = ee.ExitStatus()
		}
	case <-time.After(5 * time.Second):
	case <-t.ctx.Done():
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(t.stderr.String()), "\n")
	return status, strings.TrimSpace(msg)
}

// command writes the request to the session; the response follows on
// the shared reader.
func (t *sshTransport) command(ctx context.Context, name string, body []byte) (*pktReader, io.Closer, error) {
	if _, err := t.stdin.Write(body); err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("upstream %s: %w", t.addr.display(), ctx.Err())
		}
		return nil, nil, fmt.Errorf("upstream %s: send %s: %w", t.addr.display(), name, err)
	}
	return t.pr, noClose{}, nil
}

func (t *sshTransport) notV2() string {
	if t.envErr != nil {
		return " (the SSH server declined the GIT_PROTOCOL variable that asks for it; an OpenSSH server needs AcceptEnv GIT_PROTOCOL)"
	}
	return ""
}

func (t *sshTransport) hostKey() string {
	if t.seen == nil {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(t.seen)))
}

// close ends the session: git-upload-pack sees its stdin end and exits.
func (t *sshTransport) close() error {
	t.closeMu.Do(func() {
		if t.stdin != nil {
			t.stdin.Close()
		}
		if t.sess != nil {
			t.sess.Close()
		}
		t.client.Close()
		t.stop()
	})
	return nil
}

// meteredReader ends the stream (io.EOF) after left bytes; left < 0 is
// no limit. It bounds the advertisement on a stream that goes on.
type meteredReader struct {
	r    io.Reader
	left int64
}

func (m *meteredReader) Read(p []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	if m.left > 0 && int64(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	if m.left > 0 {
		m.left -= int64(n)
	}
	return n, err
}

// ctxReader reports ctx's error instead of the closed connection's once
// ctx has ended (the connection is closed then).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && c.ctx.Err() != nil {
		err = c.ctx.Err()
	}
	return n, err
}

// noClose is a response on the session's stream: nothing to release.
type noClose struct{}

func (noClose) Close() error { return nil }

// headBuffer keeps the first max bytes written to it (a server's
// message), safe for the session's copier and a reader.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.b.Len(); room > 0 {
		t.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
