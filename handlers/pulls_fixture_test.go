package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// prRepo is a repository with a work tree cloned from it: the setting of
// every pull request test.
type prRepo struct {
	t     *testing.T
	owner testUser
	c     *client // as the owner
	name  string
	id    int64
	api   string // /api/v1/repos/owner/name
	work  string // clone with origin = the server
}

// newPRRepo registers an owner, creates an auto-initialised repository
// (private if asked) and clones it.
func newPRRepo(t *testing.T, private bool) *prRepo {
	t.Helper()
	u := shared.register(t, "pr")
	c := shared.as(t, u.Token)
	repo := c.createRepo(map[string]any{"name": "proj", "auto_init": true, "private": private})
	f := &prRepo{t: t, owner: u, c: c, name: "proj", id: int64(repo["id"].(float64)),
		api: "/api/v1/repos/" + u.Name + "/proj"}
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "proj"), "w")
	f.work = filepath.Join(dir, "w")
	return f
}

// git runs git in the work tree.
func (f *prRepo) git(args ...string) string {
	f.t.Helper()
	return runGit(f.t, f.work, args...)
}

// commit writes files (name → content; "" deletes) and commits them.
func (f *prRepo) commit(msg string, files map[string]string) {
	f.t.Helper()
	for name, content := range files {
		p := filepath.Join(f.work, name)
		if content == "" {
			f.git("rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
		f.git("add", name)
	}
	f.git("commit", "-q", "-m", msg)
}

// branch creates branch from the current master, makes one commit per
// entry of commits on it, pushes it and goes back to master.
func (f *prRepo) branch(name string, commits ...map[string]string) {
	f.t.Helper()
	f.git("checkout", "-q", "-b", name, "master")
	for k, files := range commits {
		f.commit(name+" commit "+strconv.Itoa(k+1), files)
	}
	f.git("push", "-q", "origin", name)
	f.git("checkout", "-q", "master")
}

// tip is what the server has for a branch, via git ls-remote.
func (f *prRepo) tip(branch string) string {
	f.t.Helper()
	out := f.git("ls-remote", "origin", "refs/heads/"+branch)
	sha, _, _ := strings.Cut(out, "\t")
	return strings.TrimSpace(sha)
}

// openPull opens a pull request as the owner and returns it.
func (f *prRepo) openPull(head, base, title, body string) map[string]any {
	f.t.Helper()
	return f.c.must(http.StatusCreated, "POST", f.api+"/pulls", map[string]any{"title": title, "body": body, "head": head, "base": base}).obj(f.t)
}

func (f *prRepo) pull(n any) map[string]any {
	f.t.Helper()
	return f.c.must(http.StatusOK, "GET", f.api+"/pulls/"+num(n), nil).obj(f.t)
}

// serverPath is the bare repository on the shared server's disk.
func (f *prRepo) serverPath() string {
	return filepath.Join(shared.Dir, "repos", strconv.FormatInt(f.id, 10)+".git")
}

// fsck runs git fsck --full on the server's repository.
func (f *prRepo) fsck() {
	f.t.Helper()
	if out, err := tryGit(f.work, "--git-dir", f.serverPath(), "fsck", "--full", "--strict"); err != nil {
		f.t.Fatalf("git fsck: %v\n%s", err, out)
	}
}

// addCollaborator grants a new user a permission and returns them.
func (f *prRepo) addCollaborator(perm string) testUser {
	f.t.Helper()
	u := shared.register(f.t, perm)
	f.c.must(http.StatusOK, "PUT", f.api+"/collaborators/"+u.Name, map[string]any{"permission": perm})
	return u
}

// num formats a JSON number or an int as a path segment.
func num(n any) string {
	switch v := n.(type) {
	case float64:
		return strconv.FormatInt(int64(v), 10)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	}
	panic("num: unsupported type")
}

// errField returns the messages of one field of a 422.
func errField(t testing.TB, r *response, field string) []any {
	t.Helper()
	errs, _ := r.obj(t)["errors"].(map[string]any)
	msgs, _ := errs[field].([]any)
	return msgs
}
