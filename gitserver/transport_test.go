package gitserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCloneEmptyThenPush(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("empty")

	dir := filepath.Join(t.TempDir(), "empty")
	_, stderr, err := ts.gitErr("", nil, "clone", ts.remote("empty"), dir)
	if err != nil {
		t.Fatalf("clone empty: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "empty repository") {
		t.Errorf("clone of empty repo: stderr %q lacks the empty-repository warning", stderr)
	}
	c := ts.commitFile(dir, "a.txt", "hello\n", "first")
	ts.git(dir, "push", "-q", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != c {
		t.Fatalf("server main = %s, want %s", got, c)
	}
	ts.fsck(repo)

	again := ts.clone("empty")
	if got := ts.revParse(again, "HEAD"); got != c {
		t.Fatalf("clone HEAD = %s, want %s", got, c)
	}
	if data, err := os.ReadFile(filepath.Join(again, "a.txt")); err != nil || string(data) != "hello\n" {
		t.Fatalf("clone content: %q %v", data, err)
	}
}

func TestPushBranchesAndTagsThenClone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("tags")
	work := ts.workdir("tags")
	ts.history(work, "main", 30, 7, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "branch", "feature/x", "main~5")
	ts.git(work, "tag", "light", "main~3")
	ts.git(work, "tag", "-a", "-m", "release one", "v1.0", "main~1")
	ts.git(work, "tag", "-a", "-m", "tag of a tag", "v1.0-outer", "v1.0")
	ts.git(work, "push", "-q", "origin", "main", "feature/x", "--tags")
	ts.fsck(repo)

	ls := ts.git(work, "ls-remote", "origin")
	for _, want := range []string{"HEAD", "refs/heads/main", "refs/heads/feature/x", "refs/tags/light", "refs/tags/v1.0", "refs/tags/v1.0^{}", "refs/tags/v1.0-outer^{}"} {
		if !strings.Contains(ls, "\t"+want+"\n") {
			t.Errorf("ls-remote lacks %s:\n%s", want, ls)
		}
	}
	if strings.Contains(ls, "refs/tags/light^{}") {
		t.Errorf("lightweight tag advertised as peeled:\n%s", ls)
	}

	clone := ts.clone("tags")
	for _, r := range []string{"HEAD", "origin/feature/x", "light", "v1.0", "v1.0^{}", "v1.0-outer"} {
		if a, b := ts.revParse(work, strings.TrimPrefix(r, "origin/")), ts.revParse(clone, r); a != b {
			t.Errorf("%s: clone has %s, pushed %s", r, b, a)
		}
	}
	if got := countLines(ts.git(clone, "rev-list", "HEAD")); got != 30 {
		t.Errorf("clone history has %d commits, want 30", got)
	}
	ts.git(clone, "fsck", "--full")
	head := strings.TrimSpace(ts.git(clone, "symbolic-ref", "HEAD"))
	if head != "refs/heads/main" {
		t.Errorf("clone HEAD -> %s", head)
	}
}

func TestIncrementalFetchSendsOnlyNewObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("inc")
	work := ts.workdir("inc")
	ts.history(work, "main", 40, 10, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")

	reader := ts.clone("inc")
	// One new commit changing one file in a subdirectory: commit, root
	// tree, subtree, blob.
	c := ts.commitFile(work, "dir3/file3.txt", "changed\n", "change one file")
	ts.git(work, "push", "-q", "origin", "main")
	ts.fsck(repo)

	if n := ts.fetchCount(reader, "origin"); n != 4 {
		t.Errorf("fetch transferred %d objects, want 4", n)
	}
	if got := ts.revParse(reader, "origin/main"); got != c {
		t.Fatalf("origin/main = %s, want %s", got, c)
	}
	// And the stderr of a fetch of the next commit shows negotiation found
	// the common history.
	ts.commitFile(work, "dir1/file1.txt", "changed too\n", "change another")
	ts.git(work, "push", "-q", "origin", "main")
	_, stderr, err := ts.gitErr(reader, nil, "fetch", "origin")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "no common commits") {
		t.Errorf("fetch negotiated nothing in common:\n%s", stderr)
	}
	ts.git(reader, "fsck", "--full")

	// Nothing new: the client does not even need a pack.
	_, stderr, err = ts.gitErr(reader, nil, "fetch", "origin")
	if err != nil || strings.TrimSpace(stderr) != "" {
		t.Errorf("no-op fetch: %v %q", err, stderr)
	}
}

func TestShallowCloneAndDeepen(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("shallow")
	work := ts.workdir("shallow")
	ts.history(work, "main", 12, 4, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")
	count := func(dir string) int { return countLines(ts.git(dir, "rev-list", "HEAD")) }

	clone := ts.clone("shallow", "--depth", "1")
	if n := count(clone); n != 1 {
		t.Fatalf("--depth 1 clone has %d commits", n)
	}
	if _, err := os.Stat(filepath.Join(clone, ".git", "shallow")); err != nil {
		t.Fatalf("clone is not shallow: %v", err)
	}
	ts.git(clone, "fsck")
	// The same clone from git's own server, to compare what deepening
	// transfers (received objects below fetch.unpackLimit stay loose).
	native := filepath.Join(t.TempDir(), "native")
	ts.git("", "clone", "-q", "--depth", "1", "file://"+repo, native)
	ours, git := ts.fetchCount(clone, "--deepen", "5"), ts.fetchCount(native, "--deepen", "5")
	if n := count(clone); n != 6 {
		t.Fatalf("after --deepen 5: %d commits, want 6", n)
	}
	if ours != git {
		t.Errorf("--deepen 5 transferred %d objects; git sends %d", ours, git)
	}
	ts.git(clone, "fetch", "-q", "--depth", "3")
	if n := count(clone); n != 3 {
		t.Fatalf("after --depth 3 (shallower than we had): %d commits, want 3 as with git", n)
	}
	ts.git(clone, "fetch", "-q", "--deepen", "3")
	// The client keeps both old and new boundaries in .git/shallow, and
	// deepening from both gives 9, exactly as against git's own server.
	if n := count(clone); n != 9 {
		t.Fatalf("after --deepen 3: %d commits, want 9", n)
	}
	ts.git(clone, "fsck")

	// New commits on the server, then a plain fetch into the shallow clone.
	ts.commitFile(work, "dir0/new.txt", "new\n", "more")
	ts.git(work, "push", "-q", "origin", "main")
	ts.git(clone, "pull", "-q", "--ff-only")
	if n := count(clone); n != 10 {
		t.Fatalf("after pull: %d commits, want 10", n)
	}
	ts.git(clone, "fetch", "-q", "--unshallow")
	if n := count(clone); n != 13 {
		t.Fatalf("after --unshallow: %d commits, want 13", n)
	}
	ts.git(clone, "fsck", "--full")

	since := ts.clone("shallow", "--shallow-since", "@1700000400")
	if n := count(since); n != 6 { // commits at +420s ... +660s and the new one
		t.Errorf("--shallow-since: %d commits, want 6", n)
	}
	ts.git(work, "tag", "old", "main~4")
	ts.git(work, "push", "-q", "origin", "old")
	excl := ts.clone("shallow", "--shallow-exclude", "old")
	if n := count(excl); n != 4 {
		t.Errorf("--shallow-exclude: %d commits, want 4", n)
	}
	ts.fsck(repo)
}

func TestForcePushAndDeleteBranch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("force")
	work := ts.workdir("force")
	ts.commitFile(work, "a.txt", "1\n", "one")
	ts.commitFile(work, "a.txt", "2\n", "two")
	ts.git(work, "push", "-q", "origin", "main", "main:refs/heads/topic")

	ts.git(work, "reset", "-q", "--hard", "HEAD~1")
	rewritten := ts.commitFile(work, "b.txt", "other\n", "rewritten")
	_, stderr, err := ts.gitErr(work, nil, "push", "origin", "main")
	if err == nil || !strings.Contains(stderr, "rejected") {
		t.Fatalf("non-fast-forward push without --force: err=%v\n%s", err, stderr)
	}
	ts.git(work, "push", "-q", "--force", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != rewritten {
		t.Fatalf("after force push main = %s, want %s", got, rewritten)
	}
	ts.fsck(repo)

	ts.git(work, "push", "-q", "origin", ":topic")
	if got := ts.readServerRef(repo, "refs/heads/topic"); !got.IsZero() {
		t.Fatalf("deleted branch still at %s", got)
	}
	ts.fsck(repo)

	// A branch that lives in packed-refs is removed from there too.
	ts.git(work, "push", "-q", "origin", "main:refs/heads/packed")
	ts.git(repo, "pack-refs", "--all")
	if _, err := os.Stat(filepath.Join(repo, "refs", "heads", "packed")); err == nil {
		t.Fatal("pack-refs left a loose ref")
	}
	ts.git(work, "push", "-q", "origin", ":packed")
	data, _ := os.ReadFile(filepath.Join(repo, "packed-refs"))
	if strings.Contains(string(data), "refs/heads/packed") {
		t.Fatalf("packed-refs still lists the deleted branch:\n%s", data)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != rewritten {
		t.Fatalf("main changed by deleting another branch: %s", got)
	}
	ts.fsck(repo)
}

func TestLargeBlobSidebandChunks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("big")
	work := ts.workdir("big")
	blob := make([]byte, 1<<20)
	fillRandom(blob, 1)
	if err := os.WriteFile(filepath.Join(work, "random.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.git(work, "add", "random.bin")
	ts.git(work, "commit", "-q", "-m", "random")
	ts.git(work, "push", "-q", "origin", "main")
	ts.fsck(repo)

	clone := ts.clone("big")
	data, err := os.ReadFile(filepath.Join(clone, "random.bin"))
	if err != nil || string(data) != string(blob) {
		t.Fatalf("cloned blob differs (err %v)", err)
	}

	// The same fetch by hand, checking every side-band packet.
	head := ts.readServerRef(repo, "refs/heads/main")
	resp := postUploadPack(t, ts, "big", false, "want "+head.String()+" side-band-64k ofs-delta\n", "", "done\n")
	pack, maxPayload := demuxSideband(t, resp)
	if maxPayload > sideband64kMax {
		t.Fatalf("side-band packet with %d payload bytes, max %d", maxPayload, sideband64kMax)
	}
	if maxPayload < 60000 {
		t.Errorf("largest side-band packet only %d bytes; packets are not being filled", maxPayload)
	}
	verifyPack(t, ts, pack, 3)
}

func TestResolveBranchesAndHEAD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("api")
	c, err := ts.srv.InitialCommit(ctx, repo, "main", "# api\n", Signature{Name: "Bot <x>", Email: "bot@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ts.fsck(repo)
	if _, err := ts.srv.InitialCommit(ctx, repo, "main", "again", Signature{}); err == nil {
		t.Fatal("second InitialCommit on an existing branch succeeded")
	}
	clone := ts.clone("api")
	if data, _ := os.ReadFile(filepath.Join(clone, "README.md")); string(data) != "# api\n" {
		t.Fatalf("README.md = %q", data)
	}
	author := strings.TrimSpace(ts.git(clone, "log", "-1", "--format=%an <%ae>"))
	if author != "Bot x <bot@example.com>" {
		t.Errorf("author = %q", author)
	}

	work := clone
	second := ts.commitFile(work, "x.txt", "x\n", "second")
	ts.git(work, "tag", "-a", "-m", "annotated", "v2")
	ts.git(work, "push", "-q", "origin", "main", "main:refs/heads/dev/1", "v2")

	cases := []struct {
		name string
		want string
		err  error
	}{
		{"main", second, nil},
		{"refs/heads/dev/1", second, nil},
		{"dev/1", second, nil},
		{"HEAD", second, nil},
		{"v2", second, nil}, // peeled
		{c.String(), c.String(), nil},
		{strings.ToUpper(c.String()), c.String(), nil},
		{second[:7], second, nil},
		{"nope", "", ErrNotFound},
		{"abc", "", ErrNotFound}, // too short to be a hash
		{"../../etc", "", ErrNotFound},
	}
	for _, tc := range cases {
		got, err := ts.srv.ResolveRef(ctx, repo, tc.name)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ResolveRef(%q) err = %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ResolveRef(%q) = %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}

	branches, err := ts.srv.Branches(ctx, repo)
	if err != nil || len(branches) != 2 || branches[0].Name != "dev/1" || branches[1].Name != "main" {
		t.Fatalf("Branches = %+v, %v", branches, err)
	}
	if err := ts.srv.SetHEAD(ctx, repo, "dev/1"); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(ts.git(ts.clone("api"), "rev-parse", "--abbrev-ref", "HEAD")); got != "dev/1" {
		t.Errorf("clone after SetHEAD checked out %q", got)
	}
	other := filepath.Join(ts.root, "defaults.git")
	if err := ts.srv.Init(ctx, other, ""); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Init(ctx, other, "main"); !errors.Is(err, ErrExists) {
		t.Errorf("Init over an existing repository: %v", err)
	}
	if _, err := ts.srv.InitialCommit(ctx, other, "", "x", Signature{Name: "a", Email: "b"}); err != nil {
		t.Fatal(err)
	}
	if bs, err := ts.srv.Branches(ctx, other); err != nil || len(bs) != 1 || bs[0].Name != "master" {
		t.Errorf("default branch: %+v %v", bs, err)
	}
	ts.fsck(other)
	if err := ts.srv.SetHEAD(ctx, repo, "bad..name"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetHEAD(bad..name) = %v", err)
	}
	size, err := ts.srv.Size(ctx, repo)
	if err != nil || size <= 0 {
		t.Errorf("Size = %d, %v", size, err)
	}
	ts.fsck(repo)
}

func TestIncrementalFetchUsesThinDeltas(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("thin")
	work := ts.workdir("thin")
	var text strings.Builder
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&text, "line %d of a large text file that changes a little\n", i)
	}
	ts.commitFile(work, "docs/big.txt", text.String(), "big file")
	ts.git(work, "push", "-q", "origin", "main")
	reader := ts.clone("thin")

	changed := strings.Replace(text.String(), "line 2000 of", "LINE 2000 OF", 1)
	want := ts.commitFile(work, "docs/big.txt", changed, "edit one line")
	ts.git(work, "push", "-q", "origin", "main")

	_, stderr, err := ts.gitErr(reader, nil, "fetch", "--progress", "origin")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	// commit, root tree, docs/ tree and the blob; the 200 KB blob goes as
	// a delta against the version the client has (the trees are too small
	// to bother).
	if !strings.Contains(stderr, "remote: Total 4 (delta 1)") {
		t.Errorf("fetch did not use thin deltas:\n%s", stderr)
	}
	ts.git(reader, "merge", "-q", "--ff-only", "origin/main")
	if got := ts.revParse(reader, "HEAD"); got != want {
		t.Fatalf("HEAD = %s, want %s", got, want)
	}
	data, err := os.ReadFile(filepath.Join(reader, "docs", "big.txt"))
	if err != nil || string(data) != changed {
		t.Fatalf("fetched content differs (err %v)", err)
	}
	ts.git(reader, "fsck", "--full")
	ts.fsck(repo)
}

func TestFetchFollowsTags(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("follow")
	work := ts.workdir("follow")
	ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main")
	reader := ts.clone("follow")

	ts.commitFile(work, "b", "b", "b")
	ts.git(work, "tag", "-a", "-m", "release", "v1")
	ts.git(work, "push", "-q", "origin", "main", "v1")
	ts.git(reader, "fetch", "-q", "origin")
	if got, want := ts.revParse(reader, "v1"), ts.revParse(work, "v1"); got != want {
		t.Fatalf("auto-followed tag v1 = %s, want %s", got, want)
	}
	ts.git(reader, "fsck", "--full")
	ts.fsck(repo)
}

// TestServeAfterGitGC: repositories repacked by git itself (deep delta
// chains, bitmaps, packed-refs with peeled values) serve and accept pushes.
func TestServeAfterGitGC(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("gc")
	work := ts.workdir("gc")
	ts.history(work, "main", 50, 4, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "tag", "-a", "-m", "a tag", "v1", "main~10")
	ts.git(work, "push", "-q", "origin", "main", "v1")
	old := ts.clone("gc", "-b", "main")
	ts.git(old, "reset", "-q", "--hard", "HEAD~20")

	ts.git(repo, "-c", "repack.writeBitmaps=true", "gc", "-q", "--aggressive", "--prune=now")
	if data, _ := os.ReadFile(filepath.Join(repo, "packed-refs")); !strings.Contains(string(data), "^") {
		t.Fatalf("gc did not write peeled packed-refs:\n%s", data)
	}
	ls := ts.git(work, "ls-remote", "origin")
	if !strings.Contains(ls, "refs/tags/v1^{}") {
		t.Fatalf("peeled tag missing after gc:\n%s", ls)
	}
	clone := ts.clone("gc")
	if n := countLines(ts.git(clone, "rev-list", "--all")); n != 50 {
		t.Fatalf("clone after gc has %d commits", n)
	}
	ts.git(clone, "fsck", "--full")
	ts.git(old, "pull", "-q", "--ff-only")
	if a, b := ts.revParse(old, "HEAD"), ts.revParse(work, "main"); a != b {
		t.Fatalf("incremental fetch after gc: %s != %s", a, b)
	}
	c := ts.commitFile(work, "after-gc.txt", "x\n", "after gc")
	ts.git(work, "push", "-q", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main").String(); got != c {
		t.Fatalf("push after gc: main = %s", got)
	}
	ts.fsck(repo)
}

// TestDeepenTransfersWhatGitDoes: deepening a shallow clone of a wide tree
// must not resend the files the client already has.
func TestDeepenTransfersWhatGitDoes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("wide")
	work := ts.workdir("wide")
	ts.history(work, "main", 30, 40, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")

	ours := ts.clone("wide", "--depth", "1")
	native := filepath.Join(t.TempDir(), "native")
	ts.git("", "clone", "-q", "--depth", "1", "file://"+repo, native)
	for _, step := range [][]string{{"--deepen", "5"}, {"--deepen", "3"}, {"--unshallow"}} {
		o, g := ts.fetchCount(ours, step...), ts.fetchCount(native, step...)
		if o != g || o == 0 {
			t.Errorf("fetch %v transferred %d objects; git sends %d", step, o, g)
		}
		if a, b := countLines(ts.git(ours, "rev-list", "HEAD")), countLines(ts.git(native, "rev-list", "HEAD")); a != b {
			t.Errorf("fetch %v: history of %d commits; git gives %d", step, a, b)
		}
	}
	ts.git(ours, "fsck", "--full")
	ts.fsck(repo)
}
