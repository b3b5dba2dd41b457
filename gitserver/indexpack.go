package gitserver

import (
	"bufio"
	"bytes"
	"compress/zlib"
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
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
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
const (
	retainBudget = 32 << 20
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

// baseReader reads whole objects a thin pack's deltas are based on.
type baseReader func(h plumbing.Hash) (plumbing.ObjectType, []byte, error)

// indexPack reads a pack from r into dir, resolves its deltas and writes
// its index. Nothing outside dir is touched. A delta whose base is not in
// the pack (a thin pack, as git push sends) gets its base from bases,
// which is then appended to the pack so that it stands alone, as
// `git index-pack --fix-thin` does; with bases nil such a pack is refused.
func indexPack(ctx context.Context, r io.Reader, dir string, limit int64, bases baseReader) (*receivedPack, error) {
	f, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return nil, fmt.Errorf("create quarantine pack: %w", err)
	}
	defer f.Close()
	fileBuf := bufio.NewWriterSize(f, 256*1024)
	s := &packStream{
		r: r, buf: make([]byte, 64*1024), limit: limit,
		file: fileBuf, sum: sha1.New(), crc: crc32.NewIEEE(),
	}
	rp := &receivedPack{packPath: f.Name(), byHash: map[plumbing.Hash]int{}}

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
	rp.objects = make([]packObject, 0, min(count, 1<<16))
	byOffset := make(map[int64]int, min(count, 1<<16))

	var zr io.ReadCloser
	var retained int64
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
		o.dataOff = s.pos
		if zr == nil {
			if zr, err = zlib.NewReader(s); err != nil {
				return nil, fmt.Errorf("entry at %d: %w", o.off, err)
			}
		} else if err := zr.(zlib.Resetter).Reset(s, nil); err != nil {
			return nil, fmt.Errorf("entry at %d: %w", o.off, err)
		}
		var sink io.Writer = io.Discard
		var hasher plumbing.Hasher
		if !o.diskType.IsDelta() {
			hasher = plumbing.NewHasher(o.diskType, o.diskSize)
			sink = hasher
		}
		var kept *bytes.Buffer
		if o.diskSize <= retainMax && retained+o.diskSize <= retainBudget {
			kept = bytes.NewBuffer(make([]byte, 0, o.diskSize))
			retained += o.diskSize
			if !o.diskType.IsDelta() {
				sink = io.MultiWriter(hasher, kept)
			} else {
				sink = kept
			}
		}
		n, err := io.CopyBuffer(sink, io.LimitReader(zr, o.diskSize), copyBuf)
		if err != nil {
			return nil, fmt.Errorf("entry at %d: %w", o.off, err)
		}
		if n != o.diskSize {
			return nil, fmt.Errorf("entry at %d: inflated to %d bytes, header says %d", o.off, n, o.diskSize)
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

	if err := rp.resolveDeltas(ctx, f, bases); err != nil {
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

// resolveDeltas applies every delta to its base, depth first from each
// whole object, so each base is inflated once and only one chain is held
// in memory at a time.
func (rp *receivedPack) resolveDeltas(ctx context.Context, f *os.File, bases baseReader) error {
	defer func() {
		for i := range rp.objects {
			rp.objects[i].data = nil
		}
	}()
	if rp.deltas == 0 {
		return nil
	}
	ofsKids := map[int64][]int{}
	refKids := map[plumbing.Hash][]int{}
	for i := range rp.objects {
		o := &rp.objects[i]
		switch o.diskType {
		case objOFS:
			ofsKids[o.baseOff] = append(ofsKids[o.baseOff], i)
		case objREF:
			refKids[o.baseHash] = append(refKids[o.baseHash], i)
		}
	}
	rd := &odb{br: bufio.NewReaderSize(nil, 32*1024)}
	pf := &packFile{path: rp.packPath, f: f, size: rp.size}
	pf.data = mapFile(f, pf.size)
	defer unmapFile(pf.data)
	// Entries are in pack order, which is all entryEnd needs.
	pf.byOffset = make([]idxEntry, len(rp.objects))
	for i, o := range rp.objects {
		pf.byOffset[i] = idxEntry{off: o.off}
	}
	inflate := func(o *packObject) ([]byte, error) {
		if o.data != nil {
			d := o.data
			o.data = nil // each entry's data is used once
			return d, nil
		}
		return rd.inflate(pf, o.dataOff, o.diskSize)
	}
	resolved := 0
	var resolve func(base int, content []byte, depth int) error
	resolve = func(base int, content []byte, depth int) error {
		if depth > maxDeltaChain {
			return errors.New("delta chain too deep")
		}
		b := &rp.objects[base]
		kids := append(append([]int(nil), ofsKids[b.off]...), refKids[b.hash]...)
		for ki, k := range kids {
			if err := ctx.Err(); err != nil {
				return err
			}
			o := &rp.objects[k]
			if o.resolved {
				continue
			}
			delta, err := inflate(o)
			if err != nil {
				return err
			}
			target, err := applyDelta(content, delta)
			if err != nil {
				return fmt.Errorf("entry at %d: %w", o.off, err)
			}
			if ki == len(kids)-1 {
				// Let the base go before descending: along a chain (one
				// delta per base, as repacks write) memory then holds one
				// version at a time, not the whole chain.
				content = nil
			}
			hasher := plumbing.NewHasher(b.typ, int64(len(target)))
			hasher.Write(target)
			o.hash, o.typ, o.size, o.resolved = hasher.Sum(), b.typ, int64(len(target)), true
			if _, dup := rp.byHash[o.hash]; dup {
				return fmt.Errorf("pack contains %s twice", o.hash)
			}
			rp.byHash[o.hash] = k
			resolved++
			if len(ofsKids[o.off]) > 0 || len(refKids[o.hash]) > 0 {
				if err := resolve(k, target, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for i := range rp.objects {
		o := &rp.objects[i]
		if o.diskType.IsDelta() || (len(ofsKids[o.off]) == 0 && len(refKids[o.hash]) == 0) {
			continue
		}
		content, err := inflate(o)
		if err != nil {
			return err
		}
		if err := resolve(i, content, 1); err != nil {
			return err
		}
	}
	if resolved == rp.deltas {
		return nil
	}
	if bases == nil {
		return fmt.Errorf("pack has %d deltas whose base is not in the pack (thin packs are not accepted)", rp.deltas-resolved)
	}
	// A thin pack: the remaining deltas are based on objects the
	// repository has. Each base is appended to the pack, then its deltas
	// (and theirs, depth first) are resolved as above.
	var external []plumbing.Hash
	for h, kids := range refKids {
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
		typ, content, err := bases(h)
		if err != nil {
			return fmt.Errorf("delta base %s is neither in the pack nor in the repository: %w", h, err)
		}
		i, err := fx.appendWhole(h, typ, content)
		if err != nil {
			return err
		}
		if err := resolve(i, content, 1); err != nil {
			return err
		}
	}
	if resolved != rp.deltas {
		return fmt.Errorf("pack has %d deltas whose base could not be found", rp.deltas-resolved)
	}
	return fx.finish()
}

// thinFixer appends whole objects to a received pack, in place of its
// trailer, then rewrites the object count and the trailing checksum.
type thinFixer struct {
	f   *os.File
	rp  *receivedPack
	end int64 // where the next entry goes
	zw  *zlib.Writer
	buf bytes.Buffer
}

// appendWhole writes base as a whole entry at the end of the pack and
// records it; it returns the entry's index in rp.objects.
func (fx *thinFixer) appendWhole(h plumbing.Hash, typ plumbing.ObjectType, content []byte) (int, error) {
	fx.buf.Reset()
	fx.buf.Write(appendEntryHeader(nil, typ, int64(len(content))))
	if fx.zw == nil {
		fx.zw = zlib.NewWriter(&fx.buf)
	} else {
		fx.zw.Reset(&fx.buf)
	}
	if _, err := fx.zw.Write(content); err != nil {
		return 0, fmt.Errorf("append delta base: %w", err)
	}
	if err := fx.zw.Close(); err != nil {
		return 0, fmt.Errorf("append delta base: %w", err)
	}
	if _, err := fx.f.WriteAt(fx.buf.Bytes(), fx.end); err != nil {
		return 0, fmt.Errorf("append delta base: %w", err)
	}
	o := packObject{hash: h, typ: typ, size: int64(len(content)), off: fx.end, crc: crc32.ChecksumIEEE(fx.buf.Bytes()),
		diskType: typ, diskSize: int64(len(content)), resolved: true}
	fx.end += int64(fx.buf.Len())
	fx.rp.byHash[h] = len(fx.rp.objects)
	fx.rp.objects = append(fx.rp.objects, o)
	return len(fx.rp.objects) - 1, nil
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
