package core

import (
	"fmt"
	"net/netip"
	"strings"
)

// NetPolicy says which destination addresses the requests Tapioca makes
// to addresses its users choose (webhook receivers, app deliveries,
// deploy hooks, mirror upstreams) may reach. handlers/outbound checks it
// on the address actually dialled; the core checks literal addresses
// when a URL is stored.
type NetPolicy struct {
	Allowed      []netip.Prefix // empty = any destination
	DenyLoopback bool           // refuse loopback, link-local and unspecified addresses
}

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

// CheckAddr applies the policy to one destination address.
func (p NetPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if p.DenyLoopback && (ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified()) {
		return fmt.Errorf("destination %s is refused: loopback and link-local addresses are not allowed", ip)
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
// without resolving it: a literal address, or "localhost". Hostnames are
// checked again when dialled.
func (p NetPolicy) CheckHost(host string) error {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return p.CheckAddr(ip)
	}
	if p.DenyLoopback && strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return fmt.Errorf("loopback destinations are refused on this server")
	}
	return nil
}
