package gitserver

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// manyDeltasRepo imports into the bare repository repo two commits of
// files, the first with long versions, the second with shorter ones.
// After git repack -f the tip's files are stored as deltas against the long
// versions, which a depth-1 clone leaves behind, so the pack writer must
// look for new bases: two files in three share most of their lines and
// find one in each other, the third has lines of its own and is sent
// whole.
func manyDeltasRepo(ts *testServer, repo string, files int) {
	ts.t.Helper()
	common := strings.Repeat("a line every file has, long enough to be worth a copy\n", 30)
	var b bytes.Buffer
	for c, extra := range []int{25, 0} {
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Test <test@example.com> %d +0000\n", 1700000000+c*60)
		msg := fmt.Sprintf("commit %d\n", c)
		fmt.Fprintf(&b, "data %d\n%s", len(msg), msg)
		for i := 0; i < files; i++ {
			body := common
			if i%3 == 0 {
				var own strings.Builder
				for l := 0; l < 30; l++ {
					fmt.Fprintf(&own, "%x\n", sha1.Sum([]byte(fmt.Sprint(i, l))))
				}
				body = own.String()
			}
			content := fmt.Sprintf("file %d\n%s%s", i, body, strings.Repeat(fmt.Sprintf("line only file %d has\n", i), extra))
			fmt.Fprintf(&b, "M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n", i%7, i, len(content), content)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = repo
	cmd.Env = ts.env()
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.t.Fatalf("fast-import: %v\n%s", err, out)
	}
	ts.git(repo, "repack", "-adfq")
}

// A depth-1 clone whose objects need new deltas gets the same pack
// whether one or two workers search them, and git accepts it. 900 files
// make seven segments (deltaSegmentMin), so two workers really split
// the search.
func TestDeltaSearchSamePackWhateverTheWorkers(t *testing.T) {
	const files = 900
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("many")
	manyDeltasRepo(ts, repo, files)
	// The targets: the tip's files stored as deltas against a base the
	// clone does not get (their old versions).
	stored := deltaBases(ts, repo)
	tip := map[string]int{} // blob -> file number
	for _, line := range strings.Split(strings.TrimSpace(ts.git(repo, "ls-tree", "-r", "HEAD")), "\n") {
		f := strings.Fields(line) // mode type id path
		var dir, n int
		if _, err := fmt.Sscanf(f[3], "dir%d/file%d.txt", &dir, &n); err != nil {
			t.Fatalf("ls-tree line %q: %v", line, err)
		}
		tip[f[2]] = n
	}
	var similar, own []string
	for blob, n := range tip {
		base := stored[blob]
		if _, sent := tip[base]; base == "" || sent {
			continue
		}
		if n%3 == 0 {
			own = append(own, blob)
		} else {
			similar = append(similar, blob)
		}
	}
	if len(similar) < 100 || len(own) < 100 {
		t.Fatalf("git repack left %d similar and %d distinct files as targets; the test needs more", len(similar), len(own))
	}

	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	var packs [][]byte
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		dir := ts.clone("many", "--bare", "--depth", "1")
		runtime.GOMAXPROCS(prev)
		ts.fsck(dir)
		names, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
		if err != nil || len(names) != 1 {
			t.Fatalf("GOMAXPROCS %d: clone has packs %v (%v), want one", procs, names, err)
		}
		pack, err := os.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		packs = append(packs, pack)
		sent := deltaBases(ts, dir)
		found := 0
		for _, blob := range similar {
			if sent[blob] != "" {
				found++
			}
		}
		// Each similar file has others in its window; the first of a
		// segment may not.
		if found < len(similar)*9/10 {
			t.Errorf("GOMAXPROCS %d: %d of %d similar targets sent as deltas", procs, found, len(similar))
		}
		for _, blob := range own {
			if sent[blob] != "" {
				t.Errorf("GOMAXPROCS %d: %s, a file of its own lines, sent as a delta against %s", procs, blob, sent[blob])
			}
		}
	}
	if !bytes.Equal(packs[0], packs[1]) {
		t.Errorf("packs differ: %d bytes with one worker, %d with two", len(packs[0]), len(packs[1]))
	}
}

// deltaBases lists the objects of the bare repository dir's packs, each
// with its delta base ("" if stored whole).
func deltaBases(ts *testServer, dir string) map[string]string {
	ts.t.Helper()
	idxs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.idx"))
	if err != nil || len(idxs) == 0 {
		ts.t.Fatalf("packs of %s: %v (%v)", dir, idxs, err)
	}
	bases := map[string]string{}
	for _, idx := range idxs {
		for _, line := range strings.Split(ts.git(dir, "verify-pack", "-v", idx), "\n") {
			// id type size size-in-pack offset [depth base]
			switch f := strings.Fields(line); {
			case len(f) == 5 && len(f[0]) == 40:
				bases[f[0]] = ""
			case len(f) == 7 && len(f[0]) == 40:
				bases[f[0]] = f[6]
			}
		}
	}
	return bases
}

func TestDeltaSegments(t *testing.T) {
	run := func(n int, name func(i int) uint32) []*searchEntry {
		es := make([]*searchEntry, n)
		for i := range es {
			es[i] = &searchEntry{typ: objBlob, name: name(i)}
		}
		return es
	}
	distinct := func(i int) uint32 { return uint32(i) }
	cases := []struct {
		name    string
		entries []*searchEntry
		want    []int // segment lengths
	}{
		{"empty", nil, nil},
		{"one short segment", run(10, distinct), []int{10}},
		{"minimum length", run(300, distinct), []int{128, 128, 44}},
		{"at most about thirty-two", run(32*300+5, distinct), append(repeatInt(300, 32), 5)},
		// A run of one name is never cut: the segment grows to its end.
		{"name run kept whole", run(300, func(i int) uint32 { return uint32(max(i, 149)) }), []int{150, 128, 22}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []int
			total := 0
			for _, s := range deltaSegments(c.entries) {
				got = append(got, len(s))
				total += len(s)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("segments %v, want %v", got, c.want)
			}
			if total != len(c.entries) {
				t.Errorf("segments hold %d entries, want %d", total, len(c.entries))
			}
		})
	}
}

func repeatInt(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// A failing worker (an object that cannot be read) or a client that
// went away stops the whole search with that error.
func TestSearchSegmentsStops(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "objects", "pack"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := openODB(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	gone := errors.New("client went away")
	cases := []struct {
		name    string
		missing int // entry whose object is absent (-1: none)
		tick    func() error
		want    error
	}{
		{"missing object", 700, func() error { return nil }, ErrNotFound},
		{"client gone", -1, func() error { return gone }, gone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Bases only, never read, but for one target.
			entries := make([]*searchEntry, 1000)
			for i := range entries {
				entries[i] = &searchEntry{h: plumbing.Hash{byte(i >> 8), byte(i)}, typ: objBlob, name: uint32(i), size: 1000}
			}
			if c.missing >= 0 {
				entries[c.missing].target = true
			}
			pw := &packWriter{db: db}
			if err := pw.searchSegments(deltaSegments(entries), 2, c.tick); !errors.Is(err, c.want) {
				t.Fatalf("search: %v, want %v", err, c.want)
			}
		})
	}
}

// TestPushResolvesOnWorkers pushes a pack whose deltas hang off hundreds
// of whole entries, so that they are resolved on several goroutines
// (with GOMAXPROCS 1 and 2: on one, then split), and checks that every
// object arrived whole, named as git names it.
func TestPushResolvesOnWorkers(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint(procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			ts := newTestServer(t, Config{})
			src := ts.newRepo("src")
			manyDeltasRepo(ts, src, 900)
			dst := ts.newRepo("dst")
			ts.git(src, "push", "-q", ts.remote("dst"), "main")
			ts.fsck(dst)
			want := ts.git(src, "rev-list", "--objects", "--all")
			got := ts.git(dst, "rev-list", "--objects", "--all")
			if got != want {
				t.Fatalf("pushed objects differ: %d lines, want %d", strings.Count(got, "\n"), strings.Count(want, "\n"))
			}
			// Whole entries that deltas are based on: at least 128, for
			// resolveRoots to take two workers.
			roots := map[string]bool{}
			for _, line := range strings.Split(ts.git(src, "verify-pack", "-v", onePack(t, src)), "\n") {
				if f := strings.Fields(line); len(f) == 7 && f[5] == "1" {
					roots[f[6]] = true
				}
			}
			if len(roots) < 128 {
				t.Fatalf("%d whole entries with deltas: too few to split", len(roots))
			}
		})
	}
}

// onePack is the one pack of a repository.
func onePack(t *testing.T, repo string) string {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("%d packs in %s", len(packs), repo)
	}
	return packs[0]
}
