package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"tapioca/store"
)

func (a *App) routesIssues() {
	a.api("GET /api/v1/repos/{owner}/{repo}/issues", areaRepo, a.listIssues)
	a.api("POST /api/v1/repos/{owner}/{repo}/issues", areaRepo, a.createIssue)
	a.api("GET /api/v1/repos/{owner}/{repo}/issues/{number}", areaRepo, a.getIssue)
	a.api("PATCH /api/v1/repos/{owner}/{repo}/issues/{number}", areaRepo, a.updateIssue)
	a.api("GET /api/v1/repos/{owner}/{repo}/issues/{number}/comments", areaRepo, a.listComments(false))
	a.api("POST /api/v1/repos/{owner}/{repo}/issues/{number}/comments", areaRepo, a.createComment(false))
	a.api("POST /api/v1/repos/{owner}/{repo}/issues/{number}/labels", areaRepo, a.addLabels(false))
	a.api("DELETE /api/v1/repos/{owner}/{repo}/issues/{number}/labels/{name...}", areaRepo, a.removeLabel(false))
	a.api("POST /api/v1/repos/{owner}/{repo}/issues/{number}/assignees", areaRepo, a.addAssignees(false))
	a.api("DELETE /api/v1/repos/{owner}/{repo}/issues/{number}/assignees", areaRepo, a.removeAssignees(false))
	a.api("PATCH /api/v1/repos/{owner}/{repo}/comments/{id}", areaRepo, a.updateComment)
	a.api("DELETE /api/v1/repos/{owner}/{repo}/comments/{id}", areaRepo, a.deleteComment)
}

type labelBriefJSON struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

func labelsBrief(ls []*store.Label) []labelBriefJSON {
	out := make([]labelBriefJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, labelBriefJSON{ID: l.ID, Name: l.Name, Color: l.Color})
	}
	return out
}

func refBrief(u store.UserRef) userBriefJSON {
	return userBriefJSON{ID: u.ID, Username: u.Username, Kind: u.Kind}
}

func refsBrief(us []store.UserRef) []userBriefJSON {
	out := make([]userBriefJSON, 0, len(us))
	for _, u := range us {
		out = append(out, refBrief(u))
	}
	return out
}

type issueJSON struct {
	ID            int64            `json:"id"`
	Number        int64            `json:"number"`
	Title         string           `json:"title"`
	Body          *string          `json:"body"`
	State         string           `json:"state"`
	Author        userBriefJSON    `json:"author"`
	Assignees     []userBriefJSON  `json:"assignees"`
	Labels        []labelBriefJSON `json:"labels"`
	CommentsCount int              `json:"comments_count"`
	CreatedAt     string           `json:"created_at"`
	UpdatedAt     string           `json:"updated_at"`
	ClosedAt      *string          `json:"closed_at"`
}

func issueOut(i *store.Issue) issueJSON {
	return issueJSON{
		ID: i.ID, Number: i.Number, Title: i.Title, Body: i.Body, State: i.State,
		Author: refBrief(i.Author), Assignees: refsBrief(i.Assignees), Labels: labelsBrief(i.Labels),
		CommentsCount: i.CommentsCount, CreatedAt: timeJSON(i.CreatedAt), UpdatedAt: timeJSON(i.UpdatedAt),
		ClosedAt: timePtrJSON(i.ClosedAt),
	}
}

// issueFor loads /issues/{number} (isPull false) or /pulls/{number}.
func (a *App) issueFor(r *http.Request, need store.Perm, isPull bool) (*store.Repo, store.Perm, *store.Issue, error) {
	repo, perm, err := a.repoFor(r, need)
	if err != nil {
		return nil, perm, nil, err
	}
	n, err := pathID(r, "number")
	if err != nil {
		return nil, perm, nil, err
	}
	i, err := a.store.IssueByNumber(r.Context(), repo.ID, n, isPull)
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, i, nil
}

// issueListQuery parses the shared filters of issue and pull request lists.
func issueListQuery(r *http.Request, v validation, states map[string][]string) (store.IssueList, page) {
	q := r.URL.Query()
	f := store.IssueList{Sort: "created"}
	st := q.Get("state")
	if st == "" {
		st = "open"
	}
	if s, ok := states[st]; ok {
		f.States = s
	} else {
		var names []string
		for k := range states {
			names = append(names, `"`+k+`"`)
		}
		sort.Strings(names)
		v.add("state", "is not included in the list ("+strings.Join(names, ", ")+")")
	}
	if l := q.Get("labels"); l != "" {
		f.Labels = strings.Split(l, ",")
	}
	f.Assignee = q.Get("assignee")
	switch s := q.Get("sort"); s {
	case "", "created", "updated", "comments":
		if s != "" {
			f.Sort = s
		}
	default:
		v.add("sort", `is not included in the list ("created", "updated", "comments")`)
	}
	switch q.Get("direction") {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		v.add("direction", `is not included in the list ("asc", "desc")`)
	}
	p := readPage(r, v)
	f.Limit, f.Offset = p.PerPage, p.Offset()
	return f, p
}

var issueStates = map[string][]string{"open": {"open"}, "closed": {"closed"}, "all": nil}

func (a *App) listIssues(w http.ResponseWriter, r *http.Request) error {
	repo, _, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	v := validation{}
	f, p := issueListQuery(r, v, issueStates)
	if err := v.err(); err != nil {
		return err
	}
	f.RepoID = repo.ID
	issues, total, err := a.store.ListIssues(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]issueJSON, 0, len(issues))
	for _, i := range issues {
		out = append(out, issueOut(i))
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// resolveLabels maps label names to ids; unknown names are a 422 on field.
func (a *App) resolveLabels(ctx context.Context, repoID int64, names []string, v validation) ([]int64, error) {
	ls, err := a.resolveLabelList(ctx, repoID, names, v)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids, nil
}

// resolveLabelList is resolveLabels returning the labels themselves.
func (a *App) resolveLabelList(ctx context.Context, repoID int64, names []string, v validation) ([]*store.Label, error) {
	var out []*store.Label
	for _, n := range names {
		l, err := a.store.LabelByName(ctx, repoID, strings.TrimSpace(n))
		if err != nil {
			if isNotFound(err) {
				v.add("labels", fmt.Sprintf("label %q does not exist", n))
				continue
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// resolveAssignees maps usernames to users who can read the repository;
// anyone else is a 422 on field.
func (a *App) resolveAssignees(ctx context.Context, repo *store.Repo, names []string, field string, v validation) ([]*store.User, error) {
	var out []*store.User
	for _, n := range names {
		u, err := a.store.UserByName(ctx, strings.TrimSpace(n))
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if u == nil || u.IsOrg() {
			v.add(field, fmt.Sprintf("user %q does not exist", n))
			continue
		}
		perm, err := a.store.RepoPerm(ctx, u, repo)
		if err != nil {
			return nil, err
		}
		if perm < store.PermRead {
			v.add(field, fmt.Sprintf("user %q has no access to the repository", n))
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

func userIDs(us []*store.User) []int64 {
	ids := make([]int64, 0, len(us))
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

func checkTitle(v validation, title string) {
	switch {
	case strings.TrimSpace(title) == "":
		v.add("title", "can't be blank")
	case utf8.RuneCountInString(title) > 256:
		v.add("title", "is too long (maximum is 256 characters)")
	}
}

// editTitleBody reads the title and body of an issue or pull request edit.
func editTitleBody(v validation, title, body opt[string]) store.IssueUpdate {
	var upd store.IssueUpdate
	if title.Set {
		checkTitle(v, title.V)
		t := strings.TrimSpace(title.V)
		upd.Title = &t
	}
	upd.Body = checkBody(v, "body", body)
	return upd
}

// editedChanges is the changes of an edited event: the title and body
// the update replaces.
func editedChanges(before *store.Issue, upd store.IssueUpdate) map[string]any {
	changes := map[string]any{}
	if upd.Title != nil && *upd.Title != before.Title {
		changes["title"] = map[string]any{"from": before.Title}
	}
	if upd.Body != nil {
		changes["body"] = map[string]any{"from": before.Body}
	}
	return changes
}

const maxBodyLen = 65536

func checkBody(v validation, field string, o opt[string]) **string {
	if !o.Set {
		return nil
	}
	var b *string
	if !o.Null {
		if utf8.RuneCountInString(o.V) > maxBodyLen {
			v.add(field, fmt.Sprintf("is too long (maximum is %d characters)", maxBodyLen))
		}
		s := o.V
		b = &s
	}
	return &b
}

// createIssue opens an issue: anyone signed in who can read the
// repository may; setting labels or assignees needs write access.
func (a *App) createIssue(w http.ResponseWriter, r *http.Request) error {
	repo, perm, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		Title     opt[string] `json:"title"`
		Body      opt[string] `json:"body"`
		Labels    []string    `json:"labels"`
		Assignees []string    `json:"assignees"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if (len(req.Labels) > 0 || len(req.Assignees) > 0) && perm < store.PermWrite {
		return errStatus(http.StatusForbidden, "Setting labels or assignees requires write access to the repository")
	}
	v := validation{}
	checkTitle(v, req.Title.V)
	body := checkBody(v, "body", req.Body)
	labelIDs, err := a.resolveLabels(r.Context(), repo.ID, req.Labels, v)
	if err != nil {
		return err
	}
	assignees, err := a.resolveAssignees(r.Context(), repo, req.Assignees, "assignees", v)
	if err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	ni := store.NewIssue{RepoID: repo.ID, Title: strings.TrimSpace(req.Title.V), AuthorID: u.ID, LabelIDs: labelIDs, AssigneeIDs: userIDs(assignees)}
	if body != nil {
		ni.Body = *body
	}
	var issue *store.Issue
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		var err error
		if issue, err = tx.CreateIssue(r.Context(), ni); err != nil {
			return err
		}
		return a.emitIssue(r.Context(), tx, repo, u, "opened", issue, nil)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issueOut(issue))
	return nil
}

// emitIssue records an issues (or, for pull requests, nothing here: the
// pull request handlers emit their own) event.
func (a *App) emitIssue(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	if i.IsPull {
		return nil
	}
	payload := map[string]any{"number": i.Number, "issue": issueOut(i)}
	for k, v := range extra {
		payload[k] = v
	}
	return a.emit(ctx, tx, event{Name: "issues", Action: action, Repo: repo, Sender: sender, Payload: payload})
}

func (a *App) getIssue(w http.ResponseWriter, r *http.Request) error {
	_, _, issue, err := a.issueFor(r, store.PermRead, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, issueOut(issue))
	return nil
}

// updateIssue edits title, body or state: the author or anyone with write
// access may.
func (a *App) updateIssue(w http.ResponseWriter, r *http.Request) error {
	repo, perm, issue, err := a.issueFor(r, store.PermRead, false)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	if perm < store.PermWrite && issue.Author.ID != u.ID {
		return errStatus(http.StatusForbidden, "Only the author or collaborators with write access can edit this issue")
	}
	var req struct {
		Title     opt[string]   `json:"title"`
		Body      opt[string]   `json:"body"`
		State     opt[string]   `json:"state"`
		Labels    opt[[]string] `json:"labels"`
		Assignees opt[[]string] `json:"assignees"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	lists, err := a.readListEdit(r.Context(), repo, perm, req.Labels, req.Assignees, v)
	if err != nil {
		return err
	}
	upd := editTitleBody(v, req.Title, req.Body)
	if req.State.Set {
		if req.State.V != "open" && req.State.V != "closed" {
			v.add("state", `is not included in the list ("open", "closed")`)
		}
		st := req.State.V
		upd.State = &st
	}
	if err := v.err(); err != nil {
		return err
	}
	before := issue
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		var err error
		if issue, err = tx.UpdateIssue(r.Context(), issue.ID, upd); err != nil {
			return err
		}
		if issue, err = a.applyListEdit(r.Context(), tx, repo, u, issue, lists); err != nil {
			return err
		}
		if upd.State != nil && *upd.State != before.State {
			action := "closed"
			if *upd.State == "open" {
				action = "reopened"
			}
			if err := a.emitIssue(r.Context(), tx, repo, u, action, issue, nil); err != nil {
				return err
			}
		}
		if changes := editedChanges(before, upd); len(changes) > 0 {
			return a.emitIssue(r.Context(), tx, repo, u, "edited", issue, map[string]any{"changes": changes})
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, issueOut(issue))
	return nil
}

// --- labels and assignees on issues and pull requests ---

func (a *App) addLabels(isPull bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		repo, _, issue, err := a.issueFor(r, store.PermWrite, isPull)
		if err != nil {
			return err
		}
		var req struct {
			Labels []string `json:"labels"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		v := validation{}
		if req.Labels == nil {
			v.add("labels", "can't be blank")
		}
		ids, err := a.resolveLabels(r.Context(), repo.ID, req.Labels, v)
		if err != nil {
			return err
		}
		if err := v.err(); err != nil {
			return err
		}
		had := map[int64]bool{}
		for _, l := range issue.Labels {
			had[l.ID] = true
		}
		u := who(r).user
		err = a.store.Tx(r.Context(), func(tx *store.Store) error {
			if err := tx.AddIssueLabels(r.Context(), issue.ID, ids); err != nil {
				return err
			}
			if issue, err = tx.IssueByID(r.Context(), issue.ID); err != nil {
				return err
			}
			for _, l := range issue.Labels {
				if !had[l.ID] {
					if err := a.emitIssueOrPull(r.Context(), tx, repo, u, "labeled", issue, map[string]any{"label": labelOut(l)}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, labelsBrief(issue.Labels))
		return nil
	}
}

func (a *App) removeLabel(isPull bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		repo, _, issue, err := a.issueFor(r, store.PermWrite, isPull)
		if err != nil {
			return err
		}
		l, err := a.store.LabelByName(r.Context(), repo.ID, r.PathValue("name"))
		if err != nil {
			return err
		}
		u := who(r).user
		err = a.store.Tx(r.Context(), func(tx *store.Store) error {
			if err := tx.RemoveIssueLabel(r.Context(), issue.ID, l.ID); err != nil {
				return err
			}
			if issue, err = tx.IssueByID(r.Context(), issue.ID); err != nil {
				return err
			}
			return a.emitIssueOrPull(r.Context(), tx, repo, u, "unlabeled", issue, map[string]any{"label": labelOut(l)})
		})
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (a *App) assigneesRequest(r *http.Request, repo *store.Repo, mustHaveAccess bool) ([]*store.User, error) {
	var req struct {
		Assignees []string `json:"assignees"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	v := validation{}
	if req.Assignees == nil {
		v.add("assignees", "can't be blank")
		return nil, v.err()
	}
	var users []*store.User
	if mustHaveAccess {
		var err error
		if users, err = a.resolveAssignees(r.Context(), repo, req.Assignees, "assignees", v); err != nil {
			return nil, err
		}
	} else {
		for _, n := range req.Assignees {
			u, err := a.store.UserByName(r.Context(), strings.TrimSpace(n))
			if err != nil {
				if isNotFound(err) {
					continue // removing someone who does not exist changes nothing
				}
				return nil, err
			}
			users = append(users, u)
		}
	}
	return users, v.err()
}

func (a *App) addAssignees(isPull bool) apiFunc    { return a.assign(isPull, true) }
func (a *App) removeAssignees(isPull bool) apiFunc { return a.assign(isPull, false) }

// assign adds (add) or removes assignees and emits assigned or unassigned
// for each user whose assignment that changes.
func (a *App) assign(isPull, add bool) apiFunc {
	change, action := (*store.Store).RemoveAssignees, "unassigned"
	if add {
		change, action = (*store.Store).AddAssignees, "assigned"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		repo, _, issue, err := a.issueFor(r, store.PermWrite, isPull)
		if err != nil {
			return err
		}
		users, err := a.assigneesRequest(r, repo, add)
		if err != nil {
			return err
		}
		had := map[int64]bool{}
		for _, as := range issue.Assignees {
			had[as.ID] = true
		}
		sender := who(r).user
		err = a.store.Tx(r.Context(), func(tx *store.Store) error {
			if err := change(tx, r.Context(), issue.ID, userIDs(users)); err != nil {
				return err
			}
			if issue, err = tx.IssueByID(r.Context(), issue.ID); err != nil {
				return err
			}
			for _, u := range users {
				if had[u.ID] == add {
					continue // already assigned, or never was
				}
				if add {
					had[u.ID] = true // named twice, assigned once
				}
				if err := a.emitIssueOrPull(r.Context(), tx, repo, sender, action, issue, map[string]any{"assignee": userBrief(u)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return a.writeIssueOrPull(w, r, repo, issue)
	}
}

// --- comments ---

type commentJSON struct {
	ID          int64         `json:"id"`
	Body        string        `json:"body"`
	Author      userBriefJSON `json:"author"`
	IssueNumber int64         `json:"issue_number"`
	CreatedAt   string        `json:"created_at"`
	UpdatedAt   string        `json:"updated_at"`
}

func commentOut(c *store.Comment) commentJSON {
	return commentJSON{ID: c.ID, Body: c.Body, Author: refBrief(c.Author), IssueNumber: c.IssueNumber,
		CreatedAt: timeJSON(c.CreatedAt), UpdatedAt: timeJSON(c.UpdatedAt)}
}

func (a *App) listComments(isPull bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, _, issue, err := a.issueFor(r, store.PermRead, isPull)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		v := validation{}
		sort := q.Get("sort")
		if sort != "" && sort != "created" && sort != "updated" {
			v.add("sort", `is not included in the list ("created", "updated")`)
		}
		asc := true
		switch q.Get("direction") {
		case "", "asc":
		case "desc":
			asc = false
		default:
			v.add("direction", `is not included in the list ("asc", "desc")`)
		}
		p, err := parsePage(r)
		if err != nil {
			return err
		}
		if err := v.err(); err != nil {
			return err
		}
		cs, total, err := a.store.ListComments(r.Context(), issue.ID, sort, asc, p.PerPage, p.Offset())
		if err != nil {
			return err
		}
		out := make([]commentJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, commentOut(c))
		}
		a.setPageHeaders(w, r, p, total)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func commentBody(r *http.Request) (string, error) {
	var req struct {
		Body opt[string] `json:"body"`
	}
	if err := decode(r, &req); err != nil {
		return "", err
	}
	v := validation{}
	if strings.TrimSpace(req.Body.V) == "" {
		v.add("body", "can't be blank")
	} else if utf8.RuneCountInString(req.Body.V) > maxBodyLen {
		v.add("body", fmt.Sprintf("is too long (maximum is %d characters)", maxBodyLen))
	}
	return req.Body.V, v.err()
}

// createComment: anyone signed in who can read the repository may comment.
func (a *App) createComment(isPull bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		repo, _, issue, err := a.issueFor(r, store.PermRead, isPull)
		if err != nil {
			return err
		}
		u, err := requireUser(r)
		if err != nil {
			return err
		}
		body, err := commentBody(r)
		if err != nil {
			return err
		}
		var c *store.Comment
		err = a.store.Tx(r.Context(), func(tx *store.Store) error {
			if c, err = tx.CreateComment(r.Context(), repo.ID, issue.ID, u.ID, body); err != nil {
				return err
			}
			if issue, err = tx.IssueByID(r.Context(), issue.ID); err != nil {
				return err
			}
			return a.emitComment(r.Context(), tx, repo, u, "created", issue, c, nil)
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, commentOut(c))
		return nil
	}
}

func (a *App) emitComment(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, issue *store.Issue, c *store.Comment, extra map[string]any) error {
	payload := map[string]any{"comment": commentOut(c), "issue": issueOut(issue)}
	if issue.IsPull {
		payload["is_pull_request"] = true
	}
	for k, v := range extra {
		payload[k] = v
	}
	return a.emit(ctx, tx, event{Name: "issue_comment", Action: action, Repo: repo, Sender: sender, Payload: payload})
}

func (a *App) commentFor(r *http.Request) (*store.Repo, store.Perm, *store.Comment, error) {
	repo, perm, err := a.repoFor(r, store.PermRead)
	if err != nil {
		return nil, perm, nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, perm, nil, err
	}
	c, err := a.store.CommentByID(r.Context(), repo.ID, id)
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, c, nil
}

// updateComment: authors edit their own comments.
func (a *App) updateComment(w http.ResponseWriter, r *http.Request) error {
	repo, _, c, err := a.commentFor(r)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	if c.Author.ID != u.ID && !u.IsAdmin {
		return errStatus(http.StatusForbidden, "You can only edit your own comments")
	}
	body, err := commentBody(r)
	if err != nil {
		return err
	}
	before := c.Body
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		if c, err = tx.UpdateComment(r.Context(), repo.ID, c.ID, body); err != nil {
			return err
		}
		if err := tx.TouchIssue(r.Context(), c.IssueID); err != nil {
			return err
		}
		issue, err := tx.IssueByID(r.Context(), c.IssueID)
		if err != nil {
			return err
		}
		return a.emitComment(r.Context(), tx, repo, u, "edited", issue, c, map[string]any{"changes": map[string]any{"body": map[string]any{"from": before}}})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, commentOut(c))
	return nil
}

// deleteComment: authors delete their own comments, repository admins any.
func (a *App) deleteComment(w http.ResponseWriter, r *http.Request) error {
	repo, perm, c, err := a.commentFor(r)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	if c.Author.ID != u.ID && perm < store.PermAdmin {
		return errStatus(http.StatusForbidden, "You can only delete your own comments")
	}
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		if err := tx.DeleteComment(r.Context(), repo.ID, c.ID); err != nil {
			return err
		}
		issue, err := tx.IssueByID(r.Context(), c.IssueID)
		if err != nil {
			return err
		}
		return a.emitComment(r.Context(), tx, repo, u, "deleted", issue, c, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// emitIssueOrPull sends an issues event for an issue and a pull_request
// event for a pull request.
func (a *App) emitIssueOrPull(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, action string, i *store.Issue, extra map[string]any) error {
	if i.IsPull {
		return a.emitPullAction(ctx, tx, repo, sender, action, i, extra)
	}
	return a.emitIssue(ctx, tx, repo, sender, action, i, extra)
}

// writeIssueOrPull answers with the issue's shape, or the pull request's
// (its git side added to the issue just loaded).
func (a *App) writeIssueOrPull(w http.ResponseWriter, r *http.Request, repo *store.Repo, i *store.Issue) error {
	if !i.IsPull {
		writeJSON(w, http.StatusOK, issueOut(i))
		return nil
	}
	p, err := a.store.PullOf(r.Context(), i)
	if err != nil {
		return err
	}
	if err := a.freshPulls(r.Context(), repo, []*store.Pull{p}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pullOut(p))
	return nil
}
