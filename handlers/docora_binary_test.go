package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"tapioca/handlers/core/apps"
)

// TestWatchedDeliveriesSurviveSIGKILL: the built binary dies twice with
// deliveries pending, first killing itself right after queuing the
// first batch of a scan, then by SIGKILL with a delivery in flight to a
// receiver that never answers. After the last restart every file
// arrives exactly once, in sequence order.
func TestWatchedDeliveriesSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	upstream := newServer(t, nil)
	owner := upstream.register(t, "kill")
	upstream.as(t, owner.Token).createRepo(map[string]any{"name": "many", "auto_init": true})
	const files = 250 // more than one planning batch
	edits := map[string]string{}
	for i := 0; i < files-1; i++ {
		edits[fmt.Sprintf("dir%d/file%03d.txt", i%7, i)] = fmt.Sprintf("file %d\n", i)
	}
	pushFiles(t, upstream.gitURL(owner.Token, owner.Name, "many"), edits)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	receiverAddr := ln.Addr().String()
	// One receiver for all three lives (reopening its port after a close
	// could lose it to a parallel test): it hangs every delivery until
	// answering is set.
	type got struct {
		guid string
		p    apps.FilePayload
	}
	var (
		mu        sync.Mutex
		hung      int
		answering bool
		received  []got
		problems  []string
	)
	receiver := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if !answering {
			hung++
			mu.Unlock()
			<-r.Context().Done()
			return
		}
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		var p apps.FilePayload
		if err := json.Unmarshal(body, &p); err != nil || !verifySignature(body, "crash-secret", r.Header.Get("X-Docora-Signature")) {
			problems = append(problems, fmt.Sprintf("bad delivery %q (%v)", body, err))
		}
		received = append(received, got{r.Header.Get("X-Docora-Delivery"), p})
	})}
	go receiver.Serve(ln)
	t.Cleanup(func() { _ = receiver.Close() })

	data := filepath.Join(t.TempDir(), "data")
	flags := []string{"--github-url", upstream.URL, "--app-delivery-retry-base", "50ms"}
	base, cmd := startTapioca(t, data, append(flags, "--crash-at", "apps-plan-batch")...)
	out, err := runBinary(t, nil, "admin", "app", "create", "--data", data, "--name", "crashy",
		"--url", "http://"+receiverAddr+"/app", "--secret", "crash-secret", "--outbound-allow-loopback")
	if err != nil {
		t.Fatalf("admin app create: %v\n%s", err, out)
	}
	token := regexp.MustCompile(`Token: (docora_\S+)`).FindStringSubmatch(out)[1]
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r := (&testServer{URL: base}).as(t, token).must(http.StatusCreated, "POST", "/api/repositories",
		map[string]any{"github_url": upstream.URL + "/" + owner.Name + "/many"})
	repoID := r.obj(t)["repository_id"].(string)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not reach its crash point after queuing a batch")
	}

	// Second life: the scan's rest is queued, a delivery goes out and
	// hangs; SIGKILL.
	_, cmd = startTapioca(t, data, flags...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := hung
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted server sent no delivery")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigkill(t, cmd)

	// Third life, with a receiver that answers: everything arrives once.
	mu.Lock()
	answering = true
	mu.Unlock()
	startTapioca(t, data, flags...)
	deadline = time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= files {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d files arrived after the restarts", n, files)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive right behind
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	paths, guids := map[string]bool{}, map[string]bool{}
	for i, g := range received {
		if g.p.Sequence != int64(i+1) || g.p.RepositoryID != repoID || g.p.ChangeType != "created" {
			t.Fatalf("delivery %d: sequence %d, %s %s of %s", i, g.p.Sequence, g.p.ChangeType, g.p.Path, g.p.RepositoryID)
		}
		if paths[g.p.Path] || guids[g.guid] {
			t.Fatalf("%s delivered twice", g.p.Path)
		}
		paths[g.p.Path], guids[g.guid] = true, true
	}
	if len(received) != files || !paths["README.md"] || !paths["dir6/file244.txt"] {
		t.Fatalf("%d deliveries; README.md %v", len(received), paths["README.md"])
	}
}
