package gitserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// StreamOptions say how a git service talks to its client: which
// protocol version the client asked for, and whether the transport is
// stateless (smart HTTP: each request a separate call) or one
// connection for the whole exchange (SSH).
type StreamOptions struct {
	// Protocol is the version the client asked for: 0, 1 or 2, as
	// ProtocolVersion reads it from the Git-Protocol header (HTTP) or
	// the GIT_PROTOCOL variable (SSH).
	Protocol int
	// Stateless is smart HTTP's mode: the call reads one request from in
	// and answers it; the advertisement is a separate call with
	// AdvertiseRefs. Otherwise (SSH) the call writes the advertisement,
	// then serves the client until it is done: v0/v1 negotiation rounds
	// until the pack is sent, v2 commands until the client closes its
	// end or sends an empty request.
	Stateless bool
	// AdvertiseRefs, with Stateless, only writes the advertisement
	// (smart HTTP's GET info/refs, without its "# service" header) and
	// reads nothing.
	AdvertiseRefs bool
}

// ErrBadRequest wraps the errors of requests that break the protocol.
// Nothing has been written to the client when a stateless call returns
// one, so smart HTTP answers it with 400.
var ErrBadRequest = errors.New("bad request")

func badRequest(err error) error { return fmt.Errorf("%w: %w", ErrBadRequest, err) }

// requestError classifies an error from parsing a fetch request: a filter
// this server does not implement is refused (git answers it with an ERR
// packet too); anything else is a bad request.
func requestError(err error) error {
	if errors.Is(err, errUnsupportedFilter) {
		return refusef("%s", err)
	}
	return badRequest(err)
}

// ProtocolVersion reads the protocol version from a Git-Protocol header
// or GIT_PROTOCOL value ("version=2", possibly among other
// colon-separated keys). As git does, it takes the highest version it
// knows of and 0 when none is given.
func ProtocolVersion(s string) int {
	v := 0
	for _, kv := range strings.Split(s, ":") {
		if val, ok := strings.CutPrefix(kv, "version="); ok {
			if n, err := strconv.Atoi(val); err == nil && n > v && n <= 2 {
				v = n
			}
		}
	}
	return v
}

// UploadPack serves git-upload-pack (fetch, clone, ls-remote) for the
// repository at repoPath, reading the client's requests from in and
// writing the answers to out. When out has a Flush() error method it is
// called whenever the client must see what was written so far.
//
// It returns ErrNotFound (wrapped) for a path that is not a repository,
// ErrBadRequest (wrapped) for a request that breaks the protocol, and
// other errors for requests refused (told to the client in an ERR
// packet), a client that went away, or failures reading the repository.
func (s *Server) UploadPack(ctx context.Context, repoPath string, in io.Reader, out io.Writer, o StreamOptions) error {
	if !isRepo(repoPath) {
		return fmt.Errorf("upload-pack %s: %w", repoPath, ErrNotFound)
	}
	fw := &flushWriter{w: out}
	if o.Protocol == 2 {
		return s.uploadPackV2(ctx, repoPath, in, fw, o)
	}
	if o.AdvertiseRefs || !o.Stateless {
		if o.Protocol == 1 {
			if err := writePkt(fw, "version 1\n"); err != nil {
				return err
			}
		}
		if err := s.advertise(ctx, fw, repoPath, serviceUploadPack); err != nil {
			return err
		}
		if err := fw.flush(); err != nil || o.AdvertiseRefs {
			return err
		}
	}
	br := bufio.NewReaderSize(in, 64*1024)
	var err error
	if o.Stateless {
		var req *uploadRequest
		if req, err = parseUploadRequest(br); err != nil {
			err = requestError(err)
		} else {
			err = s.uploadPackV0(ctx, repoPath, req, fw)
		}
	} else {
		err = s.uploadPackStateful(ctx, repoPath, newPktReader(br), fw)
	}
	var r *refusal
	switch {
	case errors.As(err, &r):
		writePktf(fw, "ERR %s", r.msg)
		fw.flush()
	case errors.Is(err, ErrBadRequest) && !o.Stateless:
		writePktf(fw, "ERR %s", err)
		fw.flush()
	}
	return err
}

// uploadPackV2 serves protocol v2: the capability advertisement, then one
// command (stateless) or commands until the client is done.
func (s *Server) uploadPackV2(ctx context.Context, repoPath string, in io.Reader, out *flushWriter, o StreamOptions) error {
	if o.AdvertiseRefs || !o.Stateless {
		if err := writeV2Capabilities(out); err != nil {
			return err
		}
		if err := out.flush(); err != nil || o.AdvertiseRefs {
			return err
		}
	}
	pr := newPktReader(bufio.NewReaderSize(in, 64*1024))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		req, err := readV2Request(pr, maxNegotiationBody)
		if err == io.EOF || err == nil && req == nil {
			return nil
		}
		if err != nil {
			err = badRequest(err)
			if !o.Stateless {
				writePktf(out, "ERR %s", err)
				out.flush()
			}
			return err
		}
		if err := s.serveV2Command(ctx, repoPath, req, out); err != nil {
			if errors.Is(err, ErrBadRequest) && !o.Stateless {
				writePktf(out, "ERR %s", err)
				out.flush()
			}
			return err
		}
		if o.Stateless {
			return nil
		}
	}
}

// ReceivePack serves git-receive-pack (push) for the repository at
// repoPath, as UploadPack serves fetches: stateless, it reads one push
// request from in; otherwise it writes the ref advertisement first and
// then reads the push. Push has no protocol v2 in git: a client asking
// for v2 is answered in v0, as git does, and one asking for v1 gets the
// "version 1" line first. The ref updates go through opts as for
// ServeReceivePack.
func (s *Server) ReceivePack(ctx context.Context, repoPath string, in io.Reader, out io.Writer, o StreamOptions, opts ReceiveOptions) error {
	if !isRepo(repoPath) {
		return fmt.Errorf("receive-pack %s: %w", repoPath, ErrNotFound)
	}
	fw := &flushWriter{w: out}
	if o.AdvertiseRefs || !o.Stateless {
		if o.Protocol == 1 {
			if err := writePkt(fw, "version 1\n"); err != nil {
				return err
			}
		}
		if err := s.advertise(ctx, fw, repoPath, serviceReceivePack); err != nil {
			return err
		}
		if err := fw.flush(); err != nil || o.AdvertiseRefs {
			return err
		}
	}
	return s.receiveStream(ctx, repoPath, bufio.NewReaderSize(in, 64*1024), rawReader(in), fw, opts)
}
