// Package httpx is the HTTP plumbing the doors share: JSON answers and
// the mapping of core errors to statuses, request body decoding with
// size limits, pagination parameters and Link headers, rate limiting,
// credentials from headers, and the middleware every request passes
// (panic recovery, access log).
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// StatusError is an answer only HTTP has (405 with Allow, 413): doors
// return it like a core error.
type StatusError struct {
	Status  int
	Msg     string
	Headers map[string]string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Msg) }

// Status builds a StatusError.
func Status(status int, format string, args ...any) *StatusError {
	return &StatusError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Problem is an error as a door shows it: status, message, field errors
// and extra members.
type Problem struct {
	Status  int
	Msg     string
	Fields  map[string][]string
	Details map[string]any
	Headers map[string]string
}

// kindStatus maps the core's error kinds to HTTP statuses.
var kindStatus = []struct {
	kind   error
	status int
}{
	{core.ErrNotFound, http.StatusNotFound},
	{core.ErrUnauthorized, http.StatusUnauthorized},
	{core.ErrForbidden, http.StatusForbidden},
	{core.ErrConflict, http.StatusConflict},
	{core.ErrInvalid, http.StatusUnprocessableEntity},
	{core.ErrRateLimited, http.StatusTooManyRequests},
	{core.ErrBadRequest, http.StatusBadRequest},
	{core.ErrTooLarge, http.StatusRequestEntityTooLarge},
}

// ProblemOf maps any error to its answer: core errors by kind, store
// sentinels by meaning, a body over its limit as 413, anything else as a
// 500 (internal is then true, and the caller logs err).
func ProblemOf(err error) (p Problem, internal bool) {
	var ce *core.Error
	var se *StatusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return Problem{Status: se.Status, Msg: se.Msg, Headers: se.Headers}, false
	case errors.As(err, &ce):
		p = Problem{Status: http.StatusInternalServerError, Msg: ce.Msg, Fields: ce.Fields, Details: ce.Details}
		for _, ks := range kindStatus {
			if errors.Is(ce.Kind, ks.kind) {
				p.Status = ks.status
				break
			}
		}
		return p, p.Status == http.StatusInternalServerError
	case errors.As(err, &mbe):
		return Problem{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("Request body too large (limit %d bytes)", mbe.Limit)}, false
	case errors.Is(err, store.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Msg: notFoundMessage(err)}, false
	case errors.Is(err, store.ErrDuplicate):
		return Problem{Status: http.StatusConflict, Msg: "Conflict: " + strings.TrimSpace(err.Error())}, false
	}
	return Problem{Status: http.StatusInternalServerError, Msg: "Internal server error"}, true
}

// notFoundMessage says what a store lookup did not find: the store wraps
// its sentinel as "<what>: not found".
func notFoundMessage(err error) string {
	what, _, ok := strings.Cut(err.Error(), ": ")
	if !ok || what == "" || strings.ContainsAny(what, ":\n") {
		return "Not found"
	}
	return strings.ToUpper(what[:1]) + what[1:] + " not found"
}

// WriteJSON writes v with status. Encoding errors can only be logged: the
// status line is already out.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError answers err as {"error": msg, "errors": {...}, ...details,
// "request_id": id}. Internal errors are logged with the request, never
// shown.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p, internal := ProblemOf(err)
	id := RequestIDOf(r.Context())
	if internal {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
	}
	body := map[string]any{"error": p.Msg}
	if p.Fields != nil {
		body["errors"] = p.Fields
	}
	for k, v := range p.Details {
		body[k] = v
	}
	if id != "" {
		body["request_id"] = id
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	WriteJSON(w, p.Status, body)
}

// ClientIP is the address of the client that connected.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// BearerToken extracts a token from "Authorization: Bearer|token <t>" or
// HTTP Basic credentials; sent reports whether an Authorization header
// was there at all.
func BearerToken(r *http.Request) (token string, sent bool) {
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
			return BasicToken(user, pass), true
		}
	}
	return "", true
}

// BasicToken picks the token out of HTTP Basic credentials: git users put
// it in the username with an empty password (as the seed shows) or in the
// password with any username.
func BasicToken(user, pass string) string {
	if pass == "" || (strings.HasPrefix(user, "cb_") && !strings.HasPrefix(pass, "cb_")) {
		return user
	}
	return pass
}

// AllMethods are the methods a 405's Allow may name.
var AllMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Unrouted is the answer for a path that only a door's catch-all pattern
// matched on mux: 405 with Allow when the path exists for other methods,
// else a 404 that says there is no such endpoint (not that some resource
// is missing).
func Unrouted(mux *http.ServeMux, r *http.Request, catchAll string) error {
	var allow []string
	for _, m := range AllMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &StatusError{Status: http.StatusMethodNotAllowed, Msg: "Method " + r.Method + " not allowed",
			Headers: map[string]string{"Allow": strings.Join(allow, ", ")}}
	}
	return NoSuchEndpoint(r)
}

// NoSuchEndpoint is the 404 of a request no route serves, naming its
// method and path.
func NoSuchEndpoint(r *http.Request) error {
	return core.NotFound("No such endpoint: %s %s", r.Method, r.URL.Path)
}
