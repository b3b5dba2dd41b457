package merge

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// gitRepo is a scratch repository driven by the real git client, so the
// tests compare this package with git itself rather than with expectations
// written by hand.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

// gitEnv pins identity and dates and hides the user's configuration
// (merge.conflictStyle, diff.algorithm...) which would change git's answers.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Base Author", "GIT_AUTHOR_EMAIL=base@example.com",
		"GIT_COMMITTER_NAME=Base Committer", "GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
	)
}

// run runs git and returns stdout and the exit code; other failures
// (cannot start) are fatal.
func (r *gitRepo) run(env []string, args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(gitEnv(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		r.t.Fatalf("git %v: %v", args, err)
	}
	return string(out), 0
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitEnv(nil, args...)
}

func (r *gitRepo) gitEnv(env []string, args ...string) string {
	r.t.Helper()
	out, code := r.run(env, args...)
	if code != 0 {
		r.t.Fatalf("git %v: exit %d: %s", args, code, out)
	}
	return out
}

func (r *gitRepo) hash(rev string) plumbing.Hash {
	r.t.Helper()
	return plumbing.NewHash(strings.TrimSpace(r.git("rev-parse", rev)))
}

func (r *gitRepo) storage() *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(filepath.Join(r.dir, ".git")), cache.NewObjectLRUDefault())
}

// file describes a path's state in a commit: content plus kind, or deleted.
type file struct {
	data    string
	exec    bool
	symlink bool
	deleted bool
}

func txt(s string) file  { return file{data: s} }
func exe(s string) file  { return file{data: s, exec: true} }
func link(s string) file { return file{data: s, symlink: true} }

var gone = file{deleted: true}

// apply writes the files into the work tree and commits them.
func (r *gitRepo) commitFiles(msg string, files map[string]file, env ...string) plumbing.Hash {
	r.t.Helper()
	for p, f := range files {
		full := filepath.Join(r.dir, p)
		if f.deleted {
			if err := os.RemoveAll(full); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	for p, f := range files {
		if f.deleted {
			continue
		}
		full := filepath.Join(r.dir, p)
		// A file may stand where a directory is wanted, or the reverse.
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if st, err := os.Lstat(filepath.Join(r.dir, d)); err == nil && !st.IsDir() {
				os.Remove(filepath.Join(r.dir, d))
			}
		}
		os.RemoveAll(full)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		var err error
		switch {
		case f.symlink:
			err = os.Symlink(f.data, full)
		case f.exec:
			err = os.WriteFile(full, []byte(f.data), 0o755)
		default:
			err = os.WriteFile(full, []byte(f.data), 0o644)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.gitEnv(env, "commit", "-q", "--allow-empty", "-m", msg)
	return r.hash("HEAD")
}
