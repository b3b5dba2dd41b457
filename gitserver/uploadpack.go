package gitserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// uploadRequest is one stateless-RPC round of the fetch protocol (v0/v1):
// the wants and shallow state, repeated by the client in every round, then
// the haves of this round, ending in a flush (more rounds to come) or done.
type uploadRequest struct {
	wants          []plumbing.Hash
	caps           capabilities
	clientShallows []plumbing.Hash
	depth          int
	deepenSince    int64
	deepenNot      []string
	haves          []plumbing.Hash
	done           bool
	// probe is the first request of a deepening fetch: wants and
	// shallow/deepen lines only, answered with the shallow update alone.
	probe bool
}

func (r *uploadRequest) deepens() bool {
	return r.depth > 0 || r.deepenSince > 0 || len(r.deepenNot) > 0
}

// infiniteDepth is what `git fetch --unshallow` sends.
const infiniteDepth = 0x7fffffff

func parseUploadRequest(in *bufio.Reader) (*uploadRequest, error) {
	req := &uploadRequest{caps: capabilities{}}
	pr := newPktReader(in)
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			break
		}
		if err == io.EOF {
			if len(req.wants) == 0 {
				return req, nil
			}
			return nil, errors.New("protocol error: request ended inside the want list")
		}
		if err != nil {
			return nil, err
		}
		s := chomp(line)
		switch {
		case strings.HasPrefix(s, "want "):
			h, ok := parseHash(s[5:min(len(s), 45)])
			if !ok {
				return nil, fmt.Errorf("protocol error: bad want line %q", s)
			}
			if len(req.wants) == 0 && len(s) > 45 {
				req.caps = parseCapabilities(strings.TrimSpace(s[45:]))
			}
			req.wants = append(req.wants, h)
		case strings.HasPrefix(s, "shallow "):
			h, ok := parseHash(s[8:])
			if !ok {
				return nil, fmt.Errorf("protocol error: bad shallow line %q", s)
			}
			req.clientShallows = append(req.clientShallows, h)
		case strings.HasPrefix(s, "deepen-since "):
			t, err := strconv.ParseInt(s[len("deepen-since "):], 10, 64)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("invalid deepen-since: %q", s)
			}
			req.deepenSince = t
		case strings.HasPrefix(s, "deepen-not "):
			req.deepenNot = append(req.deepenNot, s[len("deepen-not "):])
		case strings.HasPrefix(s, "deepen "):
			d, err := strconv.Atoi(s[len("deepen "):])
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("invalid deepen: %q", s)
			}
			req.depth = d
		case strings.HasPrefix(s, "filter "):
			return nil, errors.New("filter is not supported")
		default:
			return nil, fmt.Errorf("protocol error: expected want, got %q", s)
		}
	}
	if req.depth > 0 && (req.deepenSince > 0 || len(req.deepenNot) > 0) {
		return nil, errors.New("deepen and deepen-since (or deepen-not) cannot be used together")
	}
	sawFlush := false
	for {
		line, err := pr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errFlush) {
			sawFlush = true
			if pr.atEOF() {
				break
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s := chomp(line)
		switch {
		case strings.HasPrefix(s, "have "):
			h, ok := parseHash(s[5:])
			if !ok {
				return nil, fmt.Errorf("protocol error: bad have line %q", s)
			}
			req.haves = append(req.haves, h)
		case s == "done":
			req.done = true
		default:
			return nil, fmt.Errorf("protocol error: expected have or done, got %q", s)
		}
		if req.done {
			break
		}
	}
	req.probe = !req.done && !sawFlush && len(req.haves) == 0
	return req, nil
}

// ServeUploadPack answers POST .../git-upload-pack (fetch and clone).
func (s *Server) ServeUploadPack(w http.ResponseWriter, r *http.Request, repoPath string) {
	body, ok := rpcBody(w, r, repoPath)
	if !ok {
		return
	}
	defer body.Close()
	req, err := parseUploadRequest(bufio.NewReaderSize(&limitedBody{body, maxNegotiationBody}, 64*1024))
	if err != nil {
		s.log.Warn("upload-pack: bad request", "repo", repoPath, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	noCache(w.Header())
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := s.uploadPack(r.Context(), repoPath, req, fw); err != nil {
		s.log.Warn("upload-pack failed", "repo", repoPath, "err", err)
	}
}

// uploadPack answers one parsed request on out.
func (s *Server) uploadPack(ctx context.Context, repoPath string, req *uploadRequest, out *flushWriter) error {
	if len(req.wants) == 0 {
		return nil
	}
	// Refs first: a ref is written only after its objects are installed,
	// so packs listed afterwards hold everything the refs point to.
	refs, _, err := listRefs(repoPath, "")
	if err != nil {
		return err
	}
	db, err := openODB(repoPath)
	if err != nil {
		return err
	}
	defer db.close()
	w := newWalker(ctx, db)
	if bad, err := s.checkWants(w, refs, req.wants); err != nil {
		return err
	} else if !bad.IsZero() {
		writePktf(out, "ERR upload-pack: not our ref %s", bad)
		return fmt.Errorf("not our ref %s", bad)
	}

	cut := map[plumbing.Hash]bool{}
	var clientShallow []plumbing.Hash
	for _, h := range req.clientShallows {
		// A shallow commit we do not have says nothing about our history.
		if db.has(h) {
			clientShallow = append(clientShallow, h)
			cut[h] = true
		}
	}
	wants := req.wants
	var unshallowed []plumbing.Hash
	if req.deepens() {
		extra, un, err := s.deepen(w, req, refs, clientShallow, cut, out)
		if err != nil {
			writePktf(out, "ERR %s", err)
			return err
		}
		wants = append(append([]plumbing.Hash(nil), wants...), extra...)
		unshallowed = un
	}
	if req.probe {
		return out.flush()
	}

	common, sendPack := negotiate(w, req, wants, out)
	if !sendPack {
		return out.flush()
	}
	return s.sendPack(ctx, w, req, wants, common, cut, unshallowed, refs, out)
}

// checkWants returns the first want that is neither a ref tip (or its
// peeled value) nor, for commits, reachable from one. Stateless HTTP makes
// the reachability case normal: a ref may move between the advertisement
// and the POST.
func (s *Server) checkWants(w *walker, refs []ref, wants []plumbing.Hash) (plumbing.Hash, error) {
	tips := map[plumbing.Hash]bool{}
	var tipList []plumbing.Hash
	for _, r := range refs {
		tips[r.hash] = true
		tipList = append(tipList, r.hash)
	}
	var pending []plumbing.Hash
	for _, h := range wants {
		if tips[h] {
			continue
		}
		if !w.db.has(h) {
			return h, nil
		}
		pending = append(pending, h)
	}
	if len(pending) == 0 {
		return plumbing.ZeroHash, nil
	}
	// Peeled tag targets count as tips.
	for _, t := range tipList {
		target, _, err := w.peel(t, func(tag plumbing.Hash) { tips[tag] = true })
		if err == nil {
			tips[target] = true
		}
	}
	var commits []plumbing.Hash
	for _, h := range pending {
		if tips[h] {
			continue
		}
		typ, err := w.db.typeOf(h)
		if err != nil || typ != objCommit {
			return h, nil
		}
		commits = append(commits, h)
	}
	if len(commits) == 0 {
		return plumbing.ZeroHash, nil
	}
	found, err := w.reachableFrom(commits, tipList)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for _, h := range commits {
		if !found[h] {
			return h, nil
		}
	}
	return plumbing.ZeroHash, nil
}

// deepen computes the new shallow boundary, writes the shallow-update
// section and returns the extra wants (parents of unshallowed commits)
// and the unshallowed commits. cut gains the new boundary commits.
func (s *Server) deepen(w *walker, req *uploadRequest, refs []ref, clientShallow []plumbing.Hash, cut map[plumbing.Hash]bool, out io.Writer) (extra, unshallowed []plumbing.Hash, err error) {
	var boundary []plumbing.Hash
	var notShallow map[plumbing.Hash]bool
	switch {
	case req.depth >= infiniteDepth:
		notShallow = map[plumbing.Hash]bool{}
		for _, h := range clientShallow {
			notShallow[h] = true
		}
	case req.depth > 0 && req.caps.has("deepen-relative"):
		boundary, notShallow, err = w.shallowByDepth(clientShallow, req.depth+1)
	case req.depth > 0:
		boundary, notShallow, err = w.shallowByDepth(req.wants, req.depth)
	default:
		var notTips []plumbing.Hash
		for _, name := range req.deepenNot {
			h, ok := expandRef(refs, name)
			if !ok {
				return nil, nil, fmt.Errorf("git upload-pack: ambiguous deepen-not: %s", name)
			}
			notTips = append(notTips, h)
		}
		boundary, notShallow, err = w.shallowByRevList(req.wants, req.deepenSince, notTips)
	}
	if err != nil {
		return nil, nil, err
	}
	isClientShallow := map[plumbing.Hash]bool{}
	for _, h := range clientShallow {
		isClientShallow[h] = true
	}
	for _, h := range boundary {
		if !isClientShallow[h] && !notShallow[h] {
			if err := writePktf(out, "shallow %s\n", h); err != nil {
				return nil, nil, err
			}
			cut[h] = true
		}
	}
	for _, h := range clientShallow {
		if !notShallow[h] {
			continue
		}
		if err := writePktf(out, "unshallow %s\n", h); err != nil {
			return nil, nil, err
		}
		n, err := w.commit(h)
		if err != nil {
			return nil, nil, err
		}
		unshallowed = append(unshallowed, h)
		// h stays in cut: its parents are walked as wants, and h itself is
		// on the client already.
		extra = append(extra, n.info.parents...)
	}
	return extra, unshallowed, writeFlush(out)
}

// expandRef resolves a deepen-not argument the way git's dwim does.
func expandRef(refs []ref, name string) (plumbing.Hash, bool) {
	for _, full := range []string{name, "refs/" + name, "refs/tags/" + name, "refs/heads/" + name} {
		for _, r := range refs {
			if r.name == full {
				return r.hash, true
			}
		}
	}
	return plumbing.ZeroHash, false
}

// negotiate answers the haves of this round exactly as git's
// get_common_commits does (multi_ack_detailed, multi_ack or plain) and
// reports the haves we have in common and whether the pack follows in
// this response.
func negotiate(w *walker, req *uploadRequest, wants []plumbing.Hash, out io.Writer) (common []plumbing.Hash, sendPack bool) {
	multiAck := 0
	switch {
	case req.caps.has("multi_ack_detailed"):
		multiAck = 2
	case req.caps.has("multi_ack"):
		multiAck = 1
	}
	var oldest int64
	// ok_to_give_up only changes when a have is added, and once true
	// stays true, so it is recomputed at most once per common have.
	giveUp, checkedAt := false, -1
	okToGiveUp := func() bool {
		if len(common) == 0 {
			return false
		}
		if !giveUp && checkedAt != len(common) {
			giveUp, checkedAt = w.canAllReach(wants, oldest), len(common)
		}
		return giveUp
	}

	gotCommon, gotOther, sentReady := false, false, false
	var last plumbing.Hash
	for _, h := range req.haves {
		if !w.db.has(h) {
			gotOther = true
			if multiAck > 0 && okToGiveUp() {
				if multiAck == 2 {
					writePktf(out, "ACK %s ready\n", h)
					sentReady = true
				} else {
					writePktf(out, "ACK %s continue\n", h)
				}
			}
			continue
		}
		knew := false
		if n, err := w.commit(h); err == nil {
			if n.flags&fTheyHave != 0 {
				knew = true
			}
			n.flags |= fTheyHave
			if oldest == 0 || n.info.time < oldest {
				oldest = n.info.time
			}
			for _, ph := range n.info.parents {
				if p, err := w.commit(ph); err == nil {
					p.flags |= fTheyHave
				}
			}
		}
		if !knew {
			common = append(common, h)
		}
		gotCommon = true
		last = h
		switch multiAck {
		case 2:
			writePktf(out, "ACK %s common\n", h)
		case 1:
			writePktf(out, "ACK %s continue\n", h)
		default:
			if len(common) == 1 {
				writePktf(out, "ACK %s\n", h)
			}
		}
	}
	if req.done {
		if len(common) > 0 {
			if multiAck > 0 {
				writePktf(out, "ACK %s\n", last)
			}
		} else {
			writePkt(out, "NAK\n")
		}
		return common, true
	}
	if multiAck == 2 && gotCommon && !gotOther && okToGiveUp() {
		writePktf(out, "ACK %s ready\n", last)
		sentReady = true
	}
	if len(common) == 0 || multiAck > 0 {
		writePkt(out, "NAK\n")
	}
	if req.caps.has("no-done") && sentReady {
		writePktf(out, "ACK %s\n", last)
		return common, true
	}
	return common, false
}

// sendPack enumerates and streams the pack, over side-band when asked.
func (s *Server) sendPack(ctx context.Context, w *walker, req *uploadRequest, wants, common []plumbing.Hash, cut map[plumbing.Hash]bool, unshallowed []plumbing.Hash, refs []ref, out *flushWriter) error {
	var data, progress io.Writer = out, io.Discard
	var fatal func(string)
	bandMax := 0
	switch {
	case req.caps.has("side-band-64k"):
		bandMax = sideband64kMax
	case req.caps.has("side-band"):
		bandMax = sidebandMax
	}
	if bandMax > 0 {
		data = &sidebandWriter{w: out, band: bandData, max: bandMax}
		if !req.caps.has("no-progress") {
			progress = &sidebandWriter{w: out, band: bandProgress, max: bandMax}
		}
		errw := &sidebandWriter{w: out, band: bandError, max: bandMax}
		fatal = func(msg string) { io.WriteString(errw, msg+"\n"); writeFlush(out); out.flush() }
	} else {
		fatal = func(string) {}
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, format, args...)
		out.flush()
	}

	start := time.Now()
	var en *enumeration
	lastReport := start
	w.progress = func() {
		// Enumeration of a large history can take seconds; show it moving.
		if en != nil || time.Since(lastReport) < time.Second {
			return
		}
		lastReport = time.Now()
		say("Enumerating objects: %d\r", w.steps)
	}
	en, err := w.enumerate(wants, common, cut, unshallowed)
	if err != nil {
		fatal("upload-pack: " + err.Error())
		return err
	}
	if req.caps.has("include-tag") {
		w.includeTags(en, refs)
	}
	w.progress = nil
	say("Enumerating objects: %d, done.\n", len(en.objects))
	say("Counting objects: 100%% (%d/%d), done.\n", len(en.objects), len(en.objects))

	bw := bufio.NewWriterSize(data, max(bandMax, 32*1024))
	pw := newPackWriter(w.db, bw, en, req.caps.has("ofs-delta"), req.caps.has("thin-pack"))
	if err := pw.writePack(ctx.Err); err != nil {
		fatal("upload-pack: " + err.Error())
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	say("Total %d (delta %d), reused %d (delta %d), pack-reused 0\n",
		len(en.objects), pw.deltas, pw.reused, pw.reusedDeltas)
	s.log.Debug("upload-pack", "objects", len(en.objects), "bytes", pw.n, "took", time.Since(start))
	if bandMax > 0 {
		writeFlush(out)
	}
	return out.flush()
}

// includeTags adds annotated tags whose target is in the pack
// (include-tag), so the client's tag auto-following needs no second fetch.
func (w *walker) includeTags(en *enumeration, refs []ref) {
	for _, r := range refs {
		if !strings.HasPrefix(r.name, "refs/tags/") || en.sending[r.hash] || en.clientHas[r.hash] {
			continue
		}
		var chain []plumbing.Hash // empty for a lightweight tag
		target, _, err := w.peel(r.hash, func(t plumbing.Hash) { chain = append(chain, t) })
		if err != nil || len(chain) == 0 || !en.sending[target] {
			continue
		}
		for _, t := range chain {
			en.add(t)
		}
	}
}

// flushWriter pushes buffered response bytes to the client on demand,
// so progress and negotiation lines are not held back by net/http.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f *flushWriter) flush() error {
	if f.rc == nil {
		return nil
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
