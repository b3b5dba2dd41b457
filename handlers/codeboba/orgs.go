package codeboba

import (
	"net/http"

	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

func (d *Door) routesOrgs() {
	d.user("POST /api/v1/orgs", core.AreaGeneral, d.createOrg,
		Doc{Summary: "Create an organization (you become its owner)", Body: orgBody{}, Out: orgJSON{}, Status: http.StatusCreated})
	d.api("GET /api/v1/orgs/{org}", core.AreaGeneral, d.getOrg, Doc{Summary: "Get an organization", Out: orgJSON{}})
	d.api("PATCH /api/v1/orgs/{org}", core.AreaGeneral, d.updateOrg,
		Doc{Summary: "Update an organization's profile", Body: orgBody{}, Out: orgJSON{}})
	d.api("DELETE /api/v1/orgs/{org}", core.AreaAdmin, d.deleteOrg, Doc{Summary: "Delete an organization and its repositories"})
	d.user("GET /api/v1/user/orgs", core.AreaGeneral, d.listOwnOrgs,
		Doc{Summary: "List the organizations you belong to", Paged: true, Out: []orgJSON{}})
	d.api("GET /api/v1/orgs/{org}/members", core.AreaGeneral, d.listMembers,
		Doc{Summary: "List an organization's members", Query: memberListParams{}, Paged: true, Out: []memberJSON{}})
	d.api("PUT /api/v1/orgs/{org}/members/{username}", core.AreaAdmin, d.setMember,
		Doc{Summary: "Add a member or change their role", Body: memberRequest{}, Out: memberJSON{}})
	d.api("DELETE /api/v1/orgs/{org}/members/{username}", core.AreaAdmin, d.removeMember, Doc{Summary: "Remove a member"})
	d.api("GET /api/v1/orgs/{org}/repos", core.AreaRepo, d.listOrgRepos,
		Doc{Summary: "List an organization's repositories (private ones for members only)", Query: repoListParams{}, Paged: true, Out: []payload.Repo{}})
	d.api("POST /api/v1/orgs/{org}/repos", core.AreaRepo, d.createOrgRepo,
		Doc{Summary: "Create a repository for an organization", Body: repoRequest{}, Out: payload.Repo{}, Status: http.StatusCreated})
	d.user("PUT /api/v1/user/alias", core.AreaAdmin, d.setAlias, Doc{Summary: "Set your alias", Body: aliasRequest{}, Out: aliasJSON{}})
	d.user("DELETE /api/v1/user/alias", core.AreaAdmin, d.removeAlias, Doc{Summary: "Remove your alias"})
	d.api("PUT /api/v1/orgs/{org}/alias", core.AreaAdmin, d.setAlias, Doc{Summary: "Set an organization's alias", Body: aliasRequest{}, Out: aliasJSON{}})
	d.api("DELETE /api/v1/orgs/{org}/alias", core.AreaAdmin, d.removeAlias, Doc{Summary: "Remove an organization's alias"})
}

type memberListParams struct {
	Role string `json:"role" enum:"owner,admin,member" doc:"Only members with this role"`
}

type memberRequest struct {
	Role core.Opt[string] `json:"role" enum:"owner,admin,member" doc:"member (default), admin or owner"`
}

type aliasRequest struct {
	Alias core.Opt[string] `json:"alias" api:"required" doc:"Letters, digits and hyphens, 1-39 characters"`
}

type orgJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	DisplayName *string `json:"display_name"`
	Bio         *string `json:"bio"`
	URL         *string `json:"url"`
	VouchCount  int64   `json:"vouch_count"`
	Reputation  int64   `json:"reputation"`
	Alias       *string `json:"alias,omitempty"`
	CreatedAt   string  `json:"created_at"`
}

func orgOut(o *store.User) orgJSON {
	j := orgJSON{ID: o.ID, Username: o.Username, DisplayName: o.DisplayName, Bio: o.Bio, URL: o.URL,
		VouchCount: o.VouchCount, Reputation: o.Reputation, CreatedAt: payload.Time(o.CreatedAt)}
	if o.Alias != "" {
		alias := o.Alias
		j.Alias = &alias
	}
	return j
}

type orgRequest struct {
	Username    core.Opt[string] `json:"username" doc:"The organization's name (at creation)"`
	Login       core.Opt[string] `json:"login" doc:"Instead of username"`
	DisplayName core.Opt[string] `json:"display_name"`
	Bio         core.Opt[string] `json:"bio"`
	URL         core.Opt[string] `json:"url"`
}

// orgBody is an organization body: flat, or nested under "organization".
type orgBody struct {
	orgRequest
	Org *orgRequest `json:"organization" doc:"The same fields, nested"`
}

// readOrg reads the two forms of an organization body.
func readOrg(r *http.Request) (orgRequest, error) {
	var req orgBody
	if err := decode(r, &req); err != nil {
		return orgRequest{}, err
	}
	if req.Org != nil {
		return *req.Org, nil
	}
	return req.orgRequest, nil
}

func (f orgRequest) profile() core.ProfileInput {
	return core.ProfileInput{DisplayName: f.DisplayName, Bio: f.Bio, URL: f.URL}
}

func (d *Door) createOrg(w http.ResponseWriter, r *http.Request) error {
	f, err := readOrg(r)
	if err != nil {
		return err
	}
	org, err := d.Orgs.Create(r.Context(), actor(r), core.Or(f.Username, f.Login).V, f.profile())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, orgOut(org))
	return nil
}

func (d *Door) getOrg(w http.ResponseWriter, r *http.Request) error {
	org, _, err := d.Orgs.Get(r.Context(), actor(r), r.PathValue("org"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(org))
	return nil
}

func (d *Door) updateOrg(w http.ResponseWriter, r *http.Request) error {
	// Refused callers learn so before their body is read.
	if _, _, err := d.env.OrgAccess(r.Context(), actor(r), r.PathValue("org"), store.RoleAdmin); err != nil {
		return err
	}
	f, err := readOrg(r)
	if err != nil {
		return err
	}
	org, err := d.Orgs.Update(r.Context(), actor(r), r.PathValue("org"), f.profile())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(org))
	return nil
}

func (d *Door) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	if err := d.Orgs.Delete(r.Context(), actor(r), r.PathValue("org")); err != nil {
		return err
	}
	return noContent(w)
}

func (d *Door) listOwnOrgs(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	orgs, total, err := d.Orgs.Mine(r.Context(), actor(r), p.Core())
	if err != nil {
		return err
	}
	out := make([]orgJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, orgOut(o))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type memberJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
	Role        string  `json:"role"`
}

func memberOut(u *store.User, role string) memberJSON {
	return memberJSON{ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName, Role: role}
}

func (d *Door) listMembers(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := d.Orgs.Get(r.Context(), actor(r), r.PathValue("org")); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	var q memberListParams
	if err := query(r, &q); err != nil {
		return err
	}
	members, total, err := d.Orgs.Members(r.Context(), actor(r), r.PathValue("org"), q.Role, p.Core())
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, memberOut(m.User, m.Role))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (d *Door) setMember(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := d.env.OrgAccess(r.Context(), actor(r), r.PathValue("org"), store.RoleAdmin); err != nil {
		return err
	}
	var req memberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, role, err := d.Orgs.SetMember(r.Context(), actor(r), r.PathValue("org"), r.PathValue("username"), req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberOut(u, role))
	return nil
}

func (d *Door) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := d.Orgs.RemoveMember(r.Context(), actor(r), r.PathValue("org"), r.PathValue("username")); err != nil {
		return err
	}
	return noContent(w)
}

// listOrgRepos lists the repositories of an organization the caller can
// see: all of them for members, the public ones for everyone else.
func (d *Door) listOrgRepos(w http.ResponseWriter, r *http.Request) error {
	_, role, err := d.Orgs.Get(r.Context(), actor(r), r.PathValue("org"))
	if err != nil {
		return err
	}
	q, p, err := repoListQuery(r, role != "")
	if err != nil {
		return err
	}
	list, total, err := d.Repos.OfOrg(r.Context(), actor(r), r.PathValue("org"), q)
	if err != nil {
		return err
	}
	d.writeRepos(w, r, p, list, total)
	return nil
}

func (d *Door) createOrgRepo(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := d.env.OrgAccess(r.Context(), actor(r), r.PathValue("org"), store.RoleMember); err != nil {
		return err
	}
	return d.createRepo(w, r, r.PathValue("org"))
}

type aliasJSON struct {
	Name  string `json:"name"`
	Alias string `json:"alias"`
}

// setAlias sets the caller's alias, or an organization's.
func (d *Door) setAlias(w http.ResponseWriter, r *http.Request) error {
	owner, err := d.Orgs.AliasOwner(r.Context(), actor(r), r.PathValue("org"))
	if err != nil {
		return err
	}
	var req aliasRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	alias, err := d.Orgs.SetAlias(r.Context(), owner, req.Alias.V)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, aliasJSON{Name: owner.Username, Alias: alias})
	return nil
}

func (d *Door) removeAlias(w http.ResponseWriter, r *http.Request) error {
	owner, err := d.Orgs.AliasOwner(r.Context(), actor(r), r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := d.Orgs.RemoveAlias(r.Context(), owner); err != nil {
		return err
	}
	return noContent(w)
}
