// Package coretest builds a forge core for tests: a real SQLite database
// and real repositories in a temporary data directory, every service
// wired as the process wires them, and no HTTP anywhere.
package coretest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/orgs"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/pushes"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
)

// Forge is a core with its services.
type Forge struct {
	Env      *core.Env
	Events   *events.Emitter
	Accounts *accounts.Service
	Orgs     *orgs.Service
	Repos    *repos.Service
	Issues   *issues.Service
	Pulls    *pulls.Service
	Pushes   *pushes.Service
	Webhooks *webhooks.Service
	Code     *code.Service
	Statuses *statuses.Service
}

// New builds a forge on a fresh data directory.
func New(t testing.TB) *Forge {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "repos"), 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env, err := core.NewEnv(st, gitserver.New(gitserver.Config{Logger: log}),
		core.Config{DataDir: dir, BaseURL: "http://forge.test", MaxReposPerUser: 50}, log)
	if err != nil {
		t.Fatal(err)
	}
	f := &Forge{Env: env, Events: events.New(env, nil)}
	f.Accounts = accounts.New(env)
	f.Orgs = orgs.New(env)
	f.Repos = repos.New(env)
	f.Issues = issues.New(env, f.Events)
	f.Pulls = pulls.New(env, f.Events, f.Issues)
	f.Pushes = pushes.New(env, f.Events, f.Pulls)
	f.Repos.Refs, f.Pulls.Refs = f.Pushes, f.Pushes
	f.Webhooks = webhooks.New(env, f.Events, core.NetPolicy{})
	f.Code = code.New(env, f.Pulls, f.Pushes)
	f.Statuses = statuses.New(env)
	return f
}

// User creates a user account and returns it acting with full rights.
func (f *Forge) User(t testing.TB, name string) core.Actor {
	t.Helper()
	u, err := f.Env.Store.CreateUser(context.Background(), store.NewUser{Username: name, Email: name + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return core.AsUser(u)
}

// Admin creates a site administrator.
func (f *Forge) Admin(t testing.TB, name string) core.Actor {
	t.Helper()
	u, err := f.Env.Store.CreateUser(context.Background(), store.NewUser{Username: name, Email: name + "@example.com", IsAdmin: true})
	if err != nil {
		t.Fatal(err)
	}
	return core.AsUser(u)
}

// Git runs the real git client in dir with a private configuration.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Clone makes a working copy of a repository of the forge, straight from
// its directory (no transport involved), for a test to commit in and push
// back with Push.
func (f *Forge) Clone(t testing.TB, repo *store.Repo) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	Git(t, filepath.Dir(dir), "clone", "-q", f.Env.RepoPath(repo.ID), dir)
	return dir
}

// Commit writes files (path -> content) in the working copy and commits
// them on its current branch.
func Commit(t testing.TB, dir, msg string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "-m", msg)
}

// Push pushes refspecs from the working copy straight into the
// repository's directory and then records the push through the core, as
// a push over a transport does.
func (f *Forge) Push(t testing.TB, dir string, repo *store.Repo, pusher core.Actor, branches ...string) {
	t.Helper()
	path := f.Env.RepoPath(repo.ID)
	before := map[string]string{}
	for _, b := range branches {
		before[b] = ""
		if h, ok, err := f.Env.BranchTip(context.Background(), repo, b); err == nil && ok {
			before[b] = h.String()
		}
	}
	for _, b := range branches {
		Git(t, dir, "push", "-q", path, b+":refs/heads/"+b)
	}
	var updates []gitserver.RefUpdate
	for _, b := range branches {
		h, _, err := f.Env.BranchTip(context.Background(), repo, b)
		if err != nil {
			t.Fatal(err)
		}
		old := before[b]
		u := gitserver.RefUpdate{Name: "refs/heads/" + b, New: h, FastForward: true}
		if old != "" {
			u.Old = gitserverHash(old)
		}
		updates = append(updates, u)
	}
	f.Pushes.Record(context.Background(), repo, pusher.User, updates)
}
