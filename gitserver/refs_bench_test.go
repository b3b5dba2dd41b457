package gitserver

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkPush1000Refs times one push creating 1,000 branches against
// this package's server and against git http-backend on a copy of the
// same repository. The branches point at ten existing commits, so the
// pack is empty and the client has little to compute: what is measured
// is the servers' ref updates.
func BenchmarkPush1000Refs(b *testing.B) {
	ts := newTestServer(b, Config{})
	ts.newRepo("refs")
	ts.newRepo("native")
	work := ts.workdir("refs")
	ts.history(work, "main", 100, 20, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	native := nativeServer(b, ts)
	ts.git(work, "push", "-q", ts.remote("refs"), "main")
	ts.git(work, "push", "-q", native+"/native.git", "main")
	commits := strings.Fields(ts.git(work, "rev-list", "-10", "main"))
	round := 0 // b.N grows between calls of run; names must stay new
	run := func(b *testing.B, url string) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			round++
			prefix := fmt.Sprintf("refs/bench/%d/", round)
			updateRefs(b, ts, work, prefix, "create", commits)
			b.StartTimer()
			ts.git(work, "push", "-q", url, fmt.Sprintf("%s*:refs/heads/batch%d/*", prefix, round))
			b.StopTimer()
			// The client matches every refspec against every local ref:
			// the refs of earlier rounds would slow it down, not the
			// servers.
			updateRefs(b, ts, work, prefix, "delete", commits)
			b.StartTimer()
		}
	}
	b.Run("tapioca", func(b *testing.B) { run(b, ts.remote("refs")) })
	b.Run("git-http-backend", func(b *testing.B) { run(b, native+"/native.git") })
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
