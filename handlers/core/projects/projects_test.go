package projects_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/deploykeys"
	"tapioca/handlers/core/mirrors"
	"tapioca/handlers/core/projects"
	"tapioca/handlers/core/repos"
	"tapioca/store"
)

// noFetch is a mirror engine's fetcher for tests without upstreams.
type noFetch struct{}

func (noFetch) Fetch(context.Context, string, string, mirrors.Credentials) (*gitserver.FetchResult, error) {
	return nil, errors.New("no upstreams in this test")
}

func (noFetch) List(context.Context, string, mirrors.Credentials) (*gitserver.RemoteRefs, error) {
	return nil, errors.New("no upstreams in this test")
}

// TestPushQueuesOnce: the pushes service's Record (run again for a push
// a crash interrupted) queues one notification per branch move, for the
// routed instance only; an unmapped branch and an archived project queue
// nothing; a member of the namespace reads but cannot change.
func TestPushQueuesOnce(t *testing.T) {
	ctx := context.Background()
	f := coretest.New(t)
	env := f.Env
	svc := projects.New(env, mirrors.New(env, noFetch{}, mirrors.Config{}), deploykeys.New(env), nil, projects.Config{})
	f.Pushes.Followers = append(f.Pushes.Followers, svc)
	owner := f.User(t, "owner")
	repo, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "app", AutoInit: true, DefaultBranch: core.Some("main")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Create(ctx, owner, projects.CreateInput{Name: "App"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Connect(ctx, owner, p.PublicID, projects.ConnectInput{RepoOwner: "owner", RepoName: "app"}); err != nil {
		t.Fatal(err)
	}
	inst, err := svc.LinkInstance(ctx, owner, p.PublicID, projects.LinkInput{Name: "Prod", HookURL: "https://deploy.example.com/hook", Secret: "prod-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetMappings(ctx, owner, p.PublicID, []projects.MappingInput{{BranchPattern: "main", InstanceID: inst.PublicID}}); err != nil {
		t.Fatal(err)
	}
	// An unknown instance changes nothing.
	_, err = svc.SetMappings(ctx, owner, p.PublicID, []projects.MappingInput{{BranchPattern: "dev", InstanceID: "nope"}})
	var ce *core.Error
	if !errors.As(err, &ce) || !errors.Is(err, core.ErrInvalid) || len(ce.Fields["mappings[0].instanceId"]) == 0 {
		t.Fatalf("unknown instance: %v", err)
	}
	if ms, _ := svc.Mappings(ctx, owner, p.PublicID); len(ms) != 1 {
		t.Fatalf("mappings after a refused change: %d", len(ms))
	}

	work := f.Clone(t, repo)
	coretest.Commit(t, work, "ship it", map[string]string{"a.txt": "1"})
	coretest.Git(t, work, "branch", "dev")
	f.Push(t, work, repo, owner, "main", "dev")
	deliveries := func() []*store.ProjectDelivery {
		t.Helper()
		ds, err := env.Store.ListProjectDeliveries(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ds := deliveries()
	if len(ds) != 1 || ds[0].Branch != "main" || ds[0].InstanceID != inst.ID || ds[0].Status != "pending" {
		t.Fatalf("deliveries %+v", ds)
	}
	// The same update recorded again (a journal replay) queues nothing.
	tip, _, err := env.BranchTip(ctx, repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	svc.Pushed(ctx, repo, owner.User, []gitserver.RefUpdate{{Name: "refs/heads/main",
		Old: plumbing.NewHash(ds[0].OldSHA), New: tip}})
	if n := len(deliveries()); n != 1 {
		t.Errorf("%d deliveries after a replay", n)
	}

	// Archived: nobody is told.
	if _, err := svc.SetArchived(ctx, owner, p.PublicID, true); err != nil {
		t.Fatal(err)
	}
	coretest.Commit(t, work, "while archived", map[string]string{"a.txt": "2"})
	f.Push(t, work, repo, owner, "main")
	if n := len(deliveries()); n != 1 {
		t.Errorf("%d deliveries after pushing to an archived project", n)
	}

	// Someone else sees nothing.
	other := f.User(t, "other")
	if _, err := svc.Get(ctx, other, p.PublicID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another user's Get: %v", err)
	}
	if _, err := svc.Update(ctx, other, p.PublicID, projects.UpdateInput{Name: core.Some("mine")}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another user's Update: %v", err)
	}
}
