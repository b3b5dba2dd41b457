package gitserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// uploadRequest is what a client asks of one fetch: for protocol v0/v1
// one stateless-RPC round (the wants and shallow state, repeated by the
// client in every round, then the haves of this round, ending in a flush
// or done), for v2 one fetch command.
type uploadRequest struct {
	wants          []plumbing.Hash
	caps           capabilities
	clientShallows []plumbing.Hash
	depth          int
	deepenSince    int64
	deepenNot      []string
	filter         *objectFilter
	haves          []plumbing.Hash
	done           bool
	// probe is the first request of a deepening fetch: wants and
	// shallow/deepen lines only, answered with the shallow update alone.
	probe bool

	// Protocol v2 only. Capabilities that v0 negotiates on the first
	// want line arrive as arguments and are kept in caps.
	v2          bool
	wantRefs    []string // want-ref arguments, in request order
	waitForDone bool
	sidebandAll bool
}

func (r *uploadRequest) deepens() bool {
	return r.depth > 0 || r.deepenSince > 0 || len(r.deepenNot) > 0
}

// infiniteDepth is what `git fetch --unshallow` sends.
const infiniteDepth = 0x7fffffff

// parseShallowLine handles the shallow and deepen lines v0 and v2 share.
// ok is false when line is none of them.
func (r *uploadRequest) parseShallowLine(s string) (ok bool, err error) {
	switch {
	case strings.HasPrefix(s, "shallow "):
		h, ok := parseHash(s[len("shallow "):])
		if !ok {
			return true, fmt.Errorf("protocol error: bad shallow line %q", s)
		}
		r.clientShallows = append(r.clientShallows, h)
	case strings.HasPrefix(s, "deepen-since "):
		t, err := strconv.ParseInt(s[len("deepen-since "):], 10, 64)
		if err != nil || t <= 0 {
			return true, fmt.Errorf("invalid deepen-since: %q", s)
		}
		r.deepenSince = t
	case strings.HasPrefix(s, "deepen-not "):
		name := s[len("deepen-not "):]
		if name == "" {
			return true, fmt.Errorf("invalid deepen-not: %q", s)
		}
		r.deepenNot = append(r.deepenNot, name)
	case strings.HasPrefix(s, "deepen "):
		d, err := strconv.Atoi(s[len("deepen "):])
		if err != nil || d <= 0 {
			return true, fmt.Errorf("invalid deepen: %q", s)
		}
		r.depth = d
	default:
		return false, nil
	}
	return true, nil
}

// setFilter parses a filter line's spec; a request carries at most one.
func (r *uploadRequest) setFilter(spec string) error {
	if r.filter != nil {
		return errors.New("multiple filter-specs cannot be combined")
	}
	f, err := parseFilter(spec)
	if err != nil {
		return err
	}
	r.filter = f
	return nil
}

func (r *uploadRequest) check() error {
	if r.depth > 0 && (r.deepenSince > 0 || len(r.deepenNot) > 0) {
		return errors.New("deepen and deepen-since (or deepen-not) cannot be used together")
	}
	return nil
}

// readWants reads the first part of a v0/v1 request: want lines (the
// first carrying the capabilities), shallow, deepen and filter lines, up
// to a flush. A request that ends before any want (a client that only
// listed the refs) yields an empty request.
func readWants(pr *pktReader) (*uploadRequest, error) {
	req := &uploadRequest{caps: capabilities{}}
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
		if ok, err := req.parseShallowLine(s); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
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
		case strings.HasPrefix(s, "filter "):
			if !req.caps.has("filter") {
				return nil, errors.New("filtering capability not negotiated")
			}
			if err := req.setFilter(s[len("filter "):]); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("protocol error: expected want, got %q", s)
		}
	}
	return req, req.check()
}

// readHaves reads one round of have lines, up to a flush (more rounds to
// come) or done. At the end of the stream it returns io.EOF with the
// haves read before it.
func readHaves(pr *pktReader) (haves []plumbing.Hash, done bool, err error) {
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			return haves, false, nil
		}
		if err == io.EOF {
			return haves, false, err
		}
		if err != nil {
			return nil, false, err
		}
		s := chomp(line)
		switch {
		case strings.HasPrefix(s, "have "):
			h, ok := parseHash(s[5:])
			if !ok {
				return nil, false, fmt.Errorf("protocol error: bad have line %q", s)
			}
			haves = append(haves, h)
		case s == "done":
			return haves, true, nil
		default:
			return nil, false, fmt.Errorf("protocol error: expected have or done, got %q", s)
		}
	}
}

// parseUploadRequest reads a whole stateless-RPC request (smart HTTP).
func parseUploadRequest(in *bufio.Reader) (*uploadRequest, error) {
	pr := newPktReader(in)
	req, err := readWants(pr)
	if err != nil || len(req.wants) == 0 {
		return req, err
	}
	// The client repeats its haves in every request; several flushes may
	// separate them. They are one round to this server.
	sawFlush := false
	for !req.done && !pr.atEOF() {
		haves, done, err := readHaves(pr)
		req.haves = append(req.haves, haves...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		req.done = done
		sawFlush = sawFlush || !done
	}
	req.probe = !req.done && !sawFlush && len(req.haves) == 0
	return req, nil
}

// refusal is an error the client is told about in an ERR packet (or on
// side-band 3): a request that is well formed but cannot be served.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refusef(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// fetchState is what serving one fetch reads from the repository: the
// refs, then (in this order, see doc.go) the object database.
type fetchState struct {
	repoPath string
	refs     []ref
	db       *odb
	w        *walker
	// cut holds the commits whose parents are not sent: the client's
	// shallow commits we have, then the new shallow boundary.
	cut           map[plumbing.Hash]bool
	clientShallow []plumbing.Hash
}

func openFetch(ctx context.Context, repoPath string, req *uploadRequest) (*fetchState, error) {
	refs, _, err := listRefs(repoPath, "")
	if err != nil {
		return nil, err
	}
	db, err := openODB(repoPath)
	if err != nil {
		return nil, err
	}
	db.setCacheBudget(fetchCacheBytes)
	db.unmapPacks()
	w := newWalker(ctx, db)
	w.trees = newLRU[plumbing.Hash, []treeEntry](fetchTreeCacheBytes, treeCost)
	st := &fetchState{repoPath: repoPath, refs: refs, db: db, w: w, cut: map[plumbing.Hash]bool{}}
	for _, h := range req.clientShallows {
		// A shallow commit we do not have says nothing about our history.
		if db.has(h) {
			st.clientShallow = append(st.clientShallow, h)
			st.cut[h] = true
		}
	}
	return st, nil
}

func (st *fetchState) close() { st.db.close() }

// checkWants refuses a request naming an object that is neither a ref
// tip nor reachable from one.
func (st *fetchState) checkWants(wants []plumbing.Hash) error {
	bad, err := st.w.unreachableWant(st.refs, wants)
	if err != nil {
		return err
	}
	if !bad.IsZero() {
		return refusef("upload-pack: not our ref %s", bad)
	}
	return nil
}

// uploadPackV0 answers one parsed stateless request (protocol v0/v1).
func (s *Server) uploadPackV0(ctx context.Context, repoPath string, req *uploadRequest, out *flushWriter) error {
	if len(req.wants) == 0 {
		return nil
	}
	// Refs first: a ref is written only after its objects are installed,
	// so packs listed afterwards hold everything the refs point to.
	st, err := openFetch(ctx, repoPath, req)
	if err != nil {
		return err
	}
	defer st.close()
	if err := st.checkWants(req.wants); err != nil {
		return err
	}
	wants, unshallowed, err := s.deepenV0(st, req, out)
	if err != nil {
		return err
	}
	if req.probe {
		return out.flush()
	}
	n := newNegotiator(st.w, req, wants)
	if !n.round(req.haves, req.done, out) {
		return out.flush()
	}
	return s.sendPack(ctx, st, req, wants, n.common, unshallowed, out)
}

// uploadPackStateful serves a v0/v1 fetch on one connection (SSH) after
// the advertisement: the wants, then negotiation rounds until done, then
// the pack.
func (s *Server) uploadPackStateful(ctx context.Context, repoPath string, pr *pktReader, out *flushWriter) error {
	req, err := readWants(pr)
	if err != nil {
		return requestError(err)
	}
	if len(req.wants) == 0 {
		return nil // ls-remote, or nothing to fetch
	}
	st, err := openFetch(ctx, repoPath, req)
	if err != nil {
		return err
	}
	defer st.close()
	if err := st.checkWants(req.wants); err != nil {
		return err
	}
	wants, unshallowed, err := s.deepenV0(st, req, out)
	if err != nil {
		return err
	}
	if err := out.flush(); err != nil {
		return err
	}
	n := newNegotiator(st.w, req, wants)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		haves, done, err := readHaves(pr)
		if err == io.EOF {
			return nil // the client gave up (or only wanted the shallow update)
		}
		if err != nil {
			return badRequest(err)
		}
		req.done = done
		if n.round(haves, done, out) {
			break
		}
		if err := out.flush(); err != nil {
			return err
		}
	}
	return s.sendPack(ctx, st, req, wants, n.common, unshallowed, out)
}

// deepenV0 sends the v0 shallow update when the request deepens and
// returns the wants to walk from (the parents of unshallowed commits
// added) and the unshallowed commits.
func (s *Server) deepenV0(st *fetchState, req *uploadRequest, out io.Writer) (wants, unshallowed []plumbing.Hash, err error) {
	if !req.deepens() {
		return req.wants, nil, nil
	}
	upd, err := s.deepen(st, req)
	if err != nil {
		return nil, nil, refusef("%s", err)
	}
	for _, h := range upd.shallow {
		if err := writePktf(out, "shallow %s\n", h); err != nil {
			return nil, nil, err
		}
	}
	for _, h := range upd.unshallow {
		if err := writePktf(out, "unshallow %s\n", h); err != nil {
			return nil, nil, err
		}
	}
	if err := writeFlush(out); err != nil {
		return nil, nil, err
	}
	return upd.wants, upd.unshallow, nil
}

// shallowUpdate is the outcome of a deepening request.
type shallowUpdate struct {
	shallow   []plumbing.Hash // new boundary commits to tell the client of
	unshallow []plumbing.Hash // client shallow commits whose parents now follow
	wants     []plumbing.Hash // the request's wants plus those parents
}

// deepen computes the new shallow boundary; st.cut gains it.
func (s *Server) deepen(st *fetchState, req *uploadRequest) (shallowUpdate, error) {
	w := st.w
	var upd shallowUpdate
	var boundary []plumbing.Hash
	var notShallow map[plumbing.Hash]bool
	var err error
	switch {
	case req.depth >= infiniteDepth:
		notShallow = map[plumbing.Hash]bool{}
		for _, h := range st.clientShallow {
			notShallow[h] = true
		}
	case req.depth > 0 && req.caps.has("deepen-relative"):
		boundary, notShallow, err = w.shallowByDepth(st.clientShallow, req.depth+1)
	case req.depth > 0:
		boundary, notShallow, err = w.shallowByDepth(req.wants, req.depth)
	default:
		var notTips []plumbing.Hash
		for _, name := range req.deepenNot {
			h, ok := expandRef(st.refs, name)
			if !ok {
				return upd, fmt.Errorf("git upload-pack: ambiguous deepen-not: %s", name)
			}
			notTips = append(notTips, h)
		}
		boundary, notShallow, err = w.shallowByRevList(req.wants, req.deepenSince, notTips)
	}
	if err != nil {
		return upd, err
	}
	isClientShallow := map[plumbing.Hash]bool{}
	for _, h := range st.clientShallow {
		isClientShallow[h] = true
	}
	for _, h := range boundary {
		if !isClientShallow[h] && !notShallow[h] {
			upd.shallow = append(upd.shallow, h)
			st.cut[h] = true
		}
	}
	upd.wants = append([]plumbing.Hash(nil), req.wants...)
	for _, h := range st.clientShallow {
		if !notShallow[h] {
			continue
		}
		n, err := w.commit(h)
		if err != nil {
			return upd, err
		}
		upd.unshallow = append(upd.unshallow, h)
		// h stays in cut: its parents are walked as wants, and h itself is
		// on the client already.
		upd.wants = append(upd.wants, n.info.parents...)
	}
	return upd, nil
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

// negotiator finds the commits a fetch has in common with the client,
// as git's upload-pack does, across one round (stateless) or many (one
// connection).
type negotiator struct {
	w        *walker
	wants    []plumbing.Hash
	multiAck int // 0, 1 (multi_ack) or 2 (multi_ack_detailed)
	noDone   bool

	common    []plumbing.Hash // haves we have, each commit once
	last      plumbing.Hash   // the last common have seen
	oldest    int64           // commit time of the oldest common have
	giveUp    bool
	checkedAt int
	sentReady bool
}

func newNegotiator(w *walker, req *uploadRequest, wants []plumbing.Hash) *negotiator {
	n := &negotiator{w: w, wants: wants, checkedAt: -1, noDone: req.caps.has("no-done")}
	switch {
	case req.caps.has("multi_ack_detailed"):
		n.multiAck = 2
	case req.caps.has("multi_ack"):
		n.multiAck = 1
	}
	return n
}

// have records one have line and reports whether we have the object.
func (n *negotiator) have(h plumbing.Hash) bool {
	if !n.w.db.has(h) {
		return false
	}
	knew := false
	if c, err := n.w.commit(h); err == nil {
		if c.flags&fTheyHave != 0 {
			knew = true
		}
		c.flags |= fTheyHave
		if n.oldest == 0 || c.info.time < n.oldest {
			n.oldest = c.info.time
		}
		for _, ph := range c.info.parents {
			if p, err := n.w.commit(ph); err == nil {
				p.flags |= fTheyHave
			}
		}
	}
	if !knew {
		n.common = append(n.common, h)
	}
	n.last = h
	return true
}

// okToGiveUp is upload-pack's ok_to_give_up: every want reaches a commit
// the client has. It only changes when a have is added, and once true
// stays true, so it is recomputed at most once per common have.
func (n *negotiator) okToGiveUp() bool {
	if len(n.common) == 0 {
		return false
	}
	if !n.giveUp && n.checkedAt != len(n.common) {
		n.giveUp, n.checkedAt = n.w.canAllReach(n.wants, n.oldest), len(n.common)
	}
	return n.giveUp
}

// round answers one round of haves exactly as git's get_common_commits
// does (multi_ack_detailed, multi_ack or plain) and reports whether the
// pack follows.
func (n *negotiator) round(haves []plumbing.Hash, done bool, out io.Writer) (sendPack bool) {
	gotCommon, gotOther := false, false
	for _, h := range haves {
		if !n.have(h) {
			gotOther = true
			if n.multiAck > 0 && n.okToGiveUp() {
				if n.multiAck == 2 {
					writePktf(out, "ACK %s ready\n", h)
					n.sentReady = true
				} else {
					writePktf(out, "ACK %s continue\n", h)
				}
			}
			continue
		}
		gotCommon = true
		switch n.multiAck {
		case 2:
			writePktf(out, "ACK %s common\n", h)
		case 1:
			writePktf(out, "ACK %s continue\n", h)
		default:
			if len(n.common) == 1 {
				writePktf(out, "ACK %s\n", h)
			}
		}
	}
	if done {
		if len(n.common) > 0 {
			if n.multiAck > 0 {
				writePktf(out, "ACK %s\n", n.last)
			}
		} else {
			writePkt(out, "NAK\n")
		}
		return true
	}
	if n.multiAck == 2 && gotCommon && !gotOther && n.okToGiveUp() {
		writePktf(out, "ACK %s ready\n", n.last)
		n.sentReady = true
	}
	if len(n.common) == 0 || n.multiAck > 0 {
		writePkt(out, "NAK\n")
	}
	if n.noDone && n.sentReady {
		writePktf(out, "ACK %s\n", n.last)
		return true
	}
	return false
}

// sendPack enumerates and streams the pack, over side-band when asked
// (always in protocol v2, after the packfile section header).
func (s *Server) sendPack(ctx context.Context, st *fetchState, req *uploadRequest, wants, common, unshallowed []plumbing.Hash, out *flushWriter) error {
	w := st.w
	var data, progress io.Writer = out, io.Discard
	var fatal func(string)
	bandMax := 0
	switch {
	case req.v2 || req.caps.has("side-band-64k"):
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
	en, err := s.enumerateFetch(st, req, wants, common, unshallowed)
	if err != nil {
		fatal("upload-pack: " + err.Error())
		return err
	}
	if req.caps.has("include-tag") {
		w.includeTags(en, st.refs)
	}
	w.progress = nil
	say("Enumerating objects: %d, done.\n", en.count())
	say("Counting objects: 100%% (%d/%d), done.\n", en.count(), en.count())

	bw := bufio.NewWriterSize(data, max(bandMax, 32*1024))
	pw := newPackWriter(w.db, bw, en, req.caps.has("ofs-delta"), req.caps.has("thin-pack"))
	if en.reuse == nil {
		pw.have = loadHaveSet(st, req, common)
	}
	if err := pw.writePack(ctx.Err); err != nil {
		fatal("upload-pack: " + err.Error())
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	reusedEntries := 0
	if en.reuse != nil {
		reusedEntries = en.reuse.count
	}
	say("Total %d (delta %d), reused %d (delta %d), pack-reused %d\n",
		en.count(), pw.deltas, pw.reused, pw.reusedDeltas, reusedEntries)
	s.log.Debug("upload-pack", "objects", en.count(), "pack-reused", reusedEntries, "bytes", pw.n, "filter", filterSpec(req.filter), "took", time.Since(start))
	if bandMax > 0 {
		writeFlush(out)
	}
	return out.flush()
}

func filterSpec(f *objectFilter) string {
	if f == nil {
		return ""
	}
	return f.spec
}

// includeTags adds annotated tags whose target is in the pack
// (include-tag), so the client's tag auto-following needs no second fetch.
func (w *walker) includeTags(en *enumeration, refs []ref) {
	for _, r := range refs {
		if !strings.HasPrefix(r.name, "refs/tags/") || en.has(r.hash) || en.clientHas[r.hash] {
			continue
		}
		var chain []plumbing.Hash // empty for a lightweight tag
		target, _, err := w.peel(r.hash, func(t plumbing.Hash) { chain = append(chain, t) })
		if err != nil || len(chain) == 0 || !en.has(target) {
			continue
		}
		for _, t := range chain {
			if !en.reuse.sends(t) {
				en.add(t)
			}
		}
	}
}

// flushWriter is the client's end of a response. When the writer it
// wraps has a Flush method (net/http's response through its
// ResponseController, a bufio.Writer over an SSH channel), flush pushes
// what was written so far out to the client, so progress and
// negotiation lines are not held back.
type flushWriter struct {
	w io.Writer
}

type flusher interface{ Flush() error }

func (f *flushWriter) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f *flushWriter) flush() error {
	if fl, ok := f.w.(flusher); ok {
		return fl.Flush()
	}
	return nil
}
