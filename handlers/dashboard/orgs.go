package dashboard

import (
	"net/http"
	"slices"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
	"tapioca/views"
)

func (d *Door) orgsData(r *http.Request) (views.OrgsData, error) {
	q, pg := listParams(r)
	orgs, total, err := d.env.Store.ListOrgSummaries(r.Context(), q, adminPerPage, (pg-1)*adminPerPage)
	if err != nil {
		return views.OrgsData{}, err
	}
	return views.OrgsData{Orgs: orgs, Query: q,
		Pager: views.Pager{Path: "/admin/orgs", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}, nil
}

func (d *Door) adminOrgs(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	od, err := d.orgsData(r)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.OrgsPage(d.page(ar, "orgs", "Organizations"), od))
	return nil
}

var orgLabels = map[string]string{"username": "Name", "owner": "Owner", "display_name": "Display name"}

// adminCreateOrg creates an organization for the owner the form names.
// Any invalid field re-shows the form with every problem marked, and
// nothing is created.
func (d *Door) adminCreateOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	f := views.OrgForm{Name: strings.TrimSpace(r.PostFormValue("name")), Owner: strings.TrimSpace(r.PostFormValue("owner")),
		DisplayName: strings.TrimSpace(r.PostFormValue("display_name"))}
	org, err := d.Admin.CreateOrg(r.Context(), ar.actor(), f.Name, f.Owner, f.DisplayName)
	if ce, ok := fieldsOf(err); ok {
		od, err := d.orgsData(r)
		if err != nil {
			return err
		}
		f.Errors = formErrors(ce, orgLabels)
		od.Form = f
		p := d.page(ar, "orgs", "Organizations")
		p.Flash = &views.Flash{Kind: "error", Message: "The organization was not created: fix the fields marked below."}
		d.render(w, r, http.StatusUnprocessableEntity, views.OrgsPage(p, od))
		return nil
	}
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Created organization "+org.Username+", owned by "+f.Owner+".", orgPath(org))
}

func orgPath(org *store.User) string { return string(views.OrgURL(org.Username)) }

// orgMembersPerPage is the size of a page of an organization's members.
const orgMembersPerPage = 50

func (d *Door) orgDetail(r *http.Request, org *store.User) (views.OrgDetail, error) {
	ctx := r.Context()
	_, pg := listParams(r)
	members, total, err := d.env.Store.ListMembers(ctx, org.ID, "", orgMembersPerPage, (pg-1)*orgMembersPerPage)
	if err != nil {
		return views.OrgDetail{}, err
	}
	_, owners, err := d.env.Store.ListMembers(ctx, org.ID, store.RoleOwner, 1, 0)
	if err != nil {
		return views.OrgDetail{}, err
	}
	repos, repoTotal, err := d.env.Store.ListRepos(ctx, store.RepoList{OwnerID: org.ID, Sort: "pushed", Limit: 10})
	if err != nil {
		return views.OrgDetail{}, err
	}
	hooks, _, err := d.env.Store.ListHookSummaries(ctx, store.HookList{OwnerID: org.ID})
	if err != nil {
		return views.OrgDetail{}, err
	}
	return views.OrgDetail{Org: org, Members: members, Owners: owners, Repos: repos, RepoTotal: repoTotal, Hooks: hooks,
		Add:   views.MemberForm{Role: store.RoleMember},
		Pager: views.Pager{Path: orgPath(org), Query: r.URL.Query(), Page: pg, PerPage: orgMembersPerPage, Total: total}}, nil
}

// orgNamed loads the organization of the path.
func (d *Door) orgNamed(r *http.Request) (*store.User, error) {
	org, err := d.env.Store.OrgByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, pageErr(http.StatusNotFound, "No such organization", "There is no organization called "+r.PathValue("name")+".")
	}
	return org, nil
}

func (d *Door) adminOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	od, err := d.orgDetail(r, org)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.OrgPage(d.page(ar, "orgs", org.Username), od))
	return nil
}

// adminAddMember adds the member the form names with a role, or changes
// their role if they are one.
func (d *Door) adminAddMember(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	f := views.MemberForm{Username: strings.TrimSpace(r.PostFormValue("username")), Role: r.PostFormValue("role")}
	u, err := d.Admin.SetOrgRole(r.Context(), ar.actor(), org, f.Username, f.Role)
	if ce, ok := fieldsOf(err); ok {
		od, err := d.orgDetail(r, org)
		if err != nil {
			return err
		}
		od.Add, od.Errors = f, formErrors(ce, map[string]string{"username": "Username", "role": "Role"})
		p := d.page(ar, "orgs", org.Username)
		p.Flash = &views.Flash{Kind: "error", Message: "Nothing was changed: fix the fields marked below."}
		d.render(w, r, http.StatusUnprocessableEntity, views.OrgPage(p, od))
		return nil
	}
	if err != nil {
		return d.refusedTo(w, r, orgPath(org)+"#members", err)
	}
	return d.flashTo(w, r, "success", u.Username+" is now "+siteadmin.RoleNoun(f.Role)+" of "+org.Username+".", orgPath(org)+"#members")
}

func (d *Door) adminSetMemberRole(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	role := r.PostFormValue("role")
	u, err := d.Admin.SetOrgRole(r.Context(), ar.actor(), org, r.PathValue("user"), role)
	if ce, ok := fieldsOf(err); ok {
		return d.flashTo(w, r, "error", strings.Join(formErrorList(ce), " "), orgPath(org)+"#members")
	}
	if err != nil {
		return d.refusedTo(w, r, orgPath(org)+"#members", err)
	}
	return d.flashTo(w, r, "success", u.Username+" is now "+siteadmin.RoleNoun(role)+" of "+org.Username+".", orgPath(org)+"#members")
}

// formErrorList is the field errors of a form that has no fields to
// mark (a row's buttons), as sentences.
func formErrorList(ce *core.Error) []string {
	var out []string
	for _, msg := range formErrors(ce, map[string]string{"username": "The user", "role": "The role"}) {
		out = append(out, msg+".")
	}
	slices.Sort(out)
	return out
}

func (d *Door) adminRemoveMember(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	name := r.PathValue("user")
	if err := d.Admin.RemoveOrgMember(r.Context(), ar.actor(), org, name); err != nil {
		if ce, ok := fieldsOf(err); ok {
			return d.flashTo(w, r, "error", strings.Join(formErrorList(ce), " "), orgPath(org)+"#members")
		}
		return d.refusedTo(w, r, orgPath(org)+"#members", err)
	}
	return d.flashTo(w, r, "success", "Removed "+name+" from "+org.Username+".", orgPath(org)+"#members")
}

func (d *Door) adminConfirmDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	d.renderConfirmDeleteOrg(w, r, ar, org, http.StatusOK, "")
	return nil
}

func (d *Door) renderConfirmDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq, org *store.User, status int, errMsg string) {
	n, _ := d.env.Store.CountOwnedRepos(r.Context(), org.ID)
	d.render(w, r, status, views.ConfirmPage(d.page(ar, "orgs", "Delete organization"), views.ConfirmData{
		Action: "/admin/orgs/" + org.Username + "/delete", Title: "Delete organization " + org.Username,
		Message: "This deletes " + org.Username + " and its " + views.Count(n, "repository", "repositories") +
			", with their issues, pull requests and webhooks. It cannot be undone.",
		Name: org.Username, Button: "Delete organization", Back: orgPath(org), Error: errMsg,
	}))
}

func (d *Door) adminDeleteOrg(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	org, err := d.orgNamed(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != org.Username {
		d.renderConfirmDeleteOrg(w, r, ar, org, http.StatusUnprocessableEntity, "Type "+org.Username+" exactly to confirm.")
		return nil
	}
	n, err := d.Admin.DeleteOrg(ctx, ar.actor(), org)
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Deleted organization "+org.Username+" and its "+views.Count(n, "repository", "repositories")+".", "/admin/orgs")
}
