// Command browsebench times the agent API's git reads (gitserver/browse)
// against the git client doing the same on the same repository, in one
// run, and prints median wall times and their ratio:
//
//	go run ./bench/browsebench [-commits 3000] [-files 5000] [-runs 7] [-endpoints=false]
//
// With -endpoints (the default) it then pushes the repository into a
// running Tapioca and times the REST endpoints an agent reads code with
// (contents, compare, grep) over HTTP, JSON and all, against the same git
// commands (endpoints.go).
//
// The repository is synthetic (git fast-import, fixed seed, then packed
// with deltas as a served repository is). Tapioca's side runs in process
// and opens the repository on every run, as a request does; git's side
// is one process per operation, as a forge shelling out to git would pay.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"tapioca/gitserver"
	"tapioca/gitserver/browse"
)

func main() {
	commits := flag.Int("commits", 3000, "commits in the synthetic repository")
	files := flag.Int("files", 5000, "files in the synthetic repository")
	runs := flag.Int("runs", 7, "runs per operation and side")
	keep := flag.Bool("keep", false, "keep the work directory")
	reuse := flag.String("repo", "", "reuse a repository a -keep run built (with the same -commits and -files)")
	only := flag.String("only", "", "run only operations whose name contains this")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of tapioca's side to this file")
	endpoints := flag.Bool("endpoints", true, "also time the contents, compare and grep REST endpoints of a running Tapioca")
	flag.Parse()
	if err := run(*commits, *files, *runs, *keep, *reuse, *only, *cpuprofile, *endpoints); err != nil {
		fmt.Fprintln(os.Stderr, "browsebench:", err)
		os.Exit(1)
	}
}

var words = strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega")

func run(commits, files, runs int, keep bool, reuse, only, cpuprofile string, endpoints bool) error {
	work, err := os.MkdirTemp("", "browsebench-*")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	ver, err := exec.Command("git", "version").Output()
	if err != nil {
		return fmt.Errorf("git client: %w", err)
	}
	fmt.Printf("git client: %s", ver)
	repo := filepath.Join(work, "bench.git")
	var paths []string
	if reuse != "" {
		repo = reuse
		paths = synthPaths(files)
	} else {
		fmt.Printf("building synthetic repository: %d commits over %d files...\n", commits, files)
		start := time.Now()
		if paths, err = synthRepo(repo, commits, files); err != nil {
			return err
		}
		fmt.Printf("built in %s\n", time.Since(start).Round(time.Second))
	}

	// Far-apart commits for compare; a file changed often for the path log.
	early := revParse(repo, fmt.Sprintf("main~%d", commits*9/10))
	late := revParse(repo, fmt.Sprintf("main~%d", commits/10))
	logPath := paths[7] // synthRepo changes it every tenth commit
	readPath := paths[len(paths)/2]
	fmt.Printf("compare %s...%s, log -- %s, read %s\n", early[:8], late[:8], logPath, readPath)

	srv := gitserver.New(gitserver.Config{})
	ctx := context.Background()
	var last *browse.Repo
	open := func() *browse.Repo {
		if last != nil {
			last.Close()
		}
		r, err := browse.Open(srv, repo)
		if err != nil {
			panic(err)
		}
		last = r
		return r
	}
	type op struct {
		name string
		tap  func() error
		git  []string
	}
	ops := []op{
		{"contents (file)", func() error {
			_, err := open().Contents(ctx, "main", readPath, 1<<20)
			return err
		}, []string{"show", "main:" + readPath}},
		{"contents (dir, sizes)", func() error {
			_, err := open().Contents(ctx, "main", filepath.Dir(readPath), 1<<20)
			return err
		}, []string{"ls-tree", "-l", "main:" + filepath.Dir(readPath)}},
		{"tree recursive", func() error {
			_, err := open().Tree(ctx, "main", true, 0)
			return err
		}, []string{"ls-tree", "-r", "-t", "-l", "main"}},
		{"compare (API struct)", func() error {
			_, err := open().Compare(ctx, early, late, browse.CompareOptions{})
			return err
		}, []string{"diff", early + "..." + late}},
		{"compare diff (text)", func() error {
			return open().WriteCompareDiff(ctx, io.Discard, early, late, browse.DiffOptions{})
		}, []string{"diff", early + "..." + late}},
		{"grep common word (all)", func() error {
			_, err := open().Grep(ctx, "main", browse.GrepQuery{Pattern: "omega", MaxMatches: 1 << 30, MaxBytes: 1 << 40})
			return err
		}, []string{"grep", "-n", "-I", "omega", "main"}},
		{"grep common word (100)", func() error {
			_, err := open().Grep(ctx, "main", browse.GrepQuery{Pattern: "omega"})
			return err
		}, []string{"grep", "-n", "-I", "-m", "1", "omega", "main"}},
		{"grep rare regexp", func() error {
			_, err := open().Grep(ctx, "main", browse.GrepQuery{Pattern: `omega [0-9]+ psi`, MaxMatches: 1 << 30, MaxBytes: 1 << 40})
			return err
		}, []string{"grep", "-n", "-I", "-E", `omega [0-9]+ psi`, "main"}},
		{"log -- path (30)", func() error {
			_, err := open().Log(ctx, browse.LogQuery{Path: logPath, Limit: 30})
			return err
		}, []string{"log", "-n", "30", "--format=%H%x00%an%x00%ae%x00%at%x00%B", "main", "--", logPath}},
		{"log -- path (all)", func() error {
			_, err := open().Log(ctx, browse.LogQuery{Path: logPath, Limit: 1 << 30})
			return err
		}, []string{"log", "--format=%H%x00%an%x00%ae%x00%at%x00%B", "main", "--", logPath}},
		{"log (30)", func() error {
			_, err := open().Log(ctx, browse.LogQuery{Limit: 30})
			return err
		}, []string{"log", "-n", "30", "--format=%H%x00%an%x00%ae%x00%at%x00%B", "main"}},
	}

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("\n%-24s %12s %12s %8s\n", "operation", "tapioca", "git", "ratio")
	for _, o := range ops {
		if !strings.Contains(o.name, only) {
			continue
		}
		var tt, gt []time.Duration
		for i := 0; i < runs; i++ {
			s := time.Now()
			if err := o.tap(); err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
			tt = append(tt, time.Since(s))
			g, err := timeGit(repo, o.git)
			if err != nil {
				return err
			}
			gt = append(gt, g)
		}
		t, g := median(tt), median(gt)
		fmt.Printf("%-24s %12s %12s %7.2fx\n", o.name, round(t), round(g), float64(t)/float64(g))
	}
	fmt.Println("\nratio = tapioca / git (median wall time; below 1 means tapioca is faster)")
	if !endpoints {
		return nil
	}
	return runEndpoints(work, repo, runs, only, early, late, readPath)
}

// timeGit runs git args in repo and returns the wall time; exit status 1
// (grep found nothing) is not an error.
func timeGit(repo string, args []string) (time.Duration, error) {
	s := time.Now()
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			return 0, fmt.Errorf("git %v: %w", args, err)
		}
	}
	return time.Since(s), nil
}

// synthRepo makes a bare repository: files of 1-6 KB of words in 50
// directories, then commits that each rewrite a few lines of three files.
func synthRepo(repo string, commits, files int) ([]string, error) {
	if err := gitRun("", nil, "init", "-q", "--bare", "-b", "main", repo); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	para := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[r.IntN(len(words))])
			if r.IntN(40) == 0 {
				fmt.Fprintf(&sb, " %d", r.IntN(1000))
			}
			if r.IntN(10) == 0 {
				sb.WriteByte('\n')
			} else {
				sb.WriteByte(' ')
			}
		}
		return sb.String() + "\n"
	}
	paths := synthPaths(files)
	content := make([]string, files)
	var s bytes.Buffer
	data := func(d string) { fmt.Fprintf(&s, "data %d\n%s\n", len(d), d) }
	fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\n")
	data("initial import")
	for i := range paths {
		content[i] = para(1000 + r.IntN(5000))
		fmt.Fprintf(&s, "M 100644 inline %s\n", paths[i])
		data(content[i])
	}
	for c := 1; c < commits; c++ {
		fmt.Fprintf(&s, "commit refs/heads/main\nauthor Author %d <a%d@example.com> %d +0000\ncommitter Bench <bench@example.com> %d +0000\n",
			c%7, c%7, 1700000000+c*60, 1700000000+c*60)
		data(fmt.Sprintf("change %d\n\nRewrites a few lines.", c))
		for k := 0; k < 3; k++ {
			i := r.IntN(files)
			if k == 0 && c%10 == 0 {
				i = 7 // one file changes often, for the path log
			}
			lines := strings.Split(content[i], "\n")
			lines[r.IntN(len(lines))] = strings.TrimSuffix(para(60), "\n")
			content[i] = strings.Join(lines, "\n")
			fmt.Fprintf(&s, "M 100644 inline %s\n", paths[i])
			data(content[i])
		}
	}
	if err := gitRun(repo, &s, "fast-import", "--quiet"); err != nil {
		return nil, err
	}
	if err := gitRun(repo, nil, "repack", "-adq"); err != nil {
		return nil, err
	}
	return paths, nil
}

func synthPaths(files int) []string {
	paths := make([]string, files)
	for i := range paths {
		paths[i] = fmt.Sprintf("src/d%02d/f%04d.txt", i%50, i)
	}
	return paths
}

func gitRun(dir string, stdin io.Reader, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %v: %s", args[0], err, stderr.String())
	}
	return nil
}

func revParse(repo, rev string) string {
	cmd := exec.Command("git", "rev-parse", rev)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		panic(fmt.Sprintf("rev-parse %s: %v", rev, err))
	}
	return strings.TrimSpace(string(out))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
