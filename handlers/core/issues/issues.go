// Package issues is the forge core's issue service: issues, their
// comments, and the labels and assignees that issues and pull requests
// share (pull requests are issues with a git side; the pulls service
// adds that side).
package issues

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/handlers/core/events"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Service is the issue service.
type Service struct {
	env    *core.Env
	events *events.Emitter
}

// New returns the issue service.
func New(env *core.Env, ev *events.Emitter) *Service { return &Service{env: env, events: ev} }

// Ref addresses an issue (Pull false: /issues/:n) or a pull request
// (Pull true: /pulls/:n) of owner/repo. The two share one number
// sequence, but each path addresses only its own kind.
type Ref struct {
	Owner, Repo string
	Number      int64
	Pull        bool
}

// Load resolves ref with the actor's permission check and returns the
// repository, the actor's permission and the issue.
func (s *Service) Load(ctx context.Context, a core.Actor, ref Ref, need store.Perm) (*store.Repo, store.Perm, *store.Issue, error) {
	repo, perm, err := s.env.RepoAccess(ctx, a, ref.Owner, ref.Repo, need)
	if err != nil {
		return nil, perm, nil, err
	}
	if ref.Number < 1 {
		return nil, perm, nil, ref.notFound(repo)
	}
	i, err := s.env.Store.IssueByNumber(ctx, repo.ID, ref.Number, ref.Pull)
	if core.IsNotFound(err) {
		return nil, perm, nil, s.wrongKind(ctx, repo, ref)
	}
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, i, nil
}

func (ref Ref) kind() string {
	if ref.Pull {
		return "Pull request"
	}
	return "Issue"
}

func (ref Ref) notFound(repo *store.Repo) error {
	return core.NotFound("%s #%d not found", ref.kind(), ref.Number)
}

// wrongKind explains a miss: the number may be the other kind (issues
// and pull requests share numbers), and then the answer says where it is.
func (s *Service) wrongKind(ctx context.Context, repo *store.Repo, ref Ref) error {
	if _, err := s.env.Store.IssueByNumber(ctx, repo.ID, ref.Number, !ref.Pull); err != nil {
		return ref.notFound(repo)
	}
	other, path := "a pull request", "pulls"
	if ref.Pull {
		other, path = "an issue", "issues"
	}
	e := core.NotFound("%s #%d not found: #%d is %s, at /repos/%s/%s/%d", ref.kind(), ref.Number,
		ref.Number, other, repo.FullName(), path, ref.Number)
	e.Details = map[string]any{"url": s.env.Site().APIURL("repos/" + repo.FullName() + "/" + path + "/" + strconv.FormatInt(ref.Number, 10))}
	return e
}

// IssueStates are the state filters of the issue list.
var IssueStates = map[string][]string{"open": {"open"}, "closed": {"closed"}, "all": nil}

// ListQuery filters and sorts an issue or pull request list.
type ListQuery struct {
	State     string    `json:"state" doc:"open (default), closed or all; pull requests also take merged"`
	Labels    string    `json:"labels" doc:"Comma-separated label names, all of which must be applied"`
	Assignee  string    `json:"assignee" doc:"A username, none (unassigned) or * (assigned to anyone)"`
	Creator   string    `json:"creator" doc:"The author's username"`
	Since     time.Time `json:"since" doc:"Only those updated at or after this time"`
	Q         string    `json:"q" doc:"Words the title, body or comments must all contain (any order, any case, stemmed); \"quoted words\" as a phrase; a word ending in * as a prefix"`
	Sort      string    `json:"sort" doc:"created (default), updated or comments (issues only)"`
	Direction string    `json:"direction" enum:"asc,desc" doc:"desc (default) or asc"`
	Page      core.Page `json:"-"`
}

// Filter validates q against the accepted states into a store filter,
// adding problems to v.
func (q ListQuery) Filter(v core.Validation, states map[string][]string) store.IssueList {
	f := store.IssueList{Sort: "created", Limit: q.Page.Limit, Offset: q.Page.Offset}
	st := q.State
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
		v.Add("state", "is not included in the list ("+strings.Join(names, ", ")+")")
	}
	if q.Labels != "" {
		f.Labels = strings.Split(q.Labels, ",")
	}
	f.Assignee = q.Assignee
	f.Creator = strings.TrimSpace(q.Creator)
	f.Since = q.Since
	f.Search = strings.TrimSpace(q.Q)
	switch q.Sort {
	case "", "created", "updated", "comments":
		if q.Sort != "" {
			f.Sort = q.Sort
		}
	default:
		v.Add("sort", `is not included in the list ("created", "updated", "comments")`)
	}
	switch q.Direction {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		v.Add("direction", `is not included in the list ("asc", "desc")`)
	}
	return f
}

// List lists a repository's issues.
func (s *Service) List(ctx context.Context, a core.Actor, owner, name string, q ListQuery) ([]*store.Issue, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	v := core.Validation{}
	f := q.Filter(v, IssueStates)
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	f.RepoID = repo.ID
	return s.env.Store.ListIssues(ctx, f)
}

// ResolveLabels maps label names to labels; unknown names are errors on
// "labels".
func (s *Service) ResolveLabels(ctx context.Context, repoID int64, names []string, v core.Validation) ([]*store.Label, error) {
	var out []*store.Label
	for _, n := range names {
		l, err := s.env.Store.LabelByName(ctx, repoID, strings.TrimSpace(n))
		if err != nil {
			if core.IsNotFound(err) {
				v.Add("labels", fmt.Sprintf("label %q does not exist", n))
				continue
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// ResolveUsers maps usernames to users who can read the repository;
// anyone else is an error on field.
func (s *Service) ResolveUsers(ctx context.Context, repo *store.Repo, names []string, field string, v core.Validation) ([]*store.User, error) {
	var out []*store.User
	for _, n := range names {
		u, err := s.env.Store.UserByName(ctx, strings.TrimSpace(n))
		if err != nil && !core.IsNotFound(err) {
			return nil, err
		}
		if u == nil || u.IsOrg() {
			v.Add(field, fmt.Sprintf("user %q does not exist", n))
			continue
		}
		perm, err := s.env.Store.RepoPerm(ctx, u, repo)
		if err != nil {
			return nil, err
		}
		if perm < store.PermRead {
			v.Add(field, fmt.Sprintf("user %q has no access to the repository", n))
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// UserIDs lists the ids of us.
func UserIDs(us []*store.User) []int64 {
	ids := make([]int64, 0, len(us))
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}

func labelIDs(ls []*store.Label) []int64 {
	ids := make([]int64, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

// CheckTitle validates an issue or pull request title.
func CheckTitle(v core.Validation, title string) {
	switch {
	case strings.TrimSpace(title) == "":
		v.Add("title", "can't be blank")
	case utf8.RuneCountInString(title) > 256:
		v.Add("title", "is too long (maximum is 256 characters)")
	default:
		core.CheckLine(v, "title", title)
	}
}

// EditTitleBody reads the title and body of an issue or pull request edit.
func EditTitleBody(v core.Validation, title, body core.Opt[string]) store.IssueUpdate {
	var upd store.IssueUpdate
	if title.Set {
		CheckTitle(v, title.V)
		t := strings.TrimSpace(title.V)
		upd.Title = &t
	}
	upd.Body = core.CheckBody(v, "body", body)
	return upd
}

// EditedChanges is the changes of an edited event: the title and body
// the update replaces.
func EditedChanges(before *store.Issue, upd store.IssueUpdate) map[string]any {
	changes := map[string]any{}
	if upd.Title != nil && *upd.Title != before.Title {
		changes["title"] = map[string]any{"from": before.Title}
	}
	if upd.Body != nil {
		changes["body"] = map[string]any{"from": before.Body}
	}
	return changes
}

// Creation is the input of Create.
type Creation struct {
	Title     core.Opt[string] `json:"title" api:"required" doc:"The title (at most 256 characters)"`
	Body      core.Opt[string] `json:"body" doc:"The description (Markdown)"`
	Labels    []string         `json:"labels" doc:"Label names to apply (write access)"`
	Assignees []string         `json:"assignees" doc:"Usernames to assign (write access)"`
}

// Create opens an issue: anyone signed in who can read the repository
// may; setting labels or assignees needs write access.
func (s *Service) Create(ctx context.Context, a core.Actor, owner, name string, in Creation) (*store.Issue, error) {
	repo, perm, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	if (len(in.Labels) > 0 || len(in.Assignees) > 0) && perm < store.PermWrite {
		return nil, core.Forbidden("Setting labels or assignees requires write access to the repository")
	}
	v := core.Validation{}
	CheckTitle(v, in.Title.V)
	body := core.CheckBody(v, "body", in.Body)
	labels, err := s.ResolveLabels(ctx, repo.ID, in.Labels, v)
	if err != nil {
		return nil, err
	}
	assignees, err := s.ResolveUsers(ctx, repo, in.Assignees, "assignees", v)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ni := store.NewIssue{RepoID: repo.ID, Title: strings.TrimSpace(in.Title.V), AuthorID: u.ID,
		LabelIDs: labelIDs(labels), AssigneeIDs: UserIDs(assignees)}
	if body != nil {
		ni.Body = *body
	}
	var issue *store.Issue
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if issue, err = tx.CreateIssue(ctx, ni); err != nil {
			return err
		}
		return s.events.Issue(ctx, tx, repo, u, "opened", issue, nil)
	})
	return issue, err
}

// Get is one issue.
func (s *Service) Get(ctx context.Context, a core.Actor, ref Ref) (*store.Issue, error) {
	_, _, i, err := s.Load(ctx, a, ref, store.PermRead)
	return i, err
}

// Update is the input of Update; absent fields stay as they are.
type Update struct {
	Title     core.Opt[string]   `json:"title" doc:"The new title"`
	Body      core.Opt[string]   `json:"body" doc:"The new description; null clears it"`
	State     core.Opt[string]   `json:"state" enum:"open,closed" doc:"open or closed"`
	Labels    core.Opt[[]string] `json:"labels" doc:"Replaces the labels; [] clears them"`
	Assignees core.Opt[[]string] `json:"assignees" doc:"Replaces the assignees; [] clears them"`
}

// CommentInput is a comment to post or the new text of one.
type CommentInput struct {
	Body core.Opt[string] `json:"body" api:"required" doc:"The comment (Markdown)"`
}

// LabelsInput names labels to apply.
type LabelsInput struct {
	Labels []string `json:"labels" api:"required" doc:"Label names"`
}

// Update edits title, body, state, labels or assignees: the author or
// anyone with write access may (lists need write access).
func (s *Service) Update(ctx context.Context, a core.Actor, ref Ref, in Update) (*store.Issue, error) {
	repo, perm, issue, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	if perm < store.PermWrite && issue.Author.ID != u.ID {
		return nil, core.Forbidden("Only the author or collaborators with write access can edit this issue")
	}
	v := core.Validation{}
	lists, err := s.ReadListEdit(ctx, repo, perm, in.Labels, in.Assignees, v)
	if err != nil {
		return nil, err
	}
	upd := EditTitleBody(v, in.Title, in.Body)
	if in.State.Set {
		if in.State.V != "open" && in.State.V != "closed" {
			v.Add("state", `is not included in the list ("open", "closed")`)
		}
		st := in.State.V
		upd.State = &st
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	before := issue
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if issue, err = tx.UpdateIssue(ctx, issue.ID, upd); err != nil {
			return err
		}
		if issue, err = s.ApplyListEdit(ctx, tx, repo, u, issue, lists); err != nil {
			return err
		}
		if upd.State != nil && *upd.State != before.State {
			action := "closed"
			if *upd.State == "open" {
				action = "reopened"
			}
			if err := s.events.Issue(ctx, tx, repo, u, action, issue, nil); err != nil {
				return err
			}
		}
		if changes := EditedChanges(before, upd); len(changes) > 0 {
			return s.events.Issue(ctx, tx, repo, u, "edited", issue, map[string]any{"changes": changes})
		}
		return nil
	})
	return issue, err
}

// AddLabels applies labels to an issue or pull request: write access.
// It returns the target's repository and the issue as it now is.
func (s *Service) AddLabels(ctx context.Context, a core.Actor, ref Ref, names []string) (*store.Issue, error) {
	repo, _, issue, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	if names == nil {
		v.Add("labels", "can't be blank")
	}
	labels, err := s.ResolveLabels(ctx, repo.ID, names, v)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	had := map[int64]bool{}
	for _, l := range issue.Labels {
		had[l.ID] = true
	}
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.AddIssueLabels(ctx, issue.ID, labelIDs(labels)); err != nil {
			return err
		}
		if issue, err = tx.IssueByID(ctx, issue.ID); err != nil {
			return err
		}
		for _, l := range issue.Labels {
			if !had[l.ID] {
				if err := s.events.IssueOrPull(ctx, tx, repo, a.User, "labeled", issue, map[string]any{"label": payload.LabelOf(l)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return issue, err
}

// RemoveLabel takes a label off an issue or pull request: write access.
func (s *Service) RemoveLabel(ctx context.Context, a core.Actor, ref Ref, name string) error {
	repo, _, issue, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return err
	}
	l, err := s.env.Store.LabelByName(ctx, repo.ID, name)
	if err != nil {
		return err
	}
	return s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.RemoveIssueLabel(ctx, issue.ID, l.ID); err != nil {
			return err
		}
		if issue, err = tx.IssueByID(ctx, issue.ID); err != nil {
			return err
		}
		return s.events.IssueOrPull(ctx, tx, repo, a.User, "unlabeled", issue, map[string]any{"label": payload.LabelOf(l)})
	})
}

// Assign adds (add) or removes assignees of an issue or pull request,
// write access, and emits assigned or unassigned for each user whose
// assignment that changes. Added users must be able to read the
// repository; removing someone who does not exist changes nothing. It
// returns the repository and the issue as it now is.
func (s *Service) Assign(ctx context.Context, a core.Actor, ref Ref, names []string, add bool) (*store.Repo, *store.Issue, error) {
	repo, _, issue, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return nil, nil, err
	}
	if names == nil {
		return nil, nil, core.Invalid("assignees", "can't be blank")
	}
	v := core.Validation{}
	var users []*store.User
	if add {
		if users, err = s.ResolveUsers(ctx, repo, names, "assignees", v); err != nil {
			return nil, nil, err
		}
	} else {
		for _, n := range names {
			u, err := s.env.Store.UserByName(ctx, strings.TrimSpace(n))
			if err != nil {
				if core.IsNotFound(err) {
					continue
				}
				return nil, nil, err
			}
			users = append(users, u)
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	change, action := (*store.Store).RemoveAssignees, "unassigned"
	if add {
		change, action = (*store.Store).AddAssignees, "assigned"
	}
	had := map[int64]bool{}
	for _, as := range issue.Assignees {
		had[as.ID] = true
	}
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := change(tx, ctx, issue.ID, UserIDs(users)); err != nil {
			return err
		}
		if issue, err = tx.IssueByID(ctx, issue.ID); err != nil {
			return err
		}
		for _, u := range users {
			if had[u.ID] == add {
				continue // already assigned, or never was
			}
			if add {
				had[u.ID] = true // named twice, assigned once
			}
			if err := s.events.IssueOrPull(ctx, tx, repo, a.User, action, issue, map[string]any{"assignee": payload.UserOf(u)}); err != nil {
				return err
			}
		}
		return nil
	})
	return repo, issue, err
}

// ListEdit is the labels/assignees part of an issue or pull request
// update. As on GitHub, each list given replaces the current one ([]
// clears it); an absent list leaves it alone.
type ListEdit struct {
	labelsSet, assigneesSet bool
	labels                  []*store.Label
	assignees               []*store.User
}

// Any reports whether the edit changes a list.
func (e ListEdit) Any() bool { return e.labelsSet || e.assigneesSet }

// ReadListEdit validates the lists of an update. Setting either needs
// write access, as it does at creation.
func (s *Service) ReadListEdit(ctx context.Context, repo *store.Repo, perm store.Perm, labels, assignees core.Opt[[]string], v core.Validation) (ListEdit, error) {
	e := ListEdit{labelsSet: labels.Set, assigneesSet: assignees.Set}
	if e.Any() && perm < store.PermWrite {
		return e, core.Forbidden("Setting labels or assignees requires write access to the repository")
	}
	if labels.Set {
		ls, err := s.ResolveLabels(ctx, repo.ID, labels.V, v)
		if err != nil {
			return e, err
		}
		e.labels = ls
	}
	if assignees.Set {
		us, err := s.ResolveUsers(ctx, repo, assignees.V, "assignees", v)
		if err != nil {
			return e, err
		}
		e.assignees = us
	}
	return e, nil
}

// ApplyListEdit makes the issue's labels and assignees what e says inside
// tx, emitting labeled/unlabeled/assigned/unassigned for each change, and
// returns the issue as it now is.
func (s *Service) ApplyListEdit(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, issue *store.Issue, e ListEdit) (*store.Issue, error) {
	if !e.Any() {
		return issue, nil
	}
	type event struct {
		action string
		extra  map[string]any
	}
	var evs []event
	if e.labelsSet {
		want := map[int64]bool{}
		var add []int64
		for _, l := range e.labels {
			if want[l.ID] {
				continue
			}
			want[l.ID] = true
			if !hasLabel(issue.Labels, l.ID) {
				add = append(add, l.ID)
				evs = append(evs, event{"labeled", map[string]any{"label": payload.LabelOf(l)}})
			}
		}
		if err := tx.AddIssueLabels(ctx, issue.ID, add); err != nil {
			return nil, err
		}
		for _, l := range issue.Labels {
			if !want[l.ID] {
				if err := tx.RemoveIssueLabel(ctx, issue.ID, l.ID); err != nil {
					return nil, err
				}
				evs = append(evs, event{"unlabeled", map[string]any{"label": payload.LabelOf(l)}})
			}
		}
	}
	if e.assigneesSet {
		want := map[int64]bool{}
		had := map[int64]bool{}
		for _, u := range issue.Assignees {
			had[u.ID] = true
		}
		var add []int64
		for _, u := range e.assignees {
			if want[u.ID] {
				continue
			}
			want[u.ID] = true
			if !had[u.ID] {
				add = append(add, u.ID)
				evs = append(evs, event{"assigned", map[string]any{"assignee": payload.UserOf(u)}})
			}
		}
		var remove []int64
		for _, u := range issue.Assignees {
			if !want[u.ID] {
				remove = append(remove, u.ID)
				evs = append(evs, event{"unassigned", map[string]any{"assignee": payload.Ref(u)}})
			}
		}
		if err := tx.AddAssignees(ctx, issue.ID, add); err != nil {
			return nil, err
		}
		if err := tx.RemoveAssignees(ctx, issue.ID, remove); err != nil {
			return nil, err
		}
	}
	issue, err := tx.IssueByID(ctx, issue.ID)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if err := s.events.IssueOrPull(ctx, tx, repo, sender, ev.action, issue, ev.extra); err != nil {
			return nil, err
		}
	}
	return issue, nil
}

func hasLabel(ls []*store.Label, id int64) bool {
	for _, l := range ls {
		if l.ID == id {
			return true
		}
	}
	return false
}
