package gitserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// benchRepo pushes a synthetic history to a fresh server repository: 800
// files of about 6 KB in 40 directories, then commits changing three
// files each (so the pushed pack carries deltas). Returns the work dir.
func benchRepo(b *testing.B, ts *testServer, name string, commits int) string {
	b.Helper()
	ts.newRepo(name)
	work := ts.workdir(name)
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega")
	para := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[r.IntN(len(words))])
			if r.IntN(12) == 0 {
				sb.WriteByte('\n')
			} else {
				sb.WriteByte(' ')
			}
		}
		return sb.String() + "\n"
	}
	const files = 800
	content := make([]string, files)
	var s bytes.Buffer
	msg := func(m string) { fmt.Fprintf(&s, "data %d\n%s", len(m), m) }
	fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <b@example.com> 1700000000 +0000\n")
	msg("initial\n")
	for i := 0; i < files; i++ {
		content[i] = para(4000 + r.IntN(4000))
		fmt.Fprintf(&s, "M 100644 inline src/d%02d/f%03d.txt\ndata %d\n%s\n", i%40, i, len(content[i]), content[i])
	}
	for c := 1; c < commits; c++ {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <b@example.com> %d +0000\n", 1700000000+c*60)
		msg(fmt.Sprintf("change %d\n", c))
		for k := 0; k < 3; k++ {
			i := r.IntN(files)
			lines := strings.Split(content[i], "\n")
			lines[r.IntN(len(lines))] = para(60)
			content[i] = strings.Join(lines, "\n")
			fmt.Fprintf(&s, "M 100644 inline src/d%02d/f%03d.txt\ndata %d\n%s\n", i%40, i, len(content[i]), content[i])
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = work
	cmd.Env = ts.env()
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
	ts.git(work, "repack", "-adq")
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")
	return work
}

// nativeServer serves ts.root with C git's http-backend over CGI, pushes
// and partial clones allowed: the baseline tests and benchmarks compare
// against. The client's Git-Protocol header reaches it as
// HTTP_GIT_PROTOCOL, so it speaks v2 when asked.
func nativeServer(tb testing.TB, ts *testServer) string {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		tb.Skip("git not installed")
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + ts.root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + ts.home,
			"GIT_CONFIG_COUNT=3",
			"GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
			"GIT_CONFIG_KEY_1=uploadpack.allowFilter", "GIT_CONFIG_VALUE_1=true",
			"GIT_CONFIG_KEY_2=uploadpack.allowReachableSHA1InWant", "GIT_CONFIG_VALUE_2=true",
		},
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// servers runs f against this package's server and against git's own,
// each on its own copy of the same repository.
func servers(b *testing.B, commits int, f func(b *testing.B, ts *testServer, url string)) {
	ts := newTestServer(b, Config{})
	work := benchRepo(b, ts, "bench", commits)
	ts.git(work, "remote", "add", "native", ts.remote("native"))
	ts.newRepo("native")
	ts.git(work, "push", "-q", "native", "main")
	native := nativeServer(b, ts)
	b.Run("tapioca", func(b *testing.B) { f(b, ts, ts.remote("bench")) })
	b.Run("git-http-backend", func(b *testing.B) { f(b, ts, native+"/native.git") })
}

func BenchmarkClone(b *testing.B) {
	servers(b, 1000, func(b *testing.B, ts *testServer, url string) {
		for i := 0; i < b.N; i++ {
			ts.git("", "clone", "-q", "--bare", url, filepath.Join(b.TempDir(), "c"))
		}
	})
}

// BenchmarkShallowClone: a --depth 1 clone sends the tip's files,
// most of them stored as deltas against versions that stay behind, so
// the pack writer's delta search does the work.
func BenchmarkShallowClone(b *testing.B) {
	servers(b, 1000, func(b *testing.B, ts *testServer, url string) {
		for i := 0; i < b.N; i++ {
			ts.git("", "clone", "-q", "--bare", "--depth", "1", url, filepath.Join(b.TempDir(), "c"))
		}
	})
}

// BenchmarkPartialClone: a blob-less clone, then the checkout that
// fetches the tip's blobs by id.
func BenchmarkPartialClone(b *testing.B) {
	servers(b, 1000, func(b *testing.B, ts *testServer, url string) {
		for i := 0; i < b.N; i++ {
			ts.git("", "clone", "-q", "--filter=blob:none", url, filepath.Join(b.TempDir(), "c"))
		}
	})
}

func BenchmarkNoopFetch(b *testing.B) {
	servers(b, 300, func(b *testing.B, ts *testServer, url string) {
		clone := filepath.Join(b.TempDir(), "c")
		ts.git("", "clone", "-q", url, clone)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ts.git(clone, "fetch", "-q", "origin")
		}
	})
}

// BenchmarkPush50 pushes 50 new commits (each changing one file) per
// iteration from a clone of the server.
func BenchmarkPush50(b *testing.B) {
	servers(b, 300, func(b *testing.B, ts *testServer, url string) {
		work := filepath.Join(b.TempDir(), "c")
		ts.git("", "clone", "-q", url, work)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ts.history(work, "main", 50, 20, 1800000000+int64(i)*10000)
			b.StartTimer()
			ts.git(work, "push", "-q", "origin", "main")
		}
	})
}

// BenchmarkServeClone measures the server alone: one full-clone
// upload-pack request, response discarded.
func BenchmarkServeClone(b *testing.B) {
	ts := newTestServer(b, Config{})
	benchRepo(b, ts, "bench", 1000)
	repo := filepath.Join(ts.root, "bench.git")
	head := ts.readServerRef(repo, "refs/heads/main")
	body := pktBody("want "+head.String()+" multi_ack_detailed side-band-64k ofs-delta thin-pack no-progress\n", "", "done\n")
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		resp, err := http.Post(ts.remote("bench")+"/git-upload-pack", "application/x-git-upload-pack-request", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		n, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(n)/(1<<20), "pack-MB")
}

// BenchmarkIndexPack measures receiving: indexing a full pack of the
// benchmark repository into a quarantine directory.
func BenchmarkIndexPack(b *testing.B) {
	ts := newTestServer(b, Config{})
	work := benchRepo(b, ts, "bench", 1000)
	packs, _ := filepath.Glob(filepath.Join(work, ".git", "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		b.Fatalf("expected one pack after gc, got %v", packs)
	}
	data, err := os.ReadFile(packs[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		if _, err := indexPack(context.Background(), bytes.NewReader(data), dir, packLimits{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
