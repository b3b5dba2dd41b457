package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/memory"
)

func TestConcurrentPushesToOneBranch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("race")
	seed := ts.workdir("race")
	ts.commitFile(seed, "base.txt", "base\n", "base")
	ts.git(seed, "push", "-q", "origin", "main")

	var mu sync.Mutex
	var updated []RefUpdate
	ts.setOptions(ReceiveOptions{Updated: func(ctx context.Context, u []RefUpdate) {
		mu.Lock()
		updated = append(updated, u...)
		mu.Unlock()
	}})

	const rounds, pushers = 2, 10
	pushed := map[string]bool{}
	for round := 0; round < rounds; round++ {
		clones := make([]string, pushers)
		tips := make([]string, pushers)
		for i := range clones {
			clones[i] = ts.clone("race")
			tips[i] = ts.commitFile(clones[i], fmt.Sprintf("f%d-%d.txt", round, i), strings.Repeat("x", 100*i), fmt.Sprintf("push %d/%d", round, i))
			pushed[tips[i]] = true
		}
		// Round 0: every pusher gets the same advertisement, so they race
		// on the server's compare-and-swap. Round 1: natural staggering.
		if round == 0 {
			ts.mu.Lock()
			ts.barrier = newBarrier(pushers)
			ts.mu.Unlock()
		}
		var wg sync.WaitGroup
		results := make([]error, pushers)
		stderrs := make([]string, pushers)
		for i := range clones {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, stderrs[i], results[i] = ts.gitErr(clones[i], nil, "push", "origin", "main")
			}(i)
		}
		wg.Wait()
		ts.mu.Lock()
		ts.barrier = nil
		ts.mu.Unlock()
		wins := 0
		for i, err := range results {
			if err == nil {
				wins++
				continue
			}
			// Losing is fine; losing messily is not.
			if !strings.Contains(stderrs[i], "rejected") && !strings.Contains(stderrs[i], "fetch first") {
				t.Errorf("round %d push %d failed uncleanly: %v\n%s", round, i, err, stderrs[i])
			}
		}
		t.Logf("round %d: %d of %d pushes won", round, wins, pushers)
		if wins == 0 || round == 0 && wins != 1 {
			t.Errorf("round %d: %d pushes succeeded", round, wins)
		}
		final := ts.readServerRef(repo, "refs/heads/main").String()
		if !pushed[final] {
			t.Fatalf("round %d: main = %s, not one of the pushed tips", round, final)
		}
		ts.fsck(repo)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(updated) == 0 {
		t.Error("Updated was never called")
	}
	for _, u := range updated {
		if u.Name != "refs/heads/main" || !u.FastForward || !pushed[u.New.String()] {
			t.Errorf("unexpected update %+v", u)
		}
	}
}

func TestPushOverFileSizeLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{MaxFileSize: 1 << 20})
	repo := ts.newRepo("limit")
	work := ts.workdir("limit")
	ok := ts.commitFile(work, "small.txt", "small\n", "small")
	ts.git(work, "push", "-q", "origin", "main")

	big := make([]byte, 3<<19) // 1.5 MB
	fillRandom(big, 7)
	if err := os.MkdirAll(filepath.Join(work, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "assets", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.git(work, "add", "assets/big.bin")
	ts.git(work, "commit", "-q", "-m", "big")
	_, stderr, err := ts.gitErr(work, nil, "push", "origin", "main")
	if err == nil {
		t.Fatal("push over the file size limit succeeded")
	}
	if !strings.Contains(stderr, "remote: error: file assets/big.bin is 1.5 MB; the limit is 1.0 MB") {
		t.Errorf("stderr lacks the limit message:\n%s", stderr)
	}
	if !strings.Contains(stderr, "file size limit exceeded") {
		t.Errorf("stderr lacks the ref status:\n%s", stderr)
	}

	// More than twice the limit is refused by the size its entry
	// declares, before it is read, so the path is not known.
	huge := make([]byte, 5<<19) // 2.5 MB
	fillRandom(huge, 8)
	if err := os.WriteFile(filepath.Join(work, "assets", "big.bin"), huge, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.git(work, "commit", "-q", "-a", "--amend", "-m", "huge")
	_, stderr, err = ts.gitErr(work, nil, "push", "origin", "main")
	if err == nil || !strings.Contains(stderr, "remote: error: a file in the pack is 2.5 MB, over the 1.0 MB file size limit") {
		t.Errorf("push of 2.5 MB: %v\n%s", err, stderr)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != ok {
		t.Fatalf("main moved to %s", got)
	}
	assertNoPackHolds(t, repo, ts.revParse(work, "HEAD"))
	ts.fsck(repo)
}

// assertNoPackHolds fails if a rejected object reached the repository.
func assertNoPackHolds(t *testing.T, repo, hash string) {
	t.Helper()
	db, err := openODB(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	if db.has(plumbing.NewHash(hash)) {
		t.Fatalf("object %s of a rejected push is in the repository", hash)
	}
	if ents, _ := os.ReadDir(filepath.Join(repo, "objects")); len(ents) > 0 {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "incoming-") {
				t.Errorf("quarantine %s left behind", e.Name())
			}
		}
	}
}

func TestPushOverRepoSizeLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{MaxRepoSize: 256 << 10})
	repo := ts.newRepo("quota")
	work := ts.workdir("quota")
	ok := ts.commitFile(work, "small.txt", "small\n", "small")
	ts.git(work, "push", "-q", "origin", "main")

	blob := make([]byte, 300<<10)
	fillRandom(blob, 3)
	if err := os.WriteFile(filepath.Join(work, "data.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	ts.git(work, "add", "data.bin")
	ts.git(work, "commit", "-q", "-m", "data")
	_, stderr, err := ts.gitErr(work, nil, "push", "origin", "main")
	if err == nil {
		t.Fatal("push over the repository size limit succeeded")
	}
	if !strings.Contains(stderr, "remote: error: this push would make the repository larger than its 0.2 MB limit") ||
		!strings.Contains(stderr, "repository size limit exceeded") {
		t.Errorf("stderr lacks the limit message:\n%s", stderr)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != ok {
		t.Fatalf("main moved to %s", got)
	}
	assertNoPackHolds(t, repo, ts.revParse(work, "HEAD"))
	ts.fsck(repo)

	// Small pushes still fit.
	ts.git(work, "reset", "-q", "--hard", "HEAD~1")
	small := ts.commitFile(work, "more.txt", "more\n", "more")
	ts.git(work, "push", "-q", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != small {
		t.Fatalf("small push: main = %s", got)
	}
	ts.fsck(repo)
}

var errProtected = errors.New("refs/heads/main is protected: force-push and deletion are refused")

func protectMain(ctx context.Context, u RefUpdate) error {
	if u.Name == "refs/heads/main" && !u.FastForward {
		return errProtected
	}
	return nil
}

func TestCheckRejectsForcePushAndDeletion(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.setOptions(ReceiveOptions{Check: protectMain})
	repo := ts.newRepo("protect")
	work := ts.workdir("protect")
	ts.commitFile(work, "a.txt", "1\n", "one")
	tip := ts.commitFile(work, "a.txt", "2\n", "two")
	ts.git(work, "push", "-q", "origin", "main")

	ts.git(work, "reset", "-q", "--hard", "HEAD~1")
	ts.commitFile(work, "b.txt", "x\n", "rewrite")
	_, stderr, err := ts.gitErr(work, nil, "push", "--force", "origin", "main")
	if err == nil {
		t.Fatal("force push to a protected branch succeeded")
	}
	if !strings.Contains(stderr, "remote: "+errProtected.Error()) || !strings.Contains(stderr, "[remote rejected]") {
		t.Errorf("stderr:\n%s", stderr)
	}
	_, stderr, err = ts.gitErr(work, nil, "push", "origin", ":main")
	if err == nil || !strings.Contains(stderr, "protected") {
		t.Fatalf("deleting a protected branch: err=%v\n%s", err, stderr)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != tip {
		t.Fatalf("main = %s, want %s", got, tip)
	}
	// Fast-forwards are still accepted.
	ts.git(work, "reset", "-q", "--hard", tip)
	next := ts.commitFile(work, "c.txt", "c\n", "ff")
	ts.git(work, "push", "-q", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != next {
		t.Fatalf("fast-forward rejected: main = %s", got)
	}
	ts.fsck(repo)
}

func TestAtomicPushAllOrNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.setOptions(ReceiveOptions{Check: protectMain})
	repo := ts.newRepo("atomic")
	work := ts.workdir("atomic")
	ts.commitFile(work, "a.txt", "1\n", "one")
	tip := ts.commitFile(work, "a.txt", "2\n", "two")
	ts.git(work, "push", "-q", "origin", "main", "main:refs/heads/other")

	ts.git(work, "reset", "-q", "--hard", "HEAD~1")
	ts.commitFile(work, "b.txt", "x\n", "rewrite")
	ts.git(work, "tag", "-a", "-m", "t", "v9")
	_, stderr, err := ts.gitErr(work, nil, "push", "--atomic", "--force", "origin", "main", "main:refs/heads/other", "main:refs/heads/brand-new", "v9")
	if err == nil {
		t.Fatal("atomic push with a rejected ref succeeded")
	}
	if !strings.Contains(stderr, "atomic push failure") {
		t.Errorf("stderr:\n%s", stderr)
	}
	refs, _, err := listRefs(repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].hash.String() != tip || refs[1].hash.String() != tip {
		t.Fatalf("refs changed by a failed atomic push: %v", refs)
	}
	ts.fsck(repo)

	// Without --atomic the acceptable refs go through.
	_, _, err = ts.gitErr(work, nil, "push", "--force", "origin", "main", "main:refs/heads/other", "v9")
	if err == nil {
		t.Fatal("push including a protected force-push reported success")
	}
	if got := ts.readServerRef(repo, "refs/heads/other"); got.String() != ts.revParse(work, "main") {
		t.Errorf("other = %s, want the new tip", got)
	}
	if got := ts.readServerRef(repo, "refs/tags/v9"); got.String() != ts.revParse(work, "v9") {
		t.Errorf("tag v9 = %s", got)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != tip {
		t.Errorf("main = %s, want unchanged %s", got, tip)
	}
	ts.fsck(repo)
}

func TestUpdateRefCompareAndSwap(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("cas")
	c1, err := ts.srv.InitialCommit(ctx, repo, "main", "one", Signature{Name: "a", Email: "a@b"})
	if err != nil {
		t.Fatal(err)
	}
	work := ts.clone("cas")
	c2 := plumbing.NewHash(ts.commitFile(work, "x", "x", "two"))
	ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/side")
	blob := plumbing.NewHash(strings.TrimSpace(ts.git(work, "rev-parse", "HEAD:x")))
	missing := plumbing.NewHash(strings.Repeat("ab", 20))
	zero := plumbing.ZeroHash

	steps := []struct {
		name          string
		ref           string
		old, new      plumbing.Hash
		err           error
		want          plumbing.Hash
		checkRef      string
		checkRefValue plumbing.Hash
	}{
		{"create exists", "main", zero, c2, ErrRefConflict, c1, "", zero},
		{"stale old", "main", c2, c1, ErrRefConflict, c1, "", zero},
		{"fast-forward", "main", c1, c2, nil, c2, "", zero},
		{"rewind", "refs/heads/main", c2, c1, nil, c1, "", zero},
		{"create", "feature/a", zero, c2, nil, zero, "refs/heads/feature/a", c2},
		{"dir/file conflict", "feature", zero, c2, ErrRefConflict, zero, "refs/heads/feature", zero},
		{"missing object", "x", zero, missing, ErrNotFound, zero, "refs/heads/x", zero},
		{"blob on a branch", "x", zero, blob, ErrInvalidName, zero, "refs/heads/x", zero},
		{"blob on a tag ref", "refs/tags/blob", zero, blob, nil, zero, "refs/tags/blob", blob},
		{"bad name", "a..b", zero, c1, ErrInvalidName, zero, "", zero},
		{"delete stale", "feature/a", c1, zero, ErrRefConflict, zero, "refs/heads/feature/a", c2},
		{"delete", "feature/a", c2, zero, nil, zero, "refs/heads/feature/a", zero},
		{"create after dir emptied", "feature", zero, c1, nil, zero, "refs/heads/feature", c1},
		{"delete missing", "nothing", zero, zero, nil, zero, "refs/heads/nothing", zero},
	}
	for _, st := range steps {
		err := ts.srv.UpdateRef(ctx, repo, st.ref, st.old, st.new)
		if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.err)
		}
		if !st.want.IsZero() {
			if got := ts.readServerRef(repo, "refs/heads/main"); got != st.want {
				t.Fatalf("%s: main = %s, want %s", st.name, got, st.want)
			}
		}
		if st.checkRef != "" {
			if got := ts.readServerRef(repo, st.checkRef); got != st.checkRefValue {
				t.Fatalf("%s: %s = %s, want %s", st.name, st.checkRef, got, st.checkRefValue)
			}
		}
	}
	ts.fsck(repo)

	// Concurrent CAS from one old value: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := c1
			if i%2 == 0 {
				target = c2
			}
			if err := ts.srv.UpdateRef(ctx, repo, "refs/heads/race", zero, target); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrRefConflict) {
				t.Errorf("concurrent create: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent creates won, want 1", wins)
	}
	if _, err := os.Stat(filepath.Join(repo, "refs", "heads", "race.lock")); err == nil {
		t.Fatal("lock file left behind")
	}
	ts.fsck(repo)
}

func TestPushRejectsMissingObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("missing")
	work := ts.workdir("missing")
	ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main")
	base := ts.revParse(work, "HEAD")
	next := ts.commitFile(work, "b", "b", "b")

	// A hand-made push naming a commit whose pack is empty.
	body := pktBody(base+" "+next+" refs/heads/main\x00report-status side-band-64k\n", "")
	body = append(body, emptyPack()...)
	resp := postReceivePack(t, ts, "missing", body)
	if !strings.Contains(resp, "ng refs/heads/main missing necessary objects") {
		t.Fatalf("response: %q", resp)
	}
	if got := ts.readServerRef(repo, "refs/heads/main"); got.String() != base {
		t.Fatalf("main moved to %s", got)
	}
	// A corrupt pack is an unpack error.
	bad := append(pktBody(base+" "+next+" refs/heads/main\x00report-status\n", ""), []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x01garbage")...)
	resp = postReceivePack(t, ts, "missing", bad)
	if !strings.Contains(resp, "unpack ") || strings.Contains(resp, "unpack ok") || !strings.Contains(resp, "ng refs/heads/main") {
		t.Fatalf("corrupt pack response: %q", resp)
	}
	ts.fsck(repo)
}

func TestPushEdgeCases(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("edges")
	work := ts.workdir("edges")
	ts.history(work, "main", 6, 2, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")

	// A branch on an existing commit: the client sends an empty pack.
	ts.git(work, "push", "-q", "origin", "main~2:refs/heads/old")
	if got := ts.readServerRef(repo, "refs/heads/old").String(); got != ts.revParse(work, "main~2") {
		t.Fatalf("old = %s", got)
	}

	// refs/heads/old exists, so refs/heads/old/x cannot (and vice versa).
	_, stderr, err := ts.gitErr(work, nil, "push", "origin", "main:refs/heads/old/x")
	if err == nil || !strings.Contains(stderr, "conflicts with refs/heads/old") {
		t.Fatalf("D/F conflict: err=%v\n%s", err, stderr)
	}

	// A shallow clone can push new work on top.
	shallow := ts.clone("edges", "--depth", "1")
	c := ts.commitFile(shallow, "from-shallow.txt", "x\n", "from a shallow clone")
	ts.git(shallow, "push", "-q", "origin", "main")
	if got := ts.readServerRef(repo, "refs/heads/main").String(); got != c {
		t.Fatalf("main = %s, want %s", got, c)
	}

	// Deleting and creating in one push.
	ts.git(shallow, "push", "-q", "origin", ":old", "main:refs/heads/new")
	if !ts.readServerRef(repo, "refs/heads/old").IsZero() || ts.readServerRef(repo, "refs/heads/new").String() != c {
		t.Fatal("delete+create push not applied")
	}
	// Deleting a/b frees the name a in the same push, as git allows.
	ts.git(shallow, "push", "-q", "origin", "main:refs/heads/df/sub")
	ts.git(shallow, "push", "-q", "origin", ":refs/heads/df/sub", "main:refs/heads/df")
	if !ts.readServerRef(repo, "refs/heads/df/sub").IsZero() || ts.readServerRef(repo, "refs/heads/df").String() != c {
		t.Fatal("delete df/sub + create df not applied")
	}
	ts.fsck(repo)
}

// TestThinPushOfASmallEdit: git push sends a small edit of a big file as
// a delta against the blob the server has; the server completes the pack
// so that it stands alone, and clones and fetches read it back intact.
func TestThinPushOfASmallEdit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("thinpush")
	work := ts.workdir("thinpush")
	big := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	ts.commitFile(work, "big.bin", string(big), "big file")
	ts.git(work, "push", "-q", "origin", "main")
	reader := ts.clone("thinpush")

	copy(big[1<<20:], "a small edit in the middle")
	want := ts.commitFile(work, "big.bin", string(big), "edit")
	_, stderr, err := ts.gitErr(work, nil, "push", "--progress", "origin", "main")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, stderr)
	}
	// "Writing objects: 100% (3/3), 1.23 KiB | ..." — kilobytes, not the
	// 2 MiB the whole blob would be.
	m := regexp.MustCompile(`Writing objects: 100% \(\d+/\d+\), ([\d.]+) (bytes|KiB|MiB)`).FindStringSubmatch(stderr)
	if m == nil || m[2] == "MiB" {
		t.Fatalf("push was not thin:\n%s", stderr)
	}
	if got := ts.readServerRef(repo, "refs/heads/main").String(); got != want {
		t.Fatalf("main = %s, want %s", got, want)
	}
	ts.fsck(repo)
	// Every stored pack stands alone.
	packs, _ := filepath.Glob(filepath.Join(repo, "objects", "pack", "*.idx"))
	for _, idx := range packs {
		if out, errOut, err := ts.gitErr(repo, nil, "verify-pack", idx); err != nil {
			t.Fatalf("verify-pack %s: %v\n%s%s", filepath.Base(idx), err, out, errOut)
		}
	}
	// A fetch of the edit gets it back; so does a fresh clone.
	ts.git(reader, "pull", "-q", "--ff-only", "origin", "main")
	for _, dir := range []string{reader, ts.clone("thinpush")} {
		data, err := os.ReadFile(filepath.Join(dir, "big.bin"))
		if err != nil || !bytes.Equal(data, big) {
			t.Fatalf("%s: content differs (err %v)", dir, err)
		}
		ts.git(dir, "fsck", "--full")
	}
}

// TestPushRejectsUnreachableBrokenObjects: a pack smuggling a commit whose
// parent does not exist, referenced by no pushed ref, must not be stored;
// later pushes building on it would pass the connectivity check.
func TestPushRejectsUnreachableBrokenObjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("smuggle")
	work := ts.workdir("smuggle")
	base := ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main")

	st := memory.NewStorage()
	emptyTree := &plumbing.MemoryObject{}
	emptyTree.SetType(plumbing.TreeObject)
	treeHash, _ := st.SetEncodedObject(emptyTree)
	orphan := &plumbing.MemoryObject{}
	orphan.SetType(plumbing.CommitObject)
	fmt.Fprintf(orphan, "tree %s\nparent %s\nauthor x <x@y> 1700000000 +0000\ncommitter x <x@y> 1700000000 +0000\n\norphan\n", treeHash, strings.Repeat("cd", 20))
	orphanHash, _ := st.SetEncodedObject(orphan)
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, st, false).Encode([]plumbing.Hash{treeHash, orphanHash}, 0); err != nil {
		t.Fatal(err)
	}

	body := pktBody(plumbing.ZeroHash.String()+" "+base+" refs/heads/copy\x00report-status\n", "")
	resp := postReceivePack(t, ts, "smuggle", append(body, pack.Bytes()...))
	if !strings.Contains(resp, "ng refs/heads/copy missing necessary objects") {
		t.Fatalf("response: %q", resp)
	}
	assertNoPackHolds(t, repo, orphanHash.String())
	ts.fsck(repo)
}

// TestServerLockExcludesOtherProcesses: ref updates wait for a holder of
// the cross-process file lock (a backup copying the repository).
func TestServerLockExcludesOtherProcesses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := context.Background()
	repo := ts.newRepo("filelock")
	c, err := ts.srv.InitialCommit(ctx, repo, "main", "x", Signature{Name: "a", Email: "b"})
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := LockRepoFile(repo)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.UpdateRef(short, repo, "refs/heads/b", plumbing.ZeroHash, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("UpdateRef while another holds the file lock: %v", err)
	}
	unlock()
	if err := ts.srv.UpdateRef(ctx, repo, "refs/heads/b", plumbing.ZeroHash, c); err != nil {
		t.Fatal(err)
	}
	// A path that is not a repository yet can still be locked.
	u := ts.srv.Lock(filepath.Join(ts.root, "not-yet.git"))
	u()
	ts.fsck(repo)
}
