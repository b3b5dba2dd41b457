package codeboba

import (
	"fmt"
	"net/http"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// GitHub's deploy key routes: keys that reach one repository over SSH.
func (d *Door) routesDeployKeys() {
	const repo = "/api/v1/repos/{owner}/{repo}"
	d.api("GET "+repo+"/keys", core.AreaRepo, d.listDeployKeys,
		Doc{Summary: "List a repository's deploy keys (admins)", Paged: true, Out: []deployKeyJSON{}})
	d.api("POST "+repo+"/keys", core.AreaRepo, d.addDeployKey,
		Doc{Summary: "Add a deploy key (read-only unless read_only is false)", Body: deployKeyRequest{}, Out: deployKeyJSON{},
			Status: http.StatusCreated})
	d.api("GET "+repo+"/keys/{id}", core.AreaRepo, d.getDeployKey, Doc{Summary: "Get a deploy key", Out: deployKeyJSON{}})
	d.api("DELETE "+repo+"/keys/{id}", core.AreaRepo, d.deleteDeployKey, Doc{Summary: "Remove a deploy key"})
}

type deployKeyRequest struct {
	Title     core.Opt[string] `json:"title" doc:"A label for the key"`
	Name      core.Opt[string] `json:"name" doc:"Instead of title"`
	Key       core.Opt[string] `json:"key" doc:"The public key"`
	PublicKey core.Opt[string] `json:"public_key" doc:"Instead of key"`
	ReadOnly  core.Opt[bool]   `json:"read_only" doc:"false lets the key push (default true)"`
}

type deployKeyJSON struct {
	ID          int64   `json:"id"`
	Title       string  `json:"title"`
	Key         string  `json:"key"`
	Fingerprint string  `json:"fingerprint"`
	ReadOnly    bool    `json:"read_only"`
	AddedBy     *string `json:"added_by"`
	URL         string  `json:"url"`
	CreatedAt   string  `json:"created_at"`
}

func (d *Door) deployKeyOut(repo *store.Repo, k *store.DeployKey) deployKeyJSON {
	out := deployKeyJSON{ID: k.ID, Title: k.Title, Key: k.PublicKey, Fingerprint: k.Fingerprint, ReadOnly: k.ReadOnly,
		URL:       fmt.Sprintf("%s/api/v1/repos/%s/keys/%d", strings.TrimRight(d.env.BaseURL(), "/"), repo.FullName(), k.ID),
		CreatedAt: payload.Time(k.CreatedAt)}
	if k.AddedBy != "" {
		out.AddedBy = &k.AddedBy
	}
	return out
}

// deployKeyRepo loads the repository of the request for its
// administrators, before any input is read.
func (d *Door) deployKeyRepo(r *http.Request) (*store.Repo, error) {
	return d.DeployKeys.Repo(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"))
}

func (d *Door) listDeployKeys(w http.ResponseWriter, r *http.Request) error {
	repo, err := d.deployKeyRepo(r)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	ks, total, err := d.DeployKeys.List(r.Context(), actor(r), repo, p.Core())
	if err != nil {
		return err
	}
	out := make([]deployKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, d.deployKeyOut(repo, k))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) addDeployKey(w http.ResponseWriter, r *http.Request) error {
	repo, err := d.deployKeyRepo(r)
	if err != nil {
		return err
	}
	var req deployKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	// Read-only unless asked otherwise: GitHub's API defaults to
	// writable, its web form to read-only; the safer one wins.
	writable := req.ReadOnly.Given() && !req.ReadOnly.V
	k, err := d.DeployKeys.Add(r.Context(), actor(r), repo, core.Or(req.Title, req.Name).V,
		core.Or(req.Key, req.PublicKey).V, writable)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d.deployKeyOut(repo, k))
	return nil
}

func (d *Door) getDeployKey(w http.ResponseWriter, r *http.Request) error {
	repo, err := d.deployKeyRepo(r)
	if err != nil {
		return err
	}
	id, err := httpx.PathID(r, "id")
	if err != nil {
		return err
	}
	k, err := d.DeployKeys.Get(r.Context(), actor(r), repo, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.deployKeyOut(repo, k))
	return nil
}

func (d *Door) deleteDeployKey(w http.ResponseWriter, r *http.Request) error {
	repo, err := d.deployKeyRepo(r)
	if err != nil {
		return err
	}
	id, err := httpx.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := d.DeployKeys.Remove(r.Context(), actor(r), repo, id); err != nil {
		return err
	}
	return noContent(w)
}
