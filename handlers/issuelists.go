package handlers

import (
	"context"
	"net/http"

	"tapioca/store"
)

// listEdit is the labels/assignees part of an issue or pull request PATCH.
// As on GitHub, each list given replaces the current one ([] clears it);
// an absent list leaves it alone.
type listEdit struct {
	labelsSet, assigneesSet bool
	labels                  []*store.Label
	assignees               []*store.User
}

func (e listEdit) any() bool { return e.labelsSet || e.assigneesSet }

// readListEdit validates the lists of a PATCH body. Setting either needs
// write access, as it does at creation.
func (a *App) readListEdit(ctx context.Context, repo *store.Repo, perm store.Perm, labels, assignees opt[[]string], v validation) (listEdit, error) {
	e := listEdit{labelsSet: labels.Set, assigneesSet: assignees.Set}
	if e.any() && perm < store.PermWrite {
		return e, errStatus(http.StatusForbidden, "Setting labels or assignees requires write access to the repository")
	}
	if labels.Set {
		ls, err := a.resolveLabelList(ctx, repo.ID, labels.V, v)
		if err != nil {
			return e, err
		}
		e.labels = ls
	}
	if assignees.Set {
		us, err := a.resolveAssignees(ctx, repo, assignees.V, "assignees", v)
		if err != nil {
			return e, err
		}
		e.assignees = us
	}
	return e, nil
}

// applyListEdit makes the issue's labels and assignees what e says inside
// tx, emitting labeled/unlabeled/assigned/unassigned for each change, and
// returns the issue as it now is.
func (a *App) applyListEdit(ctx context.Context, tx *store.Store, repo *store.Repo, sender *store.User, issue *store.Issue, e listEdit) (*store.Issue, error) {
	if !e.any() {
		return issue, nil
	}
	type event struct {
		action string
		extra  map[string]any
	}
	var events []event
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
				events = append(events, event{"labeled", map[string]any{"label": labelOut(l)}})
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
				events = append(events, event{"unlabeled", map[string]any{"label": labelOut(l)}})
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
				events = append(events, event{"assigned", map[string]any{"assignee": userBrief(u)}})
			}
		}
		var remove []int64
		for _, u := range issue.Assignees {
			if !want[u.ID] {
				remove = append(remove, u.ID)
				events = append(events, event{"unassigned", map[string]any{"assignee": refBrief(u)}})
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
	for _, ev := range events {
		if err := a.emitIssueOrPull(ctx, tx, repo, sender, ev.action, issue, ev.extra); err != nil {
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
