package browse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
)

// fixture is a work repository driven by the real git client and the
// bare server repository it pushes to, which the package reads.
type fixture struct {
	t    *testing.T
	work string
	bare string
	srv  *gitserver.Server
	tick int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	f := &fixture{t: t, work: filepath.Join(dir, "work"), bare: filepath.Join(dir, "repo.git"), srv: gitserver.New(gitserver.Config{})}
	if err := f.srv.Init(context.Background(), f.bare, "main"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.work, 0o755); err != nil {
		t.Fatal(err)
	}
	f.git("init", "-q", "-b", "main")
	return f
}

func (f *fixture) env() []string {
	return append(os.Environ(),
		"HOME="+f.work, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=gc.auto", "GIT_CONFIG_VALUE_0=0",
		"GIT_CONFIG_KEY_1=maintenance.auto", "GIT_CONFIG_VALUE_1=false",
		"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Cy Committer", "GIT_COMMITTER_EMAIL=cy@example.com",
	)
}

// gitIn runs git in dir and returns its output; failures are fatal.
func (f *fixture) gitIn(dir string, env []string, args ...string) string {
	f.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(f.env(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (f *fixture) git(args ...string) string {
	f.t.Helper()
	return f.gitIn(f.work, nil, args...)
}

// bareGit runs git in the server repository, where the answers (index
// line abbreviations included) must match this package's.
func (f *fixture) bareGit(args ...string) string {
	f.t.Helper()
	return f.gitIn(f.bare, nil, args...)
}

func (f *fixture) write(path, data string) {
	f.t.Helper()
	full := filepath.Join(f.work, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) remove(path string) {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(f.work, path)); err != nil {
		f.t.Fatal(err)
	}
}

// commit commits everything at the next minute, or at the given offset
// in minutes from the start when at is not nil (to make clock skew).
func (f *fixture) commit(msg string, env ...string) plumbing.Hash {
	f.t.Helper()
	f.git("add", "-A")
	f.tick++
	date := fmt.Sprintf("%d +0000", 1700000000+f.tick*60)
	env = append([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, env...)
	f.gitIn(f.work, env, "commit", "-q", "--allow-empty", "-m", msg)
	return f.hash("HEAD")
}

func (f *fixture) hash(rev string) plumbing.Hash {
	f.t.Helper()
	return plumbing.NewHash(strings.TrimSpace(f.git("rev-parse", rev)))
}

// push sends every branch and tag to the server repository.
func (f *fixture) push() {
	f.t.Helper()
	f.git("push", "-q", "--all", f.bare)
	f.git("push", "-q", "--tags", f.bare)
}

func (f *fixture) open() *Repo {
	f.t.Helper()
	r, err := Open(f.srv, f.bare)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}
