package gitserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestPushManyRefs pushes 1,000 new branches in one push while the API
// keeps moving another branch by compare-and-swap and a second client
// pushes a third: every ref lands, and no update of the others is lost
// (each compare-and-swap starts from the value the previous one wrote,
// so one lost write fails every later one).
func TestPushManyRefs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("many")
	work := ts.workdir("many")
	ts.history(work, "main", 20, 5, 1700000000)
	ts.git(work, "push", "-q", "origin", "main")
	other := ts.clone("many")
	commits := strings.Fields(ts.git(work, "rev-list", "main"))
	want := map[string]string{}
	var stdin strings.Builder
	for k := 0; k < 1000; k++ {
		name := fmt.Sprintf("refs/heads/many/b%04d", k)
		want[name] = commits[k%len(commits)]
		fmt.Fprintf(&stdin, "create %s %s\n", name, want[name])
	}
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = work, ts.env(), strings.NewReader(stdin.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-ref: %v\n%s", err, out)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var casErr error
	var casSteps int
	last := plumbing.NewHash(commits[0])
	wg.Add(2)
	go func() { // the API moving main back and forth
		defer wg.Done()
		for i := 1; ; i++ {
			next := plumbing.NewHash(commits[i%2])
			if err := ts.srv.UpdateRef(ctx, repo, "refs/heads/main", last, next); err != nil {
				casErr = fmt.Errorf("step %d: %w", i, err)
				return
			}
			last, casSteps = next, i
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var soloErr error
	go func() { // another client pushing one branch, again and again
		defer wg.Done()
		for i := 0; ; i++ {
			if _, errOut, err := ts.gitErr(other, nil, "push", "-q", "-f", "origin", commits[i%3]+":refs/heads/solo"); err != nil {
				soloErr = fmt.Errorf("%v: %s", err, errOut)
				return
			}
			want["refs/heads/solo"] = commits[i%3]
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	ts.git(work, "push", "-q", "origin", "refs/heads/many/*:refs/heads/many/*")
	close(stop)
	wg.Wait()
	if casErr != nil || soloErr != nil {
		t.Fatalf("concurrent updates: compare-and-swap %v; push %v", casErr, soloErr)
	}
	want["refs/heads/main"] = last.String()

	check := func(when string) {
		t.Helper()
		refs, _, err := listRefs(repo, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range refs {
			got[r.name] = r.hash.String()
		}
		for name, h := range want {
			if got[name] != h {
				t.Errorf("%s: %s is %q, expected %s", when, name, got[name], h)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d refs, expected %d", when, len(got), len(want))
		}
		if n := countLines(ts.git(work, "ls-remote", "--heads", "origin")); n != len(want) {
			t.Errorf("%s: ls-remote lists %d heads, expected %d", when, n, len(want))
		}
	}
	check(fmt.Sprintf("after the push (%d compare-and-swaps alongside)", casSteps))
	// One rewrite of packed-refs, no loose file per new ref.
	if files, _ := filepath.Glob(filepath.Join(repo, "refs", "heads", "many", "*")); len(files) != 0 {
		t.Errorf("%d loose files for the pushed refs", len(files))
	}
	ts.fsck(repo)

	// One push deleting half of them and moving the other half: made
	// locally, then mirrored with --prune.
	stdin.Reset()
	for k := 0; k < 1000; k++ {
		name := fmt.Sprintf("refs/heads/many/b%04d", k)
		if k%2 == 0 {
			fmt.Fprintf(&stdin, "delete %s\n", name)
			delete(want, name)
		} else {
			fmt.Fprintf(&stdin, "update %s %s\n", name, commits[0])
			want[name] = commits[0]
		}
	}
	cmd = exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = work, ts.env(), strings.NewReader(stdin.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-ref: %v\n%s", err, out)
	}
	ts.git(work, "push", "-q", "--prune", "origin", "+refs/heads/many/*:refs/heads/many/*")
	check("after deleting and moving")

	// An atomic push with one ref refused changes nothing.
	ts.setOptions(ReceiveOptions{Check: func(_ context.Context, u RefUpdate) error {
		if u.Name == "refs/heads/many/refused" {
			return errors.New("not this one")
		}
		return nil
	}})
	if _, _, err := ts.gitErr(work, nil, "push", "-q", "--atomic", "origin", "+"+commits[2]+":refs/heads/many/b0001",
		commits[2]+":refs/heads/many/new", commits[2]+":refs/heads/many/refused"); err == nil {
		t.Fatal("atomic push with a refused ref succeeded")
	}
	ts.setOptions(ReceiveOptions{})
	check("after a refused atomic push")

	if _, err := ts.srv.Maintain(ctx, repo); err != nil {
		t.Fatal(err)
	}
	check("after maintenance")
	if files := looseRefFiles(t, repo); len(files) != 0 {
		t.Errorf("loose refs after maintenance: %v", files)
	}
	ts.fsck(repo)
}

// TestRefReadersNeverMissARef lists refs over and over while a writer
// moves 100 refs from loose files into packed-refs, by packing and by a
// batch update: each listing has all of them, at one of their values.
// Reading packed-refs before the loose files would miss refs that move
// in between.
func TestRefReadersNeverMissARef(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("moving")
	work := ts.workdir("moving")
	ts.history(work, "main", 3, 3, 1700000000)
	ts.git(work, "push", "-q", "origin", "main")
	commits := strings.Fields(ts.git(work, "rev-list", "main"))
	values := map[string]bool{}
	for _, c := range commits {
		values[c] = true
	}
	const n = 100
	name := func(k int) string { return fmt.Sprintf("refs/heads/r/%03d", k) }
	for k := 0; k < n; k++ {
		if err := writeRef(repo, name(k), plumbing.NewHash(commits[0])); err != nil {
			t.Fatal(err)
		}
	}

	// Readers pause while the test itself moves refs out of packed-refs,
	// which the server never does (a ref leaves packed-refs only when it
	// is deleted).
	var pause sync.RWMutex
	stop := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				pause.RLock()
				refs, _, err := listRefs(repo, "refs/heads/r/")
				if err == nil && len(refs) != n {
					err = fmt.Errorf("listing %d saw %d refs", reads, len(refs))
				}
				for _, ref := range refs {
					if err == nil && !values[ref.hash.String()] {
						err = fmt.Errorf("%s at unknown value %s", ref.name, ref.hash)
					}
				}
				if _, rerr := ts.srv.ResolveRef(context.Background(), repo, name(7)); err == nil && rerr != nil {
					err = fmt.Errorf("resolve %s: %w", name(7), rerr)
				}
				pause.RUnlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	peel := (&odbPeeler{ctx: context.Background(), repoPath: repo}).peel
	// makeLoose turns every ref into a loose file only, at value v.
	makeLoose := func(v plumbing.Hash) {
		pause.Lock()
		defer pause.Unlock()
		for k := 0; k < n; k++ {
			p := refPath(repo, name(k))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".lock", []byte(v.String()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".lock", p); err != nil {
				t.Fatal(err)
			}
		}
		packed, err := readPackedRefs(repo)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < n; k++ {
			delete(packed.refs, name(k))
		}
		if err := writePackedRefs(repo, packed, packedPeelKnown(packed)); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 6; round++ {
		v := plumbing.NewHash(commits[round%len(commits)])
		unlock := ts.srv.Lock(repo)
		makeLoose(v)
		if _, err := packRefs(repo, peel); err != nil {
			t.Fatal(err)
		}
		makeLoose(v)
		var changes []refChange
		for k := 0; k < n; k++ {
			changes = append(changes, refChange{name(k), plumbing.NewHash(commits[(round+1)%len(commits)])})
		}
		if errs := commitRefs(repo, changes, peel); errs != nil {
			t.Fatal(errors.Join(errs...))
		}
		unlock()
	}
	close(stop)
	wg.Wait()
	for r := 0; r < 2; r++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestRefNamesConflict(t *testing.T) {
	t.Parallel()
	existing := []ref{{name: "refs/heads/a/b"}, {name: "refs/heads/c"}, {name: "refs/heads/d-e"}, {name: "refs/tags/v1"}}
	cases := []struct {
		name, want string
	}{
		{"refs/heads/a", "refs/heads/a/b"},         // a directory of refs
		{"refs/heads/a/b/c", "refs/heads/a/b"},     // below a ref
		{"refs/heads/c/x", "refs/heads/c"},         // below a ref
		{"refs/heads/a/c", ""},                     // a sibling
		{"refs/heads/d", ""},                       // a prefix, not a directory
		{"refs/heads/d-e/f", "refs/heads/d-e"},     //
		{"refs/heads/c", ""},                       // the ref itself: an update
		{"refs/tags/v1.0", ""},                     //
		{"refs/heads/added/x", "refs/heads/added"}, // against an added ref
	}
	names := newRefNames(existing, nil)
	names.add("refs/heads/added")
	for _, c := range cases {
		if got := names.conflict(c.name); got != c.want {
			t.Errorf("conflict(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	skipping := newRefNames(existing, func(n string) bool { return n == "refs/heads/a/b" })
	if got := skipping.conflict("refs/heads/a"); got != "" {
		t.Errorf("a ref being deleted still conflicts: %q", got)
	}
}

// TestPackedRefsFile writes packed-refs as batches and packing do and
// checks what git reads from it, peeled values and promises included.
func TestPackedRefsFile(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("packed")
	work := ts.workdir("packed")
	ts.history(work, "main", 2, 2, 1700000000)
	ts.git(work, "tag", "-a", "-m", "t", "v1", "main")
	ts.git(work, "push", "-q", "origin", "main", "v1")
	commit, tag := plumbing.NewHash(ts.revParse(work, "main")), plumbing.NewHash(ts.revParse(work, "v1"))
	cases := []struct {
		name   string
		known  map[string]bool // peeling known, per ref
		header string
	}{
		{"all known", map[string]bool{"refs/heads/main": true, "refs/tags/v1": true, "refs/notes/x": true},
			"# pack-refs with: peeled fully-peeled sorted \n"},
		{"tags known", map[string]bool{"refs/tags/v1": true},
			"# pack-refs with: peeled sorted \n"},
		{"tag unknown", map[string]bool{"refs/heads/main": true},
			"# pack-refs with: sorted \n"},
	}
	for _, c := range cases {
		p := &packedRefs{
			refs:   map[string]plumbing.Hash{"refs/tags/v1": tag, "refs/heads/main": commit, "refs/notes/x": commit},
			peeled: map[string]plumbing.Hash{},
		}
		if c.known["refs/tags/v1"] {
			p.peeled["refs/tags/v1"] = commit
		}
		if err := writePackedRefs(repo, p, c.known); err != nil {
			t.Fatal(err)
		}
		data := string(mustRead(t, filepath.Join(repo, "packed-refs")))
		if !strings.HasPrefix(data, c.header) {
			t.Errorf("%s: file starts %q", c.name, data)
		}
		back, err := readPackedRefs(repo)
		if err != nil {
			t.Fatal(err)
		}
		if len(back.refs) != 3 || back.refs["refs/tags/v1"] != tag || back.fullyPeeled != c.known["refs/notes/x"] {
			t.Errorf("%s: read back %+v", c.name, back)
		}
		if target, isTag, known := back.peeledValue("refs/tags/v1", tag); known != c.known["refs/tags/v1"] || known && (!isTag || target != commit) {
			t.Errorf("%s: v1 peels to %s (tag %v, known %v)", c.name, target, isTag, known)
		}
		if _, isTag, known := back.peeledValue("refs/notes/x", commit); known != c.known["refs/notes/x"] || isTag {
			t.Errorf("%s: notes ref: tag %v, known %v", c.name, isTag, known)
		}
		if _, _, known := back.peeledValue("refs/tags/v1", commit); known {
			t.Errorf("%s: a value other than the packed one is known", c.name)
		}
		// Loose files shadow packed values; remove them to read these.
		os.RemoveAll(filepath.Join(repo, "refs", "heads"))
		os.RemoveAll(filepath.Join(repo, "refs", "tags"))
		want := fmt.Sprintf("%s refs/heads/main\n%s refs/notes/x\n%s refs/tags/v1\n%s refs/tags/v1^{}\n", commit, commit, tag, commit)
		if got := ts.git(repo, "show-ref", "-d"); got != want {
			t.Errorf("%s: git show-ref -d:\n%s\nwant\n%s", c.name, got, want)
		}
	}
}

// TestCommitRefsLooseOrPacked: a batch goes into packed-refs unless
// packed-refs is so large that loose files cost less; either way every
// change lands, deletions included.
func TestCommitRefsLooseOrPacked(t *testing.T) {
	t.Parallel()
	a, b := plumbing.NewHash(strings.Repeat("a", 40)), plumbing.NewHash(strings.Repeat("b", 40))
	cases := []struct {
		name      string
		packed    int // refs already in packed-refs
		changes   int
		wantLoose bool
	}{
		{"one change", 0, 1, true},
		{"two changes, small packed-refs", 100, 2, false},
		{"two changes, 3,000 packed refs", 3000, 2, true},
		{"ten changes, 3,000 packed refs", 3000, 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			p := &packedRefs{refs: map[string]plumbing.Hash{}, peeled: map[string]plumbing.Hash{}}
			for k := 0; k < c.packed; k++ {
				p.refs[fmt.Sprintf("refs/tags/t%05d", k)] = a
			}
			p.refs["refs/heads/gone"] = a
			if err := writePackedRefs(repo, p, nil); err != nil {
				t.Fatal(err)
			}
			changes := []refChange{{"refs/heads/gone", plumbing.ZeroHash}}
			for k := 1; k < c.changes; k++ {
				changes = append(changes, refChange{fmt.Sprintf("refs/heads/new/%d", k), b})
			}
			if errs := commitRefs(repo, changes, nil); errs != nil {
				t.Fatal(errors.Join(errs...))
			}
			refs, _, err := listRefs(repo, "refs/heads/")
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != c.changes-1 {
				t.Errorf("%d branches after the batch: %v", len(refs), refs)
			}
			for _, r := range refs {
				if r.hash != b {
					t.Errorf("%s at %s", r.name, r.hash)
				}
			}
			loose, _ := filepath.Glob(filepath.Join(repo, "refs", "heads", "new", "*"))
			if (len(loose) > 0) != c.wantLoose && c.changes > 1 {
				t.Errorf("%d loose files, loose expected: %v", len(loose), c.wantLoose)
			}
		})
	}
}
