package codeboba

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/httpx"
)

// Doc is what an endpoint takes and answers. It is declared with the
// route, and it is the endpoint's contract twice over: the route refuses
// query parameters and body fields its types do not have (422 naming
// them), and the OpenAPI document is generated from it.
type Doc struct {
	Summary     string
	Description string
	// Query is a zero value of the struct of query parameters (their
	// JSON names); nil takes none.
	Query any
	// Paged adds page and per_page, and the Link and X-Total-Count
	// headers.
	Paged bool
	// Body is a zero value of the JSON body's type; nil takes none.
	Body any
	// Out is a zero value of the success answer's JSON (an
	// apischema.OneOf for alternatives); nil answers no body.
	Out any
	// Status is the success status (200 by default, 204 without Out).
	Status int
	// Media are other representations a GET answers for Accept (a
	// unified diff, a patch series), and Raw an answer that is a file's
	// bytes rather than JSON.
	Media []string
	Raw   bool
	// MaxBody raises the body limit (MaxJSONBody by default) for
	// endpoints that carry files.
	MaxBody int64
}

// queryNames are the query parameters a route takes.
func (doc Doc) queryNames() []string {
	names := httpx.QueryNames(reflect.TypeOf(doc.Query))
	if doc.Paged {
		names = append(names, httpx.PageParams...)
	}
	return names
}

type routeKey struct{}

func (d *Door) route(pattern string, area core.Area, signedIn bool, h handlerFunc, doc Doc) {
	method, path, _ := strings.Cut(pattern, " ")
	rt := Route{Method: method, Path: path, Area: area, SignedIn: signedIn, Doc: doc}
	d.routes = append(d.routes, rt)
	allowed := doc.queryNames()
	limit := doc.MaxBody
	if limit <= 0 {
		limit = httpx.MaxJSONBody
	}
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if err := actor(r).CheckScope(write, area); err != nil {
			d.writeError(w, r, err)
			return
		}
		// An unknown parameter says nothing about what exists, so it may
		// be refused before anything is looked up.
		if err := httpx.CheckQuery(r, allowed); err != nil {
			d.writeError(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, &rt))
		run := func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				d.writeError(w, r, err)
			}
		}
		if write && r.Header.Get(IdempotencyHeader) != "" {
			d.idempotent(w, r, run)
			return
		}
		run(w, r)
	})
}

// routeOf is the route serving r.
func routeOf(r *http.Request) *Route {
	rt, _ := r.Context().Value(routeKey{}).(*Route)
	return rt
}

// decode reads the JSON body into v, which must be the type the route
// declared as its Body: what is documented is what is read, and a field
// outside it is refused.
func decode(r *http.Request, v any) error {
	if rt := routeOf(r); rt != nil && reflect.TypeOf(v).Elem() != reflect.TypeOf(rt.Doc.Body) {
		// A programming error: a 500, logged, and caught by the tests
		// that drive every route.
		return fmt.Errorf("route %s %s decodes a %s body but declares %v", rt.Method, rt.Path, reflect.TypeOf(v).Elem(), reflect.TypeOf(rt.Doc.Body))
	}
	return httpx.Decode(r, v)
}

// query reads the query parameters into v, which must be the type the
// route declared as its Query.
func query(r *http.Request, v any) error {
	if rt := routeOf(r); rt != nil && reflect.TypeOf(v).Elem() != reflect.TypeOf(rt.Doc.Query) {
		return fmt.Errorf("route %s %s reads a %s query but declares %v", rt.Method, rt.Path, reflect.TypeOf(v).Elem(), reflect.TypeOf(rt.Doc.Query))
	}
	return httpx.DecodeQuery(r, v)
}
