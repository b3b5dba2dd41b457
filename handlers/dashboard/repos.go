package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/text"
	"tapioca/store"
	"tapioca/views"
)

func (d *Door) reposData(r *http.Request) (views.ReposData, error) {
	q, pg := listParams(r)
	query := r.URL.Query()
	sort := query.Get("sort")
	if sort != "created" && sort != "size" && sort != "name" {
		sort = "pushed"
	}
	vis := query.Get("visibility")
	if vis != "public" && vis != "private" {
		vis = "all"
	}
	list, total, err := d.env.Store.ListRepos(r.Context(), store.RepoList{Visibility: vis, Query: q, Sort: sort,
		Asc: sort == "name", Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return views.ReposData{}, err
	}
	rd := views.ReposData{Repos: list, Query: q, Sort: sort, Visibility: vis,
		Pager: views.Pager{Path: "/admin/repos", Query: query, Page: pg, PerPage: adminPerPage, Total: total}}
	// An organization's "New repository" link names the owner.
	if owner := strings.TrimSpace(query.Get("owner")); owner != "" {
		rd.Form.Owner, rd.FormOpen = owner, true
	}
	return rd, nil
}

func (d *Door) adminRepos(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	rd, err := d.reposData(r)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.ReposPage(d.page(ar, "repos", "Repositories"), rd))
	return nil
}

var repoLabels = map[string]string{"owner": "Owner", "name": "Name", "description": "Description", "base": "Refused:"}

// adminCreateRepo creates a repository for the owner the form names.
// Any invalid field re-shows the form with every problem marked, and
// nothing is created.
func (d *Door) adminCreateRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	f := views.RepoForm{Owner: strings.TrimSpace(r.PostFormValue("owner")), Name: strings.TrimSpace(r.PostFormValue("name")),
		Description: strings.TrimSpace(r.PostFormValue("description")),
		Private:     r.PostFormValue("private") == "true", AutoInit: r.PostFormValue("auto_init") == "true"}
	vis := "public"
	if f.Private {
		vis = "private"
	}
	in := repos.Creation{Name: f.Name, Visibility: core.Some(vis), AutoInit: f.AutoInit}
	if f.Description != "" {
		in.Description = core.Some(f.Description)
	}
	repo, err := d.Admin.CreateRepo(r.Context(), ar.actor(), f.Owner, in)
	if ce, ok := fieldsOf(err); ok {
		rd, err := d.reposData(r)
		if err != nil {
			return err
		}
		f.Errors = formErrors(ce, repoLabels)
		rd.Form = f
		p := d.page(ar, "repos", "Repositories")
		p.Flash = &views.Flash{Kind: "error", Message: "The repository was not created: fix what is marked below."}
		d.render(w, r, http.StatusUnprocessableEntity, views.ReposPage(p, rd))
		return nil
	}
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Created repository "+repo.FullName()+".", repoPath(repo))
}

func repoPath(repo *store.Repo) string { return string(views.RepoURL(repo.FullName())) }

// repoNamed loads the repository of the path.
func (d *Door) repoNamed(r *http.Request) (*store.Repo, error) {
	repo, err := d.env.Store.RepoByName(r.Context(), r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return nil, pageErr(http.StatusNotFound, "No such repository",
			"There is no repository "+r.PathValue("owner")+"/"+r.PathValue("repo")+"; it may have been renamed, transferred or deleted.")
	}
	return repo, nil
}

// repoBranchesShown bounds the branches a repository's page lists.
const repoBranchesShown = 50

func (d *Door) repoDetail(r *http.Request, repo *store.Repo) (views.RepoDetail, error) {
	ctx := r.Context()
	site := d.env.Site()
	rd := views.RepoDetail{Repo: repo, CloneURL: site.CloneURL(repo.FullName()), SSHURL: site.SSHURL(repo.FullName()),
		SSHOn: d.env.Cfg.SSHPort != 0}
	var err error
	// A repository whose git data cannot be read still has a page: it is
	// where an administrator goes to find out.
	if branches, err := d.env.Git.Branches(ctx, d.env.RepoPath(repo.ID)); err != nil {
		d.env.Log.WarnContext(ctx, "dashboard: read branches", "repo", repo.FullName(), "err", err)
		rd.BranchError = "The branches could not be read from the repository on disk: " + err.Error()
	} else {
		protected, err := d.env.Store.ProtectedBranches(ctx, repo.ID)
		if err != nil {
			return rd, err
		}
		sort.Slice(branches, func(i, j int) bool {
			// The default branch first, then by name.
			if (branches[i].Name == repo.DefaultBranch) != (branches[j].Name == repo.DefaultBranch) {
				return branches[i].Name == repo.DefaultBranch
			}
			return branches[i].Name < branches[j].Name
		})
		rd.BranchTotal = len(branches)
		for _, b := range branches[:min(len(branches), repoBranchesShown)] {
			rd.Branches = append(rd.Branches, views.BranchRow{Name: b.Name, Commit: b.Hash.String(),
				Default: b.Name == repo.DefaultBranch, Protected: protected[b.Name]})
		}
	}
	if rd.Collaborators, err = d.env.Store.ListCollaborators(ctx, repo.ID); err != nil {
		return rd, err
	}
	if rd.Hooks, _, err = d.env.Store.ListHookSummaries(ctx, store.HookList{OwnerID: repo.OwnerID}); err != nil {
		return rd, err
	}
	return rd, nil
}

func (d *Door) adminRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	rd, err := d.repoDetail(r, repo)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.RepoPage(d.page(ar, "repos", repo.FullName()), rd))
	return nil
}

// renderRepoErrors re-shows a repository's page with the refused form's
// values and errors: nothing was changed.
func (d *Door) renderRepoErrors(w http.ResponseWriter, r *http.Request, ar *adminReq, repo *store.Repo, f views.RepoActionForm, errs views.FieldErrors) error {
	rd, err := d.repoDetail(r, repo)
	if err != nil {
		return err
	}
	rd.Form, rd.Errors = f, errs
	p := d.page(ar, "repos", repo.FullName())
	p.Flash = &views.Flash{Kind: "error", Message: "Nothing was changed: fix what is marked below."}
	d.render(w, r, http.StatusUnprocessableEntity, views.RepoPage(p, rd))
	return nil
}

func (d *Door) adminRenameRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	renamed, err := d.Admin.RenameRepo(r.Context(), ar.actor(), repo, name)
	if ce, ok := fieldsOf(err); ok {
		return d.renderRepoErrors(w, r, ar, repo, views.RepoActionForm{Name: name}, formErrors(ce, map[string]string{"name": "The new name"}))
	}
	if err != nil {
		return err
	}
	if renamed.Name == repo.Name {
		return d.flashTo(w, r, "success", repo.FullName()+" already has that name.", repoPath(renamed))
	}
	return d.flashTo(w, r, "success", "Renamed "+repo.FullName()+" to "+renamed.FullName()+".", repoPath(renamed))
}

func (d *Door) adminTransferRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	f := views.RepoActionForm{TransferOwner: strings.TrimSpace(r.PostFormValue("owner")), TransferName: strings.TrimSpace(r.PostFormValue("name"))}
	moved, err := d.Admin.TransferRepo(r.Context(), ar.actor(), repo, f.TransferOwner, f.TransferName)
	if ce, ok := fieldsOf(err); ok {
		errs := formErrors(ce, map[string]string{"owner": "The new owner", "name": "The name"})
		// The rename form has its own "name".
		if msg, ok := errs["name"]; ok {
			errs["transfer_name"] = msg
			delete(errs, "name")
		}
		return d.renderRepoErrors(w, r, ar, repo, f, errs)
	}
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Transferred "+repo.FullName()+" to "+moved.OwnerName+": it is now "+moved.FullName()+".", repoPath(moved))
}

func (d *Door) adminRepoVisibility(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	var private bool
	switch r.PostFormValue("visibility") {
	case "private":
		private = true
	case "public":
	default:
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "visibility must be public or private.")
	}
	changed, err := d.Admin.SetRepoVisibility(r.Context(), ar.actor(), repo, private)
	if err != nil {
		return err
	}
	if changed.Private {
		return d.flashTo(w, r, "success", repo.FullName()+" is private: only its owner, members and collaborators see it.", repoPath(changed))
	}
	return d.flashTo(w, r, "success", repo.FullName()+" is public: anyone can read and clone it.", repoPath(changed))
}

// adminMaintainRepo repacks the repository and waits for it: a
// homelab's repositories take seconds, and the page then shows the new
// size. Leaving the page stops the repack safely (nothing is installed
// half-way).
func (d *Door) adminMaintainRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	res, err := d.Admin.MaintainRepo(r.Context(), ar.actor(), repo)
	if err != nil {
		var ce *core.Error
		if errors.As(err, &ce) {
			return d.refusedTo(w, r, repoPath(repo), err)
		}
		d.env.Log.ErrorContext(r.Context(), "dashboard: maintain repository", "repo", repo.FullName(), "err", err)
		return d.flashTo(w, r, "error", "Maintenance of "+repo.FullName()+" failed: "+err.Error(), repoPath(repo))
	}
	rebuilt := ""
	if res.IndexesRebuilt > 0 {
		rebuilt = text.Count(res.IndexesRebuilt, "damaged or missing pack index", "damaged or missing pack indexes") + " rebuilt, "
	}
	return d.flashTo(w, r, "success", fmt.Sprintf("Maintained %s: %s%s packed, %s merged, %s → %s.", repo.FullName(), rebuilt,
		text.Count(res.LooseObjectsPacked, "loose object", "loose objects"), text.Count(res.PacksMerged, "pack", "packs"),
		text.Bytes(res.BytesBefore), text.Bytes(res.BytesAfter)), repoPath(repo))
}

func (d *Door) adminConfirmDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	d.renderConfirmDeleteRepo(w, r, ar, repo, http.StatusOK, "")
	return nil
}

func (d *Door) renderConfirmDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq, repo *store.Repo, status int, errMsg string) {
	d.render(w, r, status, views.ConfirmPage(d.page(ar, "repos", "Delete repository"), views.ConfirmData{
		Action: "/admin/repos/" + repo.FullName() + "/delete", Title: "Delete repository " + repo.FullName(),
		Message: "This deletes " + repo.FullName() + " (" + views.Bytes(repo.SizeBytes) +
			") with its git data, issues, pull requests and labels. It cannot be undone.",
		Name: repo.FullName(), Button: "Delete repository", Back: repoPath(repo), Error: errMsg,
	}))
}

func (d *Door) adminDeleteRepo(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	repo, err := d.repoNamed(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != repo.FullName() {
		d.renderConfirmDeleteRepo(w, r, ar, repo, http.StatusUnprocessableEntity, "Type "+repo.FullName()+" exactly to confirm.")
		return nil
	}
	if err := d.Admin.DeleteRepo(ctx, ar.actor(), repo); err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Deleted repository "+repo.FullName()+".", "/admin/repos")
}
