package gitserver

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
)

// RefUpdate is one ref change requested by a push.
type RefUpdate struct {
	Name        string        // full ref name, e.g. refs/heads/main
	Old, New    plumbing.Hash // zero hash = create / delete
	FastForward bool          // Old is an ancestor of New (true for creates)
	// Push is what the updates of one push share (its certificate, the
	// HEAD it set); nil for updates made outside a push.
	Push *Push
}

// ReceiveOptions are the app's hooks into a push.
type ReceiveOptions struct {
	// Check runs for each requested update after the pack is validated and
	// before any ref is written; a non-nil error rejects that ref (and,
	// for an atomic push, the whole push). The error text is shown to the
	// user as "remote: <err>" and in the ref's status.
	Check func(ctx context.Context, u RefUpdate) error
	// Updated runs after the refs are written, with the updates that
	// succeeded, after the repository lock is released.
	Updated func(ctx context.Context, updates []RefUpdate)
}

type command struct {
	RefUpdate
	ng   string // rejection reason; "" while the update may go ahead
	said bool   // a remote: line told the user why
}

// reject refuses the update for reason (its ng status) and tells the user
// why on a remote: line.
func (c *command) reject(out *receiveOutput, reason, format string, args ...any) {
	c.ng = reason
	out.say(format, args...)
	c.said = true
}

type receiveRequest struct {
	cmds []*command
	caps capabilities
	cert *PushCert // a signed push's certificate; its commands are in cmds
}

func parseReceiveRequest(br *bufio.Reader) (*receiveRequest, error) {
	req := &receiveRequest{caps: capabilities{}}
	pr := newPktReader(br)
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			break
		}
		if err == io.EOF && len(req.cmds) == 0 {
			return req, nil
		}
		if err != nil {
			return nil, err
		}
		s := string(line)
		if before, after, ok := strings.Cut(s, "\x00"); ok {
			if len(req.cmds) == 0 {
				req.caps = parseCapabilities(chomp([]byte(after)))
			}
			s = before
		}
		s = chomp([]byte(s))
		if strings.HasPrefix(s, "shallow ") {
			continue // pushes from shallow clones; connectivity decides
		}
		if s == "push-cert" {
			if req.cert != nil {
				return nil, errors.New("protocol error: two push certificates")
			}
			text, flushed, err := readPushCert(pr)
			if err != nil {
				return nil, err
			}
			cert, cmds, err := parsePushCert(text)
			if err != nil {
				return nil, fmt.Errorf("protocol error: %w", err)
			}
			req.cert = cert
			req.cmds = append(req.cmds, cmds...)
			if flushed {
				break
			}
			continue
		}
		parts := strings.SplitN(s, " ", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("protocol error: bad command %q", s)
		}
		old, ok1 := parseHash(parts[0])
		new, ok2 := parseHash(parts[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("protocol error: bad command %q", s)
		}
		req.cmds = append(req.cmds, &command{RefUpdate: RefUpdate{Name: parts[2], Old: old, New: new}})
	}
	if req.caps.has("push-options") {
		// Not advertised, so git does not send them; a client that does
		// anyway has them read past.
		for {
			_, err := pr.next()
			if errors.Is(err, errFlush) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading push options: %w", err)
			}
		}
	}
	return req, nil
}

// maxPushCert bounds a push certificate: a few lines per ref pushed.
const maxPushCert = 16 << 20

// readPushCert reads the lines of a push certificate up to its
// push-cert-end line, or a flush that ends the commands with it.
func readPushCert(pr *pktReader) (text string, flushed bool, err error) {
	var b strings.Builder
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			return b.String(), true, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("reading push certificate: %w", err)
		}
		if string(line) == "push-cert-end\n" {
			return b.String(), false, nil
		}
		if b.Len()+len(line) > maxPushCert {
			return "", false, errors.New("protocol error: push certificate too long")
		}
		b.Write(line)
	}
}

// receiveOutput writes what the client sees: messages on side-band 2
// (shown as "remote: ...") and the report-status on band 1.
type receiveOutput struct {
	w        *flushWriter
	sideband bool
	msgs     io.Writer
}

func (o *receiveOutput) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	o.msgs.Write([]byte(msg))
	o.w.flush()
}

func (o *receiveOutput) report(reportStatus bool, unpack string, cmds []*command) {
	if reportStatus {
		var buf bytes.Buffer
		if unpack == "" {
			writePkt(&buf, "unpack ok\n")
		} else {
			writePktf(&buf, "unpack %s\n", unpack)
		}
		for _, c := range cmds {
			if c.ng == "" {
				writePktf(&buf, "ok %s\n", c.Name)
			} else {
				writePktf(&buf, "ng %s %s\n", c.Name, oneLine(c.ng))
			}
		}
		writeFlush(&buf)
		if o.sideband {
			(&sidebandWriter{w: o.w, band: bandData, max: sideband64kMax}).Write(buf.Bytes())
		} else {
			o.w.Write(buf.Bytes())
		}
	}
	if o.sideband {
		writeFlush(o.w)
	}
	o.w.flush()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

// ServeReceivePack answers POST .../git-receive-pack (push).
func (s *Server) ServeReceivePack(w http.ResponseWriter, r *http.Request, repoPath string, opts ReceiveOptions) {
	s.serveRPC(w, r, repoPath, serviceReceivePack, func(ctx context.Context, in io.Reader, out io.Writer, o StreamOptions) error {
		return s.ReceivePack(ctx, repoPath, in, out, o, opts)
	})
}

// receiveStream reads one push request (commands, then the pack) from br
// and runs it, reporting to out. raw is the request as it came over the
// network (see rawReader), drained when a push is refused early.
func (s *Server) receiveStream(ctx context.Context, repoPath string, br *bufio.Reader, raw io.Reader, fw *flushWriter, opts ReceiveOptions) error {
	req, err := parseReceiveRequest(br)
	if err != nil {
		return badRequest(err)
	}
	if len(req.cmds) == 0 {
		return nil
	}
	out := &receiveOutput{w: fw, msgs: io.Discard}
	if req.caps.has("side-band-64k") {
		out.sideband = true
		out.msgs = &sidebandWriter{w: out.w, band: bandProgress, max: sideband64kMax}
	}
	unpack := s.receive(ctx, repoPath, req, br, raw, opts, out)
	out.report(req.caps.has("report-status"), unpack, req.cmds)
	return nil
}

// receive runs a push: quarantine and index the pack, validate it, run the
// checks, then under the repository lock install the pack and move refs by
// compare-and-swap. It returns the unpack status ("" for ok) and records
// each command's fate in cmd.ng.
//
// pack is the decoded request body after the commands; raw is the body as
// it came over the network, drained when the pack is refused early.
func (s *Server) receive(ctx context.Context, repoPath string, req *receiveRequest, pack, raw io.Reader, opts ReceiveOptions, out *receiveOutput) string {
	cmds := req.cmds
	atomic := req.caps.has("atomic")
	quiet := req.caps.has("quiet")
	// Whatever happens next, every refused ref gets a remote: line.
	defer explainRejections(cmds, out)

	push := &Push{Cert: req.cert}
	if req.cert != nil {
		req.cert.NonceStatus = s.nonceStatus(repoPath, req.cert.Nonce, time.Now())
	}
	seen := map[string]bool{}
	needPack := false
	for _, c := range cmds {
		c.Push = push
		if why := pushRefNameProblem(c.Name); why != "" && !deletingExisting(repoPath, c) {
			c.reject(out, "funny refname", "error: refusing to create funny ref '%s' remotely: %s", printableRef(c.Name), why)
		} else if seen[c.Name] {
			c.reject(out, "duplicate ref update", "error: %s is updated twice in this push", printableRef(c.Name))
		}
		seen[c.Name] = true
		if !c.New.IsZero() {
			needPack = true
		}
	}

	var rp *receivedPack
	if needPack {
		var err error
		rp, err = s.receivePack(ctx, repoPath, pack)
		if errors.Is(err, ErrObjectTooLarge) || errors.Is(err, errPackTooDense) {
			s.drain(raw)
			s.log.Warn("receive-pack: refused by declared sizes", "repo", repoPath, "err", err)
			out.say("error: %v", err)
			markFailedSaid(cmds, "file size limit exceeded")
			return "file size limit exceeded"
		}
		if errors.Is(err, errPackTooLarge) {
			s.drain(raw)
			cur, _ := s.Size(ctx, repoPath)
			out.say("error: this push would make the repository larger than its %s limit (it uses %s)", formatSize(s.cfg.MaxRepoSize), formatSize(cur))
			markFailedSaid(cmds, "repository size limit exceeded")
			return "repository size limit exceeded"
		}
		if err != nil {
			s.log.Warn("receive-pack: bad pack", "repo", repoPath, "err", err)
			out.say("error: %v", err)
			markFailedSaid(cmds, "unpacker error")
			return oneLine(err.Error())
		}
		defer os.RemoveAll(filepath.Dir(rp.packPath))
		if rp.deltas > 0 && !quiet {
			out.say("Resolving deltas: 100%% (%d/%d), done.", rp.deltas, rp.deltas)
		}
	}

	db, err := openODB(repoPath)
	if err != nil {
		s.log.Error("receive-pack: open repository", "repo", repoPath, "err", err)
		markFailed(cmds, "internal error")
		return "internal error"
	}
	defer db.close()
	db.setCacheBudget(fetchCacheBytes)
	// Whole objects up to twice the limit get this far, to be named by
	// checkFileSizes.
	db.maxObject = 2 * s.cfg.MaxFileSize
	if rp != nil && len(rp.objects) > 0 {
		if err := db.addPack(rp.packPath, rp.idx, true); err != nil {
			markFailed(cmds, "internal error")
			return "internal error"
		}
	}
	// The pushed pack too is read, not mapped: the check below reads
	// every commit and tree it brings (162 MiB of mapped pages for a
	// first push of git/git).
	db.unmapPacks()
	w := newWalker(ctx, db)

	if unpack, err := s.validatePush(w, rp, cmds, out); err != nil {
		s.log.Warn("receive-pack: rejected", "repo", repoPath, "err", err)
		return unpack
	}
	for _, c := range cmds {
		if c.ng != "" {
			continue
		}
		switch {
		case c.Old.IsZero():
			c.FastForward = true
		case c.New.IsZero():
		default:
			ff, err := w.isAncestor(c.Old, c.New)
			c.FastForward = err == nil && ff
		}
	}
	if opts.Check != nil {
		for _, c := range cmds {
			if c.ng != "" {
				continue
			}
			if err := opts.Check(ctx, c.RefUpdate); err != nil {
				c.reject(out, err.Error(), "%s", err.Error())
			}
		}
	}
	if atomic && anyRejected(cmds) {
		markFailed(cmds, "atomic push failure")
	}
	if !anyAccepted(cmds) {
		return ""
	}
	// The quarantined pack is renamed into place next; on Windows an open
	// file cannot be.
	db.close()

	done, head, err := s.applyUpdates(ctx, repoPath, rp, cmds, atomic, out)
	if err != nil {
		s.log.Error("receive-pack: update refs", "repo", repoPath, "err", err)
	}
	push.HEAD = head
	if len(done) > 0 && opts.Updated != nil {
		opts.Updated(ctx, done)
	}
	return ""
}

// packLimits are the bounds a pack read by this server is held to:
// maxBytes of raw pack, no object over the file size limit, and no more
// inflated content than the repository size limit (or 16 objects at the
// file size limit) beyond inflateRatio times the pack.
func (s *Server) packLimits(maxBytes int64) packLimits {
	lim := packLimits{maxBytes: maxBytes, maxObject: s.cfg.MaxFileSize}
	lim.inflateAllowance = max(s.cfg.MaxRepoSize, 16*lim.objectLimit())
	return lim
}

// repoBases reads a thin pack's delta bases from the repository, opening
// it only if the pack turns out to need them.
type repoBases struct {
	path string
	db   *odb
}

func (b *repoBases) odb() (*odb, error) {
	if b.db == nil {
		db, err := openODB(b.path)
		if err != nil {
			return nil, err
		}
		// A push's bases are a few hundred objects scattered over the
		// pack: read them, as a fetch does, instead of mapping pages
		// (and the kernel's neighbours of each) into the process.
		db.setCacheBudget(fetchCacheBytes)
		db.unmapPacks()
		b.db = db
	}
	return b.db, nil
}

func (b *repoBases) has(h plumbing.Hash) bool {
	db, err := b.odb()
	return err == nil && db.has(h)
}

func (b *repoBases) open(h plumbing.Hash, max int64) (plumbing.ObjectType, int64, io.Reader, error) {
	db, err := b.odb()
	if err != nil {
		return plumbing.InvalidObject, 0, nil, err
	}
	tooLarge := func(typ plumbing.ObjectType, size int64) error {
		return &ObjectTooLargeError{Hash: h, Type: typ, Size: size, Limit: max, Offset: -1}
	}
	// A whole entry in a pack, often the large file a small edit was made
	// to, is streamed from the pack as it is inflated.
	if p, off, ok := db.find(h); ok {
		eh, err := p.header(off)
		if err != nil {
			return plumbing.InvalidObject, 0, nil, err
		}
		if !eh.typ.IsDelta() {
			if eh.size > max {
				return plumbing.InvalidObject, 0, nil, tooLarge(eh.typ, eh.size)
			}
			zr, err := zlib.NewReader(bufio.NewReaderSize(io.NewSectionReader(p.f, off+eh.hdrLen, p.size-off-eh.hdrLen), 32*1024))
			if err != nil {
				return plumbing.InvalidObject, 0, nil, fmt.Errorf("object %s: %w", h, err)
			}
			return eh.typ, eh.size, io.LimitReader(zr, eh.size), nil
		}
	}
	// Deltas and loose objects are resolved in memory, within max.
	db.maxObject = max
	typ, data, err := db.read(h)
	var e *ObjectTooLargeError
	if errors.As(err, &e) {
		e.Hash = h
	}
	if err != nil {
		return plumbing.InvalidObject, 0, nil, err
	}
	if int64(len(data)) > max {
		return plumbing.InvalidObject, 0, nil, tooLarge(typ, int64(len(data)))
	}
	return typ, int64(len(data)), bytes.NewReader(data), nil
}

func (b *repoBases) close() {
	if b.db != nil {
		b.db.close()
	}
}

// receivePack quarantines and indexes the incoming pack under
// objects/incoming-*, within what the repository size limit leaves.
func (s *Server) receivePack(ctx context.Context, repoPath string, pack io.Reader) (*receivedPack, error) {
	objDir := filepath.Join(repoPath, "objects")
	removeStaleQuarantines(objDir)
	var limit int64
	if s.cfg.MaxRepoSize > 0 {
		cur, err := s.Size(ctx, repoPath)
		if err != nil {
			return nil, err
		}
		limit = s.cfg.MaxRepoSize - cur
		if limit <= 0 {
			return nil, errPackTooLarge
		}
	}
	qdir, err := os.MkdirTemp(objDir, "incoming-")
	if err != nil {
		return nil, fmt.Errorf("create quarantine: %w", err)
	}
	// Deltas of a thin pack are based on objects the repository has.
	bases := &repoBases{path: repoPath}
	defer bases.close()
	rp, err := indexPack(ctx, pack, qdir, s.packLimits(limit), bases)
	if err != nil {
		os.RemoveAll(qdir)
		return nil, err
	}
	return rp, nil
}

// encodedBody is a request body decoded from a Content-Encoding; Raw is
// the body as it came over the network.
type encodedBody interface{ Raw() io.Reader }

// rawReader returns what in was decoded from, or in itself.
func rawReader(in io.Reader) io.Reader {
	if e, ok := in.(encodedBody); ok {
		return e.Raw()
	}
	return in
}

// maxDrain bounds how much of a refused push's body is read and thrown
// away so that the client reads the answer (curl reports a reset
// connection, not the refusal, if the server stops reading). Past it the
// connection is dropped.
const maxDrain = 1 << 30

// drain reads the rest of a refused push's request body as it came over
// the network: compressed bodies are not inflated just to be discarded.
func (s *Server) drain(raw io.Reader) {
	io.Copy(io.Discard, io.LimitReader(raw, maxDrain))
}

// removeStaleQuarantines deletes objects/incoming-* directories in which
// nothing has been written for staleQuarantineAge: debris of pushes cut
// short by a crash. A push in progress keeps writing its pack file.
func removeStaleQuarantines(objDir string) {
	ents, err := os.ReadDir(objDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "incoming-") {
			continue
		}
		dir := filepath.Join(objDir, e.Name())
		if latestWrite(dir).Add(staleQuarantineAge).Before(time.Now()) {
			os.RemoveAll(dir)
		}
	}
}

func latestWrite(dir string) time.Time {
	var latest time.Time
	if info, err := os.Stat(dir); err == nil {
		latest = info.ModTime()
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.ModTime().After(latest) {
			latest = info.ModTime()
		}
	}
	return latest
}

// validatePush checks the objects each new tip needs: present, of the
// right type, complete (connectivity), and each received object as git's
// fsck would. It returns the unpack status to report ("" for ok); when
// the objects are refused, every command has its reason set.
func (s *Server) validatePush(w *walker, rp *receivedPack, cmds []*command, out *receiveOutput) (string, error) {
	var tips []plumbing.Hash
	for _, c := range cmds {
		if c.ng != "" || c.New.IsZero() {
			continue
		}
		typ, err := w.db.typeOf(c.New)
		if err != nil {
			c.reject(out, "missing necessary objects", "error: %s: object %s is not in the push nor in the repository", c.Name, c.New)
			continue
		}
		if strings.HasPrefix(c.Name, "refs/heads/") && typ != objCommit {
			c.reject(out, fmt.Sprintf("trying to write non-commit object %s to branch", c.New),
				"error: %s is a %s: a branch can only point to a commit", c.New, typ)
			continue
		}
		tips = append(tips, c.New)
	}
	if rp == nil || len(rp.objects) == 0 {
		return "", nil
	}
	// The walk from the tips finds the names of files over the limit;
	// without any, each pushed object is checked on its own, in parallel.
	var paths map[plumbing.Hash]string
	var err error
	if blobOver(rp, s.cfg.MaxFileSize) {
		paths, err = checkConnectivity(w, rp, tips, s.cfg.MaxFileSize)
	} else {
		err = checkPackObjects(w.ctx, w.db, rp, tips)
	}
	var fe *fsckError
	var te *typeError
	switch {
	case err == nil:
		return s.checkFileSizes(w, rp, paths, cmds, out)
	case errors.As(err, &fe):
		for _, p := range fe.problems {
			out.say("error: object %s: %s", fe.hash, p)
		}
		out.say("fatal: fsck error in packed object")
		markFailedSaid(cmds, "unpacker error")
		return "index-pack abnormal exit", err
	case errors.As(err, &te):
		if te.stored {
			out.say("fatal: %v", te)
		} else {
			out.say("error: %v", te)
			out.say("fatal: invalid %s", te.want)
		}
		markFailedSaid(cmds, "unpacker error")
		return "index-pack abnormal exit", err
	}
	out.say("error: %v", err)
	markFailedSaid(cmds, "missing necessary objects")
	return "", err
}

// blobOver reports whether the pack brings a blob over limit (> 0).
func blobOver(rp *receivedPack, limit int64) bool {
	if limit <= 0 {
		return false
	}
	for _, o := range rp.objects {
		if o.typ == objBlob && o.size > limit {
			return true
		}
	}
	return false
}

// checkFileSizes refuses the push if it brings a file over the size
// limit, naming the files. Only whole entries up to twice the limit get
// this far (indexPack refuses the rest, unnamed, as they arrive); they
// were streamed, never held.
func (s *Server) checkFileSizes(w *walker, rp *receivedPack, paths map[plumbing.Hash]string, cmds []*command, out *receiveOutput) (string, error) {
	if s.cfg.MaxFileSize <= 0 {
		return "", nil
	}
	var big []string
	for _, o := range rp.objects {
		if o.size <= s.cfg.MaxFileSize || w.db.hasPermanent(o.hash) {
			continue
		}
		name := paths[o.hash]
		if name == "" {
			name = o.hash.String()
		}
		big = append(big, fmt.Sprintf("error: file %s is %s; the limit is %s", name, formatSize(o.size), formatSize(s.cfg.MaxFileSize)))
	}
	if len(big) == 0 {
		return "", nil
	}
	sort.Strings(big)
	for i, m := range big {
		if i == 10 {
			out.say("error: ... and %d more files over the limit", len(big)-10)
			break
		}
		out.say("%s", m)
	}
	markFailedSaid(cmds, "file size limit exceeded")
	return "", errors.New("file size limit exceeded")
}

// typeError is a link to an object of another type than the link says (a
// commit's tree line naming a blob, a tag of type tree pointing at a
// commit): git clients fail on such objects when they read them.
type typeError struct {
	hash       plumbing.Hash
	want, have plumbing.ObjectType
	stored     bool // in the repository before the push
}

// Error words the mismatch as git does, which words it differently for a
// stored object and a pushed one.
func (e *typeError) Error() string {
	if e.stored {
		return fmt.Sprintf("object %s: expected type %s, found %s", e.hash, e.want, e.have)
	}
	return fmt.Sprintf("object %s is a %s, not a %s", e.hash, e.have, e.want)
}

// checkConnectivity walks from the new tips through the pushed objects,
// then from every other object of the pack, checking each pushed object
// as fsck does and the type of every object a pushed one links to,
// stored or pushed. A stored object ends the walk there: everything
// stored was checked the same way when it arrived, so its closure is
// complete. The .gitmodules blobs that pushed trees name are checked
// last, wherever they are stored. It returns the path at which each
// pushed blob over maxFileSize (if above 0) was first seen.
func checkConnectivity(w *walker, rp *receivedPack, tips []plumbing.Hash, maxFileSize int64) (map[plumbing.Hash]string, error) {
	type item struct {
		h    plumbing.Hash
		typ  plumbing.ObjectType // expected, 0 = any
		path string
	}
	paths := map[plumbing.Hash]string{}
	seen := map[plumbing.Hash]plumbing.ObjectType{}
	// The stack is popped from the end: tips first, then every object of
	// the pack. The whole pack is installed and later pushes trust what
	// is stored, so objects no tip reaches must be complete and sound
	// too; for an ordinary push the tips reach them all and the second
	// part costs nothing.
	stack := make([]item, 0, len(rp.objects)+len(tips))
	for _, o := range rp.objects {
		stack = append(stack, item{h: o.hash})
	}
	for _, t := range tips {
		stack = append(stack, item{h: t})
	}
	var gitmodules []plumbing.Hash
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if typ, ok := seen[it.h]; ok {
			if it.typ != 0 && typ != it.typ {
				return nil, &typeError{it.h, it.typ, typ, w.db.hasPermanent(it.h)}
			}
			continue
		}
		if err := w.tick(); err != nil {
			return nil, err
		}
		if w.db.hasPermanent(it.h) {
			typ, err := w.db.typeOf(it.h)
			if err != nil {
				return nil, fmt.Errorf("object %s: %w", it.h, err)
			}
			seen[it.h] = typ
			if it.typ != 0 && typ != it.typ {
				return nil, &typeError{it.h, it.typ, typ, true}
			}
			continue
		}
		i, inPack := rp.byHash[it.h]
		if !inPack {
			return nil, fmt.Errorf("missing object %s", it.h)
		}
		o := rp.objects[i]
		seen[it.h] = o.typ
		if it.typ != 0 && o.typ != it.typ {
			return nil, &typeError{it.h, it.typ, o.typ, false}
		}
		if o.typ == objBlob {
			if maxFileSize > 0 && o.size > maxFileSize {
				paths[it.h] = it.path // for checkFileSizes' refusal
			}
			continue
		}
		_, data, err := w.db.read(it.h)
		if err != nil {
			return nil, err
		}
		switch o.typ {
		case objCommit:
			if p := fsckCommit(data); len(p) > 0 {
				return nil, &fsckError{it.h, p}
			}
			info, err := parseCommit(data)
			if err != nil {
				return nil, fmt.Errorf("commit %s: %w", it.h, err)
			}
			stack = append(stack, item{info.tree, objTree, ""})
			for _, p := range info.parents {
				stack = append(stack, item{p, objCommit, ""})
			}
		case objTree:
			problems, mods := fsckTree(data)
			if len(problems) > 0 {
				return nil, &fsckError{it.h, problems}
			}
			gitmodules = append(gitmodules, mods...)
			ents, err := parseTree(data)
			if err != nil {
				return nil, fmt.Errorf("tree %s: %w", it.h, err)
			}
			for _, e := range ents {
				if e.isGitlnk() {
					continue
				}
				want, suffix := objBlob, ""
				if e.isTree() {
					want, suffix = objTree, "/"
				}
				// Most entries of most trees were met before: checked
				// here, they cost no path string and no trip through the
				// stack (a first push of git/git met tens of millions).
				if typ, ok := seen[e.hash]; ok {
					if typ != want {
						return nil, &typeError{e.hash, want, typ, w.db.hasPermanent(e.hash)}
					}
					continue
				}
				stack = append(stack, item{e.hash, want, it.path + string(e.name) + suffix})
			}
		case objTag:
			if p := fsckTag(data); len(p) > 0 {
				return nil, &fsckError{it.h, p}
			}
			t, err := parseTag(data)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", it.h, err)
			}
			stack = append(stack, item{t.target, t.targetType, ""})
		}
	}
	if err := checkGitmodules(w.db, gitmodules); err != nil {
		return nil, err
	}
	return paths, nil
}

// checkGitmodules checks the .gitmodules blobs that pushed trees name,
// wherever they are stored.
func checkGitmodules(db *odb, hashes []plumbing.Hash) error {
	for _, h := range hashes {
		typ, data, err := db.read(h)
		switch {
		case err != nil:
			return &fsckError{h, problem("gitmodulesMissing", "unable to read .gitmodules blob")}
		case typ != objBlob:
			return &fsckError{h, problem("gitmodulesBlob", "non-blob found at .gitmodules")}
		}
		if p := fsckGitmodules(data); len(p) > 0 {
			return &fsckError{h, p}
		}
	}
	return nil
}

// applyUpdates installs the pack and moves the refs under the repository
// lock. Each ref moves only if it still has the value the client saw.
// When the push creates the repository's first branches and HEAD names
// none of them, HEAD is pointed at one (firstBranchHEAD), which is
// returned.
func (s *Server) applyUpdates(ctx context.Context, repoPath string, rp *receivedPack, cmds []*command, atomic bool, out *receiveOutput) ([]RefUpdate, string, error) {
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		markFailed(cmds, "push cancelled")
		return nil, "", err
	}
	defer unlock()

	packed, err := readPackedRefs(repoPath)
	if err != nil {
		markFailed(cmds, "failed to read refs")
		return nil, "", err
	}
	var creates []*command
	deleted := map[string]bool{}
	for _, c := range cmds {
		if c.ng != "" {
			continue
		}
		cur, exists, err := readRef(repoPath, c.Name, packed)
		if err != nil {
			c.ng = "failed to read ref"
			continue
		}
		if !exists {
			cur = plumbing.ZeroHash
		}
		if cur != c.Old {
			c.reject(out, "fetch first", "error: %s changed while this push was on its way (it is at %s now): fetch, then push again", printableRef(c.Name), cur)
			continue
		}
		switch {
		case c.New.IsZero():
			deleted[c.Name] = true
		case !exists:
			creates = append(creates, c)
		}
	}
	// A new name must not clash with a ref as a file or directory (a and
	// a/b), unless this same push deletes that ref, as git allows.
	firstBranches := false
	if len(creates) > 0 {
		all, _, err := listRefs(repoPath, "")
		if err != nil {
			markFailed(cmds, "failed to read refs")
			return nil, "", err
		}
		names := newRefNames(all, func(name string) bool { return deleted[name] })
		firstBranches = true
		for _, r := range all {
			if strings.HasPrefix(r.name, "refs/heads/") {
				firstBranches = false
			}
		}
		for _, c := range creates {
			if c.ng != "" {
				continue
			}
			if other := names.conflict(c.Name); other != "" {
				c.reject(out, "cannot lock ref: conflicts with "+other, "error: cannot create %s: the ref %s exists (a ref cannot be both a file and a directory)", printableRef(c.Name), printableRef(other))
				continue
			}
			names.add(c.Name) // two new refs of one push can clash too
		}
	}
	if atomic && anyRejected(cmds) {
		markFailed(cmds, "atomic push failure")
	}
	if !anyAccepted(cmds) {
		return nil, "", nil
	}
	if rp != nil && len(rp.objects) > 0 {
		if err := rp.install(repoPath); err != nil {
			markFailed(cmds, "failed to store objects")
			return nil, "", err
		}
	}

	// One batch: a single fsync for the whole push however many refs it
	// moves (commitRefs).
	var accepted []*command
	var changes []refChange
	for _, c := range cmds {
		if c.ng == "" {
			accepted = append(accepted, c)
			changes = append(changes, refChange{c.Name, c.New})
		}
	}
	peeler := &odbPeeler{ctx: ctx, repoPath: repoPath}
	defer peeler.close()
	errs := commitRefs(repoPath, changes, peeler.peel)
	var firstErr error
	var written []*command
	for i, c := range accepted {
		if errs != nil && errs[i] != nil {
			c.ng = "failed to update ref"
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		written = append(written, c)
	}
	if firstErr != nil && atomic {
		rollback(repoPath, written, peeler.peel)
		markFailed(cmds, "atomic push failure")
		return nil, "", firstErr
	}
	var done []RefUpdate
	for _, c := range written {
		done = append(done, c.RefUpdate)
	}
	head := ""
	if firstBranches {
		head = s.pointHEADAtFirstBranch(repoPath, cmds)
	}
	return done, head, firstErr
}

// pointHEADAtFirstBranch points HEAD at a branch this push created when
// the branch HEAD names does not exist, so a fresh clone checks out what
// was pushed (git clients otherwise warn that the remote HEAD refers to a
// nonexistent ref). The caller holds the repository lock.
func (s *Server) pointHEADAtFirstBranch(repoPath string, cmds []*command) string {
	target, err := readHEAD(repoPath)
	if err != nil || target != "" && !strings.HasPrefix(target, "refs/heads/") {
		return ""
	}
	// packed-refs is read afresh: the push's batch may just have
	// rewritten it.
	if _, ok, err := readRef(repoPath, target, nil); err != nil || ok {
		return "" // HEAD's branch exists (it was pushed, or HEAD is unreadable)
	}
	var created []string
	for _, c := range cmds {
		if c.ng == "" && !c.New.IsZero() && strings.HasPrefix(c.Name, "refs/heads/") {
			created = append(created, c.Name)
		}
	}
	head := firstBranchHEAD(created)
	if head == "" {
		return ""
	}
	if err := writeFileLocked(filepath.Join(repoPath, "HEAD"), []byte("ref: "+head+"\n")); err != nil {
		s.log.Warn("receive-pack: point HEAD at the first branch", "repo", repoPath, "err", err)
		return ""
	}
	return head
}

// rollback restores refs written by an atomic push that failed midway.
func rollback(repoPath string, written []*command, peel peelFunc) {
	changes := make([]refChange, len(written))
	for i, c := range written {
		changes[i] = refChange{c.Name, c.Old}
		c.ng = "atomic push failure"
	}
	commitRefs(repoPath, changes, peel)
}

// markFailed rejects, with reason, every command not rejected yet;
// explainRejections then tells the user.
func markFailed(cmds []*command, reason string) {
	for _, c := range cmds {
		if c.ng == "" {
			c.ng = reason
		}
	}
}

// markFailedSaid is markFailed after a remote: line said why.
func markFailedSaid(cmds []*command, reason string) {
	for _, c := range cmds {
		if c.ng == "" {
			c.ng, c.said = reason, true
		}
	}
}

// explainRejections gives every refused ref that has none a remote: line
// saying why: git shows only a few words of the ng status.
func explainRejections(cmds []*command, out *receiveOutput) {
	for _, c := range cmds {
		if c.ng == "" || c.said {
			continue
		}
		c.said = true
		switch c.ng {
		case "atomic push failure":
			out.say("error: %s is not updated: the push is atomic and another of its refs was refused", printableRef(c.Name))
		default:
			out.say("error: failed to update %s: %s", printableRef(c.Name), c.ng)
		}
	}
}

// pushRefNameProblem says why a push may not create or update name, ""
// if it may: git's check-ref-format rules, valid UTF-8 (the API could
// not address the ref otherwise), and at least two levels below refs/,
// as receive-pack checks (refs/x is refused).
func pushRefNameProblem(name string) string {
	if err := checkRefName(name); err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	if !utf8.ValidString(name) {
		return "not valid UTF-8"
	}
	if !strings.Contains(strings.TrimPrefix(name, "refs/"), "/") {
		return "one-level refs are not allowed"
	}
	return ""
}

// deletingExisting lets a push delete a ref whose name git's rules allow
// but ours do not (invalid UTF-8, one level), which earlier versions let
// in: deleting it is the way out.
func deletingExisting(repoPath string, c *command) bool {
	if !c.New.IsZero() || checkRefName(c.Name) != nil {
		return false
	}
	_, ok, err := readRef(repoPath, c.Name, nil)
	return err == nil && ok
}

// printableRef shows a ref name with bytes that are not printable UTF-8
// as \xNN escapes, so a message cannot garble the user's terminal.
func printableRef(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && n == 1 || r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", name[i])
		} else {
			b.WriteString(name[i : i+n])
		}
		i += n
	}
	return b.String()
}

func anyRejected(cmds []*command) bool {
	for _, c := range cmds {
		if c.ng != "" {
			return true
		}
	}
	return false
}

func anyAccepted(cmds []*command) bool {
	for _, c := range cmds {
		if c.ng == "" {
			return true
		}
	}
	return false
}

// formatSize renders bytes as MB with one decimal (MB = 2^20 bytes), as
// in the push limit messages, or as GB (2^30) from there on.
func formatSize(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}
