package codeboba

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/handlers/httpx"
)

// IdempotencyHeader names a write a client may retry safely.
const IdempotencyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds a key (Stripe allows 255 characters).
const maxIdempotencyKey = 255

// keptHeaders are the headers of an answer that are replayed with it.
var keptHeaders = []string{"Content-Type", "Location", "Link", "X-Total-Count", "Retry-After", "Allow", "WWW-Authenticate"}

// keptAnswer is an answer as kept for replay (sealed at rest).
type keptAnswer struct {
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// idempotent runs a write that carries an Idempotency-Key once per key
// and caller: within 24 hours a repeat with the same method, path and
// body gets the first answer again (with Idempotent-Replayed: true) and
// changes nothing; the same key with another request is a 422; a repeat
// while the first is still running is a 409. Server errors are not kept,
// so a retry after one runs again.
func (d *Door) idempotent(w http.ResponseWriter, r *http.Request, run func(http.ResponseWriter, *http.Request)) {
	key := r.Header.Get(IdempotencyHeader)
	if len(key) > maxIdempotencyKey || !utf8.ValidString(key) {
		d.writeError(w, r, core.Invalid(IdempotencyHeader, "must be at most 255 characters of text"))
		return
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	sum.Write([]byte(r.Method + " " + r.URL.RequestURI() + "\n"))
	sum.Write(body)
	fingerprint := hex.EncodeToString(sum.Sum(nil))
	scope := "ip:" + httpx.ClientIP(r)
	if a := actor(r); a.User != nil {
		scope = "user:" + strconv.FormatInt(a.User.ID, 10)
	}
	st := d.env.Store
	prev, claimed, err := st.ClaimIdempotencyKey(r.Context(), scope, key, fingerprint)
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	if !claimed {
		switch {
		case prev.Fingerprint != fingerprint:
			d.writeError(w, r, core.Invalid(IdempotencyHeader,
				"was used for another request: a retry must repeat the method, path and body exactly (use a new key for a new request)"))
		case !prev.Done:
			d.writeError(w, r, core.Conflict("A request with this Idempotency-Key is still being processed; retry shortly"))
		default:
			d.replay(w, r, prev.Status, prev.Response)
		}
		return
	}
	rec := &answerRecorder{ResponseWriter: w}
	defer func() {
		// Whatever happened, a claim without an answer must not block
		// retries for the whole window.
		ctx := r.Context()
		if rec.status == 0 || rec.status >= 500 || rec.status == http.StatusTooManyRequests {
			if err := st.ReleaseIdempotencyKey(ctx, scope, key); err != nil {
				d.log.WarnContext(ctx, "release idempotency key", "err", err)
			}
			return
		}
		kept := keptAnswer{Headers: map[string]string{}, Body: rec.body.Bytes()}
		for _, h := range keptHeaders {
			if v := w.Header().Get(h); v != "" {
				kept.Headers[h] = v
			}
		}
		plain, err := json.Marshal(kept)
		if err == nil {
			err = st.FinishIdempotencyKey(ctx, scope, key, rec.status, []byte(d.env.Secrets.Seal(string(plain))))
		}
		if err != nil {
			d.log.WarnContext(ctx, "keep idempotent answer", "err", err)
			_ = st.ReleaseIdempotencyKey(ctx, scope, key)
		}
	}()
	run(rec, r)
}

func (d *Door) replay(w http.ResponseWriter, r *http.Request, status int, sealed []byte) {
	plain, err := d.env.Secrets.Open(string(sealed))
	var kept keptAnswer
	if err == nil {
		err = json.Unmarshal([]byte(plain), &kept)
	}
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	for k, v := range kept.Headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(kept.Body)
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
