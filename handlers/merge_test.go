package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// divergedPR makes a pull request whose base moved on after the head
// branched, with two commits on the head, and returns it.
func divergedPR(t *testing.T, f *prRepo, body string) map[string]any {
	t.Helper()
	f.branch("feature/x",
		map[string]string{"feature.txt": "feature one\n"},
		map[string]string{"feature.txt": "feature one\nfeature two\n", "lib/more.txt": "more\n"},
	)
	f.commit("master moves on", map[string]string{"master.txt": "master\n"})
	f.git("push", "-q", "origin", "master")
	return f.openPull("feature/x", "master", "Add feature X", body)
}

// freshClone clones the server's repository anew and returns its path.
func freshClone(t *testing.T, f *prRepo) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	runGit(t, filepath.Dir(dir), "clone", "-q", shared.gitURL(f.owner.Token, f.owner.Name, f.name), dir)
	return dir
}

func TestMergeMethods(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"merge", "squash", "rebase"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			f := newPRRepo(t, false)
			pr := divergedPR(t, f, "")
			oldBase, head := f.tip("master"), f.tip("feature/x")
			res := f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": method}).obj(t)
			if res["merged"] != true || res["message"] != "Pull request successfully merged." || len(res["sha"].(string)) != 40 {
				t.Fatalf("merge answer %v", res)
			}
			tip := f.tip("master")
			if res["sha"] != tip || tip == oldBase {
				t.Fatalf("master at %s, answer says %v (was %s)", tip, res["sha"], oldBase)
			}
			f.fsck()

			dir := freshClone(t, f)
			g := func(args ...string) string { return strings.TrimSpace(runGit(t, dir, args...)) }
			for _, file := range []string{"feature.txt", "lib/more.txt", "master.txt", "README.md"} {
				if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
					t.Errorf("%s missing after %s: %v", file, method, err)
				}
			}
			me := f.owner.Name + " <" + f.owner.Email + ">"
			switch method {
			case "merge":
				if parents := g("log", "-1", "--format=%P"); parents != oldBase+" "+head {
					t.Errorf("merge commit parents %q, want base and head", parents)
				}
				if subject := g("log", "-1", "--format=%s"); subject != "Merge pull request #1 from "+f.owner.Name+"/feature/x" {
					t.Errorf("merge subject %q", subject)
				}
				if b := g("log", "-1", "--format=%b"); b != "Add feature X" {
					t.Errorf("merge body %q", b)
				}
				if a := g("log", "-1", "--format=%an <%ae>"); a != me {
					t.Errorf("merge author %q, want %q", a, me)
				}
			case "squash":
				if parents := g("log", "-1", "--format=%P"); parents != oldBase {
					t.Errorf("squash parents %q, want %s", parents, oldBase)
				}
				if subject := g("log", "-1", "--format=%s"); subject != "Add feature X (#1)" {
					t.Errorf("squash subject %q", subject)
				}
				if a := g("log", "-1", "--format=%an <%ae>|%cn <%ce>"); a != me+"|"+me {
					t.Errorf("squash author|committer %q", a)
				}
				if g("diff", "--stat", oldBase, head, "--", "feature.txt") == "" || g("diff", head, "HEAD", "--", "feature.txt", "lib") != "" {
					t.Error("squash commit does not carry the head's changes")
				}
			case "rebase":
				if merges := g("rev-list", "--merges", oldBase+"..HEAD"); merges != "" {
					t.Errorf("rebase made merge commits: %s", merges)
				}
				if n := g("rev-list", "--count", oldBase+"..HEAD"); n != "2" {
					t.Errorf("rebase replayed %s commits, want 2", n)
				}
				if authors := g("log", "--format=%an <%ae>", oldBase+"..HEAD"); authors != "Test <test@example.com>\nTest <test@example.com>" {
					t.Errorf("rebase authors %q", authors)
				}
				if committers := g("log", "--format=%cn", oldBase+"..HEAD"); !strings.Contains(committers, f.owner.Name) {
					t.Errorf("rebase committers %q", committers)
				}
				if subjects := g("log", "--format=%s", oldBase+"..HEAD"); subjects != "feature/x commit 2\nfeature/x commit 1" {
					t.Errorf("rebase subjects %q", subjects)
				}
			}

			got := f.pull(1)
			if got["state"] != "merged" || got["merged"] != true || got["merged_at"] == nil || got["closed_at"] == nil ||
				got["merge_commit_sha"] != tip || got["mergeable"] != false ||
				got["merged_by"].(map[string]any)["username"] != f.owner.Name {
				t.Errorf("merged pull request %v", got)
			}
			if got["commits_count"] != pr["commits_count"] || got["additions"] != pr["additions"] {
				t.Errorf("merged counts changed: %v/%v -> %v/%v", pr["commits_count"], pr["additions"], got["commits_count"], got["additions"])
			}
			r := f.c.must(http.StatusConflict, "PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": method})
			if r.obj(t)["error"] != "Pull request is already merged" {
				t.Errorf("second merge: %s", r.Body)
			}
			if f.tip("master") != tip {
				t.Error("second merge moved master")
			}
		})
	}
}

func TestMergeConflict(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.commit("shared", map[string]string{"shared.txt": "a\nb\nc\n"})
	f.git("push", "-q", "origin", "master")
	f.branch("topic", map[string]string{"shared.txt": "a\nB from topic\nc\n"})
	f.commit("master edits the same line", map[string]string{"shared.txt": "a\nB from master\nc\n"})
	f.git("push", "-q", "origin", "master")
	pr := f.openPull("topic", "master", "Conflicting", "")
	if pr["mergeable"] != false {
		t.Fatalf("mergeable %v for a conflicting pull request", pr["mergeable"])
	}
	base := f.tip("master")
	for _, method := range []string{"merge", "squash", "rebase"} {
		r := f.c.must(http.StatusConflict, "PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": method})
		if r.obj(t)["error"] != "Pull request is not mergeable. Resolve conflicts first." {
			t.Errorf("%s: %s", method, r.Body)
		}
	}
	if f.tip("master") != base {
		t.Fatal("a refused merge moved master")
	}
	if got := f.pull(1); got["state"] != "open" || got["merged"] != false {
		t.Errorf("after refused merge: %v", got)
	}
	f.fsck()
}

func TestMergeRules(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, true)
	reader := f.addCollaborator("read")
	writer := f.addCollaborator("write")
	outsider := shared.register(t, "outsider")
	for i := 1; i <= 3; i++ {
		f.c.must(http.StatusCreated, "POST", f.api+"/issues", map[string]any{"title": "issue"})
	}
	f.branch("fix", map[string]string{"fix.txt": "fixed\n"})
	f.branch("other", map[string]string{"other.txt": "o\n"})
	f.branch("draft", map[string]string{"draft.txt": "d\n"})
	pr := f.openPull("fix", "master", "Fix things", "Fixes #1, closes: #2 and Resolved #99.\nAlso mentions #3.\nCloses #4")
	f.openPull("other", "master", "Other", "")
	f.c.must(http.StatusCreated, "POST", f.api+"/pulls", map[string]any{"title": "Draft", "head": "draft", "base": "master", "draft": true})

	// Who may merge.
	shared.as(t, outsider.Token).must(http.StatusNotFound, "PUT", f.api+"/pulls/4/merge", nil)
	shared.as(t, "").must(http.StatusNotFound, "PUT", f.api+"/pulls/4/merge", nil)
	r := shared.as(t, reader.Token).must(http.StatusForbidden, "PUT", f.api+"/pulls/4/merge", nil)
	if r.obj(t)["error"] == nil {
		t.Errorf("reader merge: %s", r.Body)
	}
	// Bad input.
	r = f.c.must(http.StatusUnprocessableEntity, "PUT", f.api+"/pulls/4/merge", map[string]any{"merge_method": "octopus"})
	if len(errField(t, r, "merge_method")) == 0 {
		t.Errorf("bad method: %s", r.Body)
	}
	f.c.must(http.StatusBadRequest, "PUT", f.api+"/pulls/4/merge", "{not json")
	f.c.must(http.StatusNotFound, "PUT", f.api+"/pulls/1/merge", nil) // an issue, not a pull request
	r = f.c.must(http.StatusConflict, "PUT", f.api+"/pulls/4/merge", map[string]any{"sha": strings.Repeat("0", 40)})
	if r.obj(t)["error"] != "Head branch was modified. Review and try the merge again." {
		t.Errorf("stale sha: %s", r.Body)
	}
	r = f.c.must(http.StatusConflict, "PUT", f.api+"/pulls/6/merge", nil)
	if !strings.Contains(r.obj(t)["error"].(string), "draft") {
		t.Errorf("draft merge: %s", r.Body)
	}
	f.c.must(http.StatusOK, "PATCH", f.api+"/pulls/5", map[string]any{"state": "closed"})
	r = f.c.must(http.StatusConflict, "PUT", f.api+"/pulls/5/merge", nil)
	if r.obj(t)["error"] != "Pull request is closed" {
		t.Errorf("closed merge: %s", r.Body)
	}
	if f.tip("master") == f.tip("fix") {
		t.Fatal("refused merges moved master")
	}

	// A writer merges with a custom message and the given head sha.
	res := shared.as(t, writer.Token).must(http.StatusOK, "PUT", f.api+"/pulls/4/merge", map[string]any{
		"merge_method": "squash", "commit_title": "Custom title", "commit_message": "Custom body", "sha": pr["head"].(map[string]any)["sha"],
	}).obj(t)
	msg := f.git("--git-dir", f.serverPath(), "log", "-1", "--format=%B", res["sha"].(string))
	if strings.TrimSpace(msg) != "Custom title\n\nCustom body" {
		t.Errorf("custom message %q", msg)
	}
	if got := f.pull(4); got["merged_by"].(map[string]any)["username"] != writer.Name {
		t.Errorf("merged_by %v", got["merged_by"])
	}
	// Closing keywords closed #1 and #2 (not #3, merely mentioned; #4 is the pull request itself).
	for n, want := range map[string]string{"1": "closed", "2": "closed", "3": "open"} {
		if st := f.c.must(http.StatusOK, "GET", f.api+"/issues/"+n, nil).obj(t)["state"]; st != want {
			t.Errorf("issue #%s is %v, want %s", n, st, want)
		}
	}
	f.fsck()
}

// Two merge requests at once: exactly one wins, master gets one commit.
func TestMergeConcurrent(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("topic", map[string]string{"t.txt": "t\n"})
	f.openPull("topic", "master", "Topic", "")
	base := f.tip("master")
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Go(func() {
			method := []string{"merge", "squash"}[i%2]
			statuses[i] = f.c.do("PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": method}).Status
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d merges succeeded: %v", ok, statuses)
	}
	if n := strings.TrimSpace(f.git("--git-dir", f.serverPath(), "rev-list", "--count", base+"..master")); n != "1" && n != "2" {
		t.Fatalf("master gained %s commits", n)
	}
	if n := strings.TrimSpace(f.git("--git-dir", f.serverPath(), "rev-list", "--count", "--first-parent", base+"..master")); n != "1" {
		t.Fatalf("master gained %s first-parent commits, want one merge or squash", n)
	}
	f.fsck()
}

// A push to the base between the merge computation and the ref update is
// never lost: the compare-and-swap fails and the merge is redone on top.
// Here the push lands first; the merge must build on it.
func TestMergeOnMovedBase(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.branch("topic", map[string]string{"t.txt": "t\n"})
	f.openPull("topic", "master", "Topic", "")
	f.commit("concurrent push", map[string]string{"pushed.txt": "p\n"})
	f.git("push", "-q", "origin", "master")
	pushed := f.tip("master")
	res := f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", nil).obj(t)
	dir := freshClone(t, f)
	if parents := strings.TrimSpace(runGit(t, dir, "log", "-1", "--format=%P")); parents != pushed+" "+f.tip("topic") || res["sha"] != f.tip("master") {
		t.Fatalf("merge parents %q, want the pushed tip first", parents)
	}
	if _, err := os.Stat(filepath.Join(dir, "pushed.txt")); err != nil {
		t.Fatal("the concurrent push was lost")
	}

	// Now the push lands after the merge was computed: hold the repository
	// lock so the merge waits at its compare-and-swap, move master behind
	// its back (a local push, which does not take the server's lock), then
	// let it go. The swap fails and the merge is redone on the new tip.
	f.branch("topic2", map[string]string{"t2.txt": "t2\n"})
	f.openPull("topic2", "master", "Topic 2", "")
	f.git("pull", "-q", "--no-rebase", "origin", "master")
	f.commit("lands during the merge", map[string]string{"during.txt": "d\n"})
	during := strings.TrimSpace(f.git("rev-parse", "HEAD"))
	unlock := shared.App.Git().Lock(f.serverPath())
	done := make(chan *response)
	go func() { done <- f.c.do("PUT", f.api+"/pulls/2/merge", nil) }()
	time.Sleep(300 * time.Millisecond) // the merge is computed by now and waits for the lock
	f.git("push", "-q", f.serverPath(), "HEAD:refs/heads/master")
	unlock()
	if r := <-done; r.Status != http.StatusOK {
		t.Fatalf("merge across a moved base: %d %s", r.Status, r.Body)
	}
	dir = freshClone(t, f)
	if parents := strings.TrimSpace(runGit(t, dir, "log", "-1", "--format=%P")); parents != during+" "+f.tip("topic2") {
		t.Fatalf("merge parents %q, want %s first", parents, during)
	}
	for _, name := range []string{"during.txt", "t2.txt", "pushed.txt", "t.txt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s lost", name)
		}
	}
	f.fsck()
}

// A pull request with nothing to merge (its head is already in the base)
// is marked merged without a new commit.
func TestMergeUpToDate(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	master := f.tip("master")
	f.c.must(http.StatusCreated, "POST", f.api+"/branches", map[string]any{"name": "same", "sha": master})
	f.openPull("same", "master", "Nothing", "")
	res := f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": "squash"}).obj(t)
	if res["sha"] != master || f.tip("master") != master {
		t.Fatalf("up-to-date merge answered %v, master %s", res, f.tip("master"))
	}
	if got := f.pull(1); got["state"] != "merged" {
		t.Fatalf("state %v", got["state"])
	}
}

// The squash message lists every commit the pull request brings (git
// rev-list base..head), not a first-parent walk: a head that merged the
// base in ("update branch") lists none of the base's commits, and commits
// from a side branch merged into the head are listed.
func TestSquashSummaryFollowsRevList(t *testing.T) {
	t.Parallel()
	f := newPRRepo(t, false)
	f.git("checkout", "-q", "-b", "feat", "master")
	f.commit("feat one", map[string]string{"f1.txt": "1\n"})
	f.git("checkout", "-q", "-b", "side", "feat")
	f.commit("side one", map[string]string{"s1.txt": "1\n"})
	f.commit("side two", map[string]string{"s2.txt": "2\n"})
	f.git("checkout", "-q", "master")
	for i := range 4 {
		f.commit("base "+strconv.Itoa(i), map[string]string{"b" + strconv.Itoa(i) + ".txt": "b\n"})
	}
	f.git("push", "-q", "origin", "master")
	f.git("checkout", "-q", "feat")
	f.git("merge", "-q", "--no-edit", "-m", "merge master into feat", "master")
	f.git("merge", "-q", "--no-edit", "-m", "merge side into feat", "side")
	f.commit("feat two", map[string]string{"f2.txt": "2\n"})
	f.git("push", "-q", "origin", "feat")

	want := map[string]bool{}
	for _, s := range strings.Split(strings.TrimSpace(f.git("log", "--format=%s", "origin/master..feat")), "\n") {
		want["* "+s] = true
	}
	f.openPull("feat", "master", "Feature", "")
	f.c.must(http.StatusOK, "PUT", f.api+"/pulls/1/merge", map[string]any{"merge_method": "squash"})
	f.git("fetch", "-q", "origin")
	msg := f.git("log", "-1", "--format=%b", "origin/master")
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		got[l] = true
	}
	if len(got) != len(want) || len(want) != 6 {
		t.Fatalf("squash body:\n%s\nwant the %d subjects of %v", msg, len(want), want)
	}
	for s := range want {
		if !got[s] {
			t.Errorf("squash body lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "base 0") || strings.Contains(msg, "Initial commit") {
		t.Errorf("squash body lists base commits:\n%s", msg)
	}
}
