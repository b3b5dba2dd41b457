package codeboba

import (
	"net/http"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/repos"
	"tapioca/store"
)

func (d *Door) routesLabels() {
	const repo = "/api/v1/repos/{owner}/{repo}"
	d.api("GET "+repo+"/collaborators", core.AreaRepo, d.listCollaborators,
		Doc{Summary: "List collaborators", Paged: true, Out: []collaboratorJSON{}})
	d.api("PUT "+repo+"/collaborators/{username}", core.AreaRepo, d.setCollaborator,
		Doc{Summary: "Add a collaborator or change their permission", Body: collaboratorRequest{}, Out: collaboratorJSON{}})
	d.api("DELETE "+repo+"/collaborators/{username}", core.AreaRepo, d.removeCollaborator, Doc{Summary: "Remove a collaborator"})

	d.api("GET "+repo+"/labels", core.AreaRepo, d.listLabels, Doc{Summary: "List labels", Paged: true, Out: []payload.Label{}})
	d.api("POST "+repo+"/labels", core.AreaRepo, d.createLabel,
		Doc{Summary: "Create a label", Body: labelRequest{}, Out: payload.Label{}, Status: http.StatusCreated})
	d.api("GET "+repo+"/labels/{name...}", core.AreaRepo, d.getLabel, Doc{Summary: "Get a label", Out: payload.Label{}})
	d.api("PATCH "+repo+"/labels/{name...}", core.AreaRepo, d.updateLabel,
		Doc{Summary: "Update a label", Body: labelRequest{}, Out: payload.Label{}})
	d.api("DELETE "+repo+"/labels/{name...}", core.AreaRepo, d.deleteLabel, Doc{Summary: "Delete a label"})
}

type collaboratorRequest struct {
	Permission core.Opt[string] `json:"permission" enum:"read,write,admin" doc:"read, write (default) or admin"`
}

type collaboratorJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
	Permission  string  `json:"permission"`
}

func collaboratorOut(u *store.User, perm string) collaboratorJSON {
	return collaboratorJSON{ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName, Permission: perm}
}

// repoFirst checks that the caller can reach the repository at need
// before a request body or parameters are read, so a refusal is not
// preempted by a complaint about the input.
func (d *Door) repoFirst(r *http.Request, need store.Perm) error {
	_, _, err := d.env.RepoAccess(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), need)
	return err
}

func (d *Door) listCollaborators(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	cs, total, err := d.Repos.Collaborators(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), p.Core())
	if err != nil {
		return err
	}
	out := make([]collaboratorJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, collaboratorOut(c.User, c.Permission))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) setCollaborator(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermAdmin); err != nil {
		return err
	}
	var req collaboratorRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, perm, err := d.Repos.SetCollaborator(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("username"), req.Permission)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, collaboratorOut(u, perm))
	return nil
}

func (d *Door) removeCollaborator(w http.ResponseWriter, r *http.Request) error {
	if err := d.Repos.RemoveCollaborator(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("username")); err != nil {
		return err
	}
	return noContent(w)
}

func (d *Door) listLabels(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermRead); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	ls, total, err := d.Repos.Labels(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), p.Core())
	if err != nil {
		return err
	}
	out := make([]payload.Label, 0, len(ls))
	for _, l := range ls {
		out = append(out, payload.LabelOf(l))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type labelRequest struct {
	Name        core.Opt[string] `json:"name" doc:"1-50 characters, no commas"`
	Color       core.Opt[string] `json:"color" doc:"#rrggbb, rrggbb, #rgb or rgb"`
	Description core.Opt[string] `json:"description"`
}

func (req labelRequest) input() repos.LabelInput {
	return repos.LabelInput{Name: req.Name, Color: req.Color, Description: req.Description}
}

func (d *Door) createLabel(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req labelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	l, err := d.Repos.CreateLabel(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, payload.LabelOf(l))
	return nil
}

func (d *Door) getLabel(w http.ResponseWriter, r *http.Request) error {
	l, err := d.Repos.Label(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.LabelOf(l))
	return nil
}

func (d *Door) updateLabel(w http.ResponseWriter, r *http.Request) error {
	if err := d.repoFirst(r, store.PermWrite); err != nil {
		return err
	}
	var req labelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	l, err := d.Repos.UpdateLabel(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("name"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.LabelOf(l))
	return nil
}

func (d *Door) deleteLabel(w http.ResponseWriter, r *http.Request) error {
	if err := d.Repos.DeleteLabel(r.Context(), actor(r), r.PathValue("owner"), r.PathValue("repo"), r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}
