package gitserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// mirrorRefsOf lists a repository's branches and tags as name -> hash.
func mirrorRefsOf(t *testing.T, repoPath string) map[string]string {
	t.Helper()
	refs, _, err := listRefs(repoPath, "refs/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range refs {
		out[r.name] = r.hash.String()
	}
	return out
}

// upstreamRefs is what the git client sees on the upstream.
func upstreamRefs(ts *testServer, url string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(ts.git("", "ls-remote", "--heads", "--tags", url)), "\n") {
		h, name, ok := strings.Cut(line, "\t")
		if ok && !strings.HasSuffix(name, "^{}") {
			out[name] = h
		}
	}
	return out
}

func sameRefs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: refs %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: ref %s is %s, want %s (all: %v)", what, k, got[k], v, got)
		}
	}
}

func updateNames(us []RefUpdate) []string {
	var out []string
	for _, u := range us {
		switch {
		case u.Old.IsZero():
			out = append(out, "+"+u.Name)
		case u.New.IsZero():
			out = append(out, "-"+u.Name)
		default:
			out = append(out, "~"+u.Name)
		}
	}
	sort.Strings(out)
	return out
}

// TestFetchMirror mirrors a repository from this package's server and
// from C git's http-backend (the same repository on disk), then follows
// a push: new commits, a new branch, a deleted branch, a tag and a
// force-push. Each sync after the first sends only new objects, found
// by negotiation.
func TestFetchMirror(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("up")
	work := ts.workdir("up")
	ts.history(work, "main", 40, 6, 1_700_000_000)
	ts.git(work, "branch", "old-tapioca", "main~5")
	ts.git(work, "branch", "old-http-backend", "main~4")
	ts.git(work, "tag", "-a", "v1", "-m", "release one", "main~3")
	ts.git(work, "push", "-q", "origin", "main", "old-tapioca", "old-http-backend", "v1")
	native := nativeServer(t, ts)

	for _, up := range []struct{ name, url string }{
		{"tapioca", ts.remote("up")},
		{"http-backend", native + "/up.git"},
	} {
		t.Run(up.name, func(t *testing.T) {
			ctx := context.Background()
			srv := New(Config{MaxFileSize: 1 << 20, MaxRepoSize: 64 << 20})
			mirror := filepath.Join(t.TempDir(), "m.git")
			res, err := srv.FetchMirror(ctx, mirror, Upstream{URL: up.url})
			if err != nil {
				t.Fatal(err)
			}
			sameRefs(t, "first sync", mirrorRefsOf(t, mirror), upstreamRefs(ts, up.url))
			if res.HEAD != "refs/heads/main" || res.Haves != 0 || res.Objects < 100 {
				t.Fatalf("first sync: %+v", res)
			}
			if head, _ := readHEAD(mirror); head != "refs/heads/main" {
				t.Fatalf("mirror HEAD %q", head)
			}
			ts.fsck(mirror)

			// Nothing moved: no pack at all.
			res, err = srv.FetchMirror(ctx, mirror, Upstream{URL: up.url})
			if err != nil || len(res.Updates) != 0 || res.Objects != 0 {
				t.Fatalf("idle sync: %+v %v", res, err)
			}

			ts.commitFile(work, "top-"+up.name+".txt", "one more line\n", "after the first sync")
			ts.git(work, "push", "-q", "origin", "main", "main:refs/heads/feature-"+up.name, ":old-"+up.name)
			ts.git(work, "tag", "v2-"+up.name, "main")
			ts.git(work, "push", "-q", "origin", "v2-"+up.name)
			res, err = srv.FetchMirror(ctx, mirror, Upstream{URL: up.url})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"+refs/heads/feature-" + up.name, "+refs/tags/v2-" + up.name, "-refs/heads/old-" + up.name, "~refs/heads/main"}
			if got := updateNames(res.Updates); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("updates %v, want %v", got, want)
			}
			// A commit, its tree and the new file (the thin pack's
			// delta base may come along): negotiation found the rest.
			if res.Haves == 0 || res.Objects == 0 || res.Objects > 4 {
				t.Fatalf("incremental sync: %+v", res)
			}
			sameRefs(t, "after a push", mirrorRefsOf(t, mirror), upstreamRefs(ts, up.url))
			ts.fsck(mirror)

			// A force-push back in history: the mirror follows.
			ts.git(work, "push", "-q", "-f", "origin", "main~2:refs/heads/feature-"+up.name)
			res, err = srv.FetchMirror(ctx, mirror, Upstream{URL: up.url})
			if err != nil || len(res.Updates) != 1 || res.Objects != 0 {
				t.Fatalf("sync after force-push: %+v %v", res, err)
			}
			sameRefs(t, "after a force-push", mirrorRefsOf(t, mirror), upstreamRefs(ts, up.url))
		})
	}
}

// TestFetchMirrorCredentials: an upstream that wants credentials is not
// readable without them, and reads with the token as the password.
func TestFetchMirrorCredentials(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("private")
	work := ts.workdir("private")
	ts.commitFile(work, "secret.txt", "hush\n", "private work")
	ts.git(work, "push", "-q", "origin", "main")
	native := nativeServer(t, ts)
	target, err := url.Parse(native)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer guarded.Close()
	upURL := guarded.URL + "/private.git"
	ctx := context.Background()
	srv := New(Config{})
	mirror := filepath.Join(t.TempDir(), "m.git")
	for _, pw := range []string{"", "wrong"} {
		if _, err := ListRemote(ctx, Upstream{URL: upURL, Password: pw}); !errors.Is(err, ErrUpstreamNotReadable) {
			t.Fatalf("password %q: %v", pw, err)
		}
		if _, err := srv.FetchMirror(ctx, mirror, Upstream{URL: upURL, Password: pw}); !errors.Is(err, ErrUpstreamNotReadable) {
			t.Fatalf("fetch with password %q: %v", pw, err)
		}
	}
	refs, err := ListRemote(ctx, Upstream{URL: upURL, Password: "s3cret"})
	if err != nil || refs.HEAD != "refs/heads/main" || len(refs.Refs) != 1 {
		t.Fatalf("ls-refs with the token: %+v %v", refs, err)
	}
	if _, err := srv.FetchMirror(ctx, mirror, Upstream{URL: upURL, Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	sameRefs(t, "private mirror", mirrorRefsOf(t, mirror), upstreamRefs(ts, native+"/private.git"))
	if _, err := ListRemote(ctx, Upstream{URL: native + "/nothing-here.git"}); !errors.Is(err, ErrUpstreamNotReadable) {
		t.Fatalf("missing repository: %v", err)
	}
}

// TestFetchMirrorLimits: the push limits hold for what an upstream
// sends, and a refused sync leaves the mirror as it was.
func TestFetchMirrorLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("big")
	work := ts.workdir("big")
	ts.commitFile(work, "small.txt", "small\n", "small")
	ts.git(work, "push", "-q", "origin", "main")
	ctx := context.Background()
	srv := New(Config{MaxFileSize: 4 << 10})
	mirror := filepath.Join(t.TempDir(), "m.git")
	if _, err := srv.FetchMirror(ctx, mirror, Upstream{URL: ts.remote("big")}); err != nil {
		t.Fatal(err)
	}
	before := mirrorRefsOf(t, mirror)
	rng := rand.New(rand.NewPCG(1, 2))
	var noise strings.Builder
	// Between the limit and twice it: whole entries up to twice the
	// limit are indexed, so the refusal can name the file.
	for noise.Len() < 6<<10 {
		fmt.Fprintf(&noise, "%016x", rng.Uint64())
	}
	ts.commitFile(work, "data/huge.bin", noise.String(), "a big file")
	ts.git(work, "push", "-q", "origin", "main")
	_, err := srv.FetchMirror(ctx, mirror, Upstream{URL: ts.remote("big")})
	if err == nil || !strings.Contains(err.Error(), "data/huge.bin") || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized file: %v", err)
	}
	sameRefs(t, "after a refused sync", mirrorRefsOf(t, mirror), before)

	tiny := New(Config{MaxRepoSize: 2 << 10})
	_, err = tiny.FetchMirror(ctx, filepath.Join(t.TempDir(), "t.git"), Upstream{URL: ts.remote("big")})
	if err == nil || !strings.Contains(err.Error(), "repository size limit") {
		t.Fatalf("repository size limit: %v", err)
	}
}

// TestDiffFiles compares the streamed file diff with git's own
// (--no-renames), in full and resumed from the middle.
func TestDiffFiles(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("diff")
	work := ts.workdir("diff")
	for _, f := range []string{"a-b", "a.txt", "a/x", "a/y/z", "b/c", "link-target", "zz"} {
		ts.commitFile(work, f, "content of "+f+"\n", "add "+f)
	}
	ts.git(work, "push", "-q", "origin", "main")
	first := ts.revParse(work, "HEAD")
	ts.git(work, "rm", "-q", "a/x", "zz")
	ts.git(work, "mv", "b/c", "b/moved")
	ts.commitFile(work, "a-b", "changed\n", "change, move, delete")
	ts.commitFile(work, "a/new", "new\n", "add a/new")
	ts.git(work, "update-index", "--chmod=+x", "a.txt")
	ts.git(work, "commit", "-q", "-m", "mode change")
	ts.git(work, "push", "-q", "origin", "main")
	second := ts.revParse(work, "HEAD")

	st, err := OpenObjectStore(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	collect := func(from, to string, after string) []string {
		var out []string
		var fromH plumbing.Hash
		if from != "" {
			fromH = plumbing.NewHash(from)
		}
		err := DiffFiles(context.Background(), st, fromH, plumbing.NewHash(to), after, func(c FileChange) error {
			out = append(out, map[FileChangeKind]string{FileAdded: "A", FileModified: "M", FileDeleted: "D"}[c.Kind]+" "+c.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	gitDiff := func(from, to string) []string {
		if from == "" {
			from = "4b825dc642cb6eb9a060e54bf8d69288fbee4904" // the empty tree
		}
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(ts.git(work, "diff", "--name-status", "--no-renames", from, to)), "\n") {
			status, p, _ := strings.Cut(l, "\t")
			out = append(out, status+" "+p)
		}
		sort.Strings(out) // git sorts by path; so do we: compare as sets in path order
		return out
	}
	for _, c := range []struct{ from, to string }{{"", first}, {first, second}, {second, first}} {
		got := collect(c.from, c.to, "")
		sorted := append([]string(nil), got...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i][2:] < sorted[j][2:] })
		if strings.Join(got, ",") != strings.Join(sorted, ",") {
			t.Errorf("%s..%s not in path order: %v", c.from, c.to, got)
		}
		want := gitDiff(c.from, c.to)
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s..%s: %v, git says %v", c.from, c.to, got, want)
		}
	}
	all := collect("", second, "")
	for i := range all {
		rest := collect("", second, all[i][2:])
		if strings.Join(rest, ",") != strings.Join(all[i+1:], ",") {
			t.Errorf("resumed after %s: %v, want %v", all[i][2:], rest, all[i+1:])
		}
	}
}

// TestFetchMirrorRedirect: a repository that moved (a redirect of the
// advertisement's request, as GitHub answers for a renamed repository)
// is followed on the same host, and the commands go where it led; a
// redirect to another host, or a loop, is refused with a reason.
func TestFetchMirrorRedirect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("up")
	work := ts.workdir("up")
	ts.commitFile(work, "a.txt", "a\n", "first")
	ts.git(work, "push", "-q", "origin", "main")
	native := nativeServer(t, ts)
	target, err := url.Parse(native)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/old.git/info/refs":
			http.Redirect(w, r, "/o/../up.git/info/refs?"+r.URL.RawQuery, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/old.git/"):
			http.Error(w, "only the advertisement is redirected", http.StatusNotFound)
		case r.URL.Path == "/away.git/info/refs":
			http.Redirect(w, r, "http://127.0.0.2:9/up.git/info/refs", http.StatusFound)
		case r.URL.Path == "/loop.git/info/refs":
			http.Redirect(w, r, "/loop.git/info/refs", http.StatusFound)
		case r.URL.Path == "/odd.git/info/refs":
			http.Redirect(w, r, "/somewhere/else", http.StatusFound)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	defer front.Close()
	// The process's client follows no redirects itself.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx := context.Background()

	srv := New(Config{})
	mirror := filepath.Join(t.TempDir(), "m.git")
	if _, err := srv.FetchMirror(ctx, mirror, Upstream{URL: front.URL + "/old.git", Client: client}); err != nil {
		t.Fatalf("a moved repository: %v", err)
	}
	sameRefs(t, "moved", mirrorRefsOf(t, mirror), upstreamRefs(ts, native+"/up.git"))
	ts.fsck(mirror)

	for _, c := range []struct{ path, want string }{
		{"/away.git", "redirects to another host (http://127.0.0.2:9/up.git/info/refs)"},
		{"/loop.git", "more than 5 redirects"},
		{"/odd.git", "which is not a repository's info/refs"},
	} {
		_, err := ListRemote(ctx, Upstream{URL: front.URL + c.path, Client: client})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.path, err, c.want)
		}
	}
}
