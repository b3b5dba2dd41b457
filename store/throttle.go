package store

import (
	"context"
	"fmt"
	"time"
)

// LoginFailures returns the times of the failures recorded under key
// since since, oldest first, and forgets older ones.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) ([]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at FROM login_failures WHERE key = ? AND at >= ? ORDER BY at`, key, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("read login failures: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("scan login failure: %w", err)
		}
		out = append(out, at.UTC())
	}
	return out, rows.Err()
}

// RecordLoginFailure records a failure at at under every key, and drops
// failures older than before (the window), so the table stays small.
func (s *Store) RecordLoginFailure(ctx context.Context, keys []string, at, before time.Time) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, before.UTC()); err != nil {
			return fmt.Errorf("prune login failures: %w", err)
		}
		for _, k := range keys {
			if _, err := tx.w.ExecContext(ctx, `INSERT INTO login_failures(key, at) VALUES (?, ?)`, k, at.UTC()); err != nil {
				return fmt.Errorf("record login failure: %w", err)
			}
		}
		return nil
	})
}

// ClearLoginFailures forgets the failures under keys.
func (s *Store) ClearLoginFailures(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, k); err != nil {
			return fmt.Errorf("clear login failures: %w", err)
		}
	}
	return nil
}

// RememberLoginAddress records that userID signed in from addr.
func (s *Store) RememberLoginAddress(ctx context.Context, userID int64, addr string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO login_known_addresses(user_id, addr, last_seen) VALUES (?, ?, ?)
		ON CONFLICT(user_id, addr) DO UPDATE SET last_seen = excluded.last_seen`, userID, addr, Now())
	if err != nil {
		return fmt.Errorf("remember login address: %w", err)
	}
	return nil
}

// KnownLoginAddress reports whether userID has signed in from addr.
func (s *Store) KnownLoginAddress(ctx context.Context, userID int64, addr string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM login_known_addresses WHERE user_id = ? AND addr = ?`, userID, addr).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("known login address: %w", err)
	}
	return n > 0, nil
}
