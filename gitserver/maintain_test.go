package gitserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
