package merge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var (
	forgeAuthor    = Signature{Name: "PR Author", Email: "author@example.com", When: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))}
	forgeCommitter = Signature{Name: "Tapioca", Email: "noreply@tapioca.test", When: time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)}
)

func authorEnv(name string) []string {
	return []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + strings.ToLower(name) + "@example.com"}
}

// prRepo builds main with one extra commit and a feature branch of three
// commits by three different authors, all mergeable.
func prRepo(t *testing.T) (r *gitRepo, base, head plumbing.Hash) {
	r = newGitRepo(t)
	r.commitFiles("initial", map[string]file{"README": txt(ten), "src/a.go": txt("package a\n")})
	r.git("checkout", "-q", "-b", "feature")
	r.commitFiles("feat: one\n\nbody one", map[string]file{"src/b.go": txt("package b\n")}, authorEnv("Alice")...)
	r.commitFiles("feat: two", map[string]file{"README": txt(edit(ten, 0, "title"))}, authorEnv("Bob")...)
	head = r.commitFiles("feat: three", map[string]file{"run.sh": exe("#!/bin/sh\n")}, authorEnv("Carol")...)
	r.git("checkout", "-q", "main")
	base = r.commitFiles("main moves on", map[string]file{"README": txt(edit(ten, 9, "footer"))})
	return r, base, head
}

func fsck(t *testing.T, r *gitRepo, tip plumbing.Hash) {
	t.Helper()
	// A ref makes the new commits reachable, so fsck checks them fully.
	r.git("update-ref", "refs/heads/result", tip.String())
	r.git("fsck", "--full", "--strict", "--no-dangling")
}

func TestMergeCommit(t *testing.T) {
	t.Parallel()
	r, base, head := prRepo(t)
	ctx := context.Background()
	h, err := MergeCommit(ctx, r.storage(), base, head, forgeAuthor, forgeCommitter, "Merge pull request #1")
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, r, h)
	if got, want := r.git("log", "--format=%P", "-1", h.String()), base.String()+" "+head.String()+"\n"; got != want {
		t.Fatalf("parents %q, want %q", got, want)
	}
	if got := r.git("log", "--format=%an <%ae>|%cn <%ce>|%ad|%s", "--date=iso-strict", "-1", h.String()); got != "PR Author <author@example.com>|Tapioca <noreply@tapioca.test>|2024-05-06T07:08:09+02:00|Merge pull request #1\n" {
		t.Fatalf("header %q", got)
	}
	want := strings.TrimSpace(r.git("merge-tree", "--write-tree", base.String(), head.String()))
	if got := strings.TrimSpace(r.git("rev-parse", h.String()+"^{tree}")); got != want {
		t.Fatalf("tree %s, git merge-tree %s", got, want)
	}
	graph := r.git("log", "--graph", "--format=%s", h.String())
	wantGraph := `*   Merge pull request #1
|\  
| * feat: three
| * feat: two
| * feat: one
* | main moves on
|/  
* initial
`
	if graph != wantGraph {
		t.Fatalf("log graph:\n%s\nwant:\n%s", graph, wantGraph)
	}
}

func TestMergeCommitWhenFastForwardPossible(t *testing.T) {
	t.Parallel()
	r, _, head := prRepo(t)
	ctx := context.Background()
	initial := r.hash("main~1")
	h, err := MergeCommit(ctx, r.storage(), initial, head, forgeAuthor, forgeCommitter, "Merge")
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, r, h)
	if got := r.git("log", "--format=%P", "-1", h.String()); got != initial.String()+" "+head.String()+"\n" {
		t.Fatalf("parents %q", got)
	}
	if a, b := r.git("rev-parse", h.String()+"^{tree}"), r.git("rev-parse", head.String()+"^{tree}"); a != b {
		t.Fatalf("tree %s, want head's %s", a, b)
	}
}

func TestSquash(t *testing.T) {
	t.Parallel()
	r, base, head := prRepo(t)
	h, err := Squash(context.Background(), r.storage(), base, head, forgeAuthor, forgeCommitter, "feat: everything (#1)\n\n* one\n* two\n* three")
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, r, h)
	if got := r.git("log", "--format=%P|%an|%cn|%B", "-1", h.String()); got != base.String()+"|PR Author|Tapioca|feat: everything (#1)\n\n* one\n* two\n* three\n\n" {
		t.Fatalf("commit %q", got)
	}
	want := strings.TrimSpace(r.git("merge-tree", "--write-tree", base.String(), head.String()))
	if got := strings.TrimSpace(r.git("rev-parse", h.String()+"^{tree}")); got != want {
		t.Fatalf("tree %s, git %s", got, want)
	}
	if got := r.git("log", "--format=%s", h.String()); got != "feat: everything (#1)\nmain moves on\ninitial\n" {
		t.Fatalf("log %q", got)
	}
}

func TestRebase(t *testing.T) {
	t.Parallel()
	r, base, head := prRepo(t)
	h, err := Rebase(context.Background(), r.storage(), base, head, forgeCommitter)
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, r, h)
	got := r.git("log", "--format=%an|%ae|%ad|%cn|%s", "--date=raw", h.String())
	orig := r.git("log", "--format=%an|%ae|%ad|Tapioca|%s", "--date=raw", "-3", head.String())
	want := orig + "Base Author|base@example.com|1704164645 +0000|Base Committer|main moves on\n" +
		"Base Author|base@example.com|1704164645 +0000|Base Committer|initial\n"
	if got != want {
		t.Fatalf("rebased log:\n%s\nwant:\n%s", got, want)
	}
	if authors := r.git("log", "--format=%an", "-3", h.String()); authors != "Carol\nBob\nAlice\n" {
		t.Fatalf("authors %q", authors)
	}
	if body := r.git("log", "--format=%B", "-1", h.String()+"~2"); body != "feat: one\n\nbody one\n\n" {
		t.Fatalf("message not kept: %q", body)
	}
	// git's own rebase must arrive at the same tree.
	r.git("checkout", "-q", "-b", "gitrebase", head.String())
	r.git("rebase", "-q", "main")
	if a, b := r.git("rev-parse", "HEAD^{tree}"), r.git("rev-parse", h.String()+"^{tree}"); a != b {
		t.Fatalf("tree %s, git rebase %s", b, a)
	}
}

func TestRebaseDropsCommitsAlreadyUpstream(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitFiles("initial", map[string]file{"f": txt(ten)})
	r.git("checkout", "-q", "-b", "feature")
	r.commitFiles("fix", map[string]file{"f": txt(edit(ten, 2, "fixed"))})
	head := r.commitFiles("more", map[string]file{"g": txt("g\n")})
	r.git("checkout", "-q", "main")
	base := r.commitFiles("same fix upstream", map[string]file{"f": txt(edit(ten, 2, "fixed"))})
	h, err := Rebase(context.Background(), r.storage(), base, head, forgeCommitter)
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, r, h)
	if got := r.git("log", "--format=%s", h.String()); got != "more\nsame fix upstream\ninitial\n" {
		t.Fatalf("log %q", got)
	}
}

func TestRebaseConflictWritesNothingReferenced(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitFiles("initial", map[string]file{"f": txt(ten)})
	r.git("checkout", "-q", "-b", "feature")
	r.commitFiles("ok", map[string]file{"g": txt("g\n")})
	head := r.commitFiles("clash", map[string]file{"f": txt(edit(ten, 2, "feature"))})
	r.git("checkout", "-q", "main")
	base := r.commitFiles("upstream", map[string]file{"f": txt(edit(ten, 2, "main"))})
	before := r.git("count-objects", "-v")
	_, err := Rebase(context.Background(), r.storage(), base, head, forgeCommitter)
	var ce *ErrConflict
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Path != "f" {
		t.Fatalf("err = %v, want a conflict on f", err)
	}
	if after := r.git("count-objects", "-v"); after != before {
		t.Fatalf("objects written on conflict:\n%s\n%s", before, after)
	}
}

func TestRebaseRefusesMergeCommits(t *testing.T) {
	t.Parallel()
	r, base, _ := prRepo(t)
	r.git("checkout", "-q", "feature")
	r.gitEnv(nil, "merge", "-q", "--no-edit", "main")
	head := r.hash("HEAD")
	r.git("checkout", "-q", "main")
	next := r.commitFiles("later", map[string]file{"x": txt("x\n")})
	_ = base
	_, err := Rebase(context.Background(), r.storage(), next, head, forgeCommitter)
	if !errors.Is(err, ErrMergeCommitInRange) {
		t.Fatalf("err = %v, want ErrMergeCommitInRange", err)
	}
}

func TestUpToDateAndUnrelated(t *testing.T) {
	t.Parallel()
	r, base, _ := prRepo(t)
	ctx := context.Background()
	s := r.storage()
	old := r.hash("main~1")
	for name, f := range map[string]func() error{
		"merge":  func() error { _, err := MergeCommit(ctx, s, base, old, forgeAuthor, forgeCommitter, "m"); return err },
		"squash": func() error { _, err := Squash(ctx, s, base, old, forgeAuthor, forgeCommitter, "m"); return err },
		"rebase": func() error { _, err := Rebase(ctx, s, base, old, forgeCommitter); return err },
	} {
		if err := f(); !errors.Is(err, ErrUpToDate) {
			t.Errorf("%s: err = %v, want ErrUpToDate", name, err)
		}
	}
	if ok, err := Mergeable(ctx, s, base, old); !ok || err != nil {
		t.Errorf("Mergeable of merged head = %v, %v", ok, err)
	}

	r.git("checkout", "-q", "--orphan", "other")
	r.git("rm", "-q", "-rf", ".")
	orphan := r.commitFiles("unrelated", map[string]file{"z": txt("z\n")})
	if _, err := MergeBase(ctx, s, base, orphan); !errors.Is(err, ErrNoMergeBase) {
		t.Errorf("MergeBase of unrelated = %v", err)
	}
	if _, err := Mergeable(ctx, s, base, orphan); !errors.Is(err, ErrNoMergeBase) {
		t.Errorf("Mergeable of unrelated = %v", err)
	}
}

// TestCrissCross builds two merge bases and checks the virtual-base merge
// against git, both for the chosen merge base and for the merged tree.
func TestCrissCross(t *testing.T) {
	t.Parallel()
	r := newGitRepo(t)
	r.commitFiles("root", map[string]file{"f": txt(ten), "g": txt(ten)})
	r.git("checkout", "-q", "-b", "side")
	r.commitFiles("side 1", map[string]file{"f": txt(edit(ten, 1, "side"))})
	r.git("checkout", "-q", "main")
	r.commitFiles("main 1", map[string]file{"g": txt(edit(ten, 1, "main"))})
	r.git("branch", "main1")
	r.gitEnv([]string{"GIT_COMMITTER_DATE=2024-01-02T03:05:00Z"}, "merge", "-q", "--no-edit", "side")
	r.git("checkout", "-q", "side")
	r.gitEnv([]string{"GIT_COMMITTER_DATE=2024-01-02T03:06:00Z"}, "merge", "-q", "--no-edit", "main1")
	r.commitFiles("side 2", map[string]file{"f": txt(edit(edit(ten, 1, "side"), 8, "side again"))})
	r.git("checkout", "-q", "main")
	r.commitFiles("main 2", map[string]file{"g": txt(edit(edit(ten, 1, "main"), 8, "main again"))})

	ctx := context.Background()
	s := r.storage()
	a, b := r.hash("main"), r.hash("side")
	all, err := MergeBases(ctx, s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := strings.Fields(r.git("merge-base", "--all", "main", "side"))
	if len(all) != 2 || len(wantAll) != 2 {
		t.Fatalf("merge bases %v, git %v", all, wantAll)
	}
	one, err := MergeBase(ctx, s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(r.git("merge-base", "main", "side")); one.String() != want {
		t.Fatalf("MergeBase %s, git %s", one, want)
	}
	h, err := Squash(ctx, s, a, b, forgeAuthor, forgeCommitter, "squash")
	if err != nil {
		t.Fatal(err)
	}
	c, err := object.GetCommit(s, h)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(r.git("merge-tree", "--write-tree", "main", "side")); c.TreeHash.String() != want {
		t.Fatalf("tree %s, git %s", c.TreeHash, want)
	}
}
