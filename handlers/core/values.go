package core

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Opt is an optional input field that distinguishes absent, null and a
// value, which updates need: absent leaves a field alone, null clears it.
// It decodes from JSON, the form every door's input reaches the core in.
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

// Some is a set, non-null Opt.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, V: v} }

func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// SchemaElem names the type the field holds, for the API's schemas: an
// Opt is described as its value, which may also be null.
func (Opt[T]) SchemaElem() reflect.Type { return reflect.TypeFor[T]() }

// Given reports whether the field holds a value (set and not null).
func (o Opt[T]) Given() bool { return o.Set && !o.Null }

// Or returns the first set option, so nested and flat forms of a field
// ({"user": {"email": ...}} and {"email": ...}) both work.
func Or[T any](opts ...Opt[T]) Opt[T] {
	for _, o := range opts {
		if o.Set {
			return o
		}
	}
	return Opt[T]{}
}

// Page is the slice of a list to return: Limit items from Offset.
type Page struct {
	Limit, Offset int
}

// Slice cuts an in-memory list to the page (for lists that are small or
// come from git rather than SQL) and returns it with the total.
func Slice[T any](all []T, p Page) ([]T, int) {
	start := min(p.Offset, len(all))
	end := min(start+p.Limit, len(all))
	if p.Limit <= 0 {
		end = len(all)
	}
	out := all[start:end]
	if out == nil {
		out = []T{}
	}
	return out, len(all)
}

// OptionalLine reads an optional single-line field (a name, a title, a
// description): nil when absent, a nil value when null or blank (which
// clears it), else the trimmed text, checked against maxLen characters,
// the rules of a line and, if given, check.
func OptionalLine(v Validation, field string, o Opt[string], maxLen int, check func(string) bool) **string {
	return optional(v, field, o, maxLen, check, LineProblem)
}

// OptionalText is OptionalLine for multi-line text (a bio).
func OptionalText(v Validation, field string, o Opt[string], maxLen int, check func(string) bool) **string {
	return optional(v, field, o, maxLen, check, TextProblem)
}

func optional(v Validation, field string, o Opt[string], maxLen int, check func(string) bool, problem func(string) string) **string {
	if !o.Set {
		return nil
	}
	var val *string
	if s := strings.TrimSpace(o.V); !o.Null && s != "" {
		if utf8.RuneCountInString(s) > maxLen {
			v.Add(field, fmt.Sprintf("is too long (maximum is %d characters)", maxLen))
		}
		if p := problem(s); p != "" {
			v.Add(field, p)
		}
		if check != nil && !check(s) {
			v.Add(field, "is invalid")
		}
		val = &s
	}
	return &val
}

// MaxBodyLen bounds issue, pull request, comment and review bodies.
const MaxBodyLen = 65536

// CheckBody reads an optional body field: nil when absent, a nil value
// when null, else the text, checked against MaxBodyLen.
func CheckBody(v Validation, field string, o Opt[string]) **string {
	if !o.Set {
		return nil
	}
	var b *string
	if !o.Null {
		if utf8.RuneCountInString(o.V) > MaxBodyLen {
			v.Add(field, fmt.Sprintf("is too long (maximum is %d characters)", MaxBodyLen))
		}
		CheckText(v, field, o.V)
		s := o.V
		b = &s
	}
	return &b
}

// IsHexSHA reports whether s can be a full or abbreviated commit id.
func IsHexSHA(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
