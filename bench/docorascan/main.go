// Command docorascan measures what a watched repository's initial scan
// costs the server: memory above all, which must not grow with the
// number of files. For each size it makes a synthetic upstream of that
// many files, serves it with C git's http-backend (through net/http/cgi),
// runs the built `tapioca serve` with --github-url pointing there,
// onboards an app with `tapioca admin app create`, registers the
// repository and receives every file (checking each signature), while
// sampling the server process's resident memory. It prints, per size,
// the resident memory before registering, the peak (the kernel's VmHWM,
// which counts the pages of mapped pack files too), the peak of
// anonymous memory (RssAnon, sampled every 10 ms: the heap and stacks,
// what the process really holds), and how long until the last file
// arrived.
//
//	go run ./bench/docorascan [-files 1000,10000] [-size 2048]
//
// Linux only: memory is read from /proc/<pid>/status.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const secret = "bench-secret"

func main() {
	sizes := flag.String("files", "1000,10000", "comma-separated numbers of files in the upstream, one run each")
	size := flag.Int("size", 2048, "average bytes per file")
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "docorascan: -files must list positive numbers")
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	if err := run(counts, *size); err != nil {
		fmt.Fprintln(os.Stderr, "docorascan:", err)
		os.Exit(1)
	}
}

func run(counts []int, size int) error {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		return errors.New("needs Linux (/proc) to read the server's memory")
	}
	work, err := os.MkdirTemp("", "docorascan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "tapioca")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return errors.New("needs the git client (for fast-import and http-backend)")
	}
	root := filepath.Join(work, "upstreams")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upstream := &http.Server{Handler: &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + work}}}
	go upstream.Serve(ln)
	defer upstream.Close()
	githubURL := "http://" + ln.Addr().String()

	fmt.Printf("%-7s %-10s %-12s %-12s %-12s %-10s %-9s\n", "files", "content", "rss before", "peak rss", "peak anon", "scan time", "files/s")
	for _, n := range counts {
		r, err := measure(work, bin, root, githubURL, n, size)
		if err != nil {
			return fmt.Errorf("%d files: %w", n, err)
		}
		fmt.Printf("%-7d %-10s %-12s %-12s %-12s %-10s %-9.0f\n", n, mb(r.content), mb(r.before), mb(r.peak), mb(r.peakAnon),
			r.took.Round(10*time.Millisecond), float64(n)/r.took.Seconds())
	}
	fmt.Println("\npeak rss = the server process's VmHWM over its whole life (start, sync, scan, deliveries),")
	fmt.Println("  mapped pack files included; peak anon = the highest RssAnon sampled from registration on")
	return nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

type result struct {
	content, before, peak, peakAnon int64
	took                            time.Duration
}

// makeUpstream writes a bare repository of n files (one commit) with
// fast-import and returns the bytes of content.
func makeUpstream(dir string, n, size int) (int64, error) {
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", dir).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("git init: %v %s", err, out)
	}
	var b bytes.Buffer
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau")
	b.WriteString("commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 5\nscan\n")
	var total int64
	for i := 0; i < n; i++ {
		var c strings.Builder
		target := size/2 + rng.IntN(size+1)
		for c.Len() < target {
			c.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(12) == 0 {
				c.WriteByte('\n')
			} else {
				c.WriteByte(' ')
			}
		}
		total += int64(c.Len())
		fmt.Fprintf(&b, "M 100644 inline d%02d/s%02d/file%05d.txt\ndata %d\n%s\n", i%50, (i/50)%20, i, c.Len(), c.String())
	}
	cmd := exec.Command("git", "--git-dir", dir, "fast-import", "--quiet")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("fast-import: %v %s", err, out)
	}
	return total, nil
}

func measure(work, bin, root, githubURL string, n, size int) (*result, error) {
	name := fmt.Sprintf("up%d", n)
	content, err := makeUpstream(filepath.Join(root, "bench", name+".git"), n, size)
	if err != nil {
		return nil, err
	}

	// The app's receiver: counts each delivery once, checks signatures.
	var mu sync.Mutex
	seen := map[string]bool{}
	var bad int
	done := make(chan struct{})
	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		ok := hmac.Equal([]byte("sha256="+hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-Docora-Signature")))
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			bad++
		}
		seen[r.Header.Get("X-Docora-Delivery")] = true
		if len(seen) == n {
			close(done)
		}
	})}
	go recv.Serve(recvLn)
	defer recv.Close()

	data := filepath.Join(work, "data-"+name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--github-url", githubURL,
		"--outbound-allow-loopback", "--admin-password", "bench-admin-password", "--log-level", "warn", "--ssh-addr", "")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cancel() // SIGTERM, then wait for the shutdown
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	base := ""
	for sc.Scan() {
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			base = "http://" + m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if base == "" {
		return nil, errors.New("the server did not start")
	}
	out, err := exec.Command(bin, "admin", "app", "create", "--data", data, "--name", "bench", "--url",
		"http://"+recvLn.Addr().String()+"/app", "--secret", secret, "--outbound-allow-loopback").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("admin app create: %v %s", err, out)
	}
	tok := regexp.MustCompile(`Token: (docora_\S+)`).FindSubmatch(out)
	if tok == nil {
		return nil, fmt.Errorf("no token in %q", out)
	}
	time.Sleep(time.Second) // let start-up settle before the baseline
	pid := cmd.Process.Pid
	before, _, _, err := memory(pid)
	if err != nil {
		return nil, err
	}
	var peakAnon int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, _, anon, err := memory(pid); err == nil {
				peakAnon = max(peakAnon, anon)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	body, _ := json.Marshal(map[string]string{"github_url": githubURL + "/bench/" + name})
	req, _ := http.NewRequest("POST", base+"/api/repositories", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+string(tok[1]))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("register: %d %s", resp.StatusCode, reply)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Minute):
		return nil, fmt.Errorf("only %d of %d files arrived", len(seen), n)
	}
	took := time.Since(start)
	close(stopSampling)
	<-sampled
	_, peak, _, err := memory(pid)
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		return nil, fmt.Errorf("%d deliveries with a bad signature", bad)
	}
	return &result{content: content, before: before, peak: peak, peakAnon: peakAnon, took: took}, nil
}

// memory reads a process's resident set size now and at its peak, and
// its anonymous part now.
func memory(pid int) (rss, hwm, anon int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		case "RssAnon:":
			anon = kb << 10
		}
	}
	return rss, hwm, anon, nil
}
