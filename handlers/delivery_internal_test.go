package handlers

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tapioca/handlers/core/events"
	"tapioca/store"
)

// TestShutdownGivesBackInFlightDeliveries: SIGTERM-style shutdown does
// not wait for a hanging receiver, does not count the abandoned attempt,
// and the delivery goes out after the next start.
func TestShutdownGivesBackInFlightDeliveries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	answering, hung, delivered := false, 0, 0
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		if !answering {
			hung++
			mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		delivered++
		mu.Unlock()
	}))
	defer recv.Close()
	defer close(release)
	dir := t.TempDir()
	ctx := context.Background()
	serve := func() (*App, func()) {
		a, err := Open(ctx, Config{DataDir: dir, AdminPassword: "admin-password-for-tests", OutboundAllowLoopback: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = a.Serve(sctx, ln); close(done) }()
		return a, func() { cancel(); <-done; a.Close() }
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	a, stop := serve()
	st := a.Store()
	u, err := st.CreateUser(ctx, store.NewUser{Username: "bob", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := st.CreateRepo(ctx, store.NewRepo{OwnerID: u.ID, Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateWebhook(ctx, store.NewWebhook{OwnerID: u.ID, URL: recv.URL, ContentType: "json", Events: []string{"issues"}, Active: true}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Services.Events.Emit(ctx, st, events.Event{Name: "issues", Action: "opened", Repo: repo, Sender: u}); err != nil {
		t.Fatal(err)
	}
	waitUntil("the attempt to start", func() bool { mu.Lock(); defer mu.Unlock(); return hung == 1 })
	start := time.Now()
	stop()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown waited %v for a hanging receiver", d)
	}

	// Given back: not leased, the attempt not counted, still pending.
	st, err = store.Open(ctx, filepath.Join(dir, "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := st.ListDeliveries(ctx, store.DeliveryFilter{})
	st.Close()
	if err != nil || len(list) != 1 {
		t.Fatalf("deliveries after shutdown %v %v", list, err)
	}
	if d := list[0]; d.Attempts != 0 || d.Status != store.DeliveryPending {
		t.Errorf("after shutdown: %d attempts, %s", d.Attempts, d.Status)
	}

	mu.Lock()
	answering = true
	mu.Unlock()
	a, stop = serve()
	defer stop()
	waitUntil("delivery after restart", func() bool { mu.Lock(); defer mu.Unlock(); return delivered == 1 })
	waitUntil("succeeded status", func() bool {
		d, err := a.Store().DeliveryByID(ctx, list[0].ID)
		return err == nil && d.Status == store.DeliverySucceeded && d.Attempts == 1
	})
	if log, err := a.Store().DeliveryAttempts(ctx, list[0].ID); err != nil || len(log) != 1 {
		t.Errorf("attempt log %v %v", log, err)
	}
}
