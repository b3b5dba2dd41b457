package gitserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/; `go test` runs them
// as ordinary tests. GITSERVER_WRITE_FUZZ_SEEDS=1 go test -run
// TestWriteFuzzSeeds rewrites them from fuzzSeeds.

// FuzzPktLine: the pkt-line reader never panics, never returns more than
// a packet's payload, and never reads past what it returns.
func FuzzPktLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, 16)
		pr := newPktReader(br)
		consumed := 0
		for {
			line, err := pr.next()
			switch {
			case errors.Is(err, errFlush):
				consumed += 4
			case err != nil:
				return
			case len(line) > maxPktLen-4:
				t.Fatalf("payload of %d bytes", len(line))
			default:
				consumed += 4 + len(line)
			}
			// What is left for the next reader is exactly what follows.
			if left := br.Buffered() + src.Len(); consumed+left != len(data) {
				t.Fatalf("consumed %d, %d left, of %d", consumed, left, len(data))
			}
		}
	})
}

// FuzzReceiveRequest: any request body parses or fails cleanly, and what
// parses is well formed: full hashes, a certificate with a signature.
func FuzzReceiveRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseReceiveRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		for _, c := range req.cmds {
			if c.Name == "" && c.Old.IsZero() && c.New.IsZero() && req.cert == nil {
				// A command line needs three fields; an empty name can
				// only follow two spaces, which must then be there.
				if !bytes.Contains(data, []byte(plumbing.ZeroHash.String()+" "+plumbing.ZeroHash.String()+" ")) {
					t.Fatalf("command from nowhere: %+v", c)
				}
			}
			// Whatever the name, the checks that guard the disk decide
			// without panicking.
			_ = pushRefNameProblem(c.Name)
			_ = printableRef(c.Name)
		}
		if req.cert != nil && (req.cert.Version != "0.1" || req.cert.Signature == "") {
			t.Fatalf("certificate accepted: %+v", req.cert)
		}
	})
}

// mapBases serves thin-pack bases from memory.
type mapBases map[plumbing.Hash]rawObject

func (m mapBases) has(h plumbing.Hash) bool { _, ok := m[h]; return ok }

func (m mapBases) open(h plumbing.Hash, max int64) (plumbing.ObjectType, int64, io.Reader, error) {
	o, ok := m[h]
	if !ok {
		return 0, 0, nil, ErrNotFound
	}
	if int64(len(o.data)) > max {
		return 0, 0, nil, &ObjectTooLargeError{Hash: h, Size: int64(len(o.data)), Limit: max}
	}
	return o.typ, int64(len(o.data)), bytes.NewReader(o.data), nil
}

// fuzzBases are the objects a fuzzed thin pack may be based on.
var fuzzBases = func() mapBases {
	m := mapBases{}
	for _, o := range []rawObject{rawBlob("base blob\n" + strings.Repeat("abcdefgh", 64)), rawBlob("")} {
		m[o.hash()] = o
	}
	return m
}()

// FuzzIndexPack: any pack is indexed or refused cleanly within its
// limits; an indexed pack reads back, object by object, to content that
// hashes to the name the index gives it.
func FuzzIndexPack(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		lim := packLimits{maxBytes: 1 << 20, maxObject: 1 << 20, inflateAllowance: 4 << 20}
		rp, err := indexPack(context.Background(), bytes.NewReader(data), dir, lim, fuzzBases)
		if err != nil {
			return
		}
		db := &odb{br: bufio.NewReaderSize(nil, 32<<10), maxObject: lim.maxObject,
			cache: newLRU[cacheKey](baseCacheBytes, func(o cachedObject) int { return len(o.data) + 64 })}
		if err := db.addPack(rp.packPath, rp.idx, true); err != nil {
			t.Fatal(err)
		}
		defer db.close()
		for _, o := range rp.objects {
			typ, content, err := db.read(o.hash)
			if err != nil {
				t.Fatalf("object %s of an indexed pack: %v", o.hash, err)
			}
			if h := plumbing.ComputeHash(typ, content); h != o.hash || typ != o.typ || int64(len(content)) != o.size {
				t.Fatalf("object %s reads back as %s %s of %d bytes", o.hash, typ, h, len(content))
			}
		}
	})
}

// FuzzApplyDelta: the streaming and the in-memory delta appliers agree,
// on corrupt deltas too.
func FuzzApplyDelta(f *testing.F) {
	f.Fuzz(func(t *testing.T, base, delta []byte) {
		const max = 1 << 20
		mem, errMem := applyDeltaMax(base, delta, max)
		var out bytes.Buffer
		n, errStream := ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(delta), max)
		if (errMem == nil) != (errStream == nil) {
			t.Fatalf("in memory: %v; streaming: %v", errMem, errStream)
		}
		if errMem == nil && (!bytes.Equal(mem, out.Bytes()) || n != int64(len(mem))) {
			t.Fatalf("results differ: %d vs %d bytes", len(mem), out.Len())
		}
	})
}

// FuzzFsckObject: the fsck checks take any bytes without panicking.
func FuzzFsckObject(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fsckCommit(data)
		fsckTag(data)
		fsckTree(data)
		fsckGitmodules(data)
	})
}

// fuzzSeeds builds the seed corpora.
func fuzzSeeds() map[string][][][]byte {
	one := func(b []byte) [][]byte { return [][]byte{b} }
	zero := plumbing.ZeroHash.String()
	tip := strings.Repeat("ab", 20)
	blob := rawBlob("hello\n")
	tree := rawTree(rawEntry{"100644", "hello.txt", blob.hash()})
	commit := rawCommit(tree.hash(), "")

	// A pack with whole objects, an OFS and a REF delta inside the pack,
	// and a thin REF delta against fuzzBases.
	var full bytes.Buffer
	b := newPackBuilder(&full, 6)
	b.whole(objBlob, blob.data)
	b.whole(objTree, tree.data)
	cOff := b.whole(objCommit, commit.data)
	b.ofsDelta(cOff, append(deltaHeader(int64(len(commit.data)), int64(len(commit.data))+2), appendCopyThenInsert(len(commit.data), "x\n")...))
	var thinBase plumbing.Hash
	for h, o := range fuzzBases {
		if len(o.data) > 0 {
			thinBase = h
		}
	}
	refDelta := append(deltaHeader(int64(len(fuzzBases[thinBase].data)), 8), appendCopy(nil, 0, 8)...)
	hdr := append(appendEntryHeader(nil, objREF, int64(len(refDelta))), thinBase[:]...)
	b.entry(hdr, 6, func(w io.Writer) { w.Write(refDelta) })
	inPackRef := append(deltaHeader(int64(len(blob.data)), 5), appendCopy(nil, 0, 5)...)
	blobHash := blob.hash()
	hdr = append(appendEntryHeader(nil, objREF, int64(len(inPackRef))), blobHash[:]...)
	b.entry(hdr, 6, func(w io.Writer) { w.Write(inPackRef) })
	b.finish()
	packBytes := full.Bytes()

	var bomb bytes.Buffer
	bb := newPackBuilder(&bomb, 2)
	base := bb.whole(objBlob, make([]byte, 4096))
	bb.ofsDelta(base, copyAll(deltaHeader(4096, 1<<30), 1<<30)[:64])
	bb.finish()

	return map[string][][][]byte{
		"FuzzPktLine": {
			one([]byte("0000")),
			one(pktBody("hello\n", "", "world")),
			one([]byte("0001")),
			one([]byte("fff0")),
			one([]byte("000xgarbage")),
			one([]byte("0004")),
		},
		"FuzzReceiveRequest": {
			one(pktBody(zero+" "+tip+" refs/heads/main\x00report-status side-band-64k atomic\n", tip+" "+zero+" refs/heads/old\n", "")),
			one(pktBody("shallow "+tip+"\n", zero+" "+tip+" refs/heads/main\x00report-status\n", "")),
			one(pktBody("push-cert\x00report-status side-band-64k", "certificate version 0.1\n", "pusher A <a@b> 1700000000 +0000\n",
				"pushee https://example.com/r.git\n", "nonce 1700000000-abc\n", "\n", zero+" "+tip+" refs/heads/main\n",
				"-----BEGIN PGP SIGNATURE-----\n", "sig\n", "-----END PGP SIGNATURE-----\n", "push-cert-end\n", "")),
			one(pktBody(zero+" "+tip+" refs/heads/main\x00report-status push-options\n", "", "ci.skip", "")),
			one(pktBody(zero+" "+tip+"\n", "")),
			one([]byte{}),
		},
		"FuzzIndexPack": {
			one(packBytes),
			one(packOf(blob, tree, commit)),
			one(emptyPack()),
			one(bomb.Bytes()),
			one(zeroBlobBombSmall()),
		},
		"FuzzApplyDelta": {
			{[]byte("hello world"), append(deltaHeader(11, 16), append([]byte{0x90, 6, 5, 'b', 'r', 'a', 'v', 'e'}, appendCopy(nil, 6, 5)...)...)},
			{[]byte(""), append(deltaHeader(0, 3), 3, 'a', 'b', 'c')},
			{[]byte("01234"), []byte{5, 10, 3, 'a', 'b', 'c'}},
			{[]byte("01234"), []byte{5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		},
		"FuzzFsckObject": {
			one(commit.data),
			one(tree.data),
			one([]byte("object " + tip + "\ntype commit\ntag v1\ntagger A <a@b> 1700000000 +0000\n\nmsg\n")),
			one([]byte("[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=evil\n\tupdate = !rm\n")),
			one(rawTree(rawEntry{"100644", ".gitmodules", blob.hash()}, rawEntry{"40000", ".GIT", tree.hash()}).data),
		},
	}
}

// appendCopyThenInsert is a delta body copying n bytes from 0 of the
// base and inserting s.
func appendCopyThenInsert(n int, s string) []byte {
	d := appendCopy(nil, 0, int64(n))
	return append(append(d, byte(len(s))), s...)
}

// zeroBlobBombSmall is zeroBlobBomb scaled to a seed: a 64 KiB base and
// a delta declaring 1 GiB.
func zeroBlobBombSmall() []byte {
	var buf bytes.Buffer
	b := newPackBuilder(&buf, 2)
	base := b.whole(objBlob, make([]byte, 64<<10))
	d := deltaHeader(64<<10, 1<<30)
	for i := 0; i < 16; i++ {
		d = append(d, 0x80|0x20, 0x00) // copy 64 KiB (size 0 = 0x10000)
	}
	b.ofsDelta(base, d)
	b.finish()
	return buf.Bytes()
}

// TestWriteFuzzSeeds rewrites testdata/fuzz from fuzzSeeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GITSERVER_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set GITSERVER_WRITE_FUZZ_SEEDS=1 to rewrite the seed corpora")
	}
	for name, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", name)
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, args := range seeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestIndexPackThinAndRefDeltas: the first FuzzIndexPack seed, with OFS
// and REF deltas in the pack and one against a repository object,
// indexes to its six objects plus the appended base.
func TestIndexPackThinAndRefDeltas(t *testing.T) {
	pack := fuzzSeeds()["FuzzIndexPack"][0][0]
	rp, err := indexPack(context.Background(), bytes.NewReader(pack), t.TempDir(), packLimits{maxObject: 1 << 20, inflateAllowance: 1 << 20}, fuzzBases)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.objects) != 7 || rp.deltas != 3 {
		t.Fatalf("%d objects, %d deltas", len(rp.objects), rp.deltas)
	}
	_, err = indexPack(context.Background(), bytes.NewReader(pack), t.TempDir(), packLimits{maxObject: 1 << 20, inflateAllowance: 1 << 20}, nil)
	if err == nil || !strings.Contains(err.Error(), "thin packs are not accepted") {
		t.Fatalf("a thin pack without bases: %v", err)
	}
}

// TestFuzzSeedsPresent: every fuzz test has its committed corpus, so the
// seeds run in every `go test`.
func TestFuzzSeedsPresent(t *testing.T) {
	for name, seeds := range fuzzSeeds() {
		ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", name))
		if err != nil || len(ents) < len(seeds) {
			t.Errorf("%s: %d seed files (%v), want %d", name, len(ents), err, len(seeds))
		}
	}
}
