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
	d.api("GET "+pr, core.AreaRepo, d.listPulls, Doc{Summary: "List and search pull requests",
		Description: "q searches titles, bodies and comments; the other parameters filter and sort.",
		Query:       pulls.ListQuery{}, Paged: true, Out: []payload.Pull{}})
	d.api("POST "+pr, core.AreaRepo, d.createPull,
		Doc{Summary: "Open a pull request", Body: pulls.Creation{}, Out: payload.Pull{}, Status: http.StatusCreated})
	d.api("GET "+pr+"/{number}", core.AreaRepo, d.getPull, Doc{Summary: "Get a pull request",
		Description: "With mergeable_state and merge_blockers. Accept: " + mediaDiff + " answers its diff (git diff base...head), " +
			mediaPatch + " its patch series.",
		Out: payload.Pull{}, Media: []string{mediaDiff, mediaPatch}})
	d.api("PATCH "+pr+"/{number}", core.AreaRepo, d.updatePull,
		Doc{Summary: "Edit, close, reopen or retarget a pull request", Body: pulls.Update{}, Out: payload.Pull{}})
	d.api("PUT "+pr+"/{number}/merge", core.AreaRepo, d.mergePull,
		Doc{Summary: "Merge a pull request", Body: pulls.MergeInput{}, Out: mergeResultJSON{}})
	d.api("GET "+pr+"/{number}/files", core.AreaRepo, d.listPullFiles,
		Doc{Summary: "List the files a pull request changes, with patches", Paged: true, Out: []payload.File{}})
	d.api("GET "+pr+"/{number}/commits", core.AreaRepo, d.listPullCommits,
		Doc{Summary: "List a pull request's commits, oldest first", Paged: true, Out: []payload.Commit{}})
	d.routesIssueParts(pr+"/{number}", true)
	d.api("GET "+pr+"/{number}/reviews", core.AreaRepo, d.listReviews,
		Doc{Summary: "List reviews", Paged: true, Out: []payload.Review{}})
	d.api("POST "+pr+"/{number}/reviews", core.AreaRepo, d.createReview,
		Doc{Summary: "Review a pull request (approve, request changes or comment; inline comments on lines)", Body: reviewRequest{},
			Out: payload.Review{}, Status: http.StatusCreated})
	d.api("GET "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.listRequestedReviewers,
		Doc{Summary: "List requested reviewers", Paged: true, Out: []reviewerJSON{}})
	d.api("POST "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.requestReviewers,
		Doc{Summary: "Request reviews", Body: reviewersRequest{}, Out: []reviewerJSON{}, Status: http.StatusCreated})
	d.api("DELETE "+pr+"/{number}/requested_reviewers", core.AreaRepo, d.removeRequestedReviewers,
		Doc{Summary: "Withdraw review requests", Body: reviewersRequest{}, Out: []reviewerJSON{}})
}

type reviewRequest struct {
	pulls.ReviewInput
	Event core.Opt[string] `json:"event" doc:"GitHub's name for state (APPROVE, REQUEST_CHANGES, COMMENT)"`
}

type reviewersRequest struct {
	Reviewers []string `json:"reviewers" api:"required" doc:"Usernames"`
}

func (d *Door) listPulls(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	var q pulls.ListQuery
	if err := query(r, &q); err != nil {
		return err
	}
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
	var req pulls.Creation
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := d.Pulls.Create(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.PullOf(p))
	return nil
}

func (d *Door) getPull(w http.ResponseWriter, r *http.Request) error {
	if f, ok := diffFormat(r); ok {
		dw, err := d.Code.PullDiff(r.Context(), actor(r), ref(r, true), f)
		if err != nil {
			return err
		}
		return d.writeDiff(w, r, dw, f)
	}
	p, gate, err := d.Pulls.Gate(r.Context(), actor(r), ref(r, true))
	if err != nil {
		return err
	}
	out := payload.PullOf(p)
	out.MergeableState, out.MergeBlockers = gate.State, gate.Blockers
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) listPullFiles(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	files, total, err := d.Code.PullFiles(r.Context(), actor(r), ref(r, true), p.Core())
	if err != nil {
		return err
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, payload.Files(files))
	return nil
}

func (d *Door) listPullCommits(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	cs, total, err := d.Code.PullCommits(r.Context(), actor(r), ref(r, true), p.Core())
	if err != nil {
		return err
	}
	repo, err := d.env.Store.RepoByName(r.Context(), r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return err
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, d.env.Site().Commits(repo, cs))
	return nil
}

func (d *Door) updatePull(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermRead); err != nil {
		return err
	}
	if _, err := actor(r).Require(); err != nil {
		return err
	}
	var req pulls.Update
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := d.Pulls.Update(r.Context(), actor(r), ref(r, true), req)
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
	var req pulls.MergeInput
	if err := decode(r, &req); err != nil {
		return err
	}
	sha, err := d.Pulls.Merge(r.Context(), actor(r), ref(r, true), req)
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
	var req reviewRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := req.ReviewInput
	if in.State == "" {
		in.State = req.Event.V
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
func readReviewers(r *http.Request) ([]string, error) {
	var req reviewersRequest
	err := decode(r, &req)
	return req.Reviewers, err
}

func (d *Door) changeReviewers(w http.ResponseWriter, r *http.Request, status int,
	change func(*pulls.Service, issues.Ref, []string) ([]store.UserRef, error)) error {
	if _, _, _, err := d.Pulls.Load(r.Context(), actor(r), ref(r, true), store.PermWrite); err != nil {
		return err
	}
	names, err := readReviewers(r)
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
