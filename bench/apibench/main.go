// Command apibench measures how the API's reads and writes scale with the
// number of issues in a repository. It builds the tapioca binary, starts it
// on 127.0.0.1 with a temporary data directory, seeds one repository per
// size (default 1,000, 20,000 and 100,000 issues) and drives load with its
// own HTTP load generator (keep-alive connections, each sending its next
// request when the last one answered), printing requests/s, p50 and p99
// (each row measures every size in turn, in rounds, so that other load on
// the machine weighs on all sizes alike) for
//
//   - the issue list, first page and the page before the last, for every
//     sort (created, updated, comments) and direction;
//   - GET repository and GET user;
//   - issue creation and comment creation;
//
// and, for every row, the slowdown between the smallest and the largest
// repository: requests/s at the smallest size divided by requests/s at the
// largest (issue 16's goal: at most 1.5 for the list rows).
//
//	go run ./bench/apibench [-sizes 1000,20000,100000] [-duration 6s] [-rounds 3] [-conns 16] [-data DIR]
//
// Seeding goes through the store package while the server is stopped (the
// API would take minutes for 121,000 issues): the user, token and empty
// repositories are made through the API, the issues (a quarter of them
// closed, some with comments so that the comments sort has something to
// sort) by store.CreateIssue in batched transactions, then the server is
// started again on the same data. -data keeps the seeded directory and
// reuses it on the next run, which then skips seeding and starts from a
// copy of the database as it was seeded (issue creation adds issues); the
// new binary migrates it on start, as an upgrade would.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tapioca/store"
)

func main() {
	sizesFlag := flag.String("sizes", "1000,20000,100000", "issues per repository, comma-separated; the slowdown compares the first and the last")
	duration := flag.Duration("duration", 6*time.Second, "measuring time per row and size, split over the rounds (each after a warm-up of a fifth of it)")
	rounds := flag.Int("rounds", 3, "rounds per row: each measures every size in turn")
	conns := flag.Int("conns", 16, "concurrent connections")
	perPage := flag.Int("per-page", 30, "issues per list page")
	data := flag.String("data", "", "data directory to keep and reuse (default: a temporary one, removed at the end)")
	only := flag.String("only", "", "run only the rows whose name contains this")
	bin := flag.String("bin", "", "tapioca binary to measure (default: built from this checkout)")
	flag.Parse()
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "apibench: bad size %q\n", s)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "apibench: -rounds must be at least 1")
		os.Exit(2)
	}
	b := &bench{sizes: sizes, duration: *duration, rounds: *rounds, conns: *conns, perPage: *perPage, data: *data, only: *only, bin: *bin}
	if err := b.run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

type bench struct {
	sizes    []int
	duration time.Duration
	rounds   int
	conns    int
	perPage  int
	data     string
	only     string

	bin    string
	base   string
	token  string
	client *http.Client
}

const (
	benchUser     = "bench"
	benchPassword = "bench-password-1"
)

func repoName(size int) string { return fmt.Sprintf("issues-%d", size) }

func (b *bench) run(ctx context.Context) error {
	work, err := os.MkdirTemp("", "apibench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if b.data == "" {
		b.data = filepath.Join(work, "data")
	}
	if b.bin == "" {
		b.bin = filepath.Join(work, "tapioca")
		build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build tapioca: %w", err)
		}
	}
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.conns * 2, MaxConnsPerHost: b.conns * 2}}

	// The seeded database is kept beside the live one and copied back on
	// reuse: issue creation adds thousands of issues per run, and every
	// run must start from the same sizes.
	tokenFile := filepath.Join(b.data, "apibench-token")
	seeded := filepath.Join(b.data, "apibench-seeded.db")
	if tok, err := os.ReadFile(tokenFile); err == nil {
		b.token = strings.TrimSpace(string(tok))
		fmt.Fprintf(os.Stderr, "reusing seeded data in %s\n", b.data)
		if err := restoreDB(seeded, filepath.Join(b.data, "tapioca.db")); err != nil {
			return err
		}
	} else {
		if err := b.seed(ctx, tokenFile, seeded); err != nil {
			return err
		}
	}

	stop, err := b.start(ctx)
	if err != nil {
		return err
	}
	defer stop()

	// Each row measures every size in turn, in rounds, so that whatever
	// else the machine is doing meanwhile weighs on all sizes alike and
	// the ratio between them stays meaningful.
	deep := map[int]int{}
	for _, size := range b.sizes {
		total, err := b.total(ctx, repoPath(size)+"/issues?per_page=1")
		if err != nil {
			return err
		}
		last := max(1, (total+b.perPage-1)/b.perPage)
		deep[size] = max(1, last-1)
		fmt.Fprintf(os.Stderr, "%d issues: %d open, %d pages; deep page %d\n", size, total, last, deep[size])
	}
	var rows []row
	for _, sort := range []string{"created", "updated", "comments"} {
		for _, dir := range []string{"desc", "asc"} {
			for _, pg := range []string{"first", "deep"} {
				rows = append(rows, row{name: fmt.Sprintf("issues %s %s, %s page", sort, dir, pg), method: http.MethodGet, want: http.StatusOK,
					path: func(size int) string {
						n := 1
						if pg == "deep" {
							n = deep[size]
						}
						return fmt.Sprintf("%s/issues?sort=%s&direction=%s&per_page=%d&page=%d", repoPath(size), sort, dir, b.perPage, n)
					}})
			}
		}
	}
	rows = append(rows,
		row{name: "GET repository", method: http.MethodGet, want: http.StatusOK, path: repoPath},
		row{name: "GET user", method: http.MethodGet, want: http.StatusOK, path: func(int) string { return "/api/v1/users/" + benchUser }},
		// Last: they add issues and comments.
		row{name: "POST issue", method: http.MethodPost, want: http.StatusCreated, path: func(size int) string { return repoPath(size) + "/issues" },
			body: []byte(`{"title":"created under load","body":"apibench"}`)},
		row{name: "POST comment", method: http.MethodPost, want: http.StatusCreated, path: func(size int) string { return repoPath(size) + "/issues/1/comments" },
			body: []byte(`{"body":"commented under load"}`)},
	)
	rows = slices.DeleteFunc(rows, func(rw row) bool { return !strings.Contains(rw.name, b.only) })
	results := map[string]map[int]result{}
	for _, rw := range rows {
		results[rw.name] = map[int]result{}
		lats := map[int][]time.Duration{}
		for range b.rounds {
			for _, size := range b.sizes {
				l, err := b.load(ctx, rw.method, rw.path(size), rw.body, rw.want, b.duration/time.Duration(b.rounds))
				if err != nil {
					return err
				}
				lats[size] = append(lats[size], l...)
			}
		}
		for _, size := range b.sizes {
			r := summarize(lats[size], b.duration)
			results[rw.name][size] = r
			fmt.Fprintf(os.Stderr, "  %-34s %8d issues  %8.0f req/s  p50 %-9v p99 %v\n", rw.name, size, r.rps, r.p50, r.p99)
		}
	}
	b.print(rows, results)
	return nil
}

// row is one line of the table: a request, per repository size.
type row struct {
	name   string
	method string
	path   func(size int) string
	body   []byte
	want   int
}

func repoPath(size int) string { return "/api/v1/repos/" + benchUser + "/" + repoName(size) }

// seed makes the account and repositories through the API, then the
// issues through the store with the server stopped.
func (b *bench) seed(ctx context.Context, tokenFile, seeded string) error {
	if err := os.MkdirAll(b.data, 0o755); err != nil {
		return err
	}
	stop, err := b.start(ctx)
	if err != nil {
		return err
	}
	var reg struct {
		Token string `json:"token"`
	}
	err = b.must(ctx, http.StatusCreated, http.MethodPost, "/api/v1/users", map[string]any{"username": benchUser,
		"user": map[string]any{"email": "bench@example.com", "password": benchPassword, "password_confirmation": benchPassword}}, &reg)
	if err != nil {
		stop()
		return err
	}
	b.token = reg.Token
	repoIDs := map[int]int64{}
	var userID int64
	for _, size := range b.sizes {
		var repo struct {
			ID    int64 `json:"id"`
			Owner struct {
				ID int64 `json:"id"`
			} `json:"owner"`
		}
		if err := b.must(ctx, http.StatusCreated, http.MethodPost, "/api/v1/user/repos", map[string]any{"name": repoName(size)}, &repo); err != nil {
			stop()
			return err
		}
		repoIDs[size], userID = repo.ID, repo.Owner.ID
	}
	stop()
	if userID == 0 {
		return errors.New("repository answer had no owner id")
	}

	st, err := store.Open(ctx, filepath.Join(b.data, "tapioca.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, size := range b.sizes {
		start := time.Now()
		if err := seedIssues(ctx, st, repoIDs[size], userID, size); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "seeded %d issues in %v\n", size, time.Since(start).Round(time.Millisecond))
	}
	if err := st.VacuumInto(ctx, seeded); err != nil {
		return err
	}
	return os.WriteFile(tokenFile, []byte(b.token+"\n"), 0o600)
}

// restoreDB puts the seeded copy back as the live database (the server is
// not running), dropping the live one's WAL.
func restoreDB(seeded, live string) error {
	data, err := os.ReadFile(seeded)
	if err != nil {
		return fmt.Errorf("seeded copy: %w", err)
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(live + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.WriteFile(live, data, 0o600)
}

// seedIssues creates n issues in batches of one transaction each. Every
// fourth is closed; every fifth gets comments (1 to 7), so comment counts
// and update times differ.
func seedIssues(ctx context.Context, st *store.Store, repoID, authorID int64, n int) error {
	const batch = 2000
	body := "Seeded by apibench."
	closed := "closed"
	for done := 0; done < n; done += batch {
		err := st.Tx(ctx, func(tx *store.Store) error {
			for k := done; k < min(n, done+batch); k++ {
				i, err := tx.CreateIssue(ctx, store.NewIssue{RepoID: repoID, Title: fmt.Sprintf("Seeded issue %d", k+1), Body: &body, AuthorID: authorID})
				if err != nil {
					return err
				}
				if k%5 == 0 {
					for c := 0; c <= k%7; c++ {
						if _, err := tx.CreateComment(ctx, repoID, i.ID, authorID, "seeded comment"); err != nil {
							return err
						}
					}
				}
				if k%4 == 3 {
					if _, err := tx.UpdateIssue(ctx, i.ID, store.IssueUpdate{State: &closed}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed issues: %w", err)
		}
	}
	return nil
}

// start runs the server on the data directory and returns its stop
// function, which interrupts it and waits for a graceful exit.
func (b *bench) start(ctx context.Context) (func(), error) {
	cmd := exec.CommandContext(ctx, b.bin, "serve", "--addr", "127.0.0.1:0", "--ssh-addr", "", "--data", b.data,
		"--admin-password", "bench-admin-password", "--rate-limit-auth", "1000000000", "--rate-limit-anon", "1000000000",
		"--max-repos", "1000", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	sc := bufio.NewScanner(stdout)
	addr := ""
	listening := regexp.MustCompile(`listening on (\S+)`)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if addr == "" {
		stop()
		return nil, errors.New("server did not start")
	}
	b.base = "http://" + addr
	return stop, nil
}

func (b *bench) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	return req, nil
}

// must sends one request that has to answer want and decodes the answer.
func (b *bench) must(ctx context.Context, want int, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := b.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// total is a list's X-Total-Count.
func (b *bench) total(ctx context.Context, path string) (int, error) {
	req, err := b.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return strconv.Atoi(resp.Header.Get("X-Total-Count"))
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

// load sends the same request from b.conns connections, each as soon as
// its previous one answered, for a warm-up of a fifth of d and then d,
// and returns the latencies of the requests that finished in d. Any answer
// other than want fails the row.
func (b *bench) load(ctx context.Context, method, path string, body []byte, want int, d time.Duration) ([]time.Duration, error) {
	start := time.Now()
	measureFrom := start.Add(d / 5)
	end := measureFrom.Add(d)
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for range b.conns {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				err := b.once(ctx, method, path, body, want)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				// A request counts where it finished: throughput is what
				// finished inside the window, however slow each one was.
				if t1 := time.Now(); !t1.Before(measureFrom) && !t1.After(end) {
					mine = append(mine, t1.Sub(t0))
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lats, firstErr
}

// summarize turns the latencies measured over d into a result.
func summarize(lats []time.Duration, d time.Duration) result {
	if len(lats) == 0 {
		return result{} // slower than the window: 0 requests/s
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[int(p*float64(len(lats)-1))].Round(10 * time.Microsecond) }
	return result{rps: float64(len(lats)) / d.Seconds(), p50: pct(.50), p99: pct(.99)}
}

func (b *bench) once(ctx context.Context, method, path string, body []byte, want int) error {
	req, err := b.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		data, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// print writes the table: one line per row, req/s p50 p99 per size, and
// the slowdown from the first size to the last.
func (b *bench) print(rows []row, results map[string]map[int]result) {
	first, last := b.sizes[0], b.sizes[len(b.sizes)-1]
	fmt.Printf("apibench: %d connections, %v per row and size in %d rounds, %d per page; %d CPUs, %s, %s\n",
		b.conns, b.duration, b.rounds, b.perPage, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.DateOnly))
	fmt.Printf("%-34s", "")
	for _, s := range b.sizes {
		fmt.Printf(" | %-27s", fmt.Sprintf("%d issues", s))
	}
	fmt.Printf(" | slowdown\n%-34s", "row")
	for range b.sizes {
		fmt.Printf(" | %8s %8s %9s", "req/s", "p50", "p99")
	}
	fmt.Printf(" | %d÷%d\n", first, last)
	for _, rw := range rows {
		row := rw.name
		fmt.Printf("%-34s", row)
		for _, s := range b.sizes {
			r := results[row][s]
			if r.rps == 0 {
				fmt.Printf(" | %8s %8s %9s", "0", "-", "-")
				continue
			}
			fmt.Printf(" | %8.0f %8s %9s", r.rps, ms(r.p50), ms(r.p99))
		}
		slow := math.Inf(1)
		if r := results[row][last].rps; r > 0 {
			slow = results[row][first].rps / r
		}
		mark := ""
		if strings.HasPrefix(row, "issues ") {
			mark = " ok"
			if slow > 1.5 {
				mark = " OVER 1.5"
			}
		}
		fmt.Printf(" | %5.2f%s\n", slow, mark)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}
