package handlers

import "testing"

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func TestListenerURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"[::]:3000":      "http://localhost:3000",
		"0.0.0.0:8080":   "http://localhost:8080",
		"127.0.0.1:4000": "http://127.0.0.1:4000",
		"[::1]:4000":     "http://[::1]:4000",
	} {
		if got := ListenerURL(fakeAddr(addr)); got != want {
			t.Errorf("ListenerURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
