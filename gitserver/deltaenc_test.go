package gitserver

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

func TestDeltaRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 3000)
	big := random(300000)
	edited := func(base []byte, at int, repl []byte) []byte {
		out := append([]byte(nil), base[:at]...)
		out = append(out, repl...)
		return append(out, base[at+len(repl):]...)
	}
	cases := []struct {
		name     string
		src, trg []byte
		maxDelta int // the delta must not be longer (0: no bound checked)
	}{
		{"empty both", nil, nil, 8},
		{"empty base", nil, []byte("hello"), 16},
		{"empty target", []byte("hello world, hello world"), nil, 8},
		{"base shorter than a block", []byte("short"), []byte("short and longer"), 32},
		{"identical", big, big, 64},
		{"one byte changed", big, edited(big, 150000, []byte{big[150000] ^ 1}), 64},
		{"1 KB replaced", big, edited(big, 1000, random(1024)), 1200},
		{"prefix inserted", big, append(random(100), big...), 200},
		{"suffix cut", big, big[:200000], 64},
		{"reordered halves", big, append(append([]byte(nil), big[150000:]...), big[:150000]...), 64},
		{"repetitive base", text, edited(text, 5000, []byte("THE QUICK")), 64},
		{"unrelated", random(5000), random(5000), 0},
		{"target of copies longer than 64 KiB", bytes.Repeat([]byte{0}, 200000), bytes.Repeat([]byte{0}, 300000), 64},
	}
	// One index, scratch space and output buffer reused through all the
	// cases, as the fetch's delta search reuses them: the deltas must be
	// those of fresh ones.
	var reused *deltaIndex
	var scratch indexScratch
	out := bytes.Repeat([]byte{0xff}, 100)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fresh := newDeltaIndex(c.src)
			delta := fresh.encode(c.trg, 0)
			if delta == nil {
				t.Fatal("no delta without a size limit")
			}
			reused = indexInto(c.src, reused, &scratch)
			if !slices.Equal(reused.start, fresh.start) || !slices.Equal(reused.offs, fresh.offs) || !slices.Equal(reused.checks, fresh.checks) {
				t.Fatal("a reused index differs from a fresh one")
			}
			if again := reused.encodeTo(out, c.trg, 0); !bytes.Equal(again, delta) {
				t.Fatalf("a reused index and buffer give a %d-byte delta, a fresh one %d bytes", len(again), len(delta))
			} else {
				out = again
			}
			got, err := applyDelta(c.src, delta)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.trg) {
				t.Fatalf("applying the delta gives %d bytes, not the %d-byte target", len(got), len(c.trg))
			}
			// A second, independent decoder (go-git's; it refuses empty
			// bases) reads the same format.
			if len(c.src) > 0 {
				if got, err := packfile.PatchDelta(c.src, delta); err != nil || !bytes.Equal(got, c.trg) {
					t.Fatalf("go-git's PatchDelta: %v, equal %v", err, bytes.Equal(got, c.trg))
				}
			}
			if c.maxDelta > 0 && len(delta) > c.maxDelta {
				t.Fatalf("delta is %d bytes, expected at most %d", len(delta), c.maxDelta)
			}
		})
	}
}

// TestDeltaRandomEdits applies random edit scripts and checks every delta
// reproduces its target.
func TestDeltaRandomEdits(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		src := make([]byte, r.IntN(20000))
		alphabet := 2 + r.IntN(255) // small alphabets make many collisions
		for i := range src {
			src[i] = byte(r.IntN(alphabet))
		}
		trg := append([]byte(nil), src...)
		for e := r.IntN(10); e > 0 && len(trg) > 0; e-- {
			at := r.IntN(len(trg))
			switch r.IntN(3) {
			case 0: // delete
				trg = append(trg[:at], trg[min(len(trg), at+r.IntN(500)):]...)
			case 1: // insert
				ins := make([]byte, r.IntN(300))
				for i := range ins {
					ins[i] = byte(r.IntN(alphabet))
				}
				trg = append(trg[:at], append(ins, trg[at:]...)...)
			default: // duplicate a piece of the base
				from := r.IntN(len(src) + 1)
				piece := src[from:min(len(src), from+r.IntN(2000))]
				trg = append(trg[:at], append(append([]byte(nil), piece...), trg[at:]...)...)
			}
		}
		delta := newDeltaIndex(src).encode(trg, 0)
		got, err := applyDelta(src, delta)
		if err != nil || !bytes.Equal(got, trg) {
			t.Fatalf("round %d: %d-byte base, %d-byte target: err %v, equal %v", round, len(src), len(trg), err, bytes.Equal(got, trg))
		}
	}
}

func TestDeltaSizeLimit(t *testing.T) {
	t.Parallel()
	// maxSize is a bound the delta must stay under.
	same := []byte("0123456789abcdef0123456789abcdef")
	exact := newDeltaIndex(same).encode(same, 0)
	if d := newDeltaIndex(same).encode(same, len(exact)); d != nil {
		t.Errorf("a %d-byte delta under a limit of %d", len(d), len(exact))
	}
	if d := newDeltaIndex(same).encode(same, len(exact)+1); d == nil {
		t.Error("no delta under a limit one byte above its size")
	}
	r := rand.New(rand.NewPCG(3, 4))
	src, trg := make([]byte, 10000), make([]byte, 10000)
	for i := range src {
		src[i], trg[i] = byte(r.IntN(256)), byte(r.IntN(256))
	}
	if d := newDeltaIndex(src).encode(trg, 5000); d != nil {
		t.Fatalf("unrelated data gave a %d-byte delta under a 5000-byte limit", len(d))
	}
	copy(trg, src)
	trg[5000] ^= 0xff
	if d := newDeltaIndex(src).encode(trg, 100); d == nil {
		t.Fatal("a one-byte edit found no delta under 100 bytes")
	}
}

func TestNameHash(t *testing.T) {
	t.Parallel()
	// The same file name in different directories hashes alike; the
	// extension weighs more than the start of the name.
	if nameHash([]byte("one/lib/src/tools/Makefile")) != nameHash([]byte("two/lib/src/tools/Makefile")) {
		t.Error("same 20-byte tail, different hashes")
	}
	if nameHash([]byte("x.go"))>>24 != nameHash([]byte("y.go"))>>24 {
		t.Error("same last byte, different top bits")
	}
	if nameHash([]byte("a b")) != nameHash([]byte("ab")) {
		t.Error("white space is not ignored")
	}
	// The repack hashes paths a step at a time, directory first.
	h := nameHash([]byte("dir/sub"))
	for _, c := range []byte("/file.go") {
		h = nameHashStep(h, c)
	}
	if h != nameHash([]byte("dir/sub/file.go")) {
		t.Error("stepwise hash differs from the whole path's")
	}
}

// BenchmarkDeltaEncode indexes a 5 MB base and encodes a version of it
// with 1 KB replaced, the repack case the storage target is about.
func BenchmarkDeltaEncode(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, 5<<20)
	for i := range src {
		src[i] = byte(r.IntN(256))
	}
	trg := append([]byte(nil), src...)
	for i := 0; i < 1024; i++ {
		trg[2<<20+i] = byte(r.IntN(256))
	}
	b.SetBytes(int64(len(trg)))
	for i := 0; i < b.N; i++ {
		if d := newDeltaIndex(src).encode(trg, len(trg)/2); d == nil || len(d) > 2000 {
			b.Fatalf("delta of %d bytes", len(d))
		}
	}
}
