// Package codeboba is the CodeBoba REST API door (/api/v1): it reads
// requests in the API's wire format (JSON bodies, path and query
// parameters, bearer tokens), calls the forge core, and writes the
// answers in the seed's shapes with its status codes, pagination and
// rate limit headers. It decides nothing itself.
package codeboba

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/deploykeys"
	"tapioca/handlers/core/idempotency"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/orgs"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/core/vouches"
	"tapioca/handlers/core/webhooks"
	"tapioca/handlers/httpx"
)

// Services are the core services the API calls.
type Services struct {
	Accounts *accounts.Service
	Orgs     *orgs.Service
	Repos    *repos.Service
	Issues   *issues.Service
	Pulls    *pulls.Service
	Vouches  *vouches.Service
	Webhooks *webhooks.Service
	Code     *code.Service
	Statuses *statuses.Service

	DeployKeys  *deploykeys.Service
	Idempotency *idempotency.Service
}

// Door is the CodeBoba API.
type Door struct {
	Services
	env    *core.Env
	log    *slog.Logger
	gate   *httpx.Gate
	mux    *http.ServeMux
	routes []Route
	// Others are the path prefixes under /api/ that belong to other
	// dialects (each with its own gate and error shape), e.g.
	// "/api/repos/"; set before serving.
	Others []string
}

// Route is one API endpoint as registered: its pattern, the token scope
// area it needs, and its Doc (what it takes and answers), which both the
// strict input checks and the OpenAPI document read.
type Route struct {
	Method string
	Path   string // a ServeMux path pattern, e.g. /api/v1/repos/{owner}/{repo}
	Area   core.Area
	// SignedIn is true for routes that refuse anonymous callers before
	// reading anything.
	SignedIn bool
	Doc      Doc
}

// Routes lists the API's endpoints in registration order.
func (d *Door) Routes() []Route { return d.routes }

// New returns the API door; gate authenticates and rate-limits its
// requests (shared with the other token dialects).
func New(env *core.Env, s Services, gate *httpx.Gate) *Door {
	return &Door{Services: s, env: env, log: env.Log, gate: gate}
}

// Prefix is where the API lives, and V1 its version's routes.
const (
	Prefix = "/api/"
	V1     = "/api/v1/"
)

// Register adds the API's routes to mux.
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	d.routesAccounts()
	d.routesRepos()
	d.routesOrgs()
	d.routesLabels()
	d.routesIssues()
	d.routesVouches()
	d.routesPulls()
	d.routesWebhooks()
	d.routesDeployKeys()
	d.routesCode()
	d.routesOpenAPI()
}

// RegisterFallback adds the API's catch-all, which gives JSON 404s and
// 405s instead of the mux's plain text. The process registers it after
// every door that lives under /api/.
func (d *Door) RegisterFallback(mux *http.ServeMux) {
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		d.writeError(w, r, httpx.Unrouted(mux, r, Prefix))
	})
	// Without this the mux would answer /api with an HTML redirect to /api/.
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) { d.writeError(w, r, httpx.NoSuchEndpoint(r)) })
}

// handlerFunc is an API handler: it writes its success response itself
// and returns errors for writeError to turn into JSON.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// api registers an API route. area tells which token scopes cover it.
func (d *Door) api(pattern string, area core.Area, h handlerFunc, doc Doc) {
	d.route(pattern, area, false, h, doc)
}

// user registers an API route that needs an identity: an anonymous
// request gets 401 before the handler reads anything. Routes about a
// repository are registered with api instead, since a repository the
// caller cannot see must answer 404 whoever asks.
func (d *Door) user(pattern string, area core.Area, h handlerFunc, doc Doc) {
	d.route(pattern, area, true, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := actor(r).Require(); err != nil {
			return err
		}
		return h(w, r)
	}, doc)
}

// writeError answers an error in the API's shape. Every 401 says how to
// authenticate, whether the token was missing or bad (RFC 9110 §11.6.1).
func (d *Door) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if p, _ := httpx.ProblemOf(err); p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Tapioca"`)
	}
	httpx.WriteError(w, r, d.log, err)
}

type actorKey struct{}

// actor is who the request acts as; anonymous when no token was sent.
func actor(r *http.Request) core.Actor {
	if a, ok := r.Context().Value(actorKey{}).(core.Actor); ok {
		return a
	}
	return core.Anonymous
}

// Middleware authenticates requests to the API, applies the rate limit
// and the body limit, and sets X-RateLimit-* on every answer. Other paths
// (and the other dialects under /api/, which pass their own gate) pass
// through untouched.
func (d *Door) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.mine(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, V1) {
			// The API's own routes set each its own limit (route.go).
			r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody)
		}
		a, err := d.gate.Check(w, r)
		if err != nil {
			d.writeError(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), actorKey{}, a))
		// A 304 costs the server little and the client nothing: it is
		// not counted.
		refund := func() { d.gate.Refund(w, r, a) }
		httpx.Conditional(&noRedirects{ResponseWriter: w, d: d, r: r}, r, refund, next)
	})
}

// mine reports whether path is the API's: /api/v1, and anything else
// under /api/ that no other dialect claims (answered by the fallback).
func (d *Door) mine(path string) bool {
	if !strings.HasPrefix(path, Prefix) {
		return false
	}
	for _, p := range d.Others {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// noRedirects turns the mux's own redirects (to a cleaned path such as
// /api/v1//user, or to a subtree such as .../archive/) into the API's JSON
// 404: API clients get JSON, never an HTML redirect.
type noRedirects struct {
	http.ResponseWriter
	d          *Door
	r          *http.Request
	suppressed bool
}

func (n *noRedirects) WriteHeader(code int) {
	if n.suppressed {
		return
	}
	if code >= 300 && code < 400 && n.Header().Get("Location") != "" {
		n.suppressed = true
		n.Header().Del("Location")
		n.d.writeError(n.ResponseWriter, n.r, httpx.NoSuchEndpoint(n.r))
		return
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *noRedirects) Write(b []byte) (int, error) {
	if n.suppressed {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}

func (n *noRedirects) Flush() {
	if f, ok := n.ResponseWriter.(http.Flusher); ok && !n.suppressed {
		f.Flush()
	}
}

func (n *noRedirects) Unwrap() http.ResponseWriter { return n.ResponseWriter }

// writeJSON is httpx.WriteJSON.
func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// page reads the pagination parameters.
func page(r *http.Request) (httpx.Page, error) { return httpx.ParsePage(r) }

// setPage writes the pagination headers of a list.
func (d *Door) setPage(w http.ResponseWriter, r *http.Request, p httpx.Page, total int) {
	httpx.SetPageHeaders(w, r, d.env.BaseURL(), p, total)
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ref is the /issues/{number} or /pulls/{number} of the request.
func ref(r *http.Request, pull bool) issues.Ref {
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if err != nil {
		n = 0 // names nothing: the core answers 404
	}
	return issues.Ref{Owner: r.PathValue("owner"), Repo: r.PathValue("repo"), Number: n, Pull: pull}
}
