package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tapioca/handlers/core/jobs"
)

// The built-in jobs have distinct names, so these tests register their
// own jobs on a real App to reach the ambiguous-name, single-flight and
// timeout paths of the operations API.

func testApp(t *testing.T) (*App, *httptest.Server) {
	t.Helper()
	a, err := Open(t.Context(), Config{DataDir: t.TempDir(), APISecret: "k", AdminPassword: "admin-password",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Services.Jobs.Wait()
		a.Close()
	})
	return a, srv
}

func postRun(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, nil)
	req.Header.Set("x-api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %q", path, b)
	}
	return resp.StatusCode, m
}

func TestRunJobAmbiguousName(t *testing.T) {
	a, srv := testApp(t)
	for _, stack := range []string{"alpha", "beta"} {
		err := a.Services.Jobs.Add(t.Context(), &jobs.Def{Name: "cleanup", Stack: stack, Interval: time.Hour,
			Run: func(ctx context.Context) (string, error) { return "cleaned " + stack, nil }})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Services.Jobs.Add(t.Context(), &jobs.Def{Name: "cleanup", Stack: "alpha", Interval: time.Hour,
		Run: func(ctx context.Context) (string, error) { return "", nil }}); err == nil {
		t.Fatal("registered alpha/cleanup twice")
	}
	code, body := postRun(t, srv, "/v1/api/job/cleanup/run")
	if code != http.StatusConflict || !strings.Contains(body["error"].(string), "ambiguous") {
		t.Fatalf("ambiguous: %d %v", code, body)
	}
	if s, _ := body["stacks"].([]any); len(s) != 2 {
		t.Fatalf("stacks: %v", body)
	}
	code, body = postRun(t, srv, "/v1/api/job/cleanup/run?stack=beta")
	if code != http.StatusOK || body["message"] != "cleaned beta" || body["stack"] != "beta" {
		t.Fatalf("with stack: %d %v", code, body)
	}
	// State is kept per stack: alpha has not run.
	st, err := a.Store().Job(t.Context(), "alpha", "cleanup")
	if err != nil || st.RunCount != 0 {
		t.Fatalf("alpha state: %+v %v", st, err)
	}
}

func TestRunJobSingleFlightAndTimeout(t *testing.T) {
	a, srv := testApp(t)
	release := make(chan struct{})
	var runs atomic.Int32
	err := a.Services.Jobs.Add(t.Context(), &jobs.Def{Name: "slow", Stack: "test", Interval: time.Hour,
		Run: func(ctx context.Context) (string, error) {
			runs.Add(1)
			<-release
			return "done", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	code, first := postRun(t, srv, "/v1/api/job/slow/run?wait=false")
	if code != http.StatusAccepted || first["joined"] != false {
		t.Fatalf("first: %d %v", code, first)
	}
	// Waiting past the timeout answers 202 and leaves the run going.
	code, timedOut := postRun(t, srv, "/v1/api/job/slow/run?timeout=1")
	if code != http.StatusAccepted || timedOut["joined"] != true || !strings.Contains(timedOut["message"].(string), "still running") {
		t.Fatalf("timeout: %d %v", code, timedOut)
	}
	done := make(chan map[string]any)
	go func() {
		_, b := postRun(t, srv, "/v1/api/job/slow/run")
		done <- b
	}()
	// Release only once the second caller has joined (the timed-out call
	// was the first), so the join does not depend on scheduling.
	d := a.Services.Jobs.Match("slow", "test")[0]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n := a.Services.Jobs.Joins(d)
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second caller never joined (%d joins)", n)
		}
	}
	close(release)
	joined := <-done
	if joined["status"] != "success" || joined["joined"] != true || joined["started_at"] != first["started_at"] {
		t.Fatalf("joined run: %v (first %v)", joined, first)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs, want 1: a job must never run twice at once", n)
	}
}

func TestJobPanicIsAFailedRun(t *testing.T) {
	a, srv := testApp(t)
	err := a.Services.Jobs.Add(t.Context(), &jobs.Def{Name: "boom", Stack: "test", Interval: time.Hour,
		Run: func(ctx context.Context) (string, error) { panic("kaboom") }})
	if err != nil {
		t.Fatal(err)
	}
	code, body := postRun(t, srv, "/v1/api/job/boom/run")
	if code != http.StatusOK || body["status"] != "failed" || !strings.Contains(body["error"].(string), "kaboom") {
		t.Fatalf("%d %v", code, body)
	}
	st, err := a.Store().Job(t.Context(), "test", "boom")
	if err != nil || st.LastStatus != "failed" || st.FailureCount != 1 || st.NextRunAt == nil {
		t.Fatalf("state %+v %v", st, err)
	}
}

// TestSchedulerRunsDueJobsAndSurvivesRestart runs the scheduler loop on
// a job that is due, then reopens the data directory: the run and the
// enable switch are still there.
func TestSchedulerRunsDueJobsAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *App {
		a, err := Open(t.Context(), Config{DataDir: dir, AdminPassword: "admin-password", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	ran := make(chan struct{}, 1)
	if err := a.Services.Jobs.Add(t.Context(), &jobs.Def{Name: "tick", Stack: "test", Interval: time.Hour,
		Run: func(ctx context.Context) (string, error) { ran <- struct{}{}; return "ticked", nil }}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().SetJobNextRun(t.Context(), "test", "tick", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := a.Store().SetJobEnabled(t.Context(), "dashboard", "session-cleanup", false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	loopDone := make(chan struct{})
	go func() { a.Services.Jobs.Loop(ctx); close(loopDone) }()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("due job did not run")
	}
	cancel()
	<-loopDone
	a.Close()

	b := open()
	defer b.Close()
	st, err := b.Store().Job(t.Context(), "test", "tick")
	if err != nil || st.LastStatus != "success" || st.LastMessage != "ticked" || st.RunCount != 1 ||
		st.NextRunAt == nil || time.Until(*st.NextRunAt) < 50*time.Minute {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	sc, err := b.Store().Job(t.Context(), "dashboard", "session-cleanup")
	if err != nil || sc.Enabled {
		t.Fatalf("enable switch lost: %+v %v", sc, err)
	}
}
