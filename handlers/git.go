package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tapioca/gitserver"
	"tapioca/store"
)

// gitRequest is a parsed smart-HTTP path: /{owner}/{repo}[.git]/{action}.
type gitRequest struct {
	owner, repo string
	service     string // git-upload-pack or git-receive-pack
	advertise   bool   // GET info/refs
}

func parseGitPath(r *http.Request) (gitRequest, bool) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var g gitRequest
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

// serveGit authorizes a smart-HTTP request and hands it to gitserver. It
// reports false for paths that are not git's.
func (a *App) serveGit(w http.ResponseWriter, r *http.Request) bool {
	g, ok := parseGitPath(r)
	if !ok {
		return false
	}
	if g.service != "git-upload-pack" && g.service != "git-receive-pack" {
		gitError(w, http.StatusForbidden, "Only the smart HTTP protocol is supported; upgrade your git client")
		return true
	}
	var user *store.User
	var token *store.Token
	if tok, sent := bearerToken(r); sent {
		id, err := a.authenticate(r.Context(), tok)
		if err != nil {
			if errors.Is(err, errDisabled) {
				gitError(w, http.StatusForbidden, "Account is disabled")
				return true
			}
			if errors.Is(err, errBadToken) {
				askForCredentials(w)
				return true
			}
			a.log.ErrorContext(r.Context(), "git auth", "err", err)
			gitError(w, http.StatusInternalServerError, "Internal server error")
			return true
		}
		user, token = id.user, id.token
		if rec, ok := w.(*statusRecorder); ok {
			rec.user = user.Username
		}
	}
	push := g.service == "git-receive-pack"
	repo, err := a.store.RepoByName(r.Context(), g.owner, g.repo)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.log.ErrorContext(r.Context(), "git repo lookup", "err", err)
		gitError(w, http.StatusInternalServerError, "Internal server error")
		return true
	}
	perm := store.PermNone
	if repo != nil {
		if perm, err = a.store.RepoPerm(r.Context(), user, repo); err != nil {
			a.log.ErrorContext(r.Context(), "git permission", "err", err)
			gitError(w, http.StatusInternalServerError, "Internal server error")
			return true
		}
	}
	need := store.PermRead
	if push {
		need = store.PermWrite
	}
	switch {
	case perm < need && user == nil:
		// Anonymous: a prompt, whether the repository is private or
		// missing, so that its existence does not leak.
		askForCredentials(w)
		return true
	case perm < store.PermRead:
		gitError(w, http.StatusNotFound, "Repository not found")
		return true
	case perm < need:
		gitError(w, http.StatusForbidden, "You do not have write access to "+repo.FullName())
		return true
	}
	if token != nil {
		ar := areaRepo
		method := http.MethodGet
		if push {
			method = http.MethodPost
		}
		if ok, need := scopeAllows(token.Scopes, method, ar); !ok {
			gitError(w, http.StatusForbidden, "Token scope does not allow this (requires "+need+")")
			return true
		}
	}
	path := a.repoPath(repo.ID)
	switch {
	case g.advertise:
		a.git.ServeInfoRefs(w, r, path, g.service)
	case push:
		var journaled []int64
		a.git.ServeReceivePack(w, r, path, gitserver.ReceiveOptions{
			Check: func(ctx context.Context, u gitserver.RefUpdate) error {
				if err := a.checkPush(ctx, repo, u); err != nil {
					return err
				}
				id, err := a.journal(ctx, repo, user, u)
				if err != nil {
					a.log.ErrorContext(ctx, "journal ref update", "repo", repo.ID, "err", err)
					return errors.New("internal error: the update could not be recorded")
				}
				journaled = append(journaled, id)
				return nil
			},
			Updated: func(ctx context.Context, us []gitserver.RefUpdate) { a.afterPush(ctx, repo, user, us) },
		})
		a.clearJournal(r.Context(), journaled)
	default:
		a.git.ServeUploadPack(w, r, path)
	}
	return true
}

// checkPush refuses force-pushes and deletions of protected branches,
// and deleting the default branch.
func (a *App) checkPush(ctx context.Context, repo *store.Repo, u gitserver.RefUpdate) error {
	branch, ok := strings.CutPrefix(u.Name, "refs/heads/")
	if !ok {
		return nil
	}
	// As git's receive.denyDeleteCurrent: HEAD would point nowhere, and
	// every later clone would check out nothing.
	if u.New.IsZero() && branch == repo.DefaultBranch {
		return errors.New("deletion of the current branch prohibited")
	}
	protected, err := a.store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return err
	}
	if !protected[branch] {
		return nil
	}
	if u.New.IsZero() {
		return fmt.Errorf("branch %s is protected: it cannot be deleted", branch)
	}
	if !u.Old.IsZero() && !u.FastForward {
		return fmt.Errorf("branch %s is protected: force-push is not allowed", branch)
	}
	return nil
}

// afterPush records what a push changed. It runs after the refs moved, so
// it must not fail the push; problems are logged.
func (a *App) afterPush(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	ctx = context.WithoutCancel(ctx)
	size, err := a.git.Size(ctx, a.repoPath(repo.ID))
	if err != nil {
		a.log.WarnContext(ctx, "repository size after push", "repo", repo.ID, "err", err)
		size = repo.SizeBytes
	}
	if err := a.store.RepoPushed(ctx, repo.ID, time.Now(), size); err != nil {
		a.log.WarnContext(ctx, "record push", "repo", repo.ID, "err", err)
	} else if fresh, err := a.store.RepoByID(ctx, repo.ID); err == nil {
		repo = fresh // payloads show this push's pushed_at and size
	}
	a.emitPush(ctx, repo, pusher, updates)
	a.syncPulls(ctx, repo, pusher, updates)
}
