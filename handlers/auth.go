package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"tapioca/store"
)

// identity is who a request acts as: nil user for anonymous callers.
type identity struct {
	user  *store.User
	token *store.Token
}

type identityKey struct{}

// who returns the caller; never nil.
func who(r *http.Request) *identity {
	if id, ok := r.Context().Value(identityKey{}).(*identity); ok {
		return id
	}
	return &identity{}
}

func withIdentity(r *http.Request, id *identity) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
}

// requireUser returns the signed-in user or a 401.
func requireUser(r *http.Request) (*store.User, error) {
	u := who(r).user
	if u == nil {
		return nil, errUnauthorized
	}
	return u, nil
}

// bearerToken extracts a token from "Authorization: Bearer|token <t>".
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return "", true
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(rest), true
	case "basic":
		if user, pass, ok := r.BasicAuth(); ok {
			return basicToken(user, pass), true
		}
	}
	return "", true
}

// basicToken picks the token out of HTTP Basic credentials: git users put
// it in the username with an empty password (as the seed shows) or in the
// password with any username.
func basicToken(user, pass string) string {
	if pass == "" || (strings.HasPrefix(user, "cb_") && !strings.HasPrefix(pass, "cb_")) {
		return user
	}
	return pass
}

var errDisabled = &apiError{Status: http.StatusForbidden, Msg: "Account is disabled"}

// authenticate resolves a token to its user: errBadToken for an unknown
// token, errDisabled for a disabled account.
func (a *App) authenticate(ctx context.Context, token string) (*identity, error) {
	t, u, err := a.store.TokenByPlaintext(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errDisabled
	}
	now := time.Now()
	// last_used_at is kept to the minute: a write per request would make
	// every GET a write.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if err := a.store.TouchToken(ctx, t.ID, now); err != nil {
			a.log.WarnContext(ctx, "token last_used_at", "err", err)
		}
	}
	return &identity{user: u, token: t}, nil
}

// area says which scopes can cover a route (SPEC §4).
type area int

const (
	areaGeneral area = iota // read for GET, write for the rest
	areaRepo                // also covered by the repo scope
	areaAdmin               // destructive administration: only the admin scope
)

// scopeAllows reports whether a token with scopes may make this request;
// need names the scope to ask for when it may not.
func scopeAllows(scopes []string, method string, ar area) (ok bool, need string) {
	if len(scopes) == 0 {
		return true, ""
	}
	read := method == http.MethodGet || method == http.MethodHead
	for _, s := range scopes {
		switch {
		case s == store.ScopeAdmin && ar == areaAdmin:
			return true, ""
		case ar == areaAdmin:
		case s == store.ScopeRepo && ar == areaRepo:
			return true, ""
		case s == store.ScopeRead && read:
			return true, ""
		case s == store.ScopeWrite && !read:
			return true, ""
		}
	}
	switch {
	case ar == areaAdmin:
		return false, "admin"
	case read && ar == areaRepo:
		return false, "read or repo"
	case read:
		return false, "read"
	case ar == areaRepo:
		return false, "write or repo"
	}
	return false, "write"
}
