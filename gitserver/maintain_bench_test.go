package gitserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// BenchmarkMaintainEditedFile is the storage target: ten pushes each
// replacing 1 KB of a file of random bytes (5 MB, and the 50 MB of the
// target), then maintenance on a copy of the repository per iteration,
// beside C git's gc and gc --aggressive on copies of the same one.
// Reported: the repository's size after (MB-after), its ratio to git gc
// --aggressive's (x-gc-aggressive) and, for Tapioca, the peak Go heap.
//
//	go test ./gitserver -run XXX -bench MaintainEditedFile -benchtime 1x
func BenchmarkMaintainEditedFile(b *testing.B) {
	for _, size := range []int{5 << 20, 50 << 20} {
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			ts := newTestServer(b, Config{})
			repo := ts.newRepo("big")
			work := ts.workdir("big")
			editedFileHistory(b, ts, work, size, 10, nil)
			compareMaintenance(b, ts, repo)
		})
	}
}

// BenchmarkMaintainHistory compares maintenance on a synthetic history
// of 800 files and 1,000 commits that changed three files each, pushed
// in ten pushes.
//
//	go test ./gitserver -run XXX -bench MaintainHistory -benchtime 1x
func BenchmarkMaintainHistory(b *testing.B) {
	ts := newTestServer(b, Config{})
	work := benchRepo(b, ts, "src", 1000)
	repo := ts.newRepo("hist")
	commits := strings.Fields(ts.git(work, "rev-list", "--reverse", "main"))
	for i := 1; i <= 10; i++ {
		ts.git(work, "push", "-q", ts.remote("hist"), commits[i*len(commits)/10-1]+":refs/heads/main")
	}
	compareMaintenance(b, ts, repo)
}

// compareMaintenance runs Tapioca's maintenance (default and aggressive)
// and git gc (default and --aggressive, bitmaps off as Tapioca writes
// none) each on its own copy of repo per iteration.
func compareMaintenance(b *testing.B, ts *testServer, repo string) {
	ctx := context.Background()
	before, err := dirSize(repo)
	if err != nil {
		b.Fatal(err)
	}
	sizes := map[string]int64{}
	run := func(name string, maintain func(dir string) error) {
		b.Run(name, func(b *testing.B) {
			var after int64
			var peak uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "copy.git")
				if err := os.CopyFS(dir, os.DirFS(repo)); err != nil {
					b.Fatal(err)
				}
				stop := samplePeakHeap(&peak)
				b.StartTimer()
				err := maintain(dir)
				b.StopTimer()
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if after, err = dirSize(dir); err != nil {
					b.Fatal(err)
				}
			}
			sizes[name] = after
			b.ReportMetric(float64(before)/(1<<20), "MB-before")
			b.ReportMetric(float64(after)/(1<<20), "MB-after")
			if gc := sizes["git-gc-aggressive"]; gc > 0 {
				b.ReportMetric(float64(after)/float64(gc), "x-gc-aggressive")
			}
			if strings.HasPrefix(name, "tapioca") {
				b.ReportMetric(float64(peak)/(1<<20), "MB-peak-heap")
			}
		})
	}
	gitGC := func(args ...string) func(string) error {
		return func(dir string) error {
			_, errOut, err := ts.gitErr(dir, nil, append([]string{"-c", "repack.writeBitmaps=false", "gc", "-q"}, args...)...)
			if err != nil {
				return fmt.Errorf("git gc: %v: %s", err, errOut)
			}
			return nil
		}
	}
	run("git-gc-aggressive", gitGC("--aggressive"))
	run("git-gc", gitGC())
	run("tapioca", func(dir string) error { _, err := ts.srv.Maintain(ctx, dir); return err })
	run("tapioca-aggressive", func(dir string) error {
		_, err := ts.srv.MaintainWith(ctx, dir, AggressiveRepack())
		return err
	})
}

// samplePeakHeap records the largest Go heap seen until stop is called.
func samplePeakHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
