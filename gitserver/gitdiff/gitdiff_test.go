package gitdiff

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// code is a C-like file: functions whose names give hunk headers.
func code(funcs int, variant func(fn, line int) string) string {
	var b strings.Builder
	for f := 0; f < funcs; f++ {
		fmt.Fprintf(&b, "int function_%d(int x)\n{\n", f)
		for l := 0; l < 8; l++ {
			s := fmt.Sprintf("\tx = x * %d + %d;", f, l)
			if variant != nil {
				if v := variant(f, l); v != "" {
					s = v
				}
			}
			b.WriteString(s + "\n")
		}
		b.WriteString("\treturn x;\n}\n\n")
	}
	return b.String()
}

func binaryData(seed, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*seed + i/7) % 251)
	}
	return string(b)
}

// step is one commit of the test history: an edit shape and the message
// and author it is committed with (to cover the mail headers too).
type step struct {
	name   string
	msg    string
	author string
	apply  func(r *gitRepo)
}

var base200 = lines(200, func(i int) string { return fmt.Sprintf("line %d of the long file", i) })

var steps = []step{
	{"add files", "Add the first files", "", func(r *gitRepo) {
		r.write("a.txt", lines(20, func(i int) string { return "alpha " + strconv.Itoa(i) }), 0o644)
		r.write("src/main.c", code(6, nil), 0o644)
		r.write("long.txt", base200, 0o644)
		r.write("dir with space/file name.txt", "spaces\n", 0o644)
		r.write("uni/naïve.txt", "unicode path\n", 0o644)
		r.write("quote\"d.txt", "quoted path\n", 0o644)
		r.write("tab\there.txt", "tab in name\n", 0o644)
		r.write("crlf.txt", "one\r\ntwo\r\nthree\r\nfour\r\n", 0o644)
		r.write("nonl.txt", "first\nlast without newline", 0o644)
		r.write("empty.txt", "", 0o644)
		r.write("script.sh", "#!/bin/sh\necho hi\n", 0o644)
		r.write("bin/blob.dat", binaryData(3, 3000), 0o644)
		r.symlink("link", "a.txt")
		r.write("tochange/file", "will become a directory\n", 0o644)
	}},
	{"edit inside a function", "Edit inside a function\n\nThe body explains why.   \nTrailing spaces above are trimmed.\n\n\nTwo blank lines above are kept.\n\n\n", "", func(r *gitRepo) {
		r.write("src/main.c", code(6, func(f, l int) string {
			if f == 3 && l == 4 {
				return "\tx = changed(x);"
			}
			return ""
		}), 0o644)
	}},
	{"hunks far apart and close together", "A subject line that is long enough that git has to fold it onto a second line of the mail header", "", func(r *gitRepo) {
		r.write("long.txt", lines(200, func(i int) string {
			switch i {
			case 3, 10, 100, 106, 190:
				return fmt.Sprintf("changed %d", i)
			}
			return fmt.Sprintf("line %d of the long file", i)
		}), 0o644)
	}},
	{"newline at end of file", "Fix newlines\nat the end\nof files", "J. Random Hacker", func(r *gitRepo) {
		r.write("nonl.txt", "first\nlast without newline\n", 0o644)
		r.write("a.txt", strings.TrimSuffix(lines(20, func(i int) string { return "alpha " + strconv.Itoa(i) }), "\n"), 0o644)
	}},
	{"last line changed without newline", "Change the last line", "", func(r *gitRepo) {
		r.write("a.txt", strings.TrimSuffix(lines(20, func(i int) string {
			if i == 19 {
				return "omega"
			}
			return "alpha " + strconv.Itoa(i)
		}), "\n"), 0o644)
	}},
	{"crlf", "Édit the CRLF file", "Zoë Ünicode", func(r *gitRepo) {
		r.write("crlf.txt", "one\r\nTWO\r\nthree\r\nfour\r\nfive\r\n", 0o644)
	}},
	{"empty files", "Empty files come and go\n\nBody with ünïcödé text.", "", func(r *gitRepo) {
		r.write("empty2.txt", "", 0o644)
		r.write("empty.txt", "now has content\n", 0o644)
		r.write("dir with space/file name.txt", "", 0o644)
	}},
	{"mode changes", "Mode changes", "", func(r *gitRepo) {
		r.write("script.sh", "#!/bin/sh\necho hi\n", 0o755)
		r.write("src/main.c", code(6, func(f, l int) string {
			if f == 3 && l == 4 {
				return "\tx = changed(x);"
			}
			if f == 0 && l == 0 {
				return "\tx = first(x);"
			}
			return ""
		}), 0o755)
	}},
	{"binary changes", "Binary changes", "", func(r *gitRepo) {
		r.write("bin/blob.dat", binaryData(5, 3000), 0o644)
		r.write("bin/new.dat", binaryData(7, 100), 0o644)
	}},
	{"binary mode only and delete", "Binary mode and delete", "", func(r *gitRepo) {
		r.write("bin/blob.dat", binaryData(5, 3000), 0o755)
		r.remove("bin/new.dat")
	}},
	{"renames", "Rename things", "", func(r *gitRepo) {
		r.remove("long.txt")
		r.write("moved/long-renamed.txt", strings.Replace(base200, "line 7 of", "line seven of", 1), 0o644)
		r.remove("uni/naïve.txt")
		r.write("uni/naive.txt", "unicode path\n", 0o644)
		r.remove("a.txt")
		r.write("sub/dir/a.txt", strings.TrimSuffix(lines(20, func(i int) string {
			if i == 19 {
				return "omega"
			}
			return "alpha " + strconv.Itoa(i)
		}), "\n"), 0o755)
	}},
	{"symlinks and type changes", "Symlinks", "", func(r *gitRepo) {
		r.symlink("link", "sub/dir/a.txt")
		r.remove("script.sh")
		r.symlink("script.sh", "src/main.c")
		r.symlink("newlink", "nowhere")
		r.remove("crlf.txt")
		r.write("crlf.txt", "replaced a file by a file\n", 0o644)
	}},
	{"file becomes directory", "File to directory", "", func(r *gitRepo) {
		r.remove("tochange/file")
		r.write("tochange/file/inside.txt", "now a directory\n", 0o644)
	}},
	{"large hunk", "Rewrite most of a file", "", func(r *gitRepo) {
		r.write("moved/long-renamed.txt", lines(260, func(i int) string {
			if i%3 == 0 {
				return fmt.Sprintf("rewritten %d", i)
			}
			return fmt.Sprintf("line %d of the long file", i)
		}), 0o644)
	}},
	{"indent heuristic", "Duplicate a block", "", func(r *gitRepo) {
		src := "func a() {\n\tif x {\n\t\ty()\n\t}\n\n\tif z {\n\t\tw()\n\t}\n}\n"
		r.write("go/heur.go", src, 0o644)
		r.git("add", "-A")
		r.commit("setup heuristic")
		r.write("go/heur.go", "func a() {\n\tif x {\n\t\ty()\n\t}\n\n\tif q {\n\t\ty()\n\t}\n\n\tif z {\n\t\tw()\n\t}\n}\n", 0o644)
	}},
	{"long and unicode function names", "Function names", "", func(r *gitRepo) {
		long := "static int a_function_with_a_name_so_long_that_git_cuts_it_at_eighty_bytes_in_the_header(void)"
		uni := "int fonction_dont_le_nom_est_coupé_au_milieu_d_un_caractère_ééééééééééééééééééé(void)"
		body := lines(12, func(i int) string { return fmt.Sprintf("\tstatement(%d);", i) })
		r.write("names.c", long+"\n{\n"+body+"}\n"+uni+"\n{\n"+body+"}\n", 0o644)
		r.git("add", "-A")
		r.commit("setup names")
		r.write("names.c", long+"\n{\n"+strings.Replace(body, "(8)", "(80)", 1)+"}\n"+uni+"\n{\n"+strings.Replace(body, "(9)", "(90)", 1)+"}\n", 0o644)
	}},
	{"submodules", "Submodule", "", func(r *gitRepo) {
		r.git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("1", 40)+",sub/module")
		r.git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("2", 40)+",other")
		r.git("commit", "-q", "-m", "submodules")
		r.git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("3", 40)+",sub/module")
		r.git("update-index", "--force-remove", "other")
		r.git("commit", "-q", "-m", "submodule moved")
		// An empty directory is an unpopulated submodule to git add -A.
		if err := os.MkdirAll(filepath.Join(r.dir, "sub/module"), 0o755); err != nil {
			r.t.Fatal(err)
		}
	}},
	{"many files stat scaling", "Touch many files with long names", "", func(r *gitRepo) {
		for i := 0; i < 5; i++ {
			r.write(fmt.Sprintf("a/very/deeply/nested/directory/structure/with/a/long/path/number_%d.txt", i),
				lines(10*i+1, func(j int) string { return "x" }), 0o644)
		}
		r.write("huge.txt", lines(400, func(j int) string { return "h" + strconv.Itoa(j) }), 0o644)
	}},
	{"ambiguous renames", "Empty and identical files move", "", func(r *gitRepo) {
		same := strings.Repeat("same content line\n", 20)
		r.write("e1", "", 0o644)
		r.write("d/e2", "", 0o644)
		r.write("same1.txt", same, 0o644)
		r.write("x/same1.txt", same, 0o644)
		r.commit("setup ambiguous renames")
		r.remove("e1")
		r.remove("d/e2")
		r.write("n/e1", "", 0o644)
		r.write("e3", "", 0o644)
		r.remove("same1.txt")
		r.write("y/same1.txt", same, 0o644)
		r.write("z/other.txt", same, 0o644)
	}},
	{"deletions", "Delete files", "", func(r *gitRepo) {
		r.remove("src/main.c")
		r.remove("empty2.txt")
		r.remove("newlink")
	}},
}

// history builds the test repository and returns its commits in order.
func history(t *testing.T) (*gitRepo, []plumbing.Hash) {
	r := newGitRepo(t)
	var commits []plumbing.Hash
	for _, s := range steps {
		s.apply(r)
		var env []string
		if s.author != "" {
			env = append(env, "GIT_AUTHOR_NAME="+s.author)
		}
		commits = append(commits, r.commit(s.msg, env...))
	}
	return r, commits
}

func treeOf(t *testing.T, r *gitRepo, h plumbing.Hash) plumbing.Hash {
	t.Helper()
	c, err := object.GetCommit(r.storage(), h)
	if err != nil {
		t.Fatal(err)
	}
	return c.TreeHash
}

// TestAgainstGit builds one history of edit shapes and checks every
// output of the package against the git client on it.
func TestAgainstGit(t *testing.T) {
	t.Parallel()
	r, commits := history(t)
	t.Run("diff", func(t *testing.T) { testWriteDiff(t, r, commits) })
	t.Run("files", func(t *testing.T) { testFiles(t, r, commits) })
	t.Run("format-patch", func(t *testing.T) { testFormatPatch(t, r, commits) })
}

func testWriteDiff(t *testing.T, r *gitRepo, commits []plumbing.Hash) {
	st := r.storage()
	ab, err := NewAbbreviator(r.gitDir())
	if err != nil {
		t.Fatal(err)
	}
	type rng struct{ from, to int } // indexes into commits; -1 is the empty tree
	var ranges []rng
	for i := range commits {
		ranges = append(ranges, rng{i - 1, i})
	}
	ranges = append(ranges, rng{0, len(commits) - 1}, rng{len(commits) - 1, 0}, rng{-1, len(commits) - 1})
	for _, rg := range ranges {
		for _, noRenames := range []bool{false, true} {
			name := fmt.Sprintf("%d..%d renames=%v", rg.from, rg.to, !noRenames)
			from, fromRev := plumbing.ZeroHash, "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
			if rg.from >= 0 {
				from, fromRev = treeOf(t, r, commits[rg.from]), commits[rg.from].String()
			}
			to := treeOf(t, r, commits[rg.to])
			args := []string{"diff", fromRev, commits[rg.to].String()}
			if noRenames {
				args = append(args, "--no-renames")
			}
			want := r.git(args...)
			var got bytes.Buffer
			if err := WriteDiff(context.Background(), &got, st, from, to, Options{NoRenames: noRenames, Abbrev: ab.Abbrev}); err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("%s: differs from git diff: %s", name, firstDiff(got.String(), want))
			}
		}
	}
}

var numstatRE = regexp.MustCompile(`^(\d+|-)\t(\d+|-)\t`)

func testFiles(t *testing.T, r *gitRepo, commits []plumbing.Hash) {
	st := r.storage()
	for i := 1; i < len(commits); i++ {
		from, to := treeOf(t, r, commits[i-1]), treeOf(t, r, commits[i])
		files, err := Files(context.Background(), st, from, to, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// --numstat -z would quote nothing; the plain form is enough to
		// compare counts in order.
		out := strings.TrimSuffix(r.git("diff", "--numstat", commits[i-1].String(), commits[i].String()), "\n")
		status := strings.TrimSuffix(r.git("diff", "--name-status", commits[i-1].String(), commits[i].String()), "\n")
		var want, got []string
		for _, l := range strings.Split(out, "\n") {
			if m := numstatRE.FindStringSubmatch(l); m != nil {
				want = append(want, m[1]+"/"+m[2])
			}
		}
		var wantStatus []string
		for _, l := range strings.Split(status, "\n") {
			if l != "" {
				wantStatus = append(wantStatus, l[:1])
			}
		}
		var gotStatus []string
		for _, f := range files {
			if f.Binary {
				got = append(got, "-/-")
			} else {
				got = append(got, fmt.Sprintf("%d/%d", f.Additions, f.Deletions))
			}
			letter := map[Status]string{Added: "A", Removed: "D", Modified: "M", Renamed: "R"}[f.Status]
			if f.Status == Changed {
				letter = "M"
				if f.OldMode&0o170000 != f.NewMode&0o170000 {
					letter = "T"
				}
			}
			gotStatus = append(gotStatus, letter)
			if f.Patch != "" && !strings.HasPrefix(f.Patch, "@@ ") {
				t.Errorf("commit %d: %s: patch does not start with a hunk: %q", i, f.Path, f.Patch)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("commit %d (%s): counts %v, git %v", i, steps[i].name, got, want)
		}
		if strings.Join(gotStatus, "") != strings.Join(wantStatus, "") {
			t.Errorf("commit %d (%s): statuses %v, git %v", i, steps[i].name, gotStatus, wantStatus)
		}
	}
}

// binaryPatchRE matches a GIT binary patch body: git's zlib output and
// delta choice cannot be reproduced, so the test compares everything
// else and applies the series with git am to check those parts.
var binaryPatchRE = regexp.MustCompile(`(?m)^(index [0-9a-f]{40}\.\.[0-9a-f]{40}.*\n)GIT binary patch\n(?:(?:literal|delta) \d+\n(?:[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_` + "`" + `{|}~-]+\n)*\n){2}`)

func normaliseBinary(s string) string {
	return binaryPatchRE.ReplaceAllString(s, "${1}GIT binary patch\n<binary>\n")
}

func testFormatPatch(t *testing.T, r *gitRepo, commits []plumbing.Hash) {
	st := r.storage()
	ab, err := NewAbbreviator(r.gitDir())
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimPrefix(strings.TrimSpace(r.git("--version")), "git version ")
	logOrder := func(base, head plumbing.Hash) []*object.Commit {
		var out []*object.Commit
		for _, l := range strings.Fields(r.git("rev-list", "--reverse", base.String()+".."+head.String())) {
			c, err := object.GetCommit(st, plumbing.NewHash(l))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		base, head int
	}{
		{"one patch", 1, 2},
		{"whole history", 0, len(commits) - 1},
		{"text only", 0, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := r.git("format-patch", "--stdout", commits[tc.base].String()+".."+commits[tc.head].String())
			var got bytes.Buffer
			err := WriteFormatPatch(context.Background(), &got, st, logOrder(commits[tc.base], commits[tc.head]),
				PatchOptions{Options: Options{Abbrev: ab.Abbrev}, Signature: version})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := normaliseBinary(got.String()), normaliseBinary(want); g != w {
				t.Fatalf("differs from git format-patch: %s", firstDiff(g, w))
			}
			if tc.name == "text only" && got.String() != want {
				t.Fatalf("text-only series not byte-identical: %s", firstDiff(got.String(), want))
			}

			// The series applies with git am onto the base and gives the
			// head's tree, binary patches included.
			r2 := newGitRepo(t)
			r2.git("fetch", "-q", r.dir, "main")
			r2.git("checkout", "-q", commits[tc.base].String())
			r2.run(got.Bytes(), nil, "am", "-q", "--keep-cr")
			if gotTree, wantTree := r2.git("rev-parse", "HEAD^{tree}"), r.git("rev-parse", commits[tc.head].String()+"^{tree}"); gotTree != wantTree {
				t.Fatalf("git am of the series gives tree %s, want %s", gotTree, wantTree)
			}
		})
	}
}
