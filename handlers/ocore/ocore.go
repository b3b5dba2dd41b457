// Package ocore is the projects door (the oCore dialect): /api/projects
// and /api/orgs/{orgId}/projects/{id}/repository/..., where a caller
// with a Tapioca token (Authorization: Bearer) manages projects, their
// connected repository, deploy targets and branch mappings; and
// /api/project-hooks/{token}, where an upstream's webhook asks for a
// sync. Answers are camelCase JSON in the seed's shapes; every error is
// {"error": "..."} (with "errors" naming each field on a 422). The rules
// are the core's (handlers/core/projects); this door only translates.
package ocore

import (
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/projects"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// The dialect's paths.
const (
	Prefix      = "/api/projects"
	OrgsPrefix  = "/api/orgs/"
	HooksPrefix = "/api/project-hooks/"
)

// Door is the projects dialect.
type Door struct {
	env      *core.Env
	gate     *httpx.Gate
	projects *projects.Service
	mux      *http.ServeMux
}

// New returns the door; gate is shared with the other token dialects.
func New(env *core.Env, gate *httpx.Gate, p *projects.Service) *Door {
	return &Door{env: env, gate: gate, projects: p}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, a core.Actor) error

// Register adds the dialect's routes to mux (before the CodeBoba API's
// catch-all for /api/).
func (d *Door) Register(mux *http.ServeMux) {
	d.mux = mux
	p := Prefix + "/{id}"
	d.route("GET "+Prefix, d.list)
	d.route("POST "+Prefix, d.create)
	d.route("GET "+p, d.get)
	d.route("PUT "+p, d.update)
	d.route("DELETE "+p, d.delete)
	d.route("PUT "+p+"/archive", d.archive(true))
	d.route("PUT "+p+"/unarchive", d.archive(false))
	d.route("POST "+p+"/clone", d.clone)
	d.route("GET "+p+"/branch-mappings", d.mappings)
	d.route("PUT "+p+"/branch-mappings", d.setMappings)
	d.route("GET "+p+"/branches", d.branches)
	d.route("GET "+p+"/tags", d.tags)
	d.route("POST "+p+"/instances", d.linkInstance)
	d.route("DELETE "+p+"/instances/{instanceId}", d.unlinkInstance)
	d.route("POST "+p+"/repository", d.connect)
	d.route("PUT "+p+"/repository", d.updateRepo)
	d.route("DELETE "+p+"/repository", d.disconnect)
	d.route("POST "+p+"/repository/reconfigure-webhook", d.reconfigureWebhook)
	d.route("POST "+p+"/repository/regenerate-key", d.regenerateKey)
	o := OrgsPrefix + "{orgId}/projects/{id}/repository"
	d.route("POST "+o+"/sync", d.sync)
	d.route("GET "+o+"/sync/status", d.syncStatus)
	d.route("POST "+o+"/validate", d.validate)
	for _, catchAll := range []string{Prefix + "/", OrgsPrefix} {
		d.route(catchAll, func(w http.ResponseWriter, r *http.Request, _ core.Actor) error {
			return httpx.Unrouted(mux, r, catchAll)
		})
	}
	mux.HandleFunc("POST "+HooksPrefix+"{token}", d.inbound)
	mux.HandleFunc(HooksPrefix, func(w http.ResponseWriter, r *http.Request) {
		d.writeError(w, r, httpx.Unrouted(mux, r, HooksPrefix))
	})
}

// route registers a route behind the shared gate, with the body limit
// and the dialect's errors. Every route needs a signed-in caller.
func (d *Door) route(pattern string, h handlerFunc) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody)
		a, err := d.gate.Check(w, r)
		if err == nil {
			_, err = a.Require()
		}
		if err == nil {
			err = a.CheckScope(r.Method != http.MethodGet && r.Method != http.MethodHead, core.AreaGeneral)
		}
		if err == nil {
			err = h(w, r, a)
		}
		if err != nil {
			d.writeError(w, r, err)
		}
	})
}

// writeError answers {"error": "..."}; a validation failure's message
// names the first field, and "errors" lists every field's messages.
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
	body := map[string]any{"error": p.Msg}
	if len(p.Fields) > 0 {
		fields := make([]string, 0, len(p.Fields))
		for f := range p.Fields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		if p.Status == http.StatusUnprocessableEntity {
			body["error"] = "Validation failed: " + fields[0] + " " + p.Fields[fields[0]][0]
		}
		body["errors"] = p.Fields
	}
	httpx.WriteJSON(w, p.Status, body)
}

func message(w http.ResponseWriter, msg string) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"message": msg})
}

// Shapes, as the seed names them.

type projectJSON struct {
	BranchMappings     []mappingJSON  `json:"branchMappings"`
	CreatedAt          string         `json:"createdAt"`
	Description        string         `json:"description"`
	GitRepository      *repoJSON      `json:"gitRepository"`
	ID                 string         `json:"id"`
	InstanceCount      int            `json:"instanceCount"`
	IsArchived         bool           `json:"isArchived"`
	LinkedInstances    []instanceJSON `json:"linkedInstances"`
	Name               string         `json:"name"`
	Slug               string         `json:"slug"`
	TestGateProduction string         `json:"testGateProduction"`
	TestGateStaging    string         `json:"testGateStaging"`
	TestSuiteEnabled   bool           `json:"testSuiteEnabled"`
	UpdatedAt          string         `json:"updatedAt"`
}

type mappingJSON struct {
	BranchPattern string `json:"branchPattern"`
	CreatedAt     string `json:"createdAt"`
	ID            string `json:"id"`
	InstanceID    string `json:"instanceId"`
	Priority      int    `json:"priority"`
}

type instanceJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type repoJSON struct {
	AuthType             string          `json:"authType"`
	CreatedAt            string          `json:"createdAt"`
	DefaultBranch        string          `json:"defaultBranch"`
	GitHubRepoID         int64           `json:"githubRepoId"`
	HasAccessToken       bool            `json:"hasAccessToken"`
	HasDeployKey         bool            `json:"hasDeployKey"`
	HasWebhook           bool            `json:"hasWebhook"`
	ID                   string          `json:"id"`
	LastPolledAt         *string         `json:"lastPolledAt"`
	LastSyncedAt         *string         `json:"lastSyncedAt"`
	PollingEnabled       bool            `json:"pollingEnabled"`
	Provider             string          `json:"provider"`
	ProviderCapabilities map[string]bool `json:"providerCapabilities"`
	ProviderRepoID       string          `json:"providerRepoId"`
	RepoName             string          `json:"repoName"`
	RepoOwner            string          `json:"repoOwner"`
	RepoURL              string          `json:"repoUrl"`
	SyncError            *string         `json:"syncError"`
	SyncStatus           string          `json:"syncStatus"`
	SyncStatusChangedAt  *string         `json:"syncStatusChangedAt"`
	UpdatedAt            string          `json:"updatedAt"`
}

func mappingsOut(ms []*store.BranchMapping) []mappingJSON {
	out := make([]mappingJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, mappingJSON{BranchPattern: m.Pattern, CreatedAt: payload.Time(m.CreatedAt), ID: m.PublicID,
			InstanceID: m.InstancePublicID, Priority: m.Priority})
	}
	return out
}

func repoOut(r *store.ProjectRepo) *repoJSON {
	if r == nil {
		return nil
	}
	local := r.RepoID != 0
	out := &repoJSON{AuthType: r.AuthType, CreatedAt: payload.Time(r.CreatedAt), DefaultBranch: r.DefaultBranch,
		HasAccessToken: r.AccessToken != "", HasDeployKey: r.DeployPublicKey != "",
		HasWebhook: local || r.WebhookToken != "", ID: r.PublicID, LastPolledAt: payload.TimePtr(r.LastPolledAt),
		LastSyncedAt: payload.TimePtr(r.LastSyncedAt), PollingEnabled: r.PollingEnabled, Provider: r.Provider,
		ProviderCapabilities: map[string]bool{
			"branches": true, "tags": true, "sync": true, "deployKeys": true, "webhooks": true,
			"pushNotifications": local, "polling": !local, "sshFetch": false,
		},
		RepoName: r.RepoName, RepoOwner: r.RepoOwner, RepoURL: r.RepoURL, SyncStatus: r.SyncStatus,
		SyncStatusChangedAt: payload.TimePtr(r.SyncStatusChangedAt), UpdatedAt: payload.Time(r.UpdatedAt)}
	if local {
		out.GitHubRepoID, out.ProviderRepoID = r.RepoID, strconv.FormatInt(r.RepoID, 10)
	}
	if r.SyncError != "" {
		out.SyncError = &r.SyncError
	}
	return out
}

func projectOut(v *projects.View) projectJSON {
	insts := make([]instanceJSON, 0, len(v.Instances))
	for _, i := range v.Instances {
		insts = append(insts, instanceJSON{ID: i.PublicID, Name: i.Name, Slug: i.Slug})
	}
	return projectJSON{BranchMappings: mappingsOut(v.Mappings), CreatedAt: payload.Time(v.CreatedAt),
		Description: v.Description, GitRepository: repoOut(v.Repo), ID: v.PublicID, InstanceCount: len(insts),
		IsArchived: v.Archived, LinkedInstances: insts, Name: v.Name, Slug: v.Slug,
		TestGateProduction: v.TestGateProduction, TestGateStaging: v.TestGateStaging,
		TestSuiteEnabled: v.TestSuiteEnabled, UpdatedAt: payload.Time(v.UpdatedAt)}
}

// Projects.

func boolQuery(r *http.Request, name string) (bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, core.Invalid(name, "must be true or false")
	}
	return b, nil
}

func (d *Door) list(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	all, err := boolQuery(r, "include_archived")
	if err != nil {
		return err
	}
	vs, err := d.projects.List(r.Context(), a, projects.ListInput{Namespace: r.URL.Query().Get("namespace"), IncludeArchived: all})
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, projectOut(v))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"projects": out, "total": len(out)})
	return nil
}

func (d *Door) create(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		Name        *string `json:"name"`
		Slug        string  `json:"slug"`
		Description string  `json:"description"`
		Namespace   string  `json:"namespace"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return core.Invalid("name", "can't be blank")
	}
	v, err := d.projects.Create(r.Context(), a, projects.CreateInput{Name: *req.Name, Slug: req.Slug,
		Description: req.Description, Namespace: req.Namespace})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/"+v.PublicID)
	httpx.WriteJSON(w, http.StatusCreated, projectOut(v))
	return nil
}

func (d *Door) get(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	v, err := d.projects.Get(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, projectOut(v))
	return nil
}

func (d *Door) update(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		Name               core.Opt[string] `json:"name"`
		Description        core.Opt[string] `json:"description"`
		TestSuiteEnabled   core.Opt[bool]   `json:"testSuiteEnabled"`
		TestGateStaging    core.Opt[string] `json:"testGateStaging"`
		TestGateProduction core.Opt[string] `json:"testGateProduction"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	v, err := d.projects.Update(r.Context(), a, r.PathValue("id"), projects.UpdateInput{Name: req.Name,
		Description: req.Description, TestSuiteEnabled: req.TestSuiteEnabled, TestGateStaging: req.TestGateStaging,
		TestGateProduction: req.TestGateProduction})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, projectOut(v))
	return nil
}

func (d *Door) delete(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if err := d.projects.Delete(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Door) archive(archived bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, a core.Actor) error {
		p, err := d.projects.SetArchived(r.Context(), a, r.PathValue("id"), archived)
		if err != nil {
			return err
		}
		if archived {
			message(w, "Project "+p.Slug+" archived")
		} else {
			message(w, "Project "+p.Slug+" unarchived")
		}
		return nil
	}
}

func (d *Door) clone(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	v, err := d.projects.Clone(r.Context(), a, r.PathValue("id"), projects.CloneInput{Name: req.Name, Slug: req.Slug})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/"+v.PublicID)
	httpx.WriteJSON(w, http.StatusCreated, projectOut(v))
	return nil
}

// Instances and mappings.

func (d *Door) linkInstance(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		InstanceID string `json:"instanceId"`
		Name       string `json:"name"`
		Slug       string `json:"slug"`
		HookURL    string `json:"hookUrl"`
		Secret     string `json:"secret"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	if req.InstanceID == "" && req.Name == "" && req.HookURL == "" {
		return core.Invalid("instanceId", "can't be blank (or describe a new instance with name, hookUrl and secret)")
	}
	inst, err := d.projects.LinkInstance(r.Context(), a, r.PathValue("id"), projects.LinkInput{InstanceID: req.InstanceID,
		Name: req.Name, Slug: req.Slug, HookURL: req.HookURL, Secret: req.Secret})
	if err != nil {
		return err
	}
	// The body is the seed's {"message"}; the instance's id is in
	// Location (and in the project's linkedInstances).
	w.Header().Set("Location", Prefix+"/"+r.PathValue("id")+"/instances/"+inst.PublicID)
	message(w, "Instance "+inst.Slug+" ("+inst.PublicID+") linked to the project")
	return nil
}

func (d *Door) unlinkInstance(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if err := d.projects.UnlinkInstance(r.Context(), a, r.PathValue("id"), r.PathValue("instanceId")); err != nil {
		return err
	}
	message(w, "Instance unlinked from the project")
	return nil
}

func (d *Door) mappings(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	ms, err := d.projects.Mappings(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, mappingsOut(ms))
	return nil
}

func (d *Door) setMappings(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		Mappings *[]struct {
			BranchPattern string `json:"branchPattern"`
			InstanceID    string `json:"instanceId"`
			Priority      int    `json:"priority"`
		} `json:"mappings"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	if req.Mappings == nil {
		return core.Invalid("mappings", "can't be blank (send [] to remove every mapping)")
	}
	in := make([]projects.MappingInput, 0, len(*req.Mappings))
	for _, m := range *req.Mappings {
		in = append(in, projects.MappingInput{BranchPattern: m.BranchPattern, InstanceID: m.InstanceID, Priority: m.Priority})
	}
	ms, err := d.projects.SetMappings(r.Context(), a, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, mappingsOut(ms))
	return nil
}

// Repository.

type refJSON struct {
	Name      string `json:"name"`
	CommitSHA string `json:"commitSha"`
	IsDefault *bool  `json:"isDefault,omitempty"`
}

func refsOut(rs []projects.Ref, branches bool) []refJSON {
	out := make([]refJSON, 0, len(rs))
	for _, r := range rs {
		j := refJSON{Name: r.Name, CommitSHA: r.CommitSHA}
		if branches {
			j.IsDefault = &r.IsDefault
		}
		out = append(out, j)
	}
	return out
}

func (d *Door) branches(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	rs, err := d.projects.Branches(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, refsOut(rs, true))
	return nil
}

func (d *Door) tags(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	rs, err := d.projects.Tags(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, refsOut(rs, false))
	return nil
}

func (d *Door) connect(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		AccessToken   string `json:"accessToken"`
		AuthType      string `json:"authType"`
		Provider      string `json:"provider"`
		RepoName      string `json:"repoName"`
		RepoOwner     string `json:"repoOwner"`
		RepoURL       string `json:"repoUrl"`
		DefaultBranch string `json:"defaultBranch"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	pr, err := d.projects.Connect(r.Context(), a, r.PathValue("id"), projects.ConnectInput{Provider: req.Provider,
		RepoURL: req.RepoURL, RepoOwner: req.RepoOwner, RepoName: req.RepoName, AuthType: req.AuthType,
		AccessToken: req.AccessToken, DefaultBranch: req.DefaultBranch})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, repoOut(pr))
	return nil
}

func (d *Door) updateRepo(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		DefaultBranch  core.Opt[string] `json:"defaultBranch"`
		PollingEnabled core.Opt[bool]   `json:"pollingEnabled"`
		RepoURL        core.Opt[string] `json:"repoUrl"`
		WebhookSecret  core.Opt[string] `json:"webhookSecret"`
		AccessToken    core.Opt[string] `json:"accessToken"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	pr, err := d.projects.UpdateRepo(r.Context(), a, r.PathValue("id"), projects.UpdateRepoInput{RepoURL: req.RepoURL,
		DefaultBranch: req.DefaultBranch, PollingEnabled: req.PollingEnabled, WebhookSecret: req.WebhookSecret,
		AccessToken: req.AccessToken})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, repoOut(pr))
	return nil
}

func (d *Door) disconnect(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	if err := d.projects.Disconnect(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (d *Door) regenerateKey(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	pr, pub, err := d.projects.RegenerateKey(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	// The seed's shape, plus the public key to install upstream (the
	// private key never leaves the server).
	httpx.WriteJSON(w, http.StatusOK, struct {
		*repoJSON
		PublicKey string `json:"publicKey"`
	}{repoOut(pr), pub})
	return nil
}

func (d *Door) reconfigureWebhook(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	pr, hook, err := d.projects.ReconfigureWebhook(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	if hook.URL == "" {
		httpx.WriteJSON(w, http.StatusOK, repoOut(pr))
		return nil
	}
	// The inbound URL and its secret are shown this once.
	httpx.WriteJSON(w, http.StatusOK, struct {
		*repoJSON
		WebhookURL    string `json:"webhookUrl"`
		WebhookSecret string `json:"webhookSecret"`
	}{repoOut(pr), hook.URL, hook.Secret})
	return nil
}

type syncJSON struct {
	SyncStatus          string  `json:"syncStatus"`
	SyncError           *string `json:"syncError"`
	SyncStatusChangedAt *string `json:"syncStatusChangedAt"`
	LastSyncedAt        *string `json:"lastSyncedAt"`
	LastPolledAt        *string `json:"lastPolledAt"`
	PollingEnabled      bool    `json:"pollingEnabled"`
	DefaultBranch       string  `json:"defaultBranch"`
	RepoOwner           string  `json:"repoOwner"`
	RepoName            string  `json:"repoName"`
	RepoURL             string  `json:"repoUrl"`
}

func syncOut(pr *store.ProjectRepo) syncJSON {
	j := repoOut(pr)
	return syncJSON{SyncStatus: j.SyncStatus, SyncError: j.SyncError, SyncStatusChangedAt: j.SyncStatusChangedAt,
		LastSyncedAt: j.LastSyncedAt, LastPolledAt: j.LastPolledAt, PollingEnabled: j.PollingEnabled,
		DefaultBranch: j.DefaultBranch, RepoOwner: j.RepoOwner, RepoName: j.RepoName, RepoURL: j.RepoURL}
}

func (d *Door) sync(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	pr, err := d.projects.Sync(r.Context(), a, r.PathValue("orgId"), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, syncOut(pr))
	return nil
}

func (d *Door) syncStatus(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	pr, err := d.projects.SyncStatus(r.Context(), a, r.PathValue("orgId"), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, syncOut(pr))
	return nil
}

func (d *Door) validate(w http.ResponseWriter, r *http.Request, a core.Actor) error {
	var req struct {
		RepoURL     string `json:"repoUrl"`
		AccessToken string `json:"accessToken"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	res, err := d.projects.Validate(r.Context(), a, r.PathValue("orgId"), r.PathValue("id"),
		projects.ValidateInput{RepoURL: req.RepoURL, AccessToken: req.AccessToken})
	if err != nil {
		return err
	}
	out := map[string]any{"valid": res.Valid, "reason": nil, "defaultBranch": res.DefaultBranch, "branchCount": res.Branches}
	if !res.Valid {
		out["reason"] = res.Reason
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// inbound is an upstream's webhook: signed with the secret
// reconfigure-webhook showed, it starts a sync.
func (d *Door) inbound(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpx.MaxJSONBody))
	if err == nil {
		sig := r.Header.Get("X-Hub-Signature-256")
		if sig == "" {
			sig = r.Header.Get(projects.HeaderSignature)
		}
		err = d.projects.Inbound(r.Context(), r.PathValue("token"), strings.TrimSpace(sig), body)
	}
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]string{"message": "Sync started"})
}
