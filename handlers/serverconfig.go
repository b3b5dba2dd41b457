package handlers

import (
	"cmp"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/mirrors"
	"tapioca/handlers/core/text"
	"tapioca/handlers/core/webhooks"
	"tapioca/handlers/dashboard"
)

// serverConfig is what the dashboard's configuration page lists of the
// process: cfg (defaults applied) and the SSH server it runs (sshAddr nil
// when off), each value with the flag that sets it and whether it is the
// default. The runtime settings the dashboard can override are the
// dashboard's own to show.
func serverConfig(cfg Config, sshAddr net.Addr, hostKey string) []dashboard.ConfigSection {
	var def Config
	def.defaults()
	entry := func(name, flag, value, defValue, note string) dashboard.ConfigEntry {
		return dashboard.ConfigEntry{Name: name, Flag: flag, Value: value, Default: value == defValue, Note: note}
	}
	itoa := strconv.Itoa
	dur := func(d, fallback time.Duration) string { return cmp.Or(d, fallback).String() }
	bytesPerSec := func(n int64) string { return text.Bytes(n) + "/s" }

	dataDir := cfg.DataDir
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	logLevel := cmp.Or(strings.ToLower(cfg.LogLevel), "info")
	ops := "disabled"
	if cfg.APISecret != "" {
		ops = "enabled"
	}
	networks := "any address"
	if len(cfg.WebhookAllowedNetworks) > 0 {
		networks = strings.Join(cfg.WebhookAllowedNetworks, ", ")
	}
	loopback := "refused"
	if cfg.OutboundAllowLoopback && !cfg.WebhookDenyLoopback {
		loopback = "allowed"
	}
	ssh := []dashboard.ConfigEntry{{Name: "SSH server", Flag: "--ssh-addr", Value: "off", Note: "git over SSH with users' keys and deploy keys; an empty --ssh-addr turns it off."}}
	if sshAddr != nil {
		ssh[0].Value = "listening on " + sshAddr.String()
		ssh[0].Default = cfg.SSHAddr == DefaultSSHAddr
		ssh = append(ssh, dashboard.ConfigEntry{Name: "Host key", Value: hostKey, Note: "SHA-256 fingerprint, kept in the data directory: what ssh asks users to trust."})
	}
	return []dashboard.ConfigSection{
		{Title: "Server", Entries: []dashboard.ConfigEntry{
			{Name: "Data directory", Flag: "--data", Value: dataDir, Note: "The database (tapioca.db) and the repositories."},
			entry("Log level", "--log-level", logLevel, "info", ""),
			entry("Operations API", "--api-secret-file", ops, "disabled", "/v1/api: polls and jobs for deploy tools; on when a secret is given."),
		}},
		{Title: "Limits", Entries: []dashboard.ConfigEntry{
			entry("Repositories per account", "--max-repos", itoa(cfg.MaxReposPerUser), itoa(def.MaxReposPerUser), "A user's page can set a user's own."),
			entry("Largest file in a push", "--max-file-size", text.Bytes(cfg.MaxFileSize), text.Bytes(def.MaxFileSize), ""),
			entry("Largest repository", "--max-repo-size", text.Bytes(cfg.MaxRepoSize), text.Bytes(def.MaxRepoSize), "A push that would grow a repository past it is refused."),
			entry("Connections per client address", "--max-conns-per-ip", itoa(cfg.MaxConnsPerAddr), itoa(def.MaxConnsPerAddr), ""),
			entry("Request body grace", "", cfg.BodyGrace.String(), def.BodyGrace.String(), "How long a request body may take before its rate counts."),
			entry("Request body minimum rate", "", bytesPerSec(cfg.BodyMinRate), bytesPerSec(def.BodyMinRate), "Slower bodies lose their connection."),
		}},
		{Title: "Webhooks and outbound requests", Lead: "Deliveries, and every request to an address users choose.", Entries: []dashboard.ConfigEntry{
			entry("Allowed receiver networks", "--webhook-allowed-networks", networks, "any address", "Checked on the address dialled."),
			entry("Loopback and link-local addresses", "--outbound-allow-loopback", loopback, "refused", "--webhook-deny-loopback refuses them even when allowed."),
			entry("Timeout per attempt", "--webhook-timeout", dur(cfg.WebhookTimeout, webhooks.DefaultTimeout), webhooks.DefaultTimeout.String(), ""),
			entry("First retry after", "--webhook-retry-base", dur(cfg.WebhookRetryBase, webhooks.DefaultRetryBase), webhooks.DefaultRetryBase.String(), "Each next retry waits 3× longer, ±20%."),
			entry("Attempts per delivery", "", itoa(cmp.Or(cfg.WebhookMaxAttempts, webhooks.DefaultMaxAttempts)), itoa(webhooks.DefaultMaxAttempts), ""),
			entry("Deliveries in flight", "", itoa(cmp.Or(cfg.WebhookWorkers, webhooks.DefaultWorkers)), itoa(webhooks.DefaultWorkers), "Half of them at most to one hook."),
		}},
		{Title: "SSH", Entries: ssh},
		{Title: "Mirrors and apps", Lead: "Watched repositories: their mirrors and the deliveries to the apps that watch them.", Entries: []dashboard.ConfigEntry{
			entry("Upstream for watched repositories", "--github-url", cfg.GitHubURL, def.GitHubURL, "Where watched repositories are mirrored from."),
			entry("Time between mirror syncs", "--mirror-interval", dur(cfg.MirrorInterval, mirrors.DefaultInterval), mirrors.DefaultInterval.String(), "Failing mirrors wait longer, up to "+mirrors.DefaultMaxBackoff.String()+"."),
			entry("App delivery timeout", "--app-delivery-timeout", dur(cfg.DeliveryTimeout, apps.DefaultTimeout), apps.DefaultTimeout.String(), ""),
			entry("First app delivery retry after", "--app-delivery-retry-base", dur(cfg.DeliveryRetryBase, apps.DefaultRetryBase), apps.DefaultRetryBase.String(), "Each next retry waits 2× longer; after "+itoa(apps.DefaultBreakerAfter)+" failures the repository's breaker opens."),
		}},
	}
}
