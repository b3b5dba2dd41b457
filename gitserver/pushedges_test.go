package gitserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestPushRefusesFunnyRefNames: names git's receive-pack refuses, and
// names that are not UTF-8 (which the API could not address), are
// refused per ref with a remote: line saying why; the other refs of the
// push go through.
func TestPushRefusesFunnyRefNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("names")
	work := ts.workdir("names")
	tip := ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main")

	rows := []struct{ name, why string }{
		{"refs/heads/f\x80-del", "not valid UTF-8"},
		{"refs/x", "one-level refs are not allowed"},
		{"refs/heads/a..b", "contains .. or //"},
		{"refs/heads/.hidden", "has an empty, dot-leading or .lock component"},
		{"refs/heads/x.lock", "has an empty, dot-leading or .lock component"},
		{"refs/heads/a b", "contains a forbidden character"},
		{"refs/heads/a@{1}", "contains @{"},
		{"HEAD", "must start with refs/"},
	}
	for _, row := range rows {
		body := pktBody(plumbing.ZeroHash.String()+" "+tip+" "+row.name+"\x00report-status side-band-64k\n",
			plumbing.ZeroHash.String()+" "+tip+" refs/heads/fine\n", "")
		resp := postReceivePack(t, ts, "names", append(body, emptyPack()...))
		want := "error: refusing to create funny ref '" + printableRef(row.name) + "' remotely: " + row.why
		if !strings.Contains(resp, want) || !strings.Contains(resp, "ng "+row.name+" funny refname") {
			t.Errorf("%q: response lacks %q:\n%q", row.name, want, resp)
		}
		if !strings.Contains(resp, "ok refs/heads/fine") {
			t.Errorf("%q: the valid ref of the push was refused:\n%q", row.name, resp)
		}
		if _, ok, _ := readRef(repo, row.name, nil); ok && row.name != "HEAD" {
			t.Errorf("%q was created", row.name)
		}
		ts.srv.UpdateRef(context.Background(), repo, "refs/heads/fine", plumbing.NewHash(tip), plumbing.ZeroHash)
	}
	if !strings.Contains(printableRef("refs/heads/f\x80-del"), `\x80`) {
		t.Errorf("printableRef = %q", printableRef("refs/heads/f\x80-del"))
	}

	// The real client, one level below refs/.
	_, stderr, err := ts.gitErr(work, nil, "push", "origin", "HEAD:refs/x")
	if err == nil || !strings.Contains(stderr, "remote: error: refusing to create funny ref 'refs/x' remotely: one-level refs are not allowed") ||
		!strings.Contains(stderr, "[remote rejected] HEAD -> refs/x (funny refname)") {
		t.Fatalf("push to refs/x: %v\n%s", err, stderr)
	}

	// A ref an earlier version let in can still be deleted.
	if err := writeRef(repo, "refs/heads/f\x80-del", plumbing.NewHash(tip)); err != nil {
		t.Fatal(err)
	}
	body := pktBody(tip+" "+plumbing.ZeroHash.String()+" refs/heads/f\x80-del\x00report-status\n", "")
	if resp := postReceivePack(t, ts, "names", body); !strings.Contains(resp, "ok refs/heads/f\x80-del") {
		t.Fatalf("deleting a non-UTF-8 ref: %q", resp)
	}
	if _, ok, _ := readRef(repo, "refs/heads/f\x80-del", nil); ok {
		t.Fatal("non-UTF-8 ref not deleted")
	}
	ts.fsck(repo)
}

// TestPushOptionsNotAdvertised: nothing carries push options, so they are
// not offered and git refuses push -o before sending anything, as it does
// against http-backend.
func TestPushOptionsNotAdvertised(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("opts")
	work := ts.workdir("opts")
	ts.commitFile(work, "a", "a", "a")
	_, stderr, err := ts.gitErr(work, nil, "push", "-o", "ci.skip", "origin", "main")
	if err == nil || !strings.Contains(stderr, "the receiving end does not support push options") {
		t.Fatalf("push -o: %v\n%s", err, stderr)
	}
	if !ts.readServerRef(repo, "refs/heads/main").IsZero() {
		t.Fatal("push -o moved main")
	}
}

// TestSignedPush: git push --signed (here with an SSH key, whose
// fingerprint git names as the pusher) is accepted, and the certificate,
// with its nonce judged, reaches Updated.
func TestSignedPush(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	key := filepath.Join(t.TempDir(), "key")
	if _, errOut, err := ts.gitErr("", nil, "version"); err != nil {
		t.Fatal(errOut)
	}
	if out, err := runCmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key); err != nil {
		t.Skipf("ssh-keygen: %v %s", err, out)
	}
	var mu sync.Mutex
	var got []RefUpdate
	ts.setOptions(ReceiveOptions{Updated: func(ctx context.Context, u []RefUpdate) {
		mu.Lock()
		got = append(got, u...)
		mu.Unlock()
	}})
	repo := ts.newRepo("signed")
	work := ts.workdir("signed")
	ts.git(work, "config", "gpg.format", "ssh")
	ts.git(work, "config", "user.signingkey", key+".pub")
	tip := ts.commitFile(work, "a", "a", "a")
	_, stderr, err := ts.gitErr(work, nil, "push", "--signed", "origin", "main", "main:refs/heads/other")
	if err != nil {
		t.Fatalf("signed push: %v\n%s", err, stderr)
	}
	if h := ts.readServerRef(repo, "refs/heads/main"); h.String() != tip {
		t.Fatalf("main = %s", h)
	}
	mu.Lock()
	if len(got) != 2 || got[0].Push == nil || got[0].Push != got[1].Push || got[0].Push.Cert == nil {
		t.Fatalf("updates: %+v", got)
	}
	c := got[0].Push.Cert
	if c.Version != "0.1" || c.NonceStatus != "OK" || !strings.HasPrefix(c.Pusher, "SHA256:") ||
		!strings.Contains(c.Pushee, "/signed.git") || !strings.Contains(c.Signature, "-----BEGIN SSH SIGNATURE-----") ||
		!strings.Contains(c.Text, plumbing.ZeroHash.String()+" "+tip+" refs/heads/other\n") {
		t.Errorf("certificate: %+v", c)
	}
	if got[0].Push.HEAD != "" {
		t.Errorf("HEAD set to %q though main was pushed", got[0].Push.HEAD)
	}
	mu.Unlock()
	// Unsigned pushes still work.
	ts.commitFile(work, "b", "b", "b")
	ts.git(work, "push", "-q", "origin", "main")
	mu.Lock()
	defer mu.Unlock()
	if got[len(got)-1].Push.Cert != nil {
		t.Error("an unsigned push has a certificate")
	}
}

func TestPushCertNonce(t *testing.T) {
	t.Parallel()
	a := New(Config{PushCertSeed: []byte("seed")})
	b := New(Config{PushCertSeed: []byte("seed")})
	other := New(Config{})
	now := int64(1700000000)
	nonce := a.certNonce("/repos/x.git", now)
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	for _, tc := range []struct {
		srv        *Server
		repo, nonc string
		now        int64
		want       string
	}{
		{a, "/repos/x.git", nonce, now + 3, "OK"},
		{b, "/repos/x.git", nonce, now + 3, "OK"}, // stateless: another process with the seed
		{a, "/repos/x.git", nonce, now + 3600, "SLOP"},
		{a, "/repos/y.git", nonce, now, "BAD"},
		{other, "/repos/x.git", nonce, now, "BAD"},
		{a, "/repos/x.git", "garbage", now, "BAD"},
		{a, "/repos/x.git", "", now, "MISSING"},
	} {
		if got := tc.srv.nonceStatus(tc.repo, tc.nonc, at(tc.now)); got != tc.want {
			t.Errorf("nonce %q for %s at +%d: %s, want %s", tc.nonc, tc.repo, tc.now-now, got, tc.want)
		}
	}
}

// TestFirstPushPointsHEAD: when the first branches pushed to an empty
// repository do not include the one HEAD names, HEAD moves to one of
// them (HEAD's own, else main, else master, else the first pushed) and
// Updated learns it; later pushes leave HEAD alone.
func TestFirstPushPointsHEAD(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	var mu sync.Mutex
	var last []RefUpdate
	ts.setOptions(ReceiveOptions{Updated: func(ctx context.Context, u []RefUpdate) {
		mu.Lock()
		last = u
		mu.Unlock()
	}})
	rows := []struct {
		name     string
		initHEAD string
		push     []string
		want     string // HEAD afterwards
		reported string
	}{
		{"HEAD's branch pushed", "main", []string{"main", "dev"}, "refs/heads/main", ""},
		{"main preferred", "master", []string{"dev", "main"}, "refs/heads/main", "refs/heads/main"},
		{"then master", "trunk", []string{"dev", "master"}, "refs/heads/master", "refs/heads/master"},
		{"else the first", "master", []string{"zeta", "alpha"}, "refs/heads/zeta", "refs/heads/zeta"},
		{"tags only", "master", []string{"refs/tags/v1"}, "refs/heads/master", ""},
	}
	for i, row := range rows {
		name := "head" + string(rune('a'+i))
		repo := filepath.Join(ts.root, name+".git")
		if err := ts.srv.Init(context.Background(), repo, row.initHEAD); err != nil {
			t.Fatal(err)
		}
		work := ts.workdir(name)
		ts.commitFile(work, "a", "a", "a")
		args := []string{"push", "-q", "origin"}
		for _, b := range row.push {
			args = append(args, "HEAD:"+branchRefOrTag(b))
		}
		ts.git(work, args...)
		if head, _ := readHEAD(repo); head != row.want {
			t.Errorf("%s: HEAD = %s, want %s", row.name, head, row.want)
		}
		mu.Lock()
		if len(last) == 0 || last[0].Push == nil || last[0].Push.HEAD != row.reported {
			t.Errorf("%s: Updated got %+v, want HEAD %q", row.name, last, row.reported)
		}
		mu.Unlock()
		if row.reported != "" {
			// A fresh clone checks out the new HEAD without complaint.
			dir := filepath.Join(t.TempDir(), "c")
			_, stderr, err := ts.gitErr("", nil, "clone", ts.remote(name), dir)
			if err != nil || strings.Contains(stderr, "warning") {
				t.Errorf("%s: clone: %v\n%s", row.name, err, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
				t.Errorf("%s: clone checked out nothing", row.name)
			}
			// A second push of a new branch leaves HEAD alone.
			ts.git(work, "push", "-q", "origin", "HEAD:refs/heads/later")
			if head, _ := readHEAD(repo); head != row.want {
				t.Errorf("%s: HEAD moved to %s by a later push", row.name, head)
			}
		}
		ts.fsck(repo)
	}
}

func branchRefOrTag(b string) string {
	if strings.HasPrefix(b, "refs/") {
		return b
	}
	return "refs/heads/" + b
}

// TestEveryRejectionSaysWhy: each way a ref is refused comes with a
// remote: line naming the ref or the reason, not only the few words of
// the ng status.
func TestEveryRejectionSaysWhy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("why")
	work := ts.workdir("why")
	c1 := ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main", "main:refs/heads/d")
	c2 := ts.commitFile(work, "b", "b", "b")
	zero := plumbing.ZeroHash.String()
	missing := strings.Repeat("ef", 20)
	rows := []struct {
		name  string
		cmds  []string
		lines []string
	}{
		{"stale old value", []string{c2 + " " + c1 + " refs/heads/main"},
			[]string{"error: refs/heads/main changed while this push was on its way (it is at " + c1 + " now): fetch, then push again"}},
		{"name below an existing ref", []string{zero + " " + c1 + " refs/heads/d/x"},
			[]string{"error: cannot create refs/heads/d/x: the ref refs/heads/d exists"}},
		{"missing object", []string{zero + " " + missing + " refs/heads/m"},
			[]string{"error: refs/heads/m: object " + missing + " is not in the push nor in the repository"}},
		{"atomic push with one bad ref", []string{zero + " " + c1 + " refs/heads/ok", zero + " " + c1 + " refs/x"},
			[]string{"error: refusing to create funny ref 'refs/x' remotely", "error: refs/heads/ok is not updated: the push is atomic and another of its refs was refused"}},
		{"twice in one push", []string{zero + " " + c1 + " refs/heads/t", zero + " " + c1 + " refs/heads/t"},
			[]string{"error: refs/heads/t is updated twice in this push"}},
	}
	for _, row := range rows {
		pkts := []string{row.cmds[0] + "\x00report-status side-band-64k atomic\n"}
		for _, c := range row.cmds[1:] {
			pkts = append(pkts, c+"\n")
		}
		pkts = append(pkts, "")
		resp := postReceivePack(t, ts, "why", append(pktBody(pkts...), emptyPack()...))
		for _, l := range row.lines {
			if !strings.Contains(resp, l) {
				t.Errorf("%s: response lacks %q:\n%q", row.name, l, resp)
			}
		}
		if strings.Contains(resp, "ok refs/") {
			t.Errorf("%s: a ref was updated:\n%q", row.name, resp)
		}
	}
	if h := ts.readServerRef(repo, "refs/heads/main"); h.String() != c1 {
		t.Fatalf("main moved to %s", h)
	}
	ts.fsck(repo)
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
