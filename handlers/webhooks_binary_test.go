package handlers_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTapioca runs `tapioca serve` on data and returns its base URL.
func startTapioca(t *testing.T, data string, extra ...string) (string, *exec.Cmd) {
	t.Helper()
	// The receivers listen on 127.0.0.1.
	return serveBinary(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--ssh-addr", "", "--data", data,
		"--admin-password", testAdminPassword, "--outbound-allow-loopback"}, extra...)...)
}

// serveBinary runs the built binary with args (a serve command) and
// returns its base URL once it listens.
func serveBinary(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(tapiocaBinary(t), args...)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
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
		t.Fatal("the server did not print its address")
	}
	return "http://" + addr, cmd
}

func sigkill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestWebhookDeliveriesSurviveSIGKILL: deliveries pending against a
// receiver that is down survive a SIGKILL; deliveries in flight when a
// second SIGKILL hits are retried; after the restart with the receiver
// up, every event arrives and is recorded as delivered.
func TestWebhookDeliveriesSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	data := t.TempDir() + "/data"
	flags := []string{"--webhook-retry-base", "100ms", "--webhook-timeout", "30s"}
	base, cmd := startTapioca(t, data, flags...)

	// The receiver's port, with nothing listening on it yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	receiverAddr := ln.Addr().String()
	ln.Close()

	srv := &testServer{URL: base, AdminPW: testAdminPassword}
	// A regular account: the bootstrap "admin" shares its name with the
	// dashboard's /admin/ paths.
	owner := srv.register(t, "crash")
	admin := srv.as(t, owner.Token)
	admin.createRepo(map[string]any{"name": "crashy", "auto_init": true})
	h := admin.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{
		"url": "http://" + receiverAddr + "/hook", "secret": "crash-secret", "events": []string{"push", "issues"}}).obj(t)
	hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
	const issues = 12
	for i := 0; i < issues; i++ {
		admin.must(http.StatusCreated, "POST", "/api/v1/repos/"+owner.Name+"/crashy/issues", map[string]any{"title": "issue " + itoa(i)})
	}
	tok := admin.token
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", srv.gitURL(tok, owner.Name, "crashy"), "w")
	commitFile(t, dir+"/w", "x.txt", "x\n", "pushed before the crash")
	runGit(t, dir+"/w", "push", "-q", "origin", "master")
	const total = issues + 1

	// Phase A: the receiver is down; wait until every delivery has failed
	// at least once, then SIGKILL.
	guids := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := admin.must(http.StatusOK, "GET", hook+"/deliveries?per_page=100", nil).list(t)
		failed := 0
		for _, d := range l {
			guids[d["guid"].(string)] = true
			if d["status"] == "retrying" {
				failed++
			}
		}
		if len(l) == total && failed == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not all fail against a dead receiver: %v", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigkill(t, cmd)

	// Phase B: the receiver accepts but never answers; restart, let
	// deliveries get claimed, and SIGKILL mid-delivery. Each phase has its
	// own receiver server, so a request the killed process sent can never
	// be counted by phase C's receiver (it is re-sent, and must arrive
	// exactly once there).
	var mu sync.Mutex
	hung := 0
	got := map[string]int{} // guid -> successful receipts
	sigOK := true
	userAgent := ""
	rln, err := relisten(receiverAddr)
	if err != nil {
		t.Fatalf("reopen receiver port: %v", err)
	}
	hangingSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hung++
		mu.Unlock()
		<-r.Context().Done()
	})}
	go hangingSrv.Serve(rln)

	_, cmd = startTapioca(t, data, flags...)
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := hung
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted server did not resume deliveries (%d in flight)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigkill(t, cmd)
	hangingSrv.Close() // drops its connections; its handlers return

	// Phase C: the receiver answers; restart and every event arrives.
	rln, err = relisten(receiverAddr)
	if err != nil {
		t.Fatalf("reopen receiver port: %v", err)
	}
	rsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		if !verifySignature(body, "crash-secret", r.Header.Get("X-CodeBoba-Signature")) {
			sigOK = false
		}
		userAgent = r.Header.Get("User-Agent")
		got[r.Header.Get("X-CodeBoba-Delivery")]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go rsrv.Serve(rln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = rsrv.Shutdown(ctx)
	})
	base, _ = startTapioca(t, data, flags...)
	admin = (&testServer{URL: base}).as(t, tok)
	deadline = time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d deliveries arrived after the restarts", n, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	for g := range guids {
		if got[g] != 1 {
			t.Errorf("delivery %s received %d times as a success", g, got[g])
		}
	}
	if !sigOK || userAgent != "Tapioca-Hookshot/9.9.9-test" {
		t.Errorf("signatures ok %v, user agent %q", sigOK, userAgent)
	}
	mu.Unlock()

	// The log agrees: all succeeded, and the attempts cut short by the
	// SIGKILL are recorded as interrupted.
	interrupted := 0
	for _, d := range admin.must(http.StatusOK, "GET", hook+"/deliveries?per_page=100", nil).list(t) {
		d = waitStatus(t, admin, hook+"/deliveries/"+ftoa(d["id"].(float64)), "succeeded")
		for _, a := range d["attempt_log"].([]any) {
			if e, _ := a.(map[string]any)["error"].(string); strings.HasPrefix(e, "interrupted") {
				interrupted++
			}
		}
	}
	if interrupted < 3 {
		t.Errorf("%d interrupted attempts logged, want at least 3", interrupted)
	}
}

// relisten listens on addr again after its listener was closed. Until
// then the port is free for anyone: an outgoing connection of a test
// running in parallel may hold it as its local port for a while, so
// this waits for it (at most 20 s) rather than fail at once.
func relisten(addr string) (net.Listener, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
