package httpx

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ConnLimit is a listener that holds at most perAddr connections open
// from one client address at a time: a client past that has its new
// connection closed at once, so one client cannot use up the server's
// descriptors with connections it keeps open.
type ConnLimit struct {
	net.Listener
	perAddr int

	mu    sync.Mutex
	count map[string]int
}

// LimitConns wraps ln.
func LimitConns(ln net.Listener, perAddr int) *ConnLimit {
	return &ConnLimit{Listener: ln, perAddr: perAddr, count: map[string]int{}}
}

// Accept returns the next connection whose client is under its limit.
func (l *ConnLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(c.RemoteAddr().String())
		if err != nil {
			host = c.RemoteAddr().String()
		}
		l.mu.Lock()
		if l.count[host] >= l.perAddr {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.count[host]++
		l.mu.Unlock()
		return &limitedConn{Conn: &jsonErrorConn{Conn: c}, l: l, host: host}, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *ConnLimit
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.count[c.host]--; c.l.count[c.host] <= 0 {
			delete(c.l.count, c.host)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// BodyRate bounds how long reading a request body may take: grace, plus
// one second per rate bytes that arrived. A body that trickles in slower
// than that (a slowloris) loses its connection; a big git push that
// keeps coming is never cut off.
func BodyRate(grace time.Duration, rate int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if err := rc.SetReadDeadline(start.Add(grace)); err != nil {
			next.ServeHTTP(w, r) // the connection cannot take deadlines (not plain HTTP/1)
			return
		}
		body := &rateBody{ReadCloser: r.Body, rc: rc, start: start, grace: grace, rate: rate}
		r.Body = body
		next.ServeHTTP(w, r)
		if !body.done {
			// The handler did not read to the end: the server discards
			// or drops the rest; the rate still holds while it does.
			_ = rc.SetReadDeadline(start.Add(grace + time.Duration(body.n*int64(time.Second)/rate)))
		}
	})
}

type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	n     int64
	done  bool
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.done {
		return n, err
	}
	if err != nil {
		b.done = true
		if errors.Is(err, io.EOF) {
			// The body is over: lift the deadline, so a handler that
			// takes long after reading it still gets to answer. After a
			// timeout the deadline stays past: the connection is done.
			_ = b.rc.SetReadDeadline(time.Time{})
		}
		return n, err
	}
	_ = b.rc.SetReadDeadline(b.start.Add(b.grace + time.Duration(b.n*int64(time.Second)/b.rate)))
	return n, err
}

// cannedHeaders is how net/http follows the status line of the answers it writes itself, before
// any handler runs, to requests it cannot parse (a control character in
// a header, an oversized header block): plain text, connection closed.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonErrorConn rewrites net/http's own plain-text refusals of malformed
// requests into the JSON error shape every other answer has. Handlers'
// answers never match: net/http writes their headers sorted, with a Date,
// so Connection never follows Content-Type directly.
type jsonErrorConn struct{ net.Conn }

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	if len(p) > 9 && p[9] >= '4' {
		if status, reason, ok := cannedError(p); ok {
			body := `{"error":"` + reason + `"}` + "\n"
			out := "HTTP/1.1 " + status + "\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n" +
				"Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
			if _, err := c.Conn.Write([]byte(out)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// cannedError recognizes "HTTP/1.1 <status>" + cannedHeaders + "<status>[: detail]".
func cannedError(p []byte) (status, reason string, ok bool) {
	s := string(p)
	rest, found := strings.CutPrefix(s, "HTTP/1.1 ")
	if !found {
		return "", "", false
	}
	i := strings.Index(rest, cannedHeaders)
	if i < 0 {
		return "", "", false
	}
	status, body := rest[:i], rest[i+len(cannedHeaders):]
	if !strings.HasPrefix(body, status) || len(status) < 4 || status[0] < '4' || status[0] > '5' {
		return "", "", false
	}
	reason = "Bad request: the request line or headers are malformed"
	if strings.HasPrefix(status, "431") {
		reason = "Request header fields too large"
	}
	return status, reason, true
}

func itoa(n int) string { return strconv.Itoa(n) }
