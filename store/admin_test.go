package store

import (
	"errors"
	"testing"
	"time"
)

func newTestUser(t *testing.T, s *Store, name string, admin bool) *User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), NewUser{Username: name, Email: name + "@example.com", PasswordHash: "x", IsAdmin: admin})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestJobState(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := s.EnsureJob(ctx, "a", "tick", true, next); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJobEnabled(ctx, "a", "tick", false); err != nil {
		t.Fatal(err)
	}
	// Registering again (every start) keeps the switch and the schedule.
	if err := s.EnsureJob(ctx, "a", "tick", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	j, err := s.Job(ctx, "a", "tick")
	if err != nil || j.Enabled || !j.NextRunAt.Equal(next) {
		t.Fatalf("after re-register: %+v %v", j, err)
	}
	if err := s.EnsureJob(ctx, "b", "tick", true, next); err != nil {
		t.Fatal("the same name in another stack:", err)
	}
	if err := s.JobStarted(ctx, "a", "tick", time.Now()); err != nil {
		t.Fatal(err)
	}
	// A process that dies mid-run leaves "running"; the next start says so.
	if err := s.MarkInterruptedJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Job(ctx, "a", "tick"); j.LastStatus != JobInterrupted {
		t.Fatalf("status %q", j.LastStatus)
	}
	err = s.JobFinished(ctx, "a", "tick", JobRun{Status: JobFailed, Finished: time.Now(), Duration: 1500 * time.Millisecond,
		Error: "boom", NextRun: next.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	j, _ = s.Job(ctx, "a", "tick")
	if j.LastStatus != JobFailed || j.LastError != "boom" || j.RunCount != 1 || j.FailureCount != 1 ||
		j.LastDuration != 1500*time.Millisecond || !j.NextRunAt.Equal(next.Add(time.Hour)) {
		t.Fatalf("after finish: %+v", j)
	}
	if _, err := s.Job(ctx, "a", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	if err := s.SetJobEnabled(ctx, "a", "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enable missing job: %v", err)
	}
}

func TestRecordPoll(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	rec, err := s.RecordPoll(ctx, "https://x/a.git", "", "c1", "")
	if err != nil || rec.PreviousCommit != "" || rec.PreviousPollAt != nil {
		t.Fatalf("first: %+v %v", rec, err)
	}
	// A failed poll keeps the last good commit.
	if rec, _ = s.RecordPoll(ctx, "https://x/a.git", "", "", "unreachable"); rec.PreviousCommit != "c1" {
		t.Fatalf("failed poll saw %+v", rec)
	}
	if rec, _ = s.RecordPoll(ctx, "https://x/a.git", "", "c2", ""); rec.PreviousCommit != "c1" || rec.PreviousPollAt == nil {
		t.Fatalf("after failure: %+v", rec)
	}
	// Another reference is another target.
	if rec, _ = s.RecordPoll(ctx, "https://x/a.git", "dev", "c9", ""); rec.PreviousCommit != "" {
		t.Fatalf("other reference: %+v", rec)
	}
}

func TestExpiredSessions(t *testing.T) {
	s := openTest(t)
	ss := s.SessionStore()
	if err := ss.Commit("live", []byte("a"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ss.Commit("old", []byte("b"), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredSessions(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if _, found, _ := ss.Find("live"); !found {
		t.Fatal("live session deleted")
	}
	if c, _ := s.Counts(t.Context()); c.Sessions != 1 {
		t.Fatalf("%d sessions", c.Sessions)
	}
}

func TestDeleteUserGuards(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	admin := newTestUser(t, s, "root", true)
	alice := newTestUser(t, s, "alice", false)
	bob := newTestUser(t, s, "bob", false)
	org, err := s.CreateOrg(ctx, NewUser{Username: "acme"}, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var sole *SoleOwnerError
	if _, err := s.DeleteUser(ctx, alice.ID); !errors.As(err, &sole) || len(sole.Orgs) != 1 || sole.Orgs[0] != "acme" {
		t.Fatalf("sole owner: %v", err)
	}
	if _, err := s.DeleteUser(ctx, admin.ID); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("last admin: %v", err)
	}
	if err := s.SetAdminChecked(ctx, admin.ID, false); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if err := s.SetDisabledChecked(ctx, admin.ID, true); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable last admin: %v", err)
	}
	if err := s.SetAdminChecked(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdminChecked(ctx, admin.ID, false); err != nil {
		t.Fatal("demote with another admin left:", err)
	}
	if _, err := s.SetMemberRole(ctx, org.ID, bob.ID, RoleOwner); err != nil {
		t.Fatal(err)
	}
	ids, err := s.DeleteUser(ctx, alice.ID)
	if err != nil || len(ids) != 1 || ids[0] != repo.ID {
		t.Fatalf("delete alice: %v %v", ids, err)
	}
	if _, err := s.UserByName(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatal("alice still there")
	}
	if _, err := s.RepoByID(ctx, repo.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("her repository still there")
	}
	if taken, _ := s.NameTaken(ctx, "alice"); taken {
		t.Fatal("her name is still taken")
	}
}

func TestCountsAndActivity(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	alice := newTestUser(t, s, "alice", false)
	if _, err := s.CreateOrg(ctx, NewUser{Username: "acme"}, alice.ID); err != nil {
		t.Fatal(err)
	}
	repo, err := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "web", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateIssue(ctx, NewIssue{RepoID: repo.ID, AuthorID: alice.ID, Title: "Broken"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, "root", "deleted repository", "bob/old"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts(ctx)
	if err != nil || c.Users != 1 || c.Orgs != 1 || c.Repos != 1 || c.PrivateRepos != 1 || c.Issues != 1 || c.OpenIssues != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
	acts, err := s.RecentActivity(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, a := range acts {
		kinds[a.Kind] = true
		if a.At.IsZero() {
			t.Errorf("activity %+v has no time", a)
		}
	}
	for _, k := range []string{"user_registered", "org_created", "repo_created", "issue_opened", "admin"} {
		if !kinds[k] {
			t.Errorf("no %s in %+v", k, acts)
		}
	}
	orgs, total, err := s.ListOrgSummaries(ctx, "ac", 10, 0)
	if err != nil || total != 1 || orgs[0].Members != 1 || orgs[0].Repos != 0 {
		t.Fatalf("org summaries %+v %d %v", orgs, total, err)
	}
}
