package store

import (
	"context"
	"fmt"
	"time"
)

// DeployKey is an SSH public key that reaches one repository: read-only
// unless ReadOnly is false.
type DeployKey struct {
	ID          int64
	RepoID      int64
	Title       string
	KeyType     string
	PublicKey   string // "<type> <base64>"
	Fingerprint string // "SHA256:..."
	ReadOnly    bool
	AddedBy     string // username of who added it; "" once that account is gone
	CreatedAt   time.Time
}

const deployKeyColumns = `k.id, k.repo_id, k.title, k.key_type, k.public_key, k.fingerprint, k.read_only,
	COALESCE(u.username, ''), k.created_at`

const deployKeyFrom = ` FROM deploy_keys k LEFT JOIN users u ON u.id = k.added_by`

func scanDeployKey(row interface{ Scan(...any) error }) (*DeployKey, error) {
	k := &DeployKey{}
	if err := row.Scan(&k.ID, &k.RepoID, &k.Title, &k.KeyType, &k.PublicKey, &k.Fingerprint, &k.ReadOnly,
		&k.AddedBy, &k.CreatedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// AddDeployKey stores a deploy key added by addedBy; ErrKeyInUse when the
// key is already a deploy key or a user's key.
func (s *Store) AddDeployKey(ctx context.Context, k DeployKey, addedBy int64) (*DeployKey, error) {
	var by any
	if addedBy != 0 {
		by = addedBy
	}
	var id int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO deploy_keys(repo_id, title, key_type, public_key, fingerprint, read_only, added_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		k.RepoID, k.Title, k.KeyType, k.PublicKey, k.Fingerprint, boolInt(k.ReadOnly), by, Now()).Scan(&id)
	if err != nil {
		if keyInUse(err) {
			return nil, ErrKeyInUse
		}
		return nil, fmt.Errorf("add deploy key: %w", err)
	}
	return s.deployKeyWhere(ctx, `k.id = ?`, id)
}

// DeployKeys lists a repository's deploy keys, oldest first.
func (s *Store) DeployKeys(ctx context.Context, repoID int64) ([]*DeployKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deployKeyColumns+deployKeyFrom+` WHERE k.repo_id = ? ORDER BY k.id`, repoID)
	if err != nil {
		return nil, fmt.Errorf("list deploy keys: %w", err)
	}
	defer rows.Close()
	out := []*DeployKey{}
	for rows.Next() {
		k, err := scanDeployKey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan deploy key: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeployKey returns one of a repository's deploy keys.
func (s *Store) DeployKey(ctx context.Context, repoID, id int64) (*DeployKey, error) {
	return s.deployKeyWhere(ctx, `k.repo_id = ? AND k.id = ?`, repoID, id)
}

// DeployKeyByFingerprint finds the deploy key with a SHA-256 fingerprint,
// for the SSH server's authentication.
func (s *Store) DeployKeyByFingerprint(ctx context.Context, fingerprint string) (*DeployKey, error) {
	return s.deployKeyWhere(ctx, `k.fingerprint = ?`, fingerprint)
}

func (s *Store) deployKeyWhere(ctx context.Context, where string, args ...any) (*DeployKey, error) {
	k, err := scanDeployKey(s.r.QueryRowContext(ctx, `SELECT `+deployKeyColumns+deployKeyFrom+` WHERE `+where, args...))
	if err != nil {
		return nil, notFound(err, "deploy key")
	}
	return k, nil
}

// DeleteDeployKey removes one of a repository's deploy keys; ErrNotFound
// if the repository has no such key.
func (s *Store) DeleteDeployKey(ctx context.Context, repoID, id int64) error {
	return s.execOne(ctx, "delete deploy key", `DELETE FROM deploy_keys WHERE repo_id = ? AND id = ?`, repoID, id)
}
