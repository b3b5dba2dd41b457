package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"tapioca/gitserver"
	"tapioca/store"
	"tapioca/views"
)

// POST /v1/api/poll/run fetches the given repositories now and reports,
// per target, the commit the reference resolves to and whether it moved
// since the previous poll of that (url, reference). Repositories on this
// server are read in place; others are fetched with go-git into a mirror
// area under the data directory (<data>/mirrors), which is a cache: it is
// not part of backups and may be deleted at any time.

const (
	pollMaxTargets  = 100
	pollParallelism = 4
	// pollFetchLimit bounds one upstream fetch, however long the caller
	// is willing to wait.
	pollFetchLimit = 10 * time.Minute
)

// pollRunner runs poll targets, in the background when the caller does
// not wait; the worker it adds waits for those at shutdown.
type pollRunner struct {
	mu   sync.Mutex
	base context.Context
	runs sync.WaitGroup
}

// worker records the serving context for background runs and, at
// shutdown, waits for the runs in flight.
func (p *pollRunner) worker(ctx context.Context) {
	p.mu.Lock()
	p.base = ctx
	p.mu.Unlock()
	<-ctx.Done()
	p.runs.Wait()
}

// pollTarget is one element of the request body. Doco-CD's other fields
// (deployments, interval, run_once, ...) are accepted and ignored.
type pollTarget struct {
	URL       *string `json:"url"`
	Reference *string `json:"reference"`

	// Parsed from URL by validation:
	cleanURL string               // without credentials; the poll record's key
	auth     transport.AuthMethod // from the URL's user info, for upstream fetches
	owner    string               // local repositories
	repo     string
	local    bool
}

type pollResultJSON struct {
	URL            string  `json:"url"`
	Reference      string  `json:"reference"`
	Source         string  `json:"source"` // local or upstream
	Repository     *string `json:"repository"`
	Commit         *string `json:"commit"`
	PreviousCommit *string `json:"previous_commit"`
	Changed        bool    `json:"changed"`
	PolledAt       string  `json:"polled_at"`
	Error          *string `json:"error"`
}

type pollRunJSON struct {
	Results []pollResultJSON `json:"results"`
	Changed int              `json:"changed"`
	Failed  int              `json:"failed"`
}

func (a *App) opsPollRun(w http.ResponseWriter, r *http.Request) error {
	wait, timeout, err := opsWait(r)
	if err != nil {
		return err
	}
	targets, err := a.parsePollTargets(r)
	if err != nil {
		return err
	}
	pr := a.poll
	pr.mu.Lock()
	base := pr.base
	pr.runs.Add(1)
	pr.mu.Unlock()
	done := make(chan pollRunJSON, 1)
	go func() {
		defer pr.runs.Done()
		done <- a.runPolls(base, targets)
	}()
	if !wait {
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted",
			"message": fmt.Sprintf("Poll run started for %d %s", len(targets), views.Plural(len(targets), "target", "targets"))})
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case out := <-done:
		writeJSON(w, http.StatusOK, out)
	case <-timer.C:
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "running",
			"message": "Poll run still in progress after " + timeout.String() + "; it continues in the background"})
	case <-r.Context().Done():
		return r.Context().Err()
	}
	return nil
}

// parsePollTargets reads and validates the whole body before anything is
// fetched: bad input changes nothing.
func (a *App) parsePollTargets(r *http.Request) ([]*pollTarget, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || strings.TrimSpace(string(body)) == "" {
			return nil, errStatus(http.StatusBadRequest, "Request body must be a JSON array of poll targets, like [{\"url\": \"https://example.com/owner/repo.git\"}]")
		}
		return nil, errStatus(http.StatusBadRequest, "Problems parsing JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	v := validation{}
	if len(raw) == 0 {
		v.add("targets", "must contain at least one poll target")
	}
	if len(raw) > pollMaxTargets {
		v.add("targets", "must contain at most "+strconv.Itoa(pollMaxTargets)+" poll targets")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	targets := make([]*pollTarget, len(raw))
	for i, m := range raw {
		field := func(f string) string { return "[" + strconv.Itoa(i) + "]." + f }
		t := &pollTarget{}
		if err := json.Unmarshal(m, t); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				v.add(field(te.Field), "must be "+jsonKind(te.Type.Kind().String()))
			} else {
				v.add("["+strconv.Itoa(i)+"]", "must be an object with a url")
			}
			continue
		}
		targets[i] = t
		if t.Reference != nil && !validPollReference(*t.Reference) {
			v.add(field("reference"), "must be a branch, tag, full ref name or commit")
		}
		if t.URL == nil || strings.TrimSpace(*t.URL) == "" {
			v.add(field("url"), "is required")
			continue
		}
		if msg := a.classifyPollURL(t); msg != "" {
			v.add(field("url"), msg)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return targets, nil
}

func validPollReference(s string) bool {
	if len(s) > 255 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c) {
			return false
		}
	}
	return !strings.Contains(s, "..")
}

// classifyPollURL decides whether t names a repository on this server
// (a URL under the base URL, or plain owner/repo) or upstream, and returns
// a validation message when it is neither.
func (a *App) classifyPollURL(t *pollTarget) string {
	raw := strings.TrimSpace(*t.URL)
	if owner, repo, ok := splitOwnerRepo(raw); ok && !strings.Contains(raw, ":") {
		t.local, t.owner, t.repo, t.cleanURL = true, owner, repo, raw
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an http(s) git URL, or owner/repo for a repository on this server"
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		t.auth = &githttp.BasicAuth{Username: u.User.Username(), Password: pw}
		u.User = nil
	}
	u.Fragment, u.RawQuery = "", ""
	t.cleanURL = u.String()
	base, err := url.Parse(a.baseURL())
	if err == nil && sameHost(u, base) {
		rest, under := strings.CutPrefix(u.Path, strings.TrimRight(base.Path, "/")+"/")
		if under {
			if owner, repo, ok := splitOwnerRepo(rest); ok {
				t.local, t.owner, t.repo = true, owner, repo
				return ""
			}
		}
		return "is on this server but does not name a repository (want " + strings.TrimRight(a.baseURL(), "/") + "/owner/repo.git)"
	}
	return ""
}

// splitOwnerRepo parses owner/repo or owner/repo.git.
func splitOwnerRepo(p string) (owner, repo string, ok bool) {
	p = strings.Trim(p, "/")
	owner, repo, found := strings.Cut(p, "/")
	if !found || strings.Contains(repo, "/") {
		return "", "", false
	}
	repo = strings.TrimSuffix(repo, ".git")
	if !store.ValidNamespaceName(owner) || !store.ValidRepoName(repo) {
		return "", "", false
	}
	return owner, repo, true
}

func sameHost(u, base *url.URL) bool {
	port := func(x *url.URL) string {
		if p := x.Port(); p != "" {
			return p
		}
		if x.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(u.Hostname(), base.Hostname()) && port(u) == port(base)
}

// runPolls polls every target, a few at a time, in request order.
func (a *App) runPolls(ctx context.Context, targets []*pollTarget) pollRunJSON {
	out := pollRunJSON{Results: make([]pollResultJSON, len(targets))}
	sem := make(chan struct{}, pollParallelism)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out.Results[i] = a.pollOne(ctx, t)
		})
	}
	wg.Wait()
	for _, r := range out.Results {
		if r.Changed {
			out.Changed++
		}
		if r.Error != nil {
			out.Failed++
		}
	}
	return out
}

// pollOne resolves one target and records what it found.
func (a *App) pollOne(ctx context.Context, t *pollTarget) pollResultJSON {
	ref := ""
	if t.Reference != nil {
		ref = *t.Reference
	}
	res := pollResultJSON{URL: t.cleanURL, Reference: ref, Source: "upstream"}
	var commit, resolvedRef string
	var err error
	if t.local {
		res.Source = "local"
		commit, resolvedRef, err = a.pollLocal(ctx, t, ref)
		if err == nil || resolvedRef != "" {
			full := t.owner + "/" + t.repo
			res.Repository = &full
		}
	} else {
		fctx, cancel := context.WithTimeout(ctx, pollFetchLimit)
		commit, resolvedRef, err = a.pollUpstream(fctx, t, ref)
		cancel()
	}
	if resolvedRef != "" {
		res.Reference = resolvedRef
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		res.Error = &msg
	}
	rec, rerr := a.store.RecordPoll(context.WithoutCancel(ctx), t.cleanURL, ref, commit, msg)
	if rerr != nil && err == nil {
		msg = "record poll: " + rerr.Error()
		res.Error = &msg
	}
	res.PolledAt = timeJSON(time.Now())
	if err == nil {
		res.Commit = &commit
		res.PreviousCommit = nonEmpty(rec.PreviousCommit)
		res.Changed = commit != rec.PreviousCommit
	}
	return res
}

// pollLocal resolves a reference (default: the default branch) in a
// repository of this server.
func (a *App) pollLocal(ctx context.Context, t *pollTarget, ref string) (commit, resolved string, err error) {
	repo, err := a.store.RepoByName(ctx, t.owner, t.repo)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("repository %s/%s not found", t.owner, t.repo)
	}
	if err != nil {
		return "", "", err
	}
	t.owner, t.repo = repo.OwnerName, repo.Name
	if ref == "" {
		ref = repo.DefaultBranch
	}
	h, err := a.git.ResolveRef(ctx, a.repoPath(repo.ID), ref)
	if err != nil {
		return "", ref, refError(ref, err)
	}
	return h.String(), ref, nil
}

func refError(ref string, err error) error {
	switch {
	case errors.Is(err, gitserver.ErrNotFound):
		return fmt.Errorf("reference %q not found", ref)
	case errors.Is(err, gitserver.ErrAmbiguous):
		return fmt.Errorf("reference %q is ambiguous", ref)
	}
	return fmt.Errorf("resolve %q: %w", ref, err)
}

func (a *App) mirrorPath(cleanURL string) string {
	sum := sha256.Sum256([]byte(cleanURL))
	return filepath.Join(a.cfg.DataDir, "mirrors", hex.EncodeToString(sum[:10])+".git")
}

// pollUpstream fetches an upstream repository's branches and tags into its
// mirror (under the mirror's lock, so two polls of one URL take turns) and
// resolves the reference there; no reference means the upstream HEAD.
func (a *App) pollUpstream(ctx context.Context, t *pollTarget, ref string) (commit, resolved string, err error) {
	path := a.mirrorPath(t.cleanURL)
	unlock, err := a.git.LockContext(ctx, path)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	repo, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return "", "", fmt.Errorf("create mirror area: %w", err)
		}
		repo, err = git.PlainInit(path, true)
	}
	if err != nil {
		return "", "", fmt.Errorf("open mirror: %w", err)
	}
	// An anonymous remote keeps credentials out of the mirror's config.
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{t.cleanURL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: t.auth})
	if err != nil {
		return "", "", upstreamError(err)
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
		Auth:     t.auth, Tags: git.NoTags, Force: true, Prune: true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", "", upstreamError(err)
	}
	for _, r := range refs {
		if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference {
			if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, r.Target())); err != nil {
				return "", "", fmt.Errorf("set mirror HEAD: %w", err)
			}
			if ref == "" {
				ref = r.Target().Short()
			}
		}
	}
	if ref == "" {
		ref = "HEAD"
	}
	h, err := a.git.ResolveRef(ctx, path, ref)
	if err != nil {
		return "", ref, refError(ref, err)
	}
	return h.String(), ref, nil
}

// upstreamError words go-git's transport errors for the operator.
func upstreamError(err error) error {
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return errors.New("upstream repository is empty")
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errors.New("upstream repository not found")
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return errors.New("upstream repository requires authentication (put credentials in the URL)")
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return errors.New("upstream refused the credentials")
	}
	return fmt.Errorf("fetch upstream: %w", err)
}
