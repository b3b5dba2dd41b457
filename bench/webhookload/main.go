// Command webhookload measures whether a webhook backlog slows the API: it
// runs the real binary, measures API latency idle, queues 1,000 webhook
// deliveries against a deliberately slow receiver, measures again while
// they drain, and prints both p99s and their ratio (target: within 2×).
//
//	go run ./bench/webhookload [-events 1000] [-delay 500ms] [-requests 3000] [-concurrency 4]
//
// The probe requests (two reads and one write per round) go to a
// repository whose owner has no hooks, so measuring adds no deliveries;
// the backlog comes from issues opened in a repository whose owner has 10
// hooks, each event fanning out to all of them.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const hooks = 10

func main() {
	events := flag.Int("events", 1000, "webhook deliveries to queue (multiple of 10)")
	delay := flag.Duration("delay", 500*time.Millisecond, "how long the receiver takes to answer each delivery")
	requests := flag.Int("requests", 3000, "API requests per measurement")
	concurrency := flag.Int("concurrency", 4, "concurrent API clients")
	flag.Parse()
	if err := run(*events, *delay, *requests, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
}

type api struct {
	base   string
	token  string
	client *http.Client
}

func (a *api) do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// total is the X-Total-Count of a list.
func (a *api) total(path string) (int, error) {
	req, err := http.NewRequest("GET", a.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return strconv.Atoi(resp.Header.Get("X-Total-Count"))
}

// must does a request that has to answer want and decodes the answer.
func (a *api) must(want int, method, path string, body any, out any) error {
	code, data, err := a.do(method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != want {
		return fmt.Errorf("%s %s: %d %s", method, path, code, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func run(events int, delay time.Duration, requests, concurrency int) error {
	work, err := os.MkdirTemp("", "webhookload-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The slow receiver.
	var received atomic.Int64
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		received.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	go recv.Serve(rln)
	defer recv.Close()

	bin := filepath.Join(work, "tapioca")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build tapioca: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--ssh-addr", "", "--data", filepath.Join(work, "data"),
		"--admin-password", "bench-password", "--rate-limit-auth", "100000000", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	addr := ""
	for sc.Scan() {
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		return fmt.Errorf("server did not start")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 4}}
	anon := &api{base: "http://" + addr, client: client}

	// Accounts: "hooked" owns the repository with the hooks; "prober"
	// owns the repository the measurements use.
	login := func(name string) (*api, error) {
		var out struct {
			Token string `json:"token"`
		}
		err := anon.must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{"username": name,
			"user": map[string]any{"email": name + "@example.com", "password": "password123", "password_confirmation": "password123"}}, &out)
		return &api{base: anon.base, token: out.Token, client: client}, err
	}
	hooked, err := login("hooked")
	if err != nil {
		return err
	}
	prober, err := login("prober")
	if err != nil {
		return err
	}
	for _, c := range []*api{hooked, prober} {
		if err := c.must(http.StatusCreated, "POST", "/api/v1/user/repos", map[string]any{"name": "load", "auto_init": true}, nil); err != nil {
			return err
		}
	}
	if err := prober.must(http.StatusCreated, "POST", "/api/v1/repos/prober/load/issues", map[string]any{"title": "probe"}, nil); err != nil {
		return err
	}
	var hookIDs []int64
	for i := 0; i < hooks; i++ {
		var h struct {
			ID int64 `json:"id"`
		}
		if err := hooked.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
			"url": fmt.Sprintf("http://%s/hook/%d", rln.Addr(), i), "secret": "bench", "events": []string{"issues"}}, &h); err != nil {
			return err
		}
		hookIDs = append(hookIDs, h.ID)
	}

	probe := func(n int) ([]time.Duration, error) {
		var mu sync.Mutex
		var lat []time.Duration
		var firstErr error
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < concurrency; w++ {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					var method, path string
					var body any
					switch i % 3 {
					case 0:
						method, path = "GET", "/api/v1/repos/prober/load"
					case 1:
						method, path = "GET", "/api/v1/repos/prober/load/issues"
					default:
						method, path, body = "POST", "/api/v1/repos/prober/load/issues/1/comments", map[string]any{"body": "probe comment"}
					}
					start := time.Now()
					code, data, err := prober.do(method, path, body)
					d := time.Since(start)
					mu.Lock()
					if err == nil && code >= 300 {
						err = fmt.Errorf("%s %s: %d %s", method, path, code, data)
					}
					if err != nil && firstErr == nil {
						firstErr = err
					}
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat, firstErr
	}
	pct := func(lat []time.Duration, p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }

	if _, err := probe(requests / 5); err != nil { // warm-up
		return err
	}
	idle, err := probe(requests)
	if err != nil {
		return err
	}
	fmt.Printf("idle:   %d requests, p50 %v, p99 %v\n", len(idle), pct(idle, .5).Round(time.Microsecond), pct(idle, .99).Round(time.Microsecond))

	// Queue the backlog: events/hooks issues, each fanning out to every hook.
	start := time.Now()
	var wg sync.WaitGroup
	var queueErr atomic.Value
	for w := 0; w < concurrency; w++ {
		wg.Go(func() {
			for i := w; i < events/hooks; i += concurrency {
				if err := hooked.must(http.StatusCreated, "POST", "/api/v1/repos/hooked/load/issues", map[string]any{"title": fmt.Sprintf("event %d", i)}, nil); err != nil {
					queueErr.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := queueErr.Load().(error); err != nil {
		return err
	}
	fmt.Printf("queued: %d deliveries to %d hooks in %v (receiver answers each in %v)\n", events, hooks, time.Since(start).Round(time.Millisecond), delay)

	loaded, err := probe(requests)
	if err != nil {
		return err
	}
	waiting := 0
	for _, id := range hookIDs {
		for _, st := range []string{"pending", "retrying"} {
			n, err := hooked.total(fmt.Sprintf("/api/v1/user/webhooks/%d/deliveries?status=%s&per_page=1", id, st))
			if err != nil {
				return err
			}
			waiting += n
		}
	}
	fmt.Printf("loaded: %d requests, p50 %v, p99 %v (delivered during the run: %d, still queued after it: %d)\n",
		len(loaded), pct(loaded, .5).Round(time.Microsecond), pct(loaded, .99).Round(time.Microsecond), received.Load(), waiting)
	ratio := float64(pct(loaded, .99)) / float64(pct(idle, .99))
	verdict := "within 2x"
	if ratio > 2 {
		verdict = "OVER 2x"
	}
	fmt.Printf("p99 loaded/idle: %.2fx (%s)\n", ratio, verdict)
	if waiting == 0 {
		fmt.Println("note: the backlog drained before the measurement ended; raise -events or -delay for a harder test")
	}
	return nil
}
