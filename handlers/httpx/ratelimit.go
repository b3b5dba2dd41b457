package httpx

import (
	"sync"
	"time"
)

// RateLimiter counts requests per key in fixed windows aligned to the
// clock hour, so every client's window resets at the same, predictable
// time that X-RateLimit-Reset announces.
type RateLimiter struct {
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

// NewRateLimiter returns a limiter with windows of the given length.
func NewRateLimiter(window time.Duration) *RateLimiter {
	return &RateLimiter{window: window, now: time.Now, counts: map[string]int{}}
}

// Take counts one request for key against limit and reports whether it is
// allowed, how many remain and when the window resets.
func (l *RateLimiter) Take(key string, limit int) (ok bool, remaining int, reset time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	start := now.Truncate(l.window)
	if !start.Equal(l.start) {
		// A new window: every count starts over, which also frees the
		// memory of clients seen only in the old one.
		l.start = start
		l.counts = map[string]int{}
	}
	reset = start.Add(l.window)
	used := l.counts[key]
	if used >= limit {
		return false, 0, reset
	}
	used++
	l.counts[key] = used
	return true, limit - used, reset
}

// Refund gives back one request counted for key in the current window:
// an answer that cost nothing (a 304 to a conditional request) does not
// count against the limit. It returns how many remain now.
func (l *RateLimiter) Refund(key string, limit int) (remaining int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.now().Truncate(l.window).Equal(l.start) {
		return limit // the window it was counted in is over
	}
	if l.counts[key] > 0 {
		l.counts[key]--
	}
	return max(0, limit-l.counts[key])
}
