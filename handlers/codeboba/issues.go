package codeboba

import (
	"net/http"

	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

func (d *Door) routesIssues() {
	const repo = "/api/v1/repos/{owner}/{repo}"
	d.api("GET "+repo+"/issues", core.AreaRepo, d.listIssues, Doc{Summary: "List and search issues",
		Description: "q searches titles, bodies and comments; the other parameters filter and sort.",
		Query:       issues.ListQuery{}, Paged: true, Out: []payload.Issue{}})
	d.api("POST "+repo+"/issues", core.AreaRepo, d.createIssue,
		Doc{Summary: "Open an issue", Body: issues.Creation{}, Out: payload.Issue{}, Status: http.StatusCreated})
	d.api("GET "+repo+"/issues/{number}", core.AreaRepo, d.getIssue,
		Doc{Summary: "Get an issue", Description: "A pull request's number answers 404 naming its /pulls path.", Out: payload.Issue{}})
	d.api("PATCH "+repo+"/issues/{number}", core.AreaRepo, d.updateIssue,
		Doc{Summary: "Edit, close or reopen an issue", Body: issues.Update{}, Out: payload.Issue{}})
	d.routesIssueParts(repo+"/issues/{number}", false)
	d.api("PATCH "+repo+"/comments/{id}", core.AreaRepo, d.updateComment,
		Doc{Summary: "Edit a comment", Body: issues.CommentInput{}, Out: payload.Comment{}})
	d.api("DELETE "+repo+"/comments/{id}", core.AreaRepo, d.deleteComment, Doc{Summary: "Delete a comment"})
}

// routesIssueParts registers what issues and pull requests share:
// comments, labels and assignees.
func (d *Door) routesIssueParts(base string, pull bool) {
	what, out := "an issue", any(payload.Issue{})
	if pull {
		what, out = "a pull request", payload.Pull{}
	}
	d.api("GET "+base+"/comments", core.AreaRepo, d.listComments(pull),
		Doc{Summary: "List the comments on " + what, Query: issues.CommentQuery{}, Paged: true, Out: []payload.Comment{}})
	d.api("POST "+base+"/comments", core.AreaRepo, d.createComment(pull),
		Doc{Summary: "Comment on " + what, Body: issues.CommentInput{}, Out: payload.Comment{}, Status: http.StatusCreated})
	d.api("POST "+base+"/labels", core.AreaRepo, d.addLabels(pull),
		Doc{Summary: "Apply labels to " + what, Body: issues.LabelsInput{}, Out: []payload.LabelBrief{}})
	d.api("DELETE "+base+"/labels/{name...}", core.AreaRepo, d.removeLabel(pull), Doc{Summary: "Take a label off " + what})
	d.api("POST "+base+"/assignees", core.AreaRepo, d.assign(pull, true),
		Doc{Summary: "Assign users to " + what, Body: assigneesRequest{}, Out: out})
	d.api("DELETE "+base+"/assignees", core.AreaRepo, d.assign(pull, false),
		Doc{Summary: "Unassign users from " + what, Body: assigneesRequest{}, Out: out})
}

type assigneesRequest struct {
	Assignees []string `json:"assignees" api:"required" doc:"Usernames"`
}

func (d *Door) listIssues(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	var q issues.ListQuery
	if err := query(r, &q); err != nil {
		return err
	}
	v := core.Validation{}
	q.Filter(v, issues.IssueStates)
	p := httpx.ReadPage(r, v)
	if err := v.Err(); err != nil {
		return err
	}
	q.Page = p.Core()
	list, total, err := d.Issues.List(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), q)
	if err != nil {
		return err
	}
	out := make([]payload.Issue, 0, len(list))
	for _, i := range list {
		out = append(out, payload.IssueOf(i))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// issueFirst checks that the caller can reach the repository and that
// they are signed in, before the body is read.
func (d *Door) issueFirst(r *http.Request, need store.Perm) error {
	if err := d.repoFirst(r, need); err != nil {
		return err
	}
	_, err := actor(r).Require()
	return err
}

func (d *Door) createIssue(w http.ResponseWriter, r *http.Request) error {
	if err := d.issueFirst(r, store.PermRead); err != nil {
		return err
	}
	var req issues.Creation
	if err := decode(r, &req); err != nil {
		return err
	}
	i, err := d.Issues.Create(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.IssueOf(i))
	return nil
}

func (d *Door) getIssue(w http.ResponseWriter, r *http.Request) error {
	i, err := d.Issues.Get(r.Context(), actor(r), ref(r, false))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.IssueOf(i))
	return nil
}

func (d *Door) updateIssue(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := d.Issues.Load(r.Context(), actor(r), ref(r, false), store.PermRead); err != nil {
		return err
	}
	var req issues.Update
	if err := decode(r, &req); err != nil {
		return err
	}
	i, err := d.Issues.Update(r.Context(), actor(r), ref(r, false), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.IssueOf(i))
	return nil
}

func (d *Door) addLabels(pull bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, _, _, err := d.Issues.Load(r.Context(), actor(r), ref(r, pull), store.PermWrite); err != nil {
			return err
		}
		var req issues.LabelsInput
		if err := decode(r, &req); err != nil {
			return err
		}
		i, err := d.Issues.AddLabels(r.Context(), actor(r), ref(r, pull), req.Labels)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, payload.LabelsBrief(i.Labels))
		return nil
	}
}

func (d *Door) removeLabel(pull bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := d.Issues.RemoveLabel(r.Context(), actor(r), ref(r, pull), r.PathValue("name")); err != nil {
			return err
		}
		return noContent(w)
	}
}

// assign adds (add) or removes assignees and answers with the issue or
// pull request as it now is.
func (d *Door) assign(pull, add bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, _, _, err := d.Issues.Load(r.Context(), actor(r), ref(r, pull), store.PermWrite); err != nil {
			return err
		}
		var req assigneesRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		repo, i, err := d.Issues.Assign(r.Context(), actor(r), ref(r, pull), req.Assignees, add)
		if err != nil {
			return err
		}
		if !i.IsPull {
			writeJSON(w, http.StatusOK, payload.IssueOf(i))
			return nil
		}
		p, err := d.Pulls.OfIssue(r.Context(), repo, i)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, payload.PullOf(p))
		return nil
	}
}

func (d *Door) listComments(pull bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, _, _, err := d.Issues.Load(r.Context(), actor(r), ref(r, pull), store.PermRead); err != nil {
			return err
		}
		var cq issues.CommentQuery
		if err := query(r, &cq); err != nil {
			return err
		}
		v := core.Validation{}
		cq.Check(v)
		p, err := page(r)
		if err != nil {
			return err
		}
		if err := v.Err(); err != nil {
			return err
		}
		cq.Page = p.Core()
		cs, total, err := d.Issues.Comments(r.Context(), actor(r), ref(r, pull), cq)
		if err != nil {
			return err
		}
		out := make([]payload.Comment, 0, len(cs))
		for _, c := range cs {
			out = append(out, payload.CommentOf(c))
		}
		d.setPage(w, r, p, total)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// commentBody reads a comment's body.
func commentBody(r *http.Request) (string, error) {
	var req issues.CommentInput
	err := decode(r, &req)
	return req.Body.V, err
}

func (d *Door) createComment(pull bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, _, _, err := d.Issues.Load(r.Context(), actor(r), ref(r, pull), store.PermRead); err != nil {
			return err
		}
		if _, err := actor(r).Require(); err != nil {
			return err
		}
		body, err := commentBody(r)
		if err != nil {
			return err
		}
		c, err := d.Issues.Comment(r.Context(), actor(r), ref(r, pull), body)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, payload.CommentOf(c))
		return nil
	}
}

func (d *Door) updateComment(w http.ResponseWriter, r *http.Request) error {
	id, _ := httpx.PathID(r, "id")
	if err := d.issueFirst(r, store.PermRead); err != nil {
		return err
	}
	body, err := commentBody(r)
	if err != nil {
		return err
	}
	c, err := d.Issues.UpdateComment(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), id, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.CommentOf(c))
	return nil
}

func (d *Door) deleteComment(w http.ResponseWriter, r *http.Request) error {
	id, _ := httpx.PathID(r, "id")
	if err := d.Issues.DeleteComment(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), id); err != nil {
		return err
	}
	return noContent(w)
}
