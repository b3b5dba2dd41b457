package gitserver

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"container/heap"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// Repacking: the objects of several packs and loose files written again
// as one pack with deltas, as `git repack -a -d` does. The plan is made
// in four steps, none of which holds more than a bounded amount of
// object content in memory:
//
//  1. every object once, with the stored copy to make it from; a stored
//     delta whose base is repacked too is kept as it is (unless
//     NoReuse), its compressed bytes copied;
//  2. names: a walk of the history gives each tree and blob the path it
//     was met at, so versions of one file end up side by side;
//  3. the delta search: the other objects sorted by type, name and size
//     (largest first), each tried against the Window objects before it;
//  4. the write, streamed, bases before their deltas (ofs-deltas).

// RepackOptions tune the delta search of MaintainWith.
type RepackOptions struct {
	// Window is how many neighbours each object is tried against as a
	// delta base: 0 means 10 (git's default), a negative value none.
	Window int
	// Depth bounds delta chains: 0 means 50 (git's default).
	Depth int
	// WindowMemory bounds the content and indexes the window holds:
	// 0 means 256 MiB. The window shrinks to stay under it but always
	// keeps the previous object.
	WindowMemory int64
	// NoReuse computes every delta again instead of keeping the stored
	// ones (git repack -f).
	NoReuse bool
}

// AggressiveRepack returns the settings of `git gc --aggressive`: a
// window of 250, depth 50, every delta computed again.
func AggressiveRepack() RepackOptions {
	return RepackOptions{Window: 250, Depth: 50, NoReuse: true}
}

func (o RepackOptions) withDefaults() RepackOptions {
	if o.Window == 0 {
		o.Window = 10
	}
	if o.Window < 0 {
		o.Window = 0
	}
	if o.Depth <= 0 {
		o.Depth = 50
	}
	if o.WindowMemory <= 0 {
		o.WindowMemory = 256 << 20
	}
	return o
}

const (
	// Objects smaller than this are not worth a delta (git's cut-off).
	minDeltaObject = 50
	// Larger objects are stored whole, as with git's bigFileThreshold:
	// the search would hold several of them in memory at once.
	maxDeltaObject = 512 << 20
	// deltaCacheBudget bounds the computed deltas kept, compressed, from
	// the search to the write; the others are computed again there.
	deltaCacheBudget = 64 << 20
)

const noObject int32 = -1

// repackObject is one object of the new pack.
type repackObject struct {
	hash plumbing.Hash
	typ  plumbing.ObjectType // 0 until known
	size int64               // -1 until known

	// The stored copy the object is made from: a pack entry, or the
	// loose file when pack is nil. stored is the index of the stored
	// delta's base, noObject for a whole entry or a base not repacked.
	pack        *packFile
	off         int64
	entrySize   int64
	storedDelta bool
	stored      int32

	name uint32 // nameHash of the path the history walk met it at
	seen int32  // when the walk met it; -1 if never

	base     int32 // delta base in the new pack, noObject if whole
	reuse    bool  // the delta is the stored one, copied as is
	depth    int32
	below    int32 // longest chain of reused deltas hanging below
	deltaLen int64 // length of the uncompressed delta

	written bool
	newOff  int64
}

type repackPlan struct {
	ctx   context.Context
	opts  RepackOptions
	db    *odb
	objs  []repackObject
	index map[plumbing.Hash]int32
	rank  map[*packFile]int // pack order in db, newest first

	deltaCache map[int32][]byte // computed deltas, compressed
	cacheSize  int64
	zbuf       bytes.Buffer
	zw         *zlib.Writer

	steps                    int
	whole, reused, deltified int
}

func (pl *repackPlan) tick() error {
	pl.steps++
	if pl.steps&1023 == 0 {
		return pl.ctx.Err()
	}
	return nil
}

// planRepack lists the objects of packs and the loose objects, chooses
// how each is stored in the new pack, and searches deltas; the repository
// is read through db, which must hold packs.
func planRepack(ctx context.Context, db *odb, repoPath string, packs []*packFile, loose []plumbing.Hash, opts RepackOptions) (*repackPlan, error) {
	pl := &repackPlan{
		ctx:        ctx,
		opts:       opts.withDefaults(),
		db:         db,
		index:      map[plumbing.Hash]int32{},
		rank:       map[*packFile]int{},
		deltaCache: map[int32][]byte{},
	}
	for i, p := range db.packs {
		pl.rank[p] = i
	}
	if err := pl.collect(packs, loose); err != nil {
		return nil, err
	}
	if err := pl.resolveTypes(); err != nil {
		return nil, err
	}
	if !pl.opts.NoReuse {
		pl.chooseReuse()
	}
	cands, err := pl.candidates()
	if err != nil {
		return nil, err
	}
	if len(cands) > 0 {
		if err := pl.nameObjects(repoPath, cands); err != nil {
			return nil, err
		}
		if err := pl.search(cands); err != nil {
			return nil, err
		}
	}
	// Only the write is left, which works by index: the lookup table
	// (tens of megabytes on a large repository) can go before the
	// indexer starts holding its own.
	pl.index = nil
	return pl, nil
}

func (pl *repackPlan) add(h plumbing.Hash) int32 {
	if i, ok := pl.index[h]; ok {
		return i
	}
	i := int32(len(pl.objs))
	pl.objs = append(pl.objs, repackObject{hash: h, size: -1, stored: noObject, base: noObject, seen: -1})
	pl.index[h] = i
	return i
}

// collect lists every object once and picks its stored copy: a delta
// whose base is repacked too and which is at most half the object (the
// smallest, if several packs hold one), else a whole entry, else the
// loose file.
func (pl *repackPlan) collect(packs []*packFile, loose []plumbing.Hash) error {
	for _, p := range packs {
		ents, err := p.sortedEntries()
		if err != nil {
			return err
		}
		for _, e := range ents {
			pl.add(e.hash)
		}
	}
	for _, h := range loose {
		pl.add(h)
	}
	if len(pl.objs) > 1<<31-1 {
		return fmt.Errorf("repack: %d objects is too many", len(pl.objs))
	}
	for _, p := range packs {
		ents, _ := p.sortedEntries()
		for k, e := range ents {
			if err := pl.tick(); err != nil {
				return err
			}
			eh, err := p.header(e.off)
			if err != nil {
				return err
			}
			end := p.size - 20
			if k+1 < len(ents) {
				end = ents[k+1].off
			}
			i := pl.index[e.hash]
			o := &pl.objs[i]
			base := noObject
			switch eh.typ {
			case objOFS:
				bh, err := p.hashAt(eh.baseOff)
				if err != nil {
					return err
				}
				if b, ok := pl.index[bh]; ok && b != i {
					base = b
				}
			case objREF:
				if b, ok := pl.index[eh.baseHash]; ok && b != i {
					base = b
				}
			}
			size := eh.size // the object's, once known; -1 before
			if eh.typ.IsDelta() {
				size = -1
			}
			if base != noObject {
				if size, err = pl.db.deltaResultSize(p, e.off, eh); err != nil {
					return err
				}
				// A delta over half its object's size is one no search
				// would pick (thin pushes carry such): search again.
				if eh.size > size/2 {
					base = noObject
				}
			}
			if o.pack != nil {
				rank := func(delta bool, base int32) int {
					switch {
					case base != noObject:
						return 2
					case !delta:
						return 1
					}
					return 0
				}
				r, cur := rank(eh.typ.IsDelta(), base), rank(o.storedDelta, o.stored)
				if r < cur || r == cur && end-e.off >= o.entrySize {
					continue
				}
			}
			o.pack, o.off, o.entrySize = p, e.off, end-e.off
			o.storedDelta, o.stored = eh.typ.IsDelta(), base
			// Type and size belong to the object, whichever copy says.
			if !eh.typ.IsDelta() {
				o.typ = eh.typ
			}
			if size >= 0 {
				o.size = size
			}
		}
	}
	for i := range pl.objs {
		o := &pl.objs[i]
		if o.pack != nil {
			continue
		}
		typ, size, err := pl.db.looseHeader(o.hash)
		if err != nil {
			return err
		}
		o.typ, o.size = typ, size
	}
	return nil
}

// resolveTypes gives stored deltas the type of the object at the end of
// their chain.
func (pl *repackPlan) resolveTypes() error {
	var chain []int32
	for i := range pl.objs {
		if pl.objs[i].typ != 0 {
			continue
		}
		chain = chain[:0]
		j := int32(i)
		for pl.objs[j].typ == 0 && pl.objs[j].stored != noObject && len(chain) < 64 {
			chain = append(chain, j)
			j = pl.objs[j].stored
		}
		if pl.objs[j].typ == 0 {
			// A base outside the repack, a long chain or a cycle between
			// packs: ask the object database.
			t, err := pl.db.typeOf(pl.objs[j].hash)
			if err != nil {
				return err
			}
			pl.objs[j].typ = t
		}
		for _, k := range chain {
			pl.objs[k].typ = pl.objs[j].typ
		}
	}
	return nil
}

// chooseReuse keeps stored deltas, except where they would make a cycle
// (two packs holding each object as a delta of the other) or a chain
// deeper than Depth: there the chain is cut and the object searched anew.
func (pl *repackPlan) chooseReuse() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]uint8, len(pl.objs))
	root := make([]int32, len(pl.objs))
	var stack []int32
	for i := range pl.objs {
		if state[i] == done {
			continue
		}
		stack = append(stack[:0], int32(i))
		state[i] = visiting
		for {
			top := stack[len(stack)-1]
			b := pl.objs[top].stored
			if b == noObject || state[b] == done {
				break
			}
			if state[b] == visiting {
				pl.objs[top].stored = noObject // cycle: cut it here
				break
			}
			state[b] = visiting
			stack = append(stack, b)
		}
		for k := len(stack) - 1; k >= 0; k-- {
			x := stack[k]
			o := &pl.objs[x]
			root[x] = x
			if b := o.stored; b != noObject {
				if d := pl.objs[b].depth + 1; d <= int32(pl.opts.Depth) {
					o.base, o.reuse, o.depth = b, true, d
					root[x] = root[b]
				}
			}
			state[x] = done
		}
	}
	for i := range pl.objs {
		if r := root[i]; r != int32(i) {
			pl.objs[r].below = max(pl.objs[r].below, pl.objs[i].depth)
		}
	}
}

// candidates returns the objects the delta search may turn into deltas,
// after making sure their sizes are known.
func (pl *repackPlan) candidates() ([]int32, error) {
	if pl.opts.Window == 0 {
		return nil, nil
	}
	var out []int32
	for i := range pl.objs {
		o := &pl.objs[i]
		if o.reuse {
			continue
		}
		if o.size < 0 {
			eh, err := o.pack.header(o.off)
			if err != nil {
				return nil, err
			}
			if o.size, err = pl.db.deltaResultSize(o.pack, o.off, eh); err != nil {
				return nil, err
			}
		}
		if o.size >= minDeltaObject && o.size <= maxDeltaObject {
			out = append(out, int32(i))
		}
	}
	return out, nil
}

// nameObjects walks the history from the refs, newest commits first, and
// gives each candidate met the name hash of its path and the order it was
// met in, until every tree and blob among them has a name. Objects no ref
// reaches keep no name.
//
// The walk looks at every entry of every tree, tens of millions on a
// large history, so its sets are keyed by the first 8 bytes of the
// object name: cheaper than the full name, and a collision could at
// worst cost a delta its best neighbour, never correctness.
func (pl *repackPlan) nameObjects(repoPath string, cands []int32) error {
	key := func(h plumbing.Hash) uint64 { return binary.LittleEndian.Uint64(h[:8]) }
	waiting := make(map[uint64]int32, len(cands)) // candidates not met yet
	trees := 0                                    // of which trees and blobs
	for _, i := range cands {
		waiting[key(pl.objs[i].hash)] = i
		if t := pl.objs[i].typ; t == objTree || t == objBlob {
			trees++
		}
	}
	var seen int32
	mark := func(h plumbing.Hash, name uint32) {
		i, ok := waiting[key(h)]
		if !ok || pl.objs[i].hash != h {
			return
		}
		delete(waiting, key(h))
		o := &pl.objs[i]
		o.seen, o.name = seen, name
		seen++
		if o.typ == objTree || o.typ == objBlob {
			trees--
		}
	}
	refs, _, err := listRefs(repoPath, "")
	if err != nil {
		return err
	}
	w := newWalker(pl.ctx, pl.db)
	type treeItem struct {
		h    plumbing.Hash
		path uint32 // name hash of the tree's path
		top  bool   // the root tree, whose path is empty
	}
	treesDone := map[uint64]struct{}{}
	var stack []treeItem
	walkTree := func(root plumbing.Hash) error {
		stack = append(stack[:0], treeItem{root, 0, true})
		for len(stack) > 0 && trees > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, done := treesDone[key(it.h)]; done {
				continue
			}
			treesDone[key(it.h)] = struct{}{}
			if err := pl.tick(); err != nil {
				return err
			}
			// Read directly: each tree is parsed once, a cache would
			// only churn.
			typ, data, err := pl.db.read(it.h)
			if err != nil || typ != objTree {
				continue // not in this snapshot (pushed since): nothing to name
			}
			ents, err := parseTree(data)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if e.isGitlnk() {
					continue
				}
				name := it.path
				if !it.top {
					name = nameHashStep(name, '/')
				}
				for _, c := range e.name {
					name = nameHashStep(name, c)
				}
				mark(e.hash, name)
				if e.isTree() {
					if _, done := treesDone[key(e.hash)]; !done {
						stack = append(stack, treeItem{e.hash, name, false})
					}
				}
			}
		}
		return nil
	}

	var queue commitQueue
	queued := map[plumbing.Hash]bool{}
	push := func(h plumbing.Hash) {
		if queued[h] {
			return
		}
		queued[h] = true
		if n, err := w.commit(h); err == nil {
			heap.Push(&queue, n)
		}
	}
	for _, r := range refs {
		target, typ, err := w.peel(r.hash, func(tag plumbing.Hash) { mark(tag, 0) })
		if err != nil {
			continue // pushed after the snapshot, or dangling
		}
		switch typ {
		case objCommit:
			push(target)
		case objTree:
			mark(target, 0)
			if err := walkTree(target); err != nil {
				return err
			}
		default:
			mark(target, 0)
		}
	}
	for queue.Len() > 0 && trees > 0 {
		n := heap.Pop(&queue).(*commitNode)
		mark(n.hash, 0)
		mark(n.info.tree, 0)
		if err := walkTree(n.info.tree); err != nil {
			return err
		}
		for _, p := range n.info.parents {
			push(p)
		}
	}
	return nil
}

// windowEntry is an object the next ones are tried against.
type windowEntry struct {
	obj   int32
	data  []byte
	index *deltaIndex // built when first tried
	mem   int64
}

// search tries each candidate against the Window candidates before it in
// the sort order and keeps the smallest delta, as git's find_deltas does.
func (pl *repackPlan) search(cands []int32) error {
	order := func(o *repackObject) uint32 { return uint32(o.seen) } // never met (-1) sorts last
	slices.SortFunc(cands, func(a, b int32) int {
		x, y := &pl.objs[a], &pl.objs[b]
		if c := cmp.Compare(x.typ, y.typ); c != 0 {
			return c
		}
		if c := cmp.Compare(x.name, y.name); c != 0 {
			return c
		}
		// Largest first: deltas that remove data are smaller than
		// deltas that add it, and files tend to grow.
		if c := cmp.Compare(y.size, x.size); c != 0 {
			return c
		}
		// Then newest first (met first by the walk), so recent versions
		// are the whole ones, quickest to read.
		if c := cmp.Compare(order(x), order(y)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var window []windowEntry
	var mem int64
	drop := func() {
		mem -= window[0].mem
		window = slices.Delete(window, 0, 1)
	}
	typ := plumbing.InvalidObject
	for _, n := range cands {
		if err := pl.tick(); err != nil {
			return err
		}
		o := &pl.objs[n]
		if o.typ != typ {
			typ = o.typ
			for len(window) > 0 {
				drop()
			}
		}
		_, data, err := pl.db.read(o.hash)
		if err != nil {
			return fmt.Errorf("repack: %w", err)
		}
		var best []byte
		bestAt := -1
		for j := len(window) - 1; j >= 0; j-- {
			if d := pl.tryDelta(o, &window[j], data, &mem); d != nil {
				b := &pl.objs[window[j].obj]
				o.base, o.depth, o.deltaLen = window[j].obj, b.depth+1, int64(len(d))
				best, bestAt = d, j
			}
		}
		if best != nil {
			pl.cacheDelta(n, best)
			// The chosen base is likely to suit the next objects too: it
			// moves to the young end of the window, where it stays longest.
			e := window[bestAt]
			window = append(slices.Delete(window, bestAt, bestAt+1), e)
		}
		if o.depth < int32(pl.opts.Depth) {
			window = append(window, windowEntry{obj: n, data: data, mem: int64(len(data))})
			mem += int64(len(data))
		}
		for len(window) > pl.opts.Window || len(window) > 1 && mem > pl.opts.WindowMemory {
			drop()
		}
	}
	return nil
}

// tryDelta computes a delta of o (content data) against the window entry
// m, and returns it if it is worth more than what o has: below half the
// object at first, then smaller than the delta found so far, with less
// allowed the deeper m's chain already is.
func (pl *repackPlan) tryDelta(o *repackObject, m *windowEntry, data []byte, mem *int64) []byte {
	b := &pl.objs[m.obj]
	maxDepth := int32(pl.opts.Depth)
	if b.depth+1+o.below > maxDepth {
		return nil
	}
	maxSize, refDepth := o.size/2-20, int32(1)
	if o.base != noObject {
		maxSize, refDepth = o.deltaLen, o.depth
	}
	maxSize = maxSize * int64(maxDepth-b.depth) / int64(maxDepth-refDepth+1)
	if maxSize <= 0 || o.size < b.size/32 || o.size > b.size && o.size-b.size >= maxSize {
		return nil
	}
	if m.index == nil {
		m.index = newDeltaIndex(m.data)
		m.mem += m.index.memSize()
		*mem += m.index.memSize()
	}
	d := m.index.encode(data, int(min(maxSize+1, 1<<31-1))) // up to maxSize
	if d == nil {
		return nil
	}
	if o.base != noObject && (int64(len(d)) > o.deltaLen || int64(len(d)) == o.deltaLen && b.depth >= pl.objs[o.base].depth) {
		return nil
	}
	return d
}

// cacheDelta keeps the compressed delta of object i for the write, while
// the budget lasts.
func (pl *repackPlan) cacheDelta(i int32, delta []byte) {
	if old, ok := pl.deltaCache[i]; ok {
		pl.cacheSize -= int64(len(old))
		delete(pl.deltaCache, i)
	}
	z, err := pl.deflate(delta)
	if err != nil || pl.cacheSize+int64(len(z)) > deltaCacheBudget {
		return // computed again when written
	}
	pl.deltaCache[i] = z
	pl.cacheSize += int64(len(z))
}

func (pl *repackPlan) deflate(data []byte) ([]byte, error) {
	pl.zbuf.Reset()
	if pl.zw == nil {
		pl.zw, _ = zlib.NewWriterLevel(&pl.zbuf, zlib.DefaultCompression)
	} else {
		pl.zw.Reset(&pl.zbuf)
	}
	if _, err := pl.zw.Write(data); err != nil {
		return nil, err
	}
	if err := pl.zw.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(pl.zbuf.Bytes()), nil
}

// writeOrder lists the objects as they go into the pack: commits and tags
// first, so history walks read one compact region, then trees and blobs;
// each group in the order the old packs stored them (newest pack first),
// loose objects after. Bases still go before their deltas (writePack).
func (pl *repackPlan) writeOrder() []int32 {
	order := make([]int32, len(pl.objs))
	for i := range order {
		order[i] = int32(i)
	}
	group := func(o *repackObject) int {
		if o.typ == objCommit || o.typ == objTag {
			return 0
		}
		return 1
	}
	packRank := func(o *repackObject) int {
		if o.pack == nil {
			return len(pl.rank)
		}
		return pl.rank[o.pack]
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := &pl.objs[order[a]], &pl.objs[order[b]]
		if gx, gy := group(x), group(y); gx != gy {
			return gx < gy
		}
		if rx, ry := packRank(x), packRank(y); rx != ry {
			return rx < ry
		}
		if x.pack != nil {
			return x.off < y.off
		}
		return uint32(x.seen) < uint32(y.seen)
	})
	return order
}

// repackWriter streams the new pack.
type repackWriter struct {
	pl  *repackPlan
	out io.Writer
	sum hash.Hash
	n   int64
	zw  *zlib.Writer
}

func (w *repackWriter) Write(p []byte) (int, error) {
	n, err := w.out.Write(p)
	w.sum.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// writePack writes the planned pack to out.
func (pl *repackPlan) writePack(out io.Writer) error {
	w := &repackWriter{pl: pl, out: out, sum: sha1.New()}
	var hdr [12]byte
	copy(hdr[:4], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(pl.objs)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	var chain []int32
	for _, i := range pl.writeOrder() {
		if err := pl.tick(); err != nil {
			return err
		}
		chain = chain[:0]
		for j := i; j != noObject && !pl.objs[j].written; j = pl.objs[j].base {
			chain = append(chain, j)
		}
		for k := len(chain) - 1; k >= 0; k-- {
			if err := w.writeObject(chain[k]); err != nil {
				return fmt.Errorf("repack: object %s: %w", pl.objs[chain[k]].hash, err)
			}
		}
	}
	_, err := out.Write(w.sum.Sum(nil))
	return err
}

func (w *repackWriter) writeObject(i int32) error {
	pl := w.pl
	o := &pl.objs[i]
	o.written, o.newOff = true, w.n
	switch {
	case o.reuse:
		pl.reused++
		eh, err := o.pack.header(o.off)
		if err != nil {
			return err
		}
		hdr := appendOfsDistance(appendEntryHeader(nil, objOFS, eh.size), o.newOff-pl.objs[o.base].newOff)
		return w.copyStored(o, eh, hdr)
	case o.base != noObject:
		pl.deltified++
		z, ok := pl.deltaCache[i]
		n := o.deltaLen
		if ok {
			delete(pl.deltaCache, i)
		} else {
			delta, err := pl.recomputeDelta(o)
			if err != nil {
				return err
			}
			if z, err = pl.deflate(delta); err != nil {
				return err
			}
			n = int64(len(delta))
		}
		if _, err := w.Write(appendOfsDistance(appendEntryHeader(nil, objOFS, n), o.newOff-pl.objs[o.base].newOff)); err != nil {
			return err
		}
		_, err := w.Write(z)
		return err
	case o.pack != nil && !o.storedDelta:
		pl.whole++
		eh, err := o.pack.header(o.off)
		if err != nil {
			return err
		}
		return w.copyStored(o, eh, eh.raw[:eh.hdrLen])
	default:
		pl.whole++
		typ, data, err := pl.db.read(o.hash)
		if err != nil {
			return err
		}
		if _, err := w.Write(appendEntryHeader(nil, typ, int64(len(data)))); err != nil {
			return err
		}
		if w.zw == nil {
			w.zw, _ = zlib.NewWriterLevel(w, zlib.DefaultCompression)
		} else {
			w.zw.Reset(w)
		}
		if _, err := w.zw.Write(data); err != nil {
			return err
		}
		return w.zw.Close()
	}
}

// recomputeDelta computes again a delta found by the search but not
// cached.
func (pl *repackPlan) recomputeDelta(o *repackObject) ([]byte, error) {
	_, base, err := pl.db.read(pl.objs[o.base].hash)
	if err != nil {
		return nil, err
	}
	_, target, err := pl.db.read(o.hash)
	if err != nil {
		return nil, err
	}
	return newDeltaIndex(base).encode(target, 0), nil
}

// copyStored writes hdr and then the stored compressed data of o's entry,
// checked against the CRC its index recorded: a damaged old pack must
// fail the repack, not pass into the new one.
func (w *repackWriter) copyStored(o *repackObject, eh entryHeader, hdr []byte) error {
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	p := o.pack
	dataOff := o.off + eh.hdrLen
	end := o.off + o.entrySize
	if end < dataOff {
		return fmt.Errorf("pack %s: bad entry bounds at %d", p.path, o.off)
	}
	crc := crc32.NewIEEE()
	crc.Write(eh.raw[:eh.hdrLen])
	r := io.NewSectionReader(p.f, dataOff, end-dataOff)
	var src io.Reader = r
	if p.data != nil {
		src = bytes.NewReader(p.data[dataOff:end])
	}
	if _, err := io.Copy(io.MultiWriter(w, crc), src); err != nil {
		return fmt.Errorf("copy from %s: %w", p.path, err)
	}
	if p.idx.Version == 2 {
		if want, ok := idxCRC32(p.idx, o.hash); ok && want != crc.Sum32() {
			return fmt.Errorf("CRC mismatch in %s", p.path)
		}
	}
	return nil
}
