package store

import (
	"context"
	"testing"
	"time"
)

func TestMatchQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"crash", `"crash"`},
		{"  widget   crash ", `"widget" "crash"`},
		{`"exact phrase" more`, `"exact phrase" "more"`},
		{`wid*`, `"wid"*`},
		{`say "hi`, `"say" "hi"`},
		{`a"b"c`, `"a" "b" "c"`},
		{`NEAR(x y) OR -z`, `"NEAR(x" "y)" "OR" "-z"`},
		{`""`, `""`},
		{`* "" `, `""`},
	}
	for _, tt := range tests {
		if got := MatchQuery(tt.in); got != tt.want {
			t.Errorf("MatchQuery(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// The search index follows issues and comments as they are written, and
// the list filters combine with it.
func TestIssueSearchFilters(t *testing.T) {
	t.Parallel()
	s, r, alice := pullFixture(t)
	ctx := context.Background()
	bob, err := s.CreateUser(ctx, NewUser{Username: "bob", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	body := "The parser fails on empty input"
	crash, err := s.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: "Crash in parser", Body: &body, AuthorID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: "Docs typo", AuthorID: bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateComment(ctx, r.ID, other.ID, bob.ID, "seen with the tokenizer as well"); err != nil {
		t.Fatal(err)
	}
	list := func(f IssueList) []int64 {
		t.Helper()
		f.RepoID = r.ID
		is, total, err := s.ListIssues(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, i := range is {
			out = append(out, i.Number)
		}
		if total != len(out) {
			t.Fatalf("total %d for %d issues", total, len(out))
		}
		return out
	}
	tests := []struct {
		name string
		f    IssueList
		want []int64
	}{
		{"title word", IssueList{Search: "crash"}, []int64{crash.Number}},
		{"stemmed body word", IssueList{Search: "failing"}, []int64{crash.Number}},
		{"comment word", IssueList{Search: "tokenizer"}, []int64{other.Number}},
		{"words across title and comment", IssueList{Search: "docs tokenizer"}, []int64{other.Number}},
		{"no match", IssueList{Search: "nomatch"}, nil},
		{"punctuation only", IssueList{Search: "!!!"}, nil},
		{"creator", IssueList{Creator: "BOB"}, []int64{other.Number}},
		{"creator and search", IssueList{Creator: "bob", Search: "crash"}, nil},
		{"since the future", IssueList{Since: time.Now().Add(time.Hour)}, nil},
		{"since the past", IssueList{Since: time.Now().Add(-time.Hour), Asc: true}, []int64{crash.Number, other.Number}},
	}
	for _, tt := range tests {
		if got := list(tt.f); !equalInts(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	// Edits and deletions reach the index.
	title := "Renamed entirely"
	if _, err := s.UpdateIssue(ctx, crash.ID, IssueUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if got := list(IssueList{Search: "crash"}); got != nil {
		t.Errorf("old title still found: %v", got)
	}
	if got := list(IssueList{Search: "renamed"}); !equalInts(got, []int64{crash.Number}) {
		t.Errorf("new title: %v", got)
	}
	c, err := s.CreateComment(ctx, r.ID, crash.ID, alice.ID, "zebra")
	if err != nil {
		t.Fatal(err)
	}
	if got := list(IssueList{Search: "zebra"}); !equalInts(got, []int64{crash.Number}) {
		t.Errorf("new comment: %v", got)
	}
	if err := s.DeleteComment(ctx, r.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := list(IssueList{Search: "zebra"}); got != nil {
		t.Errorf("deleted comment still found: %v", got)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
