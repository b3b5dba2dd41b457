package merge

import (
	"context"
	"testing"
)

// TestKnownDivergencesFromGit pins the documented places where this
// package, having no rename detection, answers differently from git 2.39,
// so a change in either is noticed.
func TestKnownDivergencesFromGit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		base, ours, theirs map[string]file
		gitConflict        bool
		oursConflict       bool
	}{
		{name: "file renamed on one side, edited on the other (git follows the rename)",
			base: map[string]file{"old.txt": txt(ten)},
			ours: map[string]file{"old.txt": gone, "new.txt": txt(ten)}, theirs: map[string]file{"old.txt": txt(edit(ten, 3, "x"))},
			gitConflict: false, oursConflict: true},
		{name: "file added in a directory the other side renamed (git: directory rename conflict)",
			base: map[string]file{"d/a": txt(ten), "d/b": txt(ten + "b\n")},
			ours: map[string]file{"d/a": gone, "d/b": gone, "e/a": txt(ten), "e/b": txt(ten + "b\n")}, theirs: map[string]file{"d/c": txt("new\n")},
			gitConflict: true, oursConflict: false},
	}
	for _, tc := range cases {
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
			if (code == 1) != tc.gitConflict {
				t.Fatalf("git conflict=%v, expected %v: %s", code == 1, tc.gitConflict, out)
			}
			ok, err := Mergeable(context.Background(), r.storage(), ours, theirs)
			if err != nil {
				t.Fatal(err)
			}
			if ok == tc.oursConflict {
				t.Fatalf("Mergeable = %v, documented conflict=%v", ok, tc.oursConflict)
			}
		})
	}
}
