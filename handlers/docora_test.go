package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tapioca/handlers"
	"tapioca/handlers/core/apps"
	"tapioca/store"
)

// appReceiver is the apps' side of deliveries: one path per app, each
// checking its app's signature. A path can be made to fail (503).
type appReceiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string]string // path -> the app's secret
	got      map[string][]appDelivery
	failing  map[string]bool
	failures map[string]int
	problems []string
}

type appDelivery struct {
	GUID, Event, RepoID string
	P                   apps.FilePayload
}

func newAppReceiver(t testing.TB) *appReceiver {
	rc := &appReceiver{t: t, secrets: map[string]string{}, got: map[string][]appDelivery{},
		failing: map[string]bool{}, failures: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// app registers a path for an app with secret and returns its URL.
func (rc *appReceiver) app(path, secret string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = secret
	return rc.srv.URL + path
}

func (rc *appReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	secret, ok := rc.secrets[r.URL.Path]
	if !ok {
		rc.problems = append(rc.problems, "delivery to unknown path "+r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if rc.failing[r.URL.Path] {
		rc.failures[r.URL.Path]++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if !verifySignature(body, secret, r.Header.Get("X-Docora-Signature")) {
		rc.problems = append(rc.problems, "bad signature on "+r.URL.Path)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	d := appDelivery{GUID: r.Header.Get("X-Docora-Delivery"), Event: r.Header.Get("X-Docora-Event"),
		RepoID: r.Header.Get("X-Docora-Repository-Id")}
	if err := json.Unmarshal(body, &d.P); err != nil {
		rc.problems = append(rc.problems, "undecodable body: "+err.Error())
	}
	if d.Event != d.P.Event || d.RepoID != d.P.RepositoryID || d.GUID == "" {
		rc.problems = append(rc.problems, fmt.Sprintf("headers %q %q disagree with the body %+v", d.Event, d.RepoID, d.P))
	}
	rc.got[r.URL.Path] = append(rc.got[r.URL.Path], d)
	w.WriteHeader(http.StatusAccepted)
}

func (rc *appReceiver) setFailing(path string, on bool) {
	rc.mu.Lock()
	rc.failing[path] = on
	rc.mu.Unlock()
}

func (rc *appReceiver) failureCount(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.failures[path]
}

// since returns the deliveries to path from index from on.
func (rc *appReceiver) since(path string, from int) []appDelivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got[path][min(from, len(rc.got[path])):])
}

// waitFor waits until path has received at least n deliveries after
// from, and returns them.
func (rc *appReceiver) waitFor(path string, from, n int) []appDelivery {
	rc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := rc.since(path, from)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%s received %d deliveries, want %d: %+v", path, len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rc *appReceiver) checkClean() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.problems) > 0 {
		rc.t.Fatalf("receiver saw problems: %v", rc.problems)
	}
}

// changes summarises deliveries as "change path" lines, sorted, and
// checks that each arrived once and in sequence.
func changes(t testing.TB, ds []appDelivery) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for i, d := range ds {
		if seen[d.GUID] {
			t.Fatalf("delivery %s arrived twice", d.GUID)
		}
		seen[d.GUID] = true
		if i > 0 && d.P.Sequence != ds[i-1].P.Sequence+1 {
			t.Fatalf("delivery %d has sequence %d after %d: out of order", i, d.P.Sequence, ds[i-1].P.Sequence)
		}
		out = append(out, d.P.ChangeType+" "+d.P.Path)
	}
	slices.Sort(out)
	return out
}

func byPath(ds []appDelivery) map[string]appDelivery {
	m := map[string]appDelivery{}
	for _, d := range ds {
		m[d.P.Path] = d
	}
	return m
}

// docoraWatcher is a Tapioca whose --github-url is upstream.
func docoraWatcher(t *testing.T, upstream *testServer, mod func(*handlers.Config)) *testServer {
	return newServer(t, func(c *handlers.Config) {
		c.GitHubURL = upstream.URL
		c.APISecret = testOpsSecret
		c.DeliveryRetryBase = 20 * time.Millisecond
		c.DeliveryTimeout = 5 * time.Second
		if mod != nil {
			mod(c)
		}
	})
}

// cliApp onboards an app with the real binary's `admin app create`.
func cliApp(t *testing.T, watcher *testServer, name, url, secret string) string {
	t.Helper()
	out, err := runBinary(t, nil, "admin", "app", "create", "--data", watcher.Dir, "--name", name, "--url", url, "--secret", secret, "--outbound-allow-loopback")
	if err != nil {
		t.Fatalf("admin app create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Token: (docora_[a-z0-9]{40})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token in %q", out)
	}
	return m[1]
}

// pushFiles clones url, applies edits (content "" deletes, a key
// "a=>b" renames) and pushes; it returns the new head.
func pushFiles(t *testing.T, url string, edits map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "w")
	runGit(t, "", "clone", "-q", url, dir)
	for name, content := range edits {
		if from, to, ok := strings.Cut(name, "=>"); ok {
			runGit(t, dir, "mv", from, to)
			continue
		}
		p := filepath.Join(dir, name)
		if content == "" {
			runGit(t, dir, "rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		runGit(t, dir, "add", name)
	}
	runGit(t, dir, "commit", "-q", "-m", "edit files")
	runGit(t, dir, "push", "-q", "origin", "HEAD")
	return strings.TrimSpace(runGit(t, dir, "rev-parse", "HEAD"))
}

// watchOf reads a watched repository's state.
func watchOf(t *testing.T, srv *testServer, publicID string) *store.Watch {
	t.Helper()
	ws, err := srv.App.Store().ListWatches(context.Background(), store.WatchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.PublicID == publicID {
			return w
		}
	}
	t.Fatalf("no watched repository %s", publicID)
	return nil
}

// TestWatchedRepositories is the Docora dialect end to end: an upstream
// Tapioca, a second Tapioca watching it, apps onboarded by the CLI and
// by the core, a receiver checking signatures. Registration delivers
// every file; a push and a poll deliver exactly what changed; private
// upstreams need a token; the seed's errors; the circuit breaker.
func TestWatchedRepositories(t *testing.T) {
	t.Parallel()
	upstream := newServer(t, nil)
	owner := upstream.register(t, "up")
	oc := upstream.as(t, owner.Token)
	oc.createRepo(map[string]any{"name": "docs", "auto_init": true})
	oc.createRepo(map[string]any{"name": "secret", "auto_init": true, "private": true})
	big := make([]byte, apps.MaxContent+100)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	binary := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3, 0xff, 0xfe}
	docsURL := upstream.gitURL(owner.Token, owner.Name, "docs")
	head := pushFiles(t, docsURL, map[string]string{
		"guide/intro.md": "# Intro\nHello, ünïcode.\n", "guide/deep/steps.txt": "1\n2\n3\n",
		"logo.png": string(binary), "data/big.txt": string(big), "old.txt": "to be renamed\n", "gone.txt": "to be deleted\n",
	})

	watcher := docoraWatcher(t, upstream, nil)
	rc := newAppReceiver(t)
	tokA := cliApp(t, watcher, "alpha", rc.app("/alpha", "alpha-secret"), "alpha-secret")
	if out, err := runBinary(t, nil, "admin", "app", "list", "--data", watcher.Dir); err != nil || !strings.Contains(out, "alpha") {
		t.Fatalf("admin app list: %v\n%s", err, out)
	}
	_, tokB, err := watcher.App.Services.Apps.Create(context.Background(), apps.Operator(),
		apps.NewApp{Name: "beta", URL: rc.app("/beta", "beta-secret-123"), Secret: "beta-secret-123"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := watcher.as(t, tokA), watcher.as(t, tokB)
	gh := upstream.URL + "/" + owner.Name

	t.Run("authentication", func(t *testing.T) {
		body := map[string]any{"github_url": gh + "/docs"}
		for _, tok := range []string{"", "docora_" + strings.Repeat("x", 40), watcher.register(t, "cb").Token, tokA + "x"} {
			r := watcher.as(t, tok).must(http.StatusUnauthorized, "POST", "/api/repositories", body)
			if msg, _ := r.obj(t)["error"].(string); msg == "" {
				t.Errorf("token %q: body %s", tok, r.Body)
			}
		}
		// An app token opens nothing but /api/repositories.
		a.must(http.StatusUnauthorized, "GET", "/api/v1/user", nil)
		if out, err := tryGit(t.TempDir(), "clone", "-q", watcher.gitURL(tokA, owner.Name, "docs")); err == nil {
			t.Fatalf("an app token cloned: %s", out)
		}
	})

	t.Run("invalid URLs are 422", func(t *testing.T) {
		for _, c := range []struct {
			body any
			want string
		}{
			{map[string]any{}, "github_url is required"},
			{map[string]any{"github_url": "not a url"}, "repository URL"},
			{map[string]any{"github_url": "https://gitlab.com/" + owner.Name + "/docs"}, "must be a repository on"},
			{map[string]any{"github_url": gh + "/docs/tree/main"}, "must name a repository"},
			{map[string]any{"github_url": gh}, "must name a repository"},
			{map[string]any{"github_url": gh + "/docs?tab=readme"}, "query"},
			{map[string]any{"github_url": upstream.URL + "/-bad-/docs"}, "invalid owner"},
			{map[string]any{"github_url": gh + "/doc%20s"}, "invalid repository name"},
			{map[string]any{"github_url": 42}, "github_url must be a string"},
			{map[string]any{"github_url": gh + "/docs", "branch": "main"}, "Unknown field"},
			{map[string]any{"github_url": gh + "/docs", "github_token": "has space"}, "github_token"},
		} {
			r := a.must(http.StatusUnprocessableEntity, "POST", "/api/repositories", c.body)
			if msg, _ := r.obj(t)["error"].(string); !strings.Contains(msg, c.want) {
				t.Errorf("%v: error %q, want it to say %q", c.body, msg, c.want)
			}
		}
		a.must(http.StatusBadRequest, "POST", "/api/repositories", `{"github_url":`)
	})

	t.Run("missing or unreadable upstreams are 404", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"github_url": gh + "/nothing-here"},
			{"github_url": gh + "/secret"},
			{"github_url": gh + "/secret.git", "github_token": "cb_" + strings.Repeat("0", 40)},
		} {
			r := a.must(http.StatusNotFound, "POST", "/api/repositories", body)
			if msg, _ := r.obj(t)["error"].(string); !strings.Contains(msg, "not found") {
				t.Errorf("%v: %s", body, r.Body)
			}
		}
	})

	var docsID, secretID string
	t.Run("registration delivers every file", func(t *testing.T) {
		r := a.must(http.StatusCreated, "POST", "/api/repositories", map[string]any{"github_url": gh + "/docs.git"})
		var reg struct {
			RepositoryID string `json:"repository_id"`
			GitHubURL    string `json:"github_url"`
			Owner, Name  string
			IsPrivate    bool   `json:"is_private"`
			CreatedAt    string `json:"created_at"`
		}
		r.decode(t, &reg)
		if !regexp.MustCompile(`^repo_[0-9a-f]{24}$`).MatchString(reg.RepositoryID) || reg.GitHubURL != gh+"/docs" ||
			reg.Owner != owner.Name || reg.Name != "docs" || reg.IsPrivate || !strings.HasSuffix(reg.CreatedAt, "Z") {
			t.Fatalf("registration: %s", r.Body)
		}
		docsID = reg.RepositoryID
		r = a.must(http.StatusConflict, "POST", "/api/repositories", map[string]any{"github_url": gh + "/docs"})
		if !strings.Contains(string(r.Body), docsID) {
			t.Errorf("second registration: %s", r.Body)
		}

		got := rc.waitFor("/alpha", 0, 7)
		want := []string{"created README.md", "created data/big.txt", "created gone.txt", "created guide/deep/steps.txt",
			"created guide/intro.md", "created logo.png", "created old.txt"}
		if c := changes(t, got); !slices.Equal(c, want) {
			t.Fatalf("scan delivered %v, want %v", c, want)
		}
		files := byPath(got)
		intro := files["guide/intro.md"].P
		if intro.Content == nil || *intro.Content != "# Intro\nHello, ünïcode.\n" || *intro.Encoding != "utf-8" ||
			intro.CommitSHA != head || intro.Trigger != "scan" || intro.RepositoryID != docsID || intro.GitHubURL != gh+"/docs" ||
			files["guide/intro.md"].Event != "file.created" || intro.Size != int64(len("# Intro\nHello, ünïcode.\n")) {
			t.Errorf("text file: %+v", intro)
		}
		logo := files["logo.png"].P
		if raw, err := base64.StdEncoding.DecodeString(deref(logo.Content)); err != nil || !bytes.Equal(raw, binary) || deref(logo.Encoding) != "base64" {
			t.Errorf("binary file: %+v", logo)
		}
		bigFile := files["data/big.txt"].P
		if !bigFile.ContentOmitted || bigFile.Content != nil || bigFile.Size != int64(len(big)) {
			t.Errorf("big file: omitted %v, size %d", bigFile.ContentOmitted, bigFile.Size)
		}
		if got[0].P.Sequence != 1 {
			t.Errorf("first sequence %d", got[0].P.Sequence)
		}
	})

	t.Run("a push and a poll deliver what changed", func(t *testing.T) {
		before := len(rc.since("/alpha", 0))
		newHead := pushFiles(t, docsURL, map[string]string{
			"README.md": "# docs\nrewritten\n", "gone.txt": "", "old.txt=>new-name.txt": "", "guide/added.md": "new page\n",
		})
		r := ops(t, watcher, testOpsSecret, "POST", "/v1/api/poll/run", []map[string]any{{"url": gh + "/docs"}})
		wantStatus(t, r, http.StatusOK, "poll run")
		var run struct {
			Results []struct {
				Commit string `json:"commit"`
				Moved  []struct {
					Ref, Before, After string
				} `json:"moved"`
				Error *string `json:"error"`
			} `json:"results"`
		}
		r.decode(t, &run)
		if res := run.Results[0]; res.Error != nil || res.Commit != newHead || len(res.Moved) != 1 ||
			res.Moved[0].Ref != "refs/heads/master" || res.Moved[0].After != newHead || res.Moved[0].Before != head {
			t.Fatalf("poll run: %s", r.Body)
		}
		got := rc.waitFor("/alpha", before, 5)
		want := []string{"created guide/added.md", "created new-name.txt", "deleted gone.txt", "deleted old.txt", "updated README.md"}
		if c := changes(t, got); !slices.Equal(c, want) {
			t.Fatalf("push delivered %v, want %v", c, want)
		}
		for _, d := range got {
			if d.P.CommitSHA != newHead || d.P.Trigger != "push" {
				t.Errorf("delivery %+v", d.P)
			}
			if d.P.ChangeType == "deleted" && (d.P.Content != nil || d.P.Size != 0) {
				t.Errorf("deletion carries content: %+v", d.P)
			}
		}
		if readme := byPath(got)["README.md"].P; deref(readme.Content) != "# docs\nrewritten\n" || readme.Event != "file.updated" {
			t.Errorf("updated file: %+v", readme)
		}
		// Polling again moves nothing and delivers nothing more.
		wantStatus(t, ops(t, watcher, testOpsSecret, "POST", "/v1/api/poll/run", []map[string]any{{"url": gh + "/docs.git"}}), http.StatusOK, "poll")
		waitIdle(t, watcher, docsID)
		if n := len(rc.since("/alpha", before)); n != 5 {
			t.Fatalf("%d deliveries after the push, want 5", n)
		}
	})

	t.Run("a private upstream works with a token", func(t *testing.T) {
		r := b.must(http.StatusCreated, "POST", "/api/repositories", map[string]any{"github_url": gh + "/secret", "github_token": owner.Token})
		o := r.obj(t)
		if o["is_private"] != true {
			t.Fatalf("private registration: %s", r.Body)
		}
		secretID = o["repository_id"].(string)
		got := rc.waitFor("/beta", 0, 1)
		if c := changes(t, got); !slices.Equal(c, []string{"created README.md"}) || got[0].RepoID != secretID {
			t.Fatalf("private scan: %v", c)
		}
		w := watchOf(t, watcher, secretID)
		if w.Token == "" || strings.Contains(w.Token, owner.Token) {
			t.Fatalf("token stored as %q", w.Token)
		}
		m, err := watcher.App.Store().MirrorByID(context.Background(), w.MirrorID)
		if err != nil || !strings.HasPrefix(m.Token, "sealed:") {
			t.Fatalf("mirror token stored as %q (%v)", m.Token, err)
		}
	})

	t.Run("another app's repository is 404", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"DELETE", "/api/repositories/" + docsID},
			{"PATCH", "/api/repositories/" + docsID + "/token"},
			{"DELETE", "/api/repositories/repo_000000000000000000000000"},
			{"DELETE", "/api/repositories/not-an-id"},
			{"PATCH", "/api/repositories/repo_XYZ/token"},
		} {
			r := b.must(http.StatusNotFound, c.method, c.path, map[string]any{"github_token": owner.Token})
			if r.obj(t)["error"] == nil {
				t.Errorf("%s %s: %s", c.method, c.path, r.Body)
			}
		}
		b.must(http.StatusUnprocessableEntity, "PATCH", "/api/repositories/"+secretID+"/token", map[string]any{})
		r := b.must(http.StatusUnprocessableEntity, "PATCH", "/api/repositories/"+secretID+"/token",
			map[string]any{"github_token": "cb_" + strings.Repeat("1", 40)})
		if msg := r.obj(t)["error"]; msg != "Token cannot access this repository" {
			t.Errorf("bad token: %s", r.Body)
		}
		r = b.must(http.StatusMethodNotAllowed, "GET", "/api/repositories/"+secretID+"/token", nil)
		if r.obj(t)["error"] == nil || r.Header.Get("Allow") != "PATCH" {
			t.Errorf("GET on the token path: %v %s", r.Header, r.Body)
		}
	})

	t.Run("the breaker opens after 5 failures and a new token closes it", func(t *testing.T) {
		rc.setFailing("/beta", true)
		secretURL := upstream.gitURL(owner.Token, owner.Name, "secret")
		pushFiles(t, secretURL, map[string]string{"notes.txt": "while the app is down\n"})
		wantStatus(t, ops(t, watcher, testOpsSecret, "POST", "/v1/api/poll/run", []map[string]any{{"url": gh + "/secret"}}), http.StatusOK, "poll")
		deadline := time.Now().Add(30 * time.Second)
		for !watchOf(t, watcher, secretID).BreakerOpen {
			if time.Now().After(deadline) {
				t.Fatalf("the breaker did not open: %d failures seen", rc.failureCount("/beta"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := rc.failureCount("/beta"); n != 5 {
			t.Fatalf("%d failed attempts before the breaker opened, want 5", n)
		}
		// Open means stopped: retries would have come every few tens of
		// milliseconds.
		time.Sleep(500 * time.Millisecond)
		if n := rc.failureCount("/beta"); n != 5 {
			t.Fatalf("%d attempts with the breaker open", n)
		}
		w := watchOf(t, watcher, secretID)
		if w.Failures != 5 || !strings.Contains(w.LastError, "503") || w.Pending != 1 {
			t.Fatalf("watch after the breaker opened: failures %d, error %q, pending %d", w.Failures, w.LastError, w.Pending)
		}

		rc.setFailing("/beta", false)
		before := len(rc.since("/beta", 0))
		r := b.must(http.StatusOK, "PATCH", "/api/repositories/"+secretID+"/token", map[string]any{"github_token": owner.Token})
		if r.obj(t)["message"] != "Token updated successfully" {
			t.Fatalf("token update: %s", r.Body)
		}
		got := rc.waitFor("/beta", before, 2)
		if c := changes(t, got); !slices.Equal(c, []string{"created README.md", "created notes.txt"}) || got[0].P.Trigger != "scan" {
			t.Fatalf("fresh scan delivered %v", c)
		}
		waitIdle(t, watcher, secretID)
		if w := watchOf(t, watcher, secretID); w.BreakerOpen || w.Failures != 0 || w.LastError != "" {
			t.Fatalf("watch after the token update: %+v", w)
		}
	})

	t.Run("delete stops watching and clears the history", func(t *testing.T) {
		w := watchOf(t, watcher, docsID)
		a.must(http.StatusNoContent, "DELETE", "/api/repositories/"+docsID, nil)
		a.must(http.StatusNotFound, "DELETE", "/api/repositories/"+docsID, nil)
		var n int
		if err := watcher.App.Store().DB().QueryRow(`SELECT COUNT(*) FROM app_deliveries WHERE watch_id = ?`, w.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d deliveries left (%v)", n, err)
		}
		if _, err := watcher.App.Store().MirrorByID(context.Background(), w.MirrorID); err == nil {
			t.Fatal("the unwatched mirror is still there")
		}
		if _, err := os.Stat(filepath.Join(watcher.Dir, "mirrors", fmt.Sprint(w.MirrorID)+".git")); !os.IsNotExist(err) {
			t.Fatalf("mirror directory: %v", err)
		}
		// The other app's mirror is untouched.
		if _, err := watcher.App.Store().MirrorByID(context.Background(), watchOf(t, watcher, secretID).MirrorID); err != nil {
			t.Fatal(err)
		}
	})
	rc.checkClean()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// waitIdle waits until a watched repository has queued everything up to
// its mirror's tip and has nothing left to deliver.
func waitIdle(t *testing.T, srv *testServer, publicID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := watchOf(t, srv, publicID)
		if w.MirrorStatus == store.MirrorSynced && w.Pending == 0 && w.Plan.To == "" && !w.ScanRequested && w.DeliveredCommit == w.HeadCommit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watched repository %s never settled: %+v", publicID, w)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchedUpstreamsAreGuarded: without --outbound-allow-loopback an
// upstream on loopback is refused on the address dialled, for a
// registration and for a poll run alike, and nothing is mirrored.
func TestWatchedUpstreamsAreGuarded(t *testing.T) {
	t.Parallel()
	upstream := newServer(t, nil)
	owner := upstream.register(t, "guard")
	upstream.as(t, owner.Token).createRepo(map[string]any{"name": "lib", "auto_init": true})
	watcher := docoraWatcher(t, upstream, func(c *handlers.Config) { c.OutboundAllowLoopback = false })
	_, tok, err := watcher.App.Services.Apps.Create(context.Background(), apps.Operator(),
		apps.NewApp{Name: "guarded", URL: "https://receiver.example/hook", Secret: "guarded-secret"})
	if err != nil {
		t.Fatal(err)
	}
	r := watcher.as(t, tok).must(http.StatusBadGateway, "POST", "/api/repositories",
		map[string]any{"github_url": upstream.URL + "/" + owner.Name + "/lib"})
	if msg, _ := r.obj(t)["error"].(string); !strings.Contains(msg, "refused") {
		t.Fatalf("registration: %s", r.Body)
	}
	res := poll(t, watcher, []map[string]any{{"url": upstream.URL + "/" + owner.Name + "/lib.git"}})
	if res[0].Error == nil || !strings.Contains(*res[0].Error, "refused") {
		t.Fatalf("poll run: %+v", res[0])
	}
	if dirs, _ := filepath.Glob(filepath.Join(watcher.Dir, "mirrors", "*.git", "objects", "pack", "*.pack")); len(dirs) != 0 {
		t.Fatalf("something was mirrored: %v", dirs)
	}
}
