package gitserver

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCloneFromReachIndex clones with the real git client from a
// repository whose maintenance wrote a reachability index, and checks
// that every clone holds exactly the objects of a clone served by the
// history walk (index moved away), is fsck-clean, and says whether the
// stored entries were reused: verbatim (the pack is the closure), entry
// by entry (unreachable objects in the pack, blob:none), with commits
// pushed since maintenance, and not at all once a recorded tip is gone.
func TestCloneFromReachIndex(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("reach")
	work := ts.workdir("reach")
	ts.history(work, "main", 40, 6, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.history(work, "side", 10, 4, 1700100000)
	// An entry larger than the copy window (incompressible).
	big := make([]byte, 3*fileWindowSize)
	rand.NewChaCha8([32]byte{1}).Read(big)
	ts.git(work, "checkout", "-q", "main")
	ts.commitFile(work, "big.bin", string(big), "a large file")
	ts.git(work, "tag", "-a", "-m", "release", "v1", "main~5")
	blob := strings.TrimSpace(ts.git(work, "rev-parse", "main:dir0/file0.txt"))
	ts.git(work, "tag", "-a", "-m", "a blob", "blobtag", blob)
	ts.git(work, "push", "-q", "origin", "main", "side", "v1", "blobtag")

	maintain := func() {
		t.Helper()
		if _, err := ts.srv.Maintain(ctx, repo); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(repo, "objects", "info", reachPrefix+"*")); len(m) != 1 {
			t.Fatalf("reachability index files after maintenance: %v", m)
		}
	}
	reused := regexp.MustCompile(`pack-reused (\d+)`)
	// check clones with args, from the index and then by the walk, and
	// compares; wantReuse says whether the first must reuse entries.
	check := func(name string, wantReuse bool, args ...string) {
		t.Helper()
		objects := func(withIndex bool) string {
			t.Helper()
			idx, _ := filepath.Glob(filepath.Join(repo, "objects", "info", reachPrefix+"*"))
			if !withIndex {
				for _, f := range idx {
					if err := os.Rename(f, f+".off"); err != nil {
						t.Fatal(err)
					}
					defer os.Rename(f+".off", f)
				}
			}
			dir := filepath.Join(t.TempDir(), "c.git")
			_, errOut, err := ts.gitErr("", nil, append(append([]string{"clone", "--bare", "--progress"}, args...), ts.remote("reach"), dir)...)
			if err != nil {
				t.Fatalf("%s: clone: %v\n%s", name, err, errOut)
			}
			n := 0
			if m := reused.FindStringSubmatch(errOut); m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			if withIndex && (n > 0) != wantReuse {
				t.Fatalf("%s: pack-reused %d, want reuse %v\n%s", name, n, wantReuse, errOut)
			}
			if !withIndex && n != 0 {
				t.Fatalf("%s: pack-reused %d without an index", name, n)
			}
			ts.git(dir, "-c", "fetch.fsckObjects=true", "fsck", "--full", "--strict")
			return ts.git(dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
		}
		if a, b := objects(true), objects(false); a != b {
			t.Fatalf("%s: objects differ from the walk's:\n%s\nwalk:\n%s", name, a, b)
		}
	}

	// 1. Only reachable objects: the pack goes out verbatim.
	maintain()
	check("verbatim", true)
	check("verbatim v0", true, "-c", "protocol.version=0")
	check("blob:none", true, "--filter=blob:none")

	// 2. A branch pushed and deleted leaves unreachable objects in the
	// pack: entries are picked one by one.
	ts.history(work, "gone", 5, 3, 1700200000)
	ts.git(work, "push", "-q", "origin", "gone")
	ts.git(work, "push", "-q", "origin", ":gone")
	maintain()
	check("with unreachable objects", true)
	check("with unreachable objects, blob:none", true, "--filter=blob:none")

	// 3. Commits pushed since maintenance: walked down to the recorded
	// tips, the rest reused.
	ts.git(work, "checkout", "-q", "main")
	ts.commitFile(work, "new.txt", "new\n", "after maintenance")
	ts.commitFile(work, "dir0/file0.txt", "reverted\n", "edit an old file")
	ts.git(work, "push", "-q", "origin", "main")
	check("pushed since", true)
	check("pushed since, blob:none", true, "--filter=blob:none")

	// 4. A recorded tip deleted: the index no longer applies.
	ts.git(work, "push", "-q", "origin", ":refs/tags/v1")
	check("tip deleted", false)
	maintain()
	check("tip deleted, maintained", true)
	ts.fsck(repo)
}
