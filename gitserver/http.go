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
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

const (
	serviceUploadPack  = "git-upload-pack"
	serviceReceivePack = "git-receive-pack"
)

// Capabilities advertised to fetch clients. thin-pack means the client can
// take thin packs; this server sends one only when a stored delta's base is
// known to be on the client.
const uploadPackCaps = "multi_ack thin-pack side-band side-band-64k ofs-delta " +
	"shallow deepen-since deepen-not deepen-relative no-progress include-tag " +
	"multi_ack_detailed no-done allow-tip-sha1-in-want allow-reachable-sha1-in-want " +
	"object-format=sha1 agent=" + Agent

// Capabilities advertised to push clients. Thin packs are accepted (no
// no-thin): git then sends a small edit of a big file as a delta against
// the version the server has, and indexPack completes the pack. Push
// options are not advertised: nothing would carry them (git then refuses
// push -o, as with http-backend). push-cert=<nonce> is added per request.
const receivePackCaps = "report-status delete-refs side-band-64k quiet atomic " +
	"ofs-delta object-format=sha1 agent=" + Agent

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
		return zr, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
}

// ServeInfoRefs answers GET .../info/refs?service=<service> with the smart
// HTTP ref advertisement. The dumb protocol is not served.
func (s *Server) ServeInfoRefs(w http.ResponseWriter, r *http.Request, repoPath, service string) {
	if service != serviceUploadPack && service != serviceReceivePack {
		http.Error(w, "only the smart HTTP protocol is supported", http.StatusForbidden)
		return
	}
	if !isRepo(repoPath) {
		http.Error(w, "repository not found", http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	writePktf(&buf, "# service=%s\n", service)
	writeFlush(&buf)
	if err := s.advertise(r.Context(), &buf, repoPath, service); err != nil {
		s.log.Error("info/refs failed", "repo", repoPath, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	noCache(w.Header())
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Write(buf.Bytes())
}

// advertise writes the v0 ref advertisement: HEAD first (fetch only), refs
// sorted, peeled tags as <name>^{}, capabilities on the first line, or a
// capabilities^{} line with the zero id for an empty repository.
func (s *Server) advertise(ctx context.Context, out io.Writer, repoPath, service string) error {
	refs, packed, err := listRefs(repoPath, "")
	if err != nil {
		return err
	}
	capLine := receivePackCaps + " push-cert=" + s.certNonce(repoPath, time.Now().Unix())
	upload := service == serviceUploadPack
	if upload {
		capLine = uploadPackCaps
	}
	first := true
	line := func(h plumbing.Hash, name string) error {
		if first {
			first = false
			return writePktf(out, "%s %s\x00%s\n", h, name, capLine)
		}
		return writePktf(out, "%s %s\n", h, name)
	}

	var db *odb
	defer func() {
		if db != nil {
			db.close()
		}
	}()
	peeled := func(r ref) (plumbing.Hash, bool, error) {
		if p, ok := packed.peeled[r.name]; ok && packed.refs[r.name] == r.hash {
			return p, true, nil
		}
		if db == nil {
			if db, err = openODB(repoPath); err != nil {
				return plumbing.ZeroHash, false, err
			}
		}
		typ, err := db.typeOf(r.hash)
		if err != nil || typ != objTag {
			return plumbing.ZeroHash, false, nil // a dangling ref is advertised as is
		}
		target, _, err := newWalker(ctx, db).peel(r.hash, nil)
		if err != nil {
			return plumbing.ZeroHash, false, nil
		}
		return target, true, nil
	}

	if upload {
		if target, err := readHEAD(repoPath); err == nil && target != "" {
			for _, r := range refs {
				if r.name == target {
					capLine += " symref=HEAD:" + target
					if err := line(r.hash, "HEAD"); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	for _, r := range refs {
		if err := line(r.hash, r.name); err != nil {
			return err
		}
		if !upload {
			continue
		}
		p, ok, err := peeled(r)
		if err != nil {
			return err
		}
		if ok {
			if err := line(p, r.name+"^{}"); err != nil {
				return err
			}
		}
	}
	if first {
		if err := line(plumbing.ZeroHash, "capabilities^{}"); err != nil {
			return err
		}
	}
	return writeFlush(out)
}
