package siteadmin_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
)

// fixture is a forge with site administration, an administrator and a
// user.
type fixture struct {
	*coretest.Forge
	admin *siteadmin.Service
	root  core.Actor // a site administrator
	alice core.Actor
}

func newFixture(t *testing.T) *fixture {
	f := coretest.New(t)
	return &fixture{Forge: f, admin: siteadmin.New(f.Env, f.Accounts, f.Orgs, f.Repos, f.Webhooks, jobs.New(f.Env)),
		root: f.Admin(t, "root"), alice: f.User(t, "alice")}
}

// fieldsOf returns the fields of a validation error, failing otherwise.
func fieldsOf(t *testing.T, err error) map[string][]string {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) || !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("want a validation error, got %v", err)
	}
	return ce.Fields
}

func (f *fixture) reload(t *testing.T, u *store.User) *store.User {
	t.Helper()
	nu, err := f.Env.Store.UserByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return nu
}

// Every new operation is a site administrator's only.
func TestOnlyAdministrators(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	repo, err := f.Repos.Create(ctx, f.alice, "", repos.Creation{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	org, err := f.Orgs.Create(ctx, f.alice, "acme", core.ProfileInput{})
	if err != nil {
		t.Fatal(err)
	}
	a, u := f.alice, f.alice.User
	for name, op := range map[string]func() error{
		"update user": func() error {
			_, err := f.admin.UpdateUser(ctx, a, u, siteadmin.UserEdit{Email: "x@example.com", Kind: "human"})
			return err
		},
		"revoke token":  func() error { _, err := f.admin.RevokeToken(ctx, a, u, 1); return err },
		"revoke key":    func() error { _, err := f.admin.RevokeSSHKey(ctx, a, u, 1); return err },
		"create org":    func() error { _, err := f.admin.CreateOrg(ctx, a, "other", "alice", ""); return err },
		"set role":      func() error { _, err := f.admin.SetOrgRole(ctx, a, org, "alice", "member"); return err },
		"remove member": func() error { return f.admin.RemoveOrgMember(ctx, a, org, "alice") },
		"create repo":   func() error { _, err := f.admin.CreateRepo(ctx, a, "alice", repos.Creation{Name: "x"}); return err },
		"rename repo":   func() error { _, err := f.admin.RenameRepo(ctx, a, repo, "y"); return err },
		"transfer repo": func() error { _, err := f.admin.TransferRepo(ctx, a, repo, "acme", ""); return err },
		"visibility":    func() error { _, err := f.admin.SetRepoVisibility(ctx, a, repo, true); return err },
		"maintain":      func() error { _, err := f.admin.MaintainRepo(ctx, a, repo); return err },
		"hook active":   func() error { _, err := f.admin.SetHookActive(ctx, a, 1, false); return err },
		"delete hook":   func() error { _, err := f.admin.DeleteHook(ctx, a, 1); return err },
		"redeliver failed": func() error {
			_, _, err := f.admin.RedeliverFailed(ctx, a, siteadmin.FailedDeliveries{})
			return err
		},
	} {
		if err := op(); !errors.Is(err, core.ErrForbidden) {
			t.Errorf("%s by a user: %v", name, err)
		}
	}
	if r, _ := f.Env.Store.RepoByID(ctx, repo.ID); r.FullName() != "alice/web" || r.Private {
		t.Fatalf("refused operations changed the repository: %+v", r)
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	u := f.alice.User
	bob := f.User(t, "bob")

	// Every problem at once, and nothing changes.
	err := func() error {
		_, err := f.admin.UpdateUser(ctx, f.root, u, siteadmin.UserEdit{Email: "not-an-email", DisplayName: "bad\nline",
			Kind: "robot", MaxRepos: new(-1)})
		return err
	}()
	fields := fieldsOf(t, err)
	for _, field := range []string{"email", "display_name", "kind", "max_repos"} {
		if len(fields[field]) == 0 {
			t.Errorf("no error for %s: %v", field, fields)
		}
	}
	if _, err := f.admin.UpdateUser(ctx, f.root, u, siteadmin.UserEdit{Email: bob.User.Email, Kind: "human"}); len(fieldsOf(t, err)["email"]) == 0 {
		t.Fatalf("another account's email: %v", err)
	}
	if now := f.reload(t, u); now.Email != u.Email || now.Kind != "human" || now.MaxRepos != nil {
		t.Fatalf("refused edits changed the account: %+v", now)
	}

	nu, err := f.admin.UpdateUser(ctx, f.root, u, siteadmin.UserEdit{Email: "  alice@new.example ", DisplayName: "Alice", Kind: "bot", MaxRepos: new(1)})
	if err != nil {
		t.Fatal(err)
	}
	if nu.Email != "alice@new.example" || *nu.DisplayName != "Alice" || nu.Kind != "bot" || *nu.MaxRepos != 1 {
		t.Fatalf("after edit: %+v", nu)
	}
	// Her own email in another case is not "taken".
	if _, err := f.admin.UpdateUser(ctx, f.root, nu, siteadmin.UserEdit{Email: "ALICE@new.example", Kind: "bot", MaxRepos: new(1)}); err != nil {
		t.Fatalf("same email, other case: %v", err)
	}

	// The limit is the one repos.Create applies, through the API's path
	// and the administrator's alike.
	actor := core.AsUser(f.reload(t, u))
	if _, err := f.Repos.Create(ctx, actor, "", repos.Creation{Name: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repos.Create(ctx, actor, "", repos.Creation{Name: "two"}); len(fieldsOf(t, err)["base"]) == 0 {
		t.Fatalf("over her own limit: %v", err)
	}
	if _, err := f.admin.CreateRepo(ctx, f.root, "alice", repos.Creation{Name: "two"}); len(fieldsOf(t, err)["base"]) == 0 {
		t.Fatalf("an administrator creating over her limit: %v", err)
	}
	// Back to the site's limit (50 in coretest).
	if _, err := f.admin.UpdateUser(ctx, f.root, f.reload(t, u), siteadmin.UserEdit{Email: "alice@new.example", Kind: "bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repos.Create(ctx, core.AsUser(f.reload(t, u)), "", repos.Creation{Name: "two"}); err != nil {
		t.Fatalf("within the site's limit again: %v", err)
	}
}

func TestRevokeTokensAndKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	u := f.alice.User
	bob := f.User(t, "bob")
	tok, _, err := f.Env.Store.CreateToken(ctx, u.ID, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	bobTok, _, err := f.Env.Store.CreateToken(ctx, bob.User.ID, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.Env.Store.AddSSHKey(ctx, store.SSHKey{UserID: u.ID, Title: "work", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA", Fingerprint: "SHA256:x"})
	if err != nil {
		t.Fatal(err)
	}
	// Bob's token is not Alice's to lose.
	if _, err := f.admin.RevokeToken(ctx, f.root, u, bobTok.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("another user's token: %v", err)
	}
	if got, err := f.admin.RevokeToken(ctx, f.root, u, tok.ID); err != nil || got.Name != "laptop" {
		t.Fatalf("revoke: %v %v", got, err)
	}
	if ts, _ := f.Env.Store.ListTokens(ctx, u.ID); len(ts) != 0 {
		t.Fatalf("tokens left: %d", len(ts))
	}
	if ts, _ := f.Env.Store.ListTokens(ctx, bob.User.ID); len(ts) != 1 {
		t.Fatal("Bob's token went too")
	}
	if got, err := f.admin.RevokeSSHKey(ctx, f.root, u, key.ID); err != nil || got.Title != "work" {
		t.Fatalf("revoke key: %v %v", got, err)
	}
	if _, err := f.admin.RevokeSSHKey(ctx, f.root, u, key.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
}

func TestOrganizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	bob := f.User(t, "bob")

	fields := fieldsOf(t, func() error { _, err := f.admin.CreateOrg(ctx, f.root, "bad name!", "nobody", ""); return err }())
	if len(fields["owner"]) == 0 || len(fields["username"]) == 0 {
		t.Fatalf("both problems at once: %v", fields)
	}
	org, err := f.admin.CreateOrg(ctx, f.root, "acme", "alice", "Acme Inc.")
	if err != nil {
		t.Fatal(err)
	}
	if org.DisplayName == nil || *org.DisplayName != "Acme Inc." {
		t.Fatalf("org %+v", org)
	}
	if role, _ := f.Env.Store.OrgRole(ctx, org.ID, f.alice.User.ID); role != store.RoleOwner {
		t.Fatalf("the chosen owner's role: %q", role)
	}
	if role, _ := f.Env.Store.OrgRole(ctx, org.ID, f.root.User.ID); role != "" {
		t.Fatalf("the administrator became %q", role)
	}
	if _, err := f.admin.CreateOrg(ctx, f.root, "other", "acme", ""); len(fieldsOf(t, err)["owner"]) == 0 {
		t.Fatalf("an organization as owner: %v", err)
	}

	// The last owner cannot be demoted or removed...
	if _, err := f.admin.SetOrgRole(ctx, f.root, org, "alice", store.RoleMember); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("demote the last owner: %v", err)
	}
	if err := f.admin.RemoveOrgMember(ctx, f.root, org, "alice"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("remove the last owner: %v", err)
	}
	// ...until there is another: what the dashboard's advice asks for.
	if _, err := f.admin.SetOrgRole(ctx, f.root, org, "bob", store.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.SetOrgRole(ctx, f.root, org, "alice", store.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := f.admin.RemoveOrgMember(ctx, f.root, org, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.admin.RemoveOrgMember(ctx, f.root, org, "alice"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("remove a non-member: %v", err)
	}
	if _, err := f.admin.SetOrgRole(ctx, f.root, org, "bob", "boss"); len(fieldsOf(t, err)["role"]) == 0 {
		t.Fatalf("unknown role: %v", err)
	}
	// With another owner, Alice's account could go; Bob is the only owner now.
	if _, err := f.admin.DeleteUser(ctx, f.root, bob.User); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("delete the only owner: %v", err)
	}
	acts, _ := f.Env.Store.RecentActivity(ctx, 20)
	found := false
	for _, a := range acts {
		if a.Kind == "admin" && a.Detail == "added bob as an owner of" {
			found = a.SubjectKind == store.TargetOrg && a.Subject == "acme"
		}
	}
	if !found {
		t.Errorf("granting the owner role is not in recent activity: %+v", acts)
	}
}

func TestRepositories(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	bob := f.User(t, "bob")
	web, err := f.admin.CreateRepo(ctx, f.root, "alice", repos.Creation{Name: "web", AutoInit: true})
	if err != nil {
		t.Fatal(err)
	}
	if web.OwnerID != f.alice.User.ID || web.PushedAt == nil {
		t.Fatalf("created %+v", web)
	}
	if _, err := f.Repos.Create(ctx, bob, "", repos.Creation{Name: "WEB"}); err != nil {
		t.Fatal(err)
	}
	fields := fieldsOf(t, func() error {
		_, err := f.admin.CreateRepo(ctx, f.root, "nobody", repos.Creation{Name: "x.git"})
		return err
	}())
	if len(fields["owner"]) == 0 || len(fields["name"]) == 0 {
		t.Fatalf("both problems at once: %v", fields)
	}

	// Rename: within the owner; a taken name is refused.
	if _, err := f.admin.CreateRepo(ctx, f.root, "alice", repos.Creation{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RenameRepo(ctx, f.root, web, "Docs"); len(fieldsOf(t, err)["name"]) == 0 {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	web, err = f.admin.RenameRepo(ctx, f.root, web, "site")
	if err != nil || web.FullName() != "alice/site" {
		t.Fatalf("rename: %v %v", web, err)
	}

	// Transfer: Bob has a "web"; "site" is free; the files stay by id.
	if _, err := f.admin.TransferRepo(ctx, f.root, web, "bob", "web"); len(fieldsOf(t, err)["name"]) == 0 {
		t.Fatalf("transfer onto a taken name: %v", err)
	}
	if _, err := f.admin.TransferRepo(ctx, f.root, web, "alice", ""); len(fieldsOf(t, err)["owner"]) == 0 {
		t.Fatalf("transfer to its own owner: %v", err)
	}
	limit := 1
	if _, err := f.Env.Store.UpdateAccount(ctx, bob.User.ID, store.AccountUpdate{MaxRepos: new(&limit)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.TransferRepo(ctx, f.root, web, "bob", ""); len(fieldsOf(t, err)["owner"]) == 0 {
		t.Fatalf("transfer past the limit: %v", err)
	}
	if r, _ := f.Env.Store.RepoByID(ctx, web.ID); r.FullName() != "alice/site" {
		t.Fatalf("refused transfers moved it: %s", r.FullName())
	}
	org, err := f.admin.CreateOrg(ctx, f.root, "acme", "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	moved, err := f.admin.TransferRepo(ctx, f.root, web, "acme", "")
	if err != nil || moved.FullName() != "acme/site" || moved.OwnerID != org.ID {
		t.Fatalf("transfer: %v %v", moved, err)
	}
	if _, err := os.Stat(f.Env.RepoPath(moved.ID)); err != nil {
		t.Fatalf("files after transfer: %v", err)
	}
	// The org's members reach it now; Alice does not.
	if _, err := f.Repos.Get(ctx, bob, "acme", "site"); err != nil {
		t.Fatalf("the new owner's member: %v", err)
	}

	priv, err := f.admin.SetRepoVisibility(ctx, f.root, moved, true)
	if err != nil || !priv.Private {
		t.Fatalf("private: %v %v", priv, err)
	}
	if _, err := f.Repos.Get(ctx, f.alice, "acme", "site"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("an outsider sees the private repository: %v", err)
	}

	res, err := f.admin.MaintainRepo(ctx, f.root, priv)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Env.Store.RepoByID(ctx, priv.ID); r.SizeBytes != res.BytesAfter || res.BytesAfter == 0 {
		t.Fatalf("size %d after maintenance reporting %d", r.SizeBytes, res.BytesAfter)
	}
}

func TestHooksAndRedelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	h, err := f.Env.Store.CreateWebhook(ctx, store.NewWebhook{OwnerID: f.alice.User.ID, URL: "http://192.0.2.1/", ContentType: "json",
		Events: []string{"push"}, Active: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.admin.RedeliverFailed(ctx, f.root, siteadmin.FailedDeliveries{Event: "nonsense"}); len(fieldsOf(t, err)["event"]) == 0 {
		t.Fatalf("unknown event: %v", err)
	}
	if n, more, err := f.admin.RedeliverFailed(ctx, f.root, siteadmin.FailedDeliveries{HookID: h.ID, Event: "push"}); err != nil || n != 0 || more {
		t.Fatalf("nothing failed: %d %v %v", n, more, err)
	}
	off, err := f.admin.SetHookActive(ctx, f.root, h.ID, false)
	if err != nil || off.Active {
		t.Fatalf("disable: %v %v", off, err)
	}
	if _, err := f.admin.DeleteHook(ctx, f.root, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.SetHookActive(ctx, f.root, h.ID, true); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted hook: %v", err)
	}
}

// A password sign-in is recorded for the users page.
func TestSignInIsRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	hash, err := store.HashPassword("password123")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Env.Store.SetPasswordHash(ctx, f.alice.User.ID, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Accounts.SignIn(ctx, "alice", "wrong-password", "192.0.2.9"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if u := f.reload(t, f.alice.User); u.LastSignInAt != nil {
		t.Fatal("a failed sign-in was recorded as one")
	}
	if _, err := f.Accounts.SignIn(ctx, "alice", "password123", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if u := f.reload(t, f.alice.User); u.LastSignInAt == nil {
		t.Fatal("sign-in not recorded")
	}
}
