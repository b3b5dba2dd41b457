// Package opencodehub is the OpenCodeHub dialect's door (/api/repos): the
// same repositories and pull requests as the CodeBoba API, in the
// OpenCodeHub wire format. Every success is {"data": ..., "meta":
// {"timestamp": ...}} (lists add pagination to meta), every error is
// {"error": {"code", "message", "details"}, "meta": {"timestamp",
// "request_id"}}, and ids are strings ("repo-123", "user-456"). The rules
// are the core's: this door only translates.
package opencodehub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// Prefix is where the dialect lives.
const Prefix = "/api/repos"

// Door is the OpenCodeHub dialect.
type Door struct {
	env   *core.Env
	gate  *httpx.Gate
	repos *repos.Service
	pulls *pulls.Service
	mux   *http.ServeMux
}

// New returns the door; gate is shared with the other token dialects.
func New(env *core.Env, gate *httpx.Gate, r *repos.Service, p *pulls.Service) *Door {
	return &Door{env: env, gate: gate, repos: r, pulls: p}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, a core.Actor) error

// Register adds the dialect's routes to mux.
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	d.route("GET "+Prefix, d.listRepos)
	d.route("POST "+Prefix, d.createRepo)
	d.route("GET "+Prefix+"/{owner}/{repo}", d.getRepo)
	d.route("GET "+Prefix+"/{owner}/{repo}/pulls", d.listPulls)
	d.route("POST "+Prefix+"/{owner}/{repo}/pulls", d.createPull)
	d.route("GET "+Prefix+"/{owner}/{repo}/pulls/{number}", d.getPull)
	d.route(Prefix+"/", func(w http.ResponseWriter, r *http.Request, _ core.Actor) error {
		return httpx.Unrouted(mux, r, Prefix+"/")
	})
}

type requestIDKey struct{}

// route registers a route behind the shared gate, with the body limit and
// the dialect's error envelope.
func (d *Door) route(pattern string, h handlerFunc) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		// The process's id (httpx.RequestID), so the access log line and
		// the answer name the same one; a door served alone makes its own.
		id := httpx.RequestIDOf(r.Context())
		if id == "" {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = "req-" + hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody)
		a, err := d.gate.Check(w, r)
		if err == nil {
			write := r.Method != http.MethodGet && r.Method != http.MethodHead
			err = a.CheckScope(write, core.AreaRepo)
		}
		if err == nil {
			err = h(w, r, a)
		}
		if err != nil {
			d.writeError(w, r, err)
		}
	})
}

func now() string { return payload.Time(time.Now()) }

// writeData answers a success in the envelope.
func writeData(w http.ResponseWriter, status int, data any, meta map[string]any) {
	m := map[string]any{"timestamp": now()}
	for k, v := range meta {
		m[k] = v
	}
	httpx.WriteJSON(w, status, map[string]any{"data": data, "meta": m})
}

// codes maps HTTP statuses to the dialect's error codes.
var codes = map[int]string{
	http.StatusBadRequest:            "BAD_REQUEST",
	http.StatusUnauthorized:          "UNAUTHORIZED",
	http.StatusForbidden:             "FORBIDDEN",
	http.StatusNotFound:              "NOT_FOUND",
	http.StatusMethodNotAllowed:      "METHOD_NOT_ALLOWED",
	http.StatusConflict:              "CONFLICT",
	http.StatusRequestEntityTooLarge: "PAYLOAD_TOO_LARGE",
	http.StatusUnprocessableEntity:   "VALIDATION_ERROR",
	http.StatusTooManyRequests:       "RATE_LIMITED",
	http.StatusInternalServerError:   "INTERNAL_ERROR",
}

// writeError answers an error in the envelope. A validation failure names
// its first field and constraint in details, with every field's messages
// under details.fields.
func (d *Door) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, internal := httpx.ProblemOf(err)
	if internal {
		d.env.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Tapioca"`)
	}
	code := codes[p.Status]
	if code == "" {
		code = "ERROR"
	}
	details := map[string]any{}
	msg := p.Msg
	if len(p.Fields) > 0 {
		field := firstField(p.Fields)
		first := p.Fields[field][0]
		details["field"] = field
		details["constraint"] = constraint(first)
		details["fields"] = p.Fields
		msg = humanField(field) + " " + first
	}
	for k, v := range p.Details {
		details[k] = v
	}
	id, _ := r.Context().Value(requestIDKey{}).(string)
	httpx.WriteJSON(w, p.Status, map[string]any{
		"error": map[string]any{"code": code, "message": msg, "details": details},
		"meta":  map[string]any{"timestamp": now(), "request_id": id},
	})
}

// firstField picks the field an error names first: "name" and "title"
// before the rest, else alphabetical, so the answer is stable.
func firstField(fields map[string][]string) string {
	for _, f := range []string{"name", "title", "head", "base"} {
		if len(fields[f]) > 0 {
			return f
		}
	}
	best := ""
	for f := range fields {
		if best == "" || f < best {
			best = f
		}
	}
	return best
}

// constraint names the rule a validation message states.
func constraint(msg string) string {
	switch {
	case strings.HasPrefix(msg, "can't be blank"):
		return "required"
	case strings.HasPrefix(msg, "is too long"):
		return "max_length"
	case strings.HasPrefix(msg, "has already been taken"), strings.Contains(msg, "already open"):
		return "unique"
	case strings.HasPrefix(msg, "is not included in the list"):
		return "enum"
	case strings.HasPrefix(msg, "must be "):
		return "type"
	case strings.Contains(msg, "does not exist"):
		return "exists"
	}
	return "invalid"
}

func humanField(f string) string {
	f = strings.ReplaceAll(f, "_", " ")
	if f == "" {
		return f
	}
	return strings.ToUpper(f[:1]) + f[1:]
}

// page reads page and per_page as the other dialects do.
func page(r *http.Request) (httpx.Page, error) { return httpx.ParsePage(r) }

func pageMeta(p httpx.Page, total int) map[string]any {
	return map[string]any{"pagination": map[string]any{
		"page": p.Page, "per_page": p.PerPage, "total": total, "total_pages": max(1, (total+p.PerPage-1)/p.PerPage),
	}}
}

// Shapes: the dialect's ids are strings with a kind prefix.

type userJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

func userID(id int64) string { return "user-" + strconv.FormatInt(id, 10) }

type repoJSON struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Description   *string  `json:"description"`
	Owner         userJSON `json:"owner"`
	Visibility    string   `json:"visibility"`
	DefaultBranch string   `json:"default_branch"`
	CloneURL      string   `json:"clone_url"`
	SSHURL        string   `json:"ssh_url"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

func (d *Door) repoOut(r *store.Repo) repoJSON {
	vis := "public"
	if r.Private {
		vis = "private"
	}
	site := d.env.Site()
	return repoJSON{ID: "repo-" + strconv.FormatInt(r.ID, 10), Name: r.Name, FullName: r.FullName(), Description: r.Description,
		Owner: userJSON{ID: userID(r.OwnerID), Username: r.OwnerName}, Visibility: vis, DefaultBranch: r.DefaultBranch,
		CloneURL: site.CloneURL(r.FullName()), SSHURL: site.SSHURL(r.FullName()),
		CreatedAt: payload.Time(r.CreatedAt), UpdatedAt: payload.Time(r.UpdatedAt)}
}

type branchJSON struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type pullJSON struct {
	ID        string     `json:"id"`
	Number    int64      `json:"number"`
	Title     string     `json:"title"`
	Body      *string    `json:"body"`
	State     string     `json:"state"`
	Draft     bool       `json:"draft"`
	Merged    bool       `json:"merged"`
	Mergeable bool       `json:"mergeable"`
	Head      branchJSON `json:"head"`
	Base      branchJSON `json:"base"`
	Author    userJSON   `json:"author"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	MergedAt  *string    `json:"merged_at"`
	ClosedAt  *string    `json:"closed_at"`
}

func pullOut(p *store.Pull) pullJSON {
	return pullJSON{ID: "pr-" + strconv.FormatInt(p.ID, 10), Number: p.Number, Title: p.Title, Body: p.Body,
		State: p.State, Draft: p.Draft, Merged: p.Merged(), Mergeable: p.Git.Mergeable && !p.Merged(),
		Head: branchJSON{Ref: p.HeadRef, SHA: p.Git.HeadSHA}, Base: branchJSON{Ref: p.BaseRef, SHA: p.Git.BaseSHA},
		Author:    userJSON{ID: userID(p.Author.ID), Username: p.Author.Username},
		CreatedAt: payload.Time(p.CreatedAt), UpdatedAt: payload.Time(p.UpdatedAt),
		MergedAt: payload.TimePtr(p.MergedAt), ClosedAt: payload.TimePtr(p.ClosedAt)}
}

// listRepos lists the caller's repositories.
func (d *Door) listRepos(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if _, err := a.Require(); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, total, err := d.repos.Mine(r.Context(), a, repos.ListQuery{Visibility: q.Get("visibility"), Sort: q.Get("sort"),
		Direction: q.Get("direction"), Page: p.Core()})
	if err != nil {
		return err
	}
	out := make([]repoJSON, 0, len(list))
	for _, repo := range list {
		out = append(out, d.repoOut(repo))
	}
	writeData(w, http.StatusOK, out, pageMeta(p, total))
	return nil
}

func (d *Door) createRepo(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if _, err := a.Require(); err != nil {
		return err
	}
	var req struct {
		Name          core.Opt[string] `json:"name"`
		Description   core.Opt[string] `json:"description"`
		Visibility    core.Opt[string] `json:"visibility"`
		DefaultBranch core.Opt[string] `json:"default_branch"`
		AutoInit      core.Opt[bool]   `json:"auto_init"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	repo, err := d.repos.Create(r.Context(), a, "", repos.Creation{Name: req.Name.V, Description: req.Description,
		Visibility: req.Visibility, DefaultBranch: req.DefaultBranch, AutoInit: req.AutoInit.V})
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, d.repoOut(repo), nil)
	return nil
}

func (d *Door) getRepo(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	repo, err := d.repos.Get(r.Context(), a, r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, d.repoOut(repo), nil)
	return nil
}

func ref(r *http.Request) issues.Ref {
	n, err := strconv.ParseInt(r.PathValue("number"), 10, 64)
	if err != nil {
		n = 0
	}
	return issues.Ref{Owner: r.PathValue("owner"), Repo: r.PathValue("repo"), Number: n, Pull: true}
}

func (d *Door) listPulls(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if _, err := d.repos.Get(r.Context(), a, r.PathValue("owner"), r.PathValue("repo")); err != nil {
		return err
	}
	q := r.URL.Query()
	lq := pulls.ListQuery{ListQuery: issues.ListQuery{State: q.Get("state"), Labels: q.Get("labels"),
		Assignee: q.Get("assignee"), Sort: q.Get("sort"), Direction: q.Get("direction")}, Head: q.Get("head"), Base: q.Get("base")}
	v := core.Validation{}
	pulls.CheckListQuery(v, lq)
	p := httpx.ReadPage(r, v)
	if err := v.Err(); err != nil {
		return err
	}
	lq.Page = p.Core()
	list, total, err := d.pulls.List(r.Context(), a, r.PathValue("owner"), r.PathValue("repo"), lq)
	if err != nil {
		return err
	}
	out := make([]pullJSON, 0, len(list))
	for _, pr := range list {
		out = append(out, pullOut(pr))
	}
	writeData(w, http.StatusOK, out, pageMeta(p, total))
	return nil
}

func (d *Door) createPull(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		Title core.Opt[string] `json:"title"`
		Body  core.Opt[string] `json:"body"`
		Head  core.Opt[string] `json:"head"`
		Base  core.Opt[string] `json:"base"`
		Draft core.Opt[bool]   `json:"draft"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	p, err := d.pulls.Create(r.Context(), a, r.PathValue("owner"), r.PathValue("repo"), pulls.Creation{
		Title: req.Title, Body: req.Body, Head: req.Head.V, Base: req.Base.V, Draft: req.Draft.V})
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, pullOut(p), nil)
	return nil
}

func (d *Door) getPull(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	p, err := d.pulls.Get(r.Context(), a, ref(r))
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, pullOut(p), nil)
	return nil
}
