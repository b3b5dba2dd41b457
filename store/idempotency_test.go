package store

import (
	"context"
	"testing"
	"time"
)

// A key's answer is replayed within the window, a running claim is not
// taken over until abandoned, and past the window the key is free again.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	age := func(key string, d time.Duration) {
		t.Helper()
		if _, err := s.w.ExecContext(ctx, `UPDATE idempotency_keys SET created_at = ? WHERE key = ?`, Now().Add(-d), key); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(step, key, fp string, wantClaimed bool) *IdempotentCall {
		t.Helper()
		prev, claimed, err := s.ClaimIdempotencyKey(ctx, "user:1", key, fp)
		if err != nil || claimed != wantClaimed || claimed == (prev != nil) {
			t.Fatalf("%s: prev %+v claimed %v (%v), want claimed %v", step, prev, claimed, err, wantClaimed)
		}
		return prev
	}

	claim("first", "k", "fp1", true)
	if prev := claim("while running", "k", "fp1", false); prev.Done {
		t.Fatalf("a running request reads as done: %+v", prev)
	}
	if err := s.FinishIdempotencyKey(ctx, "user:1", "k", 201, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if prev := claim("retry", "k", "fp1", false); !prev.Done || prev.Status != 201 || string(prev.Response) != "answer" || prev.Fingerprint != "fp1" {
		t.Fatalf("replay: %+v", prev)
	}
	if _, claimed, err := s.ClaimIdempotencyKey(ctx, "user:2", "k", "fp2"); err != nil || !claimed {
		t.Fatalf("another caller's same key: claimed %v (%v)", claimed, err)
	}
	age("k", IdempotencyWindow-time.Minute)
	claim("just within the window", "k", "fp1", false)
	age("k", IdempotencyWindow+time.Minute)
	claim("past the window", "k", "fp3", true)

	// A claim whose request died is taken over; a released one at once.
	claim("dying", "d", "fp", true)
	age("d", idempotencyAbandoned+time.Minute)
	claim("abandoned", "d", "fp", true)
	if err := s.ReleaseIdempotencyKey(ctx, "user:1", "d"); err != nil {
		t.Fatal(err)
	}
	claim("released", "d", "fp", true)
}
