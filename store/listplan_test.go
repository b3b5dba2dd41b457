package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// planCase is one list query as a list method would run it.
type planCase struct {
	name  string
	query string
	args  []any
	// index must appear in the plan: the one that serves the filter and
	// the sort.
	index string
	// sorts: the query may sort (a driver page, bounded by driverSortMax).
	sorts bool
	// ranged: a keyset page, whose index search must start at the cursor
	// (a range on the sort column), not walk up to it.
	ranged bool
	// scans: the list has no filter, so walking a whole index (or the
	// table, in primary key order) is the plan: the dashboard's lists of
	// everything.
	scans bool
}

// tableScan and indexScan match plan lines that read a whole table or a
// whole index.
var (
	tableScan = regexp.MustCompile(`^SCAN \w+$`)
	indexScan = regexp.MustCompile(`^SCAN \w+ USING (COVERING )?INDEX`)
)

// explain returns the detail lines of EXPLAIN QUERY PLAN for query.
func explain(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPlan fails when c's plan sorts (unless allowed), reads a whole
// table, reads a whole index for a filtered list, or does not use the
// index that serves the list.
func checkPlan(t *testing.T, s *Store, c planCase) {
	t.Helper()
	plan := explain(t, s, c.query, c.args...)
	text := strings.Join(plan, "\n")
	for _, line := range plan {
		switch {
		case strings.Contains(line, "TEMP B-TREE") && !c.sorts:
			t.Errorf("%s sorts:\n%s\n%s", c.name, text, c.query)
		case tableScan.MatchString(line) && !c.scans:
			t.Errorf("%s reads a whole table:\n%s\n%s", c.name, text, c.query)
		case indexScan.MatchString(line) && !c.scans:
			t.Errorf("%s reads a whole index:\n%s\n%s", c.name, text, c.query)
		}
	}
	if c.ranged && !regexp.MustCompile(`SEARCH i USING COVERING INDEX \w+ \(.* AND \w+[<>]\?\)`).MatchString(text) {
		t.Errorf("%s does not start at the cursor:\n%s\n%s", c.name, text, c.query)
	}
	if c.index != "" && !regexp.MustCompile(`\b`+c.index+`\b`).MatchString(text) {
		t.Errorf("%s does not use %s:\n%s\n%s", c.name, c.index, text, c.query)
	}
}

// Every list the API and the dashboard serve, for every filter and sort
// they accept, reads its page (and counts its total) through an index that
// holds its filter and its order: none sorts its matches (issue 16).
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	var cases []planCase
	dirs := []bool{false, true}
	dirName := map[bool]string{false: "desc", true: "asc"}
	page := func(query string, asc bool) string {
		return window{}.order(query, asc)
	}

	// Issues and pull requests.
	type issueFilter struct {
		name string
		f    IssueList
	}
	filters := []issueFilter{
		{"open issues", IssueList{States: []string{"open"}}},
		{"closed issues", IssueList{States: []string{"closed"}}},
		{"all issues", IssueList{}},
		{"open or closed issues", IssueList{States: []string{"open", "closed"}}},
		{"open pulls", IssueList{IsPull: true, States: []string{"open"}}},
		{"merged pulls", IssueList{IsPull: true, States: []string{"merged"}}},
		{"all pulls", IssueList{IsPull: true}},
		{"labelled issues", IssueList{States: []string{"open"}, Labels: []string{"bug", "ui"}}},
		{"issues of an assignee", IssueList{States: []string{"open"}, Assignee: "alice"}},
		{"unassigned issues", IssueList{Assignee: "none"}},
		{"assigned issues", IssueList{States: []string{"closed"}, Assignee: "*"}},
		{"pulls from a head", IssueList{IsPull: true, States: []string{"open"}, head: "feature"}},
		{"pulls into a base", IssueList{IsPull: true, base: "master"}},
		{"pulls of a branch", IssueList{IsPull: true, States: []string{"open"}, branch: "feature"}},
	}
	for _, flt := range filters {
		for _, sort := range []string{"created", "updated", "comments"} {
			for _, asc := range dirs {
				f := flt.f
				f.RepoID, f.Sort, f.Asc = 1, sort, asc
				q := f.query()
				name := fmt.Sprintf("%s by %s %s", flt.name, sort, dirName[asc])
				// Above driverSortMax: the sort index, in order.
				query, args := q.pageSQL(driverSortMax + 1)
				cases = append(cases, planCase{name: name, query: page(query, asc), args: append(args, 30, 0), index: q.index})
				// A keyset page: a range of the same index.
				f.After = 7
				qa := f.query()
				query, args = qa.pageSQL(driverSortMax + 1)
				cases = append(cases, planCase{name: name + " after #7", query: page(query, asc), args: append(args, 30, 0),
					index: qa.index, ranged: true})
				if q.driver != "" {
					query, args := q.pageSQL(driverSortMax)
					cases = append(cases, planCase{name: name + " (few: driver)", query: page(query, asc),
						args: append(args, 30, 0), index: driverIndex(q.driver, q.driverCond), sorts: true})
				}
			}
		}
		f := flt.f
		f.RepoID = 1
		q := f.query()
		query, args := q.countSQL()
		index := q.index
		switch {
		case q.counted:
			index = "issue_counts"
		case q.driver != "":
			index = driverIndex(q.driver, q.driverCond)
		}
		cases = append(cases, planCase{name: "count " + flt.name, query: query, args: args, index: index})
	}

	// An issue's comments.
	for _, sort := range []string{"created", "updated"} {
		count, query := commentListSQL(sort)
		index := "comments_issue"
		if sort == "updated" {
			index = "comments_issue_updated"
		}
		for _, asc := range dirs {
			cases = append(cases, planCase{name: "comments by " + sort + " " + dirName[asc], query: page(query, asc),
				args: []any{1, 30, 0}, index: index})
		}
		cases = append(cases, planCase{name: "count comments", query: count, args: []any{1}, index: "comments_issue"})
	}

	// Repositories: an owner's (API, and an account's page in the
	// dashboard), and everyone's (dashboard).
	repoIndex := map[string]string{
		"owner all created": "repos_owner_created", "owner all updated": "repos_owner_updated",
		"owner all name": "sqlite_autoindex_repos_1", "owner all pushed": "repos_owner_pushed",
		"owner public created": "repos_owner_private_created", "owner public updated": "repos_owner_private_updated",
		"owner public name":     "repos_owner_private_name",
		"owner private created": "repos_owner_private_created", "owner private updated": "repos_owner_private_updated",
		"owner private name": "repos_owner_private_name",
		"any all created":    "repos_created", "any all pushed": "repos_pushed", "any all size": "repos_size", "any all name": "repos_name",
		"any public created": "repos_private_created", "any public pushed": "repos_private_pushed",
		"any public size": "repos_private_size", "any public name": "repos_private_name",
		"any private created": "repos_private_created", "any private pushed": "repos_private_pushed",
		"any private size": "repos_private_size", "any private name": "repos_private_name",
	}
	for key, index := range repoIndex {
		parts := strings.Fields(key)
		for _, asc := range dirs {
			for _, query := range []string{"", "boba"} {
				if parts[0] == "owner" && query != "" {
					continue // the dashboard searches everyone's
				}
				f := RepoList{Visibility: parts[1], Sort: parts[2], Asc: asc, Query: query}
				if parts[0] == "owner" {
					f.OwnerID = 1
				}
				count, pageQuery, args := f.sql()
				name := "repositories " + key + " " + dirName[asc]
				if query != "" {
					name += " matching a search"
				}
				// Everyone's unfiltered is the whole index; a search is
				// a substring match, which no index holds.
				whole := parts[0] == "any" && (parts[1] == "all" || query != "")
				cases = append(cases, planCase{name: name, query: page(pageQuery, asc), args: append(args, 30, 0), index: index, scans: whole})
				if asc && query == "" {
					// Any index that leads with the filter counts it.
					cases = append(cases, planCase{name: "count " + name, query: count, args: args, scans: whole})
				}
			}
		}
	}

	// Organization members, all or of one role.
	for _, role := range []string{"", RoleOwner, RoleAdmin, RoleMember} {
		count, query, extra := memberListSQL(role)
		index := "org_members_list"
		if role != "" {
			index = "org_members_role"
		}
		args := append([]any{1}, extra...)
		for _, asc := range dirs {
			cases = append(cases, planCase{name: "members " + role + " " + dirName[asc], query: page(query, asc),
				args: append(append([]any{}, args...), 30, 0), index: index})
		}
		countIndex := index
		if role == "" {
			countIndex = "" // the primary key or any index of org_id
		}
		cases = append(cases, planCase{name: "count members " + role, query: count, args: args, index: countIndex})
	}

	// Accounts in the dashboard, all or matching a search.
	for _, typ := range []string{TypeUser, TypeOrg} {
		for _, search := range []string{"", "bob"} {
			count, query, args := accountListSQL(typ, search, "u.username", "u.display_name")
			for _, asc := range dirs {
				cases = append(cases, planCase{name: "accounts " + typ + " " + search + " " + dirName[asc],
					query: "SELECT u.id" + page(query, asc), args: append(append([]any{}, args...), 30, 0), index: "users_type_name"})
			}
			cases = append(cases, planCase{name: "count accounts " + typ + " " + search, query: count, args: args, index: "users_type_name"})
		}
	}

	// The users page: by name, newest or last sign-in, with or without
	// its filters (which the sort's index walk applies).
	for sort, index := range map[string]string{"name": "users_type_name", "created": "users_type_created", "signin": "users_type_signin"} {
		for _, f := range []UserList{{Sort: sort}, {Sort: sort, Admin: true, Bot: true, Disabled: true, Query: "bob"}} {
			count, query, args, asc := f.sql()
			cases = append(cases, planCase{name: fmt.Sprintf("users %+v", f), query: "SELECT u.id" + page(query, asc),
				args: append(append([]any{}, args...), 30, 0), index: index},
				planCase{name: fmt.Sprintf("count users %+v", f), query: count, args: args, index: index})
		}
	}

	// Webhook deliveries: a hook's (API), by status and event; everyone's
	// (dashboard), by status or by repository.
	for _, f := range []DeliveryFilter{
		{WebhookID: 1}, {WebhookID: 1, Status: DeliveryFailed}, {WebhookID: 1, Event: "push"},
		{WebhookID: 1, Status: DeliveryPending, Event: "issues"}, {}, {Status: DeliveryRetrying},
		{RepoID: 1}, {RepoID: 1, Status: DeliveryFailed, Event: "push", SkipRedelivered: true},
		{WebhookID: 1, RepoID: 1, Status: DeliveryFailed, SkipRedelivered: true},
	} {
		count, query, args := f.sql()
		index := "webhook_deliveries_hook"
		switch {
		case f.WebhookID == 0 && f.RepoID != 0:
			index = "webhook_deliveries_repo"
		case f.WebhookID == 0 && f.Status == "":
			index = "" // the primary key, newest first
		case f.WebhookID == 0:
			index = "webhook_deliveries_status"
		case f.Status != "" && f.Event != "":
			index = "webhook_deliveries_hook_status_event"
		case f.Status != "":
			index = "webhook_deliveries_hook_status"
		case f.Event != "":
			index = "webhook_deliveries_hook_event"
		}
		name := fmt.Sprintf("deliveries %+v", f)
		whole := f.WebhookID == 0 && f.RepoID == 0 && f.Status == ""
		cases = append(cases, planCase{name: name, query: "SELECT d.id" + page(query, false), args: append(args, 30, 0),
			index: index, scans: whole})
		cases = append(cases, planCase{name: "count " + name, query: count, args: args, index: index, scans: whole})
	}

	// A pull request's reviews; vouches received by an account.
	cases = append(cases,
		planCase{name: "reviews", query: page(reviewListSQL, true), args: []any{1, 30, 0}, index: "reviews_pull"},
		planCase{name: "vouches", query: page(vouchListSQL, false), args: []any{1, 30, 0}, index: "vouches_target_user"},
	)

	for _, c := range cases {
		checkPlan(t, s, c)
	}
	if len(cases) < 200 {
		t.Errorf("only %d plans checked", len(cases))
	}
}

// driverIndex is the index a driver's table is searched with.
func driverIndex(driver, cond string) string {
	switch {
	case strings.HasPrefix(driver, "pulls") && strings.Contains(cond, "OR"):
		return "pulls_repo_head"
	case strings.HasPrefix(driver, "pulls") && strings.Contains(cond, "head_ref"):
		return "pulls_repo_head"
	case strings.HasPrefix(driver, "pulls"):
		return "pulls_repo_base"
	case strings.HasPrefix(driver, "issue_labels"):
		return "issue_labels_label"
	default:
		return "issue_assignees_user"
	}
}
