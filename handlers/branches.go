package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/store"
)

// routesBranches registers branch creation, lookup, protection and
// deletion; the list lives with the repositories. {branch...} takes the
// rest of the path, so names with slashes work.
func (a *App) routesBranches() {
	a.api("POST /api/v1/repos/{owner}/{repo}/branches", areaRepo, a.createBranch)
	a.api("GET /api/v1/repos/{owner}/{repo}/branches/{branch...}", areaRepo, a.getBranch)
	a.api("PATCH /api/v1/repos/{owner}/{repo}/branches/{branch...}", areaRepo, a.updateBranch)
	a.api("DELETE /api/v1/repos/{owner}/{repo}/branches/{branch...}", areaRepo, a.deleteBranch)
}

var errBranchNotFound = errStatus(http.StatusNotFound, "Branch not found")

type branchFullJSON struct {
	Name      string     `json:"name"`
	SHA       string     `json:"sha"`
	Protected bool       `json:"protected"`
	Commit    commitInfo `json:"commit"`
}

func (a *App) writeBranch(w http.ResponseWriter, r *http.Request, status int, repo *store.Repo, name string, tip plumbing.Hash) error {
	protected, err := a.store.ProtectedBranches(r.Context(), repo.ID)
	if err != nil {
		return err
	}
	st, err := a.objects(repo)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := a.commitOf(r.Context(), st, tip)
	if err != nil {
		return err
	}
	writeJSON(w, status, branchFullJSON{Name: name, SHA: tip.String(), Protected: protected[name], Commit: c})
	return nil
}

// isHexSHA reports whether s can be a full or abbreviated commit id.
func isHexSHA(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// createBranch makes a branch at a commit given by full or abbreviated sha.
func (a *App) createBranch(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	var req struct {
		Name opt[string] `json:"name"`
		SHA  opt[string] `json:"sha"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	name := strings.TrimPrefix(req.Name.V, "refs/heads/")
	switch {
	case name == "":
		v.add("name", "can't be blank")
	case !store.ValidBranchName(name):
		v.add("name", "is not a valid branch name")
	}
	sha := strings.ToLower(strings.TrimSpace(req.SHA.V))
	switch {
	case sha == "":
		v.add("sha", "can't be blank")
	case !isHexSHA(sha):
		v.add("sha", "must be a commit SHA (4 to 40 hexadecimal digits)")
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := r.Context()
	path := a.repoPath(repo.ID)
	tips, err := a.branchTips(ctx, repo)
	if err != nil {
		return err
	}
	if _, ok := tips[name]; ok {
		v.add("name", "already exists")
	}
	for other := range tips {
		if strings.HasPrefix(name, other+"/") || strings.HasPrefix(other, name+"/") {
			v.add("name", fmt.Sprintf("conflicts with the existing branch %q", other))
			break
		}
	}
	h, err := a.git.ResolveRef(ctx, path, sha)
	switch {
	case errors.Is(err, gitserver.ErrNotFound):
		v.add("sha", "does not match any commit in the repository")
	case errors.Is(err, gitserver.ErrAmbiguous):
		v.add("sha", "is ambiguous: give more digits")
	case err != nil:
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	clear, err := a.journalOne(ctx, repo, who(r).user, refUpdate(name, plumbing.ZeroHash, h))
	if err != nil {
		return err
	}
	defer clear()
	err = a.git.UpdateRef(ctx, path, name, plumbing.ZeroHash, h)
	switch {
	case errors.Is(err, gitserver.ErrRefConflict):
		return invalid("name", "already exists")
	case errors.Is(err, gitserver.ErrInvalidName):
		return invalid("sha", "is not a commit")
	case err != nil:
		return err
	}
	a.afterPush(ctx, repo, who(r).user, []gitserver.RefUpdate{refUpdate(name, plumbing.ZeroHash, h)})
	return a.writeBranch(w, r, http.StatusCreated, repo, name, h)
}

// branchFor loads /branches/{branch...} and its tip with the caller's
// permission check.
func (a *App) branchFor(r *http.Request, need store.Perm) (*store.Repo, string, plumbing.Hash, error) {
	repo, _, err := a.repoFor(r, need)
	if err != nil {
		return nil, "", plumbing.ZeroHash, err
	}
	name := r.PathValue("branch")
	tip, ok, err := a.branchTip(r.Context(), repo, name)
	if err != nil {
		return nil, "", plumbing.ZeroHash, err
	}
	if !ok {
		return nil, "", plumbing.ZeroHash, errBranchNotFound
	}
	return repo, name, tip, nil
}

func (a *App) getBranch(w http.ResponseWriter, r *http.Request) error {
	repo, name, tip, err := a.branchFor(r, store.PermRead)
	if err != nil {
		return err
	}
	return a.writeBranch(w, r, http.StatusOK, repo, name, tip)
}

// updateBranch turns protection on or off: repository admins only.
func (a *App) updateBranch(w http.ResponseWriter, r *http.Request) error {
	repo, name, tip, err := a.branchFor(r, store.PermAdmin)
	if err != nil {
		return err
	}
	var req struct {
		Protected opt[bool] `json:"protected"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if !req.Protected.Set || req.Protected.Null {
		return invalid("protected", "must be true or false")
	}
	if err := a.store.SetBranchProtected(r.Context(), repo.ID, name, req.Protected.V); err != nil {
		return err
	}
	return a.writeBranch(w, r, http.StatusOK, repo, name, tip)
}

// deleteBranch removes a branch: write access; never the default branch
// or a protected one (as over git).
func (a *App) deleteBranch(w http.ResponseWriter, r *http.Request) error {
	repo, name, tip, err := a.branchFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if name == repo.DefaultBranch {
		return errStatus(http.StatusUnprocessableEntity, "Branch %s is the default branch: it cannot be deleted", name)
	}
	protected, err := a.store.ProtectedBranches(ctx, repo.ID)
	if err != nil {
		return err
	}
	if protected[name] {
		return errStatus(http.StatusUnprocessableEntity, "Branch %s is protected: it cannot be deleted", name)
	}
	clear, err := a.journalOne(ctx, repo, who(r).user, refUpdate(name, tip, plumbing.ZeroHash))
	if err != nil {
		return err
	}
	defer clear()
	err = a.git.UpdateRef(ctx, a.repoPath(repo.ID), name, tip, plumbing.ZeroHash)
	if errors.Is(err, gitserver.ErrRefConflict) {
		return errStatus(http.StatusConflict, "Branch %s moved while it was being deleted; try again", name)
	}
	if err != nil {
		return err
	}
	a.afterPush(ctx, repo, who(r).user, []gitserver.RefUpdate{refUpdate(name, tip, plumbing.ZeroHash)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
