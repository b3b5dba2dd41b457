package merge

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func lines(n int, f func(i int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(f(i))
		b.WriteByte('\n')
	}
	return b.String()
}

var ten = lines(10, func(i int) string { return fmt.Sprintf("line %d", i) })

func edit(s string, n int, repl string) string {
	ls := strings.SplitAfter(s, "\n")
	ls[n] = repl + "\n"
	return strings.Join(ls, "")
}

var binA = "bin\x00ary\x01\x02 a"

type mergeCase struct {
	name               string
	base, ours, theirs map[string]file
	conflict           bool // expected outcome; git must agree
}

var mergeCases = []mergeCase{
	{name: "disjoint files",
		base: map[string]file{"a": txt("a\n"), "b": txt("b\n")},
		ours: map[string]file{"a": txt("A\n")}, theirs: map[string]file{"b": txt("B\n")}},
	{name: "same file, distant hunks",
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 1, "ours"))}, theirs: map[string]file{"f": txt(edit(ten, 8, "theirs"))}},
	{name: "same line changed differently", conflict: true,
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 4, "ours"))}, theirs: map[string]file{"f": txt(edit(ten, 4, "theirs"))}},
	{name: "same change on both sides",
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 4, "same"))}, theirs: map[string]file{"f": txt(edit(ten, 4, "same"))}},
	{name: "adjacent lines edited", conflict: true,
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 4, "ours"))}, theirs: map[string]file{"f": txt(edit(ten, 5, "theirs"))}},
	{name: "one unchanged line between edits",
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 4, "ours"))}, theirs: map[string]file{"f": txt(edit(ten, 6, "theirs"))}},
	{name: "insertions at the same place", conflict: true,
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(ten, 4, "line 4\nours"))}, theirs: map[string]file{"f": txt(edit(ten, 4, "line 4\ntheirs"))}},
	{name: "overlapping edits with identical result",
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(edit(edit(ten, 4, "x"), 5, "y"))}, theirs: map[string]file{"f": txt(edit(edit(ten, 4, "x"), 5, "y"))}},
	{name: "add/add same content",
		base: map[string]file{"a": txt("a\n")},
		ours: map[string]file{"n": txt("new\n")}, theirs: map[string]file{"n": txt("new\n")}},
	{name: "add/add different content", conflict: true,
		base: map[string]file{"a": txt("a\n")},
		ours: map[string]file{"n": txt("ours\n")}, theirs: map[string]file{"n": txt("theirs\n")}},
	{name: "add/add same content different mode", conflict: true,
		base: map[string]file{"a": txt("a\n")},
		ours: map[string]file{"n": txt("new\n")}, theirs: map[string]file{"n": exe("new\n")}},
	{name: "modify/delete", conflict: true,
		base: map[string]file{"f": txt(ten), "keep": txt("k\n")},
		ours: map[string]file{"f": txt(edit(ten, 1, "x"))}, theirs: map[string]file{"f": gone}},
	{name: "delete/modify", conflict: true,
		base: map[string]file{"f": txt(ten), "keep": txt("k\n")},
		ours: map[string]file{"f": gone}, theirs: map[string]file{"f": txt(edit(ten, 1, "x"))}},
	{name: "both delete",
		base: map[string]file{"f": txt(ten), "keep": txt("k\n")},
		ours: map[string]file{"f": gone}, theirs: map[string]file{"f": gone}},
	{name: "delete on one side, untouched on the other",
		base: map[string]file{"f": txt(ten), "keep": txt("k\n")},
		ours: map[string]file{"f": gone}, theirs: map[string]file{"keep": txt("K\n")}},
	{name: "move without rename detection",
		base: map[string]file{"old/f": txt(ten), "other": txt("o\n")},
		ours: map[string]file{"old/f": gone, "new/place/f": txt(ten)}, theirs: map[string]file{"other": txt("O\n")}},
	{name: "executable bit on one side",
		base: map[string]file{"s": txt("#!/bin/sh\n")},
		ours: map[string]file{"s": exe("#!/bin/sh\n")}, theirs: map[string]file{}},
	{name: "executable bit on one side, content on the other",
		base: map[string]file{"s": txt("#!/bin/sh\necho hi\n")},
		ours: map[string]file{"s": exe("#!/bin/sh\necho hi\n")}, theirs: map[string]file{"s": txt("#!/bin/sh\necho bye\n")}},
	{name: "executable bit on both sides",
		base: map[string]file{"s": txt(ten)},
		ours: map[string]file{"s": exe(edit(ten, 1, "x"))}, theirs: map[string]file{"s": exe(edit(ten, 8, "y"))}},
	{name: "nested directories, directory added on one side",
		base:   map[string]file{"a/b/c/d/e.txt": txt(ten), "a/x": txt("x\n")},
		ours:   map[string]file{"a/b/c/d/e.txt": txt(edit(ten, 0, "top")), "a/b/new/deep/f.txt": txt("f\n")},
		theirs: map[string]file{"a/b/c/d/e.txt": txt(edit(ten, 9, "bottom")), "z/y/x/w": txt("w\n")}},
	{name: "directory emptied on one side",
		base: map[string]file{"d/sub/a": txt("a\n"), "d/sub/b": txt("b\n"), "top": txt("t\n")},
		ours: map[string]file{"d/sub/a": gone, "d/sub/b": gone}, theirs: map[string]file{"top": txt("T\n")}},
	{name: "directory deleted on one side, file edited inside on the other", conflict: true,
		base: map[string]file{"d/a": txt("a\n"), "d/b": txt("b\n"), "top": txt("t\n")},
		ours: map[string]file{"d": gone}, theirs: map[string]file{"d/a": txt("A\n")}},
	{name: "empty files",
		base: map[string]file{"e": txt(""), "f": txt("")},
		ours: map[string]file{"e": txt("now content\n"), "n": txt("")}, theirs: map[string]file{"n": txt(""), "g": txt("")}},
	{name: "emptied on one side, edited on the other", conflict: true,
		base: map[string]file{"e": txt("a\nb\n")},
		ours: map[string]file{"e": txt("")}, theirs: map[string]file{"e": txt("a\nB\n")}},
	{name: "no trailing newline, line added at EOF vs edit at top",
		base: map[string]file{"f": txt("a\nb\nc\nd\ne")},
		ours: map[string]file{"f": txt("a\nb\nc\nd\ne\nf")}, theirs: map[string]file{"f": txt("A\nb\nc\nd\ne")}},
	{name: "no trailing newline, last line edited on both", conflict: true,
		base: map[string]file{"f": txt("a\nb\nc\nd\ne")},
		ours: map[string]file{"f": txt("a\nb\nc\nd\nE")}, theirs: map[string]file{"f": txt("a\nb\nc\nd\ne\n")}},
	{name: "trailing newline added on one side, edit far above",
		base: map[string]file{"f": txt("a\nb\nc\nd\ne")},
		ours: map[string]file{"f": txt("a\nb\nc\nd\ne\n")}, theirs: map[string]file{"f": txt("A\nb\nc\nd\ne")}},
	{name: "trailing newline removed on one side, edit far above",
		base: map[string]file{"f": txt("a\nb\nc\nd\ne\n")},
		ours: map[string]file{"f": txt("a\nb\nc\nd\ne")}, theirs: map[string]file{"f": txt("A\nb\nc\nd\ne\n")}},
	{name: "binary changed on one side",
		base: map[string]file{"b.bin": txt(binA), "t": txt("t\n")},
		ours: map[string]file{"b.bin": txt(binA + "more")}, theirs: map[string]file{"t": txt("T\n")}},
	{name: "binary changed on both sides", conflict: true,
		base: map[string]file{"b.bin": txt(binA)},
		ours: map[string]file{"b.bin": txt(binA + "ours")}, theirs: map[string]file{"b.bin": txt(binA + "theirs")}},
	{name: "text becomes binary on one side, text edit on the other", conflict: true,
		base: map[string]file{"f": txt(ten)},
		ours: map[string]file{"f": txt(ten + "\x00")}, theirs: map[string]file{"f": txt(edit(ten, 0, "x"))}},
	{name: "file vs directory", conflict: true,
		base: map[string]file{"a": txt("a\n")},
		ours: map[string]file{"x": txt("file\n")}, theirs: map[string]file{"x/y": txt("in dir\n")}},
	{name: "file replaced by directory on one side",
		base: map[string]file{"x": txt("file\n"), "a": txt("a\n")},
		ours: map[string]file{"x": gone, "x/y": txt("in dir\n")}, theirs: map[string]file{"a": txt("A\n")}},
	{name: "symlink retargeted on one side",
		base: map[string]file{"l": link("a"), "a": txt("a\n")},
		ours: map[string]file{"l": link("b")}, theirs: map[string]file{"a": txt("A\n")}},
	{name: "symlink retargeted on both sides", conflict: true,
		base: map[string]file{"l": link("a")},
		ours: map[string]file{"l": link("b")}, theirs: map[string]file{"l": link("c")}},
	{name: "file becomes symlink vs edit", conflict: true,
		base: map[string]file{"l": txt("a\n")},
		ours: map[string]file{"l": link("b")}, theirs: map[string]file{"l": txt("A\n")}},
	{name: "large file, many scattered edits on both sides",
		base: map[string]file{"big": txt(lines(2000, func(i int) string { return fmt.Sprintf("row %d", i%300) }))},
		ours: map[string]file{"big": txt(lines(2000, func(i int) string {
			if i%97 == 0 {
				return "ours"
			}
			return fmt.Sprintf("row %d", i%300)
		}))},
		theirs: map[string]file{"big": txt(lines(2000, func(i int) string {
			if i%89 == 3 {
				return "theirs"
			}
			return fmt.Sprintf("row %d", i%300)
		}))}},
}

func TestMergeTreesMatchesGit(t *testing.T) {
	t.Parallel()
	for _, tc := range mergeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newGitRepo(t)
			r.commitFiles("base", tc.base)
			r.git("checkout", "-q", "-b", "ours")
			ours := r.commitFiles("ours", tc.ours)
			r.git("checkout", "-q", "main")
			r.git("checkout", "-q", "-b", "theirs")
			theirs := r.commitFiles("theirs", tc.theirs)

			out, code := r.run(nil, "merge-tree", "--write-tree", "ours", "theirs")
			gitConflict := code == 1
			if code > 1 {
				t.Fatalf("git merge-tree exit %d: %s", code, out)
			}
			if gitConflict != tc.conflict {
				t.Fatalf("git says conflict=%v, table says %v:\n%s", gitConflict, tc.conflict, out)
			}

			ctx := context.Background()
			s := r.storage()
			baseC, err := MergeBase(ctx, s, ours, theirs)
			if err != nil {
				t.Fatal(err)
			}
			trees := make([]plumbing.Hash, 3)
			for i, h := range []plumbing.Hash{baseC, ours, theirs} {
				c, err := object.GetCommit(s, h)
				if err != nil {
					t.Fatal(err)
				}
				trees[i] = c.TreeHash
			}
			tree, conflicts, err := MergeTrees(ctx, s, trees[0], trees[1], trees[2])
			if err != nil {
				t.Fatal(err)
			}
			if (len(conflicts) > 0) != gitConflict {
				t.Fatalf("engine conflicts %v, git conflict=%v:\n%s", conflicts, gitConflict, out)
			}
			ok, err := Mergeable(ctx, s, ours, theirs)
			if err != nil || ok == gitConflict {
				t.Fatalf("Mergeable = %v, %v; git conflict=%v", ok, err, gitConflict)
			}
			if gitConflict {
				return
			}
			want := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
			if tree.String() != want {
				t.Fatalf("merged tree %s, git %s\n%s", tree, want, r.git("diff", want, tree.String()))
			}
			// The written tree must be complete and valid for git itself.
			r.git("ls-tree", "-r", tree.String())
		})
	}
}
