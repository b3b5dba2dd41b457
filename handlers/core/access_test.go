package core_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/repos"
	"tapioca/store"
)

// TestRepoAccessMatrix pins the core's one permission decision on a
// private and a public repository for every kind of caller: who may not
// see a private repository gets "not found", never a refusal; who sees it
// but lacks the level is refused, or asked to sign in when anonymous.
func TestRepoAccessMatrix(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	owner := f.User(t, "owner")
	reader, writer, radmin := f.User(t, "reader"), f.User(t, "writer"), f.User(t, "radmin")
	stranger, admin := f.User(t, "stranger"), f.Admin(t, "root")
	disabled := f.User(t, "gone")
	if err := f.Env.Store.SetDisabled(ctx, disabled.User.ID, true); err != nil {
		t.Fatal(err)
	}
	if disabled.User, _ = f.Env.Store.UserByID(ctx, disabled.User.ID); !disabled.User.Disabled {
		t.Fatal("not disabled")
	}
	for _, vis := range []string{"private", "public"} {
		repo, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: vis + "-repo", Visibility: core.Some(vis)})
		if err != nil {
			t.Fatal(err)
		}
		for who, perm := range map[core.Actor]string{reader: "read", writer: "write", radmin: "admin"} {
			if _, _, err := f.Repos.SetCollaborator(ctx, owner, "owner", repo.Name, who.User.Username, core.Some(perm)); err != nil {
				t.Fatal(err)
			}
		}
		// want[caller] is the outcome at read, write, admin.
		const ok, hidden, signIn, refused = "ok", "hidden", "sign in", "refused"
		pub := vis == "public"
		pick := func(private, public string) string {
			if pub {
				return public
			}
			return private
		}
		cases := []struct {
			name  string
			actor core.Actor
			want  [3]string
		}{
			{"anonymous", core.Anonymous, [3]string{pick(hidden, ok), pick(hidden, signIn), pick(hidden, signIn)}},
			{"stranger", stranger, [3]string{pick(hidden, ok), pick(hidden, refused), pick(hidden, refused)}},
			// A disabled account counts as anonymous for what it may see.
			{"disabled", disabled, [3]string{pick(hidden, ok), pick(hidden, refused), pick(hidden, refused)}},
			{"reader", reader, [3]string{ok, refused, refused}},
			{"writer", writer, [3]string{ok, ok, refused}},
			{"repo admin", radmin, [3]string{ok, ok, ok}},
			{"owner", owner, [3]string{ok, ok, ok}},
			{"site admin", admin, [3]string{ok, ok, ok}},
		}
		for _, c := range cases {
			for i, need := range []store.Perm{store.PermRead, store.PermWrite, store.PermAdmin} {
				t.Run(fmt.Sprintf("%s/%s/%s", vis, c.name, need), func(t *testing.T) {
					_, _, err := f.Env.RepoAccess(ctx, c.actor, "owner", repo.Name, need)
					got := ok
					switch {
					case err == nil:
					case errors.Is(err, core.ErrNotFound):
						got = hidden
					case errors.Is(err, core.ErrUnauthorized):
						got = signIn
					case errors.Is(err, core.ErrForbidden):
						got = refused
					default:
						t.Fatalf("unexpected error %v", err)
					}
					if got != c.want[i] {
						t.Errorf("got %s, want %s (%v)", got, c.want[i], err)
					}
					// A refusal never names the private repository.
					if err != nil && vis == "private" && contains(err.Error(), repo.Name) {
						t.Errorf("error names the repository: %v", err)
					}
				})
			}
		}
	}
	// A repository that does not exist looks exactly like a private one.
	_, _, err := f.Env.RepoAccess(ctx, stranger, "owner", "nothing-here", store.PermRead)
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing repository: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestGitAccess: the transports' decision, including token scopes.
func TestGitAccess(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	owner, reader, stranger := f.User(t, "gowner"), f.User(t, "greader"), f.User(t, "gstranger")
	repo, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "code", Visibility: core.Some("private")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Repos.SetCollaborator(ctx, owner, "gowner", "code", "greader", core.Some("read")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "open"}); err != nil {
		t.Fatal(err)
	}
	readScoped := core.Actor{User: owner.User, Token: &store.Token{Scopes: []string{store.ScopeRead}}}
	repoScoped := core.Actor{User: owner.User, Token: &store.Token{Scopes: []string{store.ScopeRepo}}}
	readKey := core.Actor{DeployKey: &store.DeployKey{RepoID: repo.ID, Title: "ci", ReadOnly: true}}
	writeKey := core.Actor{DeployKey: &store.DeployKey{RepoID: repo.ID, Title: "release"}}
	cases := []struct {
		name  string
		actor core.Actor
		push  bool
		kind  error  // nil = allowed
		repo  string // "" = the private repository
	}{
		{"read-only deploy key fetches its repository", readKey, false, nil, ""},
		{"read-only deploy key push is refused", readKey, true, core.ErrForbidden, ""},
		{"writable deploy key pushes", writeKey, true, nil, ""},
		{"deploy key does not reach another repository, even public", readKey, false, core.ErrNotFound, "open"},
		{"deploy key on a missing repository is not found", writeKey, false, core.ErrNotFound, "missing"},
		{"anonymous fetch of a private repo is asked to sign in", core.Anonymous, false, core.ErrUnauthorized, ""},
		{"stranger fetch is not found", stranger, false, core.ErrNotFound, ""},
		{"reader fetches", reader, false, nil, ""},
		{"reader push is refused", reader, true, core.ErrForbidden, ""},
		{"owner pushes", owner, true, nil, ""},
		{"read-scoped token push is refused", readScoped, true, core.ErrForbidden, ""},
		{"read-scoped token fetches (read covers every read)", readScoped, false, nil, ""},
		{"repo-scoped token pushes", repoScoped, true, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := cmp.Or(c.repo, repo.Name)
			got, err := f.Env.GitAccess(ctx, c.actor, "gowner", name, c.push)
			switch {
			case c.kind == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case c.kind == nil && got.ID != repo.ID:
				t.Fatalf("wrong repository")
			case c.kind != nil && !errors.Is(err, c.kind):
				t.Fatalf("got %v, want %v", err, c.kind)
			}
		})
	}
}

// TestScopes pins what each token scope covers.
func TestScopes(t *testing.T) {
	cases := []struct {
		scopes []string
		write  bool
		area   core.Area
		ok     bool
		need   string
	}{
		{nil, true, core.AreaAdmin, true, ""},
		{[]string{"read"}, false, core.AreaGeneral, true, ""},
		{[]string{"read"}, true, core.AreaGeneral, false, "write"},
		{[]string{"write"}, false, core.AreaGeneral, false, "read"},
		{[]string{"write"}, true, core.AreaRepo, true, ""},
		{[]string{"write"}, true, core.AreaAdmin, false, "admin"},
		{[]string{"repo"}, false, core.AreaRepo, true, ""},
		{[]string{"repo"}, true, core.AreaRepo, true, ""},
		{[]string{"repo"}, false, core.AreaGeneral, false, "read"},
		{[]string{"repo"}, true, core.AreaGeneral, false, "write"},
		{[]string{"admin"}, true, core.AreaAdmin, true, ""},
		{[]string{"admin"}, false, core.AreaRepo, false, "read or repo"},
		{[]string{"read"}, true, core.AreaRepo, false, "write or repo"},
	}
	for _, c := range cases {
		ok, need := core.ScopeAllows(c.scopes, c.write, c.area)
		if ok != c.ok || need != c.need {
			t.Errorf("ScopeAllows(%v, write=%v, area=%d) = %v %q, want %v %q", c.scopes, c.write, c.area, ok, need, c.ok, c.need)
		}
	}
	if !core.ScopesWithin([]string{"read"}, []string{"read", "write"}) || core.ScopesWithin(nil, []string{"read"}) ||
		core.ScopesWithin([]string{"admin"}, []string{"read"}) {
		t.Error("ScopesWithin")
	}
}
