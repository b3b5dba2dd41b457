// Package docora is the watched-repositories door (Docora dialect):
// /api/repositories, where apps onboarded by a site administrator
// register upstream repositories, stop watching them and update their
// upstream tokens, authenticated by their docora_ tokens only. Every
// answer is JSON; every error is {"error": "..."}. The rules are the
// core's (handlers/core/apps); this door reads and writes the wire
// format.
package docora

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/handlers/core/apps"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// Prefix is the dialect's path.
const Prefix = "/api/repositories"

// maxBody bounds a request: a URL and a token.
const maxBody = 64 << 10

// Door is the watched-repositories door.
type Door struct {
	env  *core.Env
	apps *apps.Service
	mux  *http.ServeMux
}

// New returns the door.
func New(env *core.Env, a *apps.Service) *Door { return &Door{env: env, apps: a} }

type handlerFunc func(w http.ResponseWriter, r *http.Request, app *store.App) error

// Register adds /api/repositories to mux; the process registers it
// before the CodeBoba API's catch-all for /api/.
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	d.route("POST "+Prefix, d.register)
	d.route("DELETE "+Prefix+"/{id}", d.unregister)
	d.route("PATCH "+Prefix+"/{id}/token", d.updateToken)
	// Everything else under the prefix answers JSON too, after the token
	// check: 405 with Allow for a known path, else 404.
	unrouted := func(w http.ResponseWriter, r *http.Request, _ *store.App) error {
		return httpx.Unrouted(mux, r, Prefix+"/")
	}
	d.route(Prefix+"/", unrouted)
	d.route(Prefix, func(w http.ResponseWriter, r *http.Request, app *store.App) error {
		return httpx.Unrouted(mux, r, Prefix)
	})
}

func (d *Door) route(pattern string, h handlerFunc) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		app, err := d.auth(r)
		if err == nil {
			err = h(w, r, app)
		}
		if err != nil {
			d.writeError(w, r, err)
		}
	})
}

var errNoToken = &core.Error{Kind: core.ErrUnauthorized, Msg: "Missing bearer token: send Authorization: Bearer docora_..."}

// auth resolves the app from "Authorization: Bearer docora_...". Any
// other credential (a CodeBoba token, Basic) is refused.
func (d *Door) auth(r *http.Request) (*store.App, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, &core.Error{Kind: core.ErrUnauthorized, Msg: "Invalid bearer token"}
	}
	app, err := d.apps.Authenticate(r.Context(), strings.TrimSpace(tok))
	if errors.Is(err, core.ErrBadCredentials) {
		return nil, &core.Error{Kind: core.ErrUnauthorized, Msg: "Invalid bearer token"}
	}
	return app, err
}

// writeError answers {"error": "..."}: field errors become one
// sentence, an unreachable upstream is a 502.
func (d *Door) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, apps.ErrUpstream) {
		var ce *core.Error
		msg := "The upstream could not be reached"
		if errors.As(err, &ce) {
			msg = ce.Msg
		}
		httpx.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": msg})
		return
	}
	p, internal := httpx.ProblemOf(err)
	if internal {
		d.env.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := p.Msg
	if len(p.Fields) > 0 {
		var parts []string
		for f, msgs := range p.Fields {
			parts = append(parts, f+" "+strings.Join(msgs, "; "))
		}
		sort.Strings(parts)
		msg = strings.Join(parts, "; ")
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="docora"`)
	}
	httpx.WriteJSON(w, p.Status, map[string]string{"error": msg})
}

// readFields reads a JSON object of string fields: unknown fields and
// other types are 422s naming them, malformed JSON a 400.
func readFields(r *http.Request, known ...string) (map[string]string, error) {
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(body) {
		return nil, core.BadRequest("Request body is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, core.BadRequest("Request body must be a JSON object, like {\"github_url\": \"https://github.com/owner/repo\"}")
	}
	out := map[string]string{}
	for k, v := range raw {
		isKnown := false
		for _, f := range known {
			isKnown = isKnown || f == k
		}
		if !isKnown {
			return nil, core.Invalidf("Unknown field %q (accepted: %s)", k, strings.Join(known, ", "))
		}
		if string(v) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, core.Invalidf("%s must be a string", k)
		}
		out[k] = s
	}
	return out, nil
}

// repositoryJSON is a registered repository.
type repositoryJSON struct {
	RepositoryID string `json:"repository_id"`
	GitHubURL    string `json:"github_url"`
	Owner        string `json:"owner"`
	Name         string `json:"name"`
	IsPrivate    bool   `json:"is_private"`
	CreatedAt    string `json:"created_at"`
}

// register: POST /api/repositories.
func (d *Door) register(w http.ResponseWriter, r *http.Request, app *store.App) error {
	f, err := readFields(r, "github_url", "github_token")
	if err != nil {
		return err
	}
	wt, err := d.apps.Register(r.Context(), app, apps.Registration{GitHubURL: f["github_url"], GitHubToken: f["github_token"]})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, repositoryJSON{RepositoryID: wt.PublicID, GitHubURL: wt.GitHubURL,
		Owner: wt.Owner, Name: wt.Name, IsPrivate: wt.IsPrivate, CreatedAt: payload.Time(wt.CreatedAt)})
	return nil
}

// unregister: DELETE /api/repositories/{id}.
func (d *Door) unregister(w http.ResponseWriter, r *http.Request, app *store.App) error {
	if err := d.apps.Unregister(r.Context(), app, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// updateToken: PATCH /api/repositories/{id}/token.
func (d *Door) updateToken(w http.ResponseWriter, r *http.Request, app *store.App) error {
	f, err := readFields(r, "github_token")
	if err != nil {
		return err
	}
	if err := d.apps.UpdateToken(r.Context(), app, r.PathValue("id"), f["github_token"]); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"message": "Token updated successfully"})
	return nil
}
