package gitserver

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pushRefsSetup makes a repository of 100 commits and copies of it on
// this package's server and on git http-backend (served from the same
// directory), and returns the work directory, the two repository URLs
// and ten of the commits.
func pushRefsSetup(b *testing.B) (ts *testServer, work string, urls [2]string, commits []string) {
	ts = newTestServer(b, Config{})
	ts.newRepo("refs")
	ts.newRepo("native")
	work = ts.workdir("refs")
	ts.history(work, "main", 100, 20, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	urls = [2]string{ts.remote("refs"), nativeServer(b, ts) + "/native.git"}
	for _, u := range urls {
		ts.git(work, "push", "-q", u, "main")
	}
	return ts, work, urls, strings.Fields(ts.git(work, "rev-list", "-10", "main"))
}

// compareServers runs op against Tapioca and then git http-backend and
// reports, on the second, Tapioca's time per operation over git's.
func compareServers(b *testing.B, urls [2]string, op func(b *testing.B, url string)) {
	var tapioca time.Duration
	b.Run("tapioca", func(b *testing.B) {
		op(b, urls[0])
		tapioca = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("git-http-backend", func(b *testing.B) {
		op(b, urls[1])
		if native := b.Elapsed() / time.Duration(b.N); native > 0 {
			b.ReportMetric(float64(tapioca)/float64(native), "x-tapioca/git")
		}
	})
}

// BenchmarkPush1000Refs times `git push` creating 1,000 branches (at ten
// existing commits, so the pack is empty) against both servers. The git
// client's own share is large: it matches every refspec against every
// local ref.
func BenchmarkPush1000Refs(b *testing.B) {
	ts, work, urls, commits := pushRefsSetup(b)
	round := 0 // b.N grows between calls; names must stay new
	compareServers(b, urls, func(b *testing.B, url string) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			round++
			prefix := fmt.Sprintf("refs/bench/%d/", round)
			updateRefs(b, ts, work, prefix, "create", commits)
			b.StartTimer()
			ts.git(work, "push", "-q", url, fmt.Sprintf("%s*:refs/heads/batch%d/*", prefix, round))
			b.StopTimer()
			// Refs of earlier rounds would slow the client down further.
			updateRefs(b, ts, work, prefix, "delete", commits)
			b.StartTimer()
		}
	})
}

// BenchmarkReceive1000Refs is the server's part alone: one receive-pack
// request creating 1,000 branches (an empty pack), posted without a git
// client.
func BenchmarkReceive1000Refs(b *testing.B) {
	_, _, urls, commits := pushRefsSetup(b)
	round := 0
	compareServers(b, urls, func(b *testing.B, url string) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			round++
			body := receiveRequest1000(round, commits)
			b.StartTimer()
			resp, err := http.Post(url+"/git-receive-pack", "application/x-git-receive-pack-request", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			if n := bytes.Count(out, []byte("ok refs/heads/")); n != 1000 {
				b.Fatalf("%d refs accepted:\n%.500s", n, out)
			}
		}
	})
}

// receiveRequest1000 is a receive-pack request creating
// refs/heads/r<round>/b0000..b0999 at commits in turn, with report-status
// and an empty pack.
func receiveRequest1000(round int, commits []string) []byte {
	var body bytes.Buffer
	for k := 0; k < 1000; k++ {
		line := fmt.Sprintf("%s %s refs/heads/r%d/b%04d", strings.Repeat("0", 40), commits[k%len(commits)], round, k)
		if k == 0 {
			line += "\x00report-status agent=bench"
		}
		writePkt(&body, line+"\n")
	}
	writeFlush(&body)
	pack := []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x00")
	sum := sha1.Sum(pack)
	body.Write(pack)
	body.Write(sum[:])
	return body.Bytes()
}

// updateRefs creates (or deletes) prefix+b0000..b0999 in the local
// repository dir, pointing at commits in turn, and packs them.
func updateRefs(b *testing.B, ts *testServer, dir, prefix, verb string, commits []string) {
	var stdin strings.Builder
	for k := 0; k < 1000; k++ {
		fmt.Fprintf(&stdin, "%s %sb%04d %s\n", verb, prefix, k, commits[k%len(commits)])
	}
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir = dir
	cmd.Env = ts.env()
	cmd.Stdin = strings.NewReader(stdin.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("update-ref: %v\n%s", err, out)
	}
	ts.git(dir, "pack-refs", "--all")
}
