package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tapioca/gitserver"
	"tapioca/store"
)

func (a *App) routesRepos() {
	a.api("GET /api/v1/user/repos", areaRepo, a.listOwnRepos)
	a.api("POST /api/v1/user/repos", areaRepo, a.createOwnRepo)
	a.api("GET /api/v1/users/{username}/repos", areaRepo, a.listUserRepos)
	a.api("GET /api/v1/repos/{owner}/{repo}", areaRepo, a.getRepo)
	a.api("PATCH /api/v1/repos/{owner}/{repo}", areaRepo, a.updateRepo)
	a.api("DELETE /api/v1/repos/{owner}/{repo}", areaAdmin, a.deleteRepo)
	a.api("GET /api/v1/repos/{owner}/{repo}/branches", areaRepo, a.listBranches)
}

// repoFor loads the repository named in the path and checks that the
// caller has at least need. A repository the caller cannot read does not
// exist for them: 404, never 403, so no private name leaks.
func (a *App) repoFor(r *http.Request, need store.Perm) (*store.Repo, store.Perm, error) {
	repo, err := a.store.RepoByName(r.Context(), r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.PermNone, errNotFound
		}
		return nil, store.PermNone, err
	}
	perm, err := a.store.RepoPerm(r.Context(), who(r).user, repo)
	if err != nil {
		return nil, store.PermNone, err
	}
	if perm < store.PermRead {
		return nil, perm, errNotFound
	}
	if perm < need {
		if who(r).user == nil {
			return nil, perm, errUnauthorized
		}
		return nil, perm, errForbidden
	}
	return repo, perm, nil
}

// repoListQuery parses sort, direction and (optionally) visibility.
func repoListQuery(r *http.Request, withVisibility bool) (store.RepoList, page, error) {
	q := r.URL.Query()
	v := validation{}
	f := store.RepoList{Visibility: "all", Sort: "created"}
	if withVisibility {
		if s := q.Get("visibility"); s != "" {
			if s != "all" && s != "public" && s != "private" {
				v.add("visibility", `is not included in the list ("public", "private", "all")`)
			}
			f.Visibility = s
		}
	} else {
		f.Visibility = "public"
	}
	if s := q.Get("sort"); s != "" {
		if s != "created" && s != "updated" && s != "name" {
			v.add("sort", `is not included in the list ("created", "updated", "name")`)
		}
		f.Sort = s
	}
	switch q.Get("direction") {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		v.add("direction", `is not included in the list ("asc", "desc")`)
	}
	p := readPage(r, v)
	if err := v.err(); err != nil {
		return f, p, err
	}
	f.Limit, f.Offset = p.PerPage, p.Offset()
	return f, p, nil
}

// listOwnRepos lists repositories the signed-in user owns.
func (a *App) listOwnRepos(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	f, p, err := repoListQuery(r, true)
	if err != nil {
		return err
	}
	f.OwnerID = u.ID
	return a.writeRepoPage(w, r, f, p)
}

func (a *App) writeRepoPage(w http.ResponseWriter, r *http.Request, f store.RepoList, p page) error {
	repos, total, err := a.store.ListRepos(r.Context(), f)
	if err != nil {
		return err
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, a.reposJSON(repos))
	return nil
}

// listUserRepos lists a user's (or organization's) public repositories.
func (a *App) listUserRepos(w http.ResponseWriter, r *http.Request) error {
	owner, err := a.store.UserByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	f, p, err := repoListQuery(r, false)
	if err != nil {
		return err
	}
	f.OwnerID = owner.ID
	return a.writeRepoPage(w, r, f, p)
}

func (a *App) createOwnRepo(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	return a.createRepo(w, r, u, u)
}

type repoRequest struct {
	Name          opt[string] `json:"name"`
	Description   opt[string] `json:"description"`
	Visibility    opt[string] `json:"visibility"`
	Private       opt[bool]   `json:"private"`
	DefaultBranch opt[string] `json:"default_branch"`
	AutoInit      opt[bool]   `json:"auto_init"`
}

// visibilityField reads visibility, or GitHub's boolean private.
func visibilityField(v validation, req repoRequest) *bool {
	if req.Visibility.Set && !req.Visibility.Null {
		switch req.Visibility.V {
		case "public":
			return new(false)
		case "private":
			return new(true)
		default:
			v.add("visibility", `is not included in the list ("public", "private")`)
			return nil
		}
	}
	if req.Private.Set && !req.Private.Null {
		return new(req.Private.V)
	}
	return nil
}

// createRepo creates a repository owned by owner (a user or an org) on
// behalf of actor. The row and the bare repository on disk are made in one
// transaction: if git fails, no row remains.
func (a *App) createRepo(w http.ResponseWriter, r *http.Request, owner, actor *store.User) error {
	var req repoRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	name := strings.TrimSpace(req.Name.V)
	switch {
	case name == "":
		v.add("name", "can't be blank")
	case !store.ValidRepoName(name):
		v.add("name", "is invalid (letters, digits, '-', '_' and '.', 1-100 characters, not ending in .git)")
	}
	private := visibilityField(v, req)
	desc := optionalText(v, "description", req.Description, 1000, nil)
	branch := "master"
	if req.DefaultBranch.Set && !req.DefaultBranch.Null && req.DefaultBranch.V != "" {
		branch = req.DefaultBranch.V
		if !store.ValidBranchName(branch) {
			v.add("default_branch", "is not a valid branch name")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	n, err := a.store.CountOwnedRepos(r.Context(), owner.ID)
	if err != nil {
		return err
	}
	if n >= a.cfg.MaxReposPerUser {
		return invalid("base", fmt.Sprintf("repository limit reached: an account can own at most %d repositories", a.cfg.MaxReposPerUser))
	}
	nr := store.NewRepo{OwnerID: owner.ID, Name: name, DefaultBranch: branch}
	if private != nil {
		nr.Private = *private
	}
	if desc != nil {
		nr.Description = *desc
	}
	var repo *store.Repo
	var path string
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		var err error
		repo, err = tx.CreateRepo(r.Context(), nr)
		if err != nil {
			return err
		}
		path = a.repoPath(repo.ID)
		if err := a.git.Init(r.Context(), path, branch); err != nil {
			return fmt.Errorf("create bare repository: %w", err)
		}
		if req.AutoInit.V {
			readme := "# " + name + "\n"
			if repo.Description != nil {
				readme += "\n" + *repo.Description + "\n"
			}
			if _, err := a.git.InitialCommit(r.Context(), path, branch, readme, signatureOf(actor)); err != nil {
				return fmt.Errorf("initial commit: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		if path != "" {
			os.RemoveAll(path)
		}
		if errors.Is(err, store.ErrRepoExists) {
			return invalid("name", "has already been taken")
		}
		return err
	}
	if req.AutoInit.V {
		if size, err := a.git.Size(r.Context(), path); err == nil {
			_ = a.store.RepoPushed(r.Context(), repo.ID, time.Now(), size)
		}
		if repo, err = a.store.RepoByID(r.Context(), repo.ID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusCreated, a.repoJSON(repo))
	return nil
}

// signatureOf is the git identity Tapioca uses for commits a user makes
// through the API.
func signatureOf(u *store.User) gitserver.Signature {
	name := u.Username
	if u.DisplayName != nil && *u.DisplayName != "" {
		name = *u.DisplayName
	}
	email := u.Email
	if email == "" {
		email = u.Username + "@users.noreply.tapioca"
	}
	return gitserver.Signature{Name: name, Email: email, When: time.Now()}
}

func (a *App) getRepo(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.repoJSON(repo))
	return nil
}

func (a *App) updateRepo(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermAdmin)
	if err != nil {
		return err
	}
	var req repoRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	var u store.RepoUpdate
	if req.Name.Set {
		name := strings.TrimSpace(req.Name.V)
		if !store.ValidRepoName(name) {
			v.add("name", "is invalid (letters, digits, '-', '_' and '.', 1-100 characters, not ending in .git)")
		} else if name != repo.Name {
			u.Name = &name
		}
	}
	u.Description = optionalText(v, "description", req.Description, 1000, nil)
	u.Private = visibilityField(v, req)
	path := a.repoPath(repo.ID)
	if req.DefaultBranch.Set {
		b := req.DefaultBranch.V
		if req.DefaultBranch.Null || !store.ValidBranchName(b) {
			v.add("default_branch", "is not a valid branch name")
		} else if b != repo.DefaultBranch {
			branches, err := a.git.Branches(r.Context(), path)
			if err != nil {
				return err
			}
			found := len(branches) == 0 // an empty repository may name its future branch
			for _, br := range branches {
				if br.Name == b {
					found = true
				}
			}
			if !found {
				v.add("default_branch", "does not exist")
			}
			u.DefaultBranch = &b
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		var err error
		repo, err = tx.UpdateRepo(r.Context(), repo.ID, u)
		if err != nil {
			return err
		}
		if u.DefaultBranch != nil {
			return a.git.SetHEAD(r.Context(), path, *u.DefaultBranch)
		}
		return nil
	})
	if errors.Is(err, store.ErrRepoExists) {
		return invalid("name", "has already been taken")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.repoJSON(repo))
	return nil
}

func (a *App) deleteRepo(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermAdmin)
	if err != nil {
		return err
	}
	if err := a.removeRepo(r.Context(), repo.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeRepo deletes the row, then the files.
func (a *App) removeRepo(ctx context.Context, id int64) error {
	if err := a.store.DeleteRepo(ctx, id); err != nil {
		return err
	}
	a.removeRepoFiles(ctx, id)
	return nil
}

// removeRepoFiles moves a deleted repository's directory into the trash
// under the repository lock (so no push is half-way through it) and
// removes it. A crash in between leaves only trash, emptied at start;
// failures are logged, since the row is already gone.
func (a *App) removeRepoFiles(ctx context.Context, id int64) {
	path := a.repoPath(id)
	unlock := a.git.Lock(path)
	defer unlock()
	if err := os.MkdirAll(a.trashDir(), 0o750); err != nil {
		a.log.WarnContext(ctx, "repository trash", "err", err)
		return
	}
	trash := filepath.Join(a.trashDir(), strconv.FormatInt(id, 10)+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Rename(path, trash); err != nil {
		if !os.IsNotExist(err) {
			a.log.WarnContext(ctx, "move repository to trash", "path", path, "err", err)
		}
		return
	}
	if err := os.RemoveAll(trash); err != nil {
		a.log.WarnContext(ctx, "remove deleted repository", "path", trash, "err", err)
	}
}

type branchJSON struct {
	Name      string `json:"name"`
	SHA       string `json:"sha"`
	Protected bool   `json:"protected"`
}

func (a *App) listBranches(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	branches, err := a.git.Branches(r.Context(), a.repoPath(repo.ID))
	if err != nil {
		return err
	}
	protected, err := a.store.ProtectedBranches(r.Context(), repo.ID)
	if err != nil {
		return err
	}
	all := make([]branchJSON, 0, len(branches))
	for _, b := range branches {
		all = append(all, branchJSON{Name: b.Name, SHA: b.Hash.String(), Protected: protected[b.Name]})
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, all))
	return nil
}
