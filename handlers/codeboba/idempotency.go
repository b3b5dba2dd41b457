package codeboba

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"tapioca/handlers/core/idempotency"
	"tapioca/handlers/httpx"
)

// IdempotencyHeader names a write a client may retry safely.
const IdempotencyHeader = "Idempotency-Key"

// keptHeaders are the headers of an answer that are replayed with it.
var keptHeaders = []string{"Content-Type", "Location", "Link", "X-Total-Count", "Retry-After", "Allow", "WWW-Authenticate"}

// idempotent runs a write that carries an Idempotency-Key under the
// core's rule (core/idempotency): the request is its method, path and
// body; a replayed answer carries Idempotent-Replayed: true.
func (d *Door) idempotent(w http.ResponseWriter, r *http.Request, run func(http.ResponseWriter, *http.Request)) {
	body, err := httpx.ReadBody(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	sum.Write([]byte(r.Method + " " + r.URL.RequestURI() + "\n"))
	sum.Write(body)
	claim, replay, err := d.Idempotency.Begin(r.Context(), actor(r), httpx.ClientIP(r), r.Header.Get(IdempotencyHeader), hex.EncodeToString(sum.Sum(nil)))
	switch {
	case err != nil:
		d.writeError(w, r, err)
		return
	case replay != nil:
		for k, v := range replay.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(replay.Status)
		_, _ = w.Write(replay.Body)
		return
	}
	rec := &answerRecorder{ResponseWriter: w}
	defer func() {
		ans := idempotency.Answer{Status: rec.status, Headers: map[string]string{}, Body: rec.body.Bytes()}
		for _, h := range keptHeaders {
			if v := w.Header().Get(h); v != "" {
				ans.Headers[h] = v
			}
		}
		claim.Finish(r.Context(), ans)
	}()
	run(rec, r)
}

// answerRecorder keeps a copy of the answer it passes on.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.body.Write(b)
	return a.ResponseWriter.Write(b)
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }
