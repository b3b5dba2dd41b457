package outbound_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/outbound"
)

// TestDialTimeCheck: a name that resolves to a refused address is caught
// on the address actually dialled; the receiver is never reached.
func TestDialTimeCheck(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	s := outbound.NewSender(core.NetPolicy{}, 5*time.Second, 1, 1024)
	_, _, _, err := s.Post(context.Background(), "http://localhost:"+port+"/", nil, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), "refused") || hits.Load() != 0 {
		t.Fatalf("err %v, receiver hit %d times", err, hits.Load())
	}
	// With a site administrator's allowance for the request, it goes.
	status, _, body, err := s.Post(core.AllowLoopbackFor(context.Background()), "http://localhost:"+port+"/", nil, []byte("{}"))
	if err != nil || status != 200 || hits.Load() != 1 || body == nil {
		t.Fatalf("allowed: %d %q %v", status, body, err)
	}
}

// TestInternalRefusalsKeepOnlyTheStatus: a non-2xx answer from a private
// address keeps its status line and nothing else. It needs a private
// address on this machine to listen on.
func TestInternalRefusalsKeepOnlyTheStatus(t *testing.T) {
	addr := privateAddr(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Secret", "router admin")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("the router's admin page"))
	})}}
	srv.Start()
	defer srv.Close()
	s := outbound.NewSender(core.NetPolicy{}, 5*time.Second, 1, 1024)
	status, headers, body, err := s.Post(context.Background(), srv.URL+"/", nil, []byte("{}"))
	if status != 401 || len(headers) != 0 || len(body) != 0 || err == nil || !strings.Contains(err.Error(), "internal address") {
		t.Fatalf("status %d headers %v body %q err %v", status, headers, body, err)
	}
}

func privateAddr(t *testing.T) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsPrivate() {
			return p.Addr()
		}
	}
	t.Skip("no private address on this machine")
	return netip.Addr{}
}

func TestRedacts(t *testing.T) {
	ctx := context.Background()
	var p core.NetPolicy
	for addr, want := range map[string]bool{
		"192.168.1.1": true, "10.0.0.1": true, "fd00::2": true, "100.64.0.1": true, "127.0.0.1": true,
		"203.0.113.5": false, "8.8.8.8": false,
	} {
		if got := p.Redacts(ctx, netip.MustParseAddr(addr)); got != want {
			t.Errorf("Redacts(%s) = %v", addr, got)
		}
	}
	if (core.NetPolicy{AllowLoopback: true}).Redacts(ctx, netip.MustParseAddr("127.0.0.1")) {
		t.Error("an allowed loopback answer was redacted")
	}
}
