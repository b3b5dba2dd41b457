package core

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NetPolicy says which destination addresses the requests Tapioca makes
// to addresses its users choose (webhook receivers, app deliveries,
// deploy hooks, mirror upstreams) may reach. By default loopback,
// link-local, unspecified and cloud metadata addresses are refused, so
// nobody can make the server read the network behind it; private ranges
// stay allowed (a homelab's receivers live there) unless Allowed narrows
// them. handlers/outbound checks the policy on the address actually
// dialled; the core checks literal addresses, in every spelling, when a
// URL is stored.
type NetPolicy struct {
	Allowed []netip.Prefix // empty = any destination the rest allows
	// AllowLoopback lets loopback and link-local destinations through
	// (--outbound-allow-loopback: tests, and receivers on the same host).
	AllowLoopback bool
}

// metadata are cloud metadata endpoints that are not link-local.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS (IPv6)
	netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud
}

// thisNetwork is 0.0.0.0/8, which Linux routes to the host itself.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// ParseNetworks reads CIDRs or single addresses, each entry possibly a
// comma-separated list.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			p, err := parseNetwork(f)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
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

type allowLoopbackKey struct{}

// AllowLoopbackFor marks ctx as a request a site administrator allowed
// to reach loopback and link-local addresses (one hook, explicitly).
func AllowLoopbackFor(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowLoopbackKey{}, true)
}

// loopbackAllowed reports whether ctx carries that allowance.
func loopbackAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(allowLoopbackKey{}).(bool)
	return ok
}

// CheckAddr applies the policy to one destination address.
func (p NetPolicy) CheckAddr(ip netip.Addr) error {
	return p.CheckAddrContext(context.Background(), ip)
}

// CheckAddrContext is CheckAddr for a request whose context may carry a
// site administrator's allowance for loopback (AllowLoopbackFor).
func (p NetPolicy) CheckAddrContext(ctx context.Context, ip netip.Addr) error {
	ip = ip.Unmap()
	if !p.AllowLoopback && !loopbackAllowed(ctx) {
		switch {
		case ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsUnspecified(), thisNetwork.Contains(ip):
			return fmt.Errorf("destination %s is refused: loopback, link-local and unspecified addresses are not allowed", ip)
		}
		for _, m := range metadata {
			if m.Contains(ip) {
				return fmt.Errorf("destination %s is refused: it is a cloud metadata address", ip)
			}
		}
	}
	if len(p.Allowed) == 0 {
		return nil
	}
	for _, n := range p.Allowed {
		if n.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("destination %s is not in the allowed webhook networks", ip)
}

// CheckHost applies the policy to a URL's host as far as it can be known
// without resolving it: an address in any spelling (including the
// decimal, octal, hexadecimal and shortened IPv4 forms C's inet_aton
// reads), or a name under "localhost". Other names are checked when
// dialled.
func (p NetPolicy) CheckHost(ctx context.Context, host string) error {
	if ip, ok := ParseHostAddr(host); ok {
		return p.CheckAddrContext(ctx, ip)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if !p.AllowLoopback && !loopbackAllowed(ctx) && (name == "localhost" || strings.HasSuffix(name, ".localhost")) {
		return fmt.Errorf("loopback destinations are refused on this server")
	}
	return nil
}

// ParseHostAddr reads a URL host as an IP address: IPv6 (bracketed or
// not, zone dropped), dotted IPv4, or one of IPv4's legacy spellings
// (2130706433, 0x7f000001, 0177.0.0.1, 127.1), which some resolvers
// accept and would dial.
func ParseHostAddr(host string) (netip.Addr, bool) {
	h := strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i]
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone(""), true
	}
	return parseLegacyIPv4(h)
}

// parseLegacyIPv4 reads inet_aton's forms: one to four parts, each
// decimal, octal (leading 0) or hexadecimal (0x), the last part filling
// the remaining bytes.
func parseLegacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		if part == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, part
		switch {
		case strings.HasPrefix(strings.ToLower(part), "0x"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Redacts reports whether a refusal (a non-2xx answer) from ip must be
// kept to its status line: ip is inside a private network, the host
// itself or its link, where the answer could be what the request was
// sent to read. Loopback and link-local answers are kept when the policy
// or the request's allowance let those addresses through: an
// administrator chose to send there.
func (p NetPolicy) Redacts(ctx context.Context, ip netip.Addr) bool {
	ip = ip.Unmap()
	hostLocal := ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || thisNetwork.Contains(ip)
	if hostLocal {
		return !p.AllowLoopback && !loopbackAllowed(ctx)
	}
	return ip.IsPrivate() || cgnat.Contains(ip)
}
