package httpx

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"tapioca/handlers/apischema"
	"tapioca/handlers/core"
)

// PageParams are the pagination parameters every paginated list takes.
var PageParams = []string{"page", "per_page"}

// CheckQuery refuses a request whose query string names a parameter
// outside allowed: a typo (?sate=open) would otherwise be ignored and the
// client would get an answer to a question it did not ask.
func CheckQuery(r *http.Request, allowed []string) error {
	var unknown []string
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	v := core.Validation{}
	for _, name := range unknown {
		v.Add(name, "is not a known parameter")
	}
	msg := fmt.Sprintf("Unknown query parameter %q", unknown[0])
	if len(unknown) > 1 {
		msg = "Unknown query parameters " + quoteList(unknown)
	}
	if near := Nearest(unknown[0], allowed); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	if len(allowed) == 0 {
		msg += "; this endpoint takes none"
	} else {
		msg += "; this endpoint takes " + quoteList(allowed)
	}
	return &core.Error{Kind: core.ErrInvalid, Msg: msg, Fields: v}
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// QueryNames lists the parameters a query struct declares (its JSON
// names).
func QueryNames(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for _, f := range apischema.StructFields(t) {
		out = append(out, f.Name)
	}
	return out
}

// DecodeQuery fills the struct v points to from the query string, each
// field from the parameter of its JSON name: strings as given; numbers,
// booleans (true/false/1/0) and times (RFC 3339, or a date meaning its
// midnight UTC) parsed; []string from repeated parameters or commas.
// Values that do not parse are validation errors on their parameter.
func DecodeQuery(r *http.Request, v any) error {
	rv := reflect.ValueOf(v).Elem()
	q := r.URL.Query()
	errs := core.Validation{}
	setFields(rv, q, errs)
	return errs.Err()
}

func setFields(rv reflect.Value, q map[string][]string, errs core.Validation) {
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		fv := rv.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && !hasTag && sf.Type.Kind() == reflect.Struct {
			setFields(fv, q, errs)
			continue
		}
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		vals, ok := q[name]
		if !ok {
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String {
			var items []string
			for _, s := range vals {
				for _, part := range strings.Split(s, ",") {
					if part = strings.TrimSpace(part); part != "" {
						items = append(items, part)
					}
				}
			}
			fv.Set(reflect.ValueOf(items))
			continue
		}
		if len(vals) > 1 {
			errs.Add(name, "must be given once")
			continue
		}
		if msg := setScalar(fv, vals[0]); msg != "" {
			errs.Add(name, msg)
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

func setScalar(fv reflect.Value, s string) string {
	if fv.Type() == timeType {
		t, err := ParseTime(s)
		if err != nil {
			return "must be a time (RFC 3339, e.g. 2026-02-15T10:00:00Z) or a date (2026-02-15)"
		}
		fv.Set(reflect.ValueOf(t))
		return ""
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1":
			fv.SetBool(true)
		case "false", "0":
			fv.SetBool(false)
		default:
			return "must be true or false"
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return "must be a non-negative integer"
		}
		fv.SetInt(n)
	default:
		return "cannot be given in the query string"
	}
	return ""
}

// ParseTime reads an RFC 3339 time, or a date as its midnight UTC.
func ParseTime(s string) (time.Time, error) {
	// A "+" of an offset arrives as a space when the client did not
	// escape it in the query string.
	s = strings.Replace(s, " ", "+", 1)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}
