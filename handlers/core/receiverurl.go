package core

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxReceiverURL is the longest URL a webhook, app or deploy target may
// be delivered to.
const MaxReceiverURL = 2048

// CheckReceiverURL validates where the forge will POST signed deliveries
// (webhooks, apps, deploy targets), reporting under field: absolute
// http(s) with a host and a valid port, no credentials (noCredentials
// says why they are not needed), and, when the host is an address in any
// spelling, inside the network policy (hostnames are checked when
// dialled). It returns the URL trimmed, "" when it is refused.
func CheckReceiverURL(ctx context.Context, p NetPolicy, v Validation, field, raw, noCredentials string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		v.Add(field, "can't be blank")
		return ""
	}
	if len(raw) > MaxReceiverURL {
		v.Add(field, fmt.Sprintf("is too long (maximum is %d characters)", MaxReceiverURL))
		return ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		v.Add(field, "is not a valid URL")
		return ""
	case u.Scheme != "http" && u.Scheme != "https":
		v.Add(field, "must be an http or https URL")
		return ""
	case u.User != nil:
		v.Add(field, "must not contain credentials ("+noCredentials+")")
		return ""
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.Add(field, "has an invalid port (1-65535)")
			return ""
		}
	}
	if err := p.CheckHost(ctx, u.Hostname()); err != nil {
		v.Add(field, "is not allowed: "+err.Error())
		return ""
	}
	return raw
}
