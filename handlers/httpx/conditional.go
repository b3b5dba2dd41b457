package httpx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// maxConditionalBody is how much of an answer Conditional holds back to
// give it an ETag; larger answers stream without one.
const maxConditionalBody = 4 << 20

// Conditional serves a GET or HEAD through next with an ETag, and
// answers 304 Not Modified, without a body, when the request's
// If-None-Match names the answer's current tag. The tag is a hash of the
// body and the headers a list's meaning depends on (Link, X-Total-Count),
// unless the handler set its own ETag (an object id it knows the answer
// by), which is then compared before any body is produced. notModified
// runs just before a 304 goes out (the rate limiter refunds the request).
// Other methods, non-200 answers and answers larger than 4 MiB pass
// through untouched.
func Conditional(w http.ResponseWriter, r *http.Request, notModified func(), next http.Handler) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next.ServeHTTP(w, r)
		return
	}
	w.Header().Add("Vary", "Authorization, Accept")
	cw := &condWriter{w: w, inm: r.Header.Get("If-None-Match"), notModified: notModified}
	next.ServeHTTP(cw, r)
	cw.finish()
}

type condWriter struct {
	w           http.ResponseWriter
	inm         string
	notModified func()

	status   int
	buf      bytes.Buffer
	passing  bool // headers are out: writes go straight through
	swallow  bool // a 304 went out: the body is dropped
	finished bool
}

func (c *condWriter) Header() http.Header { return c.w.Header() }

func (c *condWriter) WriteHeader(code int) {
	if c.status != 0 {
		return
	}
	c.status = code
	if code != http.StatusOK {
		c.pass()
		return
	}
	if tag := c.w.Header().Get("ETag"); tag != "" {
		// The handler knows its answer by this tag: no need to make it.
		if c.inm != "" && etagMatch(c.inm, tag) {
			c.send304()
			return
		}
		c.pass()
	}
}

func (c *condWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	switch {
	case c.swallow:
		return len(b), nil
	case c.passing:
		return c.w.Write(b)
	}
	if c.buf.Len()+len(b) > maxConditionalBody {
		c.pass()
		return c.w.Write(b)
	}
	return c.buf.Write(b)
}

// Flush is a streaming handler's sign that it wants its bytes out now:
// no tag then.
func (c *condWriter) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.swallow {
		c.pass()
	}
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *condWriter) Unwrap() http.ResponseWriter { return c.w }

// pass sends the status and whatever was held back; the rest streams.
func (c *condWriter) pass() {
	if c.passing || c.swallow {
		return
	}
	c.passing = true
	c.w.WriteHeader(c.status)
	if c.buf.Len() > 0 {
		_, _ = c.w.Write(c.buf.Bytes())
		c.buf.Reset()
	}
}

func (c *condWriter) send304() {
	c.swallow = true
	if c.notModified != nil {
		c.notModified()
	}
	h := c.w.Header()
	h.Del("Content-Type")
	h.Del("Content-Length")
	c.w.WriteHeader(http.StatusNotModified)
}

func (c *condWriter) finish() {
	if c.finished {
		return
	}
	c.finished = true
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.passing || c.swallow {
		return
	}
	h := c.w.Header()
	sum := sha256.New()
	sum.Write([]byte(h.Get("Link") + "\n" + h.Get("X-Total-Count") + "\n" + h.Get("Content-Type") + "\n"))
	sum.Write(c.buf.Bytes())
	tag := `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	h.Set("ETag", tag)
	if c.inm != "" && etagMatch(c.inm, tag) {
		c.send304()
		return
	}
	c.pass()
}

// etagMatch is If-None-Match's weak comparison: any listed tag (or *)
// equal to tag, ignoring W/ prefixes.
func etagMatch(header, tag string) bool {
	tag = strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}
