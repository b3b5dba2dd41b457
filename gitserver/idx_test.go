package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// TestParseIdx reads an index written by git as go-git's decoder does,
// and refuses damaged ones.
func TestParseIdx(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com",
			"GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", ".")
	for i := range 40 {
		name := filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err := os.WriteFile(name, bytes.Repeat([]byte{byte(i)}, 100+i), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", ".")
		git("commit", "-q", "-m", "c")
	}
	git("repack", "-adq")
	idxs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.idx"))
	if len(idxs) != 1 {
		t.Fatalf("%d indexes", len(idxs))
	}
	raw, err := os.ReadFile(idxs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bytes.NewReader(raw)).Decode(want); err != nil {
		t.Fatal(err)
	}
	got, err := parseIdx(raw)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b [][]byte) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	if got.Version != want.Version || got.Fanout != want.Fanout || got.FanoutMapping != want.FanoutMapping ||
		!same(got.Names, want.Names) || !same(got.CRC32, want.CRC32) || !same(got.Offset32, want.Offset32) ||
		!bytes.Equal(got.Offset64, want.Offset64) || got.PackfileChecksum != want.PackfileChecksum || got.IdxChecksum != want.IdxChecksum {
		t.Fatal("parseIdx differs from go-git's decoder")
	}
	if n, err := got.Count(); err != nil || n < 120 {
		t.Fatalf("count %d, %v", n, err)
	}
	// The entries by offset, as go-git lists them.
	pf := &packFile{idx: got, size: 1 << 20}
	byOff, err := pf.sortedEntries()
	if err != nil {
		t.Fatal(err)
	}
	all, err := want.EntriesByOffset()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		e, err := all.Next()
		if err != nil {
			if i != len(byOff) {
				t.Fatalf("sortedEntries lists %d entries, go-git %d", len(byOff), i)
			}
			break
		}
		if i >= len(byOff) || byOff[i].off != int64(e.Offset) || byOff[i].hash != e.Hash {
			t.Fatalf("entry %d by offset: %+v, go-git %s at %d", i, byOff[min(i, len(byOff)-1)], e.Hash, e.Offset)
		}
	}
	// idxOffset answers as go-git's FindOffset, for every entry.
	entries, err := want.Entries()
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := entries.Next()
		if err != nil {
			break
		}
		off, ok := idxOffset(got, e.Hash)
		if wantOff, err := want.FindOffset(e.Hash); !ok || err != nil || off != wantOff || off != int64(e.Offset) {
			t.Fatalf("idxOffset(%s) = %d, %v; go-git %d", e.Hash, off, ok, e.Offset)
		}
		if crc, ok := idxCRC32(got, e.Hash); !ok || crc != e.CRC32 {
			t.Fatalf("idxCRC32(%s) = %08x, %v; go-git %08x", e.Hash, crc, ok, e.CRC32)
		}
		missing := e.Hash
		missing[19] ^= 0xff
		if _, err := want.FindOffset(missing); err != nil {
			if _, ok := idxOffset(got, missing); ok {
				t.Fatalf("idxOffset found %s, which the index does not hold", missing)
			}
			if _, ok := idxCRC32(got, missing); ok {
				t.Fatalf("idxCRC32 found %s, which the index does not hold", missing)
			}
		}
	}

	damaged := map[string]func([]byte) []byte{
		"magic":     func(b []byte) []byte { b[1] = 'x'; return b },
		"version":   func(b []byte) []byte { b[7] = 3; return b },
		"fanout":    func(b []byte) []byte { b[8+4*10+3] = 0xff; return b },
		"name":      func(b []byte) []byte { b[idxHeaderLen+5] ^= 1; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
		"longer":    func(b []byte) []byte { return append(b, 0) },
		"count":     func(b []byte) []byte { b[8+4*255] = 0x7f; return b },
		"empty":     func([]byte) []byte { return nil },
	}
	for name, damage := range damaged {
		t.Run(name, func(t *testing.T) {
			b := damage(bytes.Clone(raw))
			if _, err := parseIdx(b); !errors.Is(err, idxfile.ErrMalformedIdxFile) && !errors.Is(err, idxfile.ErrUnsupportedVersion) {
				t.Fatalf("damaged index: err %v", err)
			}
		})
	}
}

// TestServingTrustsIdxChecksum: opening an index to serve from checks
// its structure but not its checksum (as git). Maintenance, which
// rewrites the pack from it, does check, and makes a damaged or missing
// index again from its pack, byte for byte; from a damaged pack it makes
// nothing and leaves the repository as it was.
func TestServingTrustsIdxChecksum(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("sum")
	work := ts.workdir("sum")
	for i := range 3 {
		ts.commitFile(work, "f.txt", fmt.Sprintf("version %d\n", i), "c")
		ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
	}
	if _, err := ts.srv.Maintain(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	idxs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.idx"))
	if len(idxs) != 1 {
		t.Fatalf("%d indexes after maintenance", len(idxs))
	}
	raw, err := os.ReadFile(idxs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readIdx(idxs[0]); err != nil {
		t.Fatalf("readIdx of a sound index: %v", err)
	}
	if err := verifyIdx(idxs[0]); err != nil {
		t.Fatalf("verifyIdx of a sound index: %v", err)
	}

	damaged := bytes.Clone(raw)
	damaged[len(damaged)-1] ^= 1 // the checksum itself: every table still reads right
	if err := os.WriteFile(idxs[0], damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readIdx(idxs[0]); err != nil {
		t.Fatalf("readIdx checked the checksum: %v", err)
	}
	ts.git(t.TempDir(), "clone", "-q", "--bare", ts.remote("sum"), "c.git") // still served
	if err := verifyIdx(idxs[0]); !errors.Is(err, idxfile.ErrMalformedIdxFile) {
		t.Fatalf("verifyIdx of a damaged checksum: %v", err)
	}
	packs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*"))

	// Maintenance makes the index again from its pack: the same bytes
	// as before the damage, and the packs untouched.
	res, err := ts.srv.Maintain(context.Background(), repo)
	if err != nil || res.IndexesRebuilt != 1 {
		t.Fatalf("maintenance over a damaged index: %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(idxs[0]); !bytes.Equal(got, raw) {
		t.Fatal("the rebuilt index differs from the one damaged")
	}
	if after, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*")); !slices.Equal(packs, after) {
		t.Fatalf("maintenance changed the packs: %v, then %v", packs, after)
	}

	// A missing index hides its pack's objects until maintenance makes
	// it again.
	if err := os.Remove(idxs[0]); err != nil {
		t.Fatal(err)
	}
	if res, err := ts.srv.Maintain(context.Background(), repo); err != nil || res.IndexesRebuilt != 1 {
		t.Fatalf("maintenance over a missing index: %+v, %v", res, err)
	}
	if got, _ := os.ReadFile(idxs[0]); !bytes.Equal(got, raw) {
		t.Fatal("the index made for a pack without one differs from its old one")
	}
	clone := filepath.Join(t.TempDir(), "again.git")
	ts.git(t.TempDir(), "clone", "-q", "--bare", ts.remote("sum"), clone)
	ts.git(clone, "fsck", "--no-progress")

	// A damaged pack is not indexed again: the damaged index stays, the
	// error says both, and nothing else changes.
	packPath := strings.TrimSuffix(idxs[0], ".idx") + ".pack"
	pack, err := os.ReadFile(packPath)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(packPath, 0o644)
	pack[len(pack)/2] ^= 0x55
	if err := os.WriteFile(packPath, pack, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(idxs[0], 0o644)
	if err := os.WriteFile(idxs[0], damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ts.srv.Maintain(context.Background(), repo)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "rebuilding it from pack-") {
		t.Fatalf("maintenance over a damaged pack and index: %v", err)
	}
	if after, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*")); !slices.Equal(packs, after) {
		t.Fatalf("maintenance changed the packs: %v, then %v", packs, after)
	}
	if got, _ := os.ReadFile(idxs[0]); !bytes.Equal(got, damaged) {
		t.Fatal("maintenance rewrote the damaged index from a damaged pack")
	}
	if got, _ := os.ReadFile(packPath); !bytes.Equal(got, pack) {
		t.Fatal("maintenance rewrote the damaged pack")
	}
	if q, _ := filepath.Glob(filepath.Join(repo, "objects", "incoming-*")); len(q) != 0 {
		t.Fatalf("quarantines left behind: %v", q)
	}
}

// TestIdxOffsetLarge reads offsets past 2 GiB from the 64-bit table, and
// refuses an entry pointing outside it.
func TestIdxOffsetLarge(t *testing.T) {
	t.Parallel()
	idx := idxfile.NewMemoryIndex()
	for k := range idx.FanoutMapping {
		idx.FanoutMapping[k] = -1
	}
	a, b, c := plumbing.NewHash("ab00000000000000000000000000000000000001"), plumbing.NewHash("ab00000000000000000000000000000000000002"), plumbing.NewHash("ab00000000000000000000000000000000000003")
	idx.FanoutMapping[0xab] = 0
	idx.Names = [][]byte{append(append(append([]byte{}, a[:]...), b[:]...), c[:]...)}
	idx.Offset32 = [][]byte{{0, 0, 0, 12, 0x80, 0, 0, 1, 0x80, 0, 0, 7}}
	idx.Offset64 = []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0}
	idx.CRC32 = [][]byte{{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}}
	for _, tc := range []struct {
		h    plumbing.Hash
		off  int64
		want bool
	}{
		{a, 12, true},
		{b, 5 << 32, true},
		{c, 0, false}, // 64-bit entry 7 of 2
		{plumbing.NewHash("ab00000000000000000000000000000000000004"), 0, false},
		{plumbing.NewHash("cd00000000000000000000000000000000000001"), 0, false},
	} {
		if off, ok := idxOffset(idx, tc.h); ok != tc.want || off != tc.off {
			t.Errorf("idxOffset(%s) = %d, %v; want %d, %v", tc.h, off, ok, tc.off, tc.want)
		}
	}
	if crc, ok := idxCRC32(idx, b); !ok || crc != 2 {
		t.Errorf("idxCRC32(%s) = %d, %v; want 2", b, crc, ok)
	}
	// Positions in name order, by the same search.
	p := &packFile{idx: idx}
	for want, h := range []plumbing.Hash{a, b, c} {
		if g, ok := idxPosition(p, h); !ok || g != uint32(want) {
			t.Errorf("idxPosition(%s) = %d, %v; want %d", h, g, ok, want)
		}
	}
	if _, ok := idxPosition(p, plumbing.NewHash("ab00000000000000000000000000000000000004")); ok {
		t.Error("idxPosition found a name the index does not hold")
	}
}
