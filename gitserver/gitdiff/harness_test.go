package gitdiff

import (
	"bytes"
	"fmt"
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
// tests compare this package with git's own output.
type gitRepo struct {
	t    *testing.T
	dir  string
	tick int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

// env hides the user's configuration (diff.algorithm, renames...) and
// pins identities; dates advance by one minute per commit.
func (r *gitRepo) env() []string {
	return append(os.Environ(),
		"HOME="+r.dir, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		// No background maintenance after each commit: it only costs time.
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0",
		"GIT_CONFIG_KEY_1=maintenance.auto", "GIT_CONFIG_VALUE_1=false",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com",
	)
}

func (r *gitRepo) run(stdin []byte, extraEnv []string, args ...string) []byte {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(r.env(), extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	return string(r.run(nil, nil, args...))
}

func (r *gitRepo) write(path, data string, mode os.FileMode) {
	r.t.Helper()
	full := filepath.Join(r.dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(full)
	if err := os.WriteFile(full, []byte(data), mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) symlink(path, target string) {
	r.t.Helper()
	full := filepath.Join(r.dir, path)
	os.MkdirAll(filepath.Dir(full), 0o755)
	os.RemoveAll(full)
	if err := os.Symlink(target, full); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) remove(path string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.dir, path)); err != nil {
		r.t.Fatal(err)
	}
}

// commit stages everything and commits with a fixed, advancing date.
func (r *gitRepo) commit(msg string, extraEnv ...string) plumbing.Hash {
	r.t.Helper()
	r.git("add", "-A")
	r.tick++
	date := fmt.Sprintf("2024-01-02T03:%02d:%02d+0100", r.tick/60, r.tick%60)
	env := append([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, extraEnv...)
	r.run(nil, env, "commit", "-q", "--allow-empty", "--no-verify", "-m", msg)
	return r.hash("HEAD")
}

func (r *gitRepo) hash(rev string) plumbing.Hash {
	r.t.Helper()
	return plumbing.NewHash(strings.TrimSpace(r.git("rev-parse", rev)))
}

func (r *gitRepo) gitDir() string { return filepath.Join(r.dir, ".git") }

func (r *gitRepo) storage() *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(r.gitDir()), cache.NewObjectLRUDefault())
}

// firstDiff names the first differing line of two outputs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "identical"
}
