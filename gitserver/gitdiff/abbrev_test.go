package gitdiff

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"regexp"
	"testing"
)

// collidingBlobs finds two blob contents whose object names share their
// first n hex digits.
func collidingBlobs(n int) (string, string) {
	seen := map[string]string{}
	for i := 0; ; i++ {
		data := fmt.Sprintf("blob-%d\n", i)
		h := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(data), data)))
		key := fmt.Sprintf("%x", h)[:n]
		if other, ok := seen[key]; ok {
			return other, data
		}
		seen[key] = data
	}
}

// TestAbbreviatorMatchesGit checks index lines where git must print more
// than 7 digits: two objects sharing 7 (loose, then packed), and a
// repository past 2^14 packed objects.
func TestAbbreviatorMatchesGit(t *testing.T) {
	t.Parallel()
	a, b := collidingBlobs(7)
	for _, packed := range []bool{false, true} {
		t.Run(fmt.Sprintf("collision packed=%v", packed), func(t *testing.T) {
			r := newGitRepo(t)
			r.write("f.txt", "start\n", 0o644)
			c1 := r.commit("one")
			r.write("f.txt", a, 0o644)
			c2 := r.commit("two")
			r.run([]byte(b), nil, "hash-object", "-w", "--stdin")
			if packed {
				r.git("repack", "-adkq") // -k keeps the unreferenced blob
			}
			out := r.git("diff", c1.String(), c2.String())
			if !regexp.MustCompile(`(?m)^index [0-9a-f]{7}\.\.[0-9a-f]{8,} `).MatchString(out) {
				t.Fatalf("expected a longer name for the colliding blob from git:\n%s", out)
			}
			checkDiff(t, r, c1.String(), c2.String())
		})
	}
	t.Run("many packed objects", func(t *testing.T) {
		r := newGitRepo(t)
		r.write("f.txt", "start\n", 0o644)
		c1 := r.commit("one")
		r.write("f.txt", "changed\n", 0o644)
		c2 := r.commit("two")
		// Past 2^14 packed objects git abbreviates to 8 digits.
		r.run(blobPack(17000), nil, "index-pack", "--stdin")
		out := r.git("diff", c1.String(), c2.String())
		if !regexp.MustCompile(`(?m)^index [0-9a-f]{8}\.\.[0-9a-f]{8} `).MatchString(out) {
			t.Fatalf("expected 8-digit names from git:\n%s", out)
		}
		checkDiff(t, r, c1.String(), c2.String())
	})
}

// blobPack is a pack of n small distinct blobs, made directly because
// git fast-import takes tens of seconds for as many objects here.
func blobPack(n int) []byte {
	var p bytes.Buffer
	p.WriteString("PACK")
	binary.Write(&p, binary.BigEndian, uint32(2))
	binary.Write(&p, binary.BigEndian, uint32(n))
	zw := zlib.NewWriter(nil)
	for i := 0; i < n; i++ {
		data := []byte(fmt.Sprintf("packed blob %d\n", i))
		size := len(data)
		c := byte(3<<4 | size&0x0f) // type 3: blob
		size >>= 4
		for size > 0 {
			p.WriteByte(c | 0x80)
			c = byte(size & 0x7f)
			size >>= 7
		}
		p.WriteByte(c)
		zw.Reset(&p)
		zw.Write(data)
		zw.Close()
	}
	sum := sha1.Sum(p.Bytes())
	p.Write(sum[:])
	return p.Bytes()
}

func checkDiff(t *testing.T, r *gitRepo, from, to string) {
	t.Helper()
	ab, err := NewAbbreviator(r.gitDir())
	if err != nil {
		t.Fatal(err)
	}
	want := r.git("diff", from, to)
	var got bytes.Buffer
	if err := WriteDiff(context.Background(), &got, r.storage(), treeOf(t, r, r.hash(from)), treeOf(t, r, r.hash(to)), Options{Abbrev: ab.Abbrev}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Fatalf("differs from git diff: %s", firstDiff(got.String(), want))
	}
}
