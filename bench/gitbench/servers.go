package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"tapioca/gitserver"
)

// The two servers run as child processes of the bench, each started
// fresh for every measured operation, so that what one run leaves behind
// (heap, caches, peak RSS) is not charged to the next. Both answer
// GET /_rusage with what the operation cost on the server side:
//
//   - tapioca: the process itself (getrusage RUSAGE_SELF), since the
//     whole server is that one process;
//   - git http-backend: the CGI processes and their descendants
//     (http-backend, upload-pack or receive-pack, pack-objects,
//     index-pack, rev-list), not the Go process that only relays bytes
//     between HTTP and CGI, as Apache or nginx would. CPU is
//     getrusage(RUSAGE_CHILDREN). Peak RSS is measured in a run of its
//     own (-measure-rss), the largest that GNU time reports for one
//     request; the wrapper costs ~6 ms of CPU a request, which must not
//     be charged to git in the timed runs.
//
// Why GNU time for RSS: Go starts processes with vfork semantics
// (CLONE_VM), and exec records the memory high-water mark of the
// address space it leaves, which is the relay's, into the child's
// ru_maxrss. Every git process would then report at least the relay's
// ~8-10 MiB, where upload-pack answering ls-remote peaks at ~5 MiB.
// time(1) forks a copy of its own small address space instead, and
// reports its child's peak (with the child's descendants) from wait4.

// usage is what /_rusage answers.
type usage struct {
	CPU    time.Duration `json:"cpu_ns"`
	MaxRSS int64         `json:"maxrss_bytes"`
}

func rusage(who int) usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return usage{CPU: cpu, MaxRSS: ru.Maxrss * 1024}
}

// peakRSS is this process's own memory high-water mark, VmHWM in
// /proc/self/status. getrusage's ru_maxrss would not do: this process was
// started by the bench's Go process with vfork semantics, so its
// ru_maxrss starts at whatever the bench held when it started us (the
// same trap as for git's processes, described above).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err != nil {
				return 0, fmt.Errorf("peak RSS: %q: %w", line, err)
			}
			return kib * 1024, nil
		}
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc/self/status")
}

// writeSelfUsage answers /_rusage for a server whose whole cost is its
// own process.
func writeSelfUsage(w http.ResponseWriter) {
	u := rusage(syscall.RUSAGE_SELF)
	hwm, err := peakRSS()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	u.MaxRSS = hwm
	json.NewEncoder(w).Encode(u)
}

// serveTapioca is the child process mode "serve-tapioca": gitserver's
// smart-HTTP handlers for the bare repositories under -root, without
// the forge around them (accounts, database, API), which would only add
// a constant to every figure.
func serveTapioca(args []string) error {
	fs := flag.NewFlagSet("serve-tapioca", flag.ExitOnError)
	root := fs.String("root", "", "directory holding the bare repositories")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the process's life to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile when the process stops")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	srv := gitserver.New(gitserver.Config{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_rusage" {
			writeSelfUsage(w)
			return
		}
		p := r.URL.Path
		for _, suffix := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
			name, ok := strings.CutSuffix(p, suffix)
			if !ok {
				continue
			}
			repo := filepath.Join(*root, filepath.Clean("/"+name))
			switch suffix {
			case "/info/refs":
				srv.ServeInfoRefs(w, r, repo, r.URL.Query().Get("service"))
			case "/git-upload-pack":
				srv.ServeUploadPack(w, r, repo)
			default:
				srv.ServeReceivePack(w, r, repo, gitserver.ReceiveOptions{})
			}
			return
		}
		http.NotFound(w, r)
	})
	return serveUntilSignal(h, func() {
		if *cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		if *memprofile != "" {
			if f, err := os.Create(*memprofile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	})
}

// serveFloor is the child process mode "serve-floor": a Go net/http
// server that answers every request with a few bytes, and /_rusage as
// the others do. Its peak RSS is the floor under any Go HTTP server on
// this machine: the runtime, net/http and the binary's mapped pages.
func serveFloor(args []string) error {
	return serveUntilSignal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_rusage" {
			writeSelfUsage(w)
			return
		}
		io.WriteString(w, "ok\n")
	}), func() {})
}

// printFloor says what a server process holds before it serves any git:
// a trivial net/http handler in this same binary (so with the same
// runtime, package initialisation and mapped pages) after one request,
// and Tapioca's git server after the same request, so that the peak RSS
// figures below can be read against them. C git starts a process of
// 4-5 MiB for each request instead.
func printFloor(work string) error {
	root, err := os.MkdirTemp(work, "floor-*")
	if err != nil {
		return err
	}
	var peaks []string
	for _, mode := range []string{"serve-floor", "serve-tapioca"} {
		srv, err := startServer(context.Background(), mode, "-root", root)
		if err != nil {
			return err
		}
		var u usage
		resp, err := http.Get(srv.base + "/none/info/refs")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			u, err = srv.usage()
		}
		if stopErr := srv.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		peaks = append(peaks, fmt.Sprintf("%.1f MiB", float64(u.MaxRSS)/(1<<20)))
	}
	fmt.Printf("peak RSS after one request: a trivial net/http handler in this binary %s, Tapioca's git server %s\n", peaks[0], peaks[1])
	return nil
}

// serveCgit is the child process mode "serve-cgit": C git's own
// `git http-backend` for the repositories under -root, through
// net/http/cgi, with protocol v2 (http-backend passes the Git-Protocol
// header on), partial clone and fetches by object id allowed, and push
// enabled.
func serveCgit(args []string) error {
	fs := flag.NewFlagSet("serve-cgit", flag.ExitOnError)
	root := fs.String("root", "", "directory holding the bare repositories")
	measureRSS := fs.Bool("measure-rss", false, "run each CGI process under GNU time and report the largest peak RSS")
	fs.Parse(args)
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "gitbench-cgit-home-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	config := [][2]string{
		{"uploadpack.allowFilter", "true"},
		{"uploadpack.allowAnySHA1InWant", "true"},
		{"http.receivepack", "true"},
		{"receive.autogc", "false"}, // no detached gc outliving the measurement
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + *root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=bench",
		"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"),
		fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(config)),
	}
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	timePath := ""
	if *measureRSS {
		if timePath, err = exec.LookPath("/usr/bin/time"); err != nil {
			return fmt.Errorf("GNU time is needed to measure git's peak RSS (Debian: apt-get install time): %w", err)
		}
	}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	inflight, seq := 0, 0
	var total usage
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_rusage" {
			// A request counts once its CGI process has exited: let
			// the last one finish first.
			mu.Lock()
			for inflight > 0 {
				cond.Wait()
			}
			u := total
			mu.Unlock()
			u.CPU = rusage(syscall.RUSAGE_CHILDREN).CPU
			json.NewEncoder(w).Encode(u)
			return
		}
		mu.Lock()
		inflight++
		seq++
		report := filepath.Join(home, fmt.Sprintf("rusage-%d", seq))
		mu.Unlock()
		backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: env}
		if timePath != "" {
			backend.Path, backend.Args = timePath, []string{"-f", "%U %S %M", "-o", report, gitPath, "http-backend"}
		}
		backend.ServeHTTP(w, r)
		var u usage
		if timePath != "" {
			if u, err = readTimeReport(report); err != nil {
				fmt.Fprintln(os.Stderr, "serve-cgit:", err)
			}
		}
		mu.Lock()
		total.MaxRSS = max(total.MaxRSS, u.MaxRSS)
		inflight--
		cond.Broadcast()
		mu.Unlock()
	})
	return serveUntilSignal(h, func() {})
}

// readTimeReport reads what `time -f "%U %S %M"` wrote: user and
// system seconds (to the hundredth: the bench takes CPU from getrusage)
// and peak RSS in KiB, on the last line (a line before it says when the
// command failed).
func readTimeReport(path string) (usage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return usage{}, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var user, sys float64
	var kib int64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%f %f %d", &user, &sys, &kib); err != nil {
		return usage{}, fmt.Errorf("%s: %q: %w", path, b, err)
	}
	return usage{CPU: time.Duration((user + sys) * float64(time.Second)), MaxRSS: kib * 1024}, nil
}

// serveUntilSignal serves h on a free port of 127.0.0.1, prints the
// address as the first line of stdout, and returns after SIGTERM, once
// stop ran.
func serveUntilSignal(h http.Handler, stop func()) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	<-sig
	srv.Close()
	stop()
	return nil
}

// serverProc is a running server child.
type serverProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	done chan error

	once    sync.Once
	stopErr error
}

// startServer runs this executable in mode with args and waits for its
// address.
func startServer(ctx context.Context, mode string, args ...string) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{mode}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start: %w", mode, err)
	}
	p := &serverProc{cmd: cmd, base: "http://" + strings.TrimSpace(line), done: make(chan error, 1)}
	go func() {
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	return p, nil
}

func (p *serverProc) usage() (usage, error) {
	var u usage
	resp, err := http.Get(p.base + "/_rusage")
	if err != nil {
		return u, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return u, fmt.Errorf("/_rusage: %s", resp.Status)
	}
	return u, json.NewDecoder(resp.Body).Decode(&u)
}

// stop ends the server and waits for it (SIGTERM, then SIGKILL); it
// may be called more than once.
func (p *serverProc) stop() error {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) { // an exit status is our signal's doing
				p.stopErr = err
			}
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			p.stopErr = fmt.Errorf("server did not stop: %w", <-p.done)
		}
	})
	return p.stopErr
}

// maintainRepo is the child process mode "maintain": Tapioca's
// maintenance on one repository, as its scheduler runs it.
func maintainRepo(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: gitbench maintain <repo.git>")
	}
	srv := gitserver.New(gitserver.Config{})
	res, err := srv.Maintain(context.Background(), args[0])
	if err != nil {
		return err
	}
	fmt.Printf("maintain %s: %+v\n", args[0], res)
	return nil
}
