package gitserver

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Capabilities advertised to v0/v1 fetch clients. thin-pack means the
// client can take thin packs; this server sends one only when a stored
// delta's base is known to be on the client.
const uploadPackCaps = "multi_ack thin-pack side-band side-band-64k ofs-delta " +
	"shallow deepen-since deepen-not deepen-relative no-progress include-tag " +
	"multi_ack_detailed no-done allow-tip-sha1-in-want allow-reachable-sha1-in-want " +
	"filter object-format=sha1 agent=" + Agent

// Capabilities advertised to push clients. Thin packs are accepted (no
// no-thin): git then sends a small edit of a big file as a delta against
// the version the server has, and indexPack completes the pack. Push
// options are not advertised: nothing would carry them (git then refuses
// push -o, as with http-backend). push-cert=<nonce> is added per request.
const receivePackCaps = "report-status delete-refs side-band-64k quiet atomic " +
	"ofs-delta object-format=sha1 agent=" + Agent

// v2Capabilities is the protocol v2 capability advertisement, one
// capability per packet after "version 2". Push has no v2 in git, so
// receive-pack keeps answering v0.
var v2Capabilities = []string{
	"agent=" + Agent,
	"ls-refs=unborn",
	"fetch=shallow wait-for-done filter ref-in-want sideband-all",
	"server-option",
	"object-format=sha1",
}

func writeV2Capabilities(out io.Writer) error {
	if err := writePkt(out, "version 2\n"); err != nil {
		return err
	}
	for _, c := range v2Capabilities {
		if err := writePkt(out, c+"\n"); err != nil {
			return err
		}
	}
	return writeFlush(out)
}

// peeler peels tag refs for advertisements: from packed-refs when it
// says what the ref's current value peels to (a ^ line, or none under a
// fully-peeled header), else by reading the tag objects (the object
// database is opened on first need).
type peeler struct {
	ctx      context.Context
	repoPath string
	packed   *packedRefs
	db       *odb
	w        *walker
}

func (p *peeler) peel(r ref) (plumbing.Hash, bool, error) {
	if h, isTag, known := p.packed.peeledValue(r.name, r.hash); known {
		return h, isTag, nil
	}
	if p.db == nil {
		db, err := openODB(p.repoPath)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		p.db, p.w = db, newWalker(p.ctx, db)
	}
	typ, err := p.db.typeOf(r.hash)
	if err != nil || typ != objTag {
		return plumbing.ZeroHash, false, nil // a dangling ref is advertised as is
	}
	target, _, err := p.w.peel(r.hash, nil)
	if err != nil {
		return plumbing.ZeroHash, false, nil
	}
	return target, true, nil
}

func (p *peeler) close() {
	if p.db != nil {
		p.db.close()
	}
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
	p := &peeler{ctx: ctx, repoPath: repoPath, packed: packed}
	defer p.close()

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
		h, ok, err := p.peel(r)
		if err != nil {
			return err
		}
		if ok {
			if err := line(h, r.name+"^{}"); err != nil {
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

// lsRefsRequest holds the arguments of a v2 ls-refs command.
type lsRefsRequest struct {
	symrefs, peel, unborn bool
	prefixes              []string
}

// maxRefPrefixes is where git's ls-refs stops filtering by prefix (it
// then lists everything, which the client filters).
const maxRefPrefixes = 65536

func parseLsRefsArgs(args []string) (*lsRefsRequest, error) {
	req := &lsRefsRequest{}
	for _, a := range args {
		switch {
		case a == "symrefs":
			req.symrefs = true
		case a == "peel":
			req.peel = true
		case a == "unborn":
			req.unborn = true
		case strings.HasPrefix(a, "ref-prefix "):
			req.prefixes = append(req.prefixes, a[len("ref-prefix "):])
		default:
			return nil, fmt.Errorf("unexpected line: '%s'", a)
		}
	}
	if len(req.prefixes) > maxRefPrefixes {
		req.prefixes = nil
	}
	return req, nil
}

// lsRefs answers a v2 ls-refs command: the refs matching the requested
// prefixes (all when none is given), HEAD first.
func (s *Server) lsRefs(ctx context.Context, repoPath string, req *lsRefsRequest, out io.Writer) error {
	prefixes := req.prefixes
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	matches := func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	refs, packed, err := listRefsUnder(repoPath, prefixes)
	if err != nil {
		return err
	}
	p := &peeler{ctx: ctx, repoPath: repoPath, packed: packed}
	defer p.close()
	line := func(r ref, symref string) error {
		var b strings.Builder
		b.WriteString(r.hash.String() + " " + r.name)
		if req.symrefs && symref != "" {
			b.WriteString(" symref-target:" + symref)
		}
		if req.peel {
			named := r
			if symref != "" {
				// HEAD peels as the branch it names, which packed-refs
				// may know, sparing an object read (and the opening of
				// every pack index) for the one symref.
				named.name = symref
			}
			h, ok, err := p.peel(named)
			if err != nil {
				return err
			}
			if ok {
				b.WriteString(" peeled:" + h.String())
			}
		}
		b.WriteByte('\n')
		return writePkt(out, b.String())
	}

	if matches("HEAD") {
		h, target, exists, err := readLoose(repoPath, "HEAD")
		switch {
		case err != nil:
			return err
		case !exists:
		case target == "":
			if err := line(ref{"HEAD", h}, ""); err != nil { // detached
				return err
			}
		default:
			// nil: packed-refs is read again after the loose file (see
			// listRefs), not reused from before it.
			h, ok, err := readRef(repoPath, target, nil)
			if err != nil {
				return err
			}
			switch {
			case ok:
				if err := line(ref{"HEAD", h}, target); err != nil {
					return err
				}
			case req.unborn && req.symrefs:
				// An empty repository: the client learns the default
				// branch's name without a ref to point at.
				if err := writePktf(out, "unborn HEAD symref-target:%s\n", target); err != nil {
					return err
				}
			}
		}
	}
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := line(r, ""); err != nil {
			return err
		}
	}
	return writeFlush(out)
}
