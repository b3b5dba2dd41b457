package accounts

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"tapioca/store"
)

// Sign-in throttling, shared by the API's login and the dashboard's
// sign-in, kept in the database so a restart does not reset it.
// Failures count per client address (a hard limit: one address cannot
// guess forever), per account (a growing delay: every failure past the
// first few doubles the wait before the account takes another attempt
// from an address it does not know) and per account and address. The
// account's own addresses (where it signed in before) are not held up by
// failures elsewhere, so guessing at an account cannot lock its owner
// out.
const (
	throttleWindow        = 15 * time.Minute
	throttleFreeFailures  = 5                // failures before an account's delay starts
	throttleFirstDelay    = 30 * time.Second // the delay after throttleFreeFailures, doubling after each further one
	throttleMaxPerAddress = 20
)

// throttleKeys names what a sign-in counts against.
type throttleKeys struct {
	account, address, pair string
}

func keysFor(account *store.User, login, addr string) throttleKeys {
	acct := "acct:" + strings.ToLower(login)
	if account != nil {
		acct = "acct#" + strconv.FormatInt(account.ID, 10)
	}
	return throttleKeys{account: acct, address: "ip:" + addr, pair: acct + "|ip:" + addr}
}

// accountDelay is how long an account waits after n failures in the
// window before its next attempt: nothing for the first few, then
// doubling, never past the window.
func accountDelay(n int) time.Duration {
	if n < throttleFreeFailures {
		return 0
	}
	d := float64(throttleFirstDelay) * math.Pow(2, float64(n-throttleFreeFailures))
	return time.Duration(min(d, float64(throttleWindow)))
}

// wait is how long a sign-in must wait now; 0 lets it through.
func (s *Service) wait(ctx context.Context, account *store.User, k throttleKeys, now time.Time) (time.Duration, error) {
	since := now.Add(-throttleWindow)
	var wait time.Duration
	addr, err := s.env.Store.LoginFailures(ctx, k.address, since)
	if err != nil {
		return 0, err
	}
	if len(addr) >= throttleMaxPerAddress {
		// Free again when enough of the failures have aged out.
		wait = addr[len(addr)-throttleMaxPerAddress].Add(throttleWindow).Sub(now)
	}
	// From one of the account's own addresses only that address's own
	// failures count; from anywhere else, the account's.
	key := k.account
	if account != nil {
		known, err := s.env.Store.KnownLoginAddress(ctx, account.ID, strings.TrimPrefix(k.address, "ip:"))
		if err != nil {
			return 0, err
		}
		if known {
			key = k.pair
		}
	}
	fails, err := s.env.Store.LoginFailures(ctx, key, since)
	if err != nil {
		return 0, err
	}
	if d := accountDelay(len(fails)); d > 0 {
		wait = max(wait, fails[len(fails)-1].Add(d).Sub(now))
	}
	return max(wait, 0), nil
}

// failed records a failed sign-in.
func (s *Service) failed(ctx context.Context, k throttleKeys, now time.Time) {
	if err := s.env.Store.RecordLoginFailure(context.WithoutCancel(ctx), []string{k.account, k.address, k.pair}, now, now.Add(-throttleWindow)); err != nil {
		s.env.Log.WarnContext(ctx, "record sign-in failure", "err", err)
	}
}

// succeeded forgets this address's failures on the account, remembers
// the address and records the sign-in (the dashboard shows it). The
// account's failures from elsewhere stay until they age out: the owner
// signing in must not hand a guesser fresh tries.
func (s *Service) succeeded(ctx context.Context, u *store.User, k throttleKeys, addr string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.env.Store.RecordSignIn(ctx, u.ID, time.Now()); err != nil {
		s.env.Log.WarnContext(ctx, "record sign-in", "err", err)
	}
	if err := s.env.Store.ClearLoginFailures(ctx, k.pair); err != nil {
		s.env.Log.WarnContext(ctx, "clear sign-in failures", "err", err)
	}
	if err := s.env.Store.RememberLoginAddress(ctx, u.ID, addr); err != nil {
		s.env.Log.WarnContext(ctx, "remember sign-in address", "err", err)
	}
}
