package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func pullFixture(t *testing.T) (*Store, *Repo, *User) {
	t.Helper()
	s := openTest(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Email: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRepo(ctx, NewRepo{OwnerID: u.ID, Name: "proj"})
	if err != nil {
		t.Fatal(err)
	}
	return s, r, u
}

func newPull(r *Repo, u *User, head, base string) NewPull {
	return NewPull{
		Issue:   NewIssue{RepoID: r.ID, Title: head + " into " + base, AuthorID: u.ID},
		HeadRef: head, BaseRef: base,
		Git: PullGit{HeadSHA: "h1", BaseSHA: "b1", Mergeable: true, Commits: 2, Additions: 3, Deletions: 1, ChangedFiles: 1},
	}
}

// Racing creations of the same head/base pair: exactly one opens.
func TestCreatePullDuplicates(t *testing.T) {
	t.Parallel()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.CreatePull(ctx, newPull(r, u, "feature", "master")) })
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		var dup *DuplicatePullError
		switch {
		case err == nil:
			created++
		case errors.As(err, &dup) && errors.Is(err, ErrDuplicate) && dup.Number == 1:
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d pull requests created", created)
	}
	// Another pair, or the same pair once the first is closed, is fine.
	if _, err := s.CreatePull(ctx, newPull(r, u, "feature", "develop")); err != nil {
		t.Fatal(err)
	}
	closed := "closed"
	if _, err := s.UpdatePull(ctx, 1, PullUpdate{IssueUpdate: IssueUpdate{State: &closed}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePull(ctx, newPull(r, u, "feature", "master"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Number != 3 || !p.IsPull || p.Git.Commits != 2 || p.HeadRef != "feature" || p.Merged() {
		t.Errorf("third pull request %+v", p)
	}
}

func TestUpdatePullGitIsCompareAndSwap(t *testing.T) {
	t.Parallel()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	p, err := s.CreatePull(ctx, newPull(r, u, "feature", "master"))
	if err != nil {
		t.Fatal(err)
	}
	newer := PullGit{HeadSHA: "h2", BaseSHA: "b1", Commits: 3}
	cases := []struct {
		fromHead, fromBase string
		want               bool
	}{
		{"h0", "b1", false}, // stale expectation: someone else stored newer facts
		{"h1", "b1", true},
		{"h1", "b1", false}, // already replaced
	}
	for _, tc := range cases {
		ok, err := s.UpdatePullGit(ctx, p.ID, tc.fromHead, tc.fromBase, newer, true)
		if err != nil || ok != tc.want {
			t.Errorf("from %s/%s: %v %v, want %v", tc.fromHead, tc.fromBase, ok, err, tc.want)
		}
	}
	got, err := s.PullByID(ctx, p.ID)
	if err != nil || got.Git != newer {
		t.Fatalf("facts %+v %v", got.Git, err)
	}
	// Merged pull requests keep their facts.
	if _, err := s.MarkPullMerged(ctx, p.ID, u.ID, "m1", got.Git); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.UpdatePullGit(ctx, p.ID, "h2", "b1", PullGit{HeadSHA: "h3", BaseSHA: "b1"}, false); ok || err != nil {
		t.Errorf("update of a merged pull request: %v %v", ok, err)
	}
}

func TestMarkPullMerged(t *testing.T) {
	t.Parallel()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	p, err := s.CreatePull(ctx, newPull(r, u, "feature", "master"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.MarkPullMerged(ctx, p.ID, u.ID, "abc", p.Git)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Merged() || m.State != "merged" || m.MergedAt == nil || m.ClosedAt == nil || m.MergedBy == nil ||
		m.MergedBy.Username != "alice" || m.MergeCommitSHA == nil || *m.MergeCommitSHA != "abc" {
		t.Fatalf("merged %+v", m)
	}
	if _, err := s.MarkPullMerged(ctx, p.ID, u.ID, "def", p.Git); !errors.Is(err, ErrPullNotOpen) {
		t.Fatalf("second merge: %v", err)
	}
	list, total, err := s.ListPulls(ctx, PullList{IssueList: IssueList{RepoID: r.ID, States: []string{"merged"}}, Head: "feature"})
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("merged list %v %d %v", list, total, err)
	}
	// The merged pull request does not count as open.
	repo, err := s.RepoByID(ctx, r.ID)
	if err != nil || repo.OpenPulls != 0 {
		t.Errorf("open pulls %d %v", repo.OpenPulls, err)
	}
}

func TestReviewsAndRequests(t *testing.T) {
	t.Parallel()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	bob, err := s.CreateUser(ctx, NewUser{Username: "bob", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePull(ctx, newPull(r, u, "feature", "master"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddReviewRequests(ctx, p.ID, []int64{bob.ID, bob.ID}); err != nil {
		t.Fatal(err)
	}
	if rr, err := s.ReviewRequests(ctx, p.ID); err != nil || len(rr) != 1 || rr[0].Username != "bob" {
		t.Fatalf("requests %v %v", rr, err)
	}
	rv, err := s.CreateReview(ctx, NewReview{RepoID: r.ID, PullID: p.ID, AuthorID: bob.ID, State: ReviewApproved, CommitSHA: "h1",
		Comments: []NewReviewComment{{Path: "a.go", Line: 3, Body: "nit"}, {Path: "b.go", Line: 1, Body: "ok"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rv.State != ReviewApproved || len(rv.Comments) != 2 || rv.Comments[0].Path != "a.go" || rv.Author.Username != "bob" {
		t.Fatalf("review %+v", rv)
	}
	if rr, err := s.ReviewRequests(ctx, p.ID); err != nil || len(rr) != 0 {
		t.Errorf("a review did not satisfy its request: %v %v", rr, err)
	}
	if got, err := s.PullByID(ctx, p.ID); err != nil || got.ReviewCommentsCount != 2 {
		t.Errorf("review_comments_count %d %v", got.ReviewCommentsCount, err)
	}
	// The state is checked by the schema too.
	if _, err := s.CreateReview(ctx, NewReview{RepoID: r.ID, PullID: p.ID, AuthorID: bob.ID, State: "approve", CommitSHA: "h1"}); err == nil {
		t.Error("stored an unknown review state")
	}
	list, total, err := s.ListReviews(ctx, p.ID, 0, 0)
	if err != nil || total != 1 || len(list) != 1 || len(list[0].Comments) != 2 {
		t.Fatalf("list %v %d %v", list, total, err)
	}
}
