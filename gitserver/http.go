package gitserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

const (
	serviceUploadPack  = "git-upload-pack"
	serviceReceivePack = "git-receive-pack"
)

func noCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
}

// maxNegotiationBody bounds an upload-pack request after decompression:
// a few hundred thousand want/have lines, far beyond what git sends, but
// not enough for a small gzip bomb to exhaust memory.
const maxNegotiationBody = 32 << 20

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errors.New("request body too large")
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.ReadCloser.Read(p)
	l.left -= int64(n)
	return n, err
}

// rpcBody checks a smart-HTTP POST to repoPath and returns its decoded
// body. When it returns false it has already answered the client.
func rpcBody(w http.ResponseWriter, r *http.Request, repoPath string) (io.ReadCloser, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, false
	}
	if !isRepo(repoPath) {
		http.Error(w, "repository not found", http.StatusNotFound)
		return nil, false
	}
	body, err := requestBody(r)
	if err != nil {
		http.Error(w, "bad request body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// requestBody undoes Content-Encoding: git gzips request bodies larger
// than a kilobyte (long have lists, many wants).
func requestBody(r *http.Request) (io.ReadCloser, error) {
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
		return r.Body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		return &gzipBody{zr, r.Body}, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
}

// gzipBody is a gzip request body; a refused push drains the compressed
// bytes (Raw), not what they inflate to.
type gzipBody struct {
	*gzip.Reader
	raw io.Reader
}

func (g *gzipBody) Raw() io.Reader { return g.raw }

// ServeInfoRefs answers GET .../info/refs?service=<service> with the smart
// HTTP advertisement: for upload-pack in the protocol version the
// Git-Protocol header asks for (v2's capability list has no "# service"
// header), for receive-pack always in v0 (with "version 1" first when
// asked, as git does). The dumb protocol is not served.
func (s *Server) ServeInfoRefs(w http.ResponseWriter, r *http.Request, repoPath, service string) {
	if service != serviceUploadPack && service != serviceReceivePack {
		http.Error(w, "only the smart HTTP protocol is supported", http.StatusForbidden)
		return
	}
	if !isRepo(repoPath) {
		http.Error(w, "repository not found", http.StatusNotFound)
		return
	}
	o := StreamOptions{Protocol: ProtocolVersion(r.Header.Get("Git-Protocol")), Stateless: true, AdvertiseRefs: true}
	// Buffered whole, so a failure can still answer 500.
	var buf bytes.Buffer
	if service == serviceReceivePack || o.Protocol < 2 {
		writePktf(&buf, "# service=%s\n", service)
		writeFlush(&buf)
	}
	var err error
	if service == serviceUploadPack {
		err = s.UploadPack(r.Context(), repoPath, nil, &buf, o)
	} else {
		err = s.ReceivePack(r.Context(), repoPath, nil, &buf, o, ReceiveOptions{})
	}
	if err != nil {
		s.log.Error("info/refs failed", "repo", repoPath, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	noCache(w.Header())
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Write(buf.Bytes())
}

// ServeUploadPack answers POST .../git-upload-pack (fetch and clone).
func (s *Server) ServeUploadPack(w http.ResponseWriter, r *http.Request, repoPath string) {
	s.serveRPC(w, r, repoPath, serviceUploadPack, func(ctx context.Context, in io.Reader, out io.Writer, o StreamOptions) error {
		return s.UploadPack(ctx, repoPath, &limitedBody{io.NopCloser(in), maxNegotiationBody}, out, o)
	})
}

// serveRPC runs a stateless smart-HTTP POST through the stream API:
// the response headers go out with the first byte of the answer, so a
// request refused before that still gets an HTTP error status.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, repoPath, service string, run func(ctx context.Context, in io.Reader, out io.Writer, o StreamOptions) error) {
	body, ok := rpcBody(w, r, repoPath)
	if !ok {
		return
	}
	defer body.Close()
	out := &rpcResponse{w: w, rc: http.NewResponseController(w), contentType: "application/x-" + service + "-result"}
	o := StreamOptions{Protocol: ProtocolVersion(r.Header.Get("Git-Protocol")), Stateless: true}
	err := run(r.Context(), body, out, o)
	switch {
	case err == nil:
		out.start()
	case out.started:
		s.log.Warn(service+" failed", "repo", repoPath, "err", err)
	case errors.Is(err, ErrBadRequest):
		s.log.Warn(service+": bad request", "repo", repoPath, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNotFound):
		http.Error(w, "repository not found", http.StatusNotFound)
	default:
		s.log.Error(service+" failed", "repo", repoPath, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// rpcResponse is the body of a smart-HTTP answer. Its Flush sends what
// was written so far through the ResponseController.
type rpcResponse struct {
	w           http.ResponseWriter
	rc          *http.ResponseController
	contentType string
	started     bool
}

func (o *rpcResponse) start() {
	if !o.started {
		o.started = true
		noCache(o.w.Header())
		o.w.Header().Set("Content-Type", o.contentType)
	}
}

func (o *rpcResponse) Write(p []byte) (int, error) {
	o.start()
	return o.w.Write(p)
}

func (o *rpcResponse) Flush() error {
	o.start()
	if err := o.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
