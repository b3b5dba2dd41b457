package core

import (
	"errors"
	"fmt"
	"time"

	"tapioca/store"
)

// The kinds of failure an operation reports. Doors map each to their
// wire status in one place; errors.Is works on an *Error through its Kind.
var (
	// ErrNotFound: the thing does not exist, or the actor may not know
	// that it does (a private repository they cannot read). It is the
	// store's sentinel, so store lookups need no translation.
	ErrNotFound = store.ErrNotFound
	// ErrUnauthorized: the operation needs an identity and there is none,
	// or the credentials are not valid.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the actor is known and may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the operation cannot happen in the current state (a
	// merged pull request, a branch that moved).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is wrong; Error.Fields names the fields.
	ErrInvalid = errors.New("invalid")
	// ErrRateLimited: too many attempts; Error.RetryAfter says when to
	// come back.
	ErrRateLimited = errors.New("rate limited")
	// ErrBadRequest: the request could not be read at all (malformed
	// JSON). Doors raise it; the core never sees such input.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge: the input is over a size limit.
	ErrTooLarge = errors.New("too large")
)

// Error is a failure with the message a user should read. Kind is one of
// the sentinels above.
type Error struct {
	Kind    error
	Msg     string
	Fields  map[string][]string // for ErrInvalid: field -> messages
	Details map[string]any      // extra members of the error body
	// RetryAfter is, for ErrRateLimited, how long until a retry can work.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %v", e.Msg, e.Fields)
	}
	return e.Msg
}

// Unwrap makes errors.Is(err, ErrConflict) true for a conflict.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args []any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Kind: kind, Msg: msg}
}

// NotFound, Forbidden, ... build an *Error of that kind with a message.
func NotFound(format string, args ...any) *Error   { return newError(ErrNotFound, format, args) }
func Forbidden(format string, args ...any) *Error  { return newError(ErrForbidden, format, args) }
func Conflict(format string, args ...any) *Error   { return newError(ErrConflict, format, args) }
func Invalidf(format string, args ...any) *Error   { return newError(ErrInvalid, format, args) }
func BadRequest(format string, args ...any) *Error { return newError(ErrBadRequest, format, args) }
func TooLarge(format string, args ...any) *Error   { return newError(ErrTooLarge, format, args) }

// Errors every door shows the same way.
var (
	// ErrNoIdentity is returned by operations that need a signed-in actor.
	ErrNoIdentity = &Error{Kind: ErrUnauthorized, Msg: "Requires authentication"}
	// ErrBadCredentials is an unknown or malformed token.
	ErrBadCredentials = &Error{Kind: ErrUnauthorized, Msg: "Bad credentials"}
	// ErrDisabled is a valid credential of a disabled account.
	ErrDisabled = &Error{Kind: ErrForbidden, Msg: "Account is disabled"}
	// ErrNoPermission is the generic refusal.
	ErrNoPermission = &Error{Kind: ErrForbidden, Msg: "You do not have permission to perform this action"}
	// ErrHidden is what a caller gets for something they may not see.
	ErrHidden = &Error{Kind: ErrNotFound, Msg: "Not found"}
)

// Validation collects field errors: {"field": ["message", ...]}.
type Validation map[string][]string

// Add records a message for field.
func (v Validation) Add(field, msg string) { v[field] = append(v[field], msg) }

// Err is nil when nothing was added, else the ErrInvalid error.
func (v Validation) Err() error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Kind: ErrInvalid, Msg: "Validation failed", Fields: v}
}

// Invalid is a validation failure on one field.
func Invalid(field, msg string) error {
	v := Validation{}
	v.Add(field, msg)
	return v.Err()
}

// IsNotFound reports whether err means the thing does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
