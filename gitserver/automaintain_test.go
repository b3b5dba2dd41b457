package gitserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWantsMaintenance: a push of a long history wants maintenance until
// its reachability index is written; so do many packs and many loose
// objects, as git gc --auto counts them; a small history does not.
func TestWantsMaintenance(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})

	small := ts.newRepo("small")
	work := ts.workdir("small")
	ts.commitFile(work, "a.txt", "a\n", "one")
	ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
	if ts.srv.WantsMaintenance(small) {
		t.Error("a repository of 3 objects wants maintenance")
	}

	// One commit of autoIndexObjects files, pushed as one pack.
	big := ts.newRepo("big")
	src := t.TempDir()
	ts.git(src, "init", "-q")
	var b strings.Builder
	fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Test <test@example.com> 1700000000 +0000\ndata 4\nbig\n")
	for i := range autoIndexObjects {
		fmt.Fprintf(&b, "M 100644 inline d%d/f%d\ndata %d\n%d\n", i%100, i, len(fmt.Sprint(i))+1, i)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = src, ts.env(), strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	ts.git(src, "push", "-q", ts.remote("big"), "main")
	if !ts.srv.WantsMaintenance(big) {
		t.Fatal("a pushed history of 10,000 objects without a reachability index wants no maintenance")
	}
	if _, err := ts.srv.Maintain(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if ts.srv.WantsMaintenance(big) {
		t.Fatal("still wants maintenance after it")
	}
	// A later push leaves the index in place: the walk from it is short.
	bigWork := ts.clone("big")
	ts.commitFile(bigWork, "d0/new", "new\n", "two")
	ts.git(bigWork, "push", "-q", "origin", "HEAD:main")
	if ts.srv.WantsMaintenance(big) {
		t.Error("a small push after maintenance wants it again")
	}

	// autoPackLimit packs.
	for i := 1; i < autoPackLimit; i++ {
		ts.commitFile(work, "a.txt", fmt.Sprintf("v%d\n", i), "more")
		ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
	}
	if !ts.srv.WantsMaintenance(small) {
		packs, _ := filepath.Glob(filepath.Join(small, "objects", "pack", "*.idx"))
		t.Errorf("%d packs want no maintenance", len(packs))
	}

	// Loose objects, estimated from objects/17 as git does.
	loose := ts.newRepo("loose")
	dir := filepath.Join(loose, "objects", "17")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range (autoLooseObjects + 255) / 256 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%038x", i)), nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if !ts.srv.WantsMaintenance(loose) {
		t.Error("about 6,700 loose objects want no maintenance")
	}
}
