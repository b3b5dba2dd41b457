package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// A reachability index is what maintenance records about the one pack it
// leaves, so that a clone need not walk the history to count objects (the
// job git's .bitmap files do): the branch and tag tips it was computed
// from, and which of the pack's entries their closure holds. A fetch that
// wants every one of those tips and has nothing (a clone, blob-less or
// not) is then answered by streaming those entries as they are stored,
// the whole pack verbatim when the closure is all of it, plus whatever
// the refs reach beyond the recorded tips (pushed since), found by a walk
// that stops at the tips.
//
// The index never goes stale in a way that matters: objects never
// change, the closure of fixed tips never changes, and it is used only
// when the client wants all of them, so what it serves is reachable from
// the refs the client was offered. When a tip is deleted or moved, the
// index simply stops applying until the next maintenance.
//
// File: objects/info/tapioca-reach-<pack checksum>, big-endian:
//
//	"TRCH" | version 1 | pack checksum (20) | entries N (4) | tips K (4)
//	| K sorted tip ids (20 each) | bitmap, ceil(N/8) bytes, bit i = the
//	i-th entry in pack offset order (bit 7 of byte 0 first) is in the
//	closure | bitmap of the same size: those of them that are not blobs
//	(what blob:none sends) | SHA-1 of everything before it
const (
	reachMagic   = "TRCH"
	reachVersion = 2
	reachPrefix  = "tapioca-reach-"
)

type reachIndex struct {
	tips    []plumbing.Hash // sorted
	bits    []byte
	nonBlob []byte
	n       int
	full    bool // every entry of the pack is in the closure
}

func (ri *reachIndex) has(pos int) bool { return bitSet(ri.bits, pos) }

func bitSet(b []byte, pos int) bool { return b[pos>>3]&(0x80>>(pos&7)) != 0 }

func reachPath(repoPath string, pack plumbing.Hash) string {
	return filepath.Join(repoPath, "objects", "info", reachPrefix+pack.String())
}

// reachTips are the ref values a reachability index is computed from:
// branches and tags, what a clone asks for.
func reachTips(refs []ref) []plumbing.Hash {
	var tips []plumbing.Hash
	for _, r := range refs {
		if strings.HasPrefix(r.name, "refs/heads/") || strings.HasPrefix(r.name, "refs/tags/") {
			tips = append(tips, r.hash)
		}
	}
	slices.SortFunc(tips, compareHash)
	return slices.Compact(tips)
}

// writeReachIndex computes and writes the reachability index of the
// repository's pack, when it has exactly one and the branches and tags
// reach only objects in it; index files of other packs are removed.
// It takes no lock: refs read at any moment give a valid index (see
// above), and a pack replaced meanwhile only makes the file useless.
func (s *Server) writeReachIndex(ctx context.Context, repoPath string) error {
	refs, _, err := listRefs(repoPath, "")
	if err != nil {
		return err
	}
	tips := reachTips(refs)
	db, err := openODB(repoPath)
	if err != nil {
		return err
	}
	defer db.close()
	// The walk reads every commit and tree of the history: through the
	// mapping, each page it touches (and the kernel's neighbours) would
	// stay in the process until the end, most of the pack.
	db.unmapPacks()
	db.setCacheBudget(16 << 20)
	keep, keepHave := "", ""
	defer func() {
		removeReachFiles(repoPath, keep)
		removeFiles(repoPath, havePrefix, keepHave)
	}()
	if len(db.packs) != 1 || len(tips) == 0 {
		return nil
	}
	p := db.packs[0]
	reachFile := filepath.Base(reachPath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)))
	haveFile := filepath.Base(havePath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)))
	current := false
	if ri, err := readReachIndex(repoPath, p); err == nil && slices.Equal(ri.tips, tips) {
		if _, err := readHaveFile(repoPath, p); err == nil {
			keep, keepHave = reachFile, haveFile
			return nil // up to date
		}
		current = true
	}
	// Only now the walk along the default branch: most runs end above.
	commits, err := haveCommitsOf(ctx, repoPath, db, refs)
	if err != nil {
		return fmt.Errorf("reachability index: %w", err)
	}
	if current && len(commits) == 0 {
		keep = reachFile
		return nil // up to date, with no branch to keep bitmaps for
	}
	ents, err := p.sortedEntries()
	if err != nil {
		return err
	}
	// One walk of the history: the have commits' closures oldest first,
	// each going on from the previous one's bitmap, then the tips'.
	rev, perm, err := packPositions(p, ents)
	if err != nil {
		return fmt.Errorf("reachability index: %w", err)
	}
	cw := &closureWalker{ctx: ctx, db: db, p: p, ents: ents, perm: perm}
	nb := (len(ents) + 7) / 8
	maps := make([][]byte, len(commits))
	cur := make([]byte, nb)
	for k := len(commits) - 1; k >= 0; k-- {
		cur = bytes.Clone(cur)
		if err := cw.mark(cur, commits[k:k+1]); err != nil {
			if errors.Is(err, errOutsidePack) {
				return nil
			}
			return fmt.Errorf("reachability index: %w", err)
		}
		maps[k] = cur
	}
	bits := bytes.Clone(cur)
	if err := cw.mark(bits, tips); err != nil {
		if errors.Is(err, errOutsidePack) {
			// Reached through an object pushed since the repack: no
			// index until the next maintenance packs it.
			return nil
		}
		return fmt.Errorf("reachability index: %w", err)
	}
	types, err := entryTypes(db, p, ents)
	if err != nil {
		return fmt.Errorf("reachability index: %w", err)
	}
	nonBlob := make([]byte, nb)
	for pos, t := range types {
		if t != objBlob && bitSet(bits, pos) {
			nonBlob[pos>>3] |= 0x80 >> (pos & 7)
		}
	}
	buf := newSideFile(reachMagic, reachVersion, p, len(ents), len(tips))
	for _, t := range tips {
		buf.Write(t[:])
	}
	buf.Write(bits)
	buf.Write(nonBlob)
	path := reachPath(repoPath, plumbing.Hash(p.idx.PackfileChecksum))
	if err := writeSideFile(path, buf); err != nil {
		return err
	}
	keep = filepath.Base(path)
	if len(commits) > 0 {
		if err := writeHaveFile(repoPath, p, rev, commits, maps); err != nil {
			// Fetches only lose a shortcut: not worth failing the
			// reachability index over.
			s.log.Warn("maintenance: have bitmaps", "repo", repoPath, "err", err)
			return nil
		}
		keepHave = haveFile
	}
	return nil
}

// removeReachFiles removes the reachability indexes except keep.
func removeReachFiles(repoPath, keep string) { removeFiles(repoPath, reachPrefix, keep) }

// removeFiles removes objects/info/<prefix>* except keep.
func removeFiles(repoPath, prefix, keep string) {
	dir := filepath.Join(repoPath, "objects", "info")
	names, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	for _, n := range names {
		if filepath.Base(n) != keep {
			os.Remove(n)
		}
	}
}

// entryPos is the position of the entry at off in ents (by offset), or -1.
func entryPos(ents []idxEntry, off int64) int {
	i := sort.Search(len(ents), func(i int) bool { return ents[i].off >= off })
	if i < len(ents) && ents[i].off == off {
		return i
	}
	return -1
}

var errBadReach = errors.New("bad reachability index")

// readReachIndex reads the index of p, if there is a valid one.
func readReachIndex(repoPath string, p *packFile) (*reachIndex, error) {
	n, k, body, err := readSideFile(reachPath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)), reachMagic, reachVersion, p)
	if err != nil {
		return nil, err
	}
	nb := (n + 7) / 8
	if len(body) != 20*k+2*nb {
		return nil, errBadReach
	}
	maps := body[20*k:]
	ri := &reachIndex{n: n, tips: make([]plumbing.Hash, k), bits: maps[:nb], nonBlob: maps[nb:], full: true}
	for i := range ri.tips {
		copy(ri.tips[i][:], body[20*i:])
	}
	for i := 0; i < n; i++ {
		if !ri.has(i) {
			ri.full = false
			break
		}
	}
	return ri, nil
}

// packReuse is the part of a pack a fetch sends as stored: the entries
// of a reachability index's closure, without blobs under blob:none.
type packReuse struct {
	p     *packFile
	ents  []idxEntry
	ri    *reachIndex
	blobs bool
	// verbatim: every entry is sent, so the pack's bytes go out as they
	// are and offsets in the sent pack equal the stored ones.
	verbatim bool
	sel      []byte  // the entries sent, a bitmap of the index (not verbatim)
	newOff   []int64 // offset in the sent pack, -1 if not sent (not verbatim)
	count    int
}

// reuseFor returns the stored entries that answer a fetch, or nil when
// no reachability index applies: the fetch must have no haves, no
// shallow or deepen, no filter but blob:none, and want every recorded
// tip or a descendant of it.
func reuseFor(repoPath string, st *fetchState, req *uploadRequest, wants, common, unshallowed []plumbing.Hash) *packReuse {
	ofsDelta := req.caps.has("ofs-delta")
	if len(common) > 0 || len(unshallowed) > 0 || len(st.cut) > 0 || req.deepens() {
		return nil
	}
	f := req.filter
	if f != nil && (f.blobLimit != 0 || f.treeDepth >= 0) {
		return nil
	}
	for _, p := range st.db.packs {
		if p.quarantine {
			continue
		}
		ri, err := readReachIndex(repoPath, p)
		if err != nil {
			continue
		}
		if !coveredBy(st.w, ri.tips, wants) {
			continue
		}
		ru := &packReuse{p: p, ri: ri, blobs: f == nil}
		if err := ru.plan(ofsDelta); err != nil {
			return nil
		}
		return ru
	}
	return nil
}

// maxMovedTips bounds the recorded tips a fetch may leave out, each of
// which costs an ancestry walk.
const maxMovedTips = 16

// coveredBy reports whether the closure of tips is within that of
// wants: every tip is wanted, or is a commit that a wanted commit
// descends from (a branch that moved forward since maintenance).
func coveredBy(w *walker, tips, wants []plumbing.Hash) bool {
	wanted := make(map[plumbing.Hash]bool, len(wants))
	for _, h := range wants {
		wanted[h] = true
	}
	var missing []plumbing.Hash
	for _, t := range tips {
		if !wanted[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return true
	}
	if len(missing) > maxMovedTips {
		return false
	}
	var heads []plumbing.Hash // wanted commits that are not tips
	for _, h := range wants {
		if _, tip := slices.BinarySearchFunc(tips, h, compareHash); tip {
			continue
		}
		if target, typ, err := w.peel(h, func(plumbing.Hash) {}); err == nil && typ == objCommit {
			heads = append(heads, target)
		}
	}
	for _, t := range missing {
		found := false
		for _, h := range heads {
			if ok, err := w.isAncestor(t, h); err == nil && ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func compareHash(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) }

// plan decides what is sent: everything verbatim, or the entries of
// the closure (of the right types: the index tells).
func (ru *packReuse) plan(ofsDelta bool) error {
	// Verbatim needs a client that reads ofs-deltas: stored packs use them.
	if ru.ri.full && ru.blobs && ofsDelta {
		// No list of entries by offset: the index answers for all.
		ru.verbatim = true
		ru.count = ru.ri.n
		return nil
	}
	ents, err := ru.p.sortedEntries()
	if err != nil {
		return err
	}
	ru.ents = ents
	ru.sel = ru.ri.bits
	if !ru.blobs {
		ru.sel = ru.ri.nonBlob
	}
	ru.newOff = make([]int64, len(ru.ents))
	for i := range ru.newOff {
		ru.newOff[i] = -1
	}
	for _, b := range ru.sel {
		ru.count += bits.OnesCount8(b)
	}
	return nil
}

// entryTypes resolves the type of every entry of p (ents by offset):
// bases precede their deltas in offset order.
func entryTypes(db *odb, p *packFile, ents []idxEntry) ([]plumbing.ObjectType, error) {
	types := make([]plumbing.ObjectType, len(ents))
	win := &fileWindow{p: p}
	for i, e := range ents {
		eh, err := win.header(e.off)
		if err != nil {
			return nil, err
		}
		t := eh.typ
		switch t {
		case objOFS:
			if b := entryPos(ents, eh.baseOff); b >= 0 && b < i {
				t = types[b]
			} else if t, err = db.typeOf(e.hash); err != nil {
				return nil, err
			}
		case objREF:
			if t, err = db.typeOf(e.hash); err != nil {
				return nil, err
			}
		}
		types[i] = t
	}
	return types, nil
}

// pos is the entry position of h in the reused pack, or -1 (not
// verbatim).
func (ru *packReuse) pos(h plumbing.Hash) int {
	off, ok := idxOffset(ru.p.idx, h)
	if !ok {
		return -1
	}
	return entryPos(ru.ents, off)
}

// sends reports whether h goes out as part of the reused entries.
func (ru *packReuse) sends(h plumbing.Hash) bool {
	if ru == nil {
		return false
	}
	if ru.verbatim {
		ok, err := ru.p.idx.Contains(h)
		return err == nil && ok
	}
	i := ru.pos(h)
	return i >= 0 && bitSet(ru.sel, i)
}

// sentAt is the offset at which h went out in the pack being written,
// when it is a reused entry already written.
func (ru *packReuse) sentAt(h plumbing.Hash) (int64, bool) {
	if ru == nil {
		return 0, false
	}
	if ru.verbatim {
		return idxOffset(ru.p.idx, h)
	}
	i := ru.pos(h)
	if i < 0 {
		return 0, false
	}
	return ru.newOff[i], ru.newOff[i] >= 0
}

// writeReused writes the reused entries, first in the pack: verbatim,
// the stored bytes between header and trailer (read, not mapped, so they
// do not stay in the process's memory); otherwise entry by entry, delta
// bases re-pointed at their new offsets.
func (pw *packWriter) writeReused(ru *packReuse, tick func() error) error {
	p := ru.p
	if ru.verbatim {
		if pw.n != 12 {
			return fmt.Errorf("pack reuse: pack header of %d bytes", pw.n)
		}
		for off, end := int64(12), p.size-20; off < end; {
			if err := tick(); err != nil {
				return err
			}
			n := min(int64(len(pw.buf)), end-off)
			if _, err := p.f.ReadAt(pw.buf[:n], off); err != nil {
				return fmt.Errorf("read %s: %w", p.path, err)
			}
			if _, err := pw.Write(pw.buf[:n]); err != nil {
				return err
			}
			off += n
		}
		return nil
	}
	win := &fileWindow{p: p}
	for i, e := range ru.ents {
		if !bitSet(ru.sel, i) {
			continue
		}
		if i&255 == 0 {
			if err := tick(); err != nil {
				return err
			}
		}
		eh, err := win.header(e.off)
		if err != nil {
			return err
		}
		end := p.size - 20
		if i+1 < len(ru.ents) {
			end = ru.ents[i+1].off
		}
		var hdr []byte
		switch eh.typ {
		case objOFS, objREF:
			b := -1
			if eh.typ == objOFS {
				b = entryPos(ru.ents, eh.baseOff)
			} else {
				b = ru.pos(eh.baseHash)
			}
			if b < 0 || ru.newOff[b] < 0 {
				// The base is not sent (unreachable, or a blob the
				// filter leaves out): send the object whole.
				ru.newOff[i] = pw.n
				typ, data, err := pw.db.readAt(p, e.off)
				if err != nil {
					return err
				}
				if _, err := pw.Write(appendEntryHeader(nil, typ, int64(len(data)))); err != nil {
					return err
				}
				if err := pw.deflate(data); err != nil {
					return err
				}
				continue
			}
			if pw.ofsDelta {
				hdr = appendOfsDistance(appendEntryHeader(nil, objOFS, eh.size), pw.n-ru.newOff[b])
			} else {
				hdr = refDeltaHeader(eh.size, ru.ents[b].hash)
			}
			pw.reusedDeltas++
			pw.deltas++
		default:
			hdr = eh.raw[:eh.hdrLen]
		}
		ru.newOff[i] = pw.n
		pw.reused++
		if _, err := pw.Write(hdr); err != nil {
			return err
		}
		// As copyEntry: a damaged pack is not passed on silently.
		crc := crc32.ChecksumIEEE(eh.raw[:eh.hdrLen])
		for off := e.off + eh.hdrLen; off < end; {
			// Large entries go in pieces, so memory stays bounded.
			data, err := win.at(off, min(end-off, fileWindowSize))
			if err != nil {
				return err
			}
			crc = crc32.Update(crc, crc32.IEEETable, data)
			if _, err := pw.Write(data); err != nil {
				return err
			}
			off += int64(len(data))
		}
		if p.idx.Version == 2 {
			if want, ok := idxCRC32(p.idx, e.hash); ok && want != crc {
				return fmt.Errorf("object %s: CRC mismatch in %s", e.hash, p.path)
			}
		}
	}
	return nil
}

// fileWindow reads a pack front to back through a buffer filled by
// pread, not through its mapping: pages of the mapping once touched
// count in the process's memory until it unmaps, and a clone touches
// the whole pack.
type fileWindow struct {
	p   *packFile
	buf []byte
	off int64
}

const fileWindowSize = 256 << 10

// at returns n bytes at off, valid until the next call; n is at most
// fileWindowSize (a header, or a piece of an entry).
func (fw *fileWindow) at(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > fw.p.size {
		return nil, fmt.Errorf("read %s: range %d+%d outside the pack", filepath.Base(fw.p.path), off, n)
	}
	if off >= fw.off && off+n <= fw.off+int64(len(fw.buf)) {
		return fw.buf[off-fw.off : off-fw.off+n], nil
	}
	if n > fileWindowSize {
		return nil, fmt.Errorf("read %s: %d bytes at once", filepath.Base(fw.p.path), n)
	}
	if fw.buf == nil {
		fw.buf = make([]byte, fileWindowSize)
	}
	fw.buf = fw.buf[:min(fileWindowSize, fw.p.size-off)]
	if _, err := fw.p.f.ReadAt(fw.buf, off); err != nil {
		fw.buf = fw.buf[:0]
		return nil, fmt.Errorf("read %s: %w", filepath.Base(fw.p.path), err)
	}
	fw.off = off
	return fw.buf[:n], nil
}

func (fw *fileWindow) header(off int64) (entryHeader, error) {
	v, err := fw.at(off, min(32, fw.p.size-off))
	if err != nil {
		return entryHeader{}, err
	}
	return parseHeaderBytes(v, off)
}

// enumerateFetch lists what a fetch sends: the entries a reachability
// index names plus what the refs reach beyond its tips when one applies
// (reuseFor), else everything by the walk.
func (s *Server) enumerateFetch(st *fetchState, req *uploadRequest, wants, common, unshallowed []plumbing.Hash) (*enumeration, error) {
	ru := reuseFor(st.repoPath, st, req, wants, common, unshallowed)
	if ru == nil {
		return st.w.enumerate(wants, common, st.cut, unshallowed, req.filter)
	}
	var beyond []plumbing.Hash
	for _, h := range wants {
		if _, found := slices.BinarySearchFunc(ru.ri.tips, h, compareHash); !found {
			beyond = append(beyond, h)
		}
	}
	var en *enumeration
	if len(beyond) > 0 {
		// The tips stand for haves: the walk stops at them.
		var err error
		if en, err = st.w.enumerate(beyond, ru.ri.tips, st.cut, nil, req.filter); err != nil {
			return nil, err
		}
	} else {
		en = &enumeration{
			sending:   map[plumbing.Hash]bool{},
			clientHas: map[plumbing.Hash]bool{},
			deltaBase: map[plumbing.Hash]plumbing.Hash{},
			filter:    req.filter,
			omitted:   map[plumbing.Hash]bool{},
		}
	}
	if req.filter != nil {
		// A want naming a blob (through a tag) is sent whatever the
		// filter, as the walk does.
		for _, h := range ru.ri.tips {
			target, typ, err := st.w.peel(h, func(plumbing.Hash) {})
			if err != nil {
				return nil, fmt.Errorf("want %s: %w", h, err)
			}
			if typ == objBlob && !en.sending[target] {
				// Not en.add: the walk above counted the tips as the
				// client's, and this blob is not.
				en.sending[target] = true
				en.objects = append(en.objects, target)
				en.names = append(en.names, 0)
			}
		}
	}
	en.setReuse(ru)
	return en, nil
}
