package dashboard

import (
	"net/http"
	"strconv"

	"tapioca/store"
	"tapioca/views"
)

// adminConfig shows what the server runs with: the runtime settings in
// effect (and whether the Settings page or a flag decides each), then the
// process's configuration.
func (d *Door) adminConfig(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	sections := append([]ConfigSection{d.runtimeConfig()}, d.cfg.Server...)
	d.render(w, r, http.StatusOK, views.ConfigPage(d.page(ar, "config", "Configuration"), sections))
	return nil
}

// runtimeConfig is the values the Settings page may override, as they
// are in effect now.
func (d *Door) runtimeConfig() ConfigSection {
	overridden := func(e ConfigEntry, key string) ConfigEntry {
		if _, ok := d.env.Setting(key); ok {
			e.Source = "Settings page"
		} else {
			e.Default = true
		}
		return e
	}
	auth, anon := d.env.RateLimits()
	reg := "open"
	if !d.env.RegistrationOpen() {
		reg = "closed"
	}
	baseNote := "Clone URLs, Link headers and webhook payloads."
	if _, ok := d.env.Setting(store.SettingBaseURL); ok {
		baseNote = "Overrides --base-url " + d.cfg.BaseURL + "."
	}
	return ConfigSection{Title: "In effect now", Lead: "Settings overrides first, else the command line's value.",
		Entries: []ConfigEntry{
			overridden(ConfigEntry{Name: "Base URL", Value: d.env.BaseURL(), Flag: "--base-url", Note: baseNote}, store.SettingBaseURL),
			overridden(ConfigEntry{Name: "Registration", Value: reg, Note: "Who may create an account through the API."}, store.SettingRegistrationOpen),
			overridden(ConfigEntry{Name: "API requests per hour, signed in", Value: strconv.Itoa(auth), Flag: "--rate-limit-auth"}, store.SettingRateLimitAuth),
			overridden(ConfigEntry{Name: "API requests per hour, anonymous", Value: strconv.Itoa(anon), Flag: "--rate-limit-anon"}, store.SettingRateLimitAnon),
		}}
}
