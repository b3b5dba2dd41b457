package core

import (
	"tapioca/store"
)

// Actor is who an operation acts for. User is nil for anonymous callers;
// Token is the credential used, nil for a dashboard session (which acts
// with the account's full rights) and for anonymous callers.
//
// DeployKey is set, and User nil, for a client holding a repository's
// deploy key over SSH: it is no account, so every rule but GitAccess
// treats it as anonymous; GitAccess lets it reach its one repository.
type Actor struct {
	User      *store.User
	Token     *store.Token
	DeployKey *store.DeployKey

	operator bool
}

// Anonymous is the actor of a request without credentials.
var Anonymous = Actor{}

// Operator is whoever runs tapioca's administration commands on the data
// directory: the machine's operator, who holds every right a site
// administrator has without being an account. Only the command line acts
// as it; no request can.
var Operator = Actor{operator: true}

// IsOperator reports whether the actor is Operator.
func (a Actor) IsOperator() bool { return a.operator }

// Name is how the audit log names the actor: the username, or
// store.AuditOperator for Operator ("" when anonymous).
func (a Actor) Name() string {
	switch {
	case a.operator:
		return store.AuditOperator
	case a.User != nil:
		return a.User.Username
	}
	return ""
}

// AsUser acts as u with full rights (a session, the system on a user's
// behalf, tests).
func AsUser(u *store.User) Actor { return Actor{User: u} }

// SignedIn reports whether the actor has an identity.
func (a Actor) SignedIn() bool { return a.User != nil }

// Require returns the actor's user, or ErrNoIdentity.
func (a Actor) Require() (*store.User, error) {
	if a.User == nil {
		return nil, ErrNoIdentity
	}
	return a.User, nil
}

// ID is the actor's user id, 0 when anonymous.
func (a Actor) ID() int64 {
	if a.User == nil {
		return 0
	}
	return a.User.ID
}

// SiteAdmin reports whether the actor is an enabled site administrator.
func (a Actor) SiteAdmin() bool {
	return a.operator || a.User != nil && a.User.IsAdmin && !a.User.Disabled
}

// Scoped reports whether the actor's token is limited to some scopes.
func (a Actor) Scoped() bool { return a.Token != nil && len(a.Token.Scopes) > 0 }

// Area says which token scopes can cover an operation (SPEC §4).
type Area int

const (
	AreaGeneral Area = iota // read for reads, write for the rest
	AreaRepo                // also covered by the repo scope
	AreaAdmin               // destructive administration: only the admin scope
)

// CheckScope refuses an operation the actor's token scopes do not cover.
// write is true for anything that changes state. No scopes (or no token)
// means full access.
func (a Actor) CheckScope(write bool, area Area) error {
	if !a.Scoped() {
		return nil
	}
	ok, need := ScopeAllows(a.Token.Scopes, write, area)
	if ok {
		return nil
	}
	return Forbidden("Token scope does not allow this action (requires %s)", need)
}

// ScopeAllows reports whether scopes cover an operation; need names the
// scope to ask for when they do not.
func ScopeAllows(scopes []string, write bool, area Area) (ok bool, need string) {
	if len(scopes) == 0 {
		return true, ""
	}
	read := !write
	for _, s := range scopes {
		switch {
		case s == store.ScopeAdmin && area == AreaAdmin:
			return true, ""
		case area == AreaAdmin:
		case s == store.ScopeRepo && area == AreaRepo:
			return true, ""
		case s == store.ScopeRead && read:
			return true, ""
		case s == store.ScopeWrite && !read:
			return true, ""
		}
	}
	switch {
	case area == AreaAdmin:
		return false, "admin"
	case read && area == AreaRepo:
		return false, "read or repo"
	case read:
		return false, "read"
	case area == AreaRepo:
		return false, "write or repo"
	}
	return false, "write"
}

// ScopesWithin reports whether every scope in want is in have (and want
// is not "everything"): a scoped token may only mint or revoke tokens
// narrower than itself.
func ScopesWithin(want, have []string) bool {
	if len(want) == 0 {
		return false
	}
	h := map[string]bool{}
	for _, s := range have {
		h[s] = true
	}
	for _, s := range want {
		if !h[s] {
			return false
		}
	}
	return true
}
