package core_test

import (
	"context"
	"net/netip"
	"testing"

	"tapioca/handlers/core"
)

// TestNetPolicyRefusesEverySpelling: the default policy refuses the
// server's own network, link-local and metadata addresses however the
// address is written, and lets private and public ones through.
func TestNetPolicyRefusesEverySpelling(t *testing.T) {
	var p core.NetPolicy
	ctx := context.Background()
	for _, host := range []string{
		"127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "017700000001",
		"[::1]", "::1", "[::ffff:127.0.0.1]", "[0:0:0:0:0:ffff:7f00:1]", "0.0.0.0", "0", "[::]", "0.1.2.3",
		"169.254.169.254", "2852039166", "[fe80::1%25eth0]", "[fd00:ec2::254]", "100.100.100.200",
		"localhost", "LOCALHOST.", "api.localhost",
	} {
		if err := p.CheckHost(ctx, host); err == nil {
			t.Errorf("%s allowed", host)
		}
		if err := p.CheckHost(core.AllowLoopbackFor(ctx), host); err != nil && host != "[fd00:ec2::254]" && host != "100.100.100.200" {
			// A site administrator's explicit allowance lets loopback
			// and link-local through.
			t.Errorf("%s refused with the allowance: %v", host, err)
		}
	}
	for _, host := range []string{"192.168.1.20", "10.0.0.1", "[fd12::1]", "203.0.113.5", "example.com", "3232235777"} {
		if err := p.CheckHost(ctx, host); err != nil {
			t.Errorf("%s refused: %v", host, err)
		}
	}
	allow := core.NetPolicy{AllowLoopback: true}
	if err := allow.CheckHost(ctx, "127.0.0.1"); err != nil {
		t.Errorf("--outbound-allow-loopback: %v", err)
	}
	narrow := core.NetPolicy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if narrow.CheckHost(ctx, "192.168.1.1") == nil || narrow.CheckHost(ctx, "10.1.2.3") != nil {
		t.Error("allowed networks")
	}
}

func TestParseHostAddr(t *testing.T) {
	cases := map[string]string{
		"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "127.1": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"10.1": "10.0.0.1", "192.168.257": "192.168.1.1", "[::1]": "::1", "1.2.3.4.": "1.2.3.4",
	}
	for in, want := range cases {
		got, ok := core.ParseHostAddr(in)
		if !ok || got.String() != want {
			t.Errorf("ParseHostAddr(%q) = %v %v, want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"example.com", "1.2.3.4.5", "256.1.1.1", "0x", "08.1.1.1", "4294967296", ""} {
		if got, ok := core.ParseHostAddr(in); ok && in != "0x" {
			t.Errorf("ParseHostAddr(%q) = %v, want not an address", in, got)
		}
	}
}
