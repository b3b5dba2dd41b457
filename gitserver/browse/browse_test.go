package browse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
)

const goFile = `package src

import "fmt"

func Alpha() {
	fmt.Println("alpha")
}

func Beta(x int) int {
	return x * 2
}
`

// history builds a small repository with merges, renames, clock skew,
// every kind of tree entry and every kind of tag, and pushes it.
func history(t *testing.T) (*fixture, map[string]plumbing.Hash) {
	f := newFixture(t)
	c := map[string]plumbing.Hash{}
	f.write("README.md", "# Project\n\nSee docs/guide.md.\n")
	f.write("src/a.go", goFile)
	f.write("src/b.go", "package src\n\nfunc B() {}\n")
	f.write("docs/guide.md", "Guide\n=====\n\nTODO: write the guide\n")
	f.write("bin.dat", "\x00\x01binary TODO\x02")
	f.write("big.txt", strings.Repeat("big filler line\n", 300))
	f.write("exec.sh", "#!/bin/sh\necho TODO\n")
	f.git("update-index", "--chmod=+x", "--add", "exec.sh")
	mustSymlink(t, f, "link", "src/a.go")
	mustSymlink(t, f, "dirlink", "src")
	mustSymlink(t, f, "dangling", "nowhere")
	mustSymlink(t, f, "chain", "link")
	f.git("add", "-A")
	f.git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("ab", 20)+",sub")
	// An empty directory is an unpopulated submodule to git add -A.
	if err := os.Mkdir(f.work+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	c["c1"] = f.commit("Initial import")
	f.write("src/a.go", strings.Replace(goFile, `"alpha"`, `"ALPHA"`, 1))
	c["c2"] = f.commit("Shout alpha", "GIT_AUTHOR_NAME=Bob Builder", "GIT_AUTHOR_EMAIL=bob@example.com")

	f.git("checkout", "-q", "-b", "feature")
	f.write("src/b.go", "package src\n\nfunc B() { println(\"b\") }\n")
	c["f1"] = f.commit("Feature: b prints")
	f.write("src/c.go", "package src\n\n// TODO: more\nfunc C() {}\n")
	c["f2"] = f.commit("Feature: add c")

	f.git("checkout", "-q", "main")
	f.write("docs/guide.md", "Guide\n=====\n\nThe guide.\n")
	c["c3"] = f.commit("Write the guide")
	// A commit dated before its parent: git's order shows it anyway.
	f.write("src/a.go", goFile+"\nfunc Gamma() {}\n")
	c["c4"] = f.commit("Add Gamma", "GIT_COMMITTER_DATE=1699990000 +0000")
	f.gitIn(f.work, []string{"GIT_AUTHOR_DATE=1700009000 +0000", "GIT_COMMITTER_DATE=1700009000 +0000"},
		"merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
	c["m1"] = f.hash("HEAD")

	// A side branch that makes the same change to src/a.go as main: the
	// merge is TREESAME to both parents for that path.
	f.git("checkout", "-q", "-b", "side", c["c3"].String())
	f.write("src/a.go", goFile+"\nfunc Gamma() {}\n")
	f.write("side.txt", "side\n")
	c["s1"] = f.commit("Side: same Gamma", "GIT_AUTHOR_NAME=Bob Builder", "GIT_AUTHOR_EMAIL=BOB@example.com")
	f.git("checkout", "-q", "main")
	f.gitIn(f.work, []string{"GIT_AUTHOR_DATE=1700020000 +0000", "GIT_COMMITTER_DATE=1700020000 +0000"},
		"merge", "-q", "--no-ff", "-m", "Merge side", "side")
	c["m2"] = f.hash("HEAD")
	f.tick = 400
	f.git("mv", "src/c.go", "src/d.go")
	c["c5"] = f.commit("Rename c to d")
	f.remove("README.md")
	f.write("src/a.go", strings.Replace(goFile, "x * 2", "x * 3", 1)+"\nfunc Gamma() {}\n")
	c["c6"] = f.commit("Drop the README, triple Beta")

	// Commits of one second: git's order among them is the order they
	// were queued in.
	tie := []string{"GIT_AUTHOR_DATE=1700050000 +0000", "GIT_COMMITTER_DATE=1700050000 +0000"}
	f.git("checkout", "-q", "-b", "ties2", c["c5"].String())
	f.write("t/u1", "u1\n")
	f.commit("u1", tie...)
	f.write("t/u2", "u2\n")
	f.commit("u2", tie...)
	f.git("checkout", "-q", "-b", "ties", c["c5"].String())
	f.write("t/t1", "t1\n")
	f.commit("t1", tie...)
	f.write("t/t2", "t2\n")
	f.commit("t2", tie...)
	f.gitIn(f.work, tie, "merge", "-q", "--no-ff", "-m", "Merge ties2", "ties2")
	f.git("checkout", "-q", "main")

	f.git("tag", "v0.1", c["c1"].String())
	f.gitIn(f.work, []string{"GIT_COMMITTER_DATE=1700030000 +0000"}, "tag", "-a", "-m", "Version 1.0\n\nNotes.", "v1.0", c["c4"].String())
	f.gitIn(f.work, []string{"GIT_COMMITTER_DATE=1700030000 +0000"}, "tag", "-a", "-m", "Tag of a tag", "v1.0-signed", "v1.0")
	f.git("tag", "tree-tag", c["c1"].String()+"^{tree}")
	f.push()
	return f, c
}

func mustSymlink(t *testing.T, f *fixture, name, target string) {
	t.Helper()
	if err := os.Symlink(target, f.work+"/"+name); err != nil {
		t.Fatal(err)
	}
}

func TestBrowse(t *testing.T) {
	t.Parallel()
	f, c := history(t)
	r := f.open()
	ctx := context.Background()
	t.Run("resolve", func(t *testing.T) { testResolve(t, ctx, f, r, c) })
	t.Run("contents", func(t *testing.T) { testContents(t, ctx, f, r, c) })
	t.Run("tree", func(t *testing.T) { testTree(t, ctx, f, r) })
	t.Run("grep", func(t *testing.T) { testGrep(t, ctx, f, r) })
	t.Run("log", func(t *testing.T) { testLog(t, ctx, f, r, c) })
	t.Run("tags", func(t *testing.T) { testTags(t, ctx, f, r) })
	t.Run("compare", func(t *testing.T) { testCompare(t, ctx, f, r, c) })
}

func testResolve(t *testing.T, ctx context.Context, f *fixture, r *Repo, c map[string]plumbing.Hash) {
	for _, tc := range []struct {
		rev  string
		want plumbing.Hash
		err  error
	}{
		{"", c["c6"], nil},
		{"HEAD", c["c6"], nil},
		{"main", c["c6"], nil},
		{"refs/heads/feature", c["f2"], nil},
		{"v1.0", c["c4"], nil},
		{"v1.0-signed", c["c4"], nil},
		{c["c3"].String(), c["c3"], nil},
		{c["c3"].String()[:8], c["c3"], nil},
		{"tree-tag", plumbing.ZeroHash, ErrNotCommit},
		{"no-such-branch", plumbing.ZeroHash, gitserver.ErrNotFound},
	} {
		got, err := r.Resolve(ctx, tc.rev)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s, %v", tc.rev, got, err, tc.want, tc.err)
		}
	}
}

func testContents(t *testing.T, ctx context.Context, f *fixture, r *Repo, c map[string]plumbing.Hash) {
	rev := c["c1"].String()
	blob := func(spec string) string { return f.bareGit("cat-file", "-p", spec) }
	for _, tc := range []struct {
		path, typ, wantPath string
		max                 int64
		tooLarge            bool
		err                 error
	}{
		{path: "src/a.go", typ: "file", wantPath: "src/a.go"},
		{path: "/src/a.go/", typ: "file", wantPath: "src/a.go"},
		{path: "bin.dat", typ: "file", wantPath: "bin.dat"},
		{path: "exec.sh", typ: "file", wantPath: "exec.sh"},
		{path: "big.txt", typ: "file", wantPath: "big.txt", max: 1000, tooLarge: true},
		{path: "link", typ: "file", wantPath: "src/a.go"},  // followed to the file
		{path: "chain", typ: "file", wantPath: "src/a.go"}, // two hops
		{path: "dirlink", typ: "symlink", wantPath: "dirlink"},
		{path: "dangling", typ: "symlink", wantPath: "dangling"},
		{path: "sub", typ: "submodule", wantPath: "sub"},
		{path: "src", typ: "dir", wantPath: "src"},
		{path: "", typ: "dir", wantPath: ""},
		{path: "src/nope.go", err: gitserver.ErrNotFound},
		{path: "src/a.go/x", err: gitserver.ErrNotFound},
		{path: "../etc/passwd", err: ErrInvalid},
	} {
		got, err := r.Contents(ctx, rev, tc.path, tc.max)
		if !errors.Is(err, tc.err) {
			t.Errorf("Contents(%q): error %v, want %v", tc.path, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got.Type != tc.typ || got.Path != tc.wantPath || got.TooLarge != tc.tooLarge || got.Commit != c["c1"] {
			t.Errorf("Contents(%q) = %s %q tooLarge=%v commit %s", tc.path, got.Type, got.Path, got.TooLarge, got.Commit)
			continue
		}
		spec := rev + ":" + tc.wantPath
		if sha := strings.TrimSpace(f.bareGit("rev-parse", spec)); got.SHA.String() != sha {
			t.Errorf("Contents(%q).SHA = %s, git %s", tc.path, got.SHA, sha)
		}
		switch got.Type {
		case "file", "symlink":
			if size, _ := strconv.ParseInt(strings.TrimSpace(f.bareGit("cat-file", "-s", spec)), 10, 64); got.Size != size {
				t.Errorf("Contents(%q).Size = %d, git %d", tc.path, got.Size, size)
			}
			if !tc.tooLarge && string(got.Content) != blob(spec) {
				t.Errorf("Contents(%q): content differs from git cat-file", tc.path)
			}
			if got.Type == "symlink" && got.Target != blob(spec) {
				t.Errorf("Contents(%q).Target = %q", tc.path, got.Target)
			}
		case "dir":
			var lines []string
			for _, e := range got.Entries {
				size := "-"
				if e.Mode != 0o040000 && e.Mode != 0o160000 {
					size = strconv.FormatInt(e.Size, 10)
				}
				lines = append(lines, fmt.Sprintf("%06o %s %s %s", uint32(e.Mode), e.SHA, size, e.Path))
			}
			treeSpec := rev + ":" + tc.wantPath
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(f.bareGit("ls-tree", "-l", treeSpec)), "\n") {
				meta, name, _ := strings.Cut(l, "\t")
				fs := strings.Fields(meta)
				p := name
				if tc.wantPath != "" {
					p = tc.wantPath + "/" + name
				}
				want = append(want, fmt.Sprintf("%s %s %s %s", fs[0], fs[2], fs[3], p))
			}
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("Contents(%q) entries:\n%s\ngit ls-tree:\n%s", tc.path, strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
		}
	}

	// The raw endpoint streams the blob.
	meta, rd, err := r.OpenFile(ctx, "main", "src/a.go")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rd)
	rd.Close()
	if string(data) != blob("main:src/a.go") || meta.Size != int64(len(data)) {
		t.Errorf("OpenFile: content or size differs from git")
	}
	if _, _, err := r.OpenFile(ctx, "main", "src"); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenFile(dir): %v, want ErrInvalid", err)
	}
}

func testTree(t *testing.T, ctx context.Context, f *fixture, r *Repo) {
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(f.bareGit("ls-tree", "-r", "-t", "-l", "main")), "\n") {
		meta, name, _ := strings.Cut(l, "\t")
		fs := strings.Fields(meta)
		want = append(want, fmt.Sprintf("%s %s %s %s %s", fs[0], fs[1], fs[2], fs[3], name))
	}
	list := func(tr *Tree) []string {
		var out []string
		for _, e := range tr.Entries {
			size := "-"
			if e.Type == "blob" {
				size = strconv.FormatInt(e.Size, 10)
			}
			out = append(out, fmt.Sprintf("%06o %s %s %s %s", uint32(e.Mode), e.Type, e.SHA, size, e.Path))
		}
		return out
	}
	tr, err := r.Tree(ctx, "main", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := list(tr); strings.Join(got, "\n") != strings.Join(want, "\n") || tr.Truncated {
		t.Fatalf("Tree:\n%s\ngit ls-tree -r -t -l:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sha := strings.TrimSpace(f.bareGit("rev-parse", "main^{tree}")); tr.SHA.String() != sha {
		t.Errorf("Tree.SHA = %s, want %s", tr.SHA, sha)
	}
	tr, err = r.Tree(ctx, tr.SHA.String(), true, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := list(tr); !tr.Truncated || strings.Join(got, "\n") != strings.Join(want[:4], "\n") {
		t.Errorf("Tree with limit 4 (by tree hash): truncated=%v\n%s", tr.Truncated, strings.Join(got, "\n"))
	}
	tr, err = r.Tree(ctx, "main", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(strings.TrimSpace(f.bareGit("ls-tree", "main")), "\n")); len(tr.Entries) != n {
		t.Errorf("Tree(non-recursive) has %d entries, git %d", len(tr.Entries), n)
	}
}

var grepLineRE = regexp.MustCompile(`^[^:]+:([^:]+):(\d+):(\d+):(.*)$`)

func testGrep(t *testing.T, ctx context.Context, f *fixture, r *Repo) {
	for _, tc := range []struct {
		name    string
		q       GrepQuery
		pattern []string // git grep -P arguments before the revision
		paths   []string // pathspecs after it
	}{
		{"word", GrepQuery{Pattern: "TODO"}, []string{"TODO"}, nil},
		{"regexp", GrepQuery{Pattern: `func [A-Z]\w*\(`}, []string{`func [A-Z]\w*\(`}, nil},
		{"anchored", GrepQuery{Pattern: `^package`}, []string{`^package`}, nil},
		{"end anchor", GrepQuery{Pattern: `\)$`}, []string{`\)$`}, nil},
		{"ignore case", GrepQuery{Pattern: "alpha", IgnoreCase: true}, []string{"-i", "alpha"}, nil},
		{"path", GrepQuery{Pattern: "func", Path: "src"}, []string{"func"}, []string{"src"}},
		{"file path", GrepQuery{Pattern: "func", Path: "src/a.go"}, []string{"func"}, []string{"src/a.go"}},
		{"glob name", GrepQuery{Pattern: "TODO", Glob: "*.md"}, []string{"TODO"}, []string{":(glob)**/*.md"}},
		{"glob path", GrepQuery{Pattern: ".", Glob: "src/**"}, []string{"."}, []string{":(glob)src/**"}},
		{"text anchor", GrepQuery{Pattern: `\Apackage`}, []string{`^package`}, nil},
		{"no match", GrepQuery{Pattern: `zzz+q`}, []string{`zzz+q`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Grep(ctx, "main", tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range res.Matches {
				got = append(got, fmt.Sprintf("%s:%d:%d:%s", m.Path, m.Line, m.Column, m.Text))
			}
			args := append([]string{"grep", "-n", "--column", "-I", "-P", "--no-color"}, tc.pattern...)
			args = append(append(args, "main", "--"), tc.paths...)
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(gitGrep(t, f, args)), "\n") {
				if m := grepLineRE.FindStringSubmatch(l); m != nil {
					switch m[1] {
					case "link", "chain", "dangling", "dirlink":
						continue // git greps symlink targets as text; this package does not
					}
					want = append(want, fmt.Sprintf("%s:%s:%s:%s", m[1], m[2], m[3], m[4]))
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") || res.Truncated {
				t.Errorf("Grep (truncated=%v):\n%s\ngit grep:\n%s", res.Truncated, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if res.Commit != f.hash("main") {
				t.Errorf("Grep.Commit = %s", res.Commit)
			}
		})
	}

	t.Run("limits", func(t *testing.T) {
		res, err := r.Grep(ctx, "main", GrepQuery{Pattern: "TODO", MaxMatches: 1})
		if err != nil || len(res.Matches) != 1 || !res.Truncated || res.StoppedBy != StopMatches {
			t.Errorf("MaxMatches: %v %+v", err, res)
		}
		res, err = r.Grep(ctx, "main", GrepQuery{Pattern: "TODO", MaxFileSize: 1000})
		if err != nil || res.SkippedLarge != 1 || res.Truncated {
			t.Errorf("MaxFileSize: %v skipped %d", err, res.SkippedLarge)
		}
		for _, m := range res.Matches {
			if m.Path == "big.txt" {
				t.Errorf("big.txt searched despite MaxFileSize")
			}
		}
		res, err = r.Grep(ctx, "main", GrepQuery{Pattern: "TODO", MaxBytes: 100})
		if err != nil || !res.Truncated || res.StoppedBy != StopBytes || res.BytesSearched > 100 {
			t.Errorf("MaxBytes: %v %+v", err, res)
		}
		if res, err := r.Grep(ctx, "main", GrepQuery{Pattern: "TODO"}); err != nil || res.SkippedBinary != 1 {
			t.Errorf("binary file not skipped: %v %+v", err, res)
		}
		res, err = r.Grep(ctx, "main", GrepQuery{Pattern: "big", MaxLineBytes: 5})
		if err != nil || len(res.Matches) == 0 || res.Matches[0].Text != "big f" || !res.Matches[0].TextTruncated {
			t.Errorf("MaxLineBytes: %v %+v", err, res.Matches)
		}
		done, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		res, err = r.Grep(done, "main", GrepQuery{Pattern: "TODO"})
		if err == nil {
			if !res.Truncated || res.StoppedBy != StopDeadline {
				t.Errorf("expired deadline: %+v", res)
			}
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("expired deadline: %v", err)
		}
		for _, bad := range []GrepQuery{{Pattern: "("}, {Pattern: ""}, {Pattern: "x", Glob: "[z"}, {Pattern: "x", Path: "../x"}} {
			if _, err := r.Grep(ctx, "main", bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("Grep(%+v): %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := r.Grep(ctx, "main", GrepQuery{Pattern: "x", Path: "missing"}); !errors.Is(err, gitserver.ErrNotFound) {
			t.Errorf("Grep in a missing path: %v", err)
		}
	})
}

// gitGrep runs git grep, which exits 1 when nothing matches.
func gitGrep(t *testing.T, f *fixture, args []string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = f.bare
	cmd.Env = f.env()
	out, err := cmd.Output()
	if err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

func testLog(t *testing.T, ctx context.Context, f *fixture, r *Repo, c map[string]plumbing.Hash) {
	all := func(q LogQuery) []string {
		t.Helper()
		q.Limit = 1000
		page, err := r.Log(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, cm := range page.Commits {
			out = append(out, cm.SHA.String())
		}
		return out
	}
	gitLog := func(args ...string) []string {
		return strings.Fields(f.bareGit(append([]string{"log", "--format=%H"}, args...)...))
	}
	for _, tc := range []struct {
		name string
		q    LogQuery
		git  []string
	}{
		{"all", LogQuery{}, nil},
		{"from a branch", LogQuery{Rev: "feature"}, []string{"feature"}},
		{"same-second commits", LogQuery{Rev: "ties"}, []string{"ties"}},
		{"file", LogQuery{Path: "src/a.go"}, []string{"--", "src/a.go"}},
		{"directory", LogQuery{Path: "src"}, []string{"--", "src"}},
		{"renamed file", LogQuery{Path: "src/d.go"}, []string{"--", "src/d.go"}},
		{"deleted file", LogQuery{Path: "README.md"}, []string{"--", "README.md"}},
		{"symlink", LogQuery{Path: "link"}, []string{"--", "link"}},
		{"missing path", LogQuery{Path: "nope"}, []string{"--", "nope"}},
		{"since", LogQuery{Since: time.Unix(1700000000+3*60, 0)}, []string{"--since=1700000180"}},
		{"until", LogQuery{Until: time.Unix(1700009000, 0)}, []string{"--until=1700009000"}},
		{"author email", LogQuery{AuthorEmails: []string{"bob@EXAMPLE.com"}}, []string{"--author=bob@example.com", "--regexp-ignore-case"}},
		{"author name", LogQuery{Author: "builder"}, []string{"--author=builder", "--regexp-ignore-case"}},
		{"path and author", LogQuery{Path: "src/a.go", Author: "bob"}, []string{"--author=bob", "--regexp-ignore-case", "--", "src/a.go"}},
	} {
		want := gitLog(tc.git...)
		if got := all(tc.q); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: Log = %v\ngit log = %v", tc.name, got, want)
		}
	}

	// Pages concatenate to the whole log, and HasMore is right.
	want := gitLog()
	var got []string
	for skip := 0; ; skip += 3 {
		page, err := r.Log(ctx, LogQuery{Skip: skip, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range page.Commits {
			got = append(got, cm.SHA.String())
		}
		if page.HasMore != (len(got) < len(want)) {
			t.Fatalf("skip %d: HasMore = %v with %d of %d listed", skip, page.HasMore, len(got), len(want))
		}
		if !page.HasMore {
			break
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paged log = %v\ngit log = %v", got, want)
	}
	page, err := r.Log(ctx, LogQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	cm := page.Commits[0]
	if cm.SHA != c["c6"] || cm.Message != "Drop the README, triple Beta\n" || cm.Author.Email != "ada@example.com" ||
		cm.Committer.Name != "Cy Committer" || len(cm.Parents) != 1 || cm.Parents[0] != c["c5"] {
		t.Errorf("commit fields: %+v", cm)
	}
	if _, err := r.Log(ctx, LogQuery{Rev: "nope"}); !errors.Is(err, gitserver.ErrNotFound) {
		t.Errorf("Log of unknown rev: %v", err)
	}
}

func testTags(t *testing.T, ctx context.Context, f *fixture, r *Repo) {
	tags, err := r.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range tags {
		got = append(got, fmt.Sprintf("%s %s %s %v", tg.Name, tg.SHA, tg.TargetType, tg.Annotated))
		if tg.Name == "v1.0" && (tg.Message != "Version 1.0\n\nNotes.\n" || tg.Tagger.Name != "Cy Committer" || tg.Commit != f.hash("v1.0^{commit}")) {
			t.Errorf("v1.0: %+v", tg)
		}
		if tg.Name == "v1.0-signed" && tg.Commit != f.hash("v1.0^{commit}") {
			t.Errorf("tag of a tag not peeled: %+v", tg)
		}
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(f.bareGit("for-each-ref", "refs/tags",
		"--format=%(refname:strip=2) %(objectname) %(objecttype) %(*objecttype)")), "\n") {
		fs := strings.Fields(l)
		typ, annotated := fs[2], fs[2] == "tag"
		if annotated {
			typ = fs[3]
			if typ == "tag" {
				typ = "commit" // git peels one level; the target here is a commit
			}
		}
		want = append(want, fmt.Sprintf("%s %s %s %v", fs[0], fs[1], typ, annotated))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Tags:\n%s\ngit:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func testCompare(t *testing.T, ctx context.Context, f *fixture, r *Repo, c map[string]plumbing.Hash) {
	for _, tc := range []struct{ base, head string }{
		{c["c1"].String(), "main"},
		{"feature", "main"},
		{"main", "feature"},
		{"side", "feature"},
		{"main", "main"},
	} {
		name := tc.base[:min(8, len(tc.base))] + "..." + tc.head
		cmp, err := r.Compare(ctx, tc.base, tc.head, CompareOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lr := strings.Fields(f.bareGit("rev-list", "--left-right", "--count", tc.base+"..."+tc.head))
		if strconv.Itoa(cmp.BehindBy) != lr[0] || strconv.Itoa(cmp.AheadBy) != lr[1] {
			t.Errorf("%s: ahead %d behind %d, git %v", name, cmp.AheadBy, cmp.BehindBy, lr)
		}
		if mb := strings.TrimSpace(f.bareGit("merge-base", tc.base, tc.head)); cmp.MergeBase.String() != mb {
			t.Errorf("%s: merge base %s, git %s", name, cmp.MergeBase, mb)
		}
		var got []string
		for _, cm := range cmp.Commits {
			got = append(got, cm.SHA.String())
		}
		if want := strings.Fields(f.bareGit("rev-list", "--reverse", tc.base+".."+tc.head)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: commits %v, git %v", name, got, want)
		}
		var names []string
		for _, fl := range cmp.Files {
			names = append(names, fl.Path)
		}
		if want := strings.Fields(f.bareGit("diff", "--name-only", tc.base+"..."+tc.head)); strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s: files %v, git %v", name, names, want)
		}
		files, err := r.FilesSinceMergeBase(ctx, tc.base, tc.head, DiffOptions{})
		if err != nil || len(files) != len(cmp.Files) {
			t.Errorf("%s: FilesSinceMergeBase: %d files, %v; Compare has %d", name, len(files), err, len(cmp.Files))
		}
		rc, total, err := r.RangeCommits(ctx, tc.base, tc.head, 2)
		if err != nil || total != cmp.AheadBy || len(rc) != min(2, total) || (total > 0 && rc[0].SHA != cmp.Commits[0].SHA) {
			t.Errorf("%s: RangeCommits: %d of %d, %v", name, len(rc), total, err)
		}
		var diff bytes.Buffer
		if err := r.WriteCompareDiff(ctx, &diff, tc.base, tc.head, DiffOptions{}); err != nil {
			t.Fatal(err)
		}
		if want := f.bareGit("diff", tc.base+"..."+tc.head); diff.String() != want {
			t.Errorf("%s: WriteCompareDiff differs from git diff:\n%s\nwant:\n%s", name, diff.String(), want)
		}
		var series bytes.Buffer
		if err := r.WritePatchSeries(ctx, &series, tc.base, tc.head, "2.39.5", DiffOptions{}); err != nil {
			t.Fatal(err)
		}
		want := f.bareGit("format-patch", "--stdout", "--signature=2.39.5", tc.base+".."+tc.head)
		if series.String() != want {
			t.Errorf("%s: WritePatchSeries differs from git format-patch:\n%s\nwant:\n%s", name, series.String(), want)
		}
	}
	for _, rev := range []string{c["c1"].String(), c["c5"].String(), c["m1"].String(), "main"} {
		var diff bytes.Buffer
		if err := r.WriteCommitDiff(ctx, &diff, rev, DiffOptions{}); err != nil {
			t.Fatal(err)
		}
		var want string
		if rev == c["c1"].String() {
			want = f.bareGit("diff", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", rev)
		} else {
			want = f.bareGit("diff", rev+"^", rev)
		}
		if diff.String() != want {
			t.Errorf("WriteCommitDiff(%s) differs from git diff", rev[:8])
		}
		d, err := r.CommitDetail(ctx, rev, DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"diff", "--shortstat", rev + "^", rev}
		if rev == c["c1"].String() {
			args = []string{"diff", "--shortstat", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", rev}
		}
		short := f.bareGit(args...)
		for _, part := range []struct {
			n    int
			word string
		}{{d.Stats.Additions, "insertion"}, {d.Stats.Deletions, "deletion"}} {
			if part.n > 0 && !strings.Contains(short, fmt.Sprintf(" %d %s", part.n, part.word)) {
				t.Errorf("CommitDetail(%s).Stats = %+v, git %q", rev[:8], d.Stats, short)
			}
		}
	}
	var one bytes.Buffer
	if err := r.WritePatchSeries(ctx, &one, "", c["c2"].String(), "2.39.5", DiffOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := f.bareGit("format-patch", "--stdout", "--signature=2.39.5", "-1", c["c2"].String()); one.String() != want {
		t.Errorf("single-commit patch differs from git format-patch -1")
	}
}

// TestNewPackAfterOpen reads a commit that arrived, in a new pack, after
// the Repo opened its object store.
func TestNewPackAfterOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.gitIn(f.bare, nil, "config", "receive.unpackLimit", "1") // every push keeps its pack
	f.write("a.txt", "one\n")
	f.commit("one")
	f.push()
	r := f.open()
	ctx := context.Background()
	if _, err := r.Contents(ctx, "main", "a.txt", 0); err != nil {
		t.Fatal(err)
	}
	f.write("a.txt", "two\n")
	second := f.commit("two")
	f.push()
	got, err := r.Contents(ctx, "main", "a.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Content) != "two\n" || got.Commit != second {
		t.Fatalf("after a push: %q at %s, want the new commit %s", got.Content, got.Commit, second)
	}
}
