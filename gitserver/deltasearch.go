package gitserver

import (
	"bytes"
	"errors"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
)

// The pack writer copies stored entries, deltas included, whenever their
// base travels too. A stored delta whose base stays behind (a shallow or
// filtered fetch, objects fetched by id) would otherwise be sent whole;
// git's pack-objects searches a window of similar objects for a new base
// instead, and so does planDeltas, for those objects only: a full clone,
// where every stored delta is reused, searches nothing.

const (
	deltaWindow = 10 // candidate bases per object, as git's pack.window
	// A search is cut into segments of at least deltaSegmentMin entries
	// and at most about deltaSegmentsMax of them: enough to keep two or
	// more workers busy to the end, few enough that the entries which
	// lose part of their window at a cut stay a few percent. (The
	// depth-1 packs of go-git and git/git came out byte for byte as with
	// one window over all entries; 64-entry segments lost 5 of 505 new
	// deltas on git/git.)
	deltaSegmentMin  = 128
	deltaSegmentsMax = 32
	deltaSearchMin   = 64 // smaller objects gain nothing from a delta
	// searchWindowBytes bounds each window's objects and indexes, and
	// searchWorkersMax the windows searched at once: together no more
	// than the 320 MiB one window of 16 MiB objects (thinDeltaMax) could
	// hold before the search had workers, however many cores there are.
	searchWindowBytes = 64 << 20
	searchWorkersMax  = 4
	// searchCacheBytes is the delta base cache of all the search's
	// readers together. The search reads objects by type, name and size,
	// an order in which their delta chains hardly ever share a base: on
	// the depth-1 clones of go-git and git/git a cache of 8 MiB saved no
	// time against one of 256 KiB, while adding a fifth to the server's
	// peak memory.
	searchCacheBytes = 1 << 20
	// searchScratchMax bounds each buffer a search worker keeps from one
	// object to the next (the index arrays of an object that left the
	// window, the deltas encoded, the indexing's hashes).
	searchScratchMax = 1 << 20
	maxNewDeltaDepth = 50 // as git's pack.depth
)

// newDelta is a delta planned for an object that has no reusable one.
type newDelta struct {
	base  plumbing.Hash
	delta []byte
}

type searchEntry struct {
	h      plumbing.Hash
	typ    plumbing.ObjectType
	name   uint32
	size   int64
	target bool // an object that would be sent whole
	data   []byte
	idx    *deltaIndex
	depth  int
	plan   *newDelta // the delta found for a target, if any
}

// planDeltas fills pw.planned for the objects at locs. tick is called
// now and then, from each of the search's workers (it must be safe for
// concurrent use, as a context's Err is), so a client that went away
// stops the search.
func (pw *packWriter) planDeltas(locs []objLoc, tick func() error) error {
	// Most packs (full clones, ordinary fetches) have no target: find
	// that out before holding an entry for every possible base.
	collect := func(all bool) ([]*searchEntry, error) {
		var entries []*searchEntry
		for i, l := range locs {
			if i&1023 == 0 {
				if err := tick(); err != nil {
					return nil, err
				}
			}
			e, err := pw.searchCandidate(l)
			if err != nil {
				return nil, err
			}
			if e == nil || !all && !e.target {
				continue
			}
			e.name = l.name
			entries = append(entries, e)
		}
		return entries, nil
	}
	entries, err := collect(false)
	if err != nil || len(entries) == 0 {
		return err
	}
	if entries, err = collect(true); err != nil {
		return err
	}
	// As git's type_size_sort: by type, then name, then size, largest
	// first, so the window holds the likeliest bases.
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.typ != b.typ {
			return a.typ < b.typ
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.size > b.size
	})
	workers := min(runtime.GOMAXPROCS(0), searchWorkersMax)
	if err := pw.searchSegments(deltaSegments(entries), workers, tick); err != nil {
		return err
	}
	for _, e := range entries {
		if e.plan != nil {
			pw.planned[e.h] = *e.plan
		}
	}
	return nil
}

// deltaSegments cuts the sorted entries into contiguous runs, each
// searched with a window of its own, as git's threaded find_deltas does:
// no base is looked for across a cut. Where the cuts fall depends on the
// entries alone, never on how many workers search them, so the pack is
// the same whatever the machine and the scheduling. A cut never splits a
// run of one type and name, the likeliest bases for each other; segments
// are long enough that the targets near a cut, which see a shorter
// window, are few.
func deltaSegments(entries []*searchEntry) [][]*searchEntry {
	size := max(deltaSegmentMin, len(entries)/deltaSegmentsMax)
	var segs [][]*searchEntry
	for len(entries) > 0 {
		n := min(size, len(entries))
		for n < len(entries) && entries[n].typ == entries[n-1].typ && entries[n].name == entries[n-1].name {
			n++
		}
		segs = append(segs, entries[:n])
		entries = entries[n:]
	}
	return segs
}

// searchSegments searches segs with up to workers goroutines, each taking
// the next segment not yet searched and reading objects through a reader
// of its own (odb is not safe for concurrent use). Results land in the
// entries (searchEntry.plan), so they do not depend on which worker
// searched what. The first error, the client's going away (tick) or a
// failed read, stops every worker within its next 64 entries.
func (pw *packWriter) searchSegments(segs [][]*searchEntry, workers int, tick func() error) error {
	workers = max(1, min(workers, len(segs)))
	readers := make([]*odb, workers)
	for i := range readers {
		db, err := pw.db.fork(searchCacheBytes / workers)
		if err != nil {
			return err
		}
		readers[i] = db
	}
	var (
		next    atomic.Int64
		failed  atomic.Bool
		wg      sync.WaitGroup
		errs    = make([]error, workers)
		stopped = func() error {
			if failed.Load() {
				return errSearchStopped
			}
			return tick()
		}
	)
	for w, db := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sr := &searcher{db: db, tick: stopped}
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(segs) {
					return
				}
				if err := sr.search(segs[i]); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, errSearchStopped) {
			return err
		}
	}
	return nil
}

// errSearchStopped stops a worker because another one failed.
var errSearchStopped = errors.New("delta search stopped")

// searcher searches segments one after the other in one goroutine,
// reusing its buffers from one object to the next.
type searcher struct {
	db   *odb
	tick func() error
	// spare is the index of an object that left the window, its arrays
	// ready for the next one.
	spare   *deltaIndex
	scratch indexScratch
	// out and best are the two buffers deltas are encoded into: the
	// delta being tried and the best so far.
	out, best []byte
}

// search looks for a base for each target of seg among the deltaWindow
// entries before it. The window's objects and indexes are dropped,
// oldest first, while they hold more than searchWindowBytes (as git's
// pack.windowMemory): only windows of large objects get that far.
func (sr *searcher) search(seg []*searchEntry) error {
	window := make([]*searchEntry, 0, deltaWindow)
	drop := func() {
		if w := window[0]; w.idx != nil && w.idx.memSize() <= searchScratchMax {
			sr.spare = w.idx
		}
		window[0].data, window[0].idx = nil, nil
		window = append(window[:0], window[1:]...)
	}
	defer func() {
		for _, e := range window {
			e.data, e.idx = nil, nil
		}
	}()
	for n, e := range seg {
		if n&63 == 0 {
			if err := sr.tick(); err != nil {
				return err
			}
		}
		if e.target {
			if err := sr.searchBase(e, window); err != nil {
				return err
			}
		}
		if len(window) == deltaWindow {
			drop()
		}
		window = append(window, e)
		for len(window) > 1 && windowMem(window) > searchWindowBytes {
			drop()
		}
	}
	return nil
}

// windowMem is what a window's objects and indexes hold.
func windowMem(window []*searchEntry) int64 {
	var n int64
	for _, e := range window {
		n += int64(len(e.data))
		if e.idx != nil {
			n += e.idx.memSize()
		}
	}
	return n
}

// searchCandidate classifies an object for the search: a target (it
// would be sent whole although stored as a delta, or is loose), a
// possible base (stored whole), or neither (nil: its stored delta is
// reused, or it is not a tree or blob of a size worth a delta).
func (pw *packWriter) searchCandidate(l objLoc) (*searchEntry, error) {
	h, p, off := l.h, l.p, l.off
	if p == nil {
		typ, err := pw.db.typeOf(h)
		if err != nil {
			return nil, err
		}
		size, err := pw.db.sizeOf(h)
		if err != nil {
			return nil, err
		}
		return searchable(&searchEntry{h: h, typ: typ, size: size, target: true}), nil
	}
	eh, err := p.header(off)
	if err != nil {
		return nil, err
	}
	var base plumbing.Hash
	switch eh.typ {
	case objOFS:
		if base, err = pw.ofsBase(p, eh.baseOff); err != nil {
			return nil, err
		}
	case objREF:
		base = eh.baseHash
	default:
		return searchable(&searchEntry{h: h, typ: eh.typ, size: eh.size}), nil
	}
	if pw.en.sending[base] || pw.onClient(p, eh, &base) {
		return nil, nil // reused as it is
	}
	if pw.thinBase(h) {
		// thinDelta tries the client's version at the same path first,
		// git's preferred base; searching a window too would read and
		// index every such object twice.
		return nil, nil
	}
	typ, err := pw.db.typeOf(h)
	if err != nil {
		return nil, err
	}
	if typ != objBlob && typ != objTree {
		return nil, nil
	}
	size, err := pw.db.sizeOf(h)
	if err != nil {
		return nil, err
	}
	return searchable(&searchEntry{h: h, typ: typ, size: size, target: true}), nil
}

func searchable(e *searchEntry) *searchEntry {
	if (e.typ != objBlob && e.typ != objTree) || e.size < deltaSearchMin || e.size > thinDeltaMax {
		return nil
	}
	return e
}

// searchBase tries the window's objects of e's type as bases for e and
// plans the smallest delta under half e's size (git's bar).
func (sr *searcher) searchBase(e *searchEntry, window []*searchEntry) error {
	var err error
	var best []byte
	var bestBase plumbing.Hash
	bestDepth := 0
	maxSize := int(e.size)/2 - 20
	for i := len(window) - 1; i >= 0; i-- {
		b := window[i]
		// As git's try_delta: a base much smaller than e cannot give a
		// delta under the bar.
		if b.typ != e.typ || b.depth >= maxNewDeltaDepth || e.size-b.size >= int64(maxSize) {
			continue
		}
		if e.data == nil {
			if _, e.data, err = sr.db.read(e.h); err != nil {
				return err
			}
		}
		if b.idx == nil {
			if b.data == nil {
				if _, b.data, err = sr.db.read(b.h); err != nil {
					return err
				}
			}
			b.idx, sr.spare = indexInto(b.data, sr.spare, &sr.scratch), nil
		}
		if sr.out == nil {
			sr.out = make([]byte, 0, 4096)
		}
		if d := b.idx.encodeTo(sr.out, e.data, maxSize); d != nil {
			// d is in the out buffer (or one it grew into): it becomes
			// the best, and the previous best's buffer the next out.
			sr.out, sr.best = sr.best, d
			best, bestBase, bestDepth, maxSize = d, b.h, b.depth+1, len(d)
		}
	}
	// Buffers grown for a large object are not kept for small ones.
	if cap(sr.out) > searchScratchMax {
		sr.out = nil
	}
	if cap(sr.best) > searchScratchMax {
		sr.best = nil
	}
	if cap(sr.scratch.hashes) > searchScratchMax/8 {
		sr.scratch = indexScratch{}
	}
	if best != nil {
		e.plan = &newDelta{base: bestBase, delta: bytes.Clone(best)}
		e.depth = bestDepth
	}
	return nil
}
