package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Token scopes (SPEC §4). No scopes means full access.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeRepo  = "repo"
	ScopeAdmin = "admin"
)

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool {
	switch s {
	case ScopeRead, ScopeWrite, ScopeRepo, ScopeAdmin:
		return true
	}
	return false
}

// Token is an API token; the plaintext is never stored.
type Token struct {
	ID         int64
	UserID     int64
	Name       string
	Hint       string // first characters of the plaintext, for lists
	Scopes     []string
	LastUsedAt *time.Time
	CreatedAt  time.Time
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewTokenValue returns a fresh "cb_" + 40 lowercase alphanumerics from
// crypto/rand, without modulo bias.
func NewTokenValue() (string, error) {
	const n = 40
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("token randomness: %w", err)
		}
		for _, b := range buf {
			// 252 = 7*36: rejecting the top values keeps every character equally likely.
			if b < 252 && len(out) < n {
				out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			}
		}
	}
	return "cb_" + string(out), nil
}

// HashToken is how tokens are stored and looked up.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token for user and returns it with its plaintext,
// which is never available again.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, scopes []string) (*Token, string, error) {
	plain, err := NewTokenValue()
	if err != nil {
		return nil, "", err
	}
	now := Now()
	hint := plain[:7] + "..."
	res, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens(user_id, name, token_hash, token_hint, scopes, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, userID, name, HashToken(plain), hint, strings.Join(scopes, ","), now)
	if err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	id, _ := res.LastInsertId()
	return &Token{ID: id, UserID: userID, Name: name, Hint: hint, Scopes: normScopes(scopes), CreatedAt: now}, plain, nil
}

func normScopes(scopes []string) []string {
	if scopes == nil {
		return []string{}
	}
	return scopes
}

func splitScopes(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func scanToken(row scanner) (*Token, error) {
	t := &Token{}
	var scopes string
	var last sql.NullTime
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hint, &scopes, &last, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.Scopes = splitScopes(scopes)
	if last.Valid {
		lu := last.Time.UTC()
		t.LastUsedAt = &lu
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// TokenByPlaintext finds the token and its user. The lookup is by SHA-256
// hash; the final comparison is constant-time.
func (s *Store) TokenByPlaintext(ctx context.Context, plain string) (*Token, *User, error) {
	h := HashToken(plain)
	var stored string
	t := &Token{}
	var scopes string
	var last sql.NullTime
	err := s.r.QueryRowContext(ctx, `SELECT id, user_id, name, token_hint, scopes, last_used_at, created_at, token_hash
		FROM api_tokens WHERE token_hash = ?`, h).Scan(&t.ID, &t.UserID, &t.Name, &t.Hint, &scopes, &last, &t.CreatedAt, &stored)
	if err != nil {
		return nil, nil, notFound(err, "token")
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) != 1 {
		return nil, nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	t.Scopes = splitScopes(scopes)
	if last.Valid {
		lu := last.Time.UTC()
		t.LastUsedAt = &lu
	}
	u, err := s.UserByID(ctx, t.UserID)
	if err != nil {
		return nil, nil, err
	}
	return t, u, nil
}

// TouchToken records use of a token. Callers throttle it: one write a
// minute per token is plenty for last_used_at.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, at.UTC().Truncate(time.Second), id)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

// ListTokens lists a user's tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]*Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_id, name, token_hint, scopes, last_used_at, created_at
		FROM api_tokens WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []*Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes one of user's tokens; ErrNotFound if it is not theirs.
func (s *Store) DeleteToken(ctx context.Context, userID, id int64) error {
	return s.execOne(ctx, "delete token", `DELETE FROM api_tokens WHERE id = ? AND user_id = ?`, id, userID)
}
