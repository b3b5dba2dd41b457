package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"tapioca/store"
)

func (a *App) routesOrgs() {
	a.api("POST /api/v1/orgs", areaGeneral, a.createOrg)
	a.api("GET /api/v1/orgs/{org}", areaGeneral, a.getOrg)
	a.api("PATCH /api/v1/orgs/{org}", areaGeneral, a.updateOrg)
	a.api("DELETE /api/v1/orgs/{org}", areaAdmin, a.deleteOrg)
	a.api("GET /api/v1/user/orgs", areaGeneral, a.listOwnOrgs)
	a.api("GET /api/v1/orgs/{org}/members", areaGeneral, a.listMembers)
	a.api("PUT /api/v1/orgs/{org}/members/{username}", areaAdmin, a.setMember)
	a.api("DELETE /api/v1/orgs/{org}/members/{username}", areaAdmin, a.removeMember)
	a.api("GET /api/v1/orgs/{org}/repos", areaRepo, a.listOrgRepos)
	a.api("POST /api/v1/orgs/{org}/repos", areaRepo, a.createOrgRepo)
	a.api("PUT /api/v1/user/alias", areaAdmin, a.setOwnAlias)
	a.api("DELETE /api/v1/user/alias", areaAdmin, a.removeOwnAlias)
	a.api("PUT /api/v1/orgs/{org}/alias", areaAdmin, a.setOrgAlias)
	a.api("DELETE /api/v1/orgs/{org}/alias", areaAdmin, a.removeOrgAlias)
}

var roleRank = map[string]int{store.RoleMember: 1, store.RoleAdmin: 2, store.RoleOwner: 3}

// orgRole is the caller's effective role in org: site admins act as owners.
func (a *App) orgRole(ctx context.Context, u *store.User, org *store.User) (string, error) {
	if u == nil {
		return "", nil
	}
	if u.IsAdmin && !u.Disabled {
		return store.RoleOwner, nil
	}
	return a.store.OrgRole(ctx, org.ID, u.ID)
}

// orgFor loads the organization in the path and requires the caller to
// hold at least minRole ("" = anyone may see it).
func (a *App) orgFor(r *http.Request, minRole string) (*store.User, string, error) {
	org, err := a.store.OrgByName(r.Context(), r.PathValue("org"))
	if err != nil {
		return nil, "", err
	}
	u := who(r).user
	role, err := a.orgRole(r.Context(), u, org)
	if err != nil {
		return nil, "", err
	}
	if minRole != "" && roleRank[role] < roleRank[minRole] {
		if u == nil {
			return nil, "", errUnauthorized
		}
		return nil, "", errStatus(http.StatusForbidden, "Requires the %s role in organization %s", minRole, org.Username)
	}
	return org, role, nil
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
		VouchCount: o.VouchCount, Reputation: o.Reputation, CreatedAt: timeJSON(o.CreatedAt)}
	if o.Alias != "" {
		alias := o.Alias
		j.Alias = &alias
	}
	return j
}

type orgRequest struct {
	Username    opt[string] `json:"username"`
	Login       opt[string] `json:"login"`
	DisplayName opt[string] `json:"display_name"`
	Bio         opt[string] `json:"bio"`
	URL         opt[string] `json:"url"`
}

func (a *App) createOrg(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		orgRequest
		Org *orgRequest `json:"organization"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.orgRequest
	if req.Org != nil {
		f = *req.Org
	}
	v := validation{}
	name := strings.TrimSpace(or(f.Username, f.Login).V)
	if err := a.checkNewName(r, v, "username", name); err != nil {
		return err
	}
	p := profileUpdate(v, f.DisplayName, f.Bio, f.URL)
	if err := v.err(); err != nil {
		return err
	}
	nu := store.NewUser{Username: name}
	if p.DisplayName != nil {
		nu.DisplayName = *p.DisplayName
	}
	if p.Bio != nil {
		nu.Bio = *p.Bio
	}
	if p.URL != nil {
		nu.URL = *p.URL
	}
	org, err := a.store.CreateOrg(r.Context(), nu, u.ID)
	if errors.Is(err, store.ErrNameTaken) {
		return invalid("username", "has already been taken")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, orgOut(org))
	return nil
}

func (a *App) getOrg(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(org))
	return nil
}

func (a *App) updateOrg(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	// The same two forms as createOrg: flat, or nested under "organization".
	var req struct {
		orgRequest
		Org *orgRequest `json:"organization"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.orgRequest
	if req.Org != nil {
		f = *req.Org
	}
	v := validation{}
	p := profileUpdate(v, f.DisplayName, f.Bio, f.URL)
	if err := v.err(); err != nil {
		return err
	}
	org, err = a.store.UpdateProfile(r.Context(), org.ID, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, orgOut(org))
	return nil
}

// deleteOrg removes the organization and all its repositories.
func (a *App) deleteOrg(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleOwner)
	if err != nil {
		return err
	}
	ids, err := a.store.DeleteOrg(r.Context(), org.ID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		a.removeRepoFiles(r.Context(), id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) listOwnOrgs(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	orgs, err := a.store.ListUserOrgs(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]orgJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, orgOut(o))
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

type memberJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
	Role        string  `json:"role"`
}

func (a *App) listMembers(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, "")
	if err != nil {
		return err
	}
	role := r.URL.Query().Get("role")
	switch role {
	case "all":
		role = ""
	case "", store.RoleOwner, store.RoleAdmin, store.RoleMember:
	default:
		return invalid("role", `is not included in the list ("owner", "admin", "member", "all")`)
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	members, total, err := a.store.ListMembers(r.Context(), org.ID, role, p.PerPage, p.Offset())
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, memberJSON{ID: m.User.ID, Username: m.User.Username, Kind: m.User.Kind, DisplayName: m.User.DisplayName, Role: m.Role})
	}
	a.setPageHeaders(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// userNamed resolves a path or body username to a user account (not an
// organization).
func (a *App) userNamed(ctx context.Context, name string) (*store.User, error) {
	u, err := a.store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if u.IsOrg() {
		return nil, errNotFound
	}
	return u, nil
}

// setMember adds a member or changes a role. Admins manage members; only
// owners grant or take away the owner role; the last owner stays.
func (a *App) setMember(w http.ResponseWriter, r *http.Request) error {
	org, callerRole, err := a.orgFor(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	var req struct {
		Role opt[string] `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	role := store.RoleMember
	if req.Role.Set && !req.Role.Null {
		role = req.Role.V
	}
	if roleRank[role] == 0 {
		return invalid("role", `is not included in the list ("member", "admin", "owner")`)
	}
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	cur, err := a.store.OrgRole(r.Context(), org.ID, target.ID)
	if err != nil {
		return err
	}
	if (role == store.RoleOwner || cur == store.RoleOwner) && callerRole != store.RoleOwner {
		return errStatus(http.StatusForbidden, "Only organization owners can grant or remove the owner role")
	}
	if _, err := a.store.SetMemberRole(r.Context(), org.ID, target.ID, role); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return errStatus(http.StatusUnprocessableEntity, "Cannot demote the last owner of an organization")
		}
		return err
	}
	writeJSON(w, http.StatusOK, memberJSON{ID: target.ID, Username: target.Username, Kind: target.Kind, DisplayName: target.DisplayName, Role: role})
	return nil
}

// removeMember removes a member; members may also leave on their own.
func (a *App) removeMember(w http.ResponseWriter, r *http.Request) error {
	org, err := a.store.OrgByName(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	caller, err := requireUser(r)
	if err != nil {
		return err
	}
	target, err := a.userNamed(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	callerRole, err := a.orgRole(r.Context(), caller, org)
	if err != nil {
		return err
	}
	cur, err := a.store.OrgRole(r.Context(), org.ID, target.ID)
	if err != nil {
		return err
	}
	self := caller.ID == target.ID
	switch {
	case self && cur != "":
	case roleRank[callerRole] < roleRank[store.RoleAdmin]:
		return errStatus(http.StatusForbidden, "Requires the admin role in organization %s", org.Username)
	case cur == store.RoleOwner && callerRole != store.RoleOwner:
		return errStatus(http.StatusForbidden, "Only organization owners can remove an owner")
	}
	if err := a.store.RemoveMember(r.Context(), org.ID, target.ID); err != nil {
		if errors.Is(err, store.ErrLastOwner) {
			return errStatus(http.StatusUnprocessableEntity, "Cannot remove the last owner of an organization")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listOrgRepos lists the repositories of an organization the caller can
// see: all of them for members, the public ones for everyone else.
func (a *App) listOrgRepos(w http.ResponseWriter, r *http.Request) error {
	org, role, err := a.orgFor(r, "")
	if err != nil {
		return err
	}
	f, p, err := repoListQuery(r, role != "")
	if err != nil {
		return err
	}
	f.OwnerID = org.ID
	return a.writeRepoPage(w, r, f, p)
}

func (a *App) createOrgRepo(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleMember)
	if err != nil {
		return err
	}
	return a.createRepo(w, r, org, who(r).user)
}

type aliasJSON struct {
	Name  string `json:"name"`
	Alias string `json:"alias"`
}

func (a *App) setAlias(w http.ResponseWriter, r *http.Request, owner *store.User) error {
	var req struct {
		Alias opt[string] `json:"alias"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	alias := strings.TrimSpace(req.Alias.V)
	v := validation{}
	if strings.EqualFold(alias, owner.Alias) && alias != "" {
		// Setting the alias it already has changes nothing.
		writeJSON(w, http.StatusOK, aliasJSON{Name: owner.Username, Alias: owner.Alias})
		return nil
	}
	if err := a.checkNewName(r, v, "alias", alias); err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	if err := a.store.SetAlias(r.Context(), owner.ID, alias); err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			return invalid("alias", "has already been taken")
		}
		return err
	}
	writeJSON(w, http.StatusOK, aliasJSON{Name: owner.Username, Alias: alias})
	return nil
}

func (a *App) setOwnAlias(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	return a.setAlias(w, r, u)
}

func (a *App) removeOwnAlias(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	if err := a.store.RemoveAlias(r.Context(), u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) setOrgAlias(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	return a.setAlias(w, r, org)
}

func (a *App) removeOrgAlias(w http.ResponseWriter, r *http.Request) error {
	org, _, err := a.orgFor(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	if err := a.store.RemoveAlias(r.Context(), org.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
