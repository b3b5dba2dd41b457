// Package outbound makes the HTTP requests Tapioca sends to addresses its
// users choose (webhook receivers, and the deliveries and upstreams of
// the other dialects): every connection is checked against the core's
// network policy on the address actually dialled, after DNS, so neither
// a hostname nor a rebinding reaches a refused network.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"tapioca/handlers/core"
)

// Client is an HTTP client whose every connection is checked against the
// policy on the address dialled, that uses no proxy (a proxy would dial
// for it and bypass the check) and follows no redirects (a receiver
// could bounce it to another host).
func Client(p core.NetPolicy, timeout time.Duration, maxIdlePerHost int) *http.Client {
	dialer := guardedDialer(p, timeout)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   maxIdlePerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Dial returns a dial function for connections other than HTTP (SSH to
// an upstream) with the client's check: the policy applies to the
// address actually dialled, after DNS.
func Dial(p core.NetPolicy, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return guardedDialer(p, timeout).DialContext
}

func guardedDialer(p core.NetPolicy, timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		// ControlContext sees the address actually dialled, after DNS: a
		// hostname that resolves into a refused network is caught here,
		// including DNS rebinding between validation and delivery.
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("destination %q: %w", address, err)
			}
			return p.CheckAddrContext(ctx, ap.Addr())
		},
	}
}

// ErrRedirect marks a 3xx: redirects are never followed, so a receiver
// cannot bounce a request to another host.
var ErrRedirect = errors.New("redirect not followed")

// Sender POSTs bodies through a guarded client.
type Sender struct {
	policy  core.NetPolicy
	client  *http.Client
	timeout time.Duration
	keep    int64 // response body bytes kept
	drain   int64 // more bytes read (and dropped) so the connection can be reused
}

// NewSender returns a sender whose requests follow p, time out after
// timeout, and keep keep bytes of each response body.
func NewSender(p core.NetPolicy, timeout time.Duration, maxIdlePerHost int, keep int64) *Sender {
	return &Sender{policy: p, client: Client(p, timeout, maxIdlePerHost), timeout: timeout, keep: keep, drain: 1 << 20}
}

// Post sends body to url with headers and returns the status, the
// response headers (one value per name, joined) and the first part of the
// body. A 3xx comes back with ErrRedirect; a response whose body fails to
// read still counts by its status.
func (s *Sender) Post(ctx context.Context, url string, headers map[string]string, body []byte) (int, map[string]string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	var remote netip.Addr
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if ap, err := netip.ParseAddrPort(info.Conn.RemoteAddr().String()); err == nil {
				remote = ap.Addr()
			}
		},
	}))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if (resp.StatusCode < 200 || resp.StatusCode > 299) && remote.IsValid() && s.policy.Redacts(ctx, remote) {
		// An internal service that refused the request says nothing more
		// than its status: its headers and body could be what the
		// request was sent to read.
		err := fmt.Errorf("%s from an internal address; its headers and body are not kept", resp.Status)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			err = ErrRedirect
		}
		return resp.StatusCode, map[string]string{}, nil, err
	}
	kept, readErr := io.ReadAll(io.LimitReader(resp.Body, s.keep))
	if readErr == nil {
		// Drain a little more so the connection can be reused; a huge
		// response is cut off rather than read.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, s.drain))
	}
	h := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		h[k] = strings.Join(vs, ", ")
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		err = fmt.Errorf("%w (Location: %s)", ErrRedirect, resp.Header.Get("Location"))
	case readErr != nil:
		err = fmt.Errorf("read response: %w", readErr)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err = nil // the receiver accepted it; only the log is short
		}
	}
	return resp.StatusCode, h, kept, err
}
