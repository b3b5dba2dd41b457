package deploykeys_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/deploykeys"
	"tapioca/handlers/core/repos"
)

func newKey(t *testing.T) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), ssh.FingerprintSHA256(sp)
}

// Repository administrators manage deploy keys; a key is resolved to the
// deploy key (or to the account whose key it is) by AuthenticateKey.
func TestDeployKeys(t *testing.T) {
	f := coretest.New(t)
	ctx := t.Context()
	svc := deploykeys.New(f.Env)
	owner, writer, stranger := f.User(t, "owner"), f.User(t, "writer"), f.User(t, "stranger")
	repo, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "app", Visibility: core.Some("private")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Repos.SetCollaborator(ctx, owner, "owner", "app", "writer", core.Some("write")); err != nil {
		t.Fatal(err)
	}
	line, fp := newKey(t)

	refusals := []struct {
		name  string
		actor core.Actor
		title string
		key   string
		kind  error
		field string
	}{
		{"a writer is not an administrator", writer, "ci", line, core.ErrForbidden, ""},
		{"a stranger does not see the repository", stranger, "ci", line, core.ErrNotFound, ""},
		{"blank title", owner, " ", line, core.ErrInvalid, "title"},
		{"not a key", owner, "ci", "ssh-ed25519 nope", core.ErrInvalid, "key"},
		{"two keys", owner, "ci", line + "\n" + line, core.ErrInvalid, "key"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Add(ctx, c.actor, repo, c.title, c.key, false)
			var ce *core.Error
			switch {
			case !errors.Is(err, c.kind):
				t.Fatalf("got %v, want %v", err, c.kind)
			case c.field != "" && (!errors.As(err, &ce) || ce.Fields[c.field] == nil):
				t.Fatalf("error %v does not name %s", err, c.field)
			}
		})
	}

	k, err := svc.Add(ctx, owner, repo, "ci", line+" with a comment", false)
	if err != nil {
		t.Fatal(err)
	}
	if !k.ReadOnly || k.Fingerprint != fp || k.AddedBy != "owner" || k.PublicKey != line {
		t.Errorf("added %+v", k)
	}
	if _, err := svc.Add(ctx, owner, repo, "again", line, true); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("same key twice: %v", err)
	}
	// A user cannot register a deploy key as their own key either.
	if _, err := f.Accounts.AddSSHKey(ctx, stranger, "mine", line); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("deploy key as a user key: %v", err)
	}

	a, err := f.Accounts.AuthenticateKey(ctx, fp)
	if err != nil || a.DeployKey == nil || a.DeployKey.ID != k.ID || a.User != nil {
		t.Errorf("AuthenticateKey(deploy key) = %+v, %v", a, err)
	}
	userLine, userFP := newKey(t)
	if _, err := f.Accounts.AddSSHKey(ctx, writer, "laptop", userLine); err != nil {
		t.Fatal(err)
	}
	if a, err := f.Accounts.AuthenticateKey(ctx, userFP); err != nil || a.User == nil || a.User.ID != writer.User.ID || a.Token != nil {
		t.Errorf("AuthenticateKey(user key) = %+v, %v", a, err)
	}
	if err := f.Env.Store.SetDisabled(ctx, writer.User.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Accounts.AuthenticateKey(ctx, userFP); !errors.Is(err, core.ErrDisabled) {
		t.Errorf("disabled account's key: %v", err)
	}
	_, unknown := newKey(t)
	if _, err := f.Accounts.AuthenticateKey(ctx, unknown); !errors.Is(err, core.ErrBadCredentials) {
		t.Errorf("unknown key: %v", err)
	}

	if ks, total, err := svc.List(ctx, owner, repo, core.Page{}); err != nil || total != 1 || ks[0].ID != k.ID {
		t.Errorf("list: %v %d %v", ks, total, err)
	}
	if _, _, err := svc.List(ctx, writer, repo, core.Page{}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("writer lists: %v", err)
	}
	if err := svc.Remove(ctx, owner, repo, k.ID+100); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("remove a missing key: %v", err)
	}
	if err := svc.Remove(ctx, owner, repo, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, owner, repo, k.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get after remove: %v", err)
	}
	if _, err := f.Accounts.AuthenticateKey(ctx, fp); !errors.Is(err, core.ErrBadCredentials) {
		t.Errorf("removed key still authenticates: %v", err)
	}
}
