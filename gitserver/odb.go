package gitserver

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/klauspost/compress/zlib"
)

// Pack entry types as stored in the pack header (plumbing.ObjectType uses
// the same numbers).
const (
	objCommit = plumbing.CommitObject
	objTree   = plumbing.TreeObject
	objBlob   = plumbing.BlobObject
	objTag    = plumbing.TagObject
	objOFS    = plumbing.OFSDeltaObject
	objREF    = plumbing.REFDeltaObject
)

const (
	maxDeltaChain  = 10000
	baseCacheBytes = 64 << 20
	// fetchCacheBytes is the delta base cache of a fetch: a shallow
	// clone of git/git filled 64 MiB with bases it never read again
	// (peak RSS 210 MiB against 143 MiB with 8 MiB, same CPU). The
	// repack, which walks long chains of large objects, keeps the larger.
	fetchCacheBytes = 4 << 20
	// fetchTreeCacheBytes bounds the parsed trees a fetch keeps: its
	// walk compares each commit's trees with its parents' and the
	// client's, met again within a few commits, not across the history.
	fetchTreeCacheBytes = 4 << 20
)

// odb reads a repository's objects directly from its packs and loose
// files. go-git's storage hides where and how an object is stored; the pack
// writer needs exactly that to copy stored (already compressed, often
// deltified) entries instead of recompressing. One odb serves one request
// and is not safe for concurrent use.
type odb struct {
	objDir string
	packs  []*packFile
	cache  *lru[cacheKey, cachedObject] // resolved delta bases
	br     *bufio.Reader
	rd     bytes.Reader
	zr     io.ReadCloser

	// maxObject bounds the size of any object this odb materializes
	// (0: maxObjectCeiling); receive sets the file size limit.
	maxObject int64

	// looseDirs are the objects/xx directories present when
	// hasPermanent first looked: a push's check asks about every object
	// it brings, and a stat for each was a second of a first push of
	// git/git, where there is no loose object at all.
	looseDirs *[256]bool
}

func (db *odb) objectLimit() int64 {
	if db.maxObject > 0 {
		return db.maxObject
	}
	return maxObjectCeiling
}

type packFile struct {
	path       string
	f          *os.File
	size       int64
	idx        *idxfile.MemoryIndex
	quarantine bool // a received pack not yet moved into objects/pack

	byOffset []idxEntry // sorted by offset, built on first use
	// offsets are the entries' offsets in order, built on first use when
	// byOffset is not there: where an entry ends is all most fetches ask,
	// and 4 bytes an entry answer that (byOffset takes 32); offsets64
	// replaces it for packs of 4 GiB and more.
	offsets   []uint32
	offsets64 []int64

	// data maps the whole pack where the platform allows; otherwise a
	// read window serves small entries near the previous one (pack
	// writing follows pack order) from one pread.
	data   []byte
	win    []byte
	winOff int64
}

const (
	packWindow   = 64 * 1024
	randomWindow = 8 * 1024
)

// view returns n bytes at off, from the window when they fit in it. The
// slice is only valid until the next call; n larger than the window
// allocates.
func (p *packFile) view(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > p.size {
		return nil, fmt.Errorf("read %s: range %d+%d outside the pack", filepath.Base(p.path), off, n)
	}
	if p.data != nil {
		return p.data[off : off+n : off+n], nil
	}
	if n > packWindow {
		b := make([]byte, n)
		if _, err := p.f.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Base(p.path), err)
		}
		return b, nil
	}
	if p.win != nil && off >= p.winOff && off+n <= p.winOff+int64(len(p.win)) {
		return p.win[off-p.winOff : off-p.winOff+n], nil
	}
	if cap(p.win) < packWindow {
		p.win = make([]byte, packWindow)
	}
	// A read just past the window (pack order: copying entries, a
	// repack) gets the whole window; one elsewhere (a walk, a delta
	// chain) gets a small read, which is what it will use.
	w := int64(packWindow)
	if len(p.win) > 0 && (off < p.winOff || off > p.winOff+int64(len(p.win))+packWindow) {
		w = max(n, randomWindow)
	}
	m := min(w, p.size-off)
	p.win = p.win[:m]
	if _, err := p.f.ReadAt(p.win, off); err != nil {
		p.win = p.win[:0]
		return nil, fmt.Errorf("read %s: %w", filepath.Base(p.path), err)
	}
	p.winOff = off
	return p.win[:n], nil
}

type idxEntry struct {
	off  int64
	hash plumbing.Hash
}

// entryHeader is the decoded header of one pack entry.
type entryHeader struct {
	typ      plumbing.ObjectType // may be objOFS or objREF
	size     int64               // inflated size of the entry's data
	hdrLen   int64               // bytes before the zlib stream
	baseOff  int64               // objOFS: absolute offset of the base
	baseHash plumbing.Hash       // objREF
	raw      [32]byte            // header bytes, for CRC checks on reuse
}

func openODB(repoPath string) (*odb, error) {
	// Maintain replaces packs: a pack listed a moment ago may be gone by
	// the time it is opened, its objects now in a newer pack. Listing
	// again finds that one.
	for attempt := 0; ; attempt++ {
		db, vanished, err := tryOpenODB(repoPath)
		if err != nil || !vanished || attempt == 2 {
			return db, err
		}
		db.close()
	}
}

func tryOpenODB(repoPath string) (db *odb, vanished bool, err error) {
	db = &odb{
		objDir: filepath.Join(repoPath, "objects"),
		cache:  newLRU[cacheKey](baseCacheBytes, func(o cachedObject) int { return len(o.data) + 64 }),
		br:     bufio.NewReaderSize(nil, 32*1024),
	}
	packDir := filepath.Join(db.objDir, "pack")
	ents, err := os.ReadDir(packDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("list packs: %w", err)
	}
	// Newest first: recently pushed objects are the ones most looked up.
	// DirEntry.Info stats the file on every call, so each index is
	// stat'ed once here rather than inside the comparison.
	type idxFile struct {
		name string
		info fs.FileInfo // nil if it could not be stat'ed
	}
	var idxs []idxFile
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, "pack-") && strings.HasSuffix(name, ".idx") {
			info, _ := e.Info()
			idxs = append(idxs, idxFile{name, info})
		}
	}
	sort.Slice(idxs, func(i, j int) bool {
		ii, jj := idxs[i].info, idxs[j].info
		if ii == nil || jj == nil {
			return idxs[i].name < idxs[j].name
		}
		return ii.ModTime().After(jj.ModTime())
	})
	for _, e := range idxs {
		base := filepath.Join(packDir, strings.TrimSuffix(e.name, ".idx"))
		idx, err := readIdx(base + ".idx")
		if errors.Is(err, fs.ErrNotExist) {
			vanished = true
			continue
		}
		if err != nil {
			db.close()
			return nil, false, err
		}
		if err := db.addPack(base+".pack", idx, false); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Either still arriving (the idx is renamed in first; no
				// ref points into it yet) or just replaced by Maintain.
				vanished = true
				continue
			}
			db.close()
			return nil, false, err
		}
	}
	return db, vanished, nil
}

// readIdx opens a pack index (version 2) for reading objects. Its tables
// are slices of the file, mapped where the platform allows (read in one
// piece elsewhere), checked as go-git's decoder checks them (magic,
// version, fanout order, size) except for the checksum of the whole
// file, which git does not verify on open either: hashing git/git's
// 12 MiB index took a tenth of a small fetch's CPU, and reading it
// 12 MiB of heap, where a fetch looks up a few thousand names and the
// mapping holds only the pages they touch. verifyIdx checks the sum;
// maintenance runs it before trusting an index to rewrite a pack.
// (go-git's decoder copies every table into buckets of its own and
// hashes with collision-detecting SHA-1: 17 MiB and more CPU still.)
//
// The mapping is released when the index is no longer reachable, not
// when the odb closes: an index still in use after that reads valid
// memory instead of crashing the server.
func readIdx(path string) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b := mapFile(f, st.Size())
	mapped := b != nil
	if !mapped {
		if b, err = io.ReadAll(f); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	idx, err := parseIdxTables(b, false)
	if err != nil {
		if mapped {
			unmapFile(b)
		}
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if mapped {
		runtime.AddCleanup(idx, unmapFile, b)
	}
	return idx, nil
}

// verifyIdx checks a pack index's checksum, which readIdx leaves alone.
func verifyIdx(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if _, err := parseIdx(b); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	return nil
}

const (
	idxHeaderLen = 8 + 256*4 // magic, version, fanout
	idxEntryLen  = 20 + 4 + 4
)

// parseIdx decodes a pack index and verifies its checksum.
func parseIdx(b []byte) (*idxfile.MemoryIndex, error) { return parseIdxTables(b, true) }

func parseIdxTables(b []byte, checksum bool) (*idxfile.MemoryIndex, error) {
	if len(b) < idxHeaderLen+40 || !bytes.Equal(b[:4], []byte{0xff, 't', 'O', 'c'}) {
		return nil, idxfile.ErrMalformedIdxFile
	}
	idx := idxfile.NewMemoryIndex()
	if v := binary.BigEndian.Uint32(b[4:]); v != idxfile.VersionSupported {
		return nil, fmt.Errorf("%w: v%d", idxfile.ErrUnsupportedVersion, v)
	}
	idx.Version = idxfile.VersionSupported
	for k := range 256 {
		idx.Fanout[k] = binary.BigEndian.Uint32(b[8+4*k:])
		if k > 0 && idx.Fanout[k] < idx.Fanout[k-1] {
			return nil, fmt.Errorf("%w: fanout table is not monotonically non-decreasing at entry %d", idxfile.ErrMalformedIdxFile, k)
		}
		idx.FanoutMapping[k] = -1
	}
	n := int64(idx.Fanout[255])
	if n > int64(len(b)-idxHeaderLen-40)/idxEntryLen {
		return nil, fmt.Errorf("%w: file size %d is inconsistent with object count %d", idxfile.ErrMalformedIdxFile, len(b), n)
	}
	names := b[idxHeaderLen : idxHeaderLen+20*n]
	crcs := b[idxHeaderLen+20*n : idxHeaderLen+24*n]
	offs := b[idxHeaderLen+24*n : idxHeaderLen+28*n]
	// What follows the 32-bit offsets is the table of 64-bit ones, at
	// most one per object, then the two checksums. Counting the offsets
	// that point into it would read the whole offset table (1.6 MiB on
	// git/git) on every open; a lookup through a damaged one fails its
	// bounds check instead.
	end := int64(len(b))
	large := end - (idxHeaderLen + idxEntryLen*n + 40)
	if large < 0 || large%8 != 0 || large/8 > n {
		return nil, fmt.Errorf("%w: file size %d is inconsistent with object count %d", idxfile.ErrMalformedIdxFile, len(b), n)
	}
	large /= 8
	if checksum {
		var want int64
		for i := int64(0); i < n; i++ {
			if offs[4*i]&0x80 != 0 {
				want++
			}
		}
		if want != large {
			return nil, fmt.Errorf("%w: file size %d is inconsistent with object count %d", idxfile.ErrMalformedIdxFile, len(b), n)
		}
		if sum := sha1.Sum(b[:end-20]); !bytes.Equal(sum[:], b[end-20:]) {
			return nil, fmt.Errorf("%w: checksum mismatch", idxfile.ErrMalformedIdxFile)
		}
	}
	var prev int64
	for k := range 256 {
		next := int64(idx.Fanout[k])
		if next == prev {
			continue
		}
		idx.FanoutMapping[k] = len(idx.Names)
		// Full slice expressions: a bucket never grows into the next.
		idx.Names = append(idx.Names, names[20*prev:20*next:20*next])
		idx.CRC32 = append(idx.CRC32, crcs[4*prev:4*next:4*next])
		idx.Offset32 = append(idx.Offset32, offs[4*prev:4*next:4*next])
		prev = next
	}
	if large > 0 {
		idx.Offset64 = b[idxHeaderLen+28*n : idxHeaderLen+28*n+8*large : idxHeaderLen+28*n+8*large]
	}
	copy(idx.PackfileChecksum[:], b[end-40:end-20])
	copy(idx.IdxChecksum[:], b[end-20:])
	return idx, nil
}

// addPack makes a pack readable. Quarantined packs are searched first so a
// push's own objects are found without touching the other packs.
func (db *odb) addPack(path string, idx *idxfile.MemoryIndex, quarantine bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open pack: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat pack: %w", err)
	}
	p := &packFile{path: path, f: f, size: st.Size(), idx: idx, quarantine: quarantine}
	p.data = mapFile(f, p.size)
	if quarantine {
		db.packs = append([]*packFile{p}, db.packs...)
	} else {
		db.packs = append(db.packs, p)
	}
	return nil
}

// close releases the pack files; it may be called more than once.
// setCacheBudget replaces the delta base cache with one of max bytes.
func (db *odb) setCacheBudget(max int) {
	db.cache = newLRU[cacheKey](max, func(o cachedObject) int { return len(o.data) + 64 })
}

// fork returns a reader over the same packs for another goroutine. The
// open files (read by pread), mappings and indexes are shared: the entry
// offsets are built here, before sharing, so neither reader builds them
// again. The read windows, the zlib state and the delta base cache (of
// cacheBytes) are the fork's own, as they are not safe to share.
func (db *odb) fork(cacheBytes int) (*odb, error) {
	f := &odb{
		objDir:    db.objDir,
		cache:     newLRU[cacheKey](cacheBytes, func(o cachedObject) int { return len(o.data) + 64 }),
		br:        bufio.NewReaderSize(nil, 32*1024),
		maxObject: db.maxObject,
	}
	for _, p := range db.packs {
		if p.data == nil && p.byOffset == nil {
			if err := p.sortOffsets(); err != nil {
				return nil, err
			}
		}
		c := *p
		c.win, c.winOff = nil, 0
		f.packs = append(f.packs, &c)
	}
	return f, nil
}

// unmapPacks makes the packs read by pread through a window instead of
// their mapping. Every page of a mapping once touched counts in the
// process's memory until it is unmapped, and the kernel maps pages
// around each one read (64 KiB): a fetch that resolves delta chains
// scattered over a large pack holds far more of it than it reads.
func (db *odb) unmapPacks() {
	for _, p := range db.packs {
		unmapFile(p.data)
		p.data = nil
	}
}

func (db *odb) close() {
	for _, p := range db.packs {
		unmapFile(p.data)
		p.data = nil
		p.f.Close()
	}
	db.packs = nil
}

func (db *odb) find(h plumbing.Hash) (*packFile, int64, bool) {
	for _, p := range db.packs {
		if off, ok := idxOffset(p.idx, h); ok {
			return p, off, true
		}
	}
	return nil, 0, false
}

// idxOffset is where h is stored in the index's pack. It reads the
// tables as go-git's FindOffset does, without what FindOffset adds: a
// lock and an entry in a map of every offset ever looked up, which
// grows without bound over a walk of the whole history (the reachability
// index's, maintenance's) and is never read here.
func idxOffset(idx *idxfile.MemoryIndex, h plumbing.Hash) (int64, bool) {
	k, i, ok := idxFind(idx, h)
	if !ok || 4*i+4 > len(idx.Offset32[k]) {
		return 0, false
	}
	off := int64(binary.BigEndian.Uint32(idx.Offset32[k][4*i:]))
	if off&0x80000000 != 0 {
		j := 8 * (off &^ 0x80000000)
		if j+8 > int64(len(idx.Offset64)) {
			return 0, false
		}
		off = int64(binary.BigEndian.Uint64(idx.Offset64[j:]))
	}
	return off, true
}

// idxCRC32 is the CRC the index records for h's entry (go-git's
// FindCRC32 searches names with bytes.Compare: over a blob-less clone of
// git/git, a third of the server's CPU).
func idxCRC32(idx *idxfile.MemoryIndex, h plumbing.Hash) (uint32, bool) {
	k, i, ok := idxFind(idx, h)
	if !ok || k >= len(idx.CRC32) || 4*i+4 > len(idx.CRC32[k]) {
		return 0, false
	}
	return binary.BigEndian.Uint32(idx.CRC32[k][4*i:]), true
}

// idxFind finds h in the index: its fanout bucket k (into Names, CRC32,
// Offset32) and its place i there. Names are compared by their first
// eight bytes as numbers, whole only on a tie: walks look up every entry
// of every tree of a history, and bytes.Compare was most of their time.
func idxFind(idx *idxfile.MemoryIndex, h plumbing.Hash) (k, i int, ok bool) {
	k = idx.FanoutMapping[h[0]]
	if k < 0 || k >= len(idx.Names) || k >= len(idx.Offset32) {
		return 0, 0, false
	}
	names := idx.Names[k]
	n := min(len(names)/20, len(idx.Offset32[k])/4)
	key := binary.BigEndian.Uint64(h[:8])
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		name := names[20*m : 20*m+20]
		v := binary.BigEndian.Uint64(name)
		if v < key || v == key && bytes.Compare(name, h[:]) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo >= n || !bytes.Equal(names[20*lo:20*lo+20], h[:]) {
		return 0, 0, false
	}
	return k, lo, true
}

func (db *odb) loosePath(h plumbing.Hash) string {
	s := h.String()
	return filepath.Join(db.objDir, s[:2], s[2:])
}

func (db *odb) has(h plumbing.Hash) bool {
	if _, _, ok := db.find(h); ok {
		return true
	}
	_, err := os.Stat(db.loosePath(h))
	return err == nil
}

// hasPermanent ignores quarantined packs: it answers whether the object was
// already in the repository before the push being checked.
func (db *odb) hasPermanent(h plumbing.Hash) bool {
	for _, p := range db.packs {
		if p.quarantine {
			continue
		}
		if _, _, ok := idxFind(p.idx, h); ok {
			return true
		}
	}
	if db.looseDirs == nil {
		db.looseDirs = listLooseDirs(db.objDir)
	}
	if !db.looseDirs[h[0]] {
		return false
	}
	_, err := os.Stat(db.loosePath(h))
	return err == nil
}

// listLooseDirs says which objects/xx directories exist (all of them
// when the listing fails, so that each name is looked for).
func listLooseDirs(objDir string) *[256]bool {
	var dirs [256]bool
	ents, err := os.ReadDir(objDir)
	if err != nil {
		for i := range dirs {
			dirs[i] = true
		}
		return &dirs
	}
	for _, e := range ents {
		if b, err := hex.DecodeString(e.Name()); err == nil && len(b) == 1 && e.IsDir() {
			dirs[b[0]] = true
		}
	}
	return &dirs
}

// header decodes the entry header at off.
func (p *packFile) header(off int64) (entryHeader, error) {
	v, err := p.view(off, min(32, p.size-off))
	if err != nil {
		return entryHeader{}, err
	}
	return parseHeaderBytes(v, off)
}

// parseHeaderBytes decodes an entry header from the bytes at off.
func parseHeaderBytes(v []byte, off int64) (entryHeader, error) {
	var h entryHeader
	n := copy(h.raw[:], v)
	i := 0
	err := decodeEntryHeader(&h, off, func() (byte, error) {
		if i >= n {
			return 0, errors.New("truncated header")
		}
		i++
		return h.raw[i-1], nil
	})
	if err == nil && !isEntryType(h.typ) {
		err = fmt.Errorf("bad type %d", h.typ)
	}
	if err != nil {
		return h, fmt.Errorf("pack entry at %d: %w", off, err)
	}
	h.hdrLen = int64(i)
	return h, nil
}

// decodeEntryHeader sets h's type, size and delta base from the header
// of the pack entry at off, whose bytes next yields: from memory for a
// stored pack, from the network for a pushed one (indexPack). Errors of
// next are returned as they are, the others without position. The type
// is not checked: an unknown one is followed by nothing to decode.
func decodeEntryHeader(h *entryHeader, off int64, next func() (byte, error)) error {
	c, err := next()
	if err != nil {
		return err
	}
	h.typ = plumbing.ObjectType((c >> 4) & 7)
	h.size = int64(c & 0x0f)
	for shift := uint(4); c&0x80 != 0; shift += 7 {
		if shift > 56 {
			return errors.New("size overflow")
		}
		if c, err = next(); err != nil {
			return err
		}
		h.size |= int64(c&0x7f) << shift
	}
	switch h.typ {
	case objOFS:
		if c, err = next(); err != nil {
			return err
		}
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if c, err = next(); err != nil {
				return err
			}
			if rel > 1<<55 {
				return errors.New("offset overflow")
			}
			rel = ((rel + 1) << 7) | int64(c&0x7f)
		}
		if rel <= 0 || rel > off {
			return errors.New("bad delta base offset")
		}
		h.baseOff = off - rel
	case objREF:
		for i := range h.baseHash {
			if h.baseHash[i], err = next(); err != nil {
				return err
			}
		}
	}
	return nil
}

// isEntryType reports whether t may stand in a pack entry header.
func isEntryType(t plumbing.ObjectType) bool {
	switch t {
	case objCommit, objTree, objBlob, objTag, objOFS, objREF:
		return true
	}
	return false
}

// sortedEntries returns the pack's entries by offset; the end of an entry
// is the start of the next one (or the trailer). It is built straight from
// the index's tables: go-git's EntriesByOffset allocates an entry per
// object and sorts through an interface, which on git/git (400k objects)
// cost more than the rest of a small fetch.
func (p *packFile) sortedEntries() ([]idxEntry, error) {
	if p.byOffset != nil {
		return p.byOffset, nil
	}
	n, err := p.idx.Count()
	if err != nil {
		return nil, fmt.Errorf("index entries: %w", err)
	}
	var out []idxEntry
	if p.size <= math.MaxUint32 && n <= math.MaxUint32 {
		// Sort offset<<32|index position by radix, then name each: a
		// blob-less clone of git/git waited 160 ms for slices.SortFunc
		// over the 32-byte entries before sending a byte.
		keys := make([]uint64, 0, n)
		var g uint64
		err = p.eachIndexEntry(func(off int64, _ []byte) {
			keys = append(keys, uint64(off)<<32|g)
			g++
		})
		if err != nil {
			return nil, err
		}
		radixSortHigh(keys)
		out = make([]idxEntry, len(keys))
		for i, k := range keys {
			h, ok := idxName(p, uint32(k))
			if !ok {
				return nil, fmt.Errorf("index entries: no name at %d in %s", uint32(k), filepath.Base(p.path))
			}
			out[i] = idxEntry{off: int64(k >> 32), hash: h}
		}
	} else {
		out = make([]idxEntry, 0, n)
		err = p.eachIndexEntry(func(off int64, name []byte) {
			e := idxEntry{off: off}
			copy(e.hash[:], name)
			out = append(out, e)
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(out, func(a, b idxEntry) int { return cmp.Compare(a.off, b.off) })
	}
	p.byOffset = out
	p.offsets, p.offsets64 = nil, nil
	return out, nil
}

// sortOffsets lists the offsets of the pack's entries in order, in
// 4 bytes an entry for packs under 4 GiB (8 above).
func (p *packFile) sortOffsets() error {
	if p.offsets != nil || p.offsets64 != nil {
		return nil
	}
	n, err := p.idx.Count()
	if err != nil {
		return fmt.Errorf("index entries: %w", err)
	}
	if p.size <= math.MaxUint32 {
		out := make([]uint32, 0, n)
		if err := p.eachIndexEntry(func(off int64, _ []byte) { out = append(out, uint32(off)) }); err != nil {
			return err
		}
		p.offsets = radixSortOffsets(out, p.size)
		return nil
	}
	out := make([]int64, 0, n)
	if err := p.eachIndexEntry(func(off int64, _ []byte) { out = append(out, off) }); err != nil {
		return err
	}
	p.offsets64 = radixSortOffsets(out, p.size)
	return nil
}

// nextOffset returns the first of the sorted offs past off.
func nextOffset[T uint32 | int64](offs []T, off int64) (int64, bool) {
	i := sort.Search(len(offs), func(i int) bool { return int64(offs[i]) > off })
	if i < len(offs) {
		return int64(offs[i]), true
	}
	return 0, false
}

// radixSortHigh sorts keys by their high 32 bits, which are distinct
// where it is used (pack offsets above index positions).
func radixSortHigh(keys []uint64) { radixSortBits(keys, 32, 64) }

// radixBits is the digit of radixSortOffsets: two passes below 4 GiB
// (11 bits, three passes, measured slower).
const (
	radixBits = 16
	radixMask = 1<<radixBits - 1
)

// radixSortOffsets sorts pack offsets, all below limit, in place: an
// LSD radix sort, radixBits a pass, which on git/git's 419,000 entries
// takes a few milliseconds where slices.Sort took 40 to 80, paid by
// every fetch that copies stored entries.
func radixSortOffsets[T uint32 | int64](offs []T, limit int64) []T {
	radixSortBits(offs, 0, uint(bits.Len64(uint64(limit))))
	return offs
}

// radixSortBits sorts keys in place by their bits lo to hi (from the
// least significant), radixBits a pass; the bits outside that range must
// not change the order (they are zero, or the range is distinct).
func radixSortBits[T uint32 | int64 | uint64](keys []T, lo, hi uint) {
	if len(keys) < 256 {
		slices.Sort(keys)
		return
	}
	tmp := make([]T, len(keys))
	src, dst := keys, tmp
	var count [1 << radixBits]uint32
	for shift := lo; shift < hi; shift += radixBits {
		clear(count[:])
		for _, k := range src {
			count[(uint64(k)>>shift)&radixMask]++
		}
		var pos uint32
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, k := range src {
			d := (uint64(k) >> shift) & radixMask
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// eachIndexEntry calls fn with the offset and name of every entry of the
// index, read straight from its tables, and checks that it met as many as
// the index counts.
func (p *packFile) eachIndexEntry(fn func(off int64, name []byte)) error {
	idx := p.idx
	n, err := idx.Count()
	if err != nil {
		return fmt.Errorf("index entries: %w", err)
	}
	var seen int64
	for b := 0; b < 256; b++ {
		k := idx.FanoutMapping[b]
		if k < 0 || k >= len(idx.Names) {
			continue
		}
		names, offs := idx.Names[k], idx.Offset32[k]
		if len(offs)*5 != len(names) {
			return fmt.Errorf("index entries: bad table sizes in %s", filepath.Base(p.path))
		}
		for i := 0; i < len(offs)/4; i++ {
			off := int64(binary.BigEndian.Uint32(offs[4*i:]))
			if off&0x80000000 != 0 {
				j := 8 * (off &^ 0x80000000)
				if j+8 > int64(len(idx.Offset64)) {
					return fmt.Errorf("index entries: 64-bit offset out of range in %s", filepath.Base(p.path))
				}
				off = int64(binary.BigEndian.Uint64(idx.Offset64[j:]))
			}
			fn(off, names[20*i:20*i+20])
			seen++
		}
	}
	if seen != n {
		return fmt.Errorf("index entries: %d listed, %d counted in %s", seen, n, filepath.Base(p.path))
	}
	return nil
}

// entryEnd is the offset just past the entry starting at off.
func (p *packFile) entryEnd(off int64) (int64, error) {
	if p.byOffset != nil {
		ents := p.byOffset
		i := sort.Search(len(ents), func(i int) bool { return ents[i].off > off })
		if i < len(ents) {
			return ents[i].off, nil
		}
		return p.size - 20, nil
	}
	if err := p.sortOffsets(); err != nil {
		return 0, err
	}
	next, ok := nextOffset(p.offsets, off)
	if p.offsets64 != nil {
		next, ok = nextOffset(p.offsets64, off)
	}
	if ok {
		return next, nil
	}
	return p.size - 20, nil
}

// hashAt names the object stored at off.
func (p *packFile) hashAt(off int64) (plumbing.Hash, error) {
	ents, err := p.sortedEntries()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	i := sort.Search(len(ents), func(i int) bool { return ents[i].off >= off })
	if i < len(ents) && ents[i].off == off {
		return ents[i].hash, nil
	}
	return plumbing.ZeroHash, fmt.Errorf("no object at offset %d in %s", off, filepath.Base(p.path))
}

// inflate returns size bytes of the zlib stream starting at dataOff.
func (db *odb) inflate(p *packFile, dataOff, size int64) ([]byte, error) {
	var src io.Reader
	if p.data != nil && dataOff < p.size-20 {
		// The zlib stream ends by itself: no need to find where the
		// entry ends (which costs the entry list by offset).
		db.rd.Reset(p.data[dataOff : p.size-20])
		src = &db.rd
	} else if end, err := p.entryEnd(dataOff); err == nil && end-dataOff <= packWindow {
		v, err := p.view(dataOff, end-dataOff)
		if err != nil {
			return nil, err
		}
		db.rd.Reset(v)
		src = &db.rd
	} else {
		db.br.Reset(io.NewSectionReader(p.f, dataOff, p.size-dataOff))
		src = db.br
	}
	if err := db.resetZlib(src); err != nil {
		return nil, fmt.Errorf("inflate at %d: %w", dataOff, err)
	}
	if size < 0 {
		return nil, fmt.Errorf("inflate at %d: bad size %d", dataOff, size)
	}
	if size > db.objectLimit() {
		return nil, &ObjectTooLargeError{Size: size, Limit: db.objectLimit(), Offset: dataOff}
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(db.zr, buf); err != nil {
		return nil, fmt.Errorf("inflate at %d: %w", dataOff, err)
	}
	return buf, nil
}

func (db *odb) resetZlib(r io.Reader) error {
	if db.zr == nil {
		zr, err := zlib.NewReader(r)
		if err != nil {
			return err
		}
		db.zr = zr
		return nil
	}
	return db.zr.(zlib.Resetter).Reset(r, nil)
}

// The delta base cache maps a pack entry to its resolved content.
type cacheKey struct {
	p   *packFile
	off int64
}

type cachedObject struct {
	typ  plumbing.ObjectType
	data []byte
}

// readAt returns the type and content of the entry at off, resolving its
// delta chain. Bases met on the way are cached: siblings usually share them.
func (db *odb) readAt(p *packFile, off int64) (plumbing.ObjectType, []byte, error) {
	type link struct {
		p   *packFile
		off int64
		h   entryHeader
	}
	var chain []link
	var typ plumbing.ObjectType
	var data []byte
	cp, coff := p, off
	for depth := 0; ; depth++ {
		if depth > maxDeltaChain {
			return 0, nil, fmt.Errorf("delta chain too long at %d", off)
		}
		if o, ok := db.cache.get(cacheKey{cp, coff}); ok {
			typ, data = o.typ, o.data
			break
		}
		h, err := cp.header(coff)
		if err != nil {
			return 0, nil, err
		}
		if h.typ == objOFS {
			chain = append(chain, link{cp, coff, h})
			coff = h.baseOff
			continue
		}
		if h.typ == objREF {
			chain = append(chain, link{cp, coff, h})
			bp, boff, ok := db.find(h.baseHash)
			if !ok {
				t, d, err := db.readLoose(h.baseHash)
				if err != nil {
					return 0, nil, fmt.Errorf("delta base %s: %w", h.baseHash, err)
				}
				typ, data = t, d
				break
			}
			cp, coff = bp, boff
			continue
		}
		d, err := db.inflate(cp, coff+h.hdrLen, h.size)
		if err != nil {
			return 0, nil, err
		}
		typ, data = h.typ, d
		if len(chain) > 0 {
			db.cache.put(cacheKey{cp, coff}, cachedObject{typ, data})
		}
		break
	}
	for i := len(chain) - 1; i >= 0; i-- {
		l := chain[i]
		delta, err := db.inflate(l.p, l.off+l.h.hdrLen, l.h.size)
		if err != nil {
			return 0, nil, err
		}
		if data, err = applyDeltaMax(data, delta, db.objectLimit()); err != nil {
			return 0, nil, fmt.Errorf("entry at %d: %w", l.off, err)
		}
		if i > 0 {
			db.cache.put(cacheKey{l.p, l.off}, cachedObject{typ, data})
		}
	}
	return typ, data, nil
}

// read returns an object's type and content. The slice may be shared with
// the cache and must not be modified.
func (db *odb) read(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	if p, off, ok := db.find(h); ok {
		return db.readAt(p, off)
	}
	return db.readLoose(h)
}

func (db *odb) readLoose(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	f, err := os.Open(db.loosePath(h))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil, fmt.Errorf("object %s: %w", h, ErrNotFound)
		}
		return 0, nil, fmt.Errorf("object %s: %w", h, err)
	}
	defer f.Close()
	db.br.Reset(f)
	if err := db.resetZlib(db.br); err != nil {
		return 0, nil, fmt.Errorf("object %s: %w", h, err)
	}
	raw, err := io.ReadAll(db.zr)
	if err != nil {
		return 0, nil, fmt.Errorf("object %s: %w", h, err)
	}
	typ, size, n, err := parseLooseHeader(raw)
	if err != nil {
		return 0, nil, fmt.Errorf("object %s: %w", h, err)
	}
	if int64(len(raw)-n) != size {
		return 0, nil, fmt.Errorf("object %s: size mismatch", h)
	}
	return typ, raw[n:], nil
}

func parseLooseHeader(raw []byte) (plumbing.ObjectType, int64, int, error) {
	nul := bytes.IndexByte(raw[:min(len(raw), 64)], 0)
	if nul < 0 {
		return 0, 0, 0, errors.New("bad loose object header")
	}
	tname, sz, ok := strings.Cut(string(raw[:nul]), " ")
	if !ok {
		return 0, 0, 0, errors.New("bad loose object header")
	}
	typ, err := plumbing.ParseObjectType(tname)
	if err != nil {
		return 0, 0, 0, err
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil {
		return 0, 0, 0, errors.New("bad loose object size")
	}
	return typ, size, nul + 1, nil
}

// typeOf returns an object's type without inflating packed content.
func (db *odb) typeOf(h plumbing.Hash) (plumbing.ObjectType, error) {
	p, off, ok := db.find(h)
	if !ok {
		typ, _, err := db.readLoose(h)
		return typ, err
	}
	for depth := 0; depth <= maxDeltaChain; depth++ {
		eh, err := p.header(off)
		if err != nil {
			return 0, err
		}
		switch eh.typ {
		case objOFS:
			off = eh.baseOff
		case objREF:
			return db.typeOf(eh.baseHash)
		default:
			return eh.typ, nil
		}
	}
	return 0, fmt.Errorf("object %s: delta chain too long", h)
}

// lookupPrefix finds objects whose hex name starts with prefix (lowercase,
// at least 4 characters). It stops after finding two.
func (db *odb) lookupPrefix(prefix string) ([]plumbing.Hash, error) {
	var found []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	add := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			found = append(found, h)
		}
	}
	for _, p := range db.packs {
		iter, err := p.idx.Entries()
		if err != nil {
			return nil, err
		}
		for {
			e, err := iter.Next()
			if err != nil {
				break
			}
			if strings.HasPrefix(e.Hash.String(), prefix) {
				add(e.Hash)
			}
		}
		iter.Close()
	}
	dir := filepath.Join(db.objDir, prefix[:2])
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			name := prefix[:2] + e.Name()
			if h, ok := parseHash(name); ok && strings.HasPrefix(name, prefix) {
				add(h)
			}
		}
	}
	return found, nil
}

// sizeOf returns an object's size without reading its content: from the
// pack entry header, or for a delta from the result size at the head of
// the delta data, or from a loose object's header.
func (db *odb) sizeOf(h plumbing.Hash) (int64, error) {
	p, off, ok := db.find(h)
	if !ok {
		_, size, err := db.looseHeader(h)
		return size, err
	}
	eh, err := p.header(off)
	if err != nil {
		return 0, err
	}
	if eh.typ != objOFS && eh.typ != objREF {
		return eh.size, nil
	}
	size, err := db.deltaResultSize(p, off, eh)
	if err != nil {
		return 0, fmt.Errorf("object %s: %w", h, err)
	}
	return size, nil
}

// deltaResultSize reads the size of the object the stored delta at off
// produces, from the head of the delta data, without applying it.
func (db *odb) deltaResultSize(p *packFile, off int64, eh entryHeader) (int64, error) {
	// A delta starts with two varints, the base's size and the result's:
	// at most 20 bytes of inflated data.
	head, err := db.inflatePrefix(p, off+eh.hdrLen, min(eh.size, 20))
	if err != nil {
		return 0, fmt.Errorf("delta at %d: %w", off, err)
	}
	pos := 0
	varint := func() (int64, bool) {
		var v int64
		for shift := 0; pos < len(head) && shift < 63; shift += 7 {
			c := head[pos]
			pos++
			v |= int64(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if _, ok := varint(); !ok {
		return 0, fmt.Errorf("delta at %d: corrupt delta header", off)
	}
	size, ok := varint()
	if !ok {
		return 0, fmt.Errorf("delta at %d: corrupt delta header", off)
	}
	return size, nil
}

// inflatePrefix returns the first n bytes of the zlib stream at dataOff.
func (db *odb) inflatePrefix(p *packFile, dataOff, n int64) ([]byte, error) {
	// The view may run past the entry (the zlib stream ends by itself),
	// so the entry's end need not be looked up.
	end := p.size - 20
	if dataOff >= end {
		return nil, fmt.Errorf("inflate at %d: past the pack's end", dataOff)
	}
	// Before its first bytes a deflate stream may hold a dynamic Huffman
	// table of a few hundred bytes; 4 KiB covers that with room to spare.
	v, err := p.view(dataOff, min(end-dataOff, n+4096))
	if err != nil {
		return nil, err
	}
	db.rd.Reset(v)
	if err := db.resetZlib(&db.rd); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(db.zr, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// looseHeader returns a loose object's type and size, inflating only its
// header.
func (db *odb) looseHeader(h plumbing.Hash) (plumbing.ObjectType, int64, error) {
	f, err := os.Open(db.loosePath(h))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, fmt.Errorf("object %s: %w", h, ErrNotFound)
		}
		return 0, 0, fmt.Errorf("object %s: %w", h, err)
	}
	defer f.Close()
	db.br.Reset(f)
	if err := db.resetZlib(db.br); err != nil {
		return 0, 0, fmt.Errorf("object %s: %w", h, err)
	}
	var head [64]byte
	n, err := io.ReadFull(db.zr, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, 0, fmt.Errorf("object %s: %w", h, err)
	}
	typ, size, _, err := parseLooseHeader(head[:n])
	if err != nil {
		return 0, 0, fmt.Errorf("object %s: %w", h, err)
	}
	return typ, size, nil
}
