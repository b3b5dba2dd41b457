package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IdempotencyWindow is how long a kept answer is replayed.
const IdempotencyWindow = 24 * time.Hour

// idempotencyAbandoned is how long a claim may stay unfinished before a
// retry takes it over: the request that made it died with its process.
const idempotencyAbandoned = 10 * time.Minute

// IdempotentCall is what is kept under an Idempotency-Key.
type IdempotentCall struct {
	Fingerprint string
	// Done is false while the first request still runs; then Status and
	// Response are its answer.
	Done     bool
	Status   int
	Response []byte
}

// ClaimIdempotencyKey claims key for a request with fingerprint: claimed
// is true when this request is the first (it must Finish or Release the
// claim); otherwise prev is what the key holds (a finished answer, or a
// request still running). Keys older than the window are forgotten.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, scope, key, fingerprint string) (prev *IdempotentCall, claimed bool, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		now := Now()
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, now.Add(-IdempotencyWindow)); err != nil {
			return fmt.Errorf("expire idempotency keys: %w", err)
		}
		var status sql.NullInt64
		var created time.Time
		c := &IdempotentCall{}
		err := tx.r.QueryRowContext(ctx, `SELECT fingerprint, status, response, created_at FROM idempotency_keys WHERE scope = ? AND key = ?`,
			scope, key).Scan(&c.Fingerprint, &status, &c.Response, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read idempotency key: %w", err)
		case !status.Valid && now.Sub(created.UTC()) > idempotencyAbandoned:
			// Abandoned: claim it afresh below.
		default:
			c.Done, c.Status = status.Valid, int(status.Int64)
			prev = c
			return nil
		}
		if _, err := tx.w.ExecContext(ctx, `INSERT INTO idempotency_keys(scope, key, fingerprint, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, response = NULL, created_at = excluded.created_at`,
			scope, key, fingerprint, now); err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		claimed = true
		return nil
	})
	return prev, claimed, err
}

// FinishIdempotencyKey keeps the answer of the request that claimed key.
func (s *Store) FinishIdempotencyKey(ctx context.Context, scope, key string, status int, response []byte) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, response = ? WHERE scope = ? AND key = ?`,
		status, response, scope, key); err != nil {
		return fmt.Errorf("keep idempotent answer: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a claim whose request produced no answer
// worth replaying (a server error): a retry runs again.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL`, scope, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
