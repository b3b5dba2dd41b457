// Package deploykeys is the forge core's service for deploy keys: SSH
// keys attached to one repository, as GitHub's, which a machine (a CI
// runner, a deployment) uses to clone it, and to push to it when the key
// is writable. Repository administrators manage them. The SSH server
// resolves a client's key through accounts.AuthenticateKey and the core's
// GitAccess decides what a deploy key may reach.
package deploykeys

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/store"
)

// Service manages deploy keys.
type Service struct{ env *core.Env }

// New returns the deploy key service.
func New(env *core.Env) *Service { return &Service{env: env} }

// Repo loads the repository owner/name for an actor who administers it:
// not found for who cannot see it, refused for who sees it without
// admin rights.
func (s *Service) Repo(ctx context.Context, a core.Actor, owner, name string) (*store.Repo, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermAdmin)
	return repo, err
}

// Add attaches a public key (one OpenSSH line) to repo, read-only
// unless writable. Errors name the fields "title" and "key"; a key that
// is already some user's or some repository's is "already in use".
func (s *Service) Add(ctx context.Context, a core.Actor, repo *store.Repo, title, publicKey string, writable bool) (*store.DeployKey, error) {
	if _, err := s.env.CheckRepo(ctx, a, repo, store.PermAdmin); err != nil {
		return nil, err
	}
	title, publicKey = strings.TrimSpace(title), strings.TrimSpace(publicKey)
	v := core.Validation{}
	switch {
	case title == "":
		v.Add("title", "can't be blank")
	case utf8.RuneCountInString(title) > 255:
		v.Add("title", "is too long (maximum is 255 characters)")
	default:
		core.CheckLine(v, "title", title)
	}
	pub := accounts.CheckPublicKey(v, "key", publicKey)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.env.Store.AddDeployKey(ctx, store.DeployKey{
		RepoID: repo.ID, Title: title, KeyType: pub.Type(), PublicKey: accounts.AuthorizedKey(pub),
		Fingerprint: ssh.FingerprintSHA256(pub), ReadOnly: !writable,
	}, a.ID())
	if errors.Is(err, store.ErrKeyInUse) {
		return nil, core.Invalid("key", "is already in use")
	}
	return k, err
}

// List lists repo's deploy keys, oldest first.
func (s *Service) List(ctx context.Context, a core.Actor, repo *store.Repo, p core.Page) ([]*store.DeployKey, int, error) {
	if _, err := s.env.CheckRepo(ctx, a, repo, store.PermAdmin); err != nil {
		return nil, 0, err
	}
	ks, err := s.env.Store.DeployKeys(ctx, repo.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(ks, p)
	return page, total, nil
}

// ErrKeyNotFound is a deploy key the repository does not have.
var ErrKeyNotFound = core.NotFound("Deploy key not found")

// Get returns one of repo's deploy keys.
func (s *Service) Get(ctx context.Context, a core.Actor, repo *store.Repo, id int64) (*store.DeployKey, error) {
	if _, err := s.env.CheckRepo(ctx, a, repo, store.PermAdmin); err != nil {
		return nil, err
	}
	k, err := s.env.Store.DeployKey(ctx, repo.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	return k, err
}

// Remove detaches one of repo's deploy keys; connections already open
// with it can run no further git command.
func (s *Service) Remove(ctx context.Context, a core.Actor, repo *store.Repo, id int64) error {
	if _, err := s.env.CheckRepo(ctx, a, repo, store.PermAdmin); err != nil {
		return err
	}
	err := s.env.Store.DeleteDeployKey(ctx, repo.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrKeyNotFound
	}
	return err
}
