package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"tapioca/handlers"
)

// fromAddr is an HTTP client whose connections come from a given
// loopback address (127.0.0.2, ...), so one test can be several clients.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// apiLogin posts to /api/v1/tokens from c.
func apiLogin(t *testing.T, c *http.Client, base, login, password string) (int, http.Header) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"email": login, "password": password})
	resp, err := c.Post(base+"/api/v1/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// TestSignInThrottle: guessing passwords through the API is throttled
// like the dashboard (one throttle, both doors), the account's owner
// signing in from an address it knows is not locked out by guesses from
// elsewhere, and the throttle survives a restart.
func TestSignInThrottle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() (string, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ctx, cancel := context.WithCancel(context.Background())
		app, err := handlers.Open(ctx, handlers.Config{DataDir: dir, BaseURL: url, AdminPassword: testAdminPassword,
			RateLimitAnon: 1 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = app.Serve(ctx, ln) }()
		return url, func() { cancel(); <-done; app.Close() }
	}
	base, stop := open()
	owner, attacker := fromAddr("127.0.0.2"), fromAddr("127.0.0.3")
	// The owner signs in once from their usual address.
	if code, _ := apiLogin(t, owner, base, "admin", testAdminPassword); code != http.StatusCreated {
		t.Fatalf("owner's first sign-in: %d", code)
	}
	// Thirty guesses from elsewhere: a handful are tried, then 429s with
	// Retry-After, even for the right password.
	var codes []int
	for range 30 {
		code, h := apiLogin(t, attacker, base, "admin", "not-the-password")
		codes = append(codes, code)
		if code == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if codes[0] != http.StatusUnauthorized || codes[4] != http.StatusUnauthorized || codes[5] != http.StatusTooManyRequests || codes[29] != http.StatusTooManyRequests {
		t.Fatalf("guess answers %v", codes)
	}
	if code, _ := apiLogin(t, attacker, base, "admin", testAdminPassword); code != http.StatusTooManyRequests {
		t.Fatalf("the right password from the guessing address: %d", code)
	}
	// The same account on the dashboard, from the guessing address: held.
	if p := dashSignInFrom(t, attacker, base, "admin", testAdminPassword); p != http.StatusTooManyRequests {
		t.Fatalf("dashboard from the guessing address: %d", p)
	}
	// The owner, from their known address, gets in on both doors.
	if code, _ := apiLogin(t, owner, base, "admin", testAdminPassword); code != http.StatusCreated {
		t.Fatalf("owner from a known address: %d", code)
	}
	if p := dashSignInFrom(t, owner, base, "admin", testAdminPassword); p != http.StatusSeeOther {
		t.Fatalf("owner on the dashboard: %d", p)
	}
	// A restart does not reset the throttle.
	stop()
	base, stop = open()
	defer stop()
	if code, _ := apiLogin(t, attacker, base, "admin", "still-guessing"); code != http.StatusTooManyRequests {
		t.Fatalf("after a restart the guessing address got %d", code)
	}
}

// dashSignInFrom signs in to the dashboard from c and returns the status.
func dashSignInFrom(t *testing.T, c *http.Client, base, login, password string) int {
	t.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(b), `name="csrf_token" value="`)
	if i < 0 {
		t.Fatalf("no sign-in token in %s", b)
	}
	tok := string(b)[i+len(`name="csrf_token" value="`):]
	tok = tok[:strings.Index(tok, `"`)]
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader("login="+login+"&password="+password+"&csrf_token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
