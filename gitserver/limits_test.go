package gitserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// packBuilder writes a pack by hand, entry by entry, into w (and its
// running checksum), so tests can send packs git would never make.
type packBuilder struct {
	w     io.Writer
	sum   hash.Hash
	n     int64
	count uint32
}

func newPackBuilder(w io.Writer, count uint32) *packBuilder {
	b := &packBuilder{sum: sha1.New()}
	b.w = io.MultiWriter(w, b.sum)
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], count)
	b.write(hdr[:])
	return b
}

func (b *packBuilder) write(p []byte) {
	n, _ := b.w.Write(p)
	b.n += int64(n)
}

// entry writes an entry header declaring size, then the zlib stream
// that fill writes through a compressor at level; it returns the
// entry's offset.
func (b *packBuilder) entry(hdr []byte, level int, fill func(io.Writer)) int64 {
	off := b.n
	b.write(hdr)
	cw := &countWriter{w: b.w}
	zw, _ := zlib.NewWriterLevel(cw, level)
	fill(zw)
	zw.Close()
	b.n += cw.n
	b.count++
	return off
}

func (b *packBuilder) whole(typ plumbing.ObjectType, data []byte) int64 {
	return b.entry(appendEntryHeader(nil, typ, int64(len(data))), zlib.BestCompression, func(w io.Writer) { w.Write(data) })
}

func (b *packBuilder) ofsDelta(base int64, delta []byte) int64 {
	hdr := appendOfsDistance(appendEntryHeader(nil, objOFS, int64(len(delta))), b.n-base)
	return b.entry(hdr, zlib.BestCompression, func(w io.Writer) { w.Write(delta) })
}

// finish writes the trailer.
func (b *packBuilder) finish() {
	b.w.Write(b.sum.Sum(nil))
}

// deltaHeader starts a delta from a base of baseSize to a result of size.
func deltaHeader(baseSize, size int64) []byte {
	var d []byte
	for _, v := range []int64{baseSize, size} {
		for v >= 0x80 {
			d = append(d, byte(v)|0x80)
			v >>= 7
		}
		d = append(d, byte(v))
	}
	return d
}

// copyAll appends copy commands of 8 MiB from offset 0 of the base until
// n bytes are produced (n a multiple of 8 MiB).
func copyAll(d []byte, n int64) []byte {
	for ; n > 0; n -= 8 << 20 {
		d = append(d, 0x80|0x40, 0x80) // size byte 2 = 0x80: 8 MiB
	}
	return d
}

// zeroBlobBomb is a pack of a 16 MiB zero blob and a delta whose copy
// commands expand it to size: about 16.5 KB.
func zeroBlobBomb(size int64) []byte {
	var buf bytes.Buffer
	b := newPackBuilder(&buf, 2)
	base := b.whole(objBlob, make([]byte, 16<<20))
	b.ofsDelta(base, copyAll(deltaHeader(16<<20, size), size))
	b.finish()
	return buf.Bytes()
}

// TestDeltaBombRefusedWithoutTheMemory: a 16.5 KB pack whose one delta
// expands a 16 MiB zero blob to 1 and then 8 GiB is refused by the size
// the delta declares, in a server whose peak RSS stays under 200 MB, and
// no ref moves.
func TestDeltaBombRefusedWithoutTheMemory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := New(Config{})
	repo := filepath.Join(root, "bomb.git")
	ctx := context.Background()
	if err := srv.Init(ctx, repo, "main"); err != nil {
		t.Fatal(err)
	}
	tip, err := srv.InitialCommit(ctx, repo, "main", "hello\n", Signature{Name: "a", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	child := startChildServer(t, root, Config{MaxFileSize: 50 << 20, MaxRepoSize: 1 << 30})
	fake := strings.Repeat("ab", 20)
	for _, size := range []int64{1 << 30, 8 << 30} {
		pack := zeroBlobBomb(size)
		if len(pack) > 20<<10 {
			t.Fatalf("bomb pack is %d bytes", len(pack))
		}
		body := pktBody(tip.String()+" "+fake+" refs/heads/main\x00report-status side-band-64k\n", "")
		resp := child.post(t, "bomb.git", append(body, pack...), false)
		want := "expands by delta to " + formatSize(size) + ", over the 50.0 MB file size limit"
		if !strings.Contains(resp, want) || !strings.Contains(resp, "ng refs/heads/main") {
			t.Errorf("%s bomb: response lacks %q:\n%q", formatSize(size), want, resp)
		}
	}
	if rss := child.peakRSS(t); rss > 200<<20 {
		t.Errorf("server peak RSS %.1f MB, want under 200 MB", float64(rss)/(1<<20))
	} else {
		t.Logf("server peak RSS %.1f MB", float64(rss)/(1<<20))
	}
	if got, _, _ := readRef(repo, "refs/heads/main", nil); got != tip {
		t.Fatalf("main moved to %s", got)
	}
	assertNoPackHolds(t, repo, fake)
}

// TestGzipBodyRefusedBeforeWriting: a 300 MiB blob stored uncompressed
// in a pack, gzip-compressed to a few hundred KB, is refused by its entry
// header: the server writes next to nothing and no ref moves.
func TestGzipBodyRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := New(Config{})
	repo := filepath.Join(root, "amp.git")
	if err := srv.Init(context.Background(), repo, "main"); err != nil {
		t.Fatal(err)
	}
	child := startChildServer(t, root, Config{MaxFileSize: 50 << 20, MaxRepoSize: 1 << 30})

	const size = 300 << 20
	var body bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&body, gzip.DefaultCompression)
	gz.Write(pktBody(plumbing.ZeroHash.String()+" "+strings.Repeat("cd", 20)+" refs/heads/main\x00report-status side-band-64k\n", ""))
	b := newPackBuilder(gz, 1)
	zeros := make([]byte, 1<<20)
	b.entry(appendEntryHeader(nil, objBlob, size), zlib.NoCompression, func(w io.Writer) {
		for i := 0; i < size>>20; i++ {
			w.Write(zeros)
		}
	})
	b.finish()
	gz.Close()
	if body.Len() > 1<<20 {
		t.Fatalf("gzip body is %d bytes", body.Len())
	}

	before := child.written(t)
	resp := child.post(t, "amp.git", body.Bytes(), true)
	wrote := child.written(t) - before
	if !strings.Contains(resp, "a file in the pack is 300.0 MB, over the 50.0 MB file size limit") || !strings.Contains(resp, "ng refs/heads/main") {
		t.Errorf("response: %q", resp)
	}
	if wrote > 4<<20 {
		t.Errorf("the server wrote %d bytes for a refused %d-byte body", wrote, body.Len())
	} else {
		t.Logf("a %d-byte gzip body declaring a 300 MiB blob: server wrote %d bytes", body.Len(), wrote)
	}
	if h := readServerRefOrZero(t, repo, "refs/heads/main"); !h.IsZero() {
		t.Fatalf("main created at %s", h)
	}
	assertNoPackHolds(t, repo, strings.Repeat("cd", 20))
}

func readServerRefOrZero(t *testing.T, repo, name string) plumbing.Hash {
	t.Helper()
	h, ok, err := readRef(repo, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return plumbing.ZeroHash
	}
	return h
}

// TestIndexPackRefusesDenseDeltas: deltas each under the file size limit
// that together declare far more than the pack could hold are refused as
// the pack streams in, before any is applied.
func TestIndexPackRefusesDenseDeltas(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	const n = 64
	b := newPackBuilder(&buf, n+1)
	base := b.whole(objBlob, make([]byte, 1<<20))
	for i := 0; i < n; i++ {
		d := append(deltaHeader(1<<20, 1<<20), 1, byte(i)+1) // one distinct byte, then the base
		b.ofsDelta(base, appendCopy(d, 0, 1<<20-1))
	}
	b.finish()
	lim := packLimits{maxObject: 1 << 20, inflateAllowance: 16 << 20}
	_, err := indexPack(context.Background(), bytes.NewReader(buf.Bytes()), t.TempDir(), lim, nil)
	if !errors.Is(err, errPackTooDense) {
		t.Fatalf("indexPack of %d bytes declaring %d MiB: %v", buf.Len(), n, err)
	}
	// The same pack is fine where the allowance covers it.
	lim.inflateAllowance = 1 << 30
	rp, err := indexPack(context.Background(), bytes.NewReader(buf.Bytes()), t.TempDir(), lim, nil)
	if err != nil || len(rp.objects) != n+1 {
		t.Fatalf("indexPack with room: %v", err)
	}
}

// TestIndexPackLimits covers each declared size the indexer checks.
func TestIndexPackLimits(t *testing.T) {
	t.Parallel()
	build := func(f func(b *packBuilder)) []byte {
		var buf bytes.Buffer
		b := newPackBuilder(&buf, 0)
		f(b)
		b.finish()
		data := buf.Bytes()
		binary.BigEndian.PutUint32(data[8:], b.count)
		sum := sha1.Sum(data[:len(data)-20])
		copy(data[len(data)-20:], sum[:])
		return data
	}
	blob := bytes.Repeat([]byte("x"), 4096)
	cases := []struct {
		name string
		pack []byte
		lim  packLimits
		err  error
	}{
		{"whole object over twice the limit", build(func(b *packBuilder) { b.whole(objBlob, blob) }), packLimits{maxObject: 2047}, ErrObjectTooLarge},
		// validatePush refuses it, naming the file.
		{"whole object up to twice the limit", build(func(b *packBuilder) { b.whole(objBlob, blob) }), packLimits{maxObject: 2048, inflateAllowance: 1 << 20}, nil},
		{"delta result over the limit", build(func(b *packBuilder) {
			base := b.whole(objBlob, blob)
			b.ofsDelta(base, append(deltaHeader(4096, 8192), 0xa0, 0x10, 0xa0, 0x10)) // 2 × 4 KiB copies
		}), packLimits{maxObject: 8191, inflateAllowance: 1 << 20}, ErrObjectTooLarge},
		{"delta result at the limit", build(func(b *packBuilder) {
			base := b.whole(objBlob, blob)
			b.ofsDelta(base, append(deltaHeader(4096, 8192), 0xa0, 0x10, 0xa0, 0x10))
		}), packLimits{maxObject: 8192, inflateAllowance: 1 << 20}, nil},
		{"delta data far over the limit", build(func(b *packBuilder) {
			base := b.whole(objBlob, blob[:16])
			b.ofsDelta(base, append(deltaHeader(16, 16), bytes.Repeat([]byte{0x90, 0x10}, 1000)...))
		}), packLimits{maxObject: 64, inflateAllowance: 1 << 20}, ErrObjectTooLarge},
		{"object count the size limit cannot hold", build(func(b *packBuilder) { b.count = 1 << 30 }), packLimits{maxBytes: 1 << 20}, errPackTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := indexPack(context.Background(), bytes.NewReader(tc.pack), t.TempDir(), tc.lim, nil)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

// TestResolveSpillsLargeObjects: a chain of deltas over objects larger
// than memMax resolves through spill files, and the pack reads back
// identical through the odb; the spill files are gone afterwards.
func TestResolveSpillsLargeObjects(t *testing.T) {
	t.Parallel()
	big := make([]byte, memMax+memMax/2)
	fillRandom(big, 11)
	var buf bytes.Buffer
	b := newPackBuilder(&buf, 4)
	prev := b.entry(appendEntryHeader(nil, objBlob, int64(len(big))), zlib.BestSpeed, func(w io.Writer) { w.Write(big) })
	want := [][]byte{big}
	cur := big
	for i := 0; i < 3; i++ {
		next := append([]byte(nil), cur...)
		next[i*1000] ^= 0xff
		// copy everything but one byte, insert that byte
		d := deltaHeader(int64(len(cur)), int64(len(next)))
		d = appendCopy(d, 0, int64(i*1000))
		d = append(d, 1, next[i*1000])
		d = appendCopy(d, int64(i*1000+1), int64(len(cur)-i*1000-1))
		prev = b.ofsDelta(prev, d)
		want = append(want, next)
		cur = next
	}
	b.finish()
	dir := t.TempDir()
	rp, err := indexPack(context.Background(), bytes.NewReader(buf.Bytes()), dir, packLimits{maxObject: 64 << 20, inflateAllowance: 1 << 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The base and the two deltas with deltas on them were spilled.
	if rp.spilled != 3*int64(len(big)) {
		t.Errorf("spilled %d bytes, want %d", rp.spilled, 3*len(big))
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "tmp_obj_*")); len(ents) > 0 {
		t.Errorf("spill files left: %v", ents)
	}
	db := &odb{br: bufio.NewReaderSize(nil, 32<<10),
		cache: newLRU[cacheKey](baseCacheBytes, func(o cachedObject) int { return len(o.data) + 64 })}
	if err := db.addPack(rp.packPath, rp.idx, true); err != nil {
		t.Fatal(err)
	}
	defer db.close()
	for i, w := range want {
		h := plumbing.ComputeHash(plumbing.BlobObject, w)
		_, got, err := db.read(h)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("object %d (%s): err %v, equal %v", i, h, err, bytes.Equal(got, w))
		}
	}
	os.Remove(rp.packPath)
}

// appendCopy appends copy commands for n bytes of the base from off.
func appendCopy(d []byte, off, n int64) []byte {
	for n > 0 {
		c := min(n, 0xffff)
		d = append(d, 0x80|0x0f|0x30, byte(off), byte(off>>8), byte(off>>16), byte(off>>24), byte(c), byte(c>>8))
		off += c
		n -= c
	}
	return d
}

// TestMaintainHoldsStoredPacksToTheLimit: maintenance reads stored packs
// through the same checks as a push. A pack that got into a repository
// some other way, holding a delta that expands past the file size limit,
// makes Maintain fail by the delta's declared size, changing nothing.
func TestMaintainHoldsStoredPacksToTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := New(Config{MaxFileSize: 1 << 20})
	repo := filepath.Join(t.TempDir(), "stored.git")
	if err := srv.Init(ctx, repo, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.InitialCommit(ctx, repo, "main", "hello\n", Signature{Name: "a", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	// A 64 KiB zero blob and a delta copying it 128 times.
	var buf bytes.Buffer
	b := newPackBuilder(&buf, 2)
	base := b.whole(objBlob, make([]byte, 64<<10))
	d := deltaHeader(64<<10, 8<<20)
	for i := 0; i < 128; i++ {
		d = appendCopy(d, 0, 64<<10)
	}
	b.ofsDelta(base, d)
	b.finish()
	qdir := t.TempDir()
	rp, err := indexPack(ctx, bytes.NewReader(buf.Bytes()), qdir, packLimits{maxObject: 16 << 20, inflateAllowance: 1 << 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.install(repo); err != nil {
		t.Fatal(err)
	}
	before, err := filepath.Glob(filepath.Join(repo, "objects", "pack", "*"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.Maintain(ctx, repo)
	if !errors.Is(err, ErrObjectTooLarge) || !strings.Contains(err.Error(), "expands by delta to 8.0 MB, over the 1.0 MB file size limit") {
		t.Fatalf("Maintain: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*"))
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("packs changed:\n%v\n%v", before, after)
	}
	if ents, _ := filepath.Glob(filepath.Join(repo, "objects", "incoming-*")); len(ents) > 0 {
		t.Fatalf("quarantine left: %v", ents)
	}
}

// TestThinBaseStreamsFromTheRepository: a thin pack's delta against a
// stored object larger than memMax takes its base from the stored pack
// as a stream into a spill file, and the completed pack stands alone.
func TestThinBaseStreamsFromTheRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "thin.git")
	if err := New(Config{}).Init(ctx, repo, "main"); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, memMax+memMax/2)
	fillRandom(big, 21)
	bigHash := plumbing.ComputeHash(objBlob, big)
	var stored bytes.Buffer
	b := newPackBuilder(&stored, 1)
	b.entry(appendEntryHeader(nil, objBlob, int64(len(big))), zlib.BestSpeed, func(w io.Writer) { w.Write(big) })
	b.finish()
	lim := packLimits{maxObject: 64 << 20, inflateAllowance: 1 << 30}
	rp, err := indexPack(ctx, bytes.NewReader(stored.Bytes()), t.TempDir(), lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.install(repo); err != nil {
		t.Fatal(err)
	}

	edited := append([]byte(nil), big...)
	copy(edited[1000:], "a small edit")
	d := deltaHeader(int64(len(big)), int64(len(edited)))
	d = appendCopy(d, 0, 1000)
	d = append(d, 12)
	d = append(d, "a small edit"...)
	d = appendCopy(d, 1012, int64(len(big)-1012))
	var thin bytes.Buffer
	b = newPackBuilder(&thin, 1)
	b.entry(append(appendEntryHeader(nil, objREF, int64(len(d))), bigHash[:]...), zlib.BestSpeed, func(w io.Writer) { w.Write(d) })
	b.finish()
	bases := &repoBases{path: repo}
	defer bases.close()
	rp, err = indexPack(ctx, bytes.NewReader(thin.Bytes()), t.TempDir(), lim, bases)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.objects) != 2 || rp.spilled != int64(len(big)) {
		t.Fatalf("%d objects, %d bytes spilled", len(rp.objects), rp.spilled)
	}
	db := &odb{br: bufio.NewReaderSize(nil, 32<<10),
		cache: newLRU[cacheKey](baseCacheBytes, func(o cachedObject) int { return len(o.data) + 64 })}
	if err := db.addPack(rp.packPath, rp.idx, true); err != nil {
		t.Fatal(err)
	}
	defer db.close()
	for _, want := range [][]byte{big, edited} {
		h := plumbing.ComputeHash(objBlob, want)
		if _, got, err := db.read(h); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v", h, err)
		}
	}
}
