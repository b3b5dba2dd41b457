package pushes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/store"
)

// TestCheckProtection: what a protected branch requires of a push to it,
// whichever way the push comes.
func TestCheckProtection(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	owner := f.User(t, "pat")
	repo, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "r", AutoInit: true})
	if err != nil {
		t.Fatal(err)
	}
	tip, _, err := f.Env.BranchTip(ctx, repo, "master")
	if err != nil {
		t.Fatal(err)
	}
	next := plumbing.NewHash(strings.Repeat("ab", 20))
	move := gitserver.RefUpdate{Name: "refs/heads/master", Old: tip, New: tip, FastForward: true}
	protect := func(p store.Protection) {
		t.Helper()
		p.Branch = "master"
		if err := f.Env.Store.SetBranchRequirements(ctx, repo.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, u gitserver.RefUpdate, want string) {
		t.Helper()
		err := f.Pushes.Check(ctx, repo, u)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", step, err, want)
		}
	}
	check("unprotected", move, "")
	protect(store.Protection{})
	check("protected, fast-forward", move, "")
	check("protected, force", gitserver.RefUpdate{Name: move.Name, Old: tip, New: next}, "force-push is not allowed")
	check("protected, delete", gitserver.RefUpdate{Name: move.Name, Old: tip}, "deletion of the current branch")
	protect(store.Protection{RequiredContexts: []string{"ci"}})
	check("context not posted", move, `required status check "ci" has not been posted`)
	if _, err := f.Statuses.Create(ctx, owner, "pat", "r", tip.String(), statuses.Input{State: statuses.Pending, Context: "ci"}); err != nil {
		t.Fatal(err)
	}
	check("context pending", move, `required status check "ci" is pending`)
	if _, err := f.Statuses.Create(ctx, owner, "pat", "r", tip.String(), statuses.Input{State: statuses.Success, Context: "ci"}); err != nil {
		t.Fatal(err)
	}
	check("context passed", move, "")
	check("another branch", gitserver.RefUpdate{Name: "refs/heads/topic", New: next}, "")
	protect(store.Protection{RequiredApprovals: 2})
	check("approvals required", move, "changes must be made through a pull request (2 approving reviews required)")
	if _, err := f.Repos.SetProtection(ctx, owner, "pat", "r", "master", repos.ProtectionInput{Protected: core.Some(false)}); err != nil {
		t.Fatal(err)
	}
	check("protection off", move, "")
}
