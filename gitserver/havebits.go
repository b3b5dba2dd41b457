package gitserver

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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
// branch at distances 16, 32, ... 2048, bits of the pack's entries
// reachable from them, and a fetch whose haves descend from one of them
// reuses any stored delta whose base has its bit.
//
// A bit is set only for an object reachable from its commit, so it is
// never wrong to rely on (what the walk computing it lists is a superset
// of what the commit lacks: see computeHaveBits). Only complete clients
// are trusted with it: shallow ones lack history and filtered ones lack
// blobs of commits they have.
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
	data, err := os.ReadFile(havePath(repoPath, plumbing.Hash(p.idx.PackfileChecksum)))
	if err != nil {
		return nil, err
	}
	if len(data) < 36+20 || string(data[:4]) != haveMagic {
		return nil, errBadReach
	}
	body, sum := data[:len(data)-20], data[len(data)-20:]
	if s := sha1.Sum(body); !bytes.Equal(s[:], sum) {
		return nil, errBadReach
	}
	if binary.BigEndian.Uint32(body[4:]) != haveVersion || !bytes.Equal(body[8:28], p.idx.PackfileChecksum[:]) {
		return nil, errBadReach
	}
	n := int(binary.BigEndian.Uint32(body[28:]))
	m := int(binary.BigEndian.Uint32(body[32:]))
	count, err := p.idx.Count()
	if err != nil {
		return nil, err
	}
	nb := (n + 7) / 8
	if int64(n) != count || m > 64 || len(body) != 36+20*m+4*n+m*nb {
		return nil, errBadReach
	}
	hf := &haveFile{n: n, commits: make([]plumbing.Hash, m)}
	for i := range hf.commits {
		copy(hf.commits[i][:], body[36+20*i:])
	}
	hf.rev = body[36+20*m : 36+20*m+4*n]
	hf.maps = body[36+20*m+4*n:]
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

// writeHaveFile computes and writes the have bitmaps of p: closure is the
// bitmap (by offset order) of everything reachable from tips, ents the
// pack's entries by offset.
func (s *Server) writeHaveFile(ctx context.Context, repoPath string, db *odb, p *packFile, ents []idxEntry, tips []plumbing.Hash, closure []byte) error {
	head, err := readHEAD(repoPath)
	if err != nil || head == "" {
		return err
	}
	h, found, err := readRef(repoPath, head, nil)
	if err != nil || !found {
		return err
	}
	commits, err := haveCommits(newWalker(ctx, db), h)
	if err != nil || len(commits) == 0 {
		return err
	}
	maps, err := computeHaveBits(ctx, db, p, ents, tips, commits, closure)
	if err != nil {
		return err
	}
	n := len(ents)
	rev := make([]byte, 4*n)
	for i, e := range ents {
		g, ok := idxPosition(p, e.hash)
		if !ok {
			return fmt.Errorf("have bitmaps: %s not in the index", e.hash)
		}
		binary.BigEndian.PutUint32(rev[4*i:], g)
	}
	var buf bytes.Buffer
	buf.WriteString(haveMagic)
	binary.Write(&buf, binary.BigEndian, uint32(haveVersion))
	buf.Write(p.idx.PackfileChecksum[:])
	binary.Write(&buf, binary.BigEndian, uint32(n))
	binary.Write(&buf, binary.BigEndian, uint32(len(commits)))
	for _, c := range commits {
		buf.Write(c[:])
	}
	buf.Write(rev)
	for _, m := range maps {
		buf.Write(m)
	}
	sum := sha1.Sum(buf.Bytes())
	buf.Write(sum[:])
	path := havePath(repoPath, plumbing.Hash(p.idx.PackfileChecksum))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// computeHaveBits returns a bitmap for each of commits (nearest the tips
// first), each a subset of the commit's closure: the previous bitmap
// (the tips' closure for the first) less what a walk from the previous
// commit(s) to this one lists. The walk lists everything reachable from
// its wants that is not reachable from its have (and perhaps more, all
// of it reachable from the wants), so what the previous bitmap keeps
// outside that list is reachable from the have.
func computeHaveBits(ctx context.Context, db *odb, p *packFile, ents []idxEntry, tips, commits []plumbing.Hash, closure []byte) ([][]byte, error) {
	prev := closure
	wants := tips
	var out [][]byte
	for _, c := range commits {
		en, err := newWalker(ctx, db).enumerate(wants, []plumbing.Hash{c}, nil, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("have bitmaps: %w", err)
		}
		bm := bytes.Clone(prev)
		for _, h := range en.objects {
			fp, off, ok := db.find(h)
			if !ok || fp != p {
				continue // not in the pack: no bit to clear
			}
			if pos := entryPos(ents, off); pos >= 0 {
				bm[pos>>3] &^= 0x80 >> (pos & 7)
			}
		}
		out = append(out, bm)
		prev, wants = bm, []plumbing.Hash{c}
	}
	return out, nil
}

// idxPosition is h's position in p's index (name order).
func idxPosition(p *packFile, h plumbing.Hash) (uint32, bool) {
	idx := p.idx
	k := idx.FanoutMapping[h[0]]
	if k < 0 || k >= len(idx.Names) {
		return 0, false
	}
	names := idx.Names[k]
	n := len(names) / 20
	i, found := sort.Find(n, func(i int) int { return bytes.Compare(h[:], names[20*i:20*i+20]) })
	if !found {
		return 0, false
	}
	var before uint32
	if h[0] > 0 {
		before = idx.Fanout[h[0]-1]
	}
	return before + uint32(i), true
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
