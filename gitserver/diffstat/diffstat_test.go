package diffstat

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	// Hide the user's config (diff.renames, diff.algorithm...) so git
	// answers with its defaults.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=C", "GIT_COMMITTER_EMAIL=c@example.com")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %v: %v: %s", args, err, stderr.String())
	}
	return string(out)
}

func (r *repo) hash(rev string) plumbing.Hash {
	return plumbing.NewHash(strings.TrimSpace(r.git("rev-parse", rev)))
}

// op is a change to the work tree: write (mode "", "x" or "l" for a
// symlink) or delete when data is nil.
type op struct {
	path string
	data *string
	mode string
}

func w(p, data string) op    { return op{path: p, data: &data} }
func wx(p, data string) op   { return op{path: p, data: &data, mode: "x"} }
func wl(p, target string) op { return op{path: p, data: &target, mode: "l"} }
func rm(p string) op         { return op{path: p} }
func (r *repo) commit(msg string, ops ...op) {
	r.t.Helper()
	for _, o := range ops {
		full := filepath.Join(r.dir, o.path)
		os.RemoveAll(full)
		if o.data == nil {
			continue
		}
		for d := filepath.Dir(o.path); d != "."; d = filepath.Dir(d) {
			if st, err := os.Lstat(filepath.Join(r.dir, d)); err == nil && !st.IsDir() {
				os.Remove(filepath.Join(r.dir, d))
			}
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		var err error
		switch o.mode {
		case "l":
			err = os.Symlink(*o.data, full)
		case "x":
			err = os.WriteFile(full, []byte(*o.data), 0o755)
		default:
			err = os.WriteFile(full, []byte(*o.data), 0o644)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

func numbered(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s line %d\n", prefix, i)
	}
	return b.String()
}

// scattered rewrites a file with many random edits, to make Myers work.
func scattered(seed int64, n, edits int) (string, string) {
	r := rand.New(rand.NewSource(seed))
	base := make([]string, n)
	for i := range base {
		base[i] = fmt.Sprintf("v%d", r.Intn(n/3))
	}
	next := append([]string(nil), base...)
	for e := 0; e < edits; e++ {
		p := r.Intn(len(next))
		switch r.Intn(3) {
		case 0:
			next = append(next[:p], next[p+1:]...)
		case 1:
			next = append(next[:p], append([]string{fmt.Sprintf("new%d", r.Intn(50))}, next[p:]...)...)
		default:
			next[p] = fmt.Sprintf("v%d", r.Intn(n/3))
		}
	}
	return strings.Join(base, "\n") + "\n", strings.Join(next, "\n") + "\n"
}

var bigBase, bigHead = scattered(7, 6000, 900)

type dsCase struct {
	name       string
	base, head [][]op // commits on main before branching, then on the branch
	later      [][]op // commits on main after branching (must not count)
}

var dsCases = []dsCase{
	{name: "edits, additions, deletions",
		base:  [][]op{{w("a", numbered("a", 10)), w("b", "b\n"), w("dir/c", "c\n")}},
		head:  [][]op{{w("a", strings.Replace(numbered("a", 10), "a line 3", "changed", 1)), rm("b")}, {w("dir/new", "1\n2\n3\n")}},
		later: [][]op{{w("b", "changed on main\n"), w("m", "main only\n")}}},
	{name: "renames exact inexact and by basename",
		base: [][]op{{w("old.txt", numbered("o", 20)), w("src/util.go", numbered("u", 40)), w("sim", numbered("s", 10)), w("keep", "k\n")}},
		head: [][]op{{rm("old.txt"), w("new.txt", numbered("o", 20)), rm("src/util.go"), w("pkg/util.go", numbered("u", 40)+"extra\n"),
			rm("sim"), w("sim2", numbered("s", 10)+"more\n")}}},
	{name: "rename candidates tie and compete",
		base: [][]op{{w("a/x.txt", numbered("t", 30)), w("b/x.txt", numbered("t", 30)), w("c/y.txt", numbered("t", 29))}},
		head: [][]op{{rm("a/x.txt"), rm("b/x.txt"), rm("c/y.txt"), w("d/x.txt", numbered("t", 30)), w("e/z.txt", numbered("t", 30)+"z\n")}}},
	{name: "too different to be a rename",
		base: [][]op{{w("one", numbered("x", 10))}},
		head: [][]op{{rm("one"), w("two", numbered("y", 10))}}},
	{name: "binary files",
		base: [][]op{{w("img.png", "\x89PNG\x00\x01\x02"), w("blob.bin", "a\x00b"), w("mv.bin", "m\x00v")}},
		head: [][]op{{w("img.png", "\x89PNG\x00\x01\x03"), w("new.bin", "\x00\x00"), rm("mv.bin"), w("moved.bin", "m\x00v"), wx("blob.bin", "a\x00b")}}},
	{name: "mode only, symlinks, type change",
		base: [][]op{{w("run.sh", "#!/bin/sh\n"), wl("link", "target"), w("becomes-link", "content\n"), wl("becomes-file", "t")}},
		head: [][]op{{wx("run.sh", "#!/bin/sh\n"), wl("link", "elsewhere"), wl("becomes-link", "x"), w("becomes-file", "now a file\n")}}},
	{name: "large file with many edits",
		base: [][]op{{w("big.txt", bigBase)}},
		head: [][]op{{w("big.txt", bigHead)}}},
	{name: "empty files and trailing newlines",
		base: [][]op{{w("e1", ""), w("e2", ""), w("nl", "a\nb"), w("nl2", "a\nb\n")}},
		head: [][]op{{rm("e1"), w("e3", ""), rm("e2"), w("sub/e2", ""), w("nl", "a\nb\n"), w("nl2", "a\nB")}}},
	{name: "file replaced by directory and back",
		base: [][]op{{w("x", "file\n"), w("y/z", "in dir\n")}},
		head: [][]op{{rm("x"), w("x/inner", "now dir\n"), rm("y/z"), w("y", "now file\n")}}},
	{name: "crlf content still similar",
		base: [][]op{{w("win.txt", strings.ReplaceAll(numbered("w", 30), "\n", "\r\n"))}},
		head: [][]op{{rm("win.txt"), w("moved/win.txt", numbered("w", 30))}}},
}

type gitStat struct {
	files                       []FileStat
	commits, additions, deletes int
}

// gitNumstat parses `git diff --numstat -z`, whose rename records are
// "add\tdel\t\0old\0new\0".
func gitNumstat(r *repo, base, head string) []FileStat {
	out := r.git("diff", "--numstat", "-z", base+"..."+head)
	var fs []FileStat
	for len(out) > 0 {
		i := strings.IndexByte(out, 0)
		rec := out[:i]
		out = out[i+1:]
		parts := strings.SplitN(rec, "\t", 3)
		f := FileStat{Path: parts[2]}
		if parts[0] == "-" {
			f.Binary = true
		} else {
			f.Additions, _ = strconv.Atoi(parts[0])
			f.Deletions, _ = strconv.Atoi(parts[1])
		}
		if f.Path == "" {
			i = strings.IndexByte(out, 0)
			f.OldPath = out[:i]
			out = out[i+1:]
			i = strings.IndexByte(out, 0)
			f.Path = out[:i]
			out = out[i+1:]
		}
		fs = append(fs, f)
	}
	return fs
}

func TestComputeMatchesGit(t *testing.T) {
	t.Parallel()
	for _, tc := range dsCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			for i, c := range tc.base {
				r.commit(fmt.Sprintf("base %d", i), c...)
			}
			r.git("checkout", "-q", "-b", "pr")
			for i, c := range tc.head {
				r.commit(fmt.Sprintf("head %d", i), c...)
			}
			r.git("checkout", "-q", "main")
			for i, c := range tc.later {
				r.commit(fmt.Sprintf("later %d", i), c...)
			}
			s := filesystem.NewStorage(osfs.New(filepath.Join(r.dir, ".git")), cache.NewObjectLRUDefault())
			ctx := context.Background()
			st, err := Compute(ctx, s, r.hash("main"), r.hash("pr"))
			if err != nil {
				t.Fatal(err)
			}
			want := gitNumstat(r, "main", "pr")
			t.Logf("git numstat: %+v", want)
			if !reflect.DeepEqual(st.Files, want) {
				t.Fatalf("files\n got %+v\nwant %+v", st.Files, want)
			}
			var add, del int
			for _, f := range want {
				add += f.Additions
				del += f.Deletions
			}
			if st.Additions != add || st.Deletions != del || st.ChangedFiles != len(want) {
				t.Fatalf("totals %d/%d/%d, want %d/%d/%d", st.Additions, st.Deletions, st.ChangedFiles, add, del, len(want))
			}
			if n, _ := strconv.Atoi(strings.TrimSpace(r.git("rev-list", "--count", "main..pr"))); st.Commits != n {
				t.Fatalf("commits %d, git %d", st.Commits, n)
			}
			paths, err := ChangedPaths(ctx, s, r.hash("main"), r.hash("pr"))
			if err != nil {
				t.Fatal(err)
			}
			wantPaths := strings.Fields(r.git("diff", "--name-only", "main...pr"))
			if strings.Join(paths, "\n") != strings.Join(wantPaths, "\n") {
				t.Fatalf("changed paths %q, git %q", paths, wantPaths)
			}
		})
	}
}

// TestCountCommitsMatchesGit covers histories with merges both ways and
// commits whose dates go backwards.
func TestCountCommitsMatchesGit(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("root", w("f", "0\n"))
	r.git("checkout", "-q", "-b", "pr")
	r.commit("pr 1", w("p", "1\n"))
	r.git("checkout", "-q", "main")
	r.commit("main 1", w("m", "1\n"))
	r.git("checkout", "-q", "pr")
	r.git("merge", "-q", "--no-edit", "main")
	r.commit("pr 2", w("p", "2\n"))
	r.git("checkout", "-q", "-b", "side", "main~1")
	r.commit("side 1", w("s", "1\n"))
	r.git("checkout", "-q", "pr")
	r.git("merge", "-q", "--no-edit", "side")
	r.git("checkout", "-q", "main")
	r.commit("main 2", w("m", "2\n"))
	s := filesystem.NewStorage(osfs.New(filepath.Join(r.dir, ".git")), cache.NewObjectLRUDefault())
	for _, pair := range [][2]string{{"main", "pr"}, {"pr", "main"}, {"side", "pr"}, {"main", "side"}, {"pr", "pr"}} {
		n, err := CountCommits(context.Background(), s, r.hash(pair[0]), r.hash(pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.Atoi(strings.TrimSpace(r.git("rev-list", "--count", pair[0]+".."+pair[1])))
		if n != want {
			t.Errorf("%s..%s: %d, git %d", pair[0], pair[1], n, want)
		}
	}
}
