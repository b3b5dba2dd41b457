package pulls_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/store"
)

// fixture is a repository with a main branch and a feature branch one
// commit ahead, a hook that listens to everything, a writer and a reader.
type fixture struct {
	f              *coretest.Forge
	repo           *store.Repo
	owner, reader  core.Actor
	work           string
	hook           *store.Webhook
	ctx            context.Context
	ownerName, rep string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := coretest.New(t)
	ctx := context.Background()
	x := &fixture{f: f, ctx: ctx, owner: f.User(t, "maya"), reader: f.User(t, "rita"), ownerName: "maya", rep: "app"}
	var err error
	x.repo, err = f.Repos.Create(ctx, x.owner, "", repos.Creation{Name: "app", AutoInit: true, DefaultBranch: core.Some("main")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Repos.SetCollaborator(ctx, x.owner, "maya", "app", "rita", core.Some("read")); err != nil {
		t.Fatal(err)
	}
	x.hook, err = f.Webhooks.Create(ctx, x.owner, x.owner.User, hookFields("pull_request", "issues"))
	if err != nil {
		t.Fatal(err)
	}
	x.work = f.Clone(t, x.repo)
	coretest.Git(t, x.work, "checkout", "-q", "-b", "feature")
	coretest.Commit(t, x.work, "Add greeting", map[string]string{"hello.txt": "hello\n"})
	f.Push(t, x.work, x.repo, x.owner, "feature")
	return x
}

func (x *fixture) ref(n int64) issues.Ref {
	return issues.Ref{Owner: x.ownerName, Repo: x.rep, Number: n, Pull: true}
}

// events lists the event/action pairs delivered to the fixture's hook.
func (x *fixture) events(t *testing.T) []string {
	t.Helper()
	ds, _, err := x.f.Env.Store.ListDeliveries(x.ctx, store.DeliveryFilter{WebhookID: x.hook.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		out = append(out, ds[i].Event+"/"+ds[i].Action)
	}
	return out
}

func TestCreateRules(t *testing.T) {
	x := newFixture(t)
	cases := []struct {
		name       string
		head, base string
		field      string
	}{
		{"missing head", "nope", "main", "head"},
		{"missing base", "feature", "nope", "base"},
		{"same branch", "main", "main", "head"},
		{"fork form of another owner", "someone:feature", "main", "head"},
		{"blank head", "", "main", "head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := x.f.Pulls.Create(x.ctx, x.owner, x.ownerName, x.rep, pulls.Creation{Title: core.Some("T"), Head: c.head, Base: c.base})
			var ce *core.Error
			if !errors.As(err, &ce) || !errors.Is(err, core.ErrInvalid) || len(ce.Fields[c.field]) == 0 {
				t.Fatalf("got %v, want a validation error on %s", err, c.field)
			}
		})
	}
	// Anonymous callers must sign in; the owner's form "maya:feature" works.
	if _, err := x.f.Pulls.Create(x.ctx, core.Anonymous, x.ownerName, x.rep, pulls.Creation{Title: core.Some("T"), Head: "feature", Base: "main"}); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("anonymous: %v", err)
	}
	p, err := x.f.Pulls.Create(x.ctx, x.reader, x.ownerName, x.rep, pulls.Creation{Title: core.Some("Greeting"), Head: "maya:feature", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Git.Commits != 1 || p.Git.Additions != 1 || p.Git.ChangedFiles != 1 || !p.Git.Mergeable {
		t.Errorf("facts %+v", p.Git)
	}
	// One open pull request per pair of branches.
	_, err = x.f.Pulls.Create(x.ctx, x.owner, x.ownerName, x.rep, pulls.Creation{Title: core.Some("Again"), Head: "feature", Base: "main"})
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "already open (#1)") {
		t.Fatalf("duplicate: %v", err)
	}
	if got := x.events(t); len(got) != 1 || got[0] != "pull_request/opened" {
		t.Errorf("events %v", got)
	}
}

func TestMergeRules(t *testing.T) {
	x := newFixture(t)
	issue, err := x.f.Issues.Create(x.ctx, x.owner, x.ownerName, x.rep, issues.Creation{Title: core.Some("Say hello")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x.f.Pulls.Create(x.ctx, x.owner, x.ownerName, x.rep, pulls.Creation{Title: core.Some("Greeting"),
		Body: core.Some("Fixes #1"), Head: "feature", Base: "main", Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := x.ref(p.Number)
	squash := pulls.MergeInput{Method: core.Some("squash")}
	if _, err := x.f.Pulls.Merge(x.ctx, x.reader, ref, squash); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("reader merge: %v", err)
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, ref, squash); !errors.Is(err, pulls.ErrPullDraft) {
		t.Fatalf("draft merge: %v", err)
	}
	if _, err := x.f.Pulls.Update(x.ctx, x.owner, ref, pulls.Update{Draft: core.Some(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, ref, pulls.MergeInput{Method: core.Some("octopus")}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, ref, pulls.MergeInput{Method: core.Some("squash"), SHA: "0000000"}); !errors.Is(err, pulls.ErrHeadModified) {
		t.Fatalf("stale sha: %v", err)
	}
	before, _, _ := x.f.Env.BranchTip(x.ctx, x.repo, "main")
	tip, err := x.f.Pulls.Merge(x.ctx, x.owner, ref, squash)
	if err != nil {
		t.Fatal(err)
	}
	after, _, _ := x.f.Env.BranchTip(x.ctx, x.repo, "main")
	if after != tip || after == before {
		t.Fatalf("base did not move to the squash commit: %s -> %s (merge said %s)", before, after, tip)
	}
	if subject := coretest.Git(t, x.work, "--git-dir="+x.f.Env.RepoPath(x.repo.ID), "log", "-1", "--format=%s", "main"); subject != "Greeting (#2)" {
		t.Errorf("squash subject %q", subject)
	}
	merged, err := x.f.Pulls.Get(x.ctx, x.owner, ref)
	if err != nil || merged.State != "merged" || merged.MergeCommitSHA == nil || *merged.MergeCommitSHA != tip.String() || merged.MergedBy == nil {
		t.Fatalf("after merge: %+v %v", merged, err)
	}
	if i, _ := x.f.Issues.Get(x.ctx, x.owner, issues.Ref{Owner: x.ownerName, Repo: x.rep, Number: issue.Number}); i.State != "closed" {
		t.Errorf("linked issue is %s, want closed", i.State)
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, ref, squash); !errors.Is(err, pulls.ErrAlreadyMerged) {
		t.Fatalf("second merge: %v", err)
	}
	// One event per state change, in order; the merge is "merged", not
	// also "closed"; the issue it fixes is closed.
	want := []string{"issues/opened", "pull_request/opened", "pull_request/ready_for_review", "pull_request/merged", "issues/closed"}
	if got := x.events(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestMergeConflictAndClosed(t *testing.T) {
	x := newFixture(t)
	// main changes the same file differently: the merge conflicts.
	coretest.Git(t, x.work, "checkout", "-q", "main")
	coretest.Commit(t, x.work, "Other greeting", map[string]string{"hello.txt": "bonjour\n"})
	x.f.Push(t, x.work, x.repo, x.owner, "main")
	p, err := x.f.Pulls.Create(x.ctx, x.owner, x.ownerName, x.rep, pulls.Creation{Title: core.Some("Greeting"), Head: "feature", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Git.Mergeable {
		t.Error("conflicting pull request reported mergeable")
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, x.ref(p.Number), pulls.MergeInput{}); !errors.Is(err, pulls.ErrNotMergeable) {
		t.Fatalf("conflict: %v", err)
	}
	closed := "closed"
	if _, err := x.f.Pulls.Update(x.ctx, x.owner, x.ref(p.Number), pulls.Update{State: core.Some(closed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.f.Pulls.Merge(x.ctx, x.owner, x.ref(p.Number), pulls.MergeInput{}); !errors.Is(err, pulls.ErrPullClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// TestPushSyncs: a push to the head updates the pull request and emits
// synchronize; deleting the head branch closes it.
func TestPushSyncs(t *testing.T) {
	x := newFixture(t)
	p, err := x.f.Pulls.Create(x.ctx, x.owner, x.ownerName, x.rep, pulls.Creation{Title: core.Some("Greeting"), Head: "feature", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	coretest.Commit(t, x.work, "More", map[string]string{"more.txt": "more\n"})
	x.f.Push(t, x.work, x.repo, x.owner, "feature")
	got, err := x.f.Pulls.Get(x.ctx, x.owner, x.ref(p.Number))
	if err != nil || got.Git.Commits != 2 {
		t.Fatalf("after push: %+v %v", got, err)
	}
	if err := x.f.Repos.DeleteBranch(x.ctx, x.owner, x.ownerName, x.rep, "feature"); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.f.Pulls.Get(x.ctx, x.owner, x.ref(p.Number)); got.State != "closed" {
		t.Errorf("after deleting the head: %s", got.State)
	}
	want := []string{"pull_request/opened", "pull_request/synchronize", "pull_request/closed"}
	if got := x.events(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
}
