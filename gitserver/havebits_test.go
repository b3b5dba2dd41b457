package gitserver

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestHaveBitmaps: maintenance records have bitmaps for first-parent
// ancestors of the default branch, which hold exactly the objects
// reachable from their commit, and a thin fetch from a client behind them
// reuses more stored deltas with them than without, with a pack git
// accepts.
func TestHaveBitmaps(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("have")
	work := ts.workdir("have")
	ts.history(work, "main", 300, 12, 1_700_000_000)
	ts.git(work, "push", "-q", "origin", "main")
	if _, err := ts.srv.MaintainWith(context.Background(), repo, RepackOptions{NoReuse: true}); err != nil {
		t.Fatal(err)
	}

	db, err := openODB(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	if len(db.packs) != 1 {
		t.Fatalf("%d packs after maintenance", len(db.packs))
	}
	p := db.packs[0]
	hf, err := readHaveFile(repo, p)
	if err != nil {
		t.Fatalf("no have bitmaps after maintenance: %v", err)
	}
	ents, err := p.sortedEntries()
	if err != nil {
		t.Fatal(err)
	}
	var distances []int
	for i, c := range hf.commits {
		d, err := strconv.Atoi(strings.TrimSpace(ts.git(work, "rev-list", "--count", "--first-parent", c.String()+"..main")))
		if err != nil {
			t.Fatal(err)
		}
		distances = append(distances, d)
		closure := objectNames(ts.git(repo, "rev-list", "--objects", c.String()))
		set := 0
		for pos, e := range ents {
			if h, ok := idxName(p, uint32FromRev(hf.rev, pos)); !ok || h != e.hash {
				t.Fatalf("position %d names %s, the pack has %s there", pos, h, e.hash)
			}
			if !bitSet(hf.bitmap(i), pos) {
				continue
			}
			set++
			if !closure[e.hash.String()] {
				t.Fatalf("bitmap of %s (main~%d) holds %s, not reachable from it", c, d, e.hash)
			}
		}
		if set != len(closure) {
			t.Errorf("bitmap of main~%d holds %d of the %d objects reachable from it", d, set, len(closure))
		}
	}
	if !slices.Equal(distances, []int{16, 32, 64, 128, 256}) {
		t.Fatalf("bitmaps at first-parent distances %v, want 16 32 64 128 256", distances)
	}

	// A client at main~40 fetching main: thin, with and without the
	// bitmaps (the file removed), through git, which checks the pack.
	ts.git(work, "branch", "-f", "old", "main~40")
	reused := func() int {
		c := t.TempDir()
		ts.git(c, "init", "-q", "--bare")
		ts.git(c, "fetch", "-q", "file://"+work, "old:refs/heads/main")
		ts.git(c, "remote", "add", "origin", ts.remote("have"))
		_, errOut, err := ts.gitErr(c, nil, "fetch", "--progress", "origin", "main")
		if err != nil {
			t.Fatalf("fetch: %v\n%s", err, errOut)
		}
		ts.git(c, "fsck", "--no-progress")
		m := regexp.MustCompile(`reused \d+ \(delta (\d+)\)`).FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("no reuse line in:\n%s", errOut)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	with := reused()
	if err := os.Remove(havePath(repo, plumbing.Hash(p.idx.PackfileChecksum))); err != nil {
		t.Fatal(err)
	}
	without := reused()
	if with <= without {
		t.Errorf("stored deltas reused: %d with the have bitmaps, %d without", with, without)
	}
	t.Logf("stored deltas reused: %d with the have bitmaps, %d without", with, without)
	// Maintenance writes the file again, the index being up to date.
	if _, err := ts.srv.Maintain(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(filepath.Join(repo, "objects", "info", havePrefix+"*")); len(names) != 1 {
		t.Fatalf("have bitmap files after maintenance: %v", names)
	}
}

func uint32FromRev(rev []byte, pos int) uint32 {
	return uint32(rev[4*pos])<<24 | uint32(rev[4*pos+1])<<16 | uint32(rev[4*pos+2])<<8 | uint32(rev[4*pos+3])
}
