package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/store"
)

// TestCrashMatrix runs the built binary under a mixed load (git pushes,
// API writes, pull request merges) and SIGKILLs it at random moments, then
// checks what a power cut may not break: the database passes PRAGMA
// integrity_check, every repository passes git fsck, every write the
// server acknowledged is there after the restart, every acknowledged
// merge is merged, and no pull request is left open whose squash already
// landed in its base. TAPIOCA_CRASH_KILLS sets the number of kills (3 by
// default, to keep the suite fast; the closing notes quote larger runs).
func TestCrashMatrix(t *testing.T) {
	t.Parallel()
	kills := 3
	if s := os.Getenv("TAPIOCA_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TAPIOCA_CRASH_KILLS=%q", s)
		}
		kills = n
	}
	data := filepath.Join(t.TempDir(), "data")
	base, cmd := startTapioca(t, data)
	srv := &testServer{URL: base, AdminPW: testAdminPassword}
	u := srv.register(t, "crashm")
	srv.as(t, u.Token).createRepo(map[string]any{"name": "c", "auto_init": true})
	work := t.TempDir()
	runGit(t, work, "clone", "-q", srv.gitURL(u.Token, u.Name, "c"), "w")
	w := filepath.Join(work, "w")

	var mu sync.Mutex
	var issues []string             // titles of acknowledged issues
	pushed := map[string]string{}   // branch -> last acknowledged sha
	mergedAck := map[float64]bool{} // pull numbers whose merge was acknowledged
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	seq := 0

	for round := 0; round < kills; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 30 * time.Second}
		api := func(method, path string, body any) (int, map[string]any) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+u.Token)
			resp, err := client.Do(req)
			if err != nil {
				return 0, nil
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m
		}
		// API writes: issues with comments.
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				title := fmt.Sprintf("r%d-issue-%d", round, i)
				if code, _ := api("POST", "/api/v1/repos/"+u.Name+"/c/issues", map[string]any{"title": title}); code == http.StatusCreated {
					mu.Lock()
					issues = append(issues, title)
					mu.Unlock()
				}
			}
		})
		// Pushes and squash merges, from one working copy.
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				seq++
				branch := fmt.Sprintf("f%d", seq)
				mu.Unlock()
				if _, err := tryGit(w, "checkout", "-q", "-B", branch, "origin/master"); err != nil {
					_, _ = tryGit(w, "checkout", "-q", "-B", branch)
				}
				commitFile(t, w, branch+".txt", branch+"\n", "change "+branch)
				sha := strings.TrimSpace(runGit(t, w, "rev-parse", "HEAD"))
				if _, err := tryGit(w, "push", "-q", "origin", branch); err != nil {
					continue
				}
				mu.Lock()
				pushed[branch] = sha
				mu.Unlock()
				code, pr := api("POST", "/api/v1/repos/"+u.Name+"/c/pulls", map[string]any{"title": branch, "head": branch, "base": "master"})
				if code != http.StatusCreated {
					continue
				}
				n := pr["number"].(float64)
				if code, _ := api("PUT", "/api/v1/repos/"+u.Name+"/c/pulls/"+ftoa(n)+"/merge", map[string]any{"merge_method": "squash"}); code == http.StatusOK {
					mu.Lock()
					mergedAck[n] = true
					mu.Unlock()
				}
				_, _ = tryGit(w, "fetch", "-q", "origin")
			}
		})
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		sigkill(t, cmd)
		close(stop)
		wg.Wait()

		// The database, read with the server down.
		st, err := store.Open(context.Background(), filepath.Join(data, "tapioca.db"))
		if err != nil {
			t.Fatalf("round %d: open database: %v", round, err)
		}
		res, err := st.IntegrityCheck(context.Background())
		st.Close()
		if err != nil || res != "ok" {
			t.Fatalf("round %d: integrity_check %q %v", round, res, err)
		}
		// Every repository on disk.
		repos, _ := filepath.Glob(filepath.Join(data, "repos", "*.git"))
		for _, r := range repos {
			if out, err := tryGit(r, "fsck", "--full", "--no-progress"); err != nil {
				t.Fatalf("round %d: git fsck %s: %v\n%s", round, r, err, out)
			}
		}
		base, cmd = startTapioca(t, data)
		srv.URL = base
		me := srv.as(t, u.Token)
		runGit(t, w, "remote", "set-url", "origin", srv.gitURL(u.Token, u.Name, "c"))
		runGit(t, w, "fetch", "-q", "origin")
		// Acknowledged writes survived.
		all := map[string]bool{}
		for p := 1; ; p++ {
			l := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/c/issues?state=all&per_page=100&page="+itoa(p), nil).list(t)
			for _, i := range l {
				all[i["title"].(string)] = true
			}
			if len(l) < 100 {
				break
			}
		}
		mu.Lock()
		for _, title := range issues {
			if !all[title] {
				t.Errorf("round %d: acknowledged issue %q is gone", round, title)
			}
		}
		for branch, sha := range pushed {
			b := me.do("GET", "/api/v1/repos/"+u.Name+"/c/branches/"+branch, nil)
			if b.Status == http.StatusOK && b.obj(t)["sha"] != sha {
				t.Errorf("round %d: branch %s is at %v, the acknowledged push was %s", round, branch, b.obj(t)["sha"], sha)
			}
		}
		// Merges: acknowledged ones merged; none left open after landing.
		master := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/c/branches/master", nil).obj(t)["sha"].(string)
		for p := 1; ; p++ {
			l := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/c/pulls?state=all&per_page=100&page="+itoa(p), nil).list(t)
			for _, pr := range l {
				n := pr["number"].(float64)
				if mergedAck[n] && pr["state"] != "merged" {
					t.Errorf("round %d: pull %v's merge was acknowledged, it is %v", round, n, pr["state"])
				}
				if pr["state"] == "open" {
					title := pr["title"].(string)
					if log, _ := tryGit(w, "log", "--format=%s", master); strings.Contains(log, title+" (#"+ftoa(n)+")") {
						t.Errorf("round %d: pull %v is open although its squash is in master", round, n)
					}
				}
			}
			if len(l) < 100 {
				break
			}
		}
		t.Logf("round %d: killed after %d issues, %d pushes, %d merges acknowledged in all", round, len(issues), len(pushed), len(mergedAck))
		mu.Unlock()
	}
}
