package handlers_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"tapioca/handlers"
)

// TestSlowBodiesAndConnectionCap: a body that trickles in loses its
// connection once it falls behind the minimum rate, and one client
// address cannot hold more than its share of connections; the server
// keeps answering everyone else.
func TestSlowBodiesAndConnectionCap(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(c *handlers.Config) {
		c.MaxConnsPerAddr = 4
		c.BodyGrace = time.Second
		c.BodyMinRate = 1024
	})
	addr := strings.TrimPrefix(srv.URL, "http://")
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// A slow body: headers promptly, then a byte every 300 ms.
	slow := dialFrom("127.0.0.4")
	defer slow.Close()
	fmt.Fprintf(slow, "POST /api/v1/users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n", addr)
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		for i := 0; ; i++ {
			if _, err := slow.Write([]byte(" ")); err != nil {
				cut <- time.Since(start)
				return
			}
			time.Sleep(300 * time.Millisecond)
			if i > 200 {
				cut <- 0
				return
			}
		}
	}()
	// The server gives up on the body and closes the connection.
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(slow); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the slow body's connection was never closed: %v", err)
	}
	if d := <-cut; d == 0 {
		t.Fatal("the trickling writer was never refused")
	}

	// Four idle connections from one address are all it may hold.
	var held []net.Conn
	for range 4 {
		held = append(held, dialFrom("127.0.0.5"))
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	extra := dialFrom("127.0.0.5")
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(extra, "GET /v1/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	if b, err := io.ReadAll(extra); err == nil && len(b) > 0 {
		t.Fatalf("a fifth connection from the same address was served: %q", b)
	}
	// Everyone else is served meanwhile.
	c := fromAddr("127.0.0.6")
	resp, err := c.Get(srv.URL + "/v1/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %v %v", resp, err)
	}
	resp.Body.Close()
	// Closing the held connections frees the address's share.
	for _, c := range held {
		c.Close()
	}
	held = nil
	time.Sleep(100 * time.Millisecond)
	resp, err = fromAddr("127.0.0.5").Get(srv.URL + "/v1/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after closing: %v %v", resp, err)
	}
	resp.Body.Close()
}
