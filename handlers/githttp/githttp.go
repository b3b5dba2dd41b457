// Package githttp is the git smart-HTTP door: it recognizes git's paths
// (/{owner}/{repo}[.git]/info/refs, git-upload-pack, git-receive-pack),
// authenticates the caller by API token in HTTP Basic credentials, asks
// the core whether the fetch or push is allowed, and hands the request to
// gitserver, which speaks the protocol. Pushes are recorded by the core's
// push service (journal, checks, events).
package githttp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/pushes"
	"tapioca/handlers/httpx"
)

// Door is git over smart HTTP.
type Door struct {
	env      *core.Env
	accounts *accounts.Service
	pushes   *pushes.Service
}

// New returns the git door.
func New(env *core.Env, acc *accounts.Service, ps *pushes.Service) *Door {
	return &Door{env: env, accounts: acc, pushes: ps}
}

// request is a parsed smart-HTTP path: /{owner}/{repo}[.git]/{action}.
type request struct {
	owner, repo string
	service     string // git-upload-pack or git-receive-pack
	advertise   bool   // GET info/refs
}

func parse(r *http.Request) (request, bool) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var g request
	switch {
	case len(parts) == 4 && parts[2] == "info" && parts[3] == "refs" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		g.advertise = true
		g.service = r.URL.Query().Get("service")
	case len(parts) == 3 && (parts[2] == "git-upload-pack" || parts[2] == "git-receive-pack") && r.Method == http.MethodPost:
		g.service = parts[2]
	default:
		return g, false
	}
	g.owner, g.repo = parts[0], strings.TrimSuffix(parts[1], ".git")
	return g, g.owner != "" && g.repo != ""
}

// gitError answers a git client in plain text, which git shows to the user.
func gitError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func askForCredentials(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Tapioca"`)
	gitError(w, http.StatusUnauthorized, "Authentication required")
}

// Middleware serves git smart-HTTP paths before any route sees them. They
// cannot be mux patterns without clashing with /admin/ and friends, and
// they must win: the bootstrap account is called admin, so
// /admin/<repo>.git/info/refs is a repository, not a dashboard page.
// API paths never are git's.
func (d *Door) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || !d.serve(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// serve authorizes a smart-HTTP request and hands it to gitserver. It
// reports false for paths that are not git's.
func (d *Door) serve(w http.ResponseWriter, r *http.Request) bool {
	g, ok := parse(r)
	if !ok {
		return false
	}
	if g.service != "git-upload-pack" && g.service != "git-receive-pack" {
		gitError(w, http.StatusForbidden, "Only the smart HTTP protocol is supported; upgrade your git client")
		return true
	}
	ctx := r.Context()
	a := core.Anonymous
	if tok, sent := httpx.BearerToken(r); sent {
		var err error
		a, err = d.accounts.Authenticate(ctx, tok)
		switch {
		case errors.Is(err, core.ErrDisabled):
			gitError(w, http.StatusForbidden, "Account is disabled")
			return true
		case errors.Is(err, core.ErrBadCredentials):
			askForCredentials(w)
			return true
		case err != nil:
			d.env.Log.ErrorContext(ctx, "git auth", "err", err)
			gitError(w, http.StatusInternalServerError, "Internal server error")
			return true
		}
		httpx.SetUser(ctx, a.User.Username)
	}
	push := g.service == "git-receive-pack"
	repo, err := d.env.GitAccess(ctx, a, g.owner, g.repo, push)
	if err != nil {
		p, internal := httpx.ProblemOf(err)
		switch {
		case internal:
			d.env.Log.ErrorContext(ctx, "git access", "err", err)
			gitError(w, http.StatusInternalServerError, "Internal server error")
		case p.Status == http.StatusUnauthorized:
			askForCredentials(w)
		default:
			gitError(w, p.Status, p.Msg)
		}
		return true
	}
	path := d.env.RepoPath(repo.ID)
	switch {
	case g.advertise:
		d.env.Git.ServeInfoRefs(w, r, path, g.service)
	case push:
		rec := d.pushes.Receive(ctx, repo, a)
		d.env.Git.ServeReceivePack(w, r, path, rec.Options())
		rec.Finish(ctx)
	default:
		d.env.Git.ServeUploadPack(w, r, path)
	}
	return true
}
