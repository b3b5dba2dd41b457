package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"tapioca/handlers"
)

// runEndpoints serves a Tapioca on 127.0.0.1, pushes the benchmark
// repository into it with the git client, and times the REST endpoints
// an agent reads code with (a real HTTP round trip: routing, access
// checks, the git work, JSON) against the git commands that do the same
// on the same repository.
func runEndpoints(work, repo string, runs int, only, early, late, readPath string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	app, err := handlers.Open(ctx, handlers.Config{DataDir: filepath.Join(work, "tapioca-data"), BaseURL: base,
		AdminPassword: "bench-admin-password", RateLimitAuth: 1 << 30, RateLimitAnon: 1 << 30,
		MaxRepoSize: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer app.Close()
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	client := &http.Client{}
	call := func(method, path, token string, body any, hdr ...string) ([]byte, error) {
		var rd io.Reader
		if body != nil {
			js, _ := json.Marshal(body)
			rd = bytes.NewReader(js)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 300 {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out, nil
	}
	reg, err := call("POST", "/api/v1/users", "", map[string]any{"username": "bench",
		"user": map[string]any{"email": "bench@example.com", "password": "bench-password", "password_confirmation": "bench-password"}})
	if err != nil {
		return err
	}
	var who struct{ Token string }
	if err := json.Unmarshal(reg, &who); err != nil {
		return err
	}
	if _, err := call("POST", "/api/v1/user/repos", who.Token, map[string]any{"name": "bench", "default_branch": "main"}); err != nil {
		return err
	}
	fmt.Println("\npushing the repository into tapioca...")
	start := time.Now()
	u, _ := url.Parse(base)
	u.User = url.User(who.Token)
	if err := gitRun(repo, nil, "push", "-q", u.String()+"/bench/bench.git", "main"); err != nil {
		return err
	}
	fmt.Printf("pushed in %s\n", time.Since(start).Round(time.Second))

	api := "/api/v1/repos/bench/bench"
	dir := filepath.Dir(readPath)
	type op struct {
		name string
		path string
		hdr  []string
		git  []string
	}
	ops := []op{
		{"GET contents (file)", api + "/contents/" + readPath + "?ref=main", nil, []string{"show", "main:" + readPath}},
		{"GET contents (dir)", api + "/contents/" + dir + "?ref=main", nil, []string{"ls-tree", "-l", "main:" + dir}},
		{"GET compare (JSON)", api + "/compare/" + early + "..." + late, nil, []string{"diff", early + "..." + late}},
		{"GET compare (diff)", api + "/compare/" + early + "..." + late, []string{"Accept", "application/vnd.codeboba.diff"},
			[]string{"diff", early + "..." + late}},
		{"GET grep (100)", api + "/grep?q=omega&ref=main", nil, []string{"grep", "-n", "-I", "-m", "1", "omega", "main"}},
		{"GET grep rare regexp", api + "/grep?ref=main&max_matches=1000&q=" + url.QueryEscape(`omega [0-9]+ psi`), nil,
			[]string{"grep", "-n", "-I", "-E", `omega [0-9]+ psi`, "main"}},
	}
	fmt.Printf("\n%-24s %12s %12s %8s %10s\n", "endpoint", "tapioca", "git", "ratio", "bytes")
	for _, o := range ops {
		if !strings.Contains(o.name, only) {
			continue
		}
		var tt, gt []time.Duration
		size := 0
		for i := 0; i < runs; i++ {
			s := time.Now()
			body, err := call("GET", o.path, who.Token, nil, o.hdr...)
			if err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
			tt = append(tt, time.Since(s))
			size = len(body)
			g, err := timeGit(repo, o.git)
			if err != nil {
				return err
			}
			gt = append(gt, g)
		}
		t, g := median(tt), median(gt)
		fmt.Printf("%-24s %12s %12s %7.2fx %10d\n", o.name, round(t), round(g), float64(t)/float64(g), size)
	}
	fmt.Println("\nratio = endpoint over HTTP / git command (median wall time; below 1 means the endpoint is faster)")
	return nil
}
