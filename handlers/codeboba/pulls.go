package codeboba

import (
	"net/http"

	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

func (d *Door) routesPulls() {
	const pr = "/api/v1/repos/{owner}/{repo}/pulls"
	d.api("GET "+pr, core.AreaRepo, d.listPulls)
	d.api("POST "+pr, core.AreaRepo, d.createPull)
	d.api("GET "+pr+"/{number}", core.AreaRepo, d.getPull)
	d.api("PATCH "+pr+"/{number}", core.AreaRepo, d.updatePull)
	d.api("PUT "+pr+"/{number}/merge", core.AreaRepo, d.mergePull)
	d.routesIssueParts(pr+"/{number}", true)
	d.api("GET "+pr+"/{number}/reviews", core.AreaRepo, d.listReviews)
	d.api("POST "+pr+"/{number}/reviews", core.AreaRepo, d.createReview)
	d.api("GET "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.listRequestedReviewers)
	d.api("POST "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.requestReviewers)
	d.api("DELETE "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.removeRequestedReviewers)
}

func (d *Door) listPulls(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	q := pulls.ListQuery{ListQuery: issueListQuery(r), Head: r.URL.Query().Get("head"), Base: r.URL.Query().Get("base")}
	v := core.Validation{}
	pulls.CheckListQuery(v, q)
	p := httpx.ReadPage(r, v)
	if err := v.Err(); err != nil {
		return err
	}
	q.Page = p.Core()
	list, total, err := d.Pulls.List(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), q)
	if err != nil {
		return err
	}
	out := make([]payload.Pull, 0, len(list))
	for _, pr := range list {
		out = append(out, payload.PullOf(pr))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) createPull(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermRead); err != nil {
		return err
	}
	var req struct {
		Title core.Opt[string] `json:"title"`
		Body  core.Opt[string] `json:"body"`
		Head  core.Opt[string] `json:"head"`
		Base  core.Opt[string] `json:"base"`
		Draft core.Opt[bool]   `json:"draft"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := d.Pulls.Create(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), pulls.Creation{
		Title: req.Title, Body: req.Body, Head: req.Head.V, Base: req.Base.V, Draft: req.Draft.V})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.PullOf(p))
	return nil
}

func (d *Door) getPull(w http.ResponseWriter, r *http.Request) error {
	p, err := d.Pulls.Get(r.Context(), actor(r), ref(r, true))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.PullOf(p))
	return nil
}

func (d *Door) updatePull(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermRead); err != nil {
		return err
	}
	if _, err := actor(r).Require(); err != nil {
		return err
	}
	var req struct {
		Title     core.Opt[string]   `json:"title"`
		Body      core.Opt[string]   `json:"body"`
		State     core.Opt[string]   `json:"state"`
		Base      core.Opt[string]   `json:"base"`
		Draft     core.Opt[bool]     `json:"draft"`
		Labels    core.Opt[[]string] `json:"labels"`
		Assignees core.Opt[[]string] `json:"assignees"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := d.Pulls.Update(r.Context(), actor(r), ref(r, true), pulls.Update{Title: req.Title, Body: req.Body,
		State: req.State, Base: req.Base, Draft: req.Draft, Labels: req.Labels, Assignees: req.Assignees})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.PullOf(p))
	return nil
}

// mergeResultJSON is the seed's success answer, fields in its order.
type mergeResultJSON struct {
	SHA     string `json:"sha"`
	Merged  bool   `json:"merged"`
	Message string `json:"message"`
}

func (d *Door) mergePull(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermWrite); err != nil {
		return err
	}
	var req struct {
		MergeMethod   core.Opt[string] `json:"merge_method"`
		CommitTitle   core.Opt[string] `json:"commit_title"`
		CommitMessage core.Opt[string] `json:"commit_message"`
		SHA           core.Opt[string] `json:"sha"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	sha, err := d.Pulls.Merge(r.Context(), actor(r), ref(r, true), pulls.MergeInput{
		Method: req.MergeMethod, Title: req.CommitTitle.V, Message: req.CommitMessage.V, SHA: req.SHA.V})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, mergeResultJSON{SHA: sha.String(), Merged: true, Message: "Pull request successfully merged."})
	return nil
}

func (d *Door) listReviews(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	rs, total, err := d.Pulls.Reviews(r.Context(), actor(r), ref(r, true), p.Core())
	if err != nil {
		return err
	}
	out := make([]payload.Review, 0, len(rs))
	for _, rv := range rs {
		out = append(out, payload.ReviewOf(rv))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) createReview(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermRead); err != nil {
		return err
	}
	if _, err := actor(r).Require(); err != nil {
		return err
	}
	var req struct {
		Body     core.Opt[string] `json:"body"`
		State    core.Opt[string] `json:"state"`
		Event    core.Opt[string] `json:"event"`
		Comments []struct {
			Path core.Opt[string] `json:"path"`
			Line core.Opt[int]    `json:"line"`
			Body core.Opt[string] `json:"body"`
		} `json:"comments"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	in := pulls.ReviewInput{State: core.Or(req.State, req.Event).V, Body: req.Body}
	for _, c := range req.Comments {
		in.Comments = append(in.Comments, pulls.InlineComment{Path: c.Path, Line: c.Line, Body: c.Body})
	}
	rv, err := d.Pulls.Review(r.Context(), actor(r), ref(r, true), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.ReviewOf(rv))
	return nil
}

type reviewerJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
}

func reviewersOut(us []store.UserRef) []reviewerJSON {
	out := make([]reviewerJSON, 0, len(us))
	for _, u := range us {
		out = append(out, reviewerJSON{ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName})
	}
	return out
}

func (d *Door) listRequestedReviewers(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	us, err := d.Pulls.Reviewers(r.Context(), actor(r), ref(r, true))
	if err != nil {
		return err
	}
	out, total := core.Slice(reviewersOut(us), p.Core())
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reviewersRequest reads the reviewers of a request or withdrawal.
func reviewersRequest(r *http.Request) ([]string, error) {
	var req struct {
		Reviewers []string `json:"reviewers"`
	}
	err := decode(r, &req)
	return req.Reviewers, err
}

func (d *Door) changeReviewers(w http.ResponseWriter, r *http.Request, status int,
	change func(*pulls.Service, issues.Ref, []string) ([]store.UserRef, error)) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermWrite); err != nil {
		return err
	}
	names, err := reviewersRequest(r)
	if err != nil {
		return err
	}
	us, err := change(d.Pulls, ref(r, true), names)
	if err != nil {
		return err
	}
	writeJSON(w, status, reviewersOut(us))
	return nil
}

func (d *Door) requestReviewers(w http.ResponseWriter, r *http.Request) error {
	return d.changeReviewers(w, r, http.StatusCreated, func(s *pulls.Service, ref issues.Ref, names []string) ([]store.UserRef, error) {
		return s.RequestReviewers(r.Context(), actor(r), ref, names)
	})
}

func (d *Door) removeRequestedReviewers(w http.ResponseWriter, r *http.Request) error {
	return d.changeReviewers(w, r, http.StatusOK, func(s *pulls.Service, ref issues.Ref, names []string) ([]store.UserRef, error) {
		return s.RemoveReviewers(r.Context(), actor(r), ref, names)
	})
}
