// Package polls is the forge core's poll runs: given repositories (on
// this server, or upstream git URLs synced by the mirror engine), it
// resolves a reference in each and reports whether it moved since the
// previous poll of the same URL and reference.
package polls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/mirrors"
	"tapioca/store"
)

const (
	// MaxTargets bounds one run.
	MaxTargets  = 100
	parallelism = 4
)

// Service runs polls, in the background when the caller does not wait;
// its Worker waits for those at shutdown.
type Service struct {
	env     *core.Env
	mirrors *mirrors.Engine

	mu   sync.Mutex
	base context.Context
	runs sync.WaitGroup
}

// New returns the poll service.
// Upstreams are synced by the mirror engine m.
func New(env *core.Env, m *mirrors.Engine) *Service {
	return &Service{env: env, mirrors: m, base: context.Background()}
}

// Worker records the serving context for background runs and, at
// shutdown, waits for the runs in flight.
func (s *Service) Worker(ctx context.Context) {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	<-ctx.Done()
	s.runs.Wait()
}

// Target is one repository to poll. Other fields a client sends are
// ignored.
type Target struct {
	URL       *string `json:"url"`
	Reference *string `json:"reference"`

	// Parsed from URL by validation:
	cleanURL string              // without credentials; the poll record's key
	creds    mirrors.Credentials // from the URL's user info, for upstream fetches
	owner    string              // local repositories
	repo     string
	local    bool
}

// Result is what one target's poll found.
type Result struct {
	URL            string // without credentials
	Reference      string // as resolved
	Source         string // local or upstream
	Repository     string // owner/repo for a local repository, else ""
	Commit         string // "" on error
	PreviousCommit string // of the previous poll of this url and reference; "" the first time
	Changed        bool
	PolledAt       time.Time
	Error          string
	// Moved lists the refs an upstream's sync moved in its mirror
	// (nil for a local repository).
	Moved []gitserver.RefUpdate
}

// Run is the outcome of a poll run: one result per target, in order.
type Run struct {
	Results []Result
	Changed int
	Failed  int
}

// Parse reads and validates a JSON array of targets before anything is
// fetched: bad input changes nothing. Field errors are keyed like
// "[1].url".
func (s *Service) Parse(body []byte) ([]*Target, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || strings.TrimSpace(string(body)) == "" {
			return nil, core.BadRequest("Request body must be a JSON array of poll targets, like [{\"url\": \"https://example.com/owner/repo.git\"}]")
		}
		return nil, core.BadRequest("Problems parsing JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	v := core.Validation{}
	if len(raw) == 0 {
		v.Add("targets", "must contain at least one poll target")
	}
	if len(raw) > MaxTargets {
		v.Add("targets", "must contain at most "+strconv.Itoa(MaxTargets)+" poll targets")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	targets := make([]*Target, len(raw))
	for i, m := range raw {
		field := func(f string) string { return "[" + strconv.Itoa(i) + "]." + f }
		t := &Target{}
		if err := json.Unmarshal(m, t); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				v.Add(field(te.Field), "must be "+kind(te.Type))
			} else {
				v.Add("["+strconv.Itoa(i)+"]", "must be an object with a url")
			}
			continue
		}
		targets[i] = t
		if t.Reference != nil && !validReference(*t.Reference) {
			v.Add(field("reference"), "must be a branch, tag, full ref name or commit")
		}
		if t.URL == nil || strings.TrimSpace(*t.URL) == "" {
			v.Add(field("url"), "is required")
			continue
		}
		if msg := s.classify(t); msg != "" {
			v.Add(field("url"), msg)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return targets, nil
}

// kind names a JSON type for a message.
func kind(t reflect.Type) string {
	if t.Kind() == reflect.String {
		return "a string"
	}
	return "of another type"
}

func validReference(s string) bool {
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

// classify decides whether t names a repository on this server (a URL
// under the base URL, or plain owner/repo) or upstream, and returns a
// validation message when it is neither.
func (s *Service) classify(t *Target) string {
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
		t.creds = mirrors.Credentials{Username: u.User.Username(), Password: pw}
		u.User = nil
	}
	u.Fragment, u.RawQuery = "", ""
	t.cleanURL = u.String()
	baseURL := s.env.BaseURL()
	base, err := url.Parse(baseURL)
	if err == nil && sameHost(u, base) {
		rest, under := strings.CutPrefix(u.Path, strings.TrimRight(base.Path, "/")+"/")
		if under {
			if owner, repo, ok := splitOwnerRepo(rest); ok {
				t.local, t.owner, t.repo = true, owner, repo
				return ""
			}
		}
		return "is on this server but does not name a repository (want " + strings.TrimRight(baseURL, "/") + "/owner/repo.git)"
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

// Start runs targets in the background; the channel receives the run
// when it is over. The run goes on after the caller stops waiting, until
// the server shuts down.
func (s *Service) Start(targets []*Target) <-chan Run {
	s.mu.Lock()
	base := s.base
	s.runs.Add(1)
	s.mu.Unlock()
	done := make(chan Run, 1)
	go func() {
		defer s.runs.Done()
		done <- s.run(base, targets)
	}()
	return done
}

// run polls every target, a few at a time, in request order.
func (s *Service) run(ctx context.Context, targets []*Target) Run {
	out := Run{Results: make([]Result, len(targets))}
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out.Results[i] = s.pollOne(ctx, t)
		})
	}
	wg.Wait()
	for _, r := range out.Results {
		if r.Changed {
			out.Changed++
		}
		if r.Error != "" {
			out.Failed++
		}
	}
	return out
}

// pollOne resolves one target and records what it found.
func (s *Service) pollOne(ctx context.Context, t *Target) Result {
	ref := ""
	if t.Reference != nil {
		ref = *t.Reference
	}
	res := Result{URL: t.cleanURL, Reference: ref, Source: "upstream"}
	var commit, resolvedRef string
	var err error
	if t.local {
		res.Source = "local"
		commit, resolvedRef, err = s.pollLocal(ctx, t, ref)
		if err == nil || resolvedRef != "" {
			res.Repository = t.owner + "/" + t.repo
		}
	} else {
		commit, resolvedRef, res.Moved, err = s.pollUpstream(ctx, t, ref)
		if res.Moved == nil {
			res.Moved = []gitserver.RefUpdate{}
		}
	}
	if resolvedRef != "" {
		res.Reference = resolvedRef
	}
	if err != nil {
		res.Error = err.Error()
	}
	rec, rerr := s.env.Store.RecordPoll(context.WithoutCancel(ctx), t.cleanURL, ref, commit, res.Error)
	if rerr != nil && err == nil {
		res.Error = "record poll: " + rerr.Error()
	}
	res.PolledAt = time.Now()
	if err == nil {
		res.Commit = commit
		res.PreviousCommit = rec.PreviousCommit
		res.Changed = commit != rec.PreviousCommit
	}
	return res
}

// pollLocal resolves a reference (default: the default branch) in a
// repository of this server.
func (s *Service) pollLocal(ctx context.Context, t *Target, ref string) (commit, resolved string, err error) {
	repo, err := s.env.Store.RepoByName(ctx, t.owner, t.repo)
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
	h, err := s.env.Git.ResolveRef(ctx, s.env.RepoPath(repo.ID), ref)
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

// pollUpstream syncs the upstream's mirror through the mirror engine
// (the mirror of a watched repository when the URL is one, with its
// stored token unless the URL carries credentials) and resolves the
// reference there; no reference means the upstream's HEAD.
func (s *Service) pollUpstream(ctx context.Context, t *Target, ref string) (commit, resolved string, moved []gitserver.RefUpdate, err error) {
	m, err := s.mirrors.Find(ctx, t.cleanURL)
	if errors.Is(err, store.ErrNotFound) {
		m, err = s.mirrors.Ensure(ctx, t.cleanURL)
	}
	if err != nil {
		return "", "", nil, err
	}
	var creds *mirrors.Credentials
	if t.creds != (mirrors.Credentials{}) {
		creds = &t.creds
	}
	res, err := s.mirrors.Sync(ctx, m.ID, creds)
	if err != nil {
		return "", "", nil, upstreamError(err)
	}
	if ref == "" {
		ref = strings.TrimPrefix(res.Mirror.HeadRef, "refs/heads/")
	}
	if ref == "" {
		ref = "HEAD"
	}
	h, err := s.env.Git.ResolveRef(ctx, s.mirrors.Path(m.ID), ref)
	if err != nil {
		return "", ref, res.Updates, refError(ref, err)
	}
	return h.String(), ref, res.Updates, nil
}

// upstreamError words a failed sync for the operator.
func upstreamError(err error) error {
	if errors.Is(err, gitserver.ErrUpstreamNotReadable) {
		return errors.New("upstream repository not found, or it requires authentication (put credentials in the URL)")
	}
	return fmt.Errorf("fetch upstream: %w", err)
}
