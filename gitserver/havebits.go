package gitserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Have bitmaps tell a fetch what the client has beyond the trees it walks.
// A fetch reuses a stored delta when its base travels in the pack or is on
// the client; the walk only learns the client's objects along the paths
// it compares, so a stored delta whose base is an older version elsewhere
// in the client's history was rebuilt as a new delta against the client's
// copy (on git/git, 89 objects of a fetch of 56 commits, 67 of whose
// bases the client had). C git answers that from the bitmaps of commits
// the client has; these are the same idea on the reachability index's
// pack: maintenance records, for first-parent ancestors of the default
// branch at distances 16, 32, ... 2048, the bits of the pack's entries
// reachable from them (closureWalker, in the same walk as the
// reachability index), and a fetch whose haves descend from one of them
// reuses any stored delta whose base has its bit.
//
// Only complete clients are trusted with them: shallow ones lack history
// and filtered ones lack blobs of commits they have.
//
// File: objects/info/tapioca-have-<pack checksum>, big-endian:
//
//	"THAV" | version 1 | pack checksum (20) | entries N (4) | commits M (4)
//	| M commit ids (20 each), nearest the tip first | N index positions
//	(4 each): for the i-th entry in pack offset order, its position in the
//	pack index (name order), so a base found by offset can be named |
//	M bitmaps of ceil(N/8) bytes, bit i = the i-th entry by offset (bit 7
//	of byte 0 first) | SHA-1 of everything before it
const (
	haveMagic   = "THAV"
	haveVersion = 1
	havePrefix  = "tapioca-have-"
	// haveFirst and haveLast bound the distances (first-parent commits
	// from the default branch's tip) at which bitmaps are kept.
	haveFirst = 16
	haveLast  = 2048
)

func havePath(repoPath string, pack plumbing.Hash) string {
	return filepath.Join(repoPath, "objects", "info", havePrefix+pack.String())
}

// haveFile is a read have bitmap file.
type haveFile struct {
	commits []plumbing.Hash
	rev     []byte // N big-endian uint32 index positions
	maps    []byte // M bitmaps
	n       int
}

func (hf *haveFile) bitmap(i int) []byte {
	nb := (hf.n + 7) / 8
	return hf.maps[i*nb : (i+1)*nb]
}

// readHaveFile reads the have bitmaps of p, if there is a valid file.
func readHaveFile(repoPath string, p *packFile) (*haveFile, error) {
	n, m, body, err := readSideFile(havePath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)), haveMagic, haveVersion, p)
	if err != nil {
		return nil, err
	}
	nb := (n + 7) / 8
	if m > 64 || len(body) != 20*m+4*n+m*nb {
		return nil, errBadReach
	}
	hf := &haveFile{n: n, commits: make([]plumbing.Hash, m)}
	for i := range hf.commits {
		copy(hf.commits[i][:], body[20*i:])
	}
	hf.rev = body[20*m : 20*m+4*n]
	hf.maps = body[20*m+4*n:]
	return hf, nil
}

// haveCommits picks the commits to keep bitmaps for: first-parent
// ancestors of head at distances haveFirst, 2×haveFirst, ... haveLast,
// nearest first.
func haveCommits(w *walker, head plumbing.Hash) ([]plumbing.Hash, error) {
	var out []plumbing.Hash
	c, err := w.commit(head)
	if err != nil {
		return nil, err
	}
	next := haveFirst
	for d := 1; d <= haveLast; d++ {
		if len(c.info.parents) == 0 {
			break
		}
		if c, err = w.commit(c.info.parents[0]); err != nil {
			return nil, err
		}
		if d == next {
			out = append(out, c.hash)
			next *= 2
		}
	}
	return out, nil
}

// haveCommitsOf picks the commits to keep have bitmaps for, along the
// branch HEAD names, as refs (the tips' snapshot) has it: none when HEAD
// is detached, unborn or elsewhere.
func haveCommitsOf(ctx context.Context, repoPath string, db *odb, refs []ref) ([]plumbing.Hash, error) {
	head, err := readHEAD(repoPath)
	if err != nil || !strings.HasPrefix(head, "refs/heads/") {
		return nil, err
	}
	for _, r := range refs {
		if r.name == head {
			return haveCommits(newWalker(ctx, db), r.hash)
		}
	}
	return nil, nil
}

// writeHaveFile writes the have bitmaps of p: maps[i] is the bitmap of
// commits[i] over the pack's entries by offset, revPos their index
// positions.
func writeHaveFile(repoPath string, p *packFile, revPos []uint32, commits []plumbing.Hash, maps [][]byte) error {
	n := len(revPos)
	rev := make([]byte, 4*n)
	for i, g := range revPos {
		binary.BigEndian.PutUint32(rev[4*i:], g)
	}
	buf := newSideFile(haveMagic, haveVersion, p, n, len(commits))
	for _, c := range commits {
		buf.Write(c[:])
	}
	buf.Write(rev)
	for _, m := range maps {
		buf.Write(m)
	}
	return writeSideFile(havePath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)), buf)
}

// idxPosition is h's position in p's index (name order).
func idxPosition(p *packFile, h plumbing.Hash) (uint32, bool) {
	_, i, ok := idxFind(p.idx, h)
	if !ok {
		return 0, false
	}
	var before uint32
	if h[0] > 0 {
		before = p.idx.Fanout[h[0]-1]
	}
	return before + uint32(i), true
}

// packPositions maps ents (a pack's entries by offset) both ways: rev[i]
// is the i-th entry's index position, perm[g] the pack position of
// index position g.
func packPositions(p *packFile, ents []idxEntry) (rev, perm []uint32, err error) {
	rev = make([]uint32, len(ents))
	perm = make([]uint32, len(ents))
	for i, e := range ents {
		g, ok := idxPosition(p, e.hash)
		if !ok || int(g) >= len(perm) {
			return nil, nil, fmt.Errorf("%s not in the index", e.hash)
		}
		rev[i], perm[g] = g, uint32(i)
	}
	return rev, perm, nil
}

// haveSet is the client's part of a pack, from one have bitmap.
type haveSet struct {
	p    *packFile
	bits []byte
	rev  []byte
}

// loadHaveSet returns what a fetch may take the client to have beyond
// its walk, or nil: the client must be complete (no shallow, no filter)
// and one of its haves must descend from a commit with a bitmap.
func loadHaveSet(st *fetchState, req *uploadRequest, common []plumbing.Hash) *haveSet {
	if len(common) == 0 || req.filter != nil || len(st.clientShallow) > 0 || req.deepens() || !req.caps.has("thin-pack") {
		return nil
	}
	var packs []*packFile
	for _, p := range st.db.packs {
		if !p.quarantine {
			packs = append(packs, p)
		}
	}
	if len(packs) != 1 {
		return nil
	}
	p := packs[0]
	hf, err := readHaveFile(st.repoPath, p)
	if err != nil {
		return nil
	}
	// The haves a client sends first are its tips; a few suffice.
	haves := common[:min(len(common), 8)]
	for i, c := range hf.commits {
		for _, h := range haves {
			if ok, err := st.w.isAncestor(c, h); err == nil && ok {
				if err := p.sortOffsets(); err != nil {
					return nil
				}
				return &haveSet{p: p, bits: hf.bitmap(i), rev: hf.rev}
			}
		}
	}
	return nil
}

// base names the entry at off when the client has it.
func (hs *haveSet) base(p *packFile, off int64) (plumbing.Hash, bool) {
	if hs == nil || p != hs.p {
		return plumbing.ZeroHash, false
	}
	pos := -1
	if p.offsets != nil {
		i := sort.Search(len(p.offsets), func(i int) bool { return int64(p.offsets[i]) >= off })
		if i < len(p.offsets) && int64(p.offsets[i]) == off {
			pos = i
		}
	} else if p.offsets64 != nil {
		i := sort.Search(len(p.offsets64), func(i int) bool { return p.offsets64[i] >= off })
		if i < len(p.offsets64) && p.offsets64[i] == off {
			pos = i
		}
	}
	if pos < 0 || pos >= len(hs.rev)/4 || !bitSet(hs.bits, pos) {
		return plumbing.ZeroHash, false
	}
	h, ok := idxName(p, binary.BigEndian.Uint32(hs.rev[4*pos:]))
	if !ok {
		return plumbing.ZeroHash, false
	}
	// The file names entries by position; check that this one is where
	// the pack says, so a stale or damaged file costs a delta, not a
	// client's fetch.
	if at, found := idxOffset(p.idx, h); !found || at != off {
		return plumbing.ZeroHash, false
	}
	return h, true
}

// idxName is the name at position g of p's index.
func idxName(p *packFile, g uint32) (plumbing.Hash, bool) {
	idx := p.idx
	b := sort.Search(256, func(b int) bool { return idx.Fanout[b] > g })
	if b == 256 {
		return plumbing.ZeroHash, false
	}
	var before uint32
	if b > 0 {
		before = idx.Fanout[b-1]
	}
	k := idx.FanoutMapping[b]
	if k < 0 || k >= len(idx.Names) {
		return plumbing.ZeroHash, false
	}
	names := idx.Names[k]
	i := int(g - before)
	if 20*i+20 > len(names) {
		return plumbing.ZeroHash, false
	}
	var h plumbing.Hash
	copy(h[:], names[20*i:])
	return h, true
}

// errOutsidePack: a walk met an object that is not in the pack (pushed
// since the repack, loose): no index until the next maintenance packs it.
var errOutsidePack = errors.New("object outside the pack")

// closureWalker marks, in bitmaps by pack position, the entries of one
// pack reachable from given objects. It holds no per-object state but the
// bitmap: an object's bit is set when it is first met and everything
// below it is then walked, so a bit already set (by this walk or an
// earlier one on the same bitmap) means there is nothing more below it.
// That keeps the walk of a whole history (git/git: 419,000 objects) in
// the bitmap and a stack, where the fetch enumeration's maps of hashes
// took 150 MB.
type closureWalker struct {
	ctx  context.Context
	db   *odb
	p    *packFile
	ents []idxEntry // by offset
	perm []uint32   // index position -> position in ents (packPositions)
}

type walkItem struct {
	h   plumbing.Hash
	typ plumbing.ObjectType // InvalidObject: read it
}

func (cw *closureWalker) pos(h plumbing.Hash) (int, error) {
	g, ok := idxPosition(cw.p, h)
	if !ok {
		return 0, fmt.Errorf("%s: %w", h, errOutsidePack)
	}
	return int(cw.perm[g]), nil
}

// mark sets in bits the entries reachable from starts.
func (cw *closureWalker) mark(bits []byte, starts []plumbing.Hash) error {
	var stack []walkItem
	for _, h := range starts {
		stack = append(stack, walkItem{h, plumbing.InvalidObject})
	}
	steps := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pos, err := cw.pos(it.h)
		if err != nil {
			return err
		}
		if bitSet(bits, pos) {
			continue
		}
		bits[pos>>3] |= 0x80 >> (pos & 7)
		if it.typ == objBlob {
			continue
		}
		if steps++; steps&1023 == 0 {
			if err := cw.ctx.Err(); err != nil {
				return err
			}
		}
		typ, data, err := cw.db.readAt(cw.p, cw.ents[pos].off)
		if err != nil {
			return fmt.Errorf("%s: %w", it.h, err)
		}
		switch typ {
		case objCommit:
			c, err := parseCommit(data)
			if err != nil {
				return fmt.Errorf("commit %s: %w", it.h, err)
			}
			for _, ph := range c.parents {
				stack = append(stack, walkItem{ph, objCommit})
			}
			stack = append(stack, walkItem{c.tree, objTree})
		case objTree:
			ents, err := parseTree(data)
			if err != nil {
				return fmt.Errorf("tree %s: %w", it.h, err)
			}
			for _, e := range ents {
				switch {
				case e.isGitlnk():
				case e.isTree():
					stack = append(stack, walkItem{e.hash, objTree})
				default:
					stack = append(stack, walkItem{e.hash, objBlob})
				}
			}
		case objTag:
			t, err := parseTag(data)
			if err != nil {
				return fmt.Errorf("tag %s: %w", it.h, err)
			}
			stack = append(stack, walkItem{t.target, plumbing.InvalidObject})
		}
	}
	return nil
}
