package handlers

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tapioca/store"
)

// Webhook delivery defaults (Config fields left zero take these).
const (
	defaultWebhookTimeout     = 10 * time.Second
	defaultWebhookRetryBase   = time.Minute // retries after ~1m, 3m, 9m, 27m, 81m, 4h, 12h: 8 attempts over about a day
	defaultWebhookMaxAttempts = 8
	defaultWebhookWorkers     = 8

	webhookRetryFactor   = 3
	webhookMaxRetryDelay = 12 * time.Hour
	// webhookResponseKept is how much of a receiver's response body the
	// log keeps; the rest is read (up to webhookResponseDrain) and dropped.
	webhookResponseKept  = 64 << 10
	webhookResponseDrain = 1 << 20
	// webhookPoll is the longest the dispatcher sleeps without a wake-up:
	// a safety net for deliveries queued by code that does not wake it.
	webhookPoll = 5 * time.Second
	// webhookLeaseSweep is how often the dispatcher frees leases of
	// attempts that outlived their lease (the scheduled sweep does too).
	webhookLeaseSweep = time.Minute
)

// webhookDeliverer is the state of webhook delivery in one App: the
// wake-up channel, the guarded HTTP client and the network policy.
type webhookDeliverer struct {
	wake         chan struct{} // capacity 1: a pending wake-up is never lost, extra ones merge
	client       *http.Client
	allowed      []netip.Prefix // empty = any destination
	denyLoopback bool
	timeout      time.Duration
	retryBase    time.Duration
	maxAttempts  int
	workers      int
	userAgent    string
}

// errRedirect marks a 3xx: receivers get no redirects followed, so a hook
// cannot be bounced to another host.
var errRedirect = errors.New("redirect not followed")

func newWebhookDeliverer(cfg Config) (*webhookDeliverer, error) {
	d := &webhookDeliverer{
		wake:         make(chan struct{}, 1),
		denyLoopback: cfg.WebhookDenyLoopback,
		timeout:      cmp.Or(cfg.WebhookTimeout, defaultWebhookTimeout),
		retryBase:    cmp.Or(cfg.WebhookRetryBase, defaultWebhookRetryBase),
		maxAttempts:  cmp.Or(cfg.WebhookMaxAttempts, defaultWebhookMaxAttempts),
		workers:      cmp.Or(cfg.WebhookWorkers, defaultWebhookWorkers),
		userAgent:    "Tapioca-Hookshot/" + cfg.Version,
	}
	for _, s := range cfg.WebhookAllowedNetworks {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			p, err := parseNetwork(f)
			if err != nil {
				return nil, fmt.Errorf("webhook allowed networks: %w", err)
			}
			d.allowed = append(d.allowed, p)
		}
	}
	dialer := &net.Dialer{
		Timeout: d.timeout,
		// Control sees the address actually dialled, after DNS: a hostname
		// that resolves into a refused network is caught here, including
		// DNS rebinding between validation and delivery.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook destination %q: %w", address, err)
			}
			return d.checkAddr(ap.Addr())
		},
	}
	d.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us and bypass the address check
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   d.workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   d.timeout,
			ResponseHeaderTimeout: d.timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

// parseNetwork reads a CIDR or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR network or an IP address", s)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// checkAddr applies the network policy to one destination address.
func (d *webhookDeliverer) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if d.denyLoopback && (ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()) {
		return fmt.Errorf("destination %s is refused: loopback and link-local addresses are not allowed", ip)
	}
	if len(d.allowed) == 0 {
		return nil
	}
	for _, p := range d.allowed {
		if p.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("destination %s is not in the allowed webhook networks", ip)
}

// perHook is how many deliveries of one hook may be in flight at once:
// half the workers, so a slow receiver leaves the rest to other hooks.
func (d *webhookDeliverer) perHook() int { return max(1, d.workers/2) }

// retryDelay is the wait after failed attempt n (1-based): exponential
// with ±20% jitter so that many deliveries failing together do not retry
// in lockstep.
func (d *webhookDeliverer) retryDelay(n int) time.Duration {
	delay := float64(d.retryBase) * math.Pow(webhookRetryFactor, float64(max(n, 1)-1))
	delay = min(delay, float64(webhookMaxRetryDelay))
	return time.Duration(delay * (0.8 + 0.4*rand.Float64()))
}

// signBody is the X-CodeBoba-Signature value: sha256=<hex HMAC-SHA256 of
// the exact body>, as the seed's verification code expects.
func signBody(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// wakeDeliveries tells the dispatcher to look for due deliveries now.
func (a *App) wakeDeliveries() {
	if a.hooks == nil {
		return
	}
	select {
	case a.hooks.wake <- struct{}{}:
	default:
	}
}

// runDeliveries is the webhook worker pool: one dispatcher that claims
// due deliveries (with a lease in SQL) up to the number of free workers
// and sleeps until woken by a new delivery, a finished worker, or the
// next retry time. It stops with ctx; in-flight attempts are abandoned
// and their leases released without counting them.
func (a *App) runDeliveries(ctx context.Context) {
	d := a.hooks
	sem := make(chan struct{}, d.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastSweep time.Time
	lease := d.timeout + time.Minute
	for {
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastSweep) >= webhookLeaseSweep {
			lastSweep = time.Now()
			if _, err := a.releaseStuckDeliveries(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("webhook lease sweep", "err", err)
			}
		}
		wait := webhookPoll
		if free := d.workers - len(sem); free > 0 {
			now := time.Now()
			claimed, err := a.store.ClaimDeliveries(ctx, now, lease, free, d.perHook())
			if err != nil && ctx.Err() == nil {
				a.log.Warn("claim webhook deliveries", "err", err)
				wait = time.Second
			}
			for _, c := range claimed {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-sem
						a.wakeDeliveries()
					}()
					// A worker goes on with the delivery it claimed when
					// recording the last one, until none is due.
					for c != nil {
						c = a.deliver(ctx, c, lease)
					}
				})
			}
			if err == nil && len(claimed) < free {
				// Everything claimable is taken: sleep until the next one
				// is due (or a worker finishes and frees a hook's slot).
				due, ok, err := a.store.NextDeliveryDue(ctx, now)
				if err == nil && ok {
					wait = min(wait, max(time.Until(due), time.Millisecond))
				}
			}
		}
		timer.Reset(wait) // Go 1.23+ timers: Reset never delivers a stale tick
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// releaseStuckDeliveries frees leases that expired (a worker hung or the
// process died mid-attempt) so those deliveries are retried.
func (a *App) releaseStuckDeliveries(ctx context.Context) (int, error) {
	n, err := a.store.ReleaseExpiredLeases(ctx, time.Now(), "interrupted: the attempt outlived its lease")
	if n > 0 {
		a.log.Warn("released stuck webhook deliveries", "count", n)
		a.wakeDeliveries()
	}
	return n, err
}

// deliver makes one attempt of a claimed delivery and records it. In the
// same transaction it claims the next due delivery, which it returns (nil
// when none is due or the pool is stopping): one write per delivery
// instead of two keeps the single writer free for the API.
func (a *App) deliver(ctx context.Context, c *store.ClaimedDelivery, lease time.Duration) *store.ClaimedDelivery {
	d := a.hooks
	bg := context.WithoutCancel(ctx)
	hook, err := a.store.WebhookByID(ctx, c.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the hook was deleted, and its deliveries with it
	}
	if err != nil {
		a.log.Warn("webhook delivery: load hook", "delivery", c.ID, "err", err)
		if err := a.store.ReleaseLease(bg, c.ID, c.LeaseToken); err != nil {
			a.log.Warn("webhook delivery: release lease", "delivery", c.ID, "err", err)
		}
		return nil
	}
	headers := map[string]string{
		"Content-Type":        c.ContentType,
		"User-Agent":          d.userAgent,
		"X-CodeBoba-Event":    c.Event,
		"X-CodeBoba-Delivery": c.GUID,
		"X-CodeBoba-Hook-ID":  strconv.FormatInt(hook.ID, 10),
	}
	if hook.Secret != "" {
		headers["X-CodeBoba-Signature"] = signBody(hook.Secret, c.Body)
	}
	start := time.Now()
	status, respHeaders, respBody, sendErr := d.send(ctx, hook.URL, headers, c.Body)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		// Shutting down: the attempt did not really happen; give it back.
		if err := a.store.ReleaseLease(bg, c.ID, c.LeaseToken); err != nil {
			a.log.Warn("webhook delivery: release lease", "delivery", c.ID, "err", err)
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
	if !res.Succeeded && c.Attempts < d.maxAttempts {
		res.RetryAt = time.Now().Add(d.retryDelay(c.Attempts))
	}
	var next []*store.ClaimedDelivery
	err = a.store.Tx(bg, func(tx *store.Store) error {
		if err := tx.FinishAttempt(bg, res); err != nil {
			if !errors.Is(err, store.ErrLeaseLost) {
				return err
			}
			// Keep the attempt's log line; the delivery is another
			// worker's now.
			a.log.Warn("webhook delivery: lease lost", "delivery", c.ID)
		}
		if ctx.Err() != nil {
			return nil
		}
		var err error
		next, err = tx.ClaimDeliveries(bg, time.Now(), lease, 1, d.perHook())
		return err
	})
	if err != nil {
		a.log.Warn("webhook delivery: record attempt", "delivery", c.ID, "err", err)
		next = nil
	}
	if !res.Succeeded {
		a.log.Info("webhook delivery failed", "delivery", c.ID, "hook", hook.ID, "attempt", c.Attempts,
			"status", status, "err", res.Error, "retry", !res.RetryAt.IsZero())
	}
	if len(next) == 0 {
		return nil
	}
	return next[0]
}

// send POSTs body to url and returns the status, headers and the first
// webhookResponseKept bytes of the response. A 3xx comes back with
// errRedirect; a response whose body fails to read still counts by its
// status.
func (d *webhookDeliverer) send(ctx context.Context, url string, headers map[string]string, body []byte) (int, map[string]string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	kept, readErr := io.ReadAll(io.LimitReader(resp.Body, webhookResponseKept))
	if readErr == nil {
		// Drain a little more so the connection can be reused; a huge
		// response is cut off rather than read.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookResponseDrain))
	}
	h := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		h[k] = strings.Join(vs, ", ")
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		err = fmt.Errorf("%w (Location: %s)", errRedirect, resp.Header.Get("Location"))
	case readErr != nil:
		err = fmt.Errorf("read response: %w", readErr)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err = nil // the receiver accepted it; only the log is short
		}
	}
	return resp.StatusCode, h, kept, err
}
