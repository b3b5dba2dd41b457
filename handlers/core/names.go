package core

import (
	"context"
	"net/mail"
	"net/url"
	"strings"

	"tapioca/store"
)

// ValidEmail reports whether s is a plain e-mail address.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s {
		return false
	}
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-1
}

// ValidWebURL reports whether s is an absolute http(s) URL with a host.
func ValidWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// CheckNewName validates a name for the shared namespace of users, orgs
// and aliases, including that nobody has it yet.
func (e *Env) CheckNewName(ctx context.Context, v Validation, field, name string) error {
	switch {
	case name == "":
		v.Add(field, "can't be blank")
	case !store.ValidNamespaceName(name):
		v.Add(field, "is invalid (letters, digits and hyphens, 1-39 characters, no leading or trailing hyphen)")
	case store.ReservedName(name):
		v.Add(field, "is reserved")
	default:
		taken, err := e.Store.NameTaken(ctx, name)
		if err != nil {
			return err
		}
		if taken {
			v.Add(field, "has already been taken")
		}
	}
	return nil
}

// ProfileInput is the profile part of users and organizations.
type ProfileInput struct {
	DisplayName Opt[string]
	Bio         Opt[string]
	URL         Opt[string]
}

// Check validates a profile edit as users and organizations share it.
func (p ProfileInput) Check(v Validation) store.ProfileUpdate {
	return store.ProfileUpdate{
		DisplayName: OptionalLine(v, "display_name", p.DisplayName, 255, nil),
		Bio:         OptionalText(v, "bio", p.Bio, 500, nil),
		URL:         OptionalLine(v, "url", p.URL, 2048, ValidWebURL),
	}
}
