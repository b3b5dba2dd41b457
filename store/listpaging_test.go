package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// issueFixture makes a repository with n issues created in one go (so most
// share created_at and updated_at to the second: ties the order must break
// by number), every third closed and every fourth with comments.
func issueFixture(t *testing.T, n int) (*Store, *Repo, *User) {
	t.Helper()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	closed := "closed"
	err := s.Tx(ctx, func(tx *Store) error {
		for k := range n {
			i, err := tx.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: fmt.Sprintf("issue %d", k+1), AuthorID: u.ID})
			if err != nil {
				return err
			}
			for range (k % 4) * (k % 3) {
				if _, err := tx.CreateComment(ctx, r.ID, i.ID, u.ID, "c"); err != nil {
					return err
				}
			}
			if k%3 == 2 {
				if _, err := tx.UpdateIssue(ctx, i.ID, IssueUpdate{State: &closed}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, r, u
}

// sortKey is an issue's place in a list sorted by sort: the sort value,
// then the number.
func sortKey(i *Issue, sort string) [2]int64 {
	switch sort {
	case "updated":
		return [2]int64{i.UpdatedAt.Unix(), i.Number}
	case "comments":
		return [2]int64{int64(i.CommentsCount), i.Number}
	}
	return [2]int64{i.CreatedAt.Unix(), i.Number}
}

func less(a, b [2]int64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// checkOrder fails unless issues are in the list's order with no number
// twice.
func checkOrder(t *testing.T, what string, issues []*Issue, sort string, asc bool) {
	t.Helper()
	seen := map[int64]bool{}
	for k, i := range issues {
		if seen[i.Number] {
			t.Fatalf("%s: #%d twice", what, i.Number)
		}
		seen[i.Number] = true
		if k == 0 {
			continue
		}
		prev, cur := sortKey(issues[k-1], sort), sortKey(i, sort)
		if asc && !less(prev, cur) || !asc && !less(cur, prev) {
			t.Fatalf("%s: #%d %v then #%d %v", what, issues[k-1].Number, prev, i.Number, cur)
		}
	}
}

// metAll reports whether got holds every issue of want.
func metAll(got, want []*Issue) bool {
	met := make(map[int64]bool, len(got))
	for _, i := range got {
		met[i.Number] = true
	}
	for _, i := range want {
		if !met[i.Number] {
			return false
		}
	}
	return true
}

func numbers(issues []*Issue) []int64 {
	out := make([]int64, len(issues))
	for k, i := range issues {
		out[k] = i.Number
	}
	return out
}

// Pages cut the list at every boundary the same way: read by offset (the
// back half from the far end) or after the last issue of the previous
// page, their concatenation is the whole list, in order, ties broken by
// number, and the total is the list's length.
func TestIssuePagesAtBoundaries(t *testing.T) {
	t.Parallel()
	s, r, _ := issueFixture(t, 47)
	ctx := context.Background()
	for _, states := range [][]string{{"open"}, {"closed"}, nil} {
		for _, sort := range []string{"created", "updated", "comments"} {
			for _, asc := range []bool{true, false} {
				f := IssueList{RepoID: r.ID, States: states, Sort: sort, Asc: asc}
				what := fmt.Sprintf("%v by %s asc=%v", states, sort, asc)
				all, total, err := s.ListIssues(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]int{"open": 32, "closed": 15}[strings.Join(states, "")]
				if states == nil {
					want = 47
				}
				if total != want || len(all) != want {
					t.Fatalf("%s: total %d, %d issues, want %d", what, total, len(all), want)
				}
				checkOrder(t, what, all, sort, asc)
				for _, per := range []int{1, 7, 10, want - 1, want, want + 3} {
					var byOffset, byKeyset []*Issue
					for offset := 0; offset < want+per; offset += per {
						f.Limit, f.Offset, f.After = per, offset, 0
						page, n, err := s.ListIssues(ctx, f)
						if err != nil || n != want {
							t.Fatalf("%s offset %d: total %d, %v", what, offset, n, err)
						}
						byOffset = append(byOffset, page...)
						f.Offset = 0
						if len(byKeyset) > 0 {
							f.After = byKeyset[len(byKeyset)-1].Number
						}
						page, _, err = s.ListIssues(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						byKeyset = append(byKeyset, page...)
					}
					if !slices.Equal(numbers(byOffset), numbers(all)) {
						t.Errorf("%s, %d per page by offset:\n%v\nwant\n%v", what, per, numbers(byOffset), numbers(all))
					}
					if !slices.Equal(numbers(byKeyset), numbers(all)) {
						t.Errorf("%s, %d per page by keyset:\n%v\nwant\n%v", what, per, numbers(byKeyset), numbers(all))
					}
				}
			}
		}
	}
	// A cursor that is not in the list gives an empty page.
	if page, _, err := s.ListIssues(ctx, IssueList{RepoID: r.ID, After: 9999}); err != nil || len(page) != 0 {
		t.Errorf("after a missing issue: %v, %v", numbers(page), err)
	}
}

// Walking a list page by page while issues are being created neither
// repeats nor skips one: by keyset in every order, and by offset in the
// orders new issues join at the end (created or updated, ascending).
// Every issue there was before the walk is met exactly once, in order.
func TestIssuePagesWhileCreating(t *testing.T) {
	t.Parallel()
	s, r, u := issueFixture(t, 60)
	ctx := context.Background()
	before, beforeTotal, err := s.ListIssues(ctx, IssueList{RepoID: r.ID})
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var created sync.WaitGroup
	var made atomic.Int64
	// moreAfter waits until an issue has been created since n were: the
	// walks below read pages with creations between them, however the
	// goroutines happen to be scheduled.
	moreAfter := func(n int64) {
		for made.Load() <= n && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
	}
	for w := range 4 {
		created.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: fmt.Sprintf("new %d-%d", w, k), AuthorID: u.ID}); err != nil {
					t.Error(err)
					return
				}
				made.Add(1)
			}
		})
	}

	type walk struct {
		sort   string
		asc    bool
		keyset bool
	}
	var walks []walk
	for _, sort := range []string{"created", "updated", "comments"} {
		for _, asc := range []bool{true, false} {
			walks = append(walks, walk{sort, asc, true})
		}
	}
	walks = append(walks, walk{"created", true, false}, walk{"updated", true, false})
	for _, wk := range walks {
		what := fmt.Sprintf("by %s asc=%v keyset=%v", wk.sort, wk.asc, wk.keyset)
		var got []*Issue
		f := IssueList{RepoID: r.ID, Sort: wk.sort, Asc: wk.asc, Limit: 7}
		for {
			if wk.keyset && len(got) > 0 {
				f.After = got[len(got)-1].Number
			} else if !wk.keyset {
				f.Offset = len(got)
			}
			seen := made.Load()
			page, _, err := s.ListIssues(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			moreAfter(seen)
			// In the orders where new issues join at the end the walk
			// could follow them for ever: it ends once it has met every
			// issue there was before.
			if len(page) < f.Limit || len(got) > 3*len(before) && metAll(got, before) {
				break
			}
			if len(got) > 100*len(before) {
				t.Fatalf("%s: %d issues read without meeting all of the first %d", what, len(got), len(before))
			}
		}
		checkOrder(t, what, got, wk.sort, wk.asc)
		met := map[int64]bool{}
		for _, i := range got {
			met[i.Number] = true
		}
		for _, i := range before {
			if !met[i.Number] {
				t.Errorf("%s: #%d, there from the start, was skipped", what, i.Number)
			}
		}
	}
	close(stop)
	created.Wait()
	if t.Failed() {
		return
	}
	_, total, err := s.ListIssues(ctx, IssueList{RepoID: r.ID})
	if err != nil || int64(total) != int64(beforeTotal)+made.Load() {
		t.Fatalf("%d issues after creating %d more than %d (%v)", total, made.Load(), beforeTotal, err)
	}
}

// issue_counts, kept by triggers, agrees with the rows after every kind
// of write, and the totals and a repository's open counts come from it.
func TestIssueCountsFollowWrites(t *testing.T) {
	t.Parallel()
	s, r, u := issueFixture(t, 20)
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		rows, err := s.r.QueryContext(ctx, `SELECT i.repo_id, i.is_pull, i.state, COUNT(*), COALESCE(c.n, -1)
			FROM issues i LEFT JOIN issue_counts c ON c.repo_id = i.repo_id AND c.is_pull = i.is_pull AND c.state = i.state
			GROUP BY i.repo_id, i.is_pull, i.state`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var repo, isPull, n, kept int
			var state string
			if err := rows.Scan(&repo, &isPull, &state, &n, &kept); err != nil {
				t.Fatal(err)
			}
			if n != kept {
				t.Errorf("%s: repo %d pull=%d %s: %d rows, counter %d", when, repo, isPull, state, n, kept)
			}
		}
		var stale int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM issue_counts c WHERE c.n != 0 AND NOT EXISTS
			(SELECT 1 FROM issues i WHERE i.repo_id = c.repo_id AND i.is_pull = c.is_pull AND i.state = c.state)`).Scan(&stale); err != nil || stale != 0 {
			t.Errorf("%s: %d counters without rows (%v)", when, stale, err)
		}
	}
	check("created")

	p, err := s.CreatePull(ctx, newPull(r, u, "feature", "master"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkPullMerged(ctx, p.ID, u.ID, "abc", p.Git); err != nil {
		t.Fatal(err)
	}
	open, closed := "open", "closed"
	if _, err := s.UpdateIssue(ctx, 3, IssueUpdate{State: &open}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateIssue(ctx, 1, IssueUpdate{State: &closed}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateIssue(ctx, 1, IssueUpdate{State: &closed}); err != nil { // no change
		t.Fatal(err)
	}
	check("updated")

	repo, err := s.RepoByID(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, openIssues, _ := s.ListIssues(ctx, IssueList{RepoID: r.ID, States: []string{"open"}})
	_, openPulls, _ := s.ListPulls(ctx, PullList{IssueList: IssueList{RepoID: r.ID, States: []string{"open"}}})
	_, merged, _ := s.ListPulls(ctx, PullList{IssueList: IssueList{RepoID: r.ID, States: []string{"merged"}}})
	if repo.OpenIssues != openIssues || openIssues != 14 || repo.OpenPulls != 0 || openPulls != 0 || merged != 1 {
		t.Errorf("open issues %d (list %d), open pulls %d (list %d), merged %d", repo.OpenIssues, openIssues, repo.OpenPulls, openPulls, merged)
	}

	// A failed write leaves the counters as they were.
	boom := errors.New("boom")
	err = s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: "rolled back", AuthorID: u.ID}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled back write: %v", err)
	}
	check("rolled back")

	if err := s.DeleteRepo(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM issue_counts`).Scan(&left); err != nil || left != 0 {
		t.Errorf("after deleting the repository: %d counters (%v)", left, err)
	}
}

// 0007 on a database that already has issues and members: the counters
// and the members' sort names are filled from what is there.
func TestListIndexesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tapioca.db")
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at DATETIME NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		if base >= "0007" {
			break
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?)`, base, Now()); err != nil {
			t.Fatal(err)
		}
	}
	now := Now()
	for _, q := range []string{
		`INSERT INTO users(id, type, username, created_at, updated_at) VALUES (1, 'user', 'Zed', ?1, ?1), (2, 'user', 'amy', ?1, ?1), (3, 'org', 'Acme', ?1, ?1)`,
		`INSERT INTO org_members(org_id, user_id, role, created_at) VALUES (3, 1, 'owner', ?1), (3, 2, 'member', ?1)`,
		`INSERT INTO repos(id, owner_id, name, lower_name, created_at, updated_at) VALUES (1, 1, 'r', 'r', ?1, ?1)`,
		`INSERT INTO issues(repo_id, number, is_pull, title, state, created_at, updated_at) VALUES
			(1, 1, 0, 'a', 'open', ?1, ?1), (1, 2, 0, 'b', 'closed', ?1, ?1), (1, 3, 1, 'c', 'merged', ?1, ?1), (1, 4, 0, 'd', 'open', ?1, ?1)`,
	} {
		if _, err := db.ExecContext(ctx, q, now); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		states []string
		isPull bool
		want   int
	}{{[]string{"open"}, false, 2}, {[]string{"closed"}, false, 1}, {nil, false, 3}, {[]string{"merged"}, true, 1}, {[]string{"open"}, true, 0}} {
		if _, total, err := s.ListIssues(ctx, IssueList{RepoID: 1, IsPull: c.isPull, States: c.states}); err != nil || total != c.want {
			t.Errorf("%v pull=%v: total %d (%v), want %d", c.states, c.isPull, total, err, c.want)
		}
	}
	members, _, err := s.ListMembers(ctx, 3, "", 0, 0)
	if err != nil || len(members) != 2 || members[0].User.Username != "Zed" {
		t.Fatalf("members: %v %v", members, err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM org_members WHERE sort_name != (SELECT lower(username) FROM users WHERE id = user_id)`).Scan(new(int)); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("sort names not filled: %v", err)
	}
	// New members get theirs from the trigger.
	if _, err := s.SetMemberRole(ctx, 3, 2, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Username: "Bob", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMemberRole(ctx, 3, u.ID, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	members, _, err = s.ListMembers(ctx, 3, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range members {
		order = append(order, m.Role+":"+m.User.Username)
	}
	if want := []string{"owner:Zed", "admin:amy", "admin:Bob"}; !slices.Equal(order, want) {
		t.Errorf("members in order %v, want %v", order, want)
	}
}
