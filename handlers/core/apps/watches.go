package apps

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/mirrors"
	"tapioca/store"
)

// ErrUpstream marks a failure to reach the upstream host (not a
// repository that is missing or unreadable): doors answer it as a bad
// gateway.
var ErrUpstream = errors.New("upstream unavailable")

var (
	ownerRe    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	watchIDRe  = regexp.MustCompile(`^repo_[0-9a-f]{24}$`)
)

const maxToken = 1024

// invalid is a 422 with one message and no field list: the Docora
// dialect's errors are {"error": "..."}.
func invalid(format string, args ...any) error { return core.Invalidf(format, args...) }

// RepoURL is a watched repository's upstream as registered.
type RepoURL struct {
	Owner, Name string
	Canonical   string // <github-url>/owner/repo
	Git         string // Canonical + ".git": the mirror's URL
}

// ParseRepoURL checks that raw names a repository on the upstream host:
// <github-url>/owner/repo, optionally ending in .git or /. The error
// says what is wrong.
func (s *Service) ParseRepoURL(raw string) (RepoURL, error) {
	gh := s.github
	want := gh.String() + "/owner/repo"
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return RepoURL{}, invalid("github_url is required (%s)", want)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return RepoURL{}, invalid("github_url must be a repository URL like %s", want)
	case u.User != nil:
		return RepoURL{}, invalid("github_url must not contain credentials; send the token as github_token")
	case !strings.EqualFold(u.Scheme, gh.Scheme) || !strings.EqualFold(u.Host, gh.Host):
		return RepoURL{}, invalid("github_url must be a repository on %s, like %s", gh.Host, want)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#"):
		return RepoURL{}, invalid("github_url must not have a query or a fragment")
	}
	p, ok := strings.CutPrefix(u.Path, strings.TrimRight(gh.Path, "/")+"/")
	if !ok {
		return RepoURL{}, invalid("github_url must be a repository URL like %s", want)
	}
	p = strings.TrimSuffix(p, "/")
	parts := strings.Split(p, "/")
	if len(parts) != 2 {
		return RepoURL{}, invalid("github_url must name a repository as %s, not %q", want, "/"+p)
	}
	owner, name := parts[0], strings.TrimSuffix(parts[1], ".git")
	switch {
	case !ownerRe.MatchString(owner):
		return RepoURL{}, invalid("github_url has an invalid owner %q (letters, digits and hyphens, at most 39)", owner)
	case !repoNameRe.MatchString(name) || name == "." || name == "..":
		return RepoURL{}, invalid("github_url has an invalid repository name %q (letters, digits, '.', '-' and '_', at most 100)", parts[1])
	}
	c := gh.String() + "/" + owner + "/" + name
	return RepoURL{Owner: owner, Name: name, Canonical: c, Git: c + ".git"}, nil
}

// checkToken validates an upstream token as given: its prefix is not
// checked (GitHub, Gitea and Tapioca tokens differ), only that it can be
// sent in a header.
func checkToken(tok string) error {
	switch {
	case len(tok) > maxToken:
		return invalid("github_token is too long (maximum is %d characters)", maxToken)
	case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return invalid("github_token must not contain spaces or control characters")
	}
	return nil
}

// ValidWatchID reports whether id has the form repo_ + 24 hex.
func ValidWatchID(id string) bool { return watchIDRe.MatchString(id) }

// notFoundUpstream is the 404 of a registration.
func (s *Service) notFoundUpstream() error {
	return core.NotFound("Repository not found on %s (or the token cannot read it)", s.github.Host)
}

// probe checks the upstream with c; a missing or unreadable repository
// is readable=false, a failure to reach the host an ErrUpstream.
func (s *Service) probe(ctx context.Context, r RepoURL, c mirrors.Credentials) (readable bool, err error) {
	_, err = s.mirrors.Probe(ctx, r.Git, c)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, gitserver.ErrUpstreamNotReadable):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, &core.Error{Kind: ErrUpstream, Msg: "Could not reach " + s.github.Host + ": " + err.Error()}
}

// Registration is what an app registers.
type Registration struct {
	GitHubURL   string
	GitHubToken string // "" = none
}

// Register makes app watch a repository: the URL must name one on the
// upstream host, and the repository must be readable with the token
// (404 otherwise); it is private when it is not readable without. The
// mirror is synced now and the default branch scanned, every file
// delivered as created.
func (s *Service) Register(ctx context.Context, app *store.App, in Registration) (*store.Watch, error) {
	r, err := s.ParseRepoURL(in.GitHubURL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(in.GitHubToken); err != nil {
		return nil, err
	}
	ok, err := s.probe(ctx, r, mirrors.Credentials{Password: in.GitHubToken})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.notFoundUpstream()
	}
	private := false
	if in.GitHubToken != "" {
		public, err := s.probe(ctx, r, mirrors.Credentials{})
		if err != nil {
			return nil, err
		}
		private = !public
	}
	// An app unregistering the mirror's last watch at the same moment
	// removes the mirror between Ensure and the insert; the next attempt
	// makes a new one.
	for attempt := 1; ; attempt++ {
		w, err := s.watchOnMirror(ctx, app, r, private, in.GitHubToken)
		if errors.Is(err, store.ErrNotFound) && attempt < 3 {
			continue
		}
		return w, err
	}
}

// watchOnMirror ensures r's mirror and records app's watch of it.
func (s *Service) watchOnMirror(ctx context.Context, app *store.App, r RepoURL, private bool, token string) (*store.Watch, error) {
	m, err := s.mirrors.Ensure(ctx, r.Git)
	if err != nil {
		return nil, err
	}
	// The mirror is made ready before the watch exists, so a failure
	// leaves no watch behind; the token was just shown to read it.
	if err := s.mirrors.Schedule(ctx, m.ID); err != nil {
		return nil, err
	}
	if token != "" {
		if err := s.mirrors.SetToken(ctx, m.ID, token); err != nil {
			return nil, err
		}
	}
	w, err := s.env.Store.CreateWatch(ctx, store.NewWatch{AppID: app.ID, MirrorID: m.ID, GitHubURL: r.Canonical,
		Owner: r.Owner, Name: r.Name, IsPrivate: private, Token: s.env.Secrets.Seal(token)})
	if errors.Is(err, store.ErrDuplicate) {
		if prev, lerr := s.findWatch(ctx, app.ID, m.ID); lerr == nil {
			return nil, core.Conflict("This repository is already registered for this app as %s", prev.PublicID)
		}
		return nil, core.Conflict("This repository is already registered for this app")
	}
	if err != nil {
		return nil, errors.Join(err, s.afterUnwatch(context.WithoutCancel(ctx), m.ID))
	}
	s.mirrors.Kick(m.ID)
	return w, nil
}

func (s *Service) findWatch(ctx context.Context, appID, mirrorID int64) (*store.Watch, error) {
	ws, err := s.env.Store.ListWatches(ctx, store.WatchFilter{AppID: appID, MirrorID: mirrorID})
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, store.ErrNotFound
	}
	return ws[0], nil
}

// watchOf loads app's watched repository id: malformed, unknown and
// another app's ids are all not found.
func (s *Service) watchOf(ctx context.Context, app *store.App, id string) (*store.Watch, error) {
	if !ValidWatchID(id) {
		return nil, core.NotFound("Repository not found")
	}
	w, err := s.env.Store.AppWatch(ctx, app.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("Repository not found")
	}
	return w, err
}

// Unregister stops app watching a repository: its deliveries stop and
// its delivery history goes; the mirror goes when no app watches it.
func (s *Service) Unregister(ctx context.Context, app *store.App, id string) error {
	w, err := s.watchOf(ctx, app, id)
	if err != nil {
		return err
	}
	if err := s.env.Store.DeleteWatch(ctx, w.ID); err != nil {
		return err
	}
	return s.afterUnwatch(ctx, w.MirrorID)
}

// afterUnwatch removes a mirror nobody watches any more, or hands its
// scheduled syncs the token of a remaining watcher.
func (s *Service) afterUnwatch(ctx context.Context, mirrorID int64) error {
	ws, err := s.env.Store.ListWatches(ctx, store.WatchFilter{MirrorID: mirrorID})
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return s.mirrors.RemoveIfUnwatched(ctx, mirrorID)
	}
	var latest *store.Watch
	for _, w := range ws {
		if w.Token != "" && (latest == nil || !w.UpdatedAt.Before(latest.UpdatedAt)) {
			latest = w
		}
	}
	sealed := ""
	if latest != nil {
		sealed = latest.Token
	}
	return s.env.Store.SetMirrorToken(ctx, mirrorID, sealed)
}

// UpdateToken replaces the upstream token of app's watched repository.
// A token that cannot read the repository is refused (422). The error
// state and the circuit breaker are cleared, deliveries not yet made are
// dropped, and a fresh scan follows a new sync.
func (s *Service) UpdateToken(ctx context.Context, app *store.App, id, token string) error {
	w, err := s.watchOf(ctx, app, id)
	if err != nil {
		return err
	}
	if token == "" {
		return invalid("github_token is required")
	}
	if err := checkToken(token); err != nil {
		return err
	}
	r, err := s.ParseRepoURL(w.GitHubURL)
	if err != nil {
		return err
	}
	ok, err := s.probe(ctx, r, mirrors.Credentials{Password: token})
	if err != nil {
		return err
	}
	if !ok {
		return invalid("Token cannot access this repository")
	}
	sealed := s.env.Secrets.Seal(token)
	if err := s.env.Store.RescanWatch(ctx, w.ID, &sealed); err != nil {
		return err
	}
	if err := s.mirrors.SetToken(ctx, w.MirrorID, token); err != nil {
		return err
	}
	s.mirrors.Kick(w.MirrorID)
	s.wakePlanner()
	return nil
}

// Watches lists every watched repository (site administrators).
func (s *Service) Watches(ctx context.Context, a core.Actor) ([]*store.Watch, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	return s.env.Store.ListWatches(ctx, store.WatchFilter{})
}

// ResetBreaker closes a watched repository's circuit breaker: its
// waiting deliveries go out again (site administrators).
func (s *Service) ResetBreaker(ctx context.Context, a core.Actor, watchID int64) (*store.Watch, error) {
	if err := checkAdmin(a); err != nil {
		return nil, err
	}
	if err := s.env.Store.ResetBreaker(ctx, watchID); err != nil {
		return nil, err
	}
	s.wakeDeliverer()
	return s.env.Store.WatchByID(ctx, watchID)
}
