// Package statuses is the forge core's service for commit statuses: the
// results checks (CI, review agents) post for a commit, one context each,
// and the combined state pull requests and protected branches read.
package statuses

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/browse"
	"tapioca/handlers/core"
	"tapioca/store"
)

// The states a status may have.
const (
	Pending = "pending"
	Success = "success"
	Failure = "failure"
	Error   = "error"
)

// Service is the commit status service.
type Service struct {
	env *core.Env
}

// New returns the status service.
func New(env *core.Env) *Service { return &Service{env: env} }

// Input is a status to post.
type Input struct {
	State       string           `json:"state" api:"required" enum:"pending,success,failure,error" doc:"The check's result"`
	Context     string           `json:"context" doc:"Which check this is (default \"default\"); the newest status of each context counts"`
	Description core.Opt[string] `json:"description" doc:"A short summary (at most 1024 characters)"`
	TargetURL   core.Opt[string] `json:"target_url" doc:"Where the check's details are (http or https)"`
}

// Combined is a commit's current status: the newest status of each
// context and the state they add up to.
type Combined struct {
	Repo     *store.Repo
	SHA      string
	State    string
	Statuses []*store.CommitStatus
}

// commit resolves rev to a commit of repo.
func (s *Service) commit(ctx context.Context, repo *store.Repo, rev string) (plumbing.Hash, error) {
	br, err := browse.Open(s.env.Git, s.env.RepoPath(repo.ID))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer br.Close()
	h, err := br.Resolve(ctx, rev)
	switch {
	case errors.Is(err, gitserver.ErrNotFound), errors.Is(err, browse.ErrNotCommit):
		return plumbing.ZeroHash, core.NotFound("Commit %s not found", rev)
	case errors.Is(err, gitserver.ErrAmbiguous):
		return plumbing.ZeroHash, core.Invalidf("%s is ambiguous: give more digits", rev)
	}
	return h, err
}

// Create posts a status for the commit rev names: write access, as
// pushing is. Each post is kept; the newest of a context is the current.
func (s *Service) Create(ctx context.Context, a core.Actor, owner, name, rev string, in Input) (*store.CommitStatus, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermWrite)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	switch in.State {
	case Pending, Success, Failure, Error:
	case "":
		v.Add("state", "can't be blank")
	default:
		v.Add("state", `is not included in the list ("pending", "success", "failure", "error")`)
	}
	check := strings.TrimSpace(in.Context)
	if check == "" {
		check = "default"
	}
	if utf8.RuneCountInString(check) > 255 {
		v.Add("context", "is too long (maximum is 255 characters)")
	}
	core.CheckLine(v, "context", check)
	desc := core.OptionalLine(v, "description", in.Description, 1024, nil)
	target := core.OptionalLine(v, "target_url", in.TargetURL, 2048, func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	})
	if err := v.Err(); err != nil {
		return nil, err
	}
	h, err := s.commit(ctx, repo, rev)
	if err != nil {
		return nil, err
	}
	ns := store.NewCommitStatus{RepoID: repo.ID, SHA: h.String(), State: in.State, Context: check, CreatorID: u.ID}
	if desc != nil {
		ns.Description = *desc
	}
	if target != nil {
		ns.TargetURL = *target
	}
	st, err := s.env.Store.CreateCommitStatus(ctx, ns)
	if errors.Is(err, store.ErrTooManyStatuses) {
		return nil, core.Invalid("context", fmt.Sprintf("has %d statuses on this commit already, the most kept", store.MaxStatusesPerContext))
	}
	return st, err
}

// Combined is the current status of the commit rev names: read access.
func (s *Service) Combined(ctx context.Context, a core.Actor, owner, name, rev string) (*Combined, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, err
	}
	h, err := s.commit(ctx, repo, rev)
	if err != nil {
		return nil, err
	}
	latest, err := s.env.Store.LatestStatuses(ctx, repo.ID, h.String())
	if err != nil {
		return nil, err
	}
	return &Combined{Repo: repo, SHA: h.String(), State: CombinedState(latest), Statuses: latest}, nil
}

// List lists every status posted for the commit rev names, newest first.
func (s *Service) List(ctx context.Context, a core.Actor, owner, name, rev string, p core.Page) ([]*store.CommitStatus, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	h, err := s.commit(ctx, repo, rev)
	if err != nil {
		return nil, 0, err
	}
	return s.env.Store.CommitStatuses(ctx, repo.ID, h.String(), p.Limit, p.Offset)
}

// CombinedState adds up the current statuses of a commit as GitHub does:
// failure if any failed or errored, pending if there are none or any is
// pending, else success.
func CombinedState(latest []*store.CommitStatus) string {
	if len(latest) == 0 {
		return Pending
	}
	state := Success
	for _, st := range latest {
		switch st.State {
		case Failure, Error:
			return Failure
		case Pending:
			state = Pending
		}
	}
	return state
}

// Unmet lists the required contexts whose current status on a commit is
// not success, each with what it is instead, for the refusals of
// protected branches.
func Unmet(required []string, latest []*store.CommitStatus) []string {
	byContext := map[string]string{}
	for _, st := range latest {
		byContext[st.Context] = st.State
	}
	var out []string
	for _, c := range required {
		switch state, ok := byContext[c]; {
		case !ok:
			out = append(out, fmt.Sprintf("required status check %q has not been posted", c))
		case state != Success:
			out = append(out, fmt.Sprintf("required status check %q is %s", c, state))
		}
	}
	return out
}
