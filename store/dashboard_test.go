package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The store operations behind the dashboard's detail pages (issue 15).

func TestUpdateAccount(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	alice := newTestUser(t, s, "alice", false)
	newTestUser(t, s, "bob", false)
	org, err := s.CreateOrg(ctx, NewUser{Username: "acme"}, alice.ID)
	if err != nil {
		t.Fatal(err)
	}

	email, name, kind, limit := "Alice@Example.org", new("Alice A."), "bot", new(3)
	u, err := s.UpdateAccount(ctx, alice.ID, AccountUpdate{Email: &email, DisplayName: &name, Kind: &kind, MaxRepos: &limit})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != email || *u.DisplayName != "Alice A." || u.Kind != "bot" || u.MaxRepos == nil || *u.MaxRepos != 3 {
		t.Fatalf("after update: %+v", u)
	}
	// The email is found case-insensitively, as sign-in looks it up.
	if got, err := s.UserByEmail(ctx, "alice@example.ORG"); err != nil || got.ID != alice.ID {
		t.Fatalf("by new email: %v %v", got, err)
	}
	// Clearing: no display name, the site's limit again; other fields stay.
	var none *string
	var noLimit *int
	if u, err = s.UpdateAccount(ctx, alice.ID, AccountUpdate{DisplayName: &none, MaxRepos: &noLimit}); err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != nil || u.MaxRepos != nil || u.Kind != "bot" || u.Email != email {
		t.Fatalf("after clearing: %+v", u)
	}
	taken := "BOB@example.com"
	if _, err := s.UpdateAccount(ctx, alice.ID, AccountUpdate{Email: &taken}); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("another account's email: %v", err)
	}
	if _, err := s.UpdateAccount(ctx, org.ID, AccountUpdate{Kind: &kind}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an organization is no user account: %v", err)
	}

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.RecordSignIn(ctx, alice.ID, at); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByID(ctx, alice.ID); u.LastSignInAt == nil || !u.LastSignInAt.Equal(at) {
		t.Fatalf("last sign-in %v", u.LastSignInAt)
	}
}

func TestListUsersFiltersAndSorts(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	// Created one after the other: carol newest.
	alice := newTestUser(t, s, "alice", true)
	bot, err := s.CreateUser(ctx, NewUser{Username: "bot-b", Email: "b@example.com", Kind: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	carol := newTestUser(t, s, "carol", false)
	if err := s.SetDisabled(ctx, carol.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrg(ctx, NewUser{Username: "zorg"}, alice.ID); err != nil {
		t.Fatal(err)
	}
	// Nudge creation times apart (the store keeps whole seconds).
	for i, id := range []int64{alice.ID, bot.ID, carol.ID} {
		if _, err := s.writer.ExecContext(ctx, `UPDATE users SET created_at = ? WHERE id = ?`, time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSignIn(ctx, bot.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordSignIn(ctx, alice.ID, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	names := func(f UserList) []string {
		t.Helper()
		us, total, err := s.ListUsers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		if total != len(out) {
			t.Fatalf("%+v: total %d for %v", f, total, out)
		}
		return out
	}
	for _, c := range []struct {
		f    UserList
		want []string
	}{
		{UserList{Type: TypeUser}, []string{"alice", "bot-b", "carol"}},
		{UserList{Type: TypeUser, Sort: "created"}, []string{"carol", "bot-b", "alice"}},
		{UserList{Type: TypeUser, Sort: "signin"}, []string{"bot-b", "alice", "carol"}},
		{UserList{Type: TypeUser, Admin: true}, []string{"alice"}},
		{UserList{Type: TypeUser, Bot: true}, []string{"bot-b"}},
		{UserList{Type: TypeUser, Disabled: true}, []string{"carol"}},
		{UserList{Type: TypeUser, Admin: true, Disabled: true}, nil},
		{UserList{Type: TypeUser, Query: "b@example", Sort: "created"}, []string{"bot-b"}},
		{UserList{Type: TypeUser, Sort: "bogus"}, []string{"alice", "bot-b", "carol"}},
	} {
		if got := names(c.f); !equalStrings(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
	}
	// Pages read from the far end keep the order.
	if us, total, _ := s.ListUsers(ctx, UserList{Type: TypeUser, Sort: "created", Limit: 1, Offset: 2}); total != 3 || len(us) != 1 || us[0].Username != "alice" {
		t.Fatalf("last page: %v of %d", us, total)
	}
}

func equalStrings(a, b []string) bool {
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

func TestTransferRepo(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	alice := newTestUser(t, s, "alice", false)
	bob := newTestUser(t, s, "bob", false)
	repo, err := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRepo(ctx, NewRepo{OwnerID: bob.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCollaborator(ctx, repo.ID, bob.ID, "write"); err != nil {
		t.Fatal(err)
	}
	// Bob has a "web" already, whatever its case.
	if _, err := s.TransferRepo(ctx, repo.ID, bob.ID, "Web", -1); !errors.Is(err, ErrRepoExists) {
		t.Fatalf("name collision: %v", err)
	}
	if _, err := s.TransferRepo(ctx, repo.ID, bob.ID, "site", 1); !errors.Is(err, ErrRepoLimit) {
		t.Fatalf("over the limit: %v", err)
	}
	if r, _ := s.RepoByID(ctx, repo.ID); r.OwnerID != alice.ID || r.Name != "Web" {
		t.Fatalf("refused transfers changed the repository: %+v", r)
	}
	moved, err := s.TransferRepo(ctx, repo.ID, bob.ID, "site", 2)
	if err != nil {
		t.Fatal(err)
	}
	if moved.OwnerID != bob.ID || moved.FullName() != "bob/site" {
		t.Fatalf("after transfer: %s", moved.FullName())
	}
	if _, err := s.RepoByName(ctx, "bob", "SITE"); err != nil {
		t.Fatalf("by new name: %v", err)
	}
	if cs, _ := s.ListCollaborators(ctx, repo.ID); len(cs) != 0 {
		t.Fatalf("the new owner is still a collaborator: %+v", cs)
	}
	if err := s.SetRepoSize(ctx, repo.ID, 12345); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.RepoByID(ctx, repo.ID); r.SizeBytes != 12345 || r.PushedAt != nil {
		t.Fatalf("size %d, pushed %v", r.SizeBytes, r.PushedAt)
	}
}

func TestRedeliverFailed(t *testing.T) {
	t.Parallel()
	s, h := webhookFixture(t)
	ctx := context.Background()
	other, err := s.CreateWebhook(ctx, NewWebhook{OwnerID: h.OwnerID, URL: "http://192.0.2.2/", ContentType: "json", Events: []string{"push"}, Active: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Four deliveries: three fail (two of h, one of other), one succeeds.
	var ids []int64
	for i, hook := range []*Webhook{h, h, other, h} {
		id, err := s.EnqueueDelivery(ctx, NewDelivery{WebhookID: hook.ID, Event: "push", RepoID: 7, ContentType: "application/json", Body: []byte(`{"n":` + string(rune('0'+i)) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	claimed, err := s.ClaimDeliveries(ctx, time.Now(), time.Minute, 10, 0)
	if err != nil || len(claimed) != 4 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	for _, c := range claimed {
		res := AttemptResult{DeliveryID: c.ID, LeaseToken: c.LeaseToken, Attempt: 1, URL: "http://x/", StartedAt: time.Now(), Error: "refused"}
		if c.ID == ids[3] {
			res = AttemptResult{DeliveryID: c.ID, LeaseToken: c.LeaseToken, Attempt: 1, URL: "http://x/", StartedAt: time.Now(), StatusCode: 200, Succeeded: true}
		}
		if err := s.FinishAttempt(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	// One of h's failures at a time: the first call leaves one for the next.
	n, more, err := s.RedeliverFailed(ctx, DeliveryFilter{WebhookID: h.ID}, 1)
	if err != nil || n != 1 || !more {
		t.Fatalf("first: %d %v %v", n, more, err)
	}
	n, more, err = s.RedeliverFailed(ctx, DeliveryFilter{WebhookID: h.ID}, 1)
	if err != nil || n != 1 || more {
		t.Fatalf("second: %d %v %v", n, more, err)
	}
	// Both failures of h now have a redelivery: nothing is sent twice.
	if n, _, _ := s.RedeliverFailed(ctx, DeliveryFilter{WebhookID: h.ID}, 10); n != 0 {
		t.Fatalf("redelivered again: %d", n)
	}
	for _, id := range ids[:2] {
		re, err := s.Redeliveries(ctx, id)
		if err != nil || len(re) != 1 {
			t.Fatalf("redeliveries of %d: %v %v", id, re, err)
		}
		d, _ := s.DeliveryByID(ctx, re[0])
		orig, _ := s.DeliveryByID(ctx, id)
		if d.Status != DeliveryPending || !d.Manual || string(d.Body) != string(orig.Body) || d.GUID == orig.GUID || d.RepoID == nil || *d.RepoID != 7 {
			t.Fatalf("redelivery %+v of %+v", d, orig)
		}
	}
	// The other hook's failure is still there, by repository as well.
	ds, total, err := s.ListDeliveries(ctx, DeliveryFilter{RepoID: 7, Status: DeliveryFailed, SkipRedelivered: true})
	if err != nil || total != 1 || ds[0].ID != ids[2] {
		t.Fatalf("failed and not redelivered: %d %v", total, err)
	}
	if _, total, _ := s.ListDeliveries(ctx, DeliveryFilter{RepoID: 8}); total != 0 {
		t.Fatalf("another repository's: %d", total)
	}

	hs, total, err := s.ListHookSummaries(ctx, HookList{})
	if err != nil || total != 2 {
		t.Fatalf("hooks: %d %v", total, err)
	}
	// Newest first: other, then h, whose newest delivery is a pending
	// redelivery.
	if hs[0].Hook.ID != other.ID || hs[0].LastStatus != DeliveryFailed || hs[0].Failed != 1 || hs[0].OwnerName != "hooker" || hs[0].LastAt == nil {
		t.Fatalf("other: %+v", hs[0])
	}
	if hs[1].Hook.ID != h.ID || hs[1].LastStatus != DeliveryPending || hs[1].Failed != 2 || hs[1].LastCode != nil {
		t.Fatalf("h: %+v", hs[1])
	}
	if hs, total, _ := s.ListHookSummaries(ctx, HookList{OwnerID: h.OwnerID + 100}); total != 0 || len(hs) != 0 {
		t.Fatalf("another owner's hooks: %d", total)
	}
}

func TestAuditKindsAndMemberships(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	alice := newTestUser(t, s, "alice", true)
	bob := newTestUser(t, s, "bob", false)
	org, err := s.CreateOrg(ctx, NewUser{Username: "acme"}, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMemberRole(ctx, org.ID, bob.ID, RoleMember); err != nil {
		t.Fatal(err)
	}
	ms, err := s.ListMemberships(ctx, alice.ID)
	if err != nil || len(ms) != 1 || ms[0].Org.Username != "acme" || ms[0].Role != RoleOwner || ms[0].Owners != 1 {
		t.Fatalf("memberships: %+v %v", ms, err)
	}
	if err := s.AuditOf(ctx, "alice", "disabled", TargetUser, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, "alice", "did something to", "thing"); err != nil {
		t.Fatal(err)
	}
	acts, err := s.RecentActivity(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, a := range acts {
		kinds[a.Kind+" "+a.Detail+" "+a.Subject] = a.SubjectKind
	}
	for key, want := range map[string]string{
		"admin disabled bob": TargetUser, "admin did something to thing": "",
		"org_created  acme": TypeOrg, "user_registered  bob": TypeUser,
	} {
		if got, ok := kinds[key]; !ok || got != want {
			t.Errorf("%q: kind %q (present %v), want %q", key, got, ok, want)
		}
	}
}
