package gitserver

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// protoArgs prefixes git arguments with the protocol version to use.
func protoArgs(proto int, args ...string) []string {
	return append([]string{"-c", fmt.Sprintf("protocol.version=%d", proto)}, args...)
}

// nativeCopy copies server repository name byte for byte to
// <name>-native.git, which nativeServer serves: the same packs and refs,
// so pack sizes compare too.
func (ts *testServer) nativeCopy(name string) {
	ts.t.Helper()
	dst := filepath.Join(ts.root, name+"-native.git")
	if err := os.RemoveAll(dst); err != nil {
		ts.t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(ts.root, name+".git"))); err != nil {
		ts.t.Fatal(err)
	}
}

// protoRepo pushes to server repository name a history with two
// branches, an annotated and a lightweight tag, and files both under and
// over 1 KiB. Returns the work directory.
func protoRepo(ts *testServer, name string) string {
	ts.t.Helper()
	ts.newRepo(name)
	work := ts.workdir(name)
	ts.history(work, "main", 24, 6, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "branch", "other", "main~10")
	ts.commitFile(work, "big/a.txt", strings.Repeat("a file over a kilobyte\n", 200), "big a")
	ts.git(work, "tag", "-a", "-m", "release", "v1")
	ts.git(work, "tag", "light", "main~3")
	ts.git(work, "checkout", "-q", "other")
	ts.commitFile(work, "big/b.txt", strings.Repeat("another big file\n", 300), "big b")
	ts.commitFile(work, "dir1/deep/er/small.txt", "small\n", "small")
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main", "other", "v1", "light")
	return work
}

// cloneState is what a clone holds, for comparing two clones.
type cloneState struct {
	refs, objects, missing, shallow []string
	packBytes                       int64
}

func (ts *testServer) cloneState(dir string) cloneState {
	ts.t.Helper()
	var st cloneState
	st.refs = sortedLines(ts.git(dir, "for-each-ref", "--format=%(objectname) %(refname)"))
	if head, _, err := ts.gitErr(dir, nil, "symbolic-ref", "HEAD"); err == nil {
		st.refs = append(st.refs, "HEAD -> "+strings.TrimSpace(head))
	}
	for _, l := range sortedLines(ts.git(dir, "rev-list", "--objects", "--all", "--missing=print")) {
		id, _, _ := strings.Cut(l, " ")
		if m, ok := strings.CutPrefix(id, "?"); ok {
			st.missing = append(st.missing, m)
		} else {
			st.objects = append(st.objects, id)
		}
	}
	sort.Strings(st.objects)
	for _, gitDir := range []string{dir, filepath.Join(dir, ".git")} { // bare or not
		if data, err := os.ReadFile(filepath.Join(gitDir, "shallow")); err == nil {
			st.shallow = sortedLines(string(data))
		}
	}
	return st
}

func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// compareClones fails the test where two clones differ in refs, objects
// present, objects missing (partial clones) or shallow boundary.
func compareClones(t *testing.T, label string, ours, theirs cloneState) {
	t.Helper()
	diff := func(what string, a, b []string) {
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("%s: %s differ:\n tapioca (%d): %.600q\n git     (%d): %.600q", label, what, len(a), a, len(b), b)
		}
	}
	diff("refs", ours.refs, theirs.refs)
	diff("objects", ours.objects, theirs.objects)
	diff("missing objects", ours.missing, theirs.missing)
	diff("shallow commits", ours.shallow, theirs.shallow)
}

// packSize runs git with GIT_TRACE_PACKFILE and returns the size of the
// pack it received (0 if none).
func (ts *testServer) packSize(dir string, args ...string) int64 {
	ts.t.Helper()
	trace := filepath.Join(ts.t.TempDir(), "pack")
	_, errOut, err := ts.gitErr(dir, []string{"GIT_TRACE_PACKFILE=" + trace}, args...)
	if err != nil {
		ts.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	if st, err := os.Stat(trace); err == nil {
		return st.Size()
	}
	return 0
}

// packSizeOK holds a pack to the size of git's for the same request. The
// one percent allows for Go's zlib, which ends each stream it compresses
// with an empty block (about five bytes) that C's zlib does not write: a
// visible share of the tiny packs these tests make, nothing on real ones.
func packSizeOK(ours, git int64) bool { return ours <= git+git/100 }

// TestProtocolsMatchHTTPBackend clones and fetches with protocol v0, v1
// and v2, full, shallow and partial, from this server and from git's own
// http-backend serving a byte copy of the same repository, and compares
// what the clients end up with: refs, objects present and missing,
// shallow boundaries. Packs must not be larger than git's.
func TestProtocolsMatchHTTPBackend(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	work := protoRepo(ts, "proto")
	ts.nativeCopy("proto")
	native := nativeServer(t, ts) + "/proto-native.git"

	type step struct {
		args  []string // run in the clone
		check func(t *testing.T, dir string)
	}
	missingSome := func(t *testing.T, dir string) {
		if st := ts.cloneState(dir); len(st.missing) == 0 {
			t.Errorf("partial clone %s misses no object", dir)
		}
	}
	checkoutOther := func(t *testing.T, dir string) {
		// The blobs (and trees) of the other branch come on demand.
		ts.git(dir, "checkout", "-q", "other")
		if data, err := os.ReadFile(filepath.Join(dir, "big", "b.txt")); err != nil || !strings.HasPrefix(string(data), "another big file") {
			t.Errorf("checkout of other in %s: %q %v", dir, data, err)
		}
		ts.git(dir, "fsck", "--connectivity-only")
	}
	cases := []struct {
		name   string
		protos []int
		clone  []string
		steps  []step
	}{
		{name: "full", protos: []int{0, 1, 2}, clone: []string{"clone", "-q"}},
		{name: "depth", protos: []int{0, 2}, clone: []string{"clone", "-q", "--bare", "--depth", "1", "--no-single-branch"},
			steps: []step{{args: []string{"fetch", "-q", "--deepen", "2"}}, {args: []string{"fetch", "-q", "--unshallow"}}}},
		{name: "shallow-since", protos: []int{2}, clone: []string{"clone", "-q", "--bare", "--shallow-since", "@1700000900"}},
		{name: "shallow-exclude", protos: []int{0}, clone: []string{"clone", "-q", "--bare", "--shallow-exclude", "light", "--branch", "main"}},
		{name: "blob:none", protos: []int{0, 2}, clone: []string{"clone", "-q", "--filter=blob:none"},
			steps: []step{{check: missingSome}, {check: checkoutOther}}},
		{name: "tree:0", protos: []int{2}, clone: []string{"clone", "-q", "--filter=tree:0"},
			steps: []step{{check: missingSome}, {check: checkoutOther}}},
		{name: "blob:limit", protos: []int{0}, clone: []string{"clone", "-q", "--no-checkout", "--filter=blob:limit=1k"},
			steps: []step{{check: missingSome}, {check: checkoutOther}}},
		{name: "filter+depth", protos: []int{2}, clone: []string{"clone", "-q", "--filter=blob:none", "--depth", "2", "--no-single-branch"},
			steps: []step{{check: missingSome}, {args: []string{"fetch", "-q", "--deepen", "3"}}, {check: checkoutOther}}},
		{name: "combine", protos: []int{2}, clone: []string{"clone", "-q", "--bare", "--filter=blob:limit=1k", "--filter=tree:2"},
			steps: []step{{check: missingSome}}},
	}
	t.Run("clone", func(t *testing.T) {
		for _, tc := range cases {
			for _, proto := range tc.protos {
				label := fmt.Sprintf("%s v%d", tc.name, proto)
				// Sequential: the harness fails the parent test on a git error.
				t.Run(label, func(t *testing.T) {
					dirs := map[string]string{}
					var sizes [2]int64
					for i, url := range []string{ts.remote("proto"), native} {
						dir := filepath.Join(t.TempDir(), "c")
						sizes[i] = ts.packSize("", protoArgs(proto, append(tc.clone, url, dir)...)...)
						dirs[url] = dir
					}
					compareClones(t, "clone", ts.cloneState(dirs[ts.remote("proto")]), ts.cloneState(dirs[native]))
					if !packSizeOK(sizes[0], sizes[1]) {
						t.Errorf("clone pack of %d bytes, git's is %d", sizes[0], sizes[1])
					}
					for i, s := range tc.steps {
						for _, dir := range dirs {
							if s.args != nil {
								ts.git(dir, protoArgs(proto, s.args...)...)
							}
							if s.check != nil {
								s.check(t, dir)
							}
						}
						compareClones(t, fmt.Sprintf("step %d", i+1), ts.cloneState(dirs[ts.remote("proto")]), ts.cloneState(dirs[native]))
					}
				})
			}
		}
	})

	// Incremental fetches into full, shallow and partial clones after a
	// push (to both servers) of new commits and a new annotated tag, which
	// include-tag brings along.
	for _, proto := range []int{0, 2} {
		var clones []map[string]string
		kinds := [][]string{{"--bare"}, {"--bare", "--filter=blob:none"}}
		if proto == 2 {
			kinds = append(kinds, []string{"--bare", "--depth", "1"})
		}
		for _, args := range kinds {
			m := map[string]string{}
			for _, url := range []string{ts.remote("proto"), native} {
				dir := filepath.Join(t.TempDir(), "c")
				ts.git("", protoArgs(proto, append(append([]string{"clone", "-q"}, args...), url, dir)...)...)
				m[url] = dir
			}
			clones = append(clones, m)
		}
		ts.commitFile(work, "dir2/file2.txt", fmt.Sprintf("changed for v%d\n", proto), "change")
		ts.commitFile(work, "big/a.txt", strings.Repeat(fmt.Sprintf("big file changed for v%d\n", proto), 100), "change big")
		ts.git(work, "tag", "-a", "-m", "next", fmt.Sprintf("v2.%d", proto))
		ts.git(work, "push", "-q", "origin", "main", "--tags")
		ts.git(work, "push", "-q", native, "main", "--tags")
		for i, m := range clones {
			var sizes []int64
			for _, url := range []string{ts.remote("proto"), native} {
				sizes = append(sizes, ts.packSize(m[url], protoArgs(proto, "fetch", "-q", "origin")...))
			}
			label := fmt.Sprintf("fetch v%d into clone %d", proto, i)
			compareClones(t, label, ts.cloneState(m[ts.remote("proto")]), ts.cloneState(m[native]))
			if !packSizeOK(sizes[0], sizes[1]) {
				t.Errorf("%s: pack of %d bytes, git's is %d", label, sizes[0], sizes[1])
			}
		}
	}
	ts.fsck(filepath.Join(ts.root, "proto.git"))
}
