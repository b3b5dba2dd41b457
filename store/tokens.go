package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
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

const tokenColumns = `t.id, t.user_id, t.name, t.token_hint, t.scopes, t.last_used_at, t.created_at`

// tokenRow receives tokenColumns; token finishes the Token from it.
type tokenRow struct {
	t      Token
	scopes string
	last   sql.NullTime
}

func (tr *tokenRow) dest() []any {
	return []any{&tr.t.ID, &tr.t.UserID, &tr.t.Name, &tr.t.Hint, &tr.scopes, &tr.last, &tr.t.CreatedAt}
}

func (tr *tokenRow) token() *Token {
	t := tr.t
	t.Scopes = splitScopes(tr.scopes)
	if tr.last.Valid {
		lu := tr.last.Time.UTC()
		t.LastUsedAt = &lu
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t
}

// TokenByPlaintext finds the token and its user, in one query: every
// authenticated request asks. The lookup is by SHA-256 hash.
func (s *Store) TokenByPlaintext(ctx context.Context, plain string) (*Token, *User, error) {
	var tr tokenRow
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`, `+tokenColumns+`
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`, HashToken(plain)), tr.dest()...)
	if err != nil {
		return nil, nil, notFound(err, "token")
	}
	return tr.token(), u, nil
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens t WHERE t.user_id = ? ORDER BY t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []*Token{}
	for rows.Next() {
		var tr tokenRow
		if err := rows.Scan(tr.dest()...); err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		out = append(out, tr.token())
	}
	return out, rows.Err()
}

// DeleteToken revokes one of user's tokens; ErrNotFound if it is not theirs.
func (s *Store) DeleteToken(ctx context.Context, userID, id int64) error {
	return s.execOne(ctx, "delete token", `DELETE FROM api_tokens WHERE id = ? AND user_id = ?`, id, userID)
}
