package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Recorder remembers the status and size of a response for the access
// log, and who made the request. It passes Flush through: git streams
// through it.
type Recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	user   string
}

func (s *Recorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *Recorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *Recorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Recorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type recorderKey struct{}

// SetUser names the signed-in user of the request in its access log line.
func SetUser(ctx context.Context, name string) {
	if rec, ok := ctx.Value(recorderKey{}).(*Recorder); ok {
		rec.user = name
	}
}

// AccessLog logs one line per request.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &Recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), recorderKey{}, rec)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		log.Info("http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "ms", time.Since(start).Milliseconds(), "ip", ClientIP(r), "user", rec.user,
			"request_id", RequestIDOf(r.Context()))
	})
}

// Recover turns a handler panic into a 500 without a stack trace on the
// wire; the trace goes to the log.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				WriteError(w, r, log, Status(http.StatusInternalServerError, "Internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
