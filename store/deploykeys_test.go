package store

import (
	"errors"
	"testing"
)

// A key is one identity: a user's key cannot become a deploy key or the
// other way round, and a deploy key cannot serve two repositories.
// Deploy keys go with their repository; the adder's name goes with the
// adder's account.
func TestDeployKeys(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := t.Context()
	alice := newTestUser(t, s, "alice", false)
	bob := newTestUser(t, s, "bob", false)
	r1, err := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.CreateRepo(ctx, NewRepo{OwnerID: alice.ID, Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSSHKey(ctx, SSHKey{UserID: alice.ID, Title: "laptop", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 A", Fingerprint: "SHA256:user"}); err != nil {
		t.Fatal(err)
	}
	k, err := s.AddDeployKey(ctx, DeployKey{RepoID: r1.ID, Title: "ci", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 B", Fingerprint: "SHA256:deploy", ReadOnly: true}, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.AddedBy != "bob" || !k.ReadOnly || k.RepoID != r1.ID || k.CreatedAt.IsZero() {
		t.Errorf("added key %+v", k)
	}

	taken := []struct {
		name string
		add  func() error
	}{
		{"user key as deploy key", func() error {
			_, err := s.AddDeployKey(ctx, DeployKey{RepoID: r2.ID, Title: "x", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 A", Fingerprint: "SHA256:user"}, alice.ID)
			return err
		}},
		{"deploy key on a second repository", func() error {
			_, err := s.AddDeployKey(ctx, DeployKey{RepoID: r2.ID, Title: "x", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 B", Fingerprint: "SHA256:deploy"}, alice.ID)
			return err
		}},
		{"deploy key as user key", func() error {
			_, err := s.AddSSHKey(ctx, SSHKey{UserID: bob.ID, Title: "x", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 B", Fingerprint: "SHA256:deploy"})
			return err
		}},
	}
	for _, tc := range taken {
		if err := tc.add(); !errors.Is(err, ErrKeyInUse) {
			t.Errorf("%s: %v, want ErrKeyInUse", tc.name, err)
		}
	}

	if got, err := s.DeployKeyByFingerprint(ctx, "SHA256:deploy"); err != nil || got.ID != k.ID {
		t.Errorf("by fingerprint: %+v %v", got, err)
	}
	if got, err := s.SSHKeyByFingerprint(ctx, "SHA256:user"); err != nil || got.UserID != alice.ID {
		t.Errorf("user key by fingerprint: %+v %v", got, err)
	}
	if _, err := s.DeployKey(ctx, r2.ID, k.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("key through the wrong repository: %v", err)
	}
	if err := s.DeleteDeployKey(ctx, r2.ID, k.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete through the wrong repository: %v", err)
	}

	if _, err := s.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DeployKey(ctx, r1.ID, k.ID); err != nil || got.AddedBy != "" {
		t.Errorf("after the adder left: %+v %v", got, err)
	}
	if err := s.DeleteRepo(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeployKeyByFingerprint(ctx, "SHA256:deploy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deploy key outlived its repository: %v", err)
	}
	// The fingerprint is free again.
	if _, err := s.AddDeployKey(ctx, DeployKey{RepoID: r2.ID, Title: "x", KeyType: "ssh-ed25519", PublicKey: "ssh-ed25519 B", Fingerprint: "SHA256:deploy"}, alice.ID); err != nil {
		t.Errorf("re-add after the repository went: %v", err)
	}
	if ks, err := s.DeployKeys(ctx, r2.ID); err != nil || len(ks) != 1 {
		t.Errorf("list: %v %v", ks, err)
	}
}
