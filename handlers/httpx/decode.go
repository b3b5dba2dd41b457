package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"tapioca/handlers/apischema"
	"tapioca/handlers/core"
)

// MaxJSONBody bounds API request bodies; the largest legitimate ones are
// issue and comment bodies.
const MaxJSONBody = 1 << 20

// Decode reads a JSON object body into v. An empty body is an empty
// object, so optional-only requests may send nothing. A field v does not
// have is a validation error naming it (a typo never silently succeeds),
// as is a field of the wrong type; malformed JSON is a bad request.
func Decode(r *http.Request, v any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return DecodeBytes(body, v)
}

// DecodeBytes is Decode for a body already read.
func DecodeBytes(body []byte, v any) error {
	if !utf8.Valid(body) {
		// encoding/json would replace the bad bytes with U+FFFD and store
		// text the client never sent.
		return core.BadRequest("Problems parsing JSON: the body is not valid UTF-8")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := strictUnmarshal(body, v); err != nil {
		if name, ok := unknownField(err); ok {
			return UnknownField(name, reflect.TypeOf(v))
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			te.Field = jsonPath(reflect.TypeOf(v), te.Field)
			if ae := arrayItemTypeError(body, te); ae != nil {
				return ae
			}
			field := te.Field
			if i := strings.LastIndex(field, "."); i >= 0 {
				field = field[i+1:]
			}
			return core.Invalid(field, "must be "+JSONKind(te.Type))
		}
		if errors.As(err, &te) {
			// The body itself is not an object: say so without naming Go types.
			return core.BadRequest("Problems parsing JSON: the body must be a JSON object, not %s", articled(te.Value))
		}
		return core.BadRequest("Problems parsing JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// jsonPath drops from an UnmarshalTypeError's field path the Go names
// of embedded structs that encoding/json puts there ("In.comments.line"
// for a field of an embedded In), leaving the JSON names the client
// sent.
func jsonPath(t reflect.Type, field string) string {
	var out []string
	for _, seg := range strings.Split(field, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		if t != nil && t.Kind() == reflect.Struct {
			if sf, ok := t.FieldByName(seg); ok && sf.Anonymous && sf.Tag.Get("json") == "" {
				t = sf.Type
				continue
			}
		}
		out = append(out, seg)
		var next reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			for _, f := range apischema.StructFields(t) {
				if f.Name == seg {
					next = f.Type
					break
				}
			}
		}
		t = next
	}
	return strings.Join(out, ".")
}

// strictUnmarshal is json.Unmarshal that refuses fields the target does
// not have.
func strictUnmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// Anything after the value is malformed, as json.Unmarshal says.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("json: invalid character after top-level value")
	}
	return nil
}

// unknownField recognizes encoding/json's refusal of an unknown field.
func unknownField(err error) (string, bool) {
	rest, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(rest)
	if uerr != nil {
		return rest, true
	}
	return name, true
}

// UnknownField is the 422 for a body field the endpoint does not take,
// with the closest field it does take as a hint; t is the body's type.
func UnknownField(name string, t reflect.Type) error {
	msg := fmt.Sprintf("Unknown field %q", name)
	if near := Nearest(name, JSONNames(t)); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return &core.Error{Kind: core.ErrInvalid, Msg: msg, Fields: map[string][]string{name: {"is not a known field"}}}
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
			return core.Invalid(outer, fmt.Sprintf("%s[%d].%s must be %s", outer, i, inner, JSONKind(te.Type)))
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

// JSONKind names the JSON type a Go type decodes from, for messages.
func JSONKind(t reflect.Type) string {
	switch t.Kind().String() {
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

// ReadBody reads a request body within its size limit: over the limit is
// a 413 (through WriteError), any other failure a 400.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, core.BadRequest("Could not read request body")
	}
	return body, nil
}

// PathID reads a positive integer path value; anything else names
// nothing that exists.
func PathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id < 1 {
		return 0, core.ErrHidden
	}
	return id, nil
}
