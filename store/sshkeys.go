package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrKeyInUse is returned when a public key is already on some account.
var ErrKeyInUse = fmt.Errorf("ssh key %w", ErrDuplicate)

// SSHKey is a user's public key; parsing and fingerprinting happen in the
// handler with golang.org/x/crypto/ssh.
type SSHKey struct {
	ID          int64
	UserID      int64
	Title       string
	KeyType     string
	PublicKey   string
	Fingerprint string
	CreatedAt   time.Time
}

// AddSSHKey stores a key; ErrKeyInUse when its fingerprint is already known.
func (s *Store) AddSSHKey(ctx context.Context, k SSHKey) (*SSHKey, error) {
	k.CreatedAt = Now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO ssh_keys(user_id, title, key_type, public_key, fingerprint, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, k.UserID, k.Title, k.KeyType, k.PublicKey, k.Fingerprint, k.CreatedAt)
	if err != nil {
		if keyInUse(err) {
			return nil, ErrKeyInUse
		}
		return nil, fmt.Errorf("add ssh key: %w", err)
	}
	k.ID, _ = res.LastInsertId()
	return &k, nil
}

// ListSSHKeys lists a user's keys, oldest first.
func (s *Store) ListSSHKeys(ctx context.Context, userID int64) ([]*SSHKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_id, title, key_type, public_key, fingerprint, created_at
		FROM ssh_keys WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list ssh keys: %w", err)
	}
	defer rows.Close()
	out := []*SSHKey{}
	for rows.Next() {
		k := &SSHKey{}
		if err := rows.Scan(&k.ID, &k.UserID, &k.Title, &k.KeyType, &k.PublicKey, &k.Fingerprint, &k.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan ssh key: %w", err)
		}
		k.CreatedAt = k.CreatedAt.UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteSSHKey removes one of user's keys; ErrNotFound if it is not theirs.
func (s *Store) DeleteSSHKey(ctx context.Context, userID, id int64) error {
	return s.execOne(ctx, "delete ssh key", `DELETE FROM ssh_keys WHERE id = ? AND user_id = ?`, id, userID)
}

// SSHKeyByFingerprint finds the user key with a SHA-256 fingerprint
// ("SHA256:..."), for the SSH server's authentication.
func (s *Store) SSHKeyByFingerprint(ctx context.Context, fingerprint string) (*SSHKey, error) {
	k := &SSHKey{}
	err := s.r.QueryRowContext(ctx, `SELECT id, user_id, title, key_type, public_key, fingerprint, created_at
		FROM ssh_keys WHERE fingerprint = ?`, fingerprint).
		Scan(&k.ID, &k.UserID, &k.Title, &k.KeyType, &k.PublicKey, &k.Fingerprint, &k.CreatedAt)
	if err != nil {
		return nil, notFound(err, "ssh key")
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// keyInUse reports whether an insert failed because the key's fingerprint
// is taken: by a key of the same kind (UNIQUE) or of the other kind (the
// triggers of migration 0013, which make a key one identity).
func keyInUse(err error) bool {
	var se *sqlite.Error
	return isUnique(err) || errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER
}
