package webhooks

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"tapioca/handlers/core"
	"tapioca/store"
)

// Delivery defaults (Config fields left zero take these).
const (
	DefaultTimeout     = 10 * time.Second
	DefaultRetryBase   = time.Minute // retries after ~1m, 3m, 9m, 27m, 81m, 4h, 12h: 8 attempts over about a day
	DefaultMaxAttempts = 8
	DefaultWorkers     = 8

	retryFactor   = 3
	maxRetryDelay = 12 * time.Hour
	// ResponseKept is how much of a receiver's response body the log
	// keeps.
	ResponseKept = 64 << 10
)

// Config tunes delivery.
type Config struct {
	Timeout     time.Duration // per attempt
	RetryBase   time.Duration // first retry delay, ×3 per attempt, ±20% jitter
	MaxAttempts int
	Workers     int // deliveries in flight at once; half of them at most to one hook
	UserAgent   string
}

// Sender makes the HTTP request of an attempt (handlers/outbound, with
// the network policy applied on the address dialled).
type Sender interface {
	Post(ctx context.Context, url string, headers map[string]string, body []byte) (status int, respHeaders map[string]string, respBody []byte, err error)
}

// Deliverer is the webhook delivery worker pool.
type Deliverer struct {
	env    *core.Env
	sender Sender
	cfg    Config
	wake   chan struct{} // capacity 1: a pending wake-up is never lost, extra ones merge
}

// NewDeliverer returns the worker pool; Run runs it.
func NewDeliverer(env *core.Env, sender Sender, cfg Config) *Deliverer {
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.RetryBase = cmp.Or(cfg.RetryBase, DefaultRetryBase)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	return &Deliverer{env: env, sender: sender, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Timeout is the per-attempt timeout in effect.
func (d *Deliverer) Timeout() time.Duration { return d.cfg.Timeout }

// Resume makes deliveries whose attempt a dead process left in flight
// due again, logging those attempts as interrupted. There is one process
// per data directory, so at start-up every lease still held was held by
// a process that died.
func (d *Deliverer) Resume(ctx context.Context) error {
	n, err := d.env.Store.ReleaseExpiredLeases(ctx, time.Now().AddDate(100, 0, 0), "interrupted: the server stopped during this attempt")
	if err != nil {
		return err
	}
	if n > 0 {
		d.env.Log.Warn("resuming webhook deliveries interrupted by a crash", "count", n)
	}
	return nil
}

// perHook is how many deliveries of one hook may be in flight at once:
// half the workers, so a slow receiver leaves the rest to other hooks.
func (d *Deliverer) perHook() int { return max(1, d.cfg.Workers/2) }

// retryDelay is the wait after failed attempt n (1-based): exponential
// with ±20% jitter so that many deliveries failing together do not retry
// in lockstep.
func (d *Deliverer) retryDelay(n int) time.Duration {
	delay := float64(d.cfg.RetryBase) * math.Pow(retryFactor, float64(max(n, 1)-1))
	delay = min(delay, float64(maxRetryDelay))
	return time.Duration(delay * (0.8 + 0.4*rand.Float64()))
}

// Sign is the X-CodeBoba-Signature value: sha256=<hex HMAC-SHA256 of the
// exact body>, as the seed's verification code expects.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Wake tells the dispatcher to look for due deliveries now.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run is the worker pool: one dispatcher that claims due deliveries
// (with a lease in SQL) up to the number of free workers and sleeps until
// woken by a new delivery, a finished worker, or the next retry time. It
// stops with ctx; in-flight attempts are abandoned and their leases
// released without counting them.
func (d *Deliverer) Run(ctx context.Context) {
	lease := d.cfg.Timeout + time.Minute
	core.Dispatch(ctx, d.env.Log, core.Outbox[*store.ClaimedDelivery]{
		Name:    "webhook deliveries",
		Workers: d.cfg.Workers,
		Claim: func(ctx context.Context, now time.Time, n int) ([]*store.ClaimedDelivery, error) {
			return d.env.Store.ClaimDeliveries(ctx, now, lease, n, d.perHook())
		},
		NextDue: d.env.Store.NextDeliveryDue,
		Deliver: func(ctx context.Context, c *store.ClaimedDelivery) (*store.ClaimedDelivery, bool) {
			next := d.deliver(ctx, c, lease)
			return next, next != nil
		},
		Sweep: func(ctx context.Context) {
			if _, err := d.ReleaseStuck(ctx); err != nil && ctx.Err() == nil {
				d.env.Log.Warn("webhook lease sweep", "err", err)
			}
		},
		Wake:  d.wake,
		Woken: d.Wake,
	})
}

// ReleaseStuck frees leases that expired (a worker hung or the process
// died mid-attempt) so those deliveries are retried.
func (d *Deliverer) ReleaseStuck(ctx context.Context) (int, error) {
	n, err := d.env.Store.ReleaseExpiredLeases(ctx, time.Now(), "interrupted: the attempt outlived its lease")
	if n > 0 {
		d.env.Log.Warn("released stuck webhook deliveries", "count", n)
		d.Wake()
	}
	return n, err
}

// deliver makes one attempt of a claimed delivery and records it. In the
// same transaction it claims the next due delivery, which it returns (nil
// when none is due or the pool is stopping): one write per delivery
// instead of two keeps the single writer free for the API.
func (d *Deliverer) deliver(ctx context.Context, c *store.ClaimedDelivery, lease time.Duration) *store.ClaimedDelivery {
	st := d.env.Store
	log := d.env.Log
	bg := context.WithoutCancel(ctx)
	hook, err := st.WebhookByID(ctx, c.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the hook was deleted, and its deliveries with it
	}
	if err != nil {
		log.Warn("webhook delivery: load hook", "delivery", c.ID, "err", err)
		if err := st.ReleaseLease(bg, c.ID, c.LeaseToken); err != nil {
			log.Warn("webhook delivery: release lease", "delivery", c.ID, "err", err)
		}
		return nil
	}
	headers := map[string]string{
		"Content-Type":        c.ContentType,
		"User-Agent":          d.cfg.UserAgent,
		"X-CodeBoba-Event":    c.Event,
		"X-CodeBoba-Delivery": c.GUID,
		"X-CodeBoba-Hook-ID":  strconv.FormatInt(hook.ID, 10),
	}
	secret, err := d.env.Secrets.Open(hook.Secret)
	if err != nil {
		log.Error("webhook delivery: open secret", "hook", hook.ID, "err", err)
	}
	if secret != "" {
		headers["X-CodeBoba-Signature"] = Sign(secret, c.Body)
	}
	sendCtx := ctx
	if hook.AllowLoopback {
		sendCtx = core.AllowLoopbackFor(ctx)
	}
	start := time.Now()
	status, respHeaders, respBody, sendErr := d.sender.Post(sendCtx, hook.URL, headers, c.Body)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		// Shutting down: the attempt did not really happen; give it back.
		if err := st.ReleaseLease(bg, c.ID, c.LeaseToken); err != nil {
			log.Warn("webhook delivery: release lease", "delivery", c.ID, "err", err)
		}
		return nil
	}
	res := store.AttemptResult{
		DeliveryID: c.ID, LeaseToken: c.LeaseToken, Attempt: c.Attempts, URL: hook.URL,
		RequestHeaders: headers, StatusCode: status, ResponseHeaders: respHeaders, ResponseBody: respBody,
		Duration: elapsed, StartedAt: start,
		Succeeded: sendErr == nil && status >= 200 && status < 300,
	}
	if sendErr != nil {
		res.Error = sendErr.Error()
	}
	if !res.Succeeded && c.Attempts < d.cfg.MaxAttempts {
		res.RetryAt = time.Now().Add(d.retryDelay(c.Attempts))
	}
	var next []*store.ClaimedDelivery
	err = st.Tx(bg, func(tx *store.Store) error {
		if err := tx.FinishAttempt(bg, res); err != nil {
			if !errors.Is(err, store.ErrLeaseLost) {
				return err
			}
			// Keep the attempt's log line; the delivery is another
			// worker's now.
			log.Warn("webhook delivery: lease lost", "delivery", c.ID)
		}
		if ctx.Err() != nil {
			return nil
		}
		var err error
		next, err = tx.ClaimDeliveries(bg, time.Now(), lease, 1, d.perHook())
		return err
	})
	if err != nil {
		log.Warn("webhook delivery: record attempt", "delivery", c.ID, "err", err)
		next = nil
	}
	if !res.Succeeded {
		log.Info("webhook delivery failed", "delivery", c.ID, "hook", hook.ID, "attempt", c.Attempts,
			"status", status, "err", res.Error, "retry", !res.RetryAt.IsZero())
	}
	if len(next) == 0 {
		return nil
	}
	return next[0]
}
