package gitserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/klauspost/compress/zlib"
)

// errPackTooLarge is returned when the incoming pack exceeds the bytes the
// repository size limit leaves.
var errPackTooLarge = errors.New("pack exceeds the repository size limit")

// receivedPack is a pushed pack written and indexed in the quarantine.
type receivedPack struct {
	packPath string
	idxPath  string
	checksum plumbing.Hash
	idx      *idxfile.MemoryIndex
	objects  []packObject
	byHash   map[plumbing.Hash]int
	size     int64 // bytes, trailer included
	deltas   int
	spilled  int64 // inflated bytes written to spill files while resolving
}

// packObject is one entry of a received pack.
type packObject struct {
	hash     plumbing.Hash
	typ      plumbing.ObjectType // resolved type
	size     int64               // resolved size
	off      int64
	crc      uint32
	diskType plumbing.ObjectType
	dataOff  int64
	diskSize int64
	baseOff  int64
	baseHash plumbing.Hash
	resolved bool
	data     []byte // inflated content kept from the first pass, if any
}

// retainBudget bounds the inflated content the first pass keeps for delta
// resolution, which otherwise inflates bases and deltas a second time.
// 8 MiB saves as much CPU as 32 did on a first push of go-git (0.88 s)
// and peaks at 43 MiB, not 66 (C git's index-pack: 21).
const (
	retainBudget = 8 << 20
	retainMax    = 1 << 20
)

// packStream reads a pack from the network for the indexer. It hands
// bytes to zlib one at a time (flate needs an io.ByteReader to stop
// exactly at the end of each stream) and, in bulk behind that, copies
// what was consumed to the pack file, the pack checksum and the current
// entry's CRC.
type packStream struct {
	r     io.Reader
	buf   []byte
	start int // buf[start:rpos] consumed, not yet copied to the sinks
	rpos  int
	end   int
	pos   int64
	limit int64 // 0 = none

	file io.Writer
	sum  hash.Hash
	crc  hash.Hash32
	err  error
}

func (s *packStream) sync() {
	if s.rpos > s.start {
		chunk := s.buf[s.start:s.rpos]
		if s.err == nil {
			_, s.err = s.file.Write(chunk)
		}
		s.sum.Write(chunk)
		s.crc.Write(chunk)
		s.start = s.rpos
	}
}

func (s *packStream) fill() error {
	s.sync()
	if s.err != nil {
		return s.err
	}
	s.start, s.rpos, s.end = 0, 0, 0
	for {
		n, err := s.r.Read(s.buf)
		if n > 0 {
			s.end = n
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
}

func (s *packStream) advance(n int) error {
	s.pos += int64(n)
	if s.limit > 0 && s.pos > s.limit {
		return errPackTooLarge
	}
	return nil
}

func (s *packStream) ReadByte() (byte, error) {
	if s.rpos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.rpos]
	s.rpos++
	return b, s.advance(1)
}

func (s *packStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.rpos == s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.rpos:s.end])
	s.rpos += n
	return n, s.advance(n)
}

// packLimits bound what reading one pack may cost. Every size a pack
// declares is checked against them before it is acted on.
type packLimits struct {
	// maxBytes bounds the raw pack (what is written to the quarantine as
	// it arrives); 0 = no bound.
	maxBytes int64
	// maxObject bounds every object's declared size: a whole entry's, a
	// delta's result; 0 = maxObjectCeiling.
	maxObject int64
	// inflateAllowance is how many inflated bytes the pack may declare
	// beyond inflateRatio times its own size so far. Hashing, and writing
	// large objects to spill files, cost that much.
	inflateAllowance int64
}

// inflateRatio is how much more than its raw size a pack may declare as
// object content, past the allowance: git's own packs of long histories
// stay far below it, a delta bomb far above.
const inflateRatio = 1024

func (l packLimits) objectLimit() int64 {
	if l.maxObject > 0 {
		return l.maxObject
	}
	return maxObjectCeiling
}

// errPackTooDense is returned when the objects a pack declares add up to
// more than its limits let it expand to.
var errPackTooDense = errors.New("pack expands to more than this server accepts")

// thinBases reads the objects a thin pack's deltas are based on from the
// repository.
type thinBases interface {
	// has reports whether the repository holds h.
	has(h plumbing.Hash) bool
	// open returns h's type and size and a reader of exactly its
	// content, refusing (ErrObjectTooLarge) before reading an object over
	// max bytes. The reader is valid until the next call.
	open(h plumbing.Hash, max int64) (plumbing.ObjectType, int64, io.Reader, error)
}

// deltaSniffer watches the first bytes of an inflating delta and runs
// check on the sizes its header declares, so an oversized result is
// refused before the rest of the delta is even read.
type deltaSniffer struct {
	hdr   [20]byte
	n     int
	done  bool
	check func(base, result int64) error
}

func (d *deltaSniffer) Write(p []byte) (int, error) {
	if d.done {
		return len(p), nil
	}
	d.n += copy(d.hdr[d.n:], p)
	base, result, _, err := DeltaSizes(d.hdr[:d.n])
	if err != nil {
		if d.n == len(d.hdr) {
			return 0, err
		}
		return len(p), nil // the header continues in the next write
	}
	d.done = true
	if err := d.check(base, result); err != nil {
		return 0, err
	}
	return len(p), nil
}

// indexPack reads a pack from r into dir, resolves its deltas and writes
// its index. Nothing outside dir is touched. A delta whose base is not in
// the pack (a thin pack, as git push sends) gets its base from bases,
// which is then appended to the pack so that it stands alone, as
// `git index-pack --fix-thin` does; with bases nil such a pack is refused.
//
// Sizes are checked as they are declared, before the bytes behind them
// are read: each whole entry from its header, each delta's result from
// the delta's header (its first inflated bytes), and the running total
// against inflateRatio × the pack so far plus lim.inflateAllowance. A
// delta may not make an object over lim.maxObject. A whole entry may be
// up to twice that: it is streamed to disk and hashed, never held, so
// that the push's refusal can name the file (validatePush refuses it);
// beyond, it is refused at its header.
func indexPack(ctx context.Context, r io.Reader, dir string, lim packLimits, bases thinBases) (*receivedPack, error) {
	f, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return nil, fmt.Errorf("create quarantine pack: %w", err)
	}
	defer f.Close()
	fileBuf := bufio.NewWriterSize(f, 256*1024)
	s := &packStream{
		r: r, buf: make([]byte, 64*1024), limit: lim.maxBytes,
		file: fileBuf, sum: sha1.New(), crc: crc32.NewIEEE(),
	}
	rp := &receivedPack{packPath: f.Name(), byHash: map[plumbing.Hash]int{}}
	maxObject := lim.objectLimit()

	var hdr [12]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return nil, fmt.Errorf("read pack header: %w", err)
	}
	if string(hdr[:4]) != "PACK" {
		return nil, errors.New("bad pack signature")
	}
	if v := binary.BigEndian.Uint32(hdr[4:]); v != 2 && v != 3 {
		return nil, fmt.Errorf("unsupported pack version %d", v)
	}
	count := binary.BigEndian.Uint32(hdr[8:])
	// The smallest entry (a header byte and an empty zlib stream) takes 9
	// bytes: a count the size limit cannot hold is refused at once.
	if lim.maxBytes > 0 && int64(count)*9 > lim.maxBytes {
		return nil, errPackTooLarge
	}
	rp.objects = make([]packObject, 0, min(count, 1<<16))
	byOffset := make(map[int64]int, min(count, 1<<16))

	var zr io.ReadCloser
	var retained, declared int64
	copyBuf := make([]byte, 64*1024)
	for i := uint32(0); i < count; i++ {
		if i&255 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		s.sync()
		s.crc.Reset()
		o := packObject{off: s.pos}
		if err := readEntryHeader(s, &o); err != nil {
			return nil, err
		}
		if o.diskType == objOFS {
			if _, ok := byOffset[o.baseOff]; !ok {
				return nil, fmt.Errorf("entry at %d: delta base offset %d is not an entry", o.off, o.baseOff)
			}
		}
		// A delta as git makes it is at most a little larger than its
		// result (a byte of instruction per 127 inserted).
		if o.diskType.IsDelta() && o.diskSize > 2*maxObject+64 {
			return nil, fmt.Errorf("entry at %d: a delta of %s is larger than any object under the %s file size limit: %w",
				o.off, formatSize(o.diskSize), formatSize(maxObject), ErrObjectTooLarge)
		}
		if !o.diskType.IsDelta() {
			if o.diskSize > 2*maxObject {
				return nil, &ObjectTooLargeError{Type: o.diskType, Size: o.diskSize, Limit: maxObject, Offset: o.off}
			}
			declared += o.diskSize
			if declared > inflateRatio*s.pos+lim.inflateAllowance {
				return nil, errPackTooDense
			}
		}
		o.dataOff = s.pos
		if zr == nil {
			if zr, err = zlib.NewReader(s); err != nil {
				return nil, fmt.Errorf("entry at %d: %w", o.off, err)
			}
		} else if err := zr.(zlib.Resetter).Reset(s, nil); err != nil {
			return nil, fmt.Errorf("entry at %d: %w", o.off, err)
		}
		var sink io.Writer
		var hasher plumbing.Hasher
		var sniff *deltaSniffer
		if !o.diskType.IsDelta() {
			hasher = plumbing.NewHasher(o.diskType, o.diskSize)
			sink = hasher
		} else {
			sniff = &deltaSniffer{check: func(_, result int64) error {
				if result > maxObject {
					return &ObjectTooLargeError{Type: o.diskType, Size: result, Limit: maxObject, Offset: o.off}
				}
				o.size = result
				declared += result
				if declared > inflateRatio*s.pos+lim.inflateAllowance {
					return errPackTooDense
				}
				return nil
			}}
			sink = sniff
		}
		var kept *bytes.Buffer
		if o.diskSize <= retainMax && retained+o.diskSize <= retainBudget {
			kept = bytes.NewBuffer(make([]byte, 0, o.diskSize))
			retained += o.diskSize
			sink = io.MultiWriter(sink, kept)
		}
		n, err := io.CopyBuffer(sink, io.LimitReader(zr, o.diskSize), copyBuf)
		if err != nil {
			return nil, fmt.Errorf("entry at %d: %w", o.off, err)
		}
		if n != o.diskSize {
			return nil, fmt.Errorf("entry at %d: inflated to %d bytes, header says %d", o.off, n, o.diskSize)
		}
		if sniff != nil && !sniff.done {
			return nil, fmt.Errorf("entry at %d: %w", o.off, errCorruptDelta)
		}
		if err := expectZlibEnd(zr); err != nil {
			return nil, fmt.Errorf("entry at %d: %w", o.off, err)
		}
		s.sync()
		o.crc = s.crc.Sum32()
		if kept != nil {
			o.data = kept.Bytes()
		}
		if !o.diskType.IsDelta() {
			o.hash = hasher.Sum()
			o.typ, o.size, o.resolved = o.diskType, o.diskSize, true
			if _, dup := rp.byHash[o.hash]; dup {
				return nil, fmt.Errorf("pack contains %s twice", o.hash)
			}
			rp.byHash[o.hash] = len(rp.objects)
		} else {
			rp.deltas++
		}
		byOffset[o.off] = len(rp.objects)
		rp.objects = append(rp.objects, o)
	}
	s.sync()
	want := s.sum.Sum(nil)
	var trailer [20]byte
	if _, err := io.ReadFull(s, trailer[:]); err != nil {
		return nil, fmt.Errorf("read pack trailer: %w", err)
	}
	s.sync()
	if !bytes.Equal(want, trailer[:]) {
		return nil, errors.New("pack checksum mismatch")
	}
	if s.err != nil {
		return nil, fmt.Errorf("write quarantine pack: %w", s.err)
	}
	if err := fileBuf.Flush(); err != nil {
		return nil, fmt.Errorf("write quarantine pack: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync quarantine pack: %w", err)
	}
	copy(rp.checksum[:], trailer[:])
	rp.size = s.pos

	if err := rp.resolveDeltas(ctx, f, dir, maxObject, bases); err != nil {
		return nil, err
	}
	if err := rp.writeIndex(dir); err != nil {
		return nil, err
	}
	return rp, nil
}

func readEntryHeader(s *packStream, o *packObject) error {
	var h entryHeader
	err := decodeEntryHeader(&h, o.off, s.ReadByte)
	if err == nil && !isEntryType(h.typ) {
		err = fmt.Errorf("bad object type %d", h.typ)
	}
	if err != nil {
		return fmt.Errorf("entry at %d: %w", o.off, err)
	}
	o.diskType, o.diskSize, o.baseOff, o.baseHash = h.typ, h.size, h.baseOff, h.baseHash
	return nil
}

// expectZlibEnd consumes the end of a zlib stream (its checksum) and fails
// if the stream holds more data than the header declared.
func expectZlibEnd(zr io.Reader) error {
	var one [1]byte
	for {
		n, err := zr.Read(one[:])
		if n > 0 {
			return errors.New("object is larger than its header says")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Resolved content at most memMax bytes is held in memory while its
// deltas are applied, within heldBudget for the whole chain being
// resolved; larger content goes to a spill file in the quarantine and is
// read back where copy commands point. Deltas nothing is based on are
// streamed into their hash and never held at all.
const (
	memMax     = 8 << 20
	heldBudget = 64 << 20
)

// content is a resolved object during delta resolution.
type content struct {
	typ  plumbing.ObjectType
	size int64
	mem  []byte   // in memory, or
	file *os.File // in a spill file
	r    *resolver
}

func (c *content) ReadAt(p []byte, off int64) (int, error) {
	if c.file != nil {
		return c.file.ReadAt(p, off)
	}
	if off >= int64(len(c.mem)) {
		return 0, io.EOF
	}
	n := copy(p, c.mem[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// release frees what c holds; it may be called more than once.
func (c *content) release() {
	if c.file != nil {
		c.file.Close()
		os.Remove(c.file.Name())
		c.file = nil
	}
	if c.mem != nil {
		c.r.held -= int64(len(c.mem))
		c.mem = nil
	}
}

// resolver applies a received pack's deltas.
type resolver struct {
	ctx       context.Context
	rp        *receivedPack
	pf        *packFile
	rd        *odb
	dir       string
	maxObject int64
	ofsKids   map[int64][]int
	refKids   map[plumbing.Hash][]int
	// refUnknown: some REF_DELTA is based on an object that is neither a
	// whole entry of the pack nor in the repository, so it may be the
	// result of another delta, whose content must then be kept.
	refUnknown bool
	held       int64
	budget     int64 // what held may reach: heldBudget shared by the workers
	resolved   int
	spilled    int64
	zbr        *bufio.Reader

	// Shared by the workers of resolveRoots: claimed says which entries
	// a worker has taken (a base that is in the pack twice would offer
	// its deltas to two), mu guards rp.byHash.
	claimed []atomic.Bool
	mu      *sync.Mutex
}

// resolveDeltas applies every delta to its base, depth first from each
// whole object, so each base is inflated once and only one chain is held
// at a time; a base is let go before its last delta is descended into, so
// a long chain holds two objects, not all of them.
func (rp *receivedPack) resolveDeltas(ctx context.Context, f *os.File, dir string, maxObject int64, bases thinBases) error {
	defer func() {
		for i := range rp.objects {
			rp.objects[i].data = nil
		}
	}()
	if rp.deltas == 0 {
		return nil
	}
	r := &resolver{ctx: ctx, rp: rp, dir: dir, maxObject: maxObject,
		ofsKids: map[int64][]int{}, refKids: map[plumbing.Hash][]int{},
		zbr: bufio.NewReaderSize(nil, 32*1024), budget: heldBudget,
		claimed: make([]atomic.Bool, len(rp.objects)), mu: &sync.Mutex{}}
	defer func() { rp.spilled += r.spilled }()
	for i := range rp.objects {
		o := &rp.objects[i]
		switch o.diskType {
		case objOFS:
			r.ofsKids[o.baseOff] = append(r.ofsKids[o.baseOff], i)
		case objREF:
			r.refKids[o.baseHash] = append(r.refKids[o.baseHash], i)
		}
	}
	for h := range r.refKids {
		if _, whole := rp.byHash[h]; !whole && (bases == nil || !bases.has(h)) {
			r.refUnknown = true
		}
	}
	// Whole entries (and thin bases) may be up to twice maxObject, see
	// indexPack; what deltas make is held to maxObject.
	r.rd = &odb{br: bufio.NewReaderSize(nil, 32*1024), maxObject: 2 * maxObject}
	// Read by pread, not through a mapping: each page of one touched
	// stays in the process, with the kernel's neighbours, and resolving
	// a whole history touches the whole pack (593 MiB peak for a first
	// push of git/git, where C git's index-pack needs 301).
	r.pf = &packFile{path: rp.packPath, f: f, size: rp.size}
	// Entries are in pack order, which is all entryEnd needs.
	r.pf.byOffset = make([]idxEntry, len(rp.objects))
	for i, o := range rp.objects {
		r.pf.byOffset[i] = idxEntry{off: o.off}
	}

	var roots []int
	for i := range rp.objects {
		o := &rp.objects[i]
		if o.diskType.IsDelta() || (len(r.ofsKids[o.off]) == 0 && len(r.refKids[o.hash]) == 0) {
			continue
		}
		roots = append(roots, i)
	}
	if err := r.resolveRoots(roots); err != nil {
		return err
	}
	if r.resolved == rp.deltas {
		return nil
	}
	if bases == nil {
		return fmt.Errorf("pack has %d deltas whose base is not in the pack (thin packs are not accepted)", rp.deltas-r.resolved)
	}
	// A thin pack: the remaining deltas are based on objects the
	// repository has. Each base is appended to the pack, then its deltas
	// (and theirs, depth first) are resolved as above.
	var external []plumbing.Hash
	for h, kids := range r.refKids {
		if _, in := rp.byHash[h]; in {
			continue
		}
		for _, k := range kids {
			if !rp.objects[k].resolved {
				external = append(external, h)
				break
			}
		}
	}
	slices.SortFunc(external, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	fx := &thinFixer{f: f, rp: rp, end: rp.size - int64(len(rp.checksum))}
	for _, h := range external {
		if err := ctx.Err(); err != nil {
			return err
		}
		typ, size, src, err := bases.open(h, 2*maxObject)
		if errors.Is(err, ErrObjectTooLarge) {
			return err
		}
		if err != nil {
			return fmt.Errorf("delta base %s is neither in the pack nor in the repository: %w", h, err)
		}
		c, err := r.readContent(typ, size, src)
		if err != nil {
			return fmt.Errorf("delta base %s: %w", h, err)
		}
		i, err := fx.appendWhole(h, typ, io.NewSectionReader(c, 0, size), size)
		if err != nil {
			c.release()
			return err
		}
		if err := r.resolve(i, c, 1); err != nil {
			return err
		}
	}
	if r.resolved != rp.deltas {
		return fmt.Errorf("pack has %d deltas whose base could not be found", rp.deltas-r.resolved)
	}
	return fx.finish()
}

// entryStream returns the zlib stream of the entry's data, read from
// the quarantined pack file.
func (r *resolver) entryStream(o *packObject) (io.Reader, error) {
	r.zbr.Reset(io.NewSectionReader(r.pf.f, o.dataOff, r.pf.size-o.dataOff))
	zr, err := zlib.NewReader(r.zbr)
	if err != nil {
		return nil, fmt.Errorf("entry at %d: %w", o.off, err)
	}
	return bufio.NewReaderSize(zr, 32*1024), nil
}

// maxResolveWorkers bounds the goroutines resolving a pack's deltas, as
// git's index-pack bounds its threads by the CPUs.
const maxResolveWorkers = 4

// resolveRoots resolves the deltas below each whole entry of roots. The
// deltas below one whole entry are a tree of their own, so up to
// maxResolveWorkers goroutines take whole entries in turn, each reading
// the pack through its own buffers and holding its share of heldBudget;
// they share only the map of names and the entries they claim. The index
// made is the same whatever the number: names and offsets do not depend
// on who resolved what. (A first push of git/git took 36 s on one.)
func (r *resolver) resolveRoots(roots []int) error {
	workers := min(runtime.GOMAXPROCS(0), maxResolveWorkers, max(1, len(roots)/64))
	var next atomic.Int64
	// take resolves below whole entries of roots until none is left.
	take := func(f *resolver) error {
		for {
			if err := f.ctx.Err(); err != nil {
				return err
			}
			k := int(next.Add(1)) - 1
			if k >= len(roots) {
				return nil
			}
			c, err := f.wholeContent(&f.rp.objects[roots[k]])
			if err == nil {
				err = f.resolve(roots[k], c, 1)
			}
			if err != nil {
				return err
			}
		}
	}
	if workers == 1 {
		return take(r)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var wg sync.WaitGroup
	forks := make([]*resolver, workers)
	errs := make([]error, workers)
	for w := range forks {
		f := &resolver{ctx: ctx, rp: r.rp, dir: r.dir, maxObject: r.maxObject, ofsKids: r.ofsKids, refKids: r.refKids,
			refUnknown: r.refUnknown, budget: heldBudget / int64(workers), zbr: bufio.NewReaderSize(nil, 32*1024),
			claimed: r.claimed, mu: r.mu,
			rd: &odb{br: bufio.NewReaderSize(nil, 32*1024), maxObject: r.rd.maxObject}}
		pf := *r.pf
		pf.win, pf.winOff = nil, 0
		f.pf = &pf
		forks[w] = f
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[w] = take(f); errs[w] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, f := range forks {
		r.resolved += f.resolved
		r.spilled += f.spilled
	}
	for _, err := range errs {
		// The first real error, not a worker stopped by another's.
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// fitsMemory reports whether size more bytes may be held in memory.
func (r *resolver) fitsMemory(size int64) bool {
	return size <= memMax && r.held+size <= r.budget
}

// newSpill creates a spill file for content of the given size.
func (r *resolver) newSpill() (*os.File, error) {
	f, err := os.CreateTemp(r.dir, "tmp_obj_")
	if err != nil {
		return nil, fmt.Errorf("spill large object: %w", err)
	}
	return f, nil
}

// wholeContent returns the content of a whole entry that deltas are based on.
func (r *resolver) wholeContent(o *packObject) (*content, error) {
	c := &content{typ: o.typ, size: o.diskSize, r: r}
	if o.data != nil || r.fitsMemory(o.diskSize) {
		d := o.data
		o.data = nil // each entry's data is used once
		if d == nil {
			var err error
			if d, err = r.rd.inflate(r.pf, o.dataOff, o.diskSize); err != nil {
				return nil, err
			}
		}
		c.mem = d
		r.held += int64(len(d))
		return c, nil
	}
	f, err := r.newSpill()
	if err != nil {
		return nil, err
	}
	c.file = f
	r.zbr.Reset(io.NewSectionReader(r.pf.f, o.dataOff, r.pf.size-o.dataOff))
	bw := bufio.NewWriterSize(f, 64*1024)
	if _, err := InflateBounded(bw, r.zbr, o.diskSize, 2*r.maxObject); err != nil {
		c.release()
		return nil, fmt.Errorf("entry at %d: %w", o.off, err)
	}
	r.spilled += o.diskSize
	if err := bw.Flush(); err != nil {
		c.release()
		return nil, fmt.Errorf("spill large object: %w", err)
	}
	return c, nil
}

// readContent takes size bytes of content from src: into memory if they
// fit, else into a spill file.
func (r *resolver) readContent(typ plumbing.ObjectType, size int64, src io.Reader) (*content, error) {
	c := &content{typ: typ, size: size, r: r}
	if r.fitsMemory(size) {
		c.mem = make([]byte, size)
		r.held += size
		if _, err := io.ReadFull(src, c.mem); err != nil {
			c.release()
			return nil, err
		}
		return c, nil
	}
	f, err := r.newSpill()
	if err != nil {
		return nil, err
	}
	c.file = f
	if n, err := io.Copy(f, io.LimitReader(src, size)); err != nil || n != size {
		c.release()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.spilled += size
	return c, nil
}

// mayHaveKids reports whether deltas may be based on o once resolved, so
// its content must be kept.
func (r *resolver) mayHaveKids(o *packObject) bool {
	return len(r.ofsKids[o.off]) > 0 || r.refUnknown
}

// resolve applies the deltas based on entry base, whose content is c, and
// theirs, depth first. It releases c.
func (r *resolver) resolve(base int, c *content, depth int) error {
	defer c.release()
	if depth > maxDeltaChain {
		return errors.New("delta chain too deep")
	}
	b := &r.rp.objects[base]
	kids := append(append([]int(nil), r.ofsKids[b.off]...), r.refKids[b.hash]...)
	// Leaves first; the last kid is descended into after c is let go.
	slices.SortStableFunc(kids, func(x, y int) int {
		kx, ky := r.mayHaveKids(&r.rp.objects[x]), r.mayHaveKids(&r.rp.objects[y])
		switch {
		case kx == ky:
			return 0
		case !kx:
			return -1
		}
		return 1
	})
	for i, k := range kids {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		o := &r.rp.objects[k]
		if r.claimed[k].Swap(true) {
			continue
		}
		target, err := r.apply(c, o)
		if err != nil {
			return fmt.Errorf("entry at %d: %w", o.off, err)
		}
		r.mu.Lock()
		_, dup := r.rp.byHash[o.hash]
		if !dup {
			r.rp.byHash[o.hash] = k
		}
		r.mu.Unlock()
		if dup {
			if target != nil {
				target.release()
			}
			return fmt.Errorf("pack contains %s twice", o.hash)
		}
		r.resolved++
		if i == len(kids)-1 {
			c.release()
		}
		if target == nil {
			continue
		}
		if len(r.ofsKids[o.off]) == 0 && len(r.refKids[o.hash]) == 0 {
			target.release()
			continue
		}
		if err := r.resolve(k, target, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// apply resolves delta entry o against base content c: it sets o's hash,
// type and size and returns the content when deltas may be based on it.
func (r *resolver) apply(c *content, o *packObject) (*content, error) {
	keep := r.mayHaveKids(o)
	// o.size is the result size its header declared, checked against the
	// limit as the pack came in.
	size := o.size
	delta := o.data
	o.data = nil
	if delta == nil && o.diskSize <= retainMax {
		var err error
		if delta, err = r.rd.inflate(r.pf, o.dataOff, o.diskSize); err != nil {
			return nil, err
		}
	}
	hasher := plumbing.NewHasher(c.typ, size)
	o.typ, o.resolved = c.typ, true
	if c.mem != nil && delta != nil && (!keep || r.fitsMemory(size)) && size <= memMax {
		target, err := applyDeltaMax(c.mem, delta, r.maxObject)
		if err != nil {
			return nil, err
		}
		if int64(len(target)) != size {
			return nil, errCorruptDelta
		}
		hasher.Write(target)
		o.hash = hasher.Sum()
		if !keep {
			return nil, nil
		}
		r.held += size
		return &content{typ: c.typ, size: size, mem: target, r: r}, nil
	}

	var src io.Reader
	if delta != nil {
		src = bytes.NewReader(delta)
	} else {
		var err error
		if src, err = r.entryStream(o); err != nil {
			return nil, err
		}
	}
	var out *content
	var dst io.Writer = hasher
	var spill *bufio.Writer
	var buf *bytes.Buffer
	if keep {
		out = &content{typ: c.typ, size: size, r: r}
		if r.fitsMemory(size) {
			buf = bytes.NewBuffer(make([]byte, 0, size))
			dst = io.MultiWriter(hasher, buf)
		} else {
			f, err := r.newSpill()
			if err != nil {
				return nil, err
			}
			out.file = f
			spill = bufio.NewWriterSize(f, 64*1024)
			dst = io.MultiWriter(hasher, spill)
		}
	}
	n, err := ApplyDelta(dst, c, c.size, src, r.maxObject)
	if err == nil && n != size {
		err = errCorruptDelta
	}
	if err == nil && spill != nil {
		err = spill.Flush()
		r.spilled += size
	}
	if err != nil {
		if out != nil {
			out.release()
		}
		return nil, err
	}
	o.hash = hasher.Sum()
	if buf != nil {
		out.mem = buf.Bytes()
		r.held += size
	}
	return out, nil
}

// thinFixer appends whole objects to a received pack, in place of its
// trailer, then rewrites the object count and the trailing checksum.
type thinFixer struct {
	f   *os.File
	rp  *receivedPack
	end int64 // where the next entry goes
	zw  *zlib.Writer
	bw  *bufio.Writer
}

// appendWhole writes base as a whole entry at the end of the pack and
// records it; it returns the entry's index in rp.objects. The entry is
// compressed straight into the file, not into memory first: a thin
// pack's base is often the large file a small edit was made to.
func (fx *thinFixer) appendWhole(h plumbing.Hash, typ plumbing.ObjectType, content io.Reader, size int64) (int, error) {
	crc := crc32.NewIEEE()
	cw := &countWriter{w: io.MultiWriter(io.NewOffsetWriter(fx.f, fx.end), crc)}
	if fx.bw == nil {
		fx.bw = bufio.NewWriterSize(cw, 64*1024)
		fx.zw = zlib.NewWriter(fx.bw)
	} else {
		fx.bw.Reset(cw)
		fx.zw.Reset(fx.bw)
	}
	fx.bw.Write(appendEntryHeader(nil, typ, size))
	if n, err := io.Copy(fx.zw, content); err != nil || n != size {
		return 0, fmt.Errorf("append delta base: %d of %d bytes: %v", n, size, err)
	}
	if err := fx.zw.Close(); err != nil {
		return 0, fmt.Errorf("append delta base: %w", err)
	}
	if err := fx.bw.Flush(); err != nil {
		return 0, fmt.Errorf("append delta base: %w", err)
	}
	o := packObject{hash: h, typ: typ, size: size, off: fx.end, crc: crc.Sum32(),
		diskType: typ, diskSize: size, resolved: true}
	fx.end += cw.n
	fx.rp.byHash[h] = len(fx.rp.objects)
	fx.rp.objects = append(fx.rp.objects, o)
	return len(fx.rp.objects) - 1, nil
}

// countWriter counts what passes through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// finish sets the pack's object count and writes its new checksum.
func (fx *thinFixer) finish() error {
	var count [4]byte
	binary.BigEndian.PutUint32(count[:], uint32(len(fx.rp.objects)))
	if _, err := fx.f.WriteAt(count[:], 8); err != nil {
		return fmt.Errorf("fix thin pack: %w", err)
	}
	sum := sha1.New()
	if _, err := io.Copy(sum, io.NewSectionReader(fx.f, 0, fx.end)); err != nil {
		return fmt.Errorf("fix thin pack: %w", err)
	}
	copy(fx.rp.checksum[:], sum.Sum(nil))
	if _, err := fx.f.WriteAt(fx.rp.checksum[:], fx.end); err != nil {
		return fmt.Errorf("fix thin pack: %w", err)
	}
	if err := fx.f.Truncate(fx.end + int64(len(fx.rp.checksum))); err != nil {
		return fmt.Errorf("fix thin pack: %w", err)
	}
	if err := fx.f.Sync(); err != nil {
		return fmt.Errorf("fix thin pack: %w", err)
	}
	fx.rp.size = fx.end + int64(len(fx.rp.checksum))
	return nil
}

func (rp *receivedPack) writeIndex(dir string) error {
	w := new(idxfile.Writer)
	w.OnHeader(uint32(len(rp.objects)))
	for _, o := range rp.objects {
		w.Add(o.hash, uint64(o.off), o.crc)
	}
	if err := w.OnFooter(rp.checksum); err != nil {
		return fmt.Errorf("build index: %w", err)
	}
	idx, err := w.Index()
	if err != nil {
		return fmt.Errorf("build index: %w", err)
	}
	f, err := os.CreateTemp(dir, "tmp_idx_")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	if _, err := idxfile.NewEncoder(bw).Encode(idx); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	rp.idx = idx
	rp.idxPath = f.Name()
	return nil
}

// install moves the quarantined pack into objects/pack. The index goes
// first: go-git lists packs by their .pack file and fails on a pack
// without index, while git lists .idx files and skips one whose pack is
// missing, so idx-then-pack is the order neither reader trips over, and a
// crash between the renames leaves only an ignored orphan index.
func (rp *receivedPack) install(repoPath string) error {
	packDir := filepath.Join(repoPath, "objects", "pack")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return fmt.Errorf("install pack: %w", err)
	}
	base := filepath.Join(packDir, "pack-"+rp.checksum.String())
	if _, err := os.Stat(base + ".pack"); err == nil {
		return nil // the very same pack is already installed
	}
	for _, p := range []string{rp.idxPath, rp.packPath} {
		if err := os.Chmod(p, 0o444); err != nil {
			return fmt.Errorf("install pack: %w", err)
		}
	}
	if err := os.Rename(rp.idxPath, base+".idx"); err != nil {
		return fmt.Errorf("install pack: %w", err)
	}
	if err := os.Rename(rp.packPath, base+".pack"); err != nil {
		os.Remove(base + ".idx")
		return fmt.Errorf("install pack: %w", err)
	}
	syncDir(packDir)
	return nil
}
