package commitfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"tapioca/gitserver"
)

// repo is a server repository seeded by the real git client.
type repo struct {
	t    *testing.T
	srv  *gitserver.Server
	path string
	home string
}

func newRepo(t *testing.T, seed bool) *repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	r := &repo{t: t, srv: gitserver.New(gitserver.Config{}), path: filepath.Join(dir, "repo.git"), home: dir}
	if err := r.srv.Init(context.Background(), r.path, "main"); err != nil {
		t.Fatal(err)
	}
	if !seed {
		return r
	}
	work := filepath.Join(dir, "work")
	r.gitIn(dir, "init", "-q", "-b", "main", work)
	for name, data := range map[string]string{
		"README.md":      "# Seed\n",
		"src/main.go":    "package main\n",
		"src/util/u.go":  "package util\n",
		"docs/only.md":   "alone\n",
		"scripts/run.sh": "#!/bin/sh\n",
	} {
		full := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.gitIn(work, "add", "-A")
	r.gitIn(work, "commit", "-q", "-m", "seed")
	r.gitIn(work, "push", "-q", r.path, "main")
	return r
}

func (r *repo) gitIn(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+r.home, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Seed", "GIT_AUTHOR_EMAIL=seed@example.com",
		"GIT_COMMITTER_NAME=Seed", "GIT_COMMITTER_EMAIL=seed@example.com")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	return r.gitIn(r.path, args...)
}

func (r *repo) head(branch string) plumbing.Hash {
	r.t.Helper()
	h, err := r.srv.ResolveRef(context.Background(), r.path, "refs/heads/"+branch)
	if err != nil {
		return plumbing.ZeroHash
	}
	return h
}

// files lists the tree at rev as "mode path content" lines.
func (r *repo) files(rev string) []string {
	r.t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.git("ls-tree", "-r", rev)), "\n") {
		if l == "" {
			continue
		}
		meta, p, _ := strings.Cut(l, "\t")
		fs := strings.Fields(meta)
		out = append(out, fmt.Sprintf("%s %s %q", fs[0], p, r.git("cat-file", "-p", fs[2])))
	}
	return out
}

// objects counts the repository's objects, to show refused requests
// write none.
func (r *repo) objects() string {
	r.t.Helper()
	return r.git("count-objects", "-v")
}

func (r *repo) fsck() {
	r.t.Helper()
	r.git("fsck", "--strict", "--no-dangling")
}

var (
	alice = Signature{Name: "Alice Agent", Email: "alice@example.com", When: time.Unix(1700000000, 0).In(time.FixedZone("", 2*3600))}
	cy    = Signature{Name: "Cy Committer", Email: "cy@example.com", When: time.Unix(1700000100, 0).UTC()}
)

func req(actions ...Action) Request {
	return Request{Branch: "main", Message: "Agent commit", Author: alice, Committer: cy, Actions: actions}
}

func TestCommitActions(t *testing.T) {
	t.Parallel()
	seedFiles := []string{
		`100644 README.md "# Seed\n"`,
		`100644 docs/only.md "alone\n"`,
		`100644 scripts/run.sh "#!/bin/sh\n"`,
		`100644 src/main.go "package main\n"`,
		`100644 src/util/u.go "package util\n"`,
	}
	blobOf := func(r *repo, p string) plumbing.Hash {
		return plumbing.NewHash(strings.TrimSpace(r.git("rev-parse", "main:"+p)))
	}
	for _, tc := range []struct {
		name string
		req  func(r *repo) Request
		// want: the files after the commit, or the error it fails with
		// (then nothing may change).
		want []string
		err  error
	}{
		{"create update delete", func(r *repo) Request {
			return req(
				Action{Op: Create, Path: "new/deep/file.txt", Content: []byte("hello\n")},
				Action{Op: Update, Path: "README.md", Content: []byte("# Updated\n")},
				Action{Op: Delete, Path: "docs/only.md"},
			)
		}, []string{
			`100644 README.md "# Updated\n"`,
			`100644 new/deep/file.txt "hello\n"`,
			`100644 scripts/run.sh "#!/bin/sh\n"`,
			`100644 src/main.go "package main\n"`,
			`100644 src/util/u.go "package util\n"`,
		}, nil},
		{"modes and symlinks", func(r *repo) Request {
			return req(
				Action{Op: Update, Path: "scripts/run.sh", Content: []byte("#!/bin/sh\necho\n"), Mode: filemode.Executable},
				Action{Op: Create, Path: "link", Content: []byte("src/main.go"), Mode: filemode.Symlink},
				Action{Op: Create, Path: "empty", Content: []byte{}},
			)
		}, []string{
			`100644 README.md "# Seed\n"`,
			`100644 docs/only.md "alone\n"`,
			`100644 empty ""`,
			`120000 link "src/main.go"`,
			`100755 scripts/run.sh "#!/bin/sh\necho\n"`,
			`100644 src/main.go "package main\n"`,
			`100644 src/util/u.go "package util\n"`,
		}, nil},
		{"move keeps content, actions see earlier ones", func(r *repo) Request {
			return req(
				Action{Op: Move, PreviousPath: "src/util/u.go", Path: "lib/u.go"},
				Action{Op: Update, Path: "lib/u.go", Content: []byte("package lib\n"), ExpectedBlob: blobOf(r, "src/util/u.go")},
				Action{Op: Move, PreviousPath: "docs/only.md", Path: "docs/renamed.md", Content: []byte("new\n")},
			)
		}, []string{
			`100644 README.md "# Seed\n"`,
			`100644 docs/renamed.md "new\n"`,
			`100644 lib/u.go "package lib\n"`,
			`100644 scripts/run.sh "#!/bin/sh\n"`,
			`100644 src/main.go "package main\n"`,
		}, nil},
		{"contents API sha matches", func(r *repo) Request {
			return req(Action{Op: Update, Path: "README.md", Content: []byte("x\n"), ExpectedBlob: blobOf(r, "README.md")})
		}, append([]string{`100644 README.md "x\n"`}, seedFiles[1:]...), nil},
		{"delete everything", func(r *repo) Request {
			var as []Action
			for _, p := range []string{"README.md", "docs/only.md", "scripts/run.sh", "src/main.go", "src/util/u.go"} {
				as = append(as, Action{Op: Delete, Path: p})
			}
			return req(as...)
		}, nil, nil},

		{"create over a file", func(r *repo) Request {
			return req(Action{Op: Create, Path: "README.md", Content: []byte("x")})
		}, nil, ErrFileExists},
		{"create over a directory", func(r *repo) Request {
			return req(Action{Op: Create, Path: "src", Content: []byte("x")})
		}, nil, ErrFileExists},
		{"create below a file", func(r *repo) Request {
			return req(Action{Op: Create, Path: "README.md/x", Content: []byte("x")})
		}, nil, ErrFileExists},
		{"update a missing file", func(r *repo) Request {
			return req(Action{Op: Update, Path: "nope.txt", Content: []byte("x")})
		}, nil, ErrFileNotFound},
		{"delete a directory", func(r *repo) Request {
			return req(Action{Op: Delete, Path: "src"})
		}, nil, ErrFileNotFound},
		{"move onto a file", func(r *repo) Request {
			return req(Action{Op: Move, PreviousPath: "README.md", Path: "src/main.go"})
		}, nil, ErrFileExists},
		{"move a missing file", func(r *repo) Request {
			return req(Action{Op: Move, PreviousPath: "gone.md", Path: "x.md"})
		}, nil, ErrFileNotFound},
		{"stale sha", func(r *repo) Request {
			return req(Action{Op: Update, Path: "README.md", Content: []byte("x\n"), ExpectedBlob: blobOf(r, "src/main.go")})
		}, nil, ErrStaleBlob},
		{"stale sha on delete", func(r *repo) Request {
			return req(Action{Op: Delete, Path: "README.md", ExpectedBlob: plumbing.NewHash(strings.Repeat("1", 40))})
		}, nil, ErrStaleBlob},
		{"later action fails", func(r *repo) Request {
			return req(Action{Op: Create, Path: "ok.txt", Content: []byte("x")}, Action{Op: Create, Path: "ok.txt", Content: []byte("y")})
		}, nil, ErrFileExists},
		{"no changes", func(r *repo) Request {
			return req(Action{Op: Update, Path: "README.md", Content: []byte("# Seed\n")})
		}, nil, ErrNoChanges},
		{"expected head", func(r *repo) Request {
			q := req(Action{Op: Create, Path: "x", Content: []byte("x")})
			q.ExpectedHead = plumbing.NewHash(strings.Repeat("2", 40))
			return q
		}, nil, ErrBranchMoved},
		{"missing branch", func(r *repo) Request {
			q := req(Action{Op: Create, Path: "x", Content: []byte("x")})
			q.Branch = "nope"
			return q
		}, nil, gitserver.ErrNotFound},
		{"protection refuses", func(r *repo) Request {
			q := req(Action{Op: Create, Path: "x", Content: []byte("x")})
			q.Check = func(ctx context.Context, u gitserver.RefUpdate) error { return errProtected }
			return q
		}, nil, errProtected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, true)
			before, objs := r.head("main"), r.objects()
			res, err := Commit(context.Background(), r.srv, r.path, tc.req(r))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if r.head("main") != before || r.objects() != objs {
					t.Fatalf("a refused commit changed the repository")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.files("main"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("files after commit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			head := r.head("main")
			if res.Commit != head || res.Parent != before || res.Update.Old != before || res.Update.New != head ||
				res.Update.Name != "refs/heads/main" || !res.Update.FastForward {
				t.Fatalf("result %+v, head %s, before %s", res, head, before)
			}
			if got := r.git("log", "-1", "--format=%an <%ae> %ai|%cn <%ce> %ci|%P|%T|%B", "main"); got !=
				fmt.Sprintf("Alice Agent <alice@example.com> 2023-11-15 00:13:20 +0200|Cy Committer <cy@example.com> 2023-11-14 22:15:00 +0000|%s|%s|Agent commit\n\n", before, res.Tree) {
				t.Fatalf("commit metadata: %q", got)
			}
			for _, f := range res.Files {
				if want := strings.TrimSpace(r.git("rev-parse", "main:"+f.Path)); f.SHA.String() != want {
					t.Errorf("Files: %s is %s, git %s", f.Path, f.SHA, want)
				}
			}
			r.fsck()
		})
	}
}

var errProtected = errors.New("protected branch")

func TestCommitInvalidRequests(t *testing.T) {
	t.Parallel()
	r := newRepo(t, true)
	objs := r.objects()
	for _, q := range []Request{
		req(Action{Op: Create, Path: "../escape", Content: []byte("x")}),
		req(Action{Op: Create, Path: "/abs", Content: []byte("x")}),
		req(Action{Op: Create, Path: "a//b", Content: []byte("x")}),
		req(Action{Op: Create, Path: ".git/config", Content: []byte("x")}),
		req(Action{Op: Create, Path: "sub/.GIT/x", Content: []byte("x")}),
		req(Action{Op: Create, Path: "x"}),
		req(Action{Op: Create, Path: "x", Content: []byte("x"), Mode: 0o100664}),
		req(Action{Op: Create, Path: "x", Content: []byte("x"), ExpectedBlob: plumbing.NewHash(strings.Repeat("3", 40))}),
		req(Action{Op: "chmod", Path: "x"}),
		req(Action{Op: Delete, Path: "README.md", Content: []byte("x")}),
		req(Action{Op: Update, Path: "README.md", PreviousPath: "x", Content: []byte("x")}),
		req(),
		{Branch: "bad..name", Message: "m", Author: alice, Committer: cy, Actions: []Action{{Op: Delete, Path: "README.md"}}},
		{Branch: "main", Message: "  ", Author: alice, Committer: cy, Actions: []Action{{Op: Delete, Path: "README.md"}}},
		{Branch: "main", Message: "m", Author: Signature{Name: "<>"}, Committer: cy, Actions: []Action{{Op: Delete, Path: "README.md"}}},
	} {
		before := r.head("main")
		if _, err := Commit(context.Background(), r.srv, r.path, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", q, err)
		}
		if r.head("main") != before {
			t.Fatalf("an invalid request moved the branch")
		}
	}
	if r.objects() != objs {
		t.Fatalf("invalid requests wrote objects")
	}
}

func TestCommitBranches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("first commit of an empty repository", func(t *testing.T) {
		r := newRepo(t, false)
		res, err := Commit(ctx, r.srv, r.path, req(Action{Op: Create, Path: "README.md", Content: []byte("hi\n")}))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Parent.IsZero() || !res.Update.Old.IsZero() || r.head("main") != res.Commit {
			t.Fatalf("root commit: %+v", res)
		}
		if got := r.git("rev-list", "--parents", "main"); strings.TrimSpace(got) != res.Commit.String() {
			t.Fatalf("not a root commit: %q", got)
		}
		r.fsck()
	})
	t.Run("new branch from a start point", func(t *testing.T) {
		r := newRepo(t, true)
		main := r.head("main")
		q := req(Action{Op: Create, Path: "feature.txt", Content: []byte("f\n")})
		q.Branch, q.StartPoint = "topic/one", "main"
		res, err := Commit(ctx, r.srv, r.path, q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Parent != main || !res.Update.Old.IsZero() || res.Update.Name != "refs/heads/topic/one" || r.head("topic/one") != res.Commit || r.head("main") != main {
			t.Fatalf("new branch: %+v", res)
		}
		// The start point is ignored once the branch exists.
		q.Actions = []Action{{Op: Create, Path: "two.txt", Content: []byte("2\n")}}
		res2, err := Commit(ctx, r.srv, r.path, q)
		if err != nil || res2.Parent != res.Commit {
			t.Fatalf("second commit: %+v %v", res2, err)
		}
		r.fsck()
	})
	t.Run("allow empty", func(t *testing.T) {
		r := newRepo(t, true)
		q := req()
		q.AllowEmpty = true
		res, err := Commit(ctx, r.srv, r.path, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(r.git("rev-parse", "main^{tree}", "main~1^{tree}")); len(strings.Fields(got)) != 2 || strings.Fields(got)[0] != strings.Fields(got)[1] {
			t.Fatalf("empty commit changed the tree: %s (%+v)", got, res)
		}
	})
	t.Run("concurrent commits", func(t *testing.T) {
		r := newRepo(t, true)
		start := r.head("main")
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = Commit(ctx, r.srv, r.path, req(Action{Op: Create, Path: fmt.Sprintf("c%d.txt", i), Content: []byte("x\n")}))
			}(i)
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrBranchMoved):
			default:
				t.Fatalf("concurrent commit: %v", err)
			}
		}
		// Every commit that succeeded is in the history, none lost.
		if got := strings.Count(r.git("rev-list", start.String()+"..main"), "\n"); got != ok || ok == 0 {
			t.Fatalf("%d commits succeeded, %d in history", ok, got)
		}
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(r.git("ls-tree", "--name-only", "main")), "\n") {
			if strings.HasPrefix(l, "c") {
				names = append(names, l)
			}
		}
		sort.Strings(names)
		if len(names) != ok {
			t.Fatalf("files %v after %d commits", names, ok)
		}
		// With the same expected head, only one of two wins.
		head := r.head("main")
		var wins int
		var mu sync.Mutex
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				q := req(Action{Op: Create, Path: fmt.Sprintf("e%d.txt", i), Content: []byte("x\n")})
				q.ExpectedHead = head
				_, err := Commit(ctx, r.srv, r.path, q)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if !errors.Is(err, ErrBranchMoved) {
					t.Errorf("expected head race: %v", err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d commits with the same expected head won", wins)
		}
		r.fsck()
	})
}

// TestSyncLooseFindsTheObjects pins the layout syncLoose syncs: the loose
// files a commit wrote are found (and synced) where go-git put them, and
// an object that is not there is an error rather than a silent no-op.
func TestSyncLooseFindsTheObjects(t *testing.T) {
	r := newRepo(t, true)
	res, err := Commit(context.Background(), r.srv, r.path, req(Action{Op: Create, Path: "new/file.txt", Content: []byte("hi\n")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := syncLoose(r.path, []plumbing.Hash{res.Commit, res.Tree, res.Files[0].SHA}); err != nil {
		t.Fatalf("sync written objects: %v", err)
	}
	missing := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	if err := syncLoose(r.path, []plumbing.Hash{missing}); err == nil || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("sync of a missing object: %v, want an error naming it", err)
	}
}
