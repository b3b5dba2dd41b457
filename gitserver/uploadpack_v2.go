package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// v2Request is one protocol v2 command request: the command, the
// capabilities the client sends with it, and its arguments.
type v2Request struct {
	command       string
	agent         string
	serverOptions []string // read past: nothing in the app takes them
	args          []string
}

// readV2Request reads one command request (gitprotocol-v2: command,
// capability list, delim, arguments, flush). It returns io.EOF at a
// clean end of the stream and a nil request for a lone flush, with which
// a client says it has no more commands. budget bounds the bytes read,
// as the HTTP body is bounded, so a client cannot hold the server's
// memory with endless arguments.
func readV2Request(pr *pktReader, budget int) (*v2Request, error) {
	used := 0
	next := func() (string, error) {
		line, err := pr.next()
		if err != nil {
			return "", err
		}
		if used += len(line) + 4; used > budget {
			return "", errors.New("request too large")
		}
		return chomp(line), nil
	}
	first, err := next()
	switch {
	case errors.Is(err, errFlush):
		return nil, nil
	case err == io.EOF:
		return nil, io.EOF
	case err != nil:
		return nil, err
	}
	cmd, ok := strings.CutPrefix(first, "command=")
	if !ok || !isCapabilityKey(cmd) {
		return nil, fmt.Errorf("protocol error: expected a command, got %q", first)
	}
	req := &v2Request{command: cmd}
	hasArgs := false
caps:
	for {
		s, err := next()
		switch {
		case errors.Is(err, errFlush):
			break caps
		case errors.Is(err, errDelim):
			hasArgs = true
			break caps
		case err == io.EOF:
			return nil, errors.New("protocol error: request ended inside the capability list")
		case err != nil:
			return nil, err
		}
		key, value, hasValue := strings.Cut(s, "=")
		switch {
		case key == "command":
			return nil, fmt.Errorf("protocol error: command '%s' requested after already requesting command '%s'", value, cmd)
		case !isCapabilityKey(key):
			return nil, fmt.Errorf("protocol error: bad capability line %q", s)
		case key == "agent" && hasValue:
			req.agent = value
		case key == "object-format" && hasValue:
			if value != "sha1" {
				return nil, fmt.Errorf("mismatched object format: server sha1, client %s", value)
			}
		case key == "server-option" && hasValue:
			req.serverOptions = append(req.serverOptions, value)
		case key == "session-id" && hasValue:
		default:
			return nil, fmt.Errorf("unknown capability '%s'", s)
		}
	}
	for hasArgs {
		s, err := next()
		switch {
		case errors.Is(err, errFlush):
			hasArgs = false
		case err == io.EOF:
			return nil, errors.New("protocol error: request ended inside the arguments")
		case err != nil:
			return nil, err
		default:
			req.args = append(req.args, s)
		}
	}
	return req, nil
}

// isCapabilityKey checks a capability or command name: 1*(ALPHA | DIGIT
// | "-_") in gitprotocol-v2.
func isCapabilityKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseFetchArgs reads the arguments of a v2 fetch command. Features
// v0 negotiates as capabilities are kept in caps under their v0 names.
func parseFetchArgs(args []string) (*uploadRequest, error) {
	req := &uploadRequest{v2: true, caps: capabilities{}}
	for _, a := range args {
		if ok, err := req.parseShallowLine(a); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case strings.HasPrefix(a, "want "):
			h, ok := parseHash(a[len("want "):])
			if !ok {
				return nil, fmt.Errorf("protocol error: bad want line %q", a)
			}
			req.wants = append(req.wants, h)
		case strings.HasPrefix(a, "want-ref "):
			name := a[len("want-ref "):]
			if name != "HEAD" && checkRefName(name) != nil {
				return nil, fmt.Errorf("protocol error: bad want-ref %q", name)
			}
			req.wantRefs = append(req.wantRefs, name)
		case strings.HasPrefix(a, "have "):
			h, ok := parseHash(a[len("have "):])
			if !ok {
				return nil, fmt.Errorf("protocol error: bad have line %q", a)
			}
			req.haves = append(req.haves, h)
		case strings.HasPrefix(a, "filter "):
			if err := req.setFilter(a[len("filter "):]); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "packfile-uris "):
			// Not advertised; no part of a pack is ever served by URI.
		case a == "done":
			req.done = true
		case a == "wait-for-done":
			req.waitForDone = true
		case a == "sideband-all":
			req.sidebandAll = true
		case a == "thin-pack", a == "ofs-delta", a == "no-progress", a == "include-tag", a == "deepen-relative":
			req.caps[a] = ""
		default:
			return nil, fmt.Errorf("unexpected line: '%s'", a)
		}
	}
	return req, req.check()
}

// v2Response writes the lines of a v2 response, each in side-band 1
// when the client asked for sideband-all.
type v2Response struct {
	out         *flushWriter
	sidebandAll bool
}

func (r *v2Response) line(format string, args ...any) error {
	s := fmt.Sprintf(format, args...)
	if r.sidebandAll {
		s = "\x01" + s
	}
	return writePkt(r.out, s)
}

// refuse tells the client why its request cannot be served.
func (r *v2Response) refuse(msg string) {
	if r.sidebandAll {
		writePkt(r.out, "\x03"+msg+"\n")
	} else {
		writePktf(r.out, "ERR %s", msg)
	}
	r.out.flush()
}

// serveV2Command runs one v2 command.
func (s *Server) serveV2Command(ctx context.Context, repoPath string, req *v2Request, out *flushWriter) error {
	switch req.command {
	case "ls-refs":
		args, err := parseLsRefsArgs(req.args)
		if err != nil {
			return badRequest(err)
		}
		if err := s.lsRefs(ctx, repoPath, args, out); err != nil {
			return err
		}
		return out.flush()
	case "fetch":
		resp := &v2Response{out: out}
		args, err := parseFetchArgs(req.args)
		if err == nil {
			resp.sidebandAll = args.sidebandAll
			err = s.fetchV2(ctx, repoPath, args, resp)
		} else {
			err = requestError(err)
		}
		var r *refusal
		if errors.As(err, &r) {
			resp.refuse(r.msg)
		}
		return err
	default:
		return badRequest(fmt.Errorf("invalid command '%s'", req.command))
	}
}

// fetchV2 answers a v2 fetch command: acknowledgments while negotiating;
// then shallow-info, wanted-refs and the packfile, in sections (in the
// order git's client reads them).
func (s *Server) fetchV2(ctx context.Context, repoPath string, req *uploadRequest, resp *v2Response) error {
	out := resp.out
	st, err := openFetch(ctx, repoPath, req)
	if err != nil {
		return err
	}
	defer st.close()
	wantedRefs := make([]ref, 0, len(req.wantRefs))
	for _, name := range req.wantRefs {
		h, ok := plumbing.ZeroHash, false
		for _, r := range st.refs {
			if r.name == name {
				h, ok = r.hash, true
				break
			}
		}
		if !ok && name == "HEAD" {
			if h, ok, err = readRef(repoPath, "HEAD", nil); err != nil {
				return err
			}
		}
		if !ok {
			return refusef("unknown ref %s", name)
		}
		wantedRefs = append(wantedRefs, ref{name, h})
		req.wants = append(req.wants, h)
	}
	if len(req.wants) == 0 {
		// Nothing wanted: git answers nothing at all (with
		// wait-for-done, a client may send haves alone).
		if !req.waitForDone {
			return nil
		}
	}
	if err := st.checkWants(req.wants); err != nil {
		return err
	}

	n := newNegotiator(st.w, req, req.wants)
	if len(req.haves) > 0 {
		var acks []plumbing.Hash
		for _, h := range req.haves {
			if n.have(h) {
				acks = append(acks, h)
			}
		}
		if !req.done {
			resp.line("acknowledgments\n")
			if len(acks) == 0 {
				resp.line("NAK\n")
			}
			for _, h := range acks {
				resp.line("ACK %s\n", h)
			}
			if req.waitForDone || !n.okToGiveUp() {
				writeFlush(out)
				return out.flush()
			}
			resp.line("ready\n")
			writeDelim(out)
		}
	}
	if len(req.wants) == 0 {
		// wait-for-done with done and no want: no pack to make.
		writeFlush(out)
		return out.flush()
	}

	upd := shallowUpdate{wants: req.wants}
	if req.deepens() {
		if upd, err = s.deepen(st, req); err != nil {
			return refusef("%s", err)
		}
	}
	if req.deepens() || len(st.clientShallow) > 0 {
		resp.line("shallow-info\n")
		for _, h := range upd.shallow {
			resp.line("shallow %s\n", h)
		}
		for _, h := range upd.unshallow {
			resp.line("unshallow %s\n", h)
		}
		writeDelim(out)
	}
	if len(wantedRefs) > 0 {
		resp.line("wanted-refs\n")
		for _, r := range wantedRefs {
			resp.line("%s %s\n", r.hash, r.name)
		}
		writeDelim(out)
	}
	if err := resp.line("packfile\n"); err != nil {
		return err
	}
	return s.sendPack(ctx, st, req, upd.wants, n.common, upd.unshallow, out)
}
