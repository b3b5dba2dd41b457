package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"tapioca/handlers/core"
)

func TestNearest(t *testing.T) {
	names := []string{"body", "state", "labels", "path", "per_page"}
	for _, tc := range []struct{ in, want string }{
		{"bodyy", "body"}, {"sate", "state"}, {"paht", "path"}, {"Labels", "labels"},
		{"perpage", "per_page"}, {"x", ""}, {"assignee", ""},
	} {
		if got := Nearest(tc.in, names); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type inner struct {
	Line int `json:"line"`
}

type embedded struct {
	Comments []inner `json:"comments"`
}

type body struct {
	embedded
	Title core.Opt[string] `json:"title"`
}

func fieldsOf(err error) map[string][]string {
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce.Fields
	}
	return nil
}

func TestDecodeBytesStrict(t *testing.T) {
	cases := []struct {
		name, in string
		field    string // the field the 422 names; "" = no error
		msg      string
	}{
		{"known fields", `{"title":"t","comments":[{"line":1}]}`, "", ""},
		{"empty body", ``, "", ""},
		{"unknown top-level", `{"titel":"t"}`, "titel", `did you mean "title"`},
		{"unknown nested", `{"comments":[{"lien":1}]}`, "lien", `did you mean "line"`},
		{"wrong type in an embedded struct's array", `{"comments":[{"line":"x"}]}`, "comments", "comments[0].line must be a number"},
		{"trailing data", `{"title":"t"} {}`, "", "Problems parsing JSON"},
	}
	for _, tc := range cases {
		var v body
		err := DecodeBytes([]byte(tc.in), &v)
		switch {
		case tc.field == "" && tc.msg == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && fieldsOf(err)[tc.field] == nil:
			t.Errorf("%s: %v, want a problem on %q", tc.name, err, tc.field)
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
}

type query struct {
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Limit  int       `json:"limit"`
	Deep   bool      `json:"deep"`
	Labels []string  `json:"labels"`
}

func TestQueries(t *testing.T) {
	r := httptest.NewRequest("GET", "/x?state=open&since=2026-02-15T10:00:00+02:00&limit=5&deep=1&labels=a,b&labels=c", nil)
	if err := CheckQuery(r, QueryNames(reflectTypeOf[query]())); err != nil {
		t.Fatal(err)
	}
	var q query
	if err := DecodeQuery(r, &q); err != nil {
		t.Fatal(err)
	}
	if q.State != "open" || q.Limit != 5 || !q.Deep || strings.Join(q.Labels, "|") != "a|b|c" ||
		!q.Since.Equal(time.Date(2026, 2, 15, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("decoded %+v", q)
	}
	bad := httptest.NewRequest("GET", "/x?limit=-1&deep=maybe&since=soon&state=a&state=b", nil)
	err := DecodeQuery(bad, &q)
	for _, f := range []string{"limit", "deep", "since", "state"} {
		if fieldsOf(err)[f] == nil {
			t.Errorf("no problem on %s: %v", f, err)
		}
	}
	err = CheckQuery(httptest.NewRequest("GET", "/x?sate=1&zz=2", nil), []string{"state"})
	if f := fieldsOf(err); f["sate"] == nil || f["zz"] == nil || !strings.Contains(err.Error(), `did you mean "state"`) {
		t.Errorf("unknown parameters: %v", err)
	}
}

func TestConditional(t *testing.T) {
	serve := func(inm string, h http.HandlerFunc) (*httptest.ResponseRecorder, bool) {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/x", nil)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		refunded := false
		Conditional(rec, r, func() { refunded = true }, h)
		return rec, refunded
	}
	json := func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]int{"a": 1}) }
	first, _ := serve("", json)
	tag := first.Header().Get("ETag")
	if first.Code != 200 || tag == "" || first.Body.String() != "{\"a\":1}\n" {
		t.Fatalf("first: %d %q %q", first.Code, tag, first.Body)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		if rec, refunded := serve(inm, json); rec.Code != 304 || rec.Body.Len() != 0 || !refunded || rec.Header().Get("Content-Type") != "" {
			t.Errorf("If-None-Match %s: %d %q refunded %v", inm, rec.Code, rec.Body, refunded)
		}
	}
	if rec, refunded := serve(`"stale"`, json); rec.Code != 200 || refunded {
		t.Errorf("stale tag: %d", rec.Code)
	}
	notFound := func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 404, map[string]string{"error": "x"}) }
	if rec, _ := serve("*", notFound); rec.Code != 404 || rec.Header().Get("ETag") != "" {
		t.Errorf("a 404 is never tagged: %d %v", rec.Code, rec.Header())
	}
	own := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"blob"`)
		w.WriteHeader(200)
		_, _ = w.Write([]byte("bytes"))
	}
	if rec, _ := serve(`"blob"`, own); rec.Code != 304 || rec.Body.Len() != 0 {
		t.Errorf("the handler's own tag: %d %q", rec.Code, rec.Body)
	}
	big := func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, maxConditionalBody+1))
	}
	if rec, _ := serve("*", big); rec.Code != 200 || rec.Body.Len() != maxConditionalBody+1 || rec.Header().Get("ETag") != "" {
		t.Errorf("a large answer streams untagged: %d %d", rec.Code, rec.Body.Len())
	}
}

func TestRequestIDAndRefund(t *testing.T) {
	for id, ok := range map[string]bool{"abc-123": true, "": false, "a b": false, strings.Repeat("a", 129): false, "x\n": false} {
		if validRequestID(id) != ok {
			t.Errorf("validRequestID(%q) = %v", id, !ok)
		}
	}
	l := NewRateLimiter(time.Hour)
	l.Take("k", 3)
	l.Take("k", 3)
	if got := l.Refund("k", 3); got != 2 {
		t.Errorf("after a refund %d remain, want 2", got)
	}
	if ok, remaining, _ := l.Take("k", 3); !ok || remaining != 1 {
		t.Errorf("take after refund: %v %d", ok, remaining)
	}
}

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
