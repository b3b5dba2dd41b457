package gitserver

import (
	"bytes"
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
// files that share most of their lines: the first with long versions,
// the second with shorter ones. After git gc the tip's files are stored
// as deltas against the long versions, which a depth-1 clone leaves
// behind, so the pack writer must find them new bases among each other.
func manyDeltasRepo(ts *testServer, repo string, files int) {
	ts.t.Helper()
	common := strings.Repeat("a line every file has, long enough to be worth a copy\n", 30)
	var b bytes.Buffer
	for c, extra := range []int{25, 0} {
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Test <test@example.com> %d +0000\n", 1700000000+c*60)
		msg := fmt.Sprintf("commit %d\n", c)
		fmt.Fprintf(&b, "data %d\n%s", len(msg), msg)
		for i := 0; i < files; i++ {
			content := fmt.Sprintf("file %d\n%s%s", i, common, strings.Repeat(fmt.Sprintf("line only file %d has\n", i), extra))
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
	ts.git(repo, "gc", "-q")
}

// A depth-1 clone whose objects need new deltas gets the same pack
// whether one or two workers search them, and git accepts it. 700 files
// make six segments (deltaSegmentMin), so two workers really split the
// search.
func TestDeltaSearchSamePackWhateverTheWorkers(t *testing.T) {
	ts := newTestServer(t, Config{})
	manyDeltasRepo(ts, ts.newRepo("many"), 700)
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
		deltas := 0
		for _, line := range strings.Split(ts.git(dir, "verify-pack", "-v", strings.TrimSuffix(names[0], ".pack")+".idx"), "\n") {
			// A delta's line names its depth and base after the offset.
			if f := strings.Fields(line); len(f) == 7 && f[1] == "blob" {
				deltas++
			}
		}
		// All but the first file of each window run can be a delta of
		// another; far fewer means the search did not run.
		if deltas < 600 {
			t.Errorf("GOMAXPROCS %d: %d of 700 files sent as deltas", procs, deltas)
		}
		packs = append(packs, pack)
	}
	if !bytes.Equal(packs[0], packs[1]) {
		t.Errorf("packs differ: %d bytes with one worker, %d with two", len(packs[0]), len(packs[1]))
	}
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
