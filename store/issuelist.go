package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// IssueList filters ListIssues.
type IssueList struct {
	RepoID   int64
	IsPull   bool
	States   []string // empty = any
	Labels   []string // every one must be applied
	Assignee string   // username; "none" = unassigned, "*" = assigned to anyone
	Sort     string   // created (default), updated, comments
	Asc      bool
	Limit    int // <= 0: all
	Offset   int
	// After, when not 0, is an issue number: the page starts after that
	// issue's place in the list's order, and Offset counts from there
	// (keyset paging). Issues created meanwhile then never shift a page,
	// as they do with offsets alone, so walking a list page by page neither
	// repeats nor skips one. An issue the list does not hold gives an empty
	// page; the total stays the whole list's.
	After int64
	// Search, Creator and Since: see searchConds (search.go).
	Search  string    // words the title, body or comments hold
	Creator string    // author's username
	Since   time.Time // updated at or after; zero = any time

	// Set by ListPulls: branch names, "" for any.
	head, base string
	branch     string // head or base
}

// issueSortColumns are the columns of the sorts the lists accept; each has
// its pair of indexes in 0007_list_indexes.sql.
var issueSortColumns = map[string]string{"created": "created_at", "updated": "updated_at", "comments": "comments_count"}

// driverSortMax is how many matching rows a list may sort by itself. A
// filter on a label, an assignee or a branch can match few issues of a
// large repository; walking the repository's sort index for them would
// visit every issue, so when the filter's own index (the driver) finds at
// most this many, the page is read through it and those few rows sorted.
// Above it, matches are dense enough for the sort index walk to fill a
// page quickly.
const driverSortMax = 1000

// issueQuery is an IssueList as SQL.
type issueQuery struct {
	repoID int64
	isPull bool
	states []string
	conds  []string // on issues i: every listed row meets all of them
	args   []any
	// counted: the filter is repository, kind and states only, so the
	// total is in issue_counts.
	counted bool
	// driver, when set, joins a narrower table d to i (its index finds the
	// candidates); driverCond selects d's rows.
	driver     string
	driverCond string
	driverArgs []any
	sortCol    string // column of i
	index      string // the index that holds conds' leading part and the sort
	// after: the keyset condition of IssueList.After, for pages only, with
	// {cmp} for the comparison of the direction read in.
	after     string
	afterArgs []any
}

func (f IssueList) query() issueQuery {
	q := issueQuery{
		repoID: f.RepoID,
		isPull: f.IsPull,
		conds:  []string{"i.repo_id = ?", "i.is_pull = ?"},
		args:   []any{f.RepoID, boolInt(f.IsPull)},
	}
	q.states = dedupe(f.States, strings.TrimSpace)
	if len(q.states) > 0 {
		q.conds = append(q.conds, "i.state IN "+inList(len(q.states)))
		for _, st := range q.states {
			q.args = append(q.args, st)
		}
	}
	plain := len(q.conds)
	drive := func(table, cond string, args ...any) {
		if q.driver == "" {
			q.driver, q.driverCond, q.driverArgs = table+" d CROSS JOIN issues i", cond+" AND i.id = d.issue_id", args
		}
	}
	// The most selective filter drives: a head branch has a pull request
	// or two, an assignee some issues, a label more, a base branch most.
	if f.head != "" {
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM pulls p WHERE p.issue_id = i.id AND p.head_ref = ?)")
		q.args = append(q.args, f.head)
		drive("pulls", "d.repo_id = ? AND d.head_ref = ?", f.RepoID, f.head)
	}
	const userByName = "(SELECT n.user_id FROM names n WHERE n.lower_name = ?)"
	switch f.Assignee {
	case "":
	case "none":
		q.conds = append(q.conds, "NOT EXISTS (SELECT 1 FROM issue_assignees ia WHERE ia.issue_id = i.id)")
	case "*":
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM issue_assignees ia WHERE ia.issue_id = i.id)")
	default:
		name := strings.ToLower(f.Assignee)
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM issue_assignees ia WHERE ia.issue_id = i.id AND ia.user_id = "+userByName+")")
		q.args = append(q.args, name)
		drive("issue_assignees", "d.user_id = "+userByName, name)
	}
	const labelByName = "(SELECT l.id FROM labels l WHERE l.repo_id = ? AND l.lower_name = ?)"
	for _, name := range dedupe(f.Labels, func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }) {
		// A name no label has makes the subquery NULL, which matches
		// nothing: the list is empty, as it should be.
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM issue_labels il WHERE il.issue_id = i.id AND il.label_id = "+labelByName+")")
		q.args = append(q.args, f.RepoID, name)
		drive("issue_labels", "d.label_id = "+labelByName, f.RepoID, name)
	}
	if f.base != "" {
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM pulls p WHERE p.issue_id = i.id AND p.base_ref = ?)")
		q.args = append(q.args, f.base)
		drive("pulls", "d.repo_id = ? AND d.base_ref = ?", f.RepoID, f.base)
	}
	if f.branch != "" {
		q.conds = append(q.conds, "EXISTS (SELECT 1 FROM pulls p WHERE p.issue_id = i.id AND (p.head_ref = ? OR p.base_ref = ?))")
		q.args = append(q.args, f.branch, f.branch)
		// Spelled out per index, so that SQLite reads both and merges.
		drive("pulls", "((d.repo_id = ? AND d.head_ref = ?) OR (d.repo_id = ? AND d.base_ref = ?))", f.RepoID, f.branch, f.RepoID, f.branch)
	}
	if conds, args := f.searchConds(); len(conds) > 0 {
		q.conds, q.args = append(q.conds, conds...), append(q.args, args...)
	}
	q.counted = len(q.conds) == plain

	sort := f.Sort
	if issueSortColumns[sort] == "" {
		sort = "created"
	}
	q.sortCol = "i." + issueSortColumns[sort]
	if len(q.states) == 1 {
		q.index = "issues_state_" + sort
	} else {
		q.index = "issues_all_" + sort
	}
	if f.After != 0 {
		// A row value against the index's (sort, number) columns: a range
		// of the same index walk.
		col := issueSortColumns[sort]
		q.after = "(" + q.sortCol + ", i.number) {cmp} (SELECT a." + col + ", a.number FROM issues a WHERE a.repo_id = ? AND a.number = ?)"
		q.afterArgs = []any{f.RepoID, f.After}
	}
	return q
}

// countSQL is the query for the list's total.
func (q issueQuery) countSQL() (string, []any) {
	switch {
	case q.counted:
		query := `SELECT COALESCE(SUM(n), 0) FROM issue_counts WHERE repo_id = ? AND is_pull = ?`
		args := []any{q.repoID, boolInt(q.isPull)}
		if len(q.states) > 0 {
			query += ` AND state IN ` + inList(len(q.states))
			for _, st := range q.states {
				args = append(args, st)
			}
		}
		return query, args
	case q.driver != "":
		return `SELECT COUNT(*) FROM ` + q.driver + ` WHERE ` + q.driverCond + ` AND ` + strings.Join(q.conds, " AND "),
			append(append([]any{}, q.driverArgs...), q.args...)
	default:
		return `SELECT COUNT(*) FROM issues i INDEXED BY ` + q.index + ` WHERE ` + strings.Join(q.conds, " AND "), q.args
	}
}

// pageSQL is the query for a window's ids (for window.order), through
// the driver when the list is small enough to sort.
func (q issueQuery) pageSQL(total int) (string, []any) {
	conds, args := q.conds, q.args
	if q.after != "" {
		conds = append(slices.Clip(conds), q.after)
		args = append(slices.Clip(args), q.afterArgs...)
	}
	order := ` ORDER BY ` + q.sortCol + `{dir}, i.number{dir} LIMIT ? OFFSET ?`
	if q.driver != "" && total <= driverSortMax {
		return `SELECT i.id FROM ` + q.driver + ` WHERE ` + q.driverCond + ` AND ` + strings.Join(conds, " AND ") + order,
			append(append([]any{}, q.driverArgs...), args...)
	}
	return `SELECT i.id FROM issues i INDEXED BY ` + q.index + ` WHERE ` + strings.Join(conds, " AND ") + order, args
}

// ListIssues returns one page and the total.
func (s *Store) ListIssues(ctx context.Context, f IssueList) ([]*Issue, int, error) {
	q := f.query()
	var out []*Issue
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		countQuery, countArgs := q.countSQL()
		var err error
		if total, err = r.count(ctx, "issues", countQuery, countArgs...); err != nil {
			return err
		}
		w, ok := pageWindow(total, f.Limit, f.Offset)
		if f.After != 0 {
			// How many follow the cursor is not known: read forward.
			w, ok = window{limit: f.Limit, offset: max(f.Offset, 0)}, total > 0
			if w.limit <= 0 {
				w.limit = total
			}
		}
		if !ok {
			return nil
		}
		pageQuery, pageArgs := q.pageSQL(total)
		ids, err := r.ids(ctx, w, w.order(pageQuery, f.Asc), pageArgs...)
		if err != nil {
			return fmt.Errorf("list issues: %w", err)
		}
		out, err = r.issuesByID(ctx, ids)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if out == nil {
		out = []*Issue{}
	}
	return out, total, nil
}

// issuesByID loads issues with their labels and assignees, in the order
// of ids.
func (s *Store) issuesByID(ctx context.Context, ids []int64) ([]*Issue, error) {
	if len(ids) == 0 {
		return []*Issue{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+issueColumns+issueFrom+` WHERE i.id IN `+inList(len(ids)), idArgs(ids)...)
	if err != nil {
		return nil, fmt.Errorf("load issues: %w", err)
	}
	byID := make(map[int64]*Issue, len(ids))
	for rows.Next() {
		i, err := scanIssue(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan issue: %w", err)
		}
		byID[i.ID] = i
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := inOrder(ids, byID)
	if err := s.fillIssues(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// dedupe normalizes each string with norm and keeps the first of each
// non-empty result.
func dedupe(in []string, norm func(string) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s = norm(s); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
