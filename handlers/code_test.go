package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// historyRepo pushes a small history with the real git client:
//
//	c1 (2020) README.md, src/main.go
//	c2 (2021, by Other) src/util.go        tag v1
//	c3 (2022) README.md changed            tag v2 (annotated), master
//	t1, t2 on topic from c2: src/main.go changed, docs/x.md added
//
// and returns the work tree and the commits by name.
func historyRepo(t *testing.T, token, owner, repo string) (string, map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "w")
	runGit(t, filepath.Dir(dir), "init", "-q", "-b", "master", dir)
	commit := func(name, date, file, content string, args ...string) string {
		t.Helper()
		writeFile(t, filepath.Join(dir, file), content)
		runGit(t, dir, "add", file)
		cmd := gitCmd(dir, append([]string{"commit", "-q", "-m", name, "--date", date}, args...)...)
		cmd.Env = append(cmd.Env, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("commit %s: %v\n%s", name, err, out)
		}
		return strings.TrimSpace(runGit(t, dir, "rev-parse", "HEAD"))
	}
	c := map[string]string{}
	writeFile(t, filepath.Join(dir, "src/main.go"), "package main\n\nfunc main() {}\n")
	runGit(t, dir, "add", ".")
	c["c1"] = commit("c1", "2020-01-01T00:00:00Z", "README.md", "hello\n")
	c["c2"] = commit("c2", "2021-01-01T00:00:00Z", "src/util.go", "package main\n\n// Helper helps.\nfunc Helper() {}\n",
		"--author", "Other <other@example.com>")
	runGit(t, dir, "tag", "v1")
	c["c3"] = commit("c3", "2022-01-01T00:00:00Z", "README.md", "hello\nworld\n")
	runGit(t, dir, "tag", "-a", "v2", "-m", "Version 2")
	runGit(t, dir, "checkout", "-q", "-b", "topic", c["c2"])
	c["t1"] = commit("t1", "2022-02-01T00:00:00Z", "src/main.go", "package main\n\nfunc main() { Helper() }\n")
	c["t2"] = commit("t2", "2022-03-01T00:00:00Z", "docs/x.md", "# x\n")
	runGit(t, dir, "push", "-q", shared.gitURL(token, owner, repo), "master", "topic", "v1", "v2")
	return dir, c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadCodeAndHistory reads code and history the way an agent without
// a clone does, and checks every answer against what git says of the
// same repository: contents, raw bytes, trees, grep, the commit list and
// its filters, one commit with its files and stats, tags, compare, and
// diffs and patch series in the diff media types; then writes through
// the contents API and sees the pull request's state follow.
func TestReadCodeAndHistory(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "hist")
	c := shared.as(t, u.Token)
	c.createRepo(map[string]any{"name": "h"})
	dir, cm := historyRepo(t, u.Token, u.Name, "h")
	api := "/api/v1/repos/" + u.Name + "/h"
	asDiff := map[string]string{"Accept": "application/vnd.codeboba.diff"}
	asPatch := map[string]string{"Accept": "application/vnd.codeboba.patch"}
	signature := regexp.MustCompile(`(?m)^-- \n.*\n`)
	sameAsGit := func(what string, got *response, want string) {
		t.Helper()
		if got.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, got.Status, got.Body)
		}
		// A patch series is signed with the producer's version.
		if g, w := signature.ReplaceAllString(string(got.Body), "-- \nV\n"), signature.ReplaceAllString(want, "-- \nV\n"); g != w {
			t.Errorf("%s differs from git:\n%s\n--- git:\n%s", what, got.Body, want)
		}
	}

	// Contents: a directory lists its entries; a file at a tag.
	entries := c.must(http.StatusOK, "GET", api+"/contents/src", nil).list(t)
	if len(entries) != 2 || entries[0]["name"] != "main.go" || entries[1]["path"] != "src/util.go" || entries[0]["type"] != "file" {
		t.Errorf("src: %v", entries)
	}
	c.must(http.StatusNotFound, "GET", api+"/contents/src/util.go?ref=v0", nil)
	if raw := c.must(http.StatusOK, "GET", api+"/raw/topic/src/main.go", nil); string(raw.Body) != "package main\n\nfunc main() { Helper() }\n" {
		t.Errorf("raw: %q", raw.Body)
	}

	// Trees: the top level, or everything below.
	paths := func(q string) []string {
		tr := c.must(http.StatusOK, "GET", api+"/git/trees/master"+q, nil).obj(t)
		if tr["truncated"] != false {
			t.Errorf("tree%s truncated: %v", q, tr)
		}
		var out []string
		for _, e := range tr["tree"].([]any) {
			out = append(out, e.(map[string]any)["path"].(string))
		}
		return out
	}
	if got := paths(""); !slices.Equal(got, []string{"README.md", "src"}) {
		t.Errorf("tree: %v", got)
	}
	if got := paths("?recursive=1"); !slices.Equal(got, []string{"README.md", "src", "src/main.go", "src/util.go"}) {
		t.Errorf("recursive tree: %v", got)
	}

	// Grep: where a thing is defined, and a bounded answer.
	g := c.must(http.StatusOK, "GET", api+"/grep?q=func+Helper&path=src", nil).obj(t)
	if m := g["matches"].([]any); len(m) != 1 || m[0].(map[string]any)["path"] != "src/util.go" || m[0].(map[string]any)["line"] != 4.0 {
		t.Errorf("grep: %v", g)
	}
	g = c.must(http.StatusOK, "GET", api+"/grep?q=package&max_matches=1", nil).obj(t)
	if len(g["matches"].([]any)) != 1 || g["truncated"] != true || g["stopped_by"] == nil {
		t.Errorf("bounded grep: %v", g)
	}

	// The commit list and its filters, paginated.
	shas := func(q string) []string {
		var out []string
		for _, co := range c.must(http.StatusOK, "GET", api+"/commits"+q, nil).list(t) {
			out = append(out, co["sha"].(string))
		}
		return out
	}
	for q, want := range map[string][]string{
		"":                               {cm["c3"], cm["c2"], cm["c1"]},
		"?sha=topic":                     {cm["t2"], cm["t1"], cm["c2"], cm["c1"]},
		"?path=src/util.go":              {cm["c2"]},
		"?author=other":                  {cm["c2"]},
		"?since=2021-06-01T00:00:00Z":    {cm["c3"]},
		"?until=2020-06-01T00:00:00Z":    {cm["c1"]},
		"?sha=topic&path=src&per_page=1": {cm["t1"]},
		"?sha=topic&per_page=3&page=2":   {cm["c1"]},
		"?since=2021-06-01T00:00:00Z&until=2021-12-31T00:00:00Z": nil,
	} {
		if got := shas(q); !slices.Equal(got, want) {
			t.Errorf("commits%s: %v, want %v", q, got, want)
		}
	}
	if link := c.must(http.StatusOK, "GET", api+"/commits?per_page=2", nil).Header.Get("Link"); !strings.Contains(link, `rel="next"`) {
		t.Errorf("Link: %q", link)
	}

	// One commit, its diff and its patch.
	one := c.must(http.StatusOK, "GET", api+"/commits/"+cm["c3"], nil).obj(t)
	files := one["files"].([]any)
	if len(files) != 1 || files[0].(map[string]any)["filename"] != "README.md" || one["stats"].(map[string]any)["additions"] != 1.0 {
		t.Errorf("commit: %v", one)
	}
	sameAsGit("commit diff", c.doWith("GET", api+"/commits/"+cm["c3"], nil, asDiff), runGit(t, dir, "diff", cm["c2"], cm["c3"]))
	sameAsGit("commit patch", c.doWith("GET", api+"/commits/v2", nil, asPatch),
		runGit(t, dir, "format-patch", "--stdout", cm["c2"]+".."+cm["c3"]))

	tags := c.must(http.StatusOK, "GET", api+"/tags", nil).list(t)
	if len(tags) != 2 || tags[0]["name"] != "v1" || tags[0]["annotated"] != false || tags[1]["annotated"] != true ||
		tags[1]["commit"].(map[string]any)["sha"] != cm["c3"] {
		t.Errorf("tags: %v", tags)
	}

	// Compare: merge base, ahead and behind, commits, files with patches.
	cmp := c.must(http.StatusOK, "GET", api+"/compare/master...topic", nil).obj(t)
	if cmp["ahead_by"] != 2.0 || cmp["behind_by"] != 1.0 || cmp["status"] != "diverged" || cmp["total_commits"] != 2.0 ||
		cmp["merge_base_commit"].(map[string]any)["sha"] != cm["c2"] || len(cmp["commits"].([]any)) != 2 {
		t.Errorf("compare: %v", cmp)
	}
	if fs := cmp["files"].([]any); len(fs) != 2 || !strings.Contains(fs[1].(map[string]any)["patch"].(string), "+func main() { Helper() }") {
		t.Errorf("compare files: %v", fs)
	}
	sameAsGit("compare diff", c.doWith("GET", api+"/compare/master...topic", nil, asDiff), runGit(t, dir, "diff", "master...topic"))
	sameAsGit("compare patch", c.doWith("GET", api+"/compare/master...topic", nil, asPatch),
		runGit(t, dir, "format-patch", "--stdout", "master..topic"))

	// A pull request: its commits and patch; its state follows the base.
	pr := c.must(http.StatusCreated, "POST", api+"/pulls", map[string]any{"title": "Call the helper", "head": "topic", "base": "master"}).obj(t)
	n := ftoa(pr["number"].(float64))
	if pcs := c.must(http.StatusOK, "GET", api+"/pulls/"+n+"/commits", nil).list(t); len(pcs) != 2 || pcs[0]["sha"] != cm["t1"] {
		t.Errorf("pull request commits: %v", pcs)
	}
	sameAsGit("pull request patch", c.doWith("GET", api+"/pulls/"+n, nil, asPatch), runGit(t, dir, "format-patch", "--stdout", "master..topic"))
	if got := c.must(http.StatusOK, "GET", api+"/pulls/"+n, nil).obj(t)["mergeable_state"]; got != "behind" {
		t.Errorf("a pull request whose base moved on: %v", got)
	}
	if got := c.must(http.StatusOK, "GET", api+"/pulls?q=helper", nil).list(t); len(got) != 1 {
		t.Errorf("q=helper found %d pull requests", len(got))
	}
	if got := c.must(http.StatusOK, "GET", api+"/pulls?q=nomatch", nil).list(t); len(got) != 0 {
		t.Errorf("q=nomatch found %d pull requests", len(got))
	}

	// Writes through the contents API: a stale blob is a conflict; a
	// change to master that conflicts with topic makes the pull request
	// dirty; a delete takes the file away.
	blob := c.must(http.StatusOK, "GET", api+"/contents/src/main.go", nil).obj(t)["sha"].(string)
	put := map[string]any{"message": "Exit early", "content": b64("package main\n\nfunc main() { return }\n"), "sha": strings.Repeat("1", 40)}
	c.must(http.StatusConflict, "PUT", api+"/contents/src/main.go", put)
	put["sha"] = blob
	written := c.must(http.StatusOK, "PUT", api+"/contents/src/main.go", put).obj(t)
	if written["content"].(map[string]any)["path"] != "src/main.go" || written["commit"].(map[string]any)["parents"].([]any)[0].(map[string]any)["sha"] != cm["c3"] {
		t.Errorf("put: %v", written)
	}
	// The caller is author and committer, as git sees the commit.
	runGit(t, dir, "fetch", "-q", shared.gitURL(u.Token, u.Name, "h"), "master")
	if who := runGit(t, dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "FETCH_HEAD"); who != u.Name+" <"+u.Email+">|"+u.Name+" <"+u.Email+">\n" {
		t.Errorf("author and committer: %q", who)
	}
	if got := c.must(http.StatusOK, "GET", api+"/pulls/"+n, nil).obj(t)["mergeable_state"]; got != "dirty" {
		t.Errorf("a pull request that conflicts with its base: %v", got)
	}
	docs := c.must(http.StatusOK, "GET", api+"/contents/docs/x.md?ref=topic", nil).obj(t)["sha"].(string)
	c.must(http.StatusOK, "DELETE", api+"/contents/docs/x.md", map[string]any{"message": "No docs", "sha": docs, "branch": "topic"})
	c.must(http.StatusNotFound, "GET", api+"/contents/docs/x.md?ref=topic", nil)
}
