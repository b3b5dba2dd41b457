// Package idempotency is the forge core's rule for writes a client may
// retry safely (an Idempotency-Key): one run per key and caller, the
// first answer replayed for the store's window, the same key with
// another request refused, a repeat while the first runs refused, and
// server errors not kept, so that a retry after one runs again. A door
// says what the request is (a fingerprint of its method, path and body)
// and what its answer was; kept answers are sealed at rest.
package idempotency

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"tapioca/handlers/core"
)

// MaxKey bounds a key (Stripe allows 255 characters).
const MaxKey = 255

// Answer is an answer as kept for replay.
type Answer struct {
	Status  int               `json:"-"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// Service keeps the keys.
type Service struct{ env *core.Env }

// New returns the idempotency service.
func New(env *core.Env) *Service { return &Service{env: env} }

// Claim is a key this request holds: Finish it with the answer.
type Claim struct {
	s          *Service
	scope, key string
}

// Begin takes key for a request of fingerprint by a (from addr when
// anonymous). It returns the claim to finish, or the answer to replay,
// or why the request must not run: an invalid key or one used for
// another request (422), or one whose first request still runs (409).
func (s *Service) Begin(ctx context.Context, a core.Actor, addr, key, fingerprint string) (*Claim, *Answer, error) {
	if len(key) > MaxKey || !utf8.ValidString(key) {
		return nil, nil, core.Invalid("Idempotency-Key", "must be at most 255 characters of text")
	}
	scope := "ip:" + addr
	if a.User != nil {
		scope = "user:" + strconv.FormatInt(a.User.ID, 10)
	}
	prev, claimed, err := s.env.Store.ClaimIdempotencyKey(ctx, scope, key, fingerprint)
	switch {
	case err != nil:
		return nil, nil, err
	case claimed:
		return &Claim{s: s, scope: scope, key: key}, nil, nil
	case prev.Fingerprint != fingerprint:
		return nil, nil, core.Invalid("Idempotency-Key",
			"was used for another request: a retry must repeat the method, path and body exactly (use a new key for a new request)")
	case !prev.Done:
		return nil, nil, core.Conflict("A request with this Idempotency-Key is still being processed; retry shortly")
	}
	plain, err := s.env.Secrets.Open(string(prev.Response))
	var kept Answer
	if err == nil {
		err = json.Unmarshal([]byte(plain), &kept)
	}
	if err != nil {
		return nil, nil, err
	}
	kept.Status = prev.Status
	return nil, &kept, nil
}

// Finish keeps the answer for replay; an answer not worth keeping (none,
// a server error, a rate limit) releases the key so that a retry runs
// again. Whatever happens, the key does not stay claimed.
func (c *Claim) Finish(ctx context.Context, ans Answer) {
	st, log := c.s.env.Store, c.s.env.Log
	if ans.Status == 0 || ans.Status >= 500 || ans.Status == http.StatusTooManyRequests {
		if err := st.ReleaseIdempotencyKey(ctx, c.scope, c.key); err != nil {
			log.WarnContext(ctx, "release idempotency key", "err", err)
		}
		return
	}
	plain, err := json.Marshal(ans)
	if err == nil {
		err = st.FinishIdempotencyKey(ctx, c.scope, c.key, ans.Status, []byte(c.s.env.Secrets.Seal(string(plain))))
	}
	if err != nil {
		log.WarnContext(ctx, "keep idempotent answer", "err", err)
		_ = st.ReleaseIdempotencyKey(ctx, c.scope, c.key)
	}
}
