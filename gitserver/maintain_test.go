package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestMaintainMergesPacksAndLooseObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("maint")
	if _, err := ts.srv.InitialCommit(ctx, repo, "main", "# maint\n", Signature{Name: "a", Email: "a@b"}); err != nil {
		t.Fatal(err)
	}
	work := ts.clone("maint")
	for i := 0; i < 4; i++ { // four pushes, four packs
		ts.history(work, "main", 5, 3, 1700000000+int64(i)*1000)
		ts.git(work, "push", "-q", "origin", "main")
	}
	ts.git(work, "tag", "-a", "-m", "t", "v1")
	ts.git(work, "push", "-q", "origin", "v1")
	packs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
	if len(packs) != 5 {
		t.Fatalf("setup: %d packs", len(packs))
	}

	res, err := ts.srv.Maintain(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if res.PacksMerged != 5 || res.LooseObjectsPacked != 3 || res.BytesAfter <= 0 || res.BytesBefore <= 0 {
		t.Fatalf("result %+v", res)
	}
	packs, _ = filepath.Glob(filepath.Join(repo, "objects", "pack", "*"))
	if len(packs) != 2 {
		t.Fatalf("after maintenance: %v", packs)
	}
	loose, _ := listLoose(filepath.Join(repo, "objects"))
	if len(loose) != 0 {
		t.Fatalf("%d loose objects left", len(loose))
	}
	ts.fsck(repo)
	if out := ts.git(repo, "count-objects", "-v"); !strings.Contains(out, "count: 0") || !strings.Contains(out, "packs: 1") {
		t.Fatalf("count-objects:\n%s", out)
	}

	clone := ts.clone("maint")
	if a, b := ts.revParse(clone, "HEAD"), ts.revParse(work, "main"); a != b {
		t.Fatalf("clone after maintenance: %s != %s", a, b)
	}
	c := ts.commitFile(work, "after.txt", "after\n", "after maintenance")
	ts.git(work, "push", "-q", "origin", "main")
	ts.git(clone, "pull", "-q", "--ff-only")
	if got := ts.revParse(clone, "HEAD"); got != c {
		t.Fatalf("fetch after maintenance: %s", got)
	}

	// One pack plus the new push: merged again; then nothing to do.
	if res, err = ts.srv.Maintain(ctx, repo); err != nil || res.PacksMerged != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if res, err = ts.srv.Maintain(ctx, repo); err != nil || res.PacksMerged != 0 || res.LooseObjectsPacked != 0 {
		t.Fatalf("third run: %+v %v", res, err)
	}
	ts.fsck(repo)

	// A .keep pack is left alone.
	packs, _ = filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
	keep := packs[0][:len(packs[0])-len(".pack")] + ".keep"
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.commitFile(work, "more.txt", "more\n", "more")
	ts.git(work, "push", "-q", "origin", "main")
	if res, err = ts.srv.Maintain(ctx, repo); err != nil || res.PacksMerged != 0 {
		t.Fatalf("with a kept pack: %+v %v", res, err)
	}
	if _, err := os.Stat(packs[0]); err != nil {
		t.Fatalf("kept pack removed: %v", err)
	}
	ts.fsck(repo)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMaintainDeltaCompression is the storage target at a test's scale:
// ten pushes each replacing 1 KB of a 5 MB file of random bytes, then
// maintenance, against a copy of the same repository after C git's
// `git gc --aggressive` (bitmaps off: Tapioca writes none). The repacked
// repository must be within 1.2× of git's, fsck-clean, hold exactly the
// objects it held, and clone to the same content.
func TestMaintainDeltaCompression(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// pushConfig is given to the pushing client: window 0 makes it
		// send every version whole, so only maintenance can find deltas.
		pushConfig []string
		runs       []RepackOptions // one after the other
		reused     bool            // whether the first run keeps pushed deltas
	}{
		{"thin pushes", nil, []RepackOptions{{}}, true},
		{"whole pushes", []string{"-c", "pack.window=0"}, []RepackOptions{{}, AggressiveRepack()}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, Config{})
			ctx := context.Background()
			repo := ts.newRepo("big")
			work := ts.workdir("big")
			editedFileHistory(t, ts, work, 5<<20, 10, c.pushConfig)
			listObjects := func() string {
				return ts.git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)")
			}
			objects := listObjects()

			gc := filepath.Join(t.TempDir(), "gc.git")
			if err := os.CopyFS(gc, os.DirFS(repo)); err != nil {
				t.Fatal(err)
			}
			ts.git(gc, "-c", "repack.writeBitmaps=false", "gc", "-q", "--aggressive")
			gcSize, err := dirSize(gc)
			if err != nil {
				t.Fatal(err)
			}

			for i, opts := range c.runs {
				res, err := ts.srv.MaintainWith(ctx, repo, opts)
				if err != nil {
					t.Fatal(err)
				}
				after, _ := ts.srv.Size(ctx, repo)
				ratio := float64(after) / float64(gcSize)
				t.Logf("%+v: %d bytes → %d, git gc --aggressive %d: %.3f×", opts, res.BytesBefore, after, gcSize, ratio)
				if res.BytesAfter != after || res.Objects != countLines(objects) || res.Deltas < 10 {
					t.Errorf("result %+v, %d bytes on disk", res, after)
				}
				if i == 0 && (res.DeltasReused >= 10) != c.reused {
					t.Errorf("%d deltas reused", res.DeltasReused)
				}
				if ratio > 1.2 {
					t.Errorf("%d bytes after maintenance, %.2f× git gc --aggressive's %d", after, ratio, gcSize)
				}
				ts.fsck(repo)
				if got := listObjects(); got != objects {
					t.Errorf("objects changed:\nbefore\n%s\nafter\n%s", objects, got)
				}
			}
			// git clone checks every object it receives against its name.
			clone := ts.clone("big")
			if a, b := ts.git(clone, "rev-parse", "HEAD", "HEAD:big.bin"), ts.git(work, "rev-parse", "HEAD", "HEAD:big.bin"); a != b {
				t.Errorf("clone after maintenance: %s, pushed %s", a, b)
			}
		})
	}
}

// editedFileHistory commits a size-byte file of random bytes in work and
// pushes it, then pushes times more commits, each replacing 1 KB of it at
// a random place.
func editedFileHistory(t testing.TB, ts *testServer, work string, size, times int, pushConfig []string) {
	r := rand.New(rand.NewPCG(uint64(size), uint64(times)))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	file := filepath.Join(work, "big.bin")
	for i := 0; i <= times; i++ {
		if i > 0 {
			at := r.IntN(size - 1024)
			for k := at; k < at+1024; k++ {
				data[k] = byte(r.Uint32())
			}
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ts.git(work, "add", "big.bin")
		ts.git(work, "commit", "-q", "-m", fmt.Sprintf("version %d", i))
		ts.git(work, append(append([]string(nil), pushConfig...), "push", "-q", "origin", "HEAD:refs/heads/main")...)
	}
}

// TestMaintainDoesNotBlockPushes pushes and moves refs while maintenance
// has computed its pack but not installed it: all of that goes through
// (no lock is held), nothing it added is lost when the old packs are
// removed, and a second maintenance meanwhile is refused.
func TestMaintainDoesNotBlockPushes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("busy")
	work := ts.workdir("busy")
	editedFileHistory(t, ts, work, 64<<10, 3, nil)
	ts.git(work, "tag", "-a", "-m", "v1", "v1")
	ts.git(work, "push", "-q", "origin", "v1")
	oldPacks, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))

	var during []string
	ts.srv.repacked = func() {
		ts.srv.repacked = nil
		during = append(during, ts.commitFile(work, "during.txt", "pushed during maintenance\n", "during"))
		ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/heads/side", "HEAD:refs/heads/other")
		h := plumbing.NewHash(during[0])
		if err := ts.srv.UpdateRef(ctx, repo, "refs/heads/api", plumbing.ZeroHash, h); err != nil {
			t.Error(err)
		}
		if _, err := ts.srv.Maintain(ctx, repo); !errors.Is(err, ErrMaintenanceRunning) {
			t.Errorf("second maintenance: %v", err)
		}
	}
	res, err := ts.srv.Maintain(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 {
		t.Fatal("the hook did not run")
	}
	// The three-ref push went into packed-refs already; the tag pushed
	// alone and the branch made through UpdateRef were loose.
	if res.PacksMerged != len(oldPacks) || res.RefsPacked != 2 {
		t.Errorf("result %+v, %d packs before", res, len(oldPacks))
	}
	if loose := looseRefFiles(t, repo); len(loose) != 0 {
		t.Errorf("loose refs left: %v", loose)
	}
	ts.fsck(repo)
	for _, name := range []string{"refs/heads/main", "refs/heads/side", "refs/heads/other", "refs/heads/api"} {
		if got := ts.readServerRef(repo, name); got.String() != during[0] {
			t.Errorf("%s is at %s, expected %s", name, got, during[0])
		}
	}
	if got := ts.readServerRef(repo, "refs/tags/v1"); got.String() != ts.revParse(work, "v1") {
		t.Errorf("tag v1 at %s", got)
	}
	// The push's pack is the one left besides the new one.
	packs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.pack"))
	if len(packs) != 2 {
		t.Errorf("packs after maintenance: %v", packs)
	}
	if out := ts.git(repo, "show-ref", "-d"); !strings.Contains(out, "refs/tags/v1^{}") {
		t.Errorf("packed tag not peeled:\n%s", out)
	}
	clone := ts.clone("busy")
	if got := ts.revParse(clone, "origin/side"); got != during[0] {
		t.Errorf("clone has side at %s", got)
	}
	if res, err = ts.srv.Maintain(ctx, repo); err != nil || res.PacksMerged != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	ts.fsck(repo)
}

// looseRefFiles lists the files below repo/refs.
func looseRefFiles(t testing.TB, repo string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(repo, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
