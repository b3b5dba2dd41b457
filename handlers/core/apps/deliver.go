package apps

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"tapioca/handlers/core"
	"tapioca/store"
)

// Delivery headers.
const (
	HeaderEvent     = "X-Docora-Event"
	HeaderDelivery  = "X-Docora-Delivery"
	HeaderSignature = "X-Docora-Signature"
	HeaderRepoID    = "X-Docora-Repository-Id"
)

// Sign is the X-Docora-Signature value: sha256=<hex HMAC-SHA256 of the
// exact body> with the app's secret, as webhooks are signed.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) wakeDeliverer() {
	select {
	case s.deliverWake <- struct{}{}:
	default:
	}
}

// Resume makes deliveries a dead process left in flight due again.
// There is one process per data directory, so at start-up every lease
// is a dead one.
func (s *Service) Resume(ctx context.Context) error {
	n, err := s.env.Store.ReleaseExpiredAppLeases(ctx, time.Now().AddDate(100, 0, 0), "interrupted: the server stopped during this attempt")
	if n > 0 {
		s.env.Log.Warn("resuming app deliveries interrupted by a stop", "count", n)
	}
	return err
}

// retryDelay is the wait after failed attempt n (1-based): doubling,
// ±20% jitter, at most an hour.
func (s *Service) retryDelay(n int) time.Duration {
	d := float64(s.cfg.RetryBase) * math.Pow(2, float64(max(n, 1)-1))
	d = min(d, float64(maxRetryDelay))
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// Deliverer sends the outbox until ctx ends: a dispatcher claims each
// repository's next due delivery, up to the number of free workers, and
// a worker goes on with its repository's next one while any is due.
// In-flight attempts are abandoned at shutdown and their leases given
// back without counting them.
func (s *Service) Deliverer(ctx context.Context) {
	lease := s.cfg.Timeout + time.Minute
	st := s.env.Store
	core.Dispatch(ctx, s.env.Log, core.Outbox[*store.ClaimedAppDelivery]{
		Name:    "app deliveries",
		Workers: s.cfg.Workers,
		Claim: func(ctx context.Context, now time.Time, n int) ([]*store.ClaimedAppDelivery, error) {
			return st.ClaimAppDeliveries(ctx, now, lease, n, 0)
		},
		NextDue: st.NextAppDeliveryDue,
		Deliver: func(ctx context.Context, c *store.ClaimedAppDelivery) (*store.ClaimedAppDelivery, bool) {
			next := s.deliver(ctx, c, lease)
			return next, next != nil
		},
		Sweep: func(ctx context.Context) {
			if n, err := st.ReleaseExpiredAppLeases(ctx, time.Now(), "interrupted: the attempt outlived its lease"); err != nil && ctx.Err() == nil {
				s.env.Log.Warn("app delivery lease sweep", "err", err)
			} else if n > 0 {
				s.env.Log.Warn("released stuck app deliveries", "count", n)
			}
		},
		Wake:  s.deliverWake,
		Woken: s.wakeDeliverer,
	})
}

// deliver makes one attempt and records it; after a success it claims
// the same repository's next delivery in the same transaction and
// returns it (nil when none is due or the worker is stopping).
func (s *Service) deliver(ctx context.Context, c *store.ClaimedAppDelivery, lease time.Duration) *store.ClaimedAppDelivery {
	st, log := s.env.Store, s.env.Log
	bg := context.WithoutCancel(ctx)
	release := func() {
		if err := st.ReleaseAppLease(bg, c.ID, c.LeaseToken); err != nil {
			log.Warn("app delivery: release lease", "delivery", c.ID, "err", err)
		}
	}
	w, err := st.WatchByID(ctx, c.WatchID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // unwatched: its deliveries went with it
	}
	var app *store.App
	if err == nil {
		app, err = st.AppByID(ctx, w.AppID)
	}
	if err != nil {
		log.Warn("app delivery: load", "delivery", c.ID, "err", err)
		release()
		return nil
	}
	secret, err := s.env.Secrets.Open(app.Secret)
	if err != nil {
		log.Error("app delivery: open the app's secret", "app", app.ID, "err", err)
		release()
		return nil
	}
	headers := map[string]string{
		"Content-Type":  "application/json",
		"User-Agent":    s.cfg.UserAgent,
		HeaderEvent:     "file." + c.Event,
		HeaderDelivery:  c.GUID,
		HeaderRepoID:    w.PublicID,
		HeaderSignature: Sign(secret, c.Body),
	}
	status, _, _, sendErr := s.sender.Post(ctx, app.URL, headers, c.Body)
	if ctx.Err() != nil {
		release() // shutting down: the attempt does not count
		return nil
	}
	res := store.AppAttemptResult{DeliveryID: c.ID, WatchID: c.WatchID, LeaseToken: c.LeaseToken, StatusCode: status,
		Succeeded: sendErr == nil && status >= 200 && status < 300, BreakerAfter: s.cfg.BreakerAfter}
	switch {
	case sendErr != nil:
		res.Error = sendErr.Error()
	case !res.Succeeded:
		res.Error = "the app answered " + strconv.Itoa(status)
	}
	if !res.Succeeded {
		res.RetryAt = time.Now().Add(s.retryDelay(c.Attempts))
	}
	var next []*store.ClaimedAppDelivery
	var opened bool
	err = st.Tx(bg, func(tx *store.Store) error {
		var err error
		if opened, err = tx.FinishAppAttempt(bg, res); err != nil {
			return err
		}
		if !res.Succeeded || ctx.Err() != nil {
			return nil
		}
		next, err = tx.ClaimAppDeliveries(bg, time.Now(), lease, 1, c.WatchID)
		return err
	})
	if err != nil {
		log.Warn("app delivery: record attempt", "delivery", c.ID, "err", err)
		return nil
	}
	if !res.Succeeded {
		log.Info("app delivery failed", "delivery", c.ID, "repository", w.PublicID, "attempt", c.Attempts, "err", res.Error)
	}
	if opened {
		log.Warn("app deliveries paused: circuit breaker open", "repository", w.PublicID, "app", app.Name,
			"failures", fmt.Sprint(s.cfg.BreakerAfter))
	}
	if len(next) == 0 {
		return nil
	}
	return next[0]
}

// Prune deletes delivered deliveries older than the retention: the
// app-delivery-cleanup job.
func (s *Service) Prune(ctx context.Context) (string, error) {
	n, err := s.env.Store.PruneAppDeliveries(ctx, time.Now().Add(-s.cfg.Retention))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Deleted %d delivered app %s older than %s", n, map[bool]string{true: "delivery", false: "deliveries"}[n == 1],
		s.cfg.Retention), nil
}
