package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
)

// TestJournalReplaysInterruptedPush: a ref that moved on disk while its
// events were never recorded (the process died in between) gets its push
// event at the next start.
func TestJournalReplaysInterruptedPush(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []map[string]any
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		body["_event"] = r.Header.Get("X-CodeBoba-Event")
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
	}))
	defer recv.Close()
	pushesTo := func(after string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range got {
			if b["_event"] == "push" && b["ref"] == "refs/heads/master" && b["after"] == after {
				return true
			}
		}
		return false
	}

	dir := t.TempDir()
	start := func() (*testServer, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ctx, cancel := context.WithCancel(context.Background())
		app, err := handlers.Open(ctx, handlers.Config{DataDir: dir, BaseURL: url, AdminPassword: testAdminPassword, OutboundAllowLoopback: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = app.Serve(ctx, ln) }()
		return &testServer{URL: url, App: app, Dir: dir, AdminPW: testAdminPassword}, func() { cancel(); <-done; app.Close() }
	}

	s, stop := start()
	u := s.register(t, "jrnl")
	me := s.as(t, u.Token)
	repo := me.createRepo(map[string]any{"name": "j", "auto_init": true})
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": recv.URL, "events": []string{"push"}})
	work := t.TempDir()
	runGit(t, work, "clone", "-q", s.gitURL(u.Token, u.Name, "j"), "w")
	w := filepath.Join(work, "w")
	base := strings.TrimSpace(runGit(t, w, "rev-parse", "HEAD"))
	commitFile(t, w, "b.txt", "b\n", "on side")
	side := strings.TrimSpace(runGit(t, w, "rev-parse", "HEAD"))
	runGit(t, w, "push", "-q", "origin", "HEAD:refs/heads/side")
	// A normal push leaves nothing in the journal.
	if rows, err := s.App.Store().PendingRefIntents(t.Context()); err != nil || len(rows) != 0 {
		t.Fatalf("journal after a normal push: %v %v", rows, err)
	}

	// Simulate the crash: journal master's move, move it on disk, record
	// nothing else, stop.
	if _, err := s.App.Store().JournalRefUpdate(t.Context(), int64(repo["id"].(float64)), u.ID, 0, "refs/heads/master", base, side); err != nil {
		t.Fatal(err)
	}
	runGit(t, serverRepoPath(s, repo), "update-ref", "refs/heads/master", side, base)
	// And a journaled update that never reached the disk.
	if _, err := s.App.Store().JournalRefUpdate(t.Context(), int64(repo["id"].(float64)), u.ID, 0, "refs/heads/other", strings.Repeat("0", 40), side); err != nil {
		t.Fatal(err)
	}
	stop()
	if pushesTo(side) {
		t.Fatal("push event delivered before the restart")
	}

	s, stop = start()
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for !pushesTo(side) {
		if time.Now().After(deadline) {
			t.Fatalf("no push event for the interrupted update; got %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rows, err := s.App.Store().PendingRefIntents(t.Context()); err != nil || len(rows) != 0 {
		t.Fatalf("journal after recovery: %v %v", rows, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range got {
		if b["ref"] == "refs/heads/other" {
			t.Errorf("an update that never landed fired an event: %v", b)
		}
	}
}
