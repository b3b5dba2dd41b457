package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"tapioca/store"
)

// apiError is an error with the HTTP status and JSON body it should become.
type apiError struct {
	Status  int
	Msg     string
	Fields  map[string][]string
	Extra   map[string]any
	Headers map[string]string // set on the response, e.g. Allow on a 405
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Msg) }

func errStatus(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

var (
	errNotFound     = &apiError{Status: http.StatusNotFound, Msg: "Not found"}
	errUnauthorized = &apiError{Status: http.StatusUnauthorized, Msg: "Requires authentication"}
	errBadToken     = &apiError{Status: http.StatusUnauthorized, Msg: "Bad credentials"}
	errForbidden    = &apiError{Status: http.StatusForbidden, Msg: "You do not have permission to perform this action"}
)

func errScope(need string) *apiError {
	return &apiError{Status: http.StatusForbidden, Msg: "Token scope does not allow this action (requires " + need + ")"}
}

// validation collects field errors in the seed's shape:
// {"error": "Validation failed", "errors": {"field": ["message"]}}.
type validation map[string][]string

func (v validation) add(field, msg string) { v[field] = append(v[field], msg) }

func (v validation) err() error {
	if len(v) == 0 {
		return nil
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Msg: "Validation failed", Fields: v}
}

func invalid(field, msg string) error {
	v := validation{}
	v.add(field, msg)
	return v.err()
}

// writeJSON writes v with status. Encoding errors can only be logged: the
// status line is already out.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError maps any error to its JSON answer: apiErrors as they are,
// store sentinels by kind, everything else as a 500 without details.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = errStatus(http.StatusRequestEntityTooLarge, "Request body too large (limit %d bytes)", mbe.Limit)
	case errors.Is(err, store.ErrNotFound):
		ae = errNotFound
	case errors.Is(err, store.ErrDuplicate):
		ae = errStatus(http.StatusConflict, "Conflict: %s", strings.TrimSpace(err.Error()))
	default:
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errStatus(http.StatusInternalServerError, "Internal server error")
	}
	body := map[string]any{"error": ae.Msg}
	if ae.Fields != nil {
		body["errors"] = ae.Fields
	}
	for k, v := range ae.Extra {
		body[k] = v
	}
	for k, v := range ae.Headers {
		w.Header().Set(k, v)
	}
	// Every API 401 says how to authenticate, whether the token was
	// missing or bad (RFC 9110 §11.6.1).
	if ae.Status == http.StatusUnauthorized && strings.HasPrefix(r.URL.Path, "/api/") && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Tapioca"`)
	}
	writeJSON(w, ae.Status, body)
}

// maxJSONBody bounds API request bodies; the largest legitimate ones are
// issue and comment bodies.
const maxJSONBody = 1 << 20

// decode reads a JSON object body into v. An empty body is an empty
// object, so optional-only requests may send nothing.
func decode(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			if ae := arrayItemTypeError(body, te); ae != nil {
				return ae
			}
			field := te.Field
			if i := strings.LastIndex(field, "."); i >= 0 {
				field = field[i+1:]
			}
			return invalid(field, "must be "+jsonKind(te.Type.Kind().String()))
		}
		if errors.As(err, &te) {
			// The body itself is not an object: say so without naming Go types.
			return errStatus(http.StatusBadRequest, "Problems parsing JSON: the body must be a JSON object, not %s", articled(te.Value))
		}
		return errStatus(http.StatusBadRequest, "Problems parsing JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// arrayItemTypeError reports a wrong type inside an array of objects
// (comments[1].line) under the array's name, with the item's index, the
// way validation reports the items' other errors. It returns nil when the
// field is not inside such an array.
func arrayItemTypeError(body []byte, te *json.UnmarshalTypeError) error {
	outer, inner, ok := strings.Cut(te.Field, ".")
	if !ok || strings.Contains(inner, ".") {
		return nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(top[outer], &items) != nil {
		return nil
	}
	for i, item := range items {
		raw, ok := item[inner]
		if !ok || string(raw) == "null" {
			continue
		}
		if json.Unmarshal(raw, reflect.New(te.Type).Interface()) != nil {
			return invalid(outer, fmt.Sprintf("%s[%d].%s must be %s", outer, i, inner, jsonKind(te.Type.Kind().String())))
		}
	}
	return nil
}

// articled puts "a" or "an" before a JSON value kind from UnmarshalTypeError.
func articled(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "a number"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

// readBody reads a request body within its size limit: over the limit is
// a 413 (through writeError), any other failure a 400.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errStatus(http.StatusBadRequest, "Could not read request body")
	}
	return body, nil
}

// opt is a JSON field that distinguishes absent, null and a value, which
// PATCH needs: absent leaves a field alone, null clears it.
type opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// optionalText reads an optional text field: nil when absent, a nil value
// when null or blank (which clears it), else the trimmed text, checked
// against maxLen characters and, if given, check.
func optionalText(v validation, field string, o opt[string], maxLen int, check func(string) bool) **string {
	if !o.Set {
		return nil
	}
	var val *string
	if s := strings.TrimSpace(o.V); !o.Null && s != "" {
		if utf8.RuneCountInString(s) > maxLen {
			v.add(field, fmt.Sprintf("is too long (maximum is %d characters)", maxLen))
		}
		if check != nil && !check(s) {
			v.add(field, "is invalid")
		}
		val = &s
	}
	return &val
}

// or returns the first set option, so nested and flat forms of a field
// ({"user": {"email": ...}} and {"email": ...}) both work.
func or[T any](opts ...opt[T]) opt[T] {
	for _, o := range opts {
		if o.Set {
			return o
		}
	}
	return opt[T]{}
}

// timeJSON formats t as the API shows times: RFC 3339, UTC, seconds.
func timeJSON(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func timePtrJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}
