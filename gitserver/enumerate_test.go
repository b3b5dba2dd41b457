package gitserver

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFetchOldTopicsSendsOnlyNewObjects fetches merges of topic branches
// forked long ago from many different points of main. Each topic's later
// commits hold, in the directory they touch, the old versions of files
// that main has changed since; the client has those versions (in the
// fork points' trees), so the pack must hold exactly what `git rev-list
// --objects new --not old` lists, as git's own upload-pack sends.
func TestFetchOldTopicsSendsOnlyNewObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("topics")
	work := ts.workdir("topics")

	const files, forks = 12, 6
	var b bytes.Buffer
	mark, when := 0, int64(1_700_000_000)
	commit := func(branch string, from string, merge []string, edits map[string]string) string {
		mark++
		when += 60
		fmt.Fprintf(&b, "commit refs/heads/%s\nmark :%d\ncommitter T <t@example.com> %d +0000\ndata 2\nc\n", branch, mark, when)
		if from != "" {
			fmt.Fprintf(&b, "from %s\n", from)
		}
		for _, m := range merge {
			fmt.Fprintf(&b, "merge %s\n", m)
		}
		for _, p := range slices.Sorted(maps.Keys(edits)) {
			fmt.Fprintf(&b, "M 100644 inline %s\ndata %d\n%s\n", p, len(edits[p]), edits[p])
		}
		return fmt.Sprintf(":%d", mark)
	}
	version := func(v int) map[string]string {
		m := map[string]string{}
		for f := 0; f < files; f++ {
			m[fmt.Sprintf("dir/%c/f%02d.txt", 'a'+f%2, f)] = fmt.Sprintf("file %d, version %d\n%s", f, v, strings.Repeat("shared text of the file\n", 10+f))
		}
		return m
	}
	// main: forks+1 commits, each changing every file (in dir/a and
	// dir/b); a topic forks at each of the first forks, with a commit
	// adding a file to dir/a and then one adding a file to dir/b, where
	// the old versions are.
	var mains []string
	prev := ""
	for v := 0; v <= forks; v++ {
		prev = commit("main", prev, nil, version(v))
		mains = append(mains, prev)
	}
	var topics []string
	for i := 0; i < forks; i++ {
		br := fmt.Sprintf("topic%d", i)
		c := commit(br, mains[i], nil, map[string]string{fmt.Sprintf("dir/a/new%d.txt", i): fmt.Sprintf("topic %d, first\n", i)})
		c = commit(br, c, nil, map[string]string{fmt.Sprintf("dir/b/new%d.txt", i): fmt.Sprintf("topic %d, second\n", i)})
		topics = append(topics, c)
	}
	// The client has main here; then main merges every topic.
	fmt.Fprintf(&b, "reset refs/heads/old\nfrom %s\n\n", prev)
	merged := version(forks)
	for i := 0; i < forks; i++ {
		merged[fmt.Sprintf("dir/a/new%d.txt", i)] = fmt.Sprintf("topic %d, first\n", i)
		merged[fmt.Sprintf("dir/b/new%d.txt", i)] = fmt.Sprintf("topic %d, second\n", i)
	}
	commit("main", prev, topics, merged)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = work
	cmd.Env = ts.env()
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	ts.git(work, "push", "-q", "origin", "main")
	ts.fsck(repo)

	want := countLines(ts.git(work, "rev-list", "--objects", "main", "^old"))
	for _, proto := range []string{"0", "2"} {
		c := t.TempDir()
		ts.git(c, "init", "-q", "--bare")
		ts.git(c, "fetch", "-q", "file://"+work, "old:refs/heads/main")
		ts.git(c, "remote", "add", "origin", ts.remote("topics"))
		ts.git(c, "config", "protocol.version", proto)
		got := ts.fetchCount(c, "origin", "main")
		if got != want {
			t.Errorf("protocol v%s: the pack held %d objects, git rev-list --objects main ^old lists %d", proto, got, want)
		}
		ts.git(c, "fsck", "--no-progress")
	}
}

// TestFetchLargeEditAsThinDelta: a large file stored whole (pushed
// without deltas) and edited a little reaches a client that has the
// previous version as a small delta against it, not whole; small
// objects stored whole go as they are (thinWholeMin).
func TestFetchLargeEditAsThinDelta(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("large")
	work := ts.workdir("large")
	r := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	for b.Len() < 300<<10 {
		fmt.Fprintf(&b, "%016x %016x %016x\n", r.Uint64(), r.Uint64(), r.Uint64())
	}
	big := b.String()
	ts.commitFile(work, "big.txt", big, "v1")
	ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
	client := ts.clone("large")

	edited := big[:1000] + "an edit in the middle\n" + big[1000:]
	ts.commitFile(work, "big.txt", edited, "v2")
	// No deltas in this push: the server stores the new version whole.
	ts.git(work, "-c", "pack.window=0", "-c", "pack.depth=0", "push", "-q", "origin", "HEAD:refs/heads/main")
	ts.fsck(repo)

	trace := filepath.Join(t.TempDir(), "pack")
	if _, errOut, err := ts.gitErr(client, []string{"GIT_TRACE_PACKFILE=" + trace}, "fetch", "-q", "origin"); err != nil {
		t.Fatalf("fetch: %v\n%s", err, errOut)
	}
	st, err := os.Stat(trace)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 8<<10 {
		t.Fatalf("the fetch's pack is %d bytes for a 22-byte edit of a %d-byte file", st.Size(), len(edited))
	}
	ts.git(client, "merge", "-q", "--ff-only", "origin/main")
	if got, err := os.ReadFile(filepath.Join(client, "big.txt")); err != nil || string(got) != edited {
		t.Fatalf("big.txt after the fetch differs from what was pushed (%v)", err)
	}
	ts.git(client, "fsck", "--no-progress")
}
