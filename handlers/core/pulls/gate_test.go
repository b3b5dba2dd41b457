package pulls_test

import (
	"errors"
	"strings"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/store"
)

// TestGate walks one pull request through the states a merge can be in:
// statuses, reviews from readers and writers, the base's protection and
// a base that moved on; a merge is refused exactly while it is blocked.
func TestGate(t *testing.T) {
	x := newFixture(t)
	ctx := x.ctx
	writer := x.f.User(t, "wes")
	if _, _, err := x.f.Repos.SetCollaborator(ctx, x.owner, "maya", "app", "wes", core.Some("write")); err != nil {
		t.Fatal(err)
	}
	p, err := x.f.Pulls.Create(ctx, x.owner, "maya", "app", pulls.Creation{Title: core.Some("Greeting"), Head: "feature", Base: "main"})
	if err != nil {
		t.Fatal(err)
	}
	ref := x.ref(p.Number)
	head := p.Git.HeadSHA
	status := func(state string) {
		t.Helper()
		if _, err := x.f.Statuses.Create(ctx, x.owner, "maya", "app", head, statuses.Input{State: state, Context: "ci"}); err != nil {
			t.Fatal(err)
		}
	}
	review := func(who core.Actor, state, body string) {
		t.Helper()
		if _, err := x.f.Pulls.Review(ctx, who, ref, pulls.ReviewInput{State: state, Body: core.Some(body)}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(step, state, blocker string) {
		t.Helper()
		_, g, err := x.f.Pulls.Gate(ctx, x.owner, ref)
		if err != nil {
			t.Fatal(err)
		}
		if g.State != state || (blocker != "") != (len(g.Blockers) > 0) || !strings.Contains(strings.Join(g.Blockers, "|"), blocker) {
			t.Fatalf("%s: %s %q, want %s %q", step, g.State, g.Blockers, state, blocker)
		}
	}
	expect("fresh", pulls.StateClean, "")
	status(statuses.Pending)
	expect("pending status", pulls.StateUnstable, "")
	status(statuses.Failure)
	expect("failing status", pulls.StateBlocked, `status check "ci" is failure`)
	if _, err := x.f.Pulls.Merge(ctx, x.owner, ref, pulls.MergeInput{}); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("merge while blocked: %v", err)
	}
	status(statuses.Success)
	expect("passing status", pulls.StateClean, "")

	if _, err := x.f.Repos.SetProtection(ctx, x.owner, "maya", "app", "main", repos.ProtectionInput{
		RequiredStatusChecks: core.Some([]string{"ci", "lint"}), RequiredApprovals: core.Some(1)}); err != nil {
		t.Fatal(err)
	}
	expect("protected", pulls.StateBlocked, `required status check "lint" has not been posted`)
	if _, err := x.f.Statuses.Create(ctx, x.owner, "maya", "app", head, statuses.Input{State: statuses.Success, Context: "lint"}); err != nil {
		t.Fatal(err)
	}
	expect("contexts pass", pulls.StateBlocked, "1 approving review required")
	review(x.reader, "approve", "")
	expect("a reader's approval", pulls.StateBlocked, "1 approving review required")
	review(x.reader, "request_changes", "No.")
	expect("a reader's requested changes", pulls.StateBlocked, "1 approving review required")
	review(writer, "approve", "")
	expect("a writer's approval", pulls.StateClean, "")

	moveMainOn(t, x)
	expect("base moved on", pulls.StateBehind, "")
	review(writer, "request_changes", "Wait.")
	expect("a writer's requested changes", pulls.StateBlocked, "changes requested by wes")
	review(writer, "approve", "")
	if _, err := x.f.Pulls.Merge(ctx, x.owner, ref, pulls.MergeInput{}); err != nil {
		t.Fatalf("merge when nothing blocks: %v", err)
	}
	expect("merged", pulls.StateUnknown, "")
}

func codeCommit(branch, path string) code.CommitInput {
	content := path + "\n"
	return code.CommitInput{Branch: branch, Message: "Add " + path,
		Actions: []code.CommitAction{{Action: "create", Path: path, Content: &content}}}
}

// moveMainOn moves main on by a commit the pull request lacks.
func moveMainOn(t *testing.T, x *fixture) {
	t.Helper()
	if _, err := x.f.Code.CommitFiles(x.ctx, x.owner, "maya", "app", codeCommit("main", "other.txt")); err == nil {
		t.Fatal("a protected main took a direct commit")
	}
	// Out of band, as an administrator's push past the rules would.
	if err := x.f.Env.Store.SetBranchProtected(x.ctx, x.repo.ID, "main", false); err != nil {
		t.Fatal(err)
	}
	if _, err := x.f.Code.CommitFiles(x.ctx, x.owner, "maya", "app", codeCommit("main", "other.txt")); err != nil {
		t.Fatal(err)
	}
	if err := x.f.Env.Store.SetBranchRequirements(x.ctx, x.repo.ID, store.Protection{Branch: "main",
		RequiredContexts: []string{"ci", "lint"}, RequiredApprovals: 1}); err != nil {
		t.Fatal(err)
	}
}
