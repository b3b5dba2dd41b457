// Command gitbench compares git over HTTP served by Tapioca with C git's
// own `git http-backend` on the same repositories, in one run.
//
//	go run ./bench/gitbench [-repo PATH]... [-runs 5] [-ops clone,fetch50,...] [-cache DIR]
//
// Each -repo is a bare repository on disk (without -repo, a synthetic
// one is made with git fast-import). It is copied (branches and tags)
// and packed by `git gc` (one pack, C git's bitmap and commit-graph) for
// http-backend; Tapioca serves the same pack after its own maintenance.
// Every operation runs -runs times per server, alternating which server
// goes first, each time against a server process started for it alone
// (see servers.go), and the table gives the medians of: the client's
// wall time, the server's CPU time, and the server's peak RSS, with the
// ratios Tapioca / C git.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		if mode, ok := childModes[os.Args[1]]; ok {
			if err := mode(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "gitbench:", err)
				os.Exit(1)
			}
			return
		}
	}
	var cfg config
	flag.Var(&cfg.repos, "repo", "a bare repository to measure (repeatable; default: a synthetic one)")
	flag.IntVar(&cfg.commits, "commits", 3000, "commits in the synthetic repository")
	flag.IntVar(&cfg.files, "files", 2000, "files in the synthetic repository")
	flag.IntVar(&cfg.runs, "runs", 5, "runs per operation and server")
	opsFlag := flag.String("ops", "", "comma-separated operations to run (default all): "+strings.Join(opNames(), ","))
	flag.StringVar(&cfg.cache, "cache", "", "keep prepared repositories here and reuse them in later runs")
	flag.StringVar(&cfg.profile, "profile", "", "write CPU and allocation profiles of Tapioca's server here, one per run")
	flag.BoolVar(&cfg.verify, "verify", false, "fsck the first clone from each server and compare their object counts")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.Parse()
	if *opsFlag != "" {
		cfg.ops = strings.Split(*opsFlag, ",")
		for _, o := range cfg.ops {
			if !slices.Contains(opNames(), o) {
				fmt.Fprintf(os.Stderr, "gitbench: unknown operation %q (have %s)\n", o, strings.Join(opNames(), ","))
				os.Exit(2)
			}
		}
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gitbench:", err)
		os.Exit(1)
	}
}

// childModes are the processes the bench starts of itself.
var childModes = map[string]func(args []string) error{
	"serve-tapioca": serveTapioca,
	"serve-cgit":    serveCgit,
	"serve-floor":   serveFloor,
	"maintain":      maintainRepo,
}

type config struct {
	repos          repoList
	commits, files int
	runs           int
	ops            []string
	cache, profile string
	verify, keep   bool
}

type repoList []string

func (r *repoList) String() string     { return strings.Join(*r, ",") }
func (r *repoList) Set(s string) error { *r = append(*r, s); return nil }

func run(cfg config) error {
	work, err := os.MkdirTemp("", "gitbench-*")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Println("work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	cache := cfg.cache
	if cache == "" {
		cache = filepath.Join(work, "repos")
	}
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
	}
	ver, _ := exec.Command("git", "version").Output()
	fmt.Printf("gitbench: %d CPUs, %s, %s; load average %s", runtime.NumCPU(), runtime.Version(), strings.TrimSpace(string(ver)), loadAvg())

	if err := printFloor(work); err != nil {
		return err
	}

	type input struct{ label, path string }
	var inputs []input
	for _, p := range cfg.repos {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		inputs = append(inputs, input{repoLabel(abs), abs})
	}
	if len(inputs) == 0 {
		label := fmt.Sprintf("synthetic-%dc-%df", cfg.commits, cfg.files)
		src := filepath.Join(cache, label+"-src")
		if _, err := os.Stat(filepath.Join(src, ".git")); err != nil {
			fmt.Printf("building synthetic repository: %d commits over %d files...\n", cfg.commits, cfg.files)
			if err := synthRepo(src, cfg.commits, cfg.files); err != nil {
				return err
			}
		}
		inputs = append(inputs, input{label, src})
	}
	for _, in := range inputs {
		r, err := prepareRepo(in.label, in.path, filepath.Join(cache, in.label))
		if err != nil {
			return fmt.Errorf("prepare %s: %w", in.path, err)
		}
		if err := benchRepoOps(cfg, r, work); err != nil {
			return fmt.Errorf("%s: %w", in.label, err)
		}
	}
	return nil
}

// repoLabel names a repository for the tables: go-git for
// /work/.mirror/go-git+go-git/repo, else the directory name.
func repoLabel(path string) string {
	base := filepath.Base(path)
	if base == "repo" || base == ".git" {
		base = filepath.Base(filepath.Dir(path))
	}
	if _, name, ok := strings.Cut(base, "+"); ok {
		base = name
	}
	return strings.TrimSuffix(base, ".git")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown\n"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown\n"
	}
	return strings.Join(f[:3], " ") + "\n"
}

// side is one of the two servers.
type side struct {
	name  string   // "tapioca" or "git"
	mode  string   // child process mode
	args  []string // its flags besides -root
	root  string   // directory of the read-only served copies
	repo  string   // their pristine copies, for operations that push
	repo5 string
}

type sample struct {
	wall time.Duration
	u    usage
}

func benchRepoOps(cfg config, r *benchRepo, work string) error {
	fmt.Printf("\n%s: %d objects, %d commits, %.1f MiB pack, %d refs (%d in the ls-remote variant); fetch brings %d commits\n",
		r.Label, r.Objects, r.Commits, float64(r.PackBytes)/(1<<20), r.Refs, r.Refs5k, r.FetchCount)
	sides := []*side{
		{name: "tapioca", mode: "serve-tapioca", repo: r.Tap, repo5: r.Tap5k},
		{name: "git", mode: "serve-cgit", repo: r.Cgit, repo5: r.Cgit5k},
	}
	for _, s := range sides {
		s.root = filepath.Join(work, r.Label+"-serve-"+s.name)
		if err := linkTree(s.repo, filepath.Join(s.root, "repo.git"), nil); err != nil {
			return err
		}
		if err := linkTree(s.repo5, filepath.Join(s.root, "repo5k.git"), nil); err != nil {
			return err
		}
	}
	defer func() {
		for _, s := range sides {
			os.RemoveAll(s.root)
		}
	}()

	fmt.Printf("\n%-24s | %-27s | %-27s | %-25s\n", "", "wall time (client)", "server CPU", "server peak RSS")
	fmt.Printf("%-24s | %9s %9s %6s | %9s %9s %6s | %8s %8s %6s\n", "operation",
		"tapioca", "git", "ratio", "tapioca", "git", "ratio", "tapioca", "git", "ratio")
	for _, o := range allOps(r) {
		if len(cfg.ops) > 0 && !slices.Contains(cfg.ops, o.key) {
			continue
		}
		samples := map[string][]sample{}
		for i := 0; i < cfg.runs; i++ {
			order := sides
			if i%2 == 1 {
				order = []*side{sides[1], sides[0]}
			}
			for _, s := range order {
				sm, err := runOnce(cfg, r, o, s, i, work)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", o.name, s.name, err)
				}
				samples[s.name] = append(samples[s.name], sm)
			}
		}
		// git's peak RSS comes from one more run of its own: see
		// serveCgit.
		rssSide := *sides[1]
		rssSide.args = []string{"-measure-rss"}
		rss, err := runOnce(cfg, r, o, &rssSide, cfg.runs, work)
		if err != nil {
			return fmt.Errorf("%s on %s, measuring RSS: %w", o.name, rssSide.name, err)
		}
		t, g := medians(samples["tapioca"]), medians(samples["git"])
		g.u.MaxRSS = rss.u.MaxRSS
		fmt.Printf("%-24s | %9s %9s %5.2fx | %9s %9s %5.2fx | %7.1fM %7.1fM %5.2fx\n", o.name,
			round(t.wall), round(g.wall), ratio(t.wall, g.wall),
			round(t.u.CPU), round(g.u.CPU), ratio(t.u.CPU, g.u.CPU),
			mib(t.u.MaxRSS), mib(g.u.MaxRSS), float64(t.u.MaxRSS)/float64(g.u.MaxRSS))
	}
	fmt.Printf("\nratios are tapioca / git http-backend (medians of %d runs; below 1 means tapioca is cheaper); load average now %s", cfg.runs, loadAvg())
	return nil
}

// runOnce measures one operation on one server: a fresh server process
// (on a fresh copy of the repository when the operation writes to it),
// a fresh client copy, the client's wall time and the server's usage.
func runOnce(cfg config, r *benchRepo, o benchOp, s *side, i int, work string) (sample, error) {
	dir, err := os.MkdirTemp(work, "run-*")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	root := s.root
	if o.writes {
		root = filepath.Join(dir, "serve")
		src := s.repo
		if o.repo == "repo5k.git" {
			src = s.repo5
		}
		if o.empty {
			if err := git("", "init", "-q", "--bare", filepath.Join(root, o.repo)); err != nil {
				return sample{}, err
			}
		} else if err := linkTree(src, filepath.Join(root, o.repo), nil); err != nil {
			return sample{}, err
		}
	}
	args := append([]string{"-root", root}, s.args...)
	if cfg.profile != "" && s.name == "tapioca" {
		base := filepath.Join(cfg.profile, fmt.Sprintf("%s-%s-%d", r.Label, o.key, i))
		args = append(args, "-cpuprofile", base+".cpu.pprof", "-memprofile", base+".alloc.pprof")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := startServer(ctx, s.mode, args...)
	if err != nil {
		return sample{}, err
	}
	defer srv.stop()
	client := filepath.Join(dir, "client")
	if o.client != "" {
		if err := linkTree(o.client, client, nil); err != nil {
			return sample{}, err
		}
	} else if err := os.MkdirAll(client, 0o755); err != nil {
		return sample{}, err
	}
	url := srv.base + "/" + o.repo
	if o.client != "" {
		if err := git(client, "config", "remote.origin.url", url); err != nil {
			return sample{}, err
		}
	}
	before, err := srv.usage()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	if err := o.run(url, client); err != nil {
		return sample{}, err
	}
	wall := time.Since(start)
	after, err := srv.usage()
	if err != nil {
		return sample{}, err
	}
	if err := srv.stop(); err != nil {
		return sample{}, err
	}
	if cfg.verify && i < 2 && o.verify != nil {
		if err := o.verify(client, s.name); err != nil {
			return sample{}, fmt.Errorf("verify: %w", err)
		}
	}
	return sample{wall: wall, u: usage{CPU: after.CPU - before.CPU, MaxRSS: after.MaxRSS}}, nil
}

// benchOp is one measured operation: run is the client's command,
// against url, in a copy of client (or an empty directory).
type benchOp struct {
	key, name string
	repo      string // served repository: repo.git or repo5k.git
	client    string // client template to copy, "" for none
	writes    bool   // pushes: each run gets a fresh server copy
	empty     bool   // with writes: the server's repository starts empty
	run       func(url, dir string) error
	verify    func(dir, server string) error
}

var opKeys = []string{"clone", "depth1", "noop-fetch", "fetch50", "push50", "blobless", "ls-remote", "push1000", "push-all"}

func opNames() []string { return opKeys }

func allOps(r *benchRepo) []benchOp {
	counts := map[string]string{} // what each clone verified, per operation
	verifyClone := func(key string) func(dir, server string) error {
		return func(dir, server string) error {
			c := filepath.Join(dir, "c.git")
			if err := git(c, "fsck", "--no-progress", "--connectivity-only"); err != nil {
				return err
			}
			n, err := gitOut(c, "count-objects", "-v")
			if err != nil {
				return err
			}
			var inPack string
			for _, l := range strings.Split(n, "\n") {
				if strings.HasPrefix(l, "in-pack:") || strings.HasPrefix(l, "count:") {
					inPack += strings.TrimSpace(l) + " "
				}
			}
			if prev, ok := counts[key]; ok && prev != inPack {
				return fmt.Errorf("%s clone from %s holds %s, the other server's %s", key, server, inPack, prev)
			}
			counts[key] = inPack
			return nil
		}
	}
	fetchRef := fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", r.Branch, r.Branch)
	return []benchOp{
		{key: "clone", name: "clone (bare)", repo: "repo.git",
			run: func(url, dir string) error { return git(dir, "clone", "-q", "--bare", url, "c.git") }, verify: verifyClone("clone")},
		{key: "depth1", name: "clone --depth 1", repo: "repo.git",
			run: func(url, dir string) error { return git(dir, "clone", "-q", "--bare", "--depth", "1", url, "c.git") }, verify: verifyClone("depth1")},
		{key: "noop-fetch", name: "no-op fetch", repo: "repo.git", client: r.ClientFull,
			run: func(url, dir string) error { return git(dir, "fetch", "-q", "origin") }},
		{key: "fetch50", name: fmt.Sprintf("fetch %d commits", r.FetchCount), repo: "repo.git", client: r.ClientBehind,
			run: func(url, dir string) error { return git(dir, "fetch", "-q", "--no-tags", "origin", fetchRef) }},
		{key: "push50", name: "push 50 commits", repo: "repo.git", client: r.ClientPush50, writes: true,
			run: func(url, dir string) error { return git(dir, "push", "-q", "origin", "bench-push") }},
		{key: "blobless", name: "clone --filter=blob:none", repo: "repo.git",
			run: func(url, dir string) error {
				return git(dir, "clone", "-q", "--bare", "--filter=blob:none", url, "c.git")
			}, verify: verifyClone("blobless")},
		{key: "ls-remote", name: fmt.Sprintf("ls-remote (%d refs)", r.Refs5k), repo: "repo5k.git",
			run: func(url, dir string) error { _, err := gitOut(dir, "ls-remote", url); return err }},
		{key: "push1000", name: "push 1000 new refs", repo: "repo.git", client: r.ClientPush1k, writes: true,
			run: func(url, dir string) error {
				return git(dir, "push", "-q", "origin", "refs/heads/bench-new/*:refs/heads/bench-new/*")
			}},
		// The whole history into an empty repository, as a migration
		// does. A large postBuffer sends it with a Content-Length:
		// http-backend behind net/http/cgi refuses a chunked body.
		{key: "push-all", name: "push all into empty", repo: "repo.git", client: r.Cgit, writes: true, empty: true,
			run: func(url, dir string) error {
				return git(dir, "-c", "http.postBuffer=2147483647", "push", "-q", "origin", "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
			}},
	}
}

type med struct {
	wall time.Duration
	u    usage
}

func medians(ss []sample) med {
	var w, c []time.Duration
	var m []int64
	for _, s := range ss {
		w = append(w, s.wall)
		c = append(c, s.u.CPU)
		m = append(m, s.u.MaxRSS)
	}
	slices.Sort(m)
	return med{wall: median(w), u: usage{CPU: median(c), MaxRSS: m[len(m)/2]}}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := filepath.Join(os.TempDir(), "gitbench-home")
	os.MkdirAll(home, 0o755)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+home,
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	return cmd
}

func git(dir string, args ...string) error {
	_, err := gitOut(dir, args...)
	return err
}

func gitIn(dir, stdin string, args ...string) error {
	cmd := gitCmd(dir, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := gitCmd(dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(args) > 0 && args[0] == "rev-parse" {
			return "", err
		}
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
