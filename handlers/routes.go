package handlers

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiFunc is an API handler: it writes its success response itself and
// returns errors for writeError to turn into JSON.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// routes builds the one mux. Each feature registers its own routes in its
// own file; this is the list of them.
func (a *App) routes() {
	a.mux = http.NewServeMux()
	a.routesHealth()
	a.routesAccounts()
	a.routesRepos()
	a.routesOrgs()
	a.routesLabels()
	a.routesIssues()
	a.routesVouches()
	a.routesPulls()
	a.routesWebhooks()
	a.routesOps()
	a.routesAdmin()

	// The API's catch-all gives JSON 404s and 405s instead of the mux's
	// plain text; git paths and everything else fall through to "/".
	a.mux.HandleFunc("/api/", a.apiFallback)
	// Without this the mux would answer /api with an HTML redirect to /api/.
	a.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, errNotFound) })
	a.mux.HandleFunc("/", a.rootFallback)

	a.handler = a.accessLog(a.recoverPanics(a.gitFirst(a.apiMiddleware(a.mux))))
}

// api registers an API route. ar tells which token scopes cover it.
func (a *App) api(pattern string, ar area, h apiFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if id := who(r); id.token != nil {
			if ok, need := scopeAllows(id.token.Scopes, r.Method, ar); !ok {
				a.writeError(w, r, errScope(need))
				return
			}
		}
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// apiMiddleware authenticates API requests, applies the rate limit and
// the body limit, and sets X-RateLimit-* on every API response.
func (a *App) apiMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
		id := &identity{}
		var authErr error
		if tok, sent := bearerToken(r); sent {
			if tok == "" {
				authErr = errBadToken
			} else {
				id, authErr = a.authenticate(r.Context(), tok)
				if id == nil {
					id = &identity{}
				}
			}
		}
		authLimit, anonLimit := a.rateLimits()
		key, limit := "ip:"+clientIP(r), anonLimit
		if id.user != nil {
			key, limit = "user:"+strconv.FormatInt(id.user.ID, 10), authLimit
		}
		ok, remaining, reset := a.limiter.take(key, limit)
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if !ok {
			h.Set("Retry-After", strconv.Itoa(int(time.Until(reset).Seconds())+1))
			a.writeError(w, r, errStatus(http.StatusTooManyRequests,
				"Rate limit exceeded. Retry after %s.", reset.UTC().Format(time.RFC3339)))
			return
		}
		if authErr != nil {
			if authErr == errBadToken {
				h.Set("WWW-Authenticate", `Bearer realm="Tapioca"`)
			}
			a.writeError(w, r, authErr)
			return
		}
		if rec, ok := w.(*statusRecorder); ok && id.user != nil {
			rec.user = id.user.Username
		}
		next.ServeHTTP(&noRedirects{ResponseWriter: w, a: a, r: r}, withIdentity(r, id))
	})
}

// noRedirects turns the mux's own redirects (to a cleaned path such as
// /api/v1//user, or to a subtree such as .../archive/) into the API's JSON
// 404: API clients get JSON, never an HTML redirect (SPEC §4).
type noRedirects struct {
	http.ResponseWriter
	a          *App
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
		n.a.writeError(n.ResponseWriter, n.r, errNotFound)
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

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

var allMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// apiFallback answers API paths no route matched.
func (a *App) apiFallback(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, a.unrouted(r, "/api/"))
}

// unrouted is the answer for a path that only the catch-all pattern
// matched: 405 with Allow when the path exists for other methods, else
// 404. The API and the operations API both use it.
func (a *App) unrouted(r *http.Request, catchAll string) error {
	var allow []string
	for _, m := range allMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &apiError{Status: http.StatusMethodNotAllowed, Msg: "Method " + r.Method + " not allowed",
			Headers: map[string]string{"Allow": strings.Join(allow, ", ")}}
	}
	return errNotFound
}

// gitFirst serves git smart-HTTP paths before any route sees them. They
// cannot be mux patterns without clashing with /admin/ and friends, and
// they must win: the bootstrap account is called admin, so
// /admin/<repo>.git/info/refs is a repository, not a dashboard page.
func (a *App) gitFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || !a.serveGit(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// rootFallback answers paths no route matched.
func (a *App) rootFallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Tapioca %s: a git forge. API at /api/v1, dashboard at /admin, health at /v1/health.\n", a.cfg.Version)
		return
	}
	a.writeError(w, r, errNotFound)
}

// recoverPanics turns a handler panic into a 500 without a stack trace on
// the wire; the trace goes to the log.
func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				a.writeError(w, r, errStatus(http.StatusInternalServerError, "Internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status and size for the access log. It
// passes Flush through: git streams through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	user   string
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request.
func (a *App) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		a.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "ms", time.Since(start).Milliseconds(), "ip", clientIP(r), "user", rec.user)
	})
}
