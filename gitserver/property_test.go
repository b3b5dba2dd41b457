package gitserver

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRandomHistoriesPackContents builds random histories (merges,
// deletions, files and directories whose content comes back) and checks,
// for random want/have pairs, that the pack holds every object of
// `git rev-list --objects want --not have` and nothing outside want's
// closure.
func TestRandomHistoriesPackContents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	extra, total, thinner := 0, 0, 0
	for seed := uint64(1); seed <= 3; seed++ {
		name := fmt.Sprintf("rand%d", seed)
		repo := ts.newRepo(name)
		work := ts.workdir(name)
		r := rand.New(rand.NewPCG(seed, 99))
		commits := randomHistory(t, ts, work, r, 60)
		ts.git(work, "push", "-q", "origin", "refs/heads/*:refs/heads/*")
		ts.fsck(repo)

		for k := 0; k < 12; k++ {
			want := commits[r.IntN(len(commits))]
			var haves []string
			for n := r.IntN(3); n > 0; n-- {
				haves = append(haves, commits[r.IntN(len(commits))])
			}
			pkts := []string{"want " + want + " multi_ack_detailed side-band-64k ofs-delta no-progress\n", ""}
			for _, h := range haves {
				pkts = append(pkts, "have "+h+"\n")
			}
			pkts = append(pkts, "done\n")
			_, pack, _ := splitResponse(t, postUploadPack(t, ts, name, false, pkts...))
			got := packObjects(t, ts, pack)

			args := []string{"rev-list", "--objects", want}
			for _, h := range haves {
				args = append(args, "^"+h)
			}
			need := objectNames(ts.git(repo, args...))
			closure := objectNames(ts.git(repo, "rev-list", "--objects", want))
			for h := range need {
				if !got[h] {
					t.Fatalf("seed %d want %s haves %v: pack lacks %s", seed, want[:8], haves, h)
				}
			}
			for h := range got {
				if !closure[h] {
					t.Fatalf("seed %d want %s: pack has %s, not reachable from the want", seed, want[:8], h)
				}
			}
			extra += len(got) - len(need)
			total += len(need)

			// Thin: every delta base outside the pack must be something
			// the haves give the client.
			if len(haves) > 0 && k%2 == 0 {
				thin := append([]string{strings.Replace(pkts[0], "ofs-delta", "ofs-delta thin-pack", 1)}, pkts[1:]...)
				_, tpack, _ := splitResponse(t, postUploadPack(t, ts, name, false, thin...))
				client := t.TempDir()
				ts.git(client, "init", "-q", "--bare")
				for _, h := range haves {
					ts.git(client, "fetch", "-q", "file://"+repo, h)
				}
				cmd := exec.Command("git", "index-pack", "--stdin", "--fix-thin")
				cmd.Dir = client
				cmd.Env = ts.env()
				cmd.Stdin = bytes.NewReader(tpack)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("seed %d thin pack for want %s haves %v: %v\n%s", seed, want[:8], haves, err, out)
				}
				if len(tpack) < len(pack) {
					thinner++
				}
			}

			// The same request deepened, against git's own upload-pack.
			depth := 1 + r.IntN(4)
			deep := append([]string{pkts[0], fmt.Sprintf("deepen %d\n", depth)}, pkts[1:]...)
			ours := postUploadPack(t, ts, name, false, deep...)
			cmd := exec.Command("git", "upload-pack", "--stateless-rpc", repo)
			cmd.Env = ts.env()
			cmd.Stdin = bytes.NewReader(pktBody(deep...))
			theirs, err := cmd.Output()
			if err != nil {
				t.Fatalf("git upload-pack: %v", err)
			}
			ol, opack, _ := splitResponse(t, ours)
			gl, gpack, _ := splitResponse(t, theirs)
			if strings.Join(ol, "|") != strings.Join(gl, "|") {
				t.Fatalf("seed %d deepen %d: shallow/ACK lines differ:\n ours %q\n git  %q", seed, depth, ol, gl)
			}
			o, g := packObjects(t, ts, opack), packObjects(t, ts, gpack)
			for h := range g {
				if !o[h] {
					t.Fatalf("seed %d deepen %d want %s haves %v: pack lacks %s that git sends", seed, depth, want[:8], haves, h)
				}
			}
		}
	}
	t.Logf("packs held %d objects beyond the minimum %d; %d thin packs were smaller", extra, total, thinner)
}

// randomHistory fast-imports n commits with random parents (some merges)
// and edits drawn from small pools of paths and contents, one branch per
// commit. It returns the commit ids.
func randomHistory(t *testing.T, ts *testServer, dir string, r *rand.Rand, n int) []string {
	t.Helper()
	paths := []string{"a.txt", "b.txt", "d0/a.txt", "d0/b.txt", "d0/d1/c.txt", "d1/x.txt", "d1/d2/y.txt"}
	big := strings.Repeat("a longer line of text shared by the variants\n", 60)
	contents := []string{"one\n", "two\n", "three\n", big, big + "variant b\n", "variant c\n" + big}
	var s bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "commit refs/heads/c%d\nmark :%d\ncommitter T <t@example.com> %d +0000\ndata 3\nc%d\n", i, i, 1700000000+r.IntN(1000)*60, i%10)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", 1+r.IntN(i-1))
			if i > 3 && r.IntN(5) == 0 {
				fmt.Fprintf(&s, "merge :%d\n", 1+r.IntN(i-1))
			}
		}
		for m := 1 + r.IntN(3); m > 0; m-- {
			p := paths[r.IntN(len(paths))]
			if r.IntN(8) == 0 {
				fmt.Fprintf(&s, "D %s\n", p)
				continue
			}
			c := contents[r.IntN(len(contents))]
			fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", p, len(c), c)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = ts.env()
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ts.revParse(dir, fmt.Sprintf("refs/heads/c%d", i+1))
	}
	return ids
}

func objectNames(revList string) map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(revList), "\n") {
		if len(line) >= 40 {
			m[line[:40]] = true
		}
	}
	return m
}

// packObjects indexes a pack with git and lists the objects in it.
func packObjects(t *testing.T, ts *testServer, pack []byte) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	ts.git(dir, "init", "-q", "--bare")
	cmd := exec.Command("git", "index-pack", "--stdin")
	cmd.Dir = dir
	cmd.Env = ts.env()
	cmd.Stdin = bytes.NewReader(pack)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("index-pack: %v", err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "pack"))
	idx := filepath.Join(dir, "objects", "pack", "pack-"+id+".idx")
	show := exec.Command("git", "show-index")
	show.Env = ts.env()
	show.Stdin = bytes.NewReader(mustRead(t, idx))
	listing, err := show.Output()
	if err != nil {
		t.Fatalf("show-index: %v", err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(listing)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			m[f[1]] = true
		}
	}
	return m
}
