package handlers_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"tapioca/handlers"
)

// TestOutboundRefusedByDefault: without --outbound-allow-loopback, no user
// can point a hook at the server's own network, link-local or metadata
// addresses, in any spelling; URLs with credentials or impossible ports
// are refused too; a site administrator may allow loopback for one hook
// explicitly, and an ordinary user may not.
func TestOutboundRefusedByDefault(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	srv := newServer(t, func(c *handlers.Config) { c.OutboundAllowLoopback = false })
	me := srv.as(t, srv.register(t, "ssrf").Token)
	for _, u := range []string{
		rc.URL, "http://127.0.0.1/", "http://[::1]:" + port + "/", "http://0.0.0.0:" + port + "/",
		"http://169.254.169.254/latest/meta-data/", "http://2130706433:" + port + "/", "http://0x7f000001:" + port + "/",
		"http://0177.0.0.1:" + port + "/", "http://127.1:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/",
		"http://localhost:" + port + "/", "http://LocalHost.:" + port + "/", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
		"http://user:pass@192.168.1.20/hook", "http://192.168.1.20:99999/hook", "http://192.168.1.20:0/hook",
	} {
		r := me.do("POST", "/api/v1/user/webhooks", map[string]any{"url": u})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"url"`) {
			t.Errorf("%s: %d %s", u, r.Status, r.Body)
		}
	}
	// Private ranges stay open: homelab receivers live there.
	me.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": "http://192.168.1.20:9000/hook"})
	// Only a site administrator may allow loopback, for one hook.
	r := me.do("POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "allow_loopback": true})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "allow_loopback") {
		t.Errorf("user allowance: %d %s", r.Status, r.Body)
	}
	admin := srv.as(t, srv.adminToken(t))
	h := admin.must(http.StatusCreated, "POST", "/api/v1/user/webhooks", map[string]any{"url": rc.URL, "allow_loopback": true}).obj(t)
	hook := "/api/v1/user/webhooks/" + ftoa(h["id"].(float64))
	pd := admin.must(http.StatusAccepted, "POST", hook+"/pings", nil).obj(t)
	waitStatus(t, admin, hook+"/deliveries/"+ftoa(pd["id"].(float64)), "succeeded")
	rc.waitEvent(t, "ping", "", nil)
	// Taking the allowance away while the URL is loopback is refused.
	r = admin.do("PATCH", hook, map[string]any{"allow_loopback": false})
	if r.Status != http.StatusUnprocessableEntity {
		t.Errorf("dropping the allowance: %d %s", r.Status, r.Body)
	}
}
