// Command gitbench times git over HTTP against Tapioca and against C git's
// own `git http-backend` (served through net/http/cgi) on the same
// repository in one run, and prints the ratios.
//
//	go run ./bench/gitbench [-commits 3000] [-files 2000] [-runs 5]
//
// Both servers answer on 127.0.0.1; the repository is synthetic (made with
// git fast-import, so every run measures the same bytes). Each operation runs
// -runs times per server, alternating servers, and the median is reported.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

func main() {
	commits := flag.Int("commits", 3000, "commits in the synthetic repository")
	files := flag.Int("files", 2000, "files in the synthetic repository")
	runs := flag.Int("runs", 5, "runs per operation and server")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if err := run(*commits, *files, *runs, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "gitbench:", err)
		os.Exit(1)
	}
}

type server struct {
	name string
	url  string // clone URL of the repository, credentials included
}

func run(commits, files, runs int, keep bool) error {
	work, err := os.MkdirTemp("", "gitbench-*")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("work directory:", work)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return err
	}
	ver, _ := exec.Command("git", "version").Output()
	fmt.Printf("git client and http-backend: %s", ver)

	fmt.Printf("building synthetic repository: %d commits over %d files...\n", commits, files)
	src := filepath.Join(work, "src")
	if err := synthRepo(src, commits, files); err != nil {
		return err
	}

	bin := filepath.Join(work, "tapioca")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build tapioca: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tap, err := startTapioca(ctx, bin, filepath.Join(work, "data"))
	if err != nil {
		return err
	}
	tapURL, err := tap.createRepo("bench")
	if err != nil {
		return err
	}
	if err := git(src, "push", "-q", tapURL, "refs/heads/*:refs/heads/*"); err != nil {
		return fmt.Errorf("seed tapioca: %w", err)
	}

	// C git serves a bare copy of the same history.
	cgitRoot := filepath.Join(work, "cgit")
	if err := git(work, "clone", "-q", "--bare", src, filepath.Join(cgitRoot, "bench.git")); err != nil {
		return err
	}
	if err := git(filepath.Join(cgitRoot, "bench.git"), "config", "http.receivepack", "true"); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cgiSrv := &http.Server{Handler: &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + cgitRoot, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=bench"},
	}}
	go cgiSrv.Serve(ln)
	defer cgiSrv.Close()
	servers := []server{
		{"tapioca", tapURL},
		{"git http-backend", "http://" + ln.Addr().String() + "/bench.git"},
	}

	type op struct {
		name string
		prep func(s server, dir string) error
		run  func(s server, dir string) error
	}
	ops := []op{
		{
			name: "clone (full, bare)",
			run:  func(s server, dir string) error { return git(dir, "clone", "-q", "--bare", s.url, "c.git") },
		},
		{
			name: "clone --depth 1",
			run:  func(s server, dir string) error { return git(dir, "clone", "-q", "--depth", "1", s.url, "c") },
		},
		{
			name: "no-op fetch",
			prep: func(s server, dir string) error { return git(dir, "clone", "-q", "--bare", s.url, "c.git") },
			run:  func(s server, dir string) error { return git(filepath.Join(dir, "c.git"), "fetch", "-q", "origin") },
		},
		{
			name: "push 50 commits",
			prep: func(s server, dir string) error {
				if err := git(dir, "clone", "-q", s.url, "w"); err != nil {
					return err
				}
				w := filepath.Join(dir, "w")
				branch := fmt.Sprintf("bench-%d", rand.Int64())
				if err := git(w, "checkout", "-q", "-b", branch); err != nil {
					return err
				}
				for i := 0; i < 50; i++ {
					name := filepath.Join(w, fmt.Sprintf("push-%d.txt", i))
					content := strings.Repeat(fmt.Sprintf("line %d of push %s\n", i, branch), 20)
					if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
						return err
					}
					if err := git(w, "add", "."); err != nil {
						return err
					}
					if err := git(w, "commit", "-q", "-m", fmt.Sprintf("push commit %d", i)); err != nil {
						return err
					}
				}
				return nil
			},
			run: func(s server, dir string) error {
				return git(filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD")
			},
		},
	}

	fmt.Printf("\n%-22s %14s %18s %8s\n", "operation", "tapioca", "git http-backend", "ratio")
	for _, o := range ops {
		times := map[string][]time.Duration{}
		for i := 0; i < runs; i++ {
			for _, s := range servers {
				dir, err := os.MkdirTemp(work, "run-*")
				if err != nil {
					return err
				}
				if o.prep != nil {
					if err := o.prep(s, dir); err != nil {
						return fmt.Errorf("%s prep on %s: %w", o.name, s.name, err)
					}
				}
				start := time.Now()
				if err := o.run(s, dir); err != nil {
					return fmt.Errorf("%s on %s: %w", o.name, s.name, err)
				}
				times[s.name] = append(times[s.name], time.Since(start))
				os.RemoveAll(dir)
			}
		}
		t, c := median(times["tapioca"]), median(times["git http-backend"])
		fmt.Printf("%-22s %14s %18s %7.2fx\n", o.name, round(t), round(c), float64(t)/float64(c))
	}
	fmt.Println("\nratio = tapioca / git http-backend (median wall time; below 1 means tapioca is faster)")
	return nil
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// synthRepo writes a repository with realistic churn through fast-import:
// each commit edits a few lines of a few files, so packs hold real deltas.
func synthRepo(dir string, commits, files int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := git(dir, "init", "-q", "-b", "master"); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	contents := make([][]string, files)
	for i := range contents {
		n := 20 + r.IntN(200)
		lines := make([]string, n)
		for j := range lines {
			lines[j] = fmt.Sprintf("file %d line %d: %x", i, j, r.Uint64())
		}
		contents[i] = lines
	}
	var buf bytes.Buffer
	when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for c := 0; c < commits; c++ {
		fmt.Fprintf(&buf, "commit refs/heads/master\ncommitter Bench <bench@example.com> %d +0000\n", when+int64(c)*60)
		msg := fmt.Sprintf("commit %d", c)
		fmt.Fprintf(&buf, "data %d\n%s\n", len(msg), msg)
		var touched []int
		if c == 0 {
			for i := 0; i < files; i++ {
				touched = append(touched, i)
			}
		} else {
			for k := 0; k < 1+r.IntN(4); k++ {
				f := r.IntN(files)
				lines := contents[f]
				lines[r.IntN(len(lines))] = fmt.Sprintf("edited in %d: %x", c, r.Uint64())
				if r.IntN(3) == 0 {
					contents[f] = append(lines, fmt.Sprintf("added in %d", c))
				}
				touched = append(touched, f)
			}
		}
		for _, f := range touched {
			body := strings.Join(contents[f], "\n") + "\n"
			fmt.Fprintf(&buf, "M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n", f%40, f, len(body), body)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("fast-import: %w: %s", err, out)
	}
	if err := git(dir, "reset", "-q", "--hard", "master"); err != nil {
		return err
	}
	return git(dir, "gc", "-q")
}

type tapioca struct {
	base  string
	token string
}

func startTapioca(ctx context.Context, bin, data string) (*tapioca, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--ssh-addr", "", "--data", data, "--base-url", base,
		"--admin-password", "bench-password", "--rate-limit-auth", "1000000", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			return nil, errors.New("tapioca did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t := &tapioca{base: base}
	var login struct {
		Token string `json:"token"`
	}
	if err := t.call("POST", "/api/v1/tokens", map[string]any{"email": "admin", "password": "bench-password"}, &login); err != nil {
		return nil, err
	}
	t.token = login.Token
	return t, nil
}

func (t *tapioca) call(method, path string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, t.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}

func (t *tapioca) createRepo(name string) (string, error) {
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	if err := t.call("POST", "/api/v1/user/repos", map[string]any{"name": name}, &repo); err != nil {
		return "", err
	}
	return regexp.MustCompile(`^http://`).ReplaceAllString(repo.CloneURL, "http://"+t.token+"@"), nil
}
