package projects

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/mirrors"
	"tapioca/store"
)

// Providers and auth types as the dialect names them.
const (
	ProviderTapioca = "tapioca"
	AuthNone        = "none"
	AuthToken       = "token"
	AuthSSH         = "ssh"
	maxToken        = 1024
)

// ErrNoDeployKey is why an SSH upstream cannot be read yet: it is read
// with the project's deploy key, and there is none.
var ErrNoDeployKey = errors.New("this project has no deploy key yet: make one with regenerate-key " +
	"and add its public key to the upstream repository as a read-only deploy key")

// ConnectInput connects a repository: a Tapioca repository (provider
// "tapioca", or a clone URL of this forge, or repoOwner and repoName
// without a URL) or an upstream URL.
type ConnectInput struct {
	Provider, RepoURL, RepoOwner, RepoName string
	AuthType, AccessToken                  string
	DefaultBranch                          string
}

// target is a resolved connection target.
type target struct {
	repo     *store.Repo // a Tapioca repository
	url      string      // an upstream
	ssh      bool
	provider string
}

// resolve decides what a connection input names; field errors go to v.
func (s *Service) resolve(ctx context.Context, a core.Actor, v core.Validation, in ConnectInput) (*target, error) {
	base := strings.TrimRight(s.env.BaseURL(), "/") + "/"
	raw := strings.TrimSpace(in.RepoURL)
	local := strings.EqualFold(in.Provider, ProviderTapioca) || strings.HasPrefix(raw, base) ||
		(raw == "" && in.Provider == "" && (in.RepoOwner != "" || in.RepoName != ""))
	if local {
		owner, name := in.RepoOwner, in.RepoName
		if raw != "" {
			rest, ok := strings.CutPrefix(raw, base)
			parts := strings.Split(strings.TrimSuffix(strings.TrimSuffix(rest, "/"), ".git"), "/")
			if !ok || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
				v.Add("repoUrl", "is not a clone URL of a repository on this forge ("+base+"owner/name.git)")
				return nil, nil
			}
			owner, name = parts[0], parts[1]
		}
		if owner == "" {
			v.Add("repoOwner", "can't be blank")
		}
		if name == "" {
			v.Add("repoName", "can't be blank")
		}
		if len(v) > 0 {
			return nil, nil
		}
		repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
		if errors.Is(err, core.ErrNotFound) {
			v.Add("repoName", fmt.Sprintf("does not exist or you cannot read it (%s/%s)", owner, name))
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &target{repo: repo, provider: ProviderTapioca}, nil
	}
	if raw == "" {
		v.Add("repoUrl", "can't be blank")
		return nil, nil
	}
	if len(raw) > maxURL {
		v.Add("repoUrl", fmt.Sprintf("is too long (maximum is %d characters)", maxURL))
		return nil, nil
	}
	t := &target{url: strings.TrimRight(raw, "/"), provider: strings.ToLower(in.Provider)}
	host := ""
	if u, err := url.Parse(raw); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		switch {
		case u.Host == "" || u.Hostname() == "":
			v.Add("repoUrl", "is not a valid URL")
		case u.User != nil:
			v.Add("repoUrl", "must not contain credentials (send the token as accessToken)")
		case u.RawQuery != "" || u.Fragment != "":
			v.Add("repoUrl", "must not have a query or fragment")
		}
		host = u.Hostname()
	} else if u, err := url.Parse(raw); err == nil && u.Scheme == "ssh" && u.Hostname() != "" {
		t.ssh, host = true, u.Hostname()
	} else if at, colon := strings.Index(raw, "@"), strings.Index(raw, ":"); at > 0 && colon > at+1 && !strings.Contains(raw[:colon], "/") {
		t.ssh, host = true, raw[at+1:colon]
	} else {
		v.Add("repoUrl", "must be an https:// URL or an SSH address (git@host:owner/repo.git)")
	}
	if core.LineProblem(raw) != "" {
		v.Add("repoUrl", core.LineProblem(raw))
	}
	if t.provider == "" {
		t.provider = providerOf(host)
	}
	return t, nil
}

// providerOf names a host's provider the way the dialect does.
func providerOf(host string) string {
	h := strings.ToLower(host)
	for _, p := range []string{"github", "gitlab", "bitbucket"} {
		if h == p+".com" || h == p+".org" || strings.HasSuffix(h, "."+p+".com") || strings.HasSuffix(h, "."+p+".org") {
			return p
		}
	}
	return "git"
}

// ownerName is the last two segments of an upstream URL's path.
func ownerName(raw string) (string, string) {
	path := raw
	if u, err := url.Parse(raw); err == nil && u.Path != "" {
		path = u.Path
	} else if i := strings.LastIndex(raw, ":"); i >= 0 {
		path = raw[i+1:]
	}
	parts := strings.Split(strings.Trim(strings.TrimSuffix(strings.TrimRight(path, "/"), ".git"), "/"), "/")
	if len(parts) < 2 {
		return "", parts[len(parts)-1]
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// authFor checks authType against the target and the token.
func authFor(v core.Validation, t *target, authType, token string) string {
	if len(token) > maxToken {
		v.Add("accessToken", fmt.Sprintf("is too long (maximum is %d characters)", maxToken))
	} else if p := core.LineProblem(token); p != "" {
		v.Add("accessToken", p)
	}
	if authType == "" {
		switch {
		case t != nil && t.ssh:
			authType = AuthSSH
		case token != "":
			authType = AuthToken
		default:
			authType = AuthNone
		}
	}
	switch authType {
	case AuthNone:
		if token != "" {
			v.Add("accessToken", "must be absent with authType none")
		}
	case AuthToken:
		if token == "" {
			v.Add("accessToken", "can't be blank with authType token")
		}
		if t != nil && t.ssh {
			v.Add("authType", "must be ssh for an SSH address")
		}
	case AuthSSH:
		if t != nil && t.repo == nil && !t.ssh {
			v.Add("authType", "ssh needs an SSH address (git@host:owner/repo.git) as repoUrl")
		}
	default:
		v.Add("authType", "is not included in the list: none, token, ssh")
	}
	return authType
}

// Connect connects a repository to a project that has none.
func (s *Service) Connect(ctx context.Context, a core.Actor, id string, in ConnectInput) (*store.ProjectRepo, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.env.Store.ProjectRepoOf(ctx, p.ID); err == nil {
		return nil, core.Conflict("A repository is already connected to this project: change it with PUT or disconnect it with DELETE first")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	v := core.Validation{}
	t, err := s.resolve(ctx, a, v, in)
	if err != nil {
		return nil, err
	}
	auth := authFor(v, t, in.AuthType, in.AccessToken)
	if in.DefaultBranch != "" && gitserver.CheckBranchName(in.DefaultBranch) != nil {
		v.Add("defaultBranch", "is not a valid branch name")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	r := &store.ProjectRepo{ProjectID: p.ID, Provider: t.provider, AuthType: auth, DefaultBranch: in.DefaultBranch}
	if t.repo != nil {
		site := s.env.Site()
		r.RepoID, r.RepoURL, r.RepoOwner, r.RepoName = t.repo.ID, site.CloneURL(t.repo.FullName()), t.repo.OwnerName, t.repo.Name
		r.DefaultBranch = t.repo.DefaultBranch
		r.AuthType = AuthNone
		r.Tips = "{}"
	} else {
		r.RepoURL = t.url
		r.RepoOwner, r.RepoName = ownerName(t.url)
		r.RepoOwner, r.RepoName = firstNonEmpty(in.RepoOwner, r.RepoOwner), firstNonEmpty(in.RepoName, r.RepoName)
		if in.AccessToken != "" {
			r.AccessToken = s.env.Secrets.Seal(in.AccessToken)
		}
		if r.MirrorID, err = s.mirrorOf(ctx, t); err != nil {
			return nil, err
		}
		// No baseline yet: the first sync records the tips without
		// notifying, so connecting does not deploy every branch.
		r.Tips = ""
	}
	if _, err := s.env.Store.SaveProjectRepo(ctx, r); err != nil {
		return nil, err
	}
	return s.sync(ctx, a, p)
}

// mirrorOf is the mirror that follows an upstream (shared with anyone
// following the same URL).
func (s *Service) mirrorOf(ctx context.Context, t *target) (int64, error) {
	m, err := s.mirrors.Find(ctx, t.url)
	if errors.Is(err, store.ErrNotFound) {
		m, err = s.mirrors.Ensure(ctx, t.url)
	}
	if err != nil {
		return 0, err
	}
	return m.ID, nil
}

// upstreamProblem is what a failed read of an upstream records and
// says: the error, with the way out where there is one.
func upstreamProblem(err error) string {
	switch {
	case errors.Is(err, gitserver.ErrHostKeyChanged):
		return err.Error() + ". If the server's key was replaced on purpose, disconnect and reconnect the repository to trust the new one"
	case errors.Is(err, gitserver.ErrUpstreamUnreachable):
		return "Tapioca could not connect to the upstream: " + err.Error()
	}
	return err.Error()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// UpdateRepoInput changes a connection; absent fields stay.
type UpdateRepoInput struct {
	RepoURL        core.Opt[string]
	DefaultBranch  core.Opt[string]
	PollingEnabled core.Opt[bool]
	WebhookSecret  core.Opt[string]
	AccessToken    core.Opt[string]
}

// UpdateRepo changes the connection's URL, default branch, polling,
// webhook secret or token.
func (s *Service) UpdateRepo(ctx context.Context, a core.Actor, id string, in UpdateRepoInput) (*store.ProjectRepo, error) {
	p, r, err := s.connected(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	var t *target
	if in.RepoURL.Set && in.RepoURL.V != r.RepoURL {
		if t, err = s.resolve(ctx, a, v, ConnectInput{RepoURL: in.RepoURL.V}); err != nil {
			return nil, err
		}
	}
	if in.DefaultBranch.Set && (in.DefaultBranch.Null || gitserver.CheckBranchName(in.DefaultBranch.V) != nil) {
		v.Add("defaultBranch", "is not a valid branch name")
	}
	if in.PollingEnabled.Set && in.PollingEnabled.Null {
		v.Add("pollingEnabled", "must be a boolean")
	}
	switch {
	case !in.PollingEnabled.V:
	case t == nil && r.RepoID != 0, t != nil && t.repo != nil:
		v.Add("pollingEnabled", "applies to upstream repositories only: a Tapioca repository tells the project about every push")
	}
	if in.WebhookSecret.Given() {
		if n := len(in.WebhookSecret.V); n < minSecret || n > maxSecret {
			v.Add("webhookSecret", fmt.Sprintf("must be %d to %d characters", minSecret, maxSecret))
		} else if pr := core.LineProblem(in.WebhookSecret.V); pr != "" {
			v.Add("webhookSecret", pr)
		}
	}
	if in.AccessToken.Given() {
		authFor(v, nil, AuthToken, in.AccessToken.V)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	oldMirror := r.MirrorID
	if t != nil {
		// Another repository: as a new connection, keeping the settings.
		// A Tapioca deploy key made for the old one goes.
		if err := s.removeDeployKey(ctx, r); err != nil {
			return nil, err
		}
		r.DeployKeyID = 0
		if t.repo != nil {
			site := s.env.Site()
			r.Provider, r.RepoID, r.MirrorID, r.RepoURL = ProviderTapioca, t.repo.ID, 0, site.CloneURL(t.repo.FullName())
			r.RepoOwner, r.RepoName, r.DefaultBranch, r.AuthType, r.Tips = t.repo.OwnerName, t.repo.Name, t.repo.DefaultBranch, AuthNone, "{}"
			r.PollingEnabled = false
		} else {
			if r.MirrorID, err = s.mirrorOf(ctx, t); err != nil {
				return nil, err
			}
			r.Provider, r.RepoID, r.RepoURL, r.Tips = t.provider, 0, t.url, ""
			r.RepoOwner, r.RepoName = ownerName(t.url)
			if t.ssh {
				r.AuthType = AuthSSH
			} else if r.AuthType == AuthSSH {
				r.AuthType = AuthNone
			}
		}
	}
	if in.DefaultBranch.Given() {
		r.DefaultBranch = in.DefaultBranch.V
	}
	if in.PollingEnabled.Set {
		r.PollingEnabled = in.PollingEnabled.V
	}
	if in.WebhookSecret.Set {
		r.WebhookSecret = ""
		if in.WebhookSecret.Given() && in.WebhookSecret.V != "" {
			r.WebhookSecret = s.env.Secrets.Seal(in.WebhookSecret.V)
		}
	}
	if in.AccessToken.Set {
		auth := AuthNone
		r.AccessToken = ""
		if in.AccessToken.Given() && in.AccessToken.V != "" {
			r.AccessToken, auth = s.env.Secrets.Seal(in.AccessToken.V), AuthToken
		}
		// An SSH upstream is read with the deploy key whatever the token.
		if r.AuthType != AuthSSH {
			r.AuthType = auth
		}
	}
	if _, err := s.env.Store.SaveProjectRepo(ctx, r); err != nil {
		return nil, err
	}
	if oldMirror != 0 && oldMirror != r.MirrorID {
		if err := s.mirrors.RemoveIfUnwatched(ctx, oldMirror); err != nil {
			return nil, err
		}
	}
	if r.PollingEnabled && r.MirrorID != 0 {
		if err := s.schedule(ctx, r); err != nil {
			return nil, err
		}
	}
	if t != nil {
		return s.sync(ctx, a, p)
	}
	return s.env.Store.ProjectRepoOf(ctx, p.ID)
}

// schedule makes the mirror synced on the engine's interval, giving it
// the project's credential (its token, or for an SSH upstream its deploy
// key) when it has none.
func (s *Service) schedule(ctx context.Context, r *store.ProjectRepo) error {
	m, err := s.env.Store.MirrorByID(ctx, r.MirrorID)
	if err != nil {
		return err
	}
	sealed := r.AccessToken
	if r.AuthType == AuthSSH {
		sealed = r.DeployPrivateKey
	}
	if m.Token == "" && sealed != "" {
		tok, err := s.env.Secrets.Open(sealed)
		if err != nil {
			return err
		}
		if err := s.mirrors.SetToken(ctx, m.ID, tok); err != nil {
			return err
		}
	}
	return s.mirrors.Schedule(ctx, m.ID)
}

// connected loads a project and its connection (not found when none).
func (s *Service) connected(ctx context.Context, a core.Actor, id string, write bool) (*store.Project, *store.ProjectRepo, error) {
	p, err := s.project(ctx, a, id, write)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.env.Store.ProjectRepoOf(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, core.NotFound("No repository is connected to this project")
	}
	return p, r, err
}

// readable refuses reading a Tapioca repository's refs to someone who
// cannot read the repository itself: a project's member is not
// necessarily one of its repository's readers.
func (s *Service) readable(ctx context.Context, a core.Actor, r *store.ProjectRepo) error {
	if r.RepoID == 0 {
		return nil
	}
	repo, err := s.env.Store.RepoByID(ctx, r.RepoID)
	if err == nil {
		_, err = s.env.CheckRepo(ctx, a, repo, store.PermRead)
	}
	if core.IsNotFound(err) {
		return core.NotFound("The connected repository does not exist any more, or you cannot read it")
	}
	return err
}

// Repo returns a project's connection.
func (s *Service) Repo(ctx context.Context, a core.Actor, id string) (*store.ProjectRepo, error) {
	_, r, err := s.connected(ctx, a, id, false)
	return r, err
}

// Disconnect removes the connection: the deploy key made for a Tapioca
// repository goes, and a mirror no one else follows.
func (s *Service) Disconnect(ctx context.Context, a core.Actor, id string) error {
	p, _, err := s.connected(ctx, a, id, true)
	if err != nil {
		return err
	}
	return s.disconnect(ctx, a, p)
}

func (s *Service) disconnect(ctx context.Context, a core.Actor, p *store.Project) error {
	r, err := s.env.Store.ProjectRepoOf(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.removeDeployKey(ctx, r); err != nil {
		return err
	}
	if err := s.env.Store.DeleteProjectRepo(ctx, p.ID); err != nil {
		return err
	}
	if r.MirrorID != 0 {
		return s.mirrors.RemoveIfUnwatched(ctx, r.MirrorID)
	}
	return nil
}

// removeDeployKey removes the Tapioca deploy key the project made. The
// project's writer may not administer the repository (whoever made the
// key did): the key is the project's, so the core removes it itself.
func (s *Service) removeDeployKey(ctx context.Context, r *store.ProjectRepo) error {
	if r.DeployKeyID == 0 || r.RepoID == 0 {
		return nil
	}
	err := s.env.Store.DeleteDeployKey(ctx, r.RepoID, r.DeployKeyID)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Sync refreshes the connection now: a Tapioca repository's metadata
// (renames and transfers are noticed, a deleted one reported) or the
// upstream's mirror, then notifies about branches the sync moved.
func (s *Service) Sync(ctx context.Context, a core.Actor, ns, id string) (*store.ProjectRepo, error) {
	p, err := s.ProjectIn(ctx, a, ns, id, true)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.connected(ctx, a, id, true); err != nil {
		return nil, err
	}
	return s.sync(ctx, a, p)
}

func (s *Service) sync(ctx context.Context, a core.Actor, p *store.Project) (*store.ProjectRepo, error) {
	r, err := s.env.Store.ProjectRepoOf(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := store.ProjectSync{Status: store.MirrorSynced}
	switch {
	case r.RepoID != 0:
		repo, err := s.env.Store.RepoByID(ctx, r.RepoID)
		if err == nil {
			_, err = s.env.CheckRepo(ctx, a, repo, store.PermRead)
		}
		switch {
		case core.IsNotFound(err):
			out = store.ProjectSync{Status: store.MirrorError,
				Error: fmt.Sprintf("The repository %s/%s was deleted, or you can no longer read it", r.RepoOwner, r.RepoName)}
		case err != nil:
			return nil, err
		default:
			url := s.env.Site().CloneURL(repo.FullName())
			out.RepoOwner, out.RepoName, out.RepoURL, out.DefaultBranch = &repo.OwnerName, &repo.Name, &url, &repo.DefaultBranch
		}
	case r.AuthType == AuthSSH && r.DeployPrivateKey == "":
		out = store.ProjectSync{Status: store.MirrorError, Error: upperFirst(ErrNoDeployKey.Error())}
	default:
		if r.MirrorID == 0 {
			// An SSH upstream connected before SSH was fetchable has no
			// mirror yet.
			if r.MirrorID, err = s.mirrorOf(ctx, &target{url: r.RepoURL}); err != nil {
				return nil, err
			}
			if r, err = s.env.Store.SaveProjectRepo(ctx, r); err != nil {
				return nil, err
			}
		}
		creds, err := s.creds(r)
		if err != nil {
			return nil, err
		}
		res, err := s.mirrors.Sync(ctx, r.MirrorID, &creds)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out = store.ProjectSync{Status: store.MirrorError, Error: upstreamProblem(err)}
		} else if b, ok := strings.CutPrefix(res.Mirror.HeadRef, "refs/heads/"); ok && r.DefaultBranch == "" {
			out.DefaultBranch = &b
		}
	}
	if err := s.env.Store.RecordProjectSync(ctx, p.ID, out); err != nil {
		return nil, err
	}
	if out.Status == store.MirrorSynced && r.MirrorID != 0 {
		if err := s.planUpstream(ctx, p.ID); err != nil {
			return nil, err
		}
	}
	return s.env.Store.ProjectRepoOf(ctx, p.ID)
}

// creds are what the project reads its upstream with: the token, or
// for an SSH upstream the deploy key.
func (s *Service) creds(r *store.ProjectRepo) (mirrors.Credentials, error) {
	if r.AuthType == AuthSSH {
		if r.DeployPrivateKey == "" {
			return mirrors.Credentials{}, nil
		}
		key, err := s.env.Secrets.Open(r.DeployPrivateKey)
		if err != nil {
			return mirrors.Credentials{}, fmt.Errorf("project deploy key: %w", err)
		}
		return mirrors.Credentials{SSHKey: key}, nil
	}
	if r.AccessToken == "" {
		return mirrors.Credentials{}, nil
	}
	tok, err := s.env.Secrets.Open(r.AccessToken)
	if err != nil {
		return mirrors.Credentials{}, fmt.Errorf("project access token: %w", err)
	}
	return mirrors.Credentials{Password: tok}, nil
}

// SyncStatus returns the connection's sync state.
func (s *Service) SyncStatus(ctx context.Context, a core.Actor, ns, id string) (*store.ProjectRepo, error) {
	if _, err := s.ProjectIn(ctx, a, ns, id, false); err != nil {
		return nil, err
	}
	_, r, err := s.connected(ctx, a, id, false)
	return r, err
}

// Validation is what Validate found.
type ValidateResult struct {
	Valid         bool
	Reason        string // why not, when not valid
	DefaultBranch string
	Branches      int
}

// ValidateInput optionally checks other credentials or another URL (the
// reconnect dialog) instead of the stored ones.
type ValidateInput struct {
	RepoURL     string
	AccessToken string
}

// Validate checks that the connection (or the URL and token given) can
// be read, changing nothing, and says why not.
func (s *Service) Validate(ctx context.Context, a core.Actor, ns, id string, in ValidateInput) (*ValidateResult, error) {
	if _, err := s.ProjectIn(ctx, a, ns, id, true); err != nil {
		return nil, err
	}
	_, r, err := s.connected(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	if in.RepoURL != "" {
		v := core.Validation{}
		t, err := s.resolve(ctx, a, v, ConnectInput{RepoURL: in.RepoURL})
		if err != nil {
			return nil, err
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
		// The project's deploy key reads any SSH address it is given.
		r = &store.ProjectRepo{RepoURL: t.url, AuthType: AuthNone, DeployPrivateKey: r.DeployPrivateKey}
		if t.repo != nil {
			r.RepoID = t.repo.ID
		} else if t.ssh {
			r.AuthType = AuthSSH
		}
	}
	if r.RepoID != 0 {
		repo, err := s.env.Store.RepoByID(ctx, r.RepoID)
		if err == nil {
			_, err = s.env.CheckRepo(ctx, a, repo, store.PermRead)
		}
		if core.IsNotFound(err) {
			return &ValidateResult{Reason: "The repository does not exist any more, or you cannot read it"}, nil
		}
		if err != nil {
			return nil, err
		}
		tips, err := s.env.BranchTips(ctx, repo)
		if err != nil {
			return nil, err
		}
		return &ValidateResult{Valid: true, DefaultBranch: repo.DefaultBranch, Branches: len(tips)}, nil
	}
	if r.AuthType == AuthSSH && r.DeployPrivateKey == "" {
		return &ValidateResult{Reason: upperFirst(ErrNoDeployKey.Error())}, nil
	}
	creds, err := s.creds(r)
	if err != nil {
		return nil, err
	}
	if in.AccessToken != "" && r.AuthType != AuthSSH {
		creds = mirrors.Credentials{Password: in.AccessToken}
	}
	refs, err := s.mirrors.Probe(ctx, r.RepoURL, creds)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		reason := upstreamProblem(err)
		if errors.Is(err, gitserver.ErrUpstreamNotReadable) {
			reason = "The upstream answered that the repository does not exist or these credentials cannot read it (check the access token and its scopes)"
			if r.AuthType == AuthSSH {
				reason = "The upstream refused the project's deploy key, or the repository does not exist " +
					"(add the key from regenerate-key to the repository as a deploy key, and check the address): " + err.Error()
			}
		}
		return &ValidateResult{Reason: reason}, nil
	}
	res := &ValidateResult{Valid: true, DefaultBranch: strings.TrimPrefix(refs.HEAD, "refs/heads/")}
	for _, ref := range refs.Refs {
		if strings.HasPrefix(ref.Name, "refs/heads/") {
			res.Branches++
		}
	}
	return res, nil
}

// Ref is a branch or tag of the connected repository.
type Ref struct {
	Name      string
	CommitSHA string
	IsDefault bool
}

// repoPath is where the connected repository's refs are on disk.
func (s *Service) repoPath(r *store.ProjectRepo) string {
	if r.RepoID != 0 {
		return s.env.RepoPath(r.RepoID)
	}
	return s.mirrors.Path(r.MirrorID)
}

// Branches lists the connected repository's branches (an upstream's as
// of its last sync).
func (s *Service) Branches(ctx context.Context, a core.Actor, id string) ([]Ref, error) {
	_, r, err := s.connected(ctx, a, id, false)
	if err != nil {
		return nil, err
	}
	if err := s.readable(ctx, a, r); err != nil {
		return nil, err
	}
	if r.RepoID == 0 && r.MirrorID == 0 {
		return []Ref{}, nil // an SSH upstream connected before SSH was fetchable, never synced since
	}
	bs, err := s.env.Git.Branches(ctx, s.repoPath(r))
	if errors.Is(err, gitserver.ErrNotFound) {
		return []Ref{}, nil // an upstream not synced yet
	}
	if err != nil {
		return nil, err
	}
	out := make([]Ref, 0, len(bs))
	for _, b := range bs {
		out = append(out, Ref{Name: b.Name, CommitSHA: b.Hash.String(), IsDefault: b.Name == r.DefaultBranch})
	}
	return out, nil
}

// Tags lists the connected repository's tags, each with the commit it
// names.
func (s *Service) Tags(ctx context.Context, a core.Actor, id string) ([]Ref, error) {
	_, r, err := s.connected(ctx, a, id, false)
	if err != nil {
		return nil, err
	}
	if err := s.readable(ctx, a, r); err != nil {
		return nil, err
	}
	if r.RepoID == 0 && r.MirrorID == 0 {
		return []Ref{}, nil // an SSH upstream connected before SSH was fetchable, never synced since
	}
	repo, err := gitserver.Open(s.repoPath(r))
	if err != nil {
		return []Ref{}, nil // an upstream not synced yet
	}
	iter, err := repo.Tags()
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	out := []Ref{}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		h := ref.Hash()
		if tag, err := repo.TagObject(h); err == nil {
			if c, err := tag.Commit(); err == nil {
				h = c.Hash
			} else {
				h = tag.Target
			}
		}
		out = append(out, Ref{Name: ref.Name().Short(), CommitSHA: h.String()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RegenerateKey makes a new ed25519 deploy key for the connection and
// returns its public key (OpenSSH form); the private key is sealed at
// rest and never shown. For a Tapioca repository the key becomes the
// repository's read-only deploy key (replacing the previous one), which
// needs admin rights there.
func (s *Service) RegenerateKey(ctx context.Context, a core.Actor, id string) (*store.ProjectRepo, string, error) {
	p, r, err := s.connected(ctx, a, id, true)
	if err != nil {
		return nil, "", err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	comment := "tapioca-project-" + p.Slug
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	if r.RepoID != 0 {
		repo, err := s.env.Store.RepoByID(ctx, r.RepoID)
		if err != nil {
			return nil, "", core.Conflict("The connected repository does not exist any more: sync or reconnect the project")
		}
		if err := s.removeDeployKey(ctx, r); err != nil {
			return nil, "", err
		}
		k, err := s.keys.Add(ctx, a, repo, "Project "+p.Name, line, false)
		if err != nil {
			return nil, "", err
		}
		r.DeployKeyID = k.ID
	}
	private := string(pem.EncodeToMemory(block))
	r.DeployPublicKey, r.DeployPrivateKey = line, s.env.Secrets.Seal(private)
	if r, err = s.env.Store.SaveProjectRepo(ctx, r); err != nil {
		return nil, "", err
	}
	if r.AuthType == AuthSSH && r.PollingEnabled && r.MirrorID != 0 {
		// Scheduled syncs read the upstream with the new key too.
		if err := s.mirrors.SetToken(ctx, r.MirrorID, private); err != nil {
			return nil, "", err
		}
	}
	return r, line, nil
}

// Hook is an upstream's webhook subscription, shown once.
type Hook struct {
	URL    string // "" for a Tapioca repository: pushes are followed inside the forge
	Secret string
}

// ReconfigureWebhook (re)creates the subscription that tells the project
// about pushes. A Tapioca repository's is internal (every push is
// recorded by the forge); an upstream gets a new inbound URL and signing
// secret, shown this once: when the upstream POSTs to it, signed with the
// secret (X-Hub-Signature-256), the project syncs.
func (s *Service) ReconfigureWebhook(ctx context.Context, a core.Actor, id string) (*store.ProjectRepo, *Hook, error) {
	p, r, err := s.connected(ctx, a, id, true)
	if err != nil {
		return nil, nil, err
	}
	if r.RepoID != 0 {
		r, err = s.sync(ctx, a, p)
		return r, &Hook{}, err
	}
	r.WebhookToken, r.WebhookSecret = randomHex(24), ""
	secret := randomHex(20)
	r.WebhookSecret = s.env.Secrets.Seal(secret)
	if r, err = s.env.Store.SaveProjectRepo(ctx, r); err != nil {
		return nil, nil, err
	}
	return r, &Hook{URL: strings.TrimRight(s.env.BaseURL(), "/") + HookPath + r.WebhookToken, Secret: secret}, nil
}

// HookPath is where upstreams' webhooks are received, followed by the
// connection's token.
const HookPath = "/api/project-hooks/"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrBadSignature refuses an inbound webhook whose signature is missing
// or wrong.
var ErrBadSignature = &core.Error{Kind: core.ErrUnauthorized, Msg: "The X-Hub-Signature-256 header is missing or does not match the body"}

// Inbound is an upstream's webhook call: with a valid signature it
// starts a sync of the connection in the background.
func (s *Service) Inbound(ctx context.Context, token, signature string, body []byte) error {
	r, err := s.env.Store.ProjectRepoByWebhookToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return core.NotFound("Unknown webhook")
	}
	if err != nil {
		return err
	}
	secret, err := s.env.Secrets.Open(r.WebhookSecret)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrBadSignature
	}
	if r.MirrorID == 0 {
		return nil
	}
	creds, err := s.creds(r)
	if err != nil {
		return err
	}
	s.mirrors.KickWith(r.MirrorID, creds)
	return nil
}

// commitMessage reads a commit's message ("" when it cannot be read).
func commitMessage(path string, h plumbing.Hash) string {
	repo, err := gitserver.Open(path)
	if err != nil {
		return ""
	}
	c, err := object.GetCommit(repo.Storer, h)
	if err != nil {
		return ""
	}
	return c.Message
}
