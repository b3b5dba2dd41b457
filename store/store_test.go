package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tapioca.db")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var mode string
		if err := s.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v", mode, err)
		}
		var fk int
		if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v", fk, err)
		}
		if res, err := s.IntegrityCheck(ctx); err != nil || res != "ok" {
			t.Errorf("integrity_check = %q, %v", res, err)
		}
		s.Close()
	}
}

// Concurrent writers queue on the single writer connection instead of
// failing with "database is locked".
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.CreateUser(ctx, NewUser{Username: fmt.Sprintf("user-%d", i), Email: fmt.Sprintf("u%d@example.com", i)})
			if err == nil {
				_, _, err = s.ListRepos(ctx, RepoList{})
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.CountUsers(ctx, TypeUser)
	if err != nil || n != 100 {
		t.Fatalf("users = %d, %v", n, err)
	}
}

func TestTxRollsBack(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.CreateUser(ctx, NewUser{Username: "ghost", Email: "ghost@example.com"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx error = %v", err)
	}
	if _, err := s.UserByName(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back user exists: %v", err)
	}
}

func TestNamespaceIsShared(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, NewUser{Username: "Acme", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateUser(ctx, NewUser{Type: TypeOrg, Username: "acme"})
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("org with a user's name: %v", err)
	}
	_, err = s.CreateUser(ctx, NewUser{Username: "other", Email: "A@example.com"})
	if !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("duplicate email: %v", err)
	}
}

func TestRepoPerm(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	mk := func(name string, typ string, admin bool) *User {
		u, err := s.CreateUser(ctx, NewUser{Type: typ, Username: name, Email: map[bool]string{true: "", false: name + "@x.io"}[typ == TypeOrg], IsAdmin: admin})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	owner, stranger, siteAdmin := mk("owner", TypeUser, false), mk("stranger", TypeUser, false), mk("root1", TypeUser, true)
	reader, writer, repoAdmin := mk("reader", TypeUser, false), mk("writer", TypeUser, false), mk("radmin", TypeUser, false)
	org, orgOwner, orgAdmin, orgMember := mk("org", TypeOrg, false), mk("oowner", TypeUser, false), mk("oadmin", TypeUser, false), mk("omember", TypeUser, false)

	private, err := s.CreateRepo(ctx, NewRepo{OwnerID: owner.ID, Name: "p", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	public, err := s.CreateRepo(ctx, NewRepo{OwnerID: owner.ID, Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	orgRepo, err := s.CreateRepo(ctx, NewRepo{OwnerID: org.ID, Name: "o", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		u *User
		p string
	}{{reader, "read"}, {writer, "write"}, {repoAdmin, "admin"}} {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO collaborators(repo_id, user_id, permission, created_at) VALUES (?, ?, ?, ?)`, private.ID, c.u.ID, c.p, Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		u    *User
		role string
	}{{orgOwner, RoleOwner}, {orgAdmin, RoleAdmin}, {orgMember, RoleMember}} {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO org_members(org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`, org.ID, m.u.ID, m.role, Now()); err != nil {
			t.Fatal(err)
		}
	}
	disabled := mk("disabled", TypeUser, false)
	disabled.Disabled = true

	cases := []struct {
		name string
		u    *User
		r    *Repo
		want Perm
	}{
		{"anonymous private", nil, private, PermNone},
		{"anonymous public", nil, public, PermRead},
		{"stranger private", stranger, private, PermNone},
		{"stranger public", stranger, public, PermRead},
		{"owner", owner, private, PermAdmin},
		{"site admin", siteAdmin, private, PermAdmin},
		{"read collaborator", reader, private, PermRead},
		{"write collaborator", writer, private, PermWrite},
		{"admin collaborator", repoAdmin, private, PermAdmin},
		{"org owner", orgOwner, orgRepo, PermAdmin},
		{"org admin", orgAdmin, orgRepo, PermAdmin},
		{"org member", orgMember, orgRepo, PermWrite},
		{"stranger org repo", stranger, orgRepo, PermNone},
		{"disabled account", disabled, public, PermRead},
	}
	for _, tc := range cases {
		got, err := s.RepoPerm(ctx, tc.u, tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s          string
		ns, repo   bool
		branchName bool
	}{
		{"alice", true, true, true},
		{"a", true, true, true},
		{"codebot-9000", true, true, true},
		{"-lead", false, true, false},
		{"trail-", false, true, true},
		{"under_score", false, true, true},
		{"x.git", false, false, true},
		{"..", false, false, false},
		{"feature/new-api", false, false, true},
		{"a..b", false, true, false},
		{"has space", false, false, false},
		{"x.lock", false, true, false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true, true, true},   // 39
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, true, true}, // 40
	} {
		if got := ValidNamespaceName(tc.s); got != tc.ns {
			t.Errorf("ValidNamespaceName(%q) = %v", tc.s, got)
		}
		if got := ValidRepoName(tc.s); got != tc.repo {
			t.Errorf("ValidRepoName(%q) = %v", tc.s, got)
		}
		if got := ValidBranchName(tc.s); got != tc.branchName {
			t.Errorf("ValidBranchName(%q) = %v", tc.s, got)
		}
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v", pw, ok, err)
		}
	}
}

func TestTokenValues(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		v, err := NewTokenValue()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 43 || v[:3] != "cb_" || seen[v] {
			t.Fatalf("bad or repeated token %q", v)
		}
		for _, c := range v[3:] {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				t.Fatalf("token %q has %q", v, c)
			}
		}
		seen[v] = true
	}
}
