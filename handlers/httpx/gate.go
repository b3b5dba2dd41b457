package httpx

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"tapioca/handlers/core"
)

// Gate is what every token-authenticated API dialect does before routing
// a request: resolve the bearer token to an actor and count the request
// against the hourly limit (per user, or per client address when
// anonymous), setting X-RateLimit-* on the answer. The dialects share one
// Gate, so a client's quota is the same whichever dialect it speaks.
type Gate struct {
	// Authenticate resolves a token (the accounts service).
	Authenticate func(ctx context.Context, token string) (core.Actor, error)
	// Limits returns the hourly limits in effect (authenticated,
	// anonymous).
	Limits  func() (auth, anon int)
	limiter *RateLimiter
}

// NewGate returns a gate with hourly windows.
func NewGate(auth func(ctx context.Context, token string) (core.Actor, error), limits func() (auth, anon int)) *Gate {
	return &Gate{Authenticate: auth, Limits: limits, limiter: NewRateLimiter(time.Hour)}
}

// Check authenticates r and counts it. It returns the actor (anonymous
// when no credentials were sent) or the error to answer with: a rate
// limit (429, Retry-After set), bad credentials (401) or a disabled
// account (403).
func (g *Gate) Check(w http.ResponseWriter, r *http.Request) (core.Actor, error) {
	a := core.Anonymous
	var authErr error
	if tok, sent := BearerToken(r); sent {
		a, authErr = g.Authenticate(r.Context(), tok)
	}
	authLimit, anonLimit := g.Limits()
	key, limit := "ip:"+ClientIP(r), anonLimit
	if a.User != nil {
		key, limit = "user:"+strconv.FormatInt(a.User.ID, 10), authLimit
	}
	ok, remaining, reset := g.limiter.Take(key, limit)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !ok {
		h.Set("Retry-After", strconv.Itoa(int(time.Until(reset).Seconds())+1))
		return core.Anonymous, &core.Error{Kind: core.ErrRateLimited, RetryAfter: time.Until(reset),
			Msg: "Rate limit exceeded. Retry after " + reset.UTC().Format(time.RFC3339) + "."}
	}
	if authErr != nil {
		return core.Anonymous, authErr
	}
	if a.User != nil {
		SetUser(r.Context(), a.User.Username)
	}
	return a, nil
}

// Refund gives back the request Check counted for a, and corrects the
// answer's X-RateLimit-Remaining: an answer that cost nothing (a 304 to
// a conditional request) does not count against the limit.
func (g *Gate) Refund(w http.ResponseWriter, r *http.Request, a core.Actor) {
	authLimit, anonLimit := g.Limits()
	key, limit := "ip:"+ClientIP(r), anonLimit
	if a.User != nil {
		key, limit = "user:"+strconv.FormatInt(a.User.ID, 10), authLimit
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(g.limiter.Refund(key, limit)))
}
