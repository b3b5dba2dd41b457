package accounts

import (
	"sync"
	"time"
)

// Sign-in throttling: failures are counted per account and per client
// address over a sliding window. The per-address allowance is larger
// because several people may share one address behind a proxy.
const (
	throttleWindow        = 15 * time.Minute
	throttleMaxPerAccount = 5
	throttleMaxPerAddress = 20
	throttleMaxKeys       = 100_000 // bound on remembered keys: old entries go first
)

// throttle remembers recent sign-in failures in memory; a restart
// forgets them, which only gives an attacker one fresh window.
type throttle struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
}

func newThrottle() *throttle {
	return &throttle{fails: map[string][]time.Time{}, now: time.Now}
}

// recent drops failures older than the window and returns the rest.
func (t *throttle) recent(key string, now time.Time) []time.Time {
	l := t.fails[key]
	i := 0
	for i < len(l) && now.Sub(l[i]) >= throttleWindow {
		i++
	}
	l = l[i:]
	if len(l) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = l
	return l
}

// blocked reports whether any key is over its limit and, if so, for how
// long still.
func (t *throttle) blocked(limits map[string]int) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for key, limit := range limits {
		l := t.recent(key, now)
		if len(l) >= limit {
			// Free again when enough of the failures have aged out.
			wait = max(wait, l[len(l)-limit].Add(throttleWindow).Sub(now))
		}
	}
	return wait, wait > 0
}

func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.fails) >= throttleMaxKeys {
		for k := range t.fails {
			t.recent(k, now)
		}
	}
	for _, k := range keys {
		if _, ok := t.fails[k]; !ok && len(t.fails) >= throttleMaxKeys {
			continue
		}
		t.fails[k] = append(t.fails[k], now)
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}
