package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/idempotency"
)

// TestRule walks one key through the rule: claimed, refused while
// running, replayed once answered (sealed at rest), refused for another
// request, released after a server error; keys are per caller, and an
// overlong key is refused before anything is kept.
func TestRule(t *testing.T) {
	f := coretest.New(t)
	s := idempotency.New(f.Env)
	ctx := context.Background()
	alice, bob := f.User(t, "alice"), f.User(t, "bob")

	if _, _, err := s.Begin(ctx, alice, "", strings.Repeat("k", idempotency.MaxKey+1), "fp"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("overlong key: %v", err)
	}
	claim, replay, err := s.Begin(ctx, alice, "", "k1", "fp")
	if err != nil || claim == nil || replay != nil {
		t.Fatalf("first: %v %v %v", claim, replay, err)
	}
	if _, _, err := s.Begin(ctx, alice, "", "k1", "fp"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("while running: %v", err)
	}
	claim.Finish(ctx, idempotency.Answer{Status: 201, Headers: map[string]string{"Location": "/x"}, Body: []byte(`{"id":1}`)})
	_, replay, err = s.Begin(ctx, alice, "", "k1", "fp")
	if err != nil || replay == nil || replay.Status != 201 || replay.Headers["Location"] != "/x" || string(replay.Body) != `{"id":1}` {
		t.Fatalf("replay: %+v %v", replay, err)
	}
	if _, _, err := s.Begin(ctx, alice, "", "k1", "other"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("another request: %v", err)
	}
	// Another caller's same key is theirs; an anonymous caller's is its
	// address's.
	if c, _, err := s.Begin(ctx, bob, "", "k1", "fp"); err != nil || c == nil {
		t.Fatalf("another caller: %v %v", c, err)
	}
	if c, _, err := s.Begin(ctx, core.Anonymous, "192.0.2.1", "k1", "fp"); err != nil || c == nil {
		t.Fatalf("anonymous: %v %v", c, err)
	}
	// A server error is not kept: the retry runs.
	claim, _, _ = s.Begin(ctx, alice, "", "k2", "fp")
	claim.Finish(ctx, idempotency.Answer{Status: 503})
	if c, _, err := s.Begin(ctx, alice, "", "k2", "fp"); err != nil || c == nil {
		t.Fatalf("after a server error: %v %v", c, err)
	}
}
