package codeboba

import (
	"net/http"
	"reflect"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

func (d *Door) routesRepos() {
	d.user("GET /api/v1/user/repos", core.AreaRepo, d.listOwnRepos,
		Doc{Summary: "List the repositories you own", Query: repoListParams{}, Paged: true, Out: []payload.Repo{}})
	d.user("POST /api/v1/user/repos", core.AreaRepo, d.createOwnRepo,
		Doc{Summary: "Create a repository", Body: repoRequest{}, Out: payload.Repo{}, Status: http.StatusCreated})
	d.api("GET /api/v1/users/{username}/repos", core.AreaRepo, d.listUserRepos,
		Doc{Summary: "List a user's public repositories", Query: repoSortParams{}, Paged: true, Out: []payload.Repo{}})
	d.api("GET /api/v1/repos/{owner}/{repo}", core.AreaRepo, d.getRepo, Doc{Summary: "Get a repository", Out: payload.Repo{}})
	d.api("PATCH /api/v1/repos/{owner}/{repo}", core.AreaRepo, d.updateRepo,
		Doc{Summary: "Update a repository (rename, describe, change visibility or default branch)", Body: repoUpdateRequest{}, Out: payload.Repo{}})
	d.api("DELETE /api/v1/repos/{owner}/{repo}", core.AreaAdmin, d.deleteRepo, Doc{Summary: "Delete a repository and its files"})
	d.api("GET /api/v1/repos/{owner}/{repo}/branches", core.AreaRepo, d.listBranches,
		Doc{Summary: "List branches", Paged: true, Out: []branchJSON{}})
	d.api("POST /api/v1/repos/{owner}/{repo}/branches", core.AreaRepo, d.createBranch,
		Doc{Summary: "Create a branch at a commit", Body: repos.BranchCreation{}, Out: branchFullJSON{}, Status: http.StatusCreated})
	d.api("GET /api/v1/repos/{owner}/{repo}/branches/{branch...}", core.AreaRepo, d.getBranch,
		Doc{Summary: "Get a branch with its tip commit and protection", Out: branchFullJSON{}})
	d.api("PATCH /api/v1/repos/{owner}/{repo}/branches/{branch...}", core.AreaRepo, d.updateBranch,
		Doc{Summary: "Protect a branch or change what its protection requires", Body: repos.ProtectionInput{}, Out: branchFullJSON{}})
	d.api("DELETE /api/v1/repos/{owner}/{repo}/branches/{branch...}", core.AreaRepo, d.deleteBranch, Doc{Summary: "Delete a branch"})
	d.api("GET /api/v1/repos/{owner}/{repo}/archive/{ref...}", core.AreaRepo, d.getArchive,
		Doc{Summary: "Download a ZIP of a branch, tag or commit", Raw: true, Media: []string{"application/zip"}})
}

// repoSortParams order a repository list.
type repoSortParams struct {
	Sort      string `json:"sort" enum:"created,updated,name" doc:"created (default), updated or name"`
	Direction string `json:"direction" enum:"asc,desc" doc:"desc (default) or asc"`
}

// repoListParams also filter by visibility.
type repoListParams struct {
	Visibility string `json:"visibility" enum:"all,public,private" doc:"all (default), public or private"`
	repoSortParams
}

func (d *Door) repoJSON(r *store.Repo) payload.Repo { return d.env.Site().RepoOf(r) }

// repoListQuery reads sort, direction and visibility, and the page,
// reporting every bad parameter at once.
func repoListQuery(r *http.Request, withVisibility bool) (repos.ListQuery, httpx.Page, error) {
	var lq repos.ListQuery
	if rt := routeOf(r); rt != nil && reflect.TypeOf(rt.Doc.Query) == reflect.TypeFor[repoSortParams]() {
		var q repoSortParams
		if err := query(r, &q); err != nil {
			return lq, httpx.Page{}, err
		}
		lq = repos.ListQuery{Sort: q.Sort, Direction: q.Direction}
	} else {
		var q repoListParams
		if err := query(r, &q); err != nil {
			return lq, httpx.Page{}, err
		}
		lq = repos.ListQuery{Visibility: q.Visibility, Sort: q.Sort, Direction: q.Direction}
	}
	v := core.Validation{}
	repos.CheckListQuery(v, lq, withVisibility)
	p := httpx.ReadPage(r, v)
	lq.Page = p.Core()
	return lq, p, v.Err()
}

func (d *Door) writeRepos(w http.ResponseWriter, r *http.Request, p httpx.Page, list []*store.Repo, total int) {
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, d.env.Site().Repos(list))
}

// listOwnRepos lists repositories the signed-in user owns.
func (d *Door) listOwnRepos(w http.ResponseWriter, r *http.Request) error {
	q, p, err := repoListQuery(r, true)
	if err != nil {
		return err
	}
	list, total, err := d.Repos.Mine(r.Context(), actor(r), q)
	if err != nil {
		return err
	}
	d.writeRepos(w, r, p, list, total)
	return nil
}

// listUserRepos lists a user's (or organization's) public repositories.
func (d *Door) listUserRepos(w http.ResponseWriter, r *http.Request) error {
	if _, err := d.Accounts.Profile(r.Context(), r.PathValue("username")); err != nil {
		return err
	}
	q, p, err := repoListQuery(r, false)
	if err != nil {
		return err
	}
	list, total, err := d.Repos.OfUser(r.Context(), r.PathValue("username"), q)
	if err != nil {
		return err
	}
	d.writeRepos(w, r, p, list, total)
	return nil
}

type repoUpdateRequest struct {
	Name          core.Opt[string] `json:"name" doc:"Letters, digits, -, _ and . (1-100 characters)"`
	Description   core.Opt[string] `json:"description"`
	Visibility    core.Opt[string] `json:"visibility" enum:"public,private" doc:"public or private"`
	Private       core.Opt[bool]   `json:"private" doc:"Instead of visibility"`
	DefaultBranch core.Opt[string] `json:"default_branch"`
}

type repoRequest struct {
	repoUpdateRequest
	AutoInit core.Opt[bool] `json:"auto_init" doc:"Start with a commit holding README.md"`
}

func (req repoRequest) creation() repos.Creation {
	return repos.Creation{Name: req.Name.V, Description: req.Description, Visibility: req.Visibility,
		Private: req.Private, DefaultBranch: req.DefaultBranch, AutoInit: req.AutoInit.V}
}

func (d *Door) createOwnRepo(w http.ResponseWriter, r *http.Request) error {
	return d.createRepo(w, r, "")
}

// createRepo creates a repository for the caller, or for org.
func (d *Door) createRepo(w http.ResponseWriter, r *http.Request, org string) error {
	var req repoRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	repo, err := d.Repos.Create(r.Context(), actor(r), org, req.creation())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d.repoJSON(repo))
	return nil
}

func (d *Door) getRepo(w http.ResponseWriter, r *http.Request) error {
	repo, err := d.Repos.Get(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.repoJSON(repo))
	return nil
}

func (d *Door) updateRepo(w http.ResponseWriter, r *http.Request) error {
	var req repoUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	repo, err := d.Repos.Update(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), repos.Update{
		Name: req.Name, Description: req.Description, Visibility: req.Visibility, Private: req.Private,
		DefaultBranch: req.DefaultBranch,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.repoJSON(repo))
	return nil
}

func (d *Door) deleteRepo(w http.ResponseWriter, r *http.Request) error {
	if err := d.Repos.Delete(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo")); err != nil {
		return err
	}
	return noContent(w)
}

type branchJSON struct {
	Name      string `json:"name"`
	SHA       string `json:"sha"`
	Protected bool   `json:"protected"`
}

func (d *Door) listBranches(w http.ResponseWriter, r *http.Request) error {
	if _, err := d.Repos.Get(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo")); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := d.Repos.Branches(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), p.Core())
	if err != nil {
		return err
	}
	out := make([]branchJSON, 0, len(list))
	for _, b := range list {
		out = append(out, branchJSON{Name: b.Name, SHA: b.SHA, Protected: b.Protected})
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// commitJSON is the brief commit shown with a branch.
type commitJSON struct {
	SHA         string `json:"sha"`
	Message     string `json:"message"`
	Author      string `json:"author"`
	CommittedAt string `json:"committed_at"`
}

type branchFullJSON struct {
	Name       string         `json:"name"`
	SHA        string         `json:"sha"`
	Protected  bool           `json:"protected"`
	Protection protectionJSON `json:"protection"`
	Commit     commitJSON     `json:"commit"`
}

// protectionJSON is what a protected branch requires (nothing for an
// unprotected one).
type protectionJSON struct {
	RequiredStatusChecks []string `json:"required_status_checks"`
	RequiredApprovals    int      `json:"required_approvals"`
}

func branchOut(b *repos.Branch) branchFullJSON {
	p := protectionJSON{RequiredStatusChecks: b.Protection.RequiredContexts, RequiredApprovals: b.Protection.RequiredApprovals}
	if p.RequiredStatusChecks == nil {
		p.RequiredStatusChecks = []string{}
	}
	return branchFullJSON{Name: b.Name, SHA: b.SHA, Protected: b.Protected, Protection: p, Commit: commitJSON{
		SHA: b.Commit.SHA, Message: b.Commit.Message, Author: b.Commit.Author, CommittedAt: payload.Time(b.Commit.CommittedAt)}}
}

func (d *Door) createBranch(w http.ResponseWriter, r *http.Request) error {
	var req repos.BranchCreation
	if err := decode(r, &req); err != nil {
		return err
	}
	b, err := d.Repos.CreateBranch(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), req.Name.V, req.SHA.V)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, branchOut(b))
	return nil
}

func (d *Door) getBranch(w http.ResponseWriter, r *http.Request) error {
	b, err := d.Repos.Branch(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("branch"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, branchOut(b))
	return nil
}

// updateBranch turns protection on or off.
func (d *Door) updateBranch(w http.ResponseWriter, r *http.Request) error {
	var req repos.ProtectionInput
	if err := decode(r, &req); err != nil {
		return err
	}
	b, err := d.Repos.SetProtection(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("branch"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, branchOut(b))
	return nil
}

func (d *Door) deleteBranch(w http.ResponseWriter, r *http.Request) error {
	if err := d.Repos.DeleteBranch(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("branch")); err != nil {
		return err
	}
	return noContent(w)
}
