package gitserver

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/klauspost/compress/zlib"
)

// packWriter streams a pack for an enumeration. Stored entries are copied
// as they are on disk (compressed bytes, deltas included) whenever their
// delta base travels in the same pack or, for thin packs, is on the
// client; only the rest is inflated and compressed again. That is what
// makes it fast: go-git's encoder recompresses everything and searches
// deltas anew.
type packWriter struct {
	db       *odb
	out      io.Writer
	sum      hash.Hash
	n        int64
	ofsDelta bool
	thin     bool
	en       *enumeration

	written    map[plumbing.Hash]int64 // object -> offset in this pack
	inProgress map[plumbing.Hash]bool
	planned    map[plumbing.Hash]newDelta // new deltas for objects with no reusable one
	// stored names the entries of the objects sent and, once a base is
	// looked for among them, of the client's objects: what an OFS_DELTA's
	// base offset may point at that matters here. Looking bases up in it
	// spares a fetch the whole pack's entry list by offset (32 bytes an
	// entry, and a sort: on git/git 13 MiB and a fifth of a small
	// fetch's CPU).
	stored        map[cacheKey]plumbing.Hash
	clientIndexed bool
	buf           []byte
	zw            *zlib.Writer
	small         bytes.Buffer // a small object's zlib output, to compare
	alt           []byte       // its stored or fixed-Huffman alternative

	// have, when set, names stored delta bases the client has that the
	// walk did not meet (loadHaveSet).
	have *haveSet

	deltas, reused, reusedDeltas int
}

var errDeltaCycle = errors.New("delta cycle")

func newPackWriter(db *odb, out io.Writer, en *enumeration, ofsDelta, thin bool) *packWriter {
	return &packWriter{
		db:         db,
		out:        out,
		sum:        sha1.New(),
		ofsDelta:   ofsDelta,
		thin:       thin,
		en:         en,
		written:    make(map[plumbing.Hash]int64, len(en.objects)),
		inProgress: map[plumbing.Hash]bool{},
		planned:    map[plumbing.Hash]newDelta{},
		stored:     make(map[cacheKey]plumbing.Hash, len(en.objects)),
		buf:        make([]byte, 64*1024),
	}
}

// Write makes packWriter the sink of its own zlib writer.
func (pw *packWriter) Write(p []byte) (int, error) {
	n, err := pw.out.Write(p)
	pw.sum.Write(p[:n])
	pw.n += int64(n)
	return n, err
}

func (pw *packWriter) writePack(tick func() error) error {
	locs := pw.order()
	if err := pw.planDeltas(locs, tick); err != nil {
		return err
	}
	var hdr [12]byte
	copy(hdr[:4], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(pw.en.count()))
	if _, err := pw.Write(hdr[:]); err != nil {
		return err
	}
	if pw.en.reuse != nil {
		if err := pw.writeReused(pw.en.reuse, tick); err != nil {
			return err
		}
	}
	for i, l := range locs {
		if i&255 == 0 {
			if err := tick(); err != nil {
				return err
			}
		}
		if err := pw.writeObject(l.h); err != nil {
			return err
		}
	}
	if len(pw.written) != len(pw.en.objects) {
		return fmt.Errorf("pack writer: wrote %d objects, announced %d", len(pw.written), len(pw.en.objects))
	}
	_, err := pw.out.Write(pw.sum.Sum(nil))
	return err
}

// objLoc is an object of the pack and where it is stored (p nil: loose).
type objLoc struct {
	h    plumbing.Hash
	p    *packFile
	off  int64
	name uint32 // enumeration.names
}

// order lists the objects by where they are stored, so that copying them
// reads each pack front to back; loose objects go last. The client does
// not care about order beyond bases preceding their deltas, which
// writeObject ensures.
func (pw *packWriter) order() []objLoc {
	rank := map[*packFile]int{}
	for i, p := range pw.db.packs {
		rank[p] = i
	}
	locs := make([]objLoc, len(pw.en.objects))
	for i, h := range pw.en.objects {
		locs[i] = objLoc{h: h, off: int64(i)}
		if i < len(pw.en.names) {
			locs[i].name = pw.en.names[i]
		}
		if p, off, ok := pw.db.find(h); ok {
			locs[i].p, locs[i].off = p, off
			pw.stored[cacheKey{p, off}] = h
		}
	}
	packRank := func(l objLoc) int {
		if l.p == nil {
			return len(pw.db.packs)
		}
		return rank[l.p]
	}
	sort.Slice(locs, func(i, j int) bool {
		if a, b := packRank(locs[i]), packRank(locs[j]); a != b {
			return a < b
		}
		return locs[i].off < locs[j].off
	})
	return locs
}

// ofsBase names the base of an OFS_DELTA entry of p when it is an
// object sent or one the client has; for any other base it returns the
// zero hash, which is neither, so the entry is not reused as a delta.
// Reused entries (a reachability index) can be the base of anything and
// are named by the pack's entry list.
func (pw *packWriter) ofsBase(p *packFile, off int64) (plumbing.Hash, error) {
	if pw.en.reuse != nil {
		return p.hashAt(off)
	}
	if h, ok := pw.stored[cacheKey{p, off}]; ok {
		return h, nil
	}
	if !pw.clientIndexed {
		pw.clientIndexed = true
		for h := range pw.en.clientHas {
			if cp, coff, ok := pw.db.find(h); ok {
				if _, dup := pw.stored[cacheKey{cp, coff}]; !dup {
					pw.stored[cacheKey{cp, coff}] = h
				}
			}
		}
		if h, ok := pw.stored[cacheKey{p, off}]; ok {
			return h, nil
		}
	}
	return plumbing.ZeroHash, nil
}

func (pw *packWriter) writeObject(h plumbing.Hash) error {
	if _, ok := pw.written[h]; ok {
		return nil
	}
	if pw.inProgress[h] {
		return errDeltaCycle
	}
	p, off, ok := pw.db.find(h)
	if !ok {
		return pw.writeUnstored(h)
	}
	eh, err := p.header(off)
	if err != nil {
		return err
	}
	end, err := p.entryEnd(off)
	if err != nil {
		return err
	}
	var base plumbing.Hash
	switch eh.typ {
	case objOFS:
		if base, err = pw.ofsBase(p, eh.baseOff); err != nil {
			return err
		}
	case objREF:
		base = eh.baseHash
	default:
		if end-off >= thinWholeMin {
			if done, err := pw.thinDelta(h); done || err != nil {
				return err
			}
		}
		pw.written[h] = pw.n
		pw.reused++
		return pw.copyEntry(h, p, off, eh, end, eh.raw[:eh.hdrLen])
	}

	// The stored delta is reused when its base travels first in this
	// pack or, for a thin pack, is on the client.
	var hdr []byte
	switch {
	case pw.en.reuse.sends(base):
		boff, ok := pw.en.reuse.sentAt(base)
		if !ok {
			return fmt.Errorf("pack reuse: base %s of %s not written first", base, h)
		}
		if pw.ofsDelta {
			hdr = appendOfsDistance(appendEntryHeader(nil, objOFS, eh.size), pw.n-boff)
		} else {
			hdr = refDeltaHeader(eh.size, base)
		}
	case pw.en.sending[base]:
		pw.inProgress[h] = true
		err := pw.writeObject(base)
		delete(pw.inProgress, h)
		if errors.Is(err, errDeltaCycle) {
			return pw.writeFull(h)
		}
		if err != nil {
			return err
		}
		if pw.ofsDelta {
			hdr = appendOfsDistance(appendEntryHeader(nil, objOFS, eh.size), pw.n-pw.written[base])
		} else {
			hdr = refDeltaHeader(eh.size, base)
		}
	case pw.onClient(p, eh, &base):
		hdr = refDeltaHeader(eh.size, base)
	default:
		return pw.writeUnstored(h)
	}
	pw.written[h] = pw.n
	pw.reused++
	pw.reusedDeltas++
	pw.deltas++
	return pw.copyEntry(h, p, off, eh, end, hdr)
}

// onClient reports whether a thin pack may leave base, that of the
// stored delta eh, to the client: the walk met it there, or (an
// OFS_DELTA whose base ofsBase could not name) the have bitmaps hold it,
// which then name it in base.
func (pw *packWriter) onClient(p *packFile, eh entryHeader, base *plumbing.Hash) bool {
	switch {
	case !pw.thin:
		return false
	case pw.en.clientHas[*base]:
		return pw.filteredBaseOK(*base)
	case eh.typ == objOFS && base.IsZero():
		h, ok := pw.have.base(p, eh.baseOff)
		if ok {
			*base = h
		}
		return ok
	}
	return false
}

// writeUnstored writes an object that has no stored entry to copy (it
// is loose, or its stored delta's base is not sent): as a thin delta
// against the client's previous version, as the delta planDeltas found,
// or whole.
func (pw *packWriter) writeUnstored(h plumbing.Hash) error {
	if done, err := pw.thinDelta(h); done || err != nil {
		delete(pw.planned, h)
		return err
	}
	d, ok := pw.planned[h]
	if !ok {
		return pw.writeFull(h)
	}
	delete(pw.planned, h)
	pw.inProgress[h] = true
	err := pw.writeObject(d.base)
	delete(pw.inProgress, h)
	if errors.Is(err, errDeltaCycle) {
		return pw.writeFull(h)
	}
	if err != nil {
		return err
	}
	var hdr []byte
	if pw.ofsDelta {
		hdr = appendOfsDistance(appendEntryHeader(nil, objOFS, int64(len(d.delta))), pw.n-pw.written[d.base])
	} else {
		hdr = refDeltaHeader(int64(len(d.delta)), d.base)
	}
	pw.written[h] = pw.n
	pw.deltas++
	if _, err := pw.Write(hdr); err != nil {
		return err
	}
	return pw.deflate(d.delta)
}

// Bounds for computing a new delta against the client's copy: below
// the minimum a delta saves nothing, above the maximum the two objects
// held in memory cost more than the bytes saved.
const (
	thinDeltaMin = 256
	thinDeltaMax = 16 << 20
	// thinWholeMin is the stored size from which an object stored whole
	// is sent as a delta against the client's copy rather than copied.
	// Below it the bytes saved are a few KiB an object, and both sides
	// pay for them: the server reads the client's version through its
	// delta chain, the client resolves the delta against its own. On
	// go-git's fetch of 50 commits, computing them for every such object
	// made a pack of 105 KiB instead of 339 KiB, at 1.8x the server's
	// CPU and 1.3x the fetch's wall time. A large file edited a little
	// still goes as a delta. (C git sends whole what it stores whole.)
	thinWholeMin = 32 << 10
)

// thinDelta writes h as a delta against the previous version the client
// has (enumeration.deltaBase), when thin packs are allowed and the delta
// is less than half the object. Only objects the pack writer could not
// reuse as deltas get here, so this runs for few objects per fetch.
func (pw *packWriter) thinDelta(h plumbing.Hash) (bool, error) {
	if !pw.thinBase(h) {
		return false, nil
	}
	base := pw.en.deltaBase[h]
	typ, target, err := pw.db.read(h)
	if err != nil {
		return false, err
	}
	if len(target) < thinDeltaMin || len(target) > thinDeltaMax {
		return false, nil
	}
	btyp, src, err := pw.db.read(base)
	if err != nil || btyp != typ || len(src) == 0 || len(src) > thinDeltaMax {
		return false, nil
	}
	// The same encoder as the delta search and the repack: go-git's
	// DiffDelta indexes the base more slowly.
	delta := newDeltaIndex(src).encode(target, len(target)/2)
	if delta == nil || len(delta) >= len(target)/2 {
		return false, nil
	}
	// Trust but verify: a wrong delta would corrupt the client's object.
	if check, err := applyDelta(src, delta); err != nil || !bytes.Equal(check, target) {
		return false, nil
	}
	pw.written[h] = pw.n
	pw.deltas++
	if _, err := pw.Write(refDeltaHeader(int64(len(delta)), base)); err != nil {
		return true, err
	}
	return true, pw.deflate(delta)
}

// thinBase reports whether h has a previous version on the client that
// thinDelta may use.
func (pw *packWriter) thinBase(h plumbing.Hash) bool {
	base, ok := pw.en.deltaBase[h]
	return pw.thin && ok && pw.en.clientHas[base] && pw.filteredBaseOK(base)
}

// filteredBaseOK reports whether a partial clone can be trusted to hold
// base, an object of a commit it has: only if the fetch's filter would
// have let base through. (A tree:<depth> filter needs no check: the base
// is at the same path as the object sent, so at the same depth.)
func (pw *packWriter) filteredBaseOK(base plumbing.Hash) bool {
	f := pw.en.filter
	if f == nil || f.blobLimit < 0 {
		return true
	}
	typ, err := pw.db.typeOf(base)
	if err != nil {
		return false
	}
	if typ != objBlob {
		return true
	}
	if f.blobLimit == 0 {
		return false
	}
	size, err := pw.db.sizeOf(base)
	return err == nil && size < f.blobLimit
}

// copyEntry writes hdr and then the stored zlib stream of the entry,
// checking it against the CRC the index recorded so a damaged pack is
// not passed on silently.
func (pw *packWriter) copyEntry(h plumbing.Hash, p *packFile, off int64, eh entryHeader, end int64, hdr []byte) error {
	if _, err := pw.Write(hdr); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	crc.Write(eh.raw[:eh.hdrLen])
	dataOff := off + eh.hdrLen
	if end < dataOff {
		return fmt.Errorf("pack %s: bad entry bounds at %d", p.path, off)
	}
	if p.data != nil || end-dataOff <= packWindow {
		v, err := p.view(dataOff, end-dataOff)
		if err != nil {
			return err
		}
		crc.Write(v)
		if _, err := pw.Write(v); err != nil {
			return err
		}
	} else {
		r := io.NewSectionReader(p.f, dataOff, end-dataOff)
		for {
			n, err := r.Read(pw.buf)
			if n > 0 {
				crc.Write(pw.buf[:n])
				if _, werr := pw.Write(pw.buf[:n]); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", p.path, err)
			}
		}
	}
	if p.idx.Version == 2 {
		if want, ok := idxCRC32(p.idx, h); ok && want != crc.Sum32() {
			return fmt.Errorf("object %s: CRC mismatch in %s", h, p.path)
		}
	}
	return nil
}

// writeFull writes an object as a whole, recompressed entry.
func (pw *packWriter) writeFull(h plumbing.Hash) error {
	typ, data, err := pw.db.read(h)
	if err != nil {
		return err
	}
	pw.written[h] = pw.n
	if _, err := pw.Write(appendEntryHeader(nil, typ, int64(len(data)))); err != nil {
		return err
	}
	return pw.deflate(data)
}

func (pw *packWriter) deflate(data []byte) error {
	if len(data) > smallDeflateMax {
		return pw.zlibTo(pw, data)
	}
	// Small: keep the smallest of zlib's output, a stored block and
	// fixed-Huffman literals (see zsmall.go).
	pw.small.Reset()
	if err := pw.zlibTo(&pw.small, data); err != nil {
		return err
	}
	best := pw.small.Bytes()
	if fixed := fixedLiteralBytes(data); fixed < len(best) && fixed <= len(data)+11 {
		best = appendZlibFixed(pw.alt[:0], data)
	} else if len(data)+11 < len(best) {
		best = appendZlibStored(pw.alt[:0], data)
	}
	_, err := pw.Write(best)
	return err
}

func (pw *packWriter) zlibTo(w io.Writer, data []byte) error {
	if pw.zw == nil {
		pw.zw, _ = zlib.NewWriterLevel(w, 6) // git's core.compression default
	} else {
		pw.zw.Reset(w)
	}
	if _, err := pw.zw.Write(data); err != nil {
		return err
	}
	return pw.zw.Close()
}

func appendEntryHeader(dst []byte, typ plumbing.ObjectType, size int64) []byte {
	c := byte(typ)<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		dst = append(dst, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	return append(dst, c)
}

// refDeltaHeader is the header of a REF_DELTA entry against base.
func refDeltaHeader(size int64, base plumbing.Hash) []byte {
	return append(appendEntryHeader(nil, objREF, size), base[:]...)
}

// appendOfsDistance encodes an OFS_DELTA base distance in git's
// big-endian, off-by-one varint.
func appendOfsDistance(dst []byte, dist int64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(dist & 0x7f)
	for dist >>= 7; dist > 0; dist >>= 7 {
		dist--
		i--
		tmp[i] = 0x80 | byte(dist&0x7f)
	}
	return append(dst, tmp[i:]...)
}
