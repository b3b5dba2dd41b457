package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/siteadmin"
	"tapioca/store"
	"tapioca/views"
)

func (d *Door) usersData(r *http.Request) (views.UsersData, error) {
	q, pg := listParams(r)
	query := r.URL.Query()
	ud := views.UsersData{Query: q, Admin: query.Get("admin") == "1", Bot: query.Get("bot") == "1",
		Disabled: query.Get("disabled") == "1", Sort: query.Get("sort")}
	if ud.Sort != "created" && ud.Sort != "signin" {
		ud.Sort = "name"
	}
	users, total, err := d.env.Store.ListUsers(r.Context(), store.UserList{Type: store.TypeUser, Query: q,
		Admin: ud.Admin, Bot: ud.Bot, Disabled: ud.Disabled, Sort: ud.Sort,
		Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return views.UsersData{}, err
	}
	ud.Users = users
	ud.Pager = views.Pager{Path: "/admin/users", Query: query, Page: pg, PerPage: adminPerPage, Total: total}
	return ud, nil
}

func (d *Door) adminUsers(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ud, err := d.usersData(r)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.UsersPage(d.page(ar, "users", "Users"), ud))
	return nil
}

// adminCreateUser creates an account from the form. Any invalid field
// re-shows the form with every problem marked, and nothing is created.
func (d *Door) adminCreateUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	f := views.UserForm{
		Username: strings.TrimSpace(r.PostFormValue("username")),
		Email:    strings.TrimSpace(r.PostFormValue("email")),
		Kind:     r.PostFormValue("kind"),
		Admin:    r.PostFormValue("admin") == "true",
	}
	u, generated, err := d.Admin.CreateUser(ctx, ar.actor(), siteadmin.NewUser{Username: f.Username, Email: f.Email,
		Kind: f.Kind, Admin: f.Admin, Password: r.PostFormValue("password")})
	var ce *core.Error
	switch {
	case err == nil:
		msg := "Created " + u.Username + "."
		if generated != "" {
			d.flashSecret(ctx, "success", msg+" Their generated password:", generated)
		} else {
			d.flash(ctx, "success", msg)
		}
		redirect(w, r, "/admin/users/"+u.Username)
		return nil
	case !errors.As(err, &ce) || len(ce.Fields) == 0:
		return err
	}
	ud, err := d.usersData(r)
	if err != nil {
		return err
	}
	f.Errors = views.FieldErrors{}
	for field, msgs := range ce.Fields {
		f.Errors[field] = capitalize(field) + " " + strings.Join(msgs, "; ")
	}
	ud.Form = f
	p := d.page(ar, "users", "Users")
	p.Flash = &views.Flash{Kind: "error", Message: "The user was not created: fix the fields marked below."}
	d.render(w, r, http.StatusUnprocessableEntity, views.UsersPage(p, ud))
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// userNamed loads the user of the path; organizations are not users
// here.
func (d *Door) userNamed(r *http.Request, ar *adminReq) (*store.User, error) {
	u, err := d.Admin.User(r.Context(), ar.actor(), r.PathValue("name"))
	var ce *core.Error
	if errors.As(err, &ce) && errors.Is(err, core.ErrNotFound) {
		return nil, pageErr(http.StatusNotFound, "Not a user", ce.Msg)
	}
	return u, err
}

// adminAccount sends a name to its user's or organization's page, for
// links that do not know which it is.
func (d *Door) adminAccount(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.env.Store.UserByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, string(views.AccountURL(u.Type, u.Username)), http.StatusFound)
	return nil
}

func (d *Door) userDetail(r *http.Request, u *store.User, ar *adminReq) (views.UserDetail, error) {
	ctx := r.Context()
	ms, err := d.env.Store.ListMemberships(ctx, u.ID)
	if err != nil {
		return views.UserDetail{}, err
	}
	repos, total, err := d.env.Store.ListRepos(ctx, store.RepoList{OwnerID: u.ID, Sort: "pushed", Limit: 8})
	if err != nil {
		return views.UserDetail{}, err
	}
	tokens, err := d.env.Store.ListTokens(ctx, u.ID)
	if err != nil {
		return views.UserDetail{}, err
	}
	keys, err := d.env.Store.ListSSHKeys(ctx, u.ID)
	if err != nil {
		return views.UserDetail{}, err
	}
	ud := views.UserDetail{U: u, Self: u.ID == ar.user.ID, Memberships: ms, Repos: repos, RepoTotal: total,
		SiteRepoLimit: d.env.Cfg.MaxReposPerUser, Tokens: tokens, Keys: keys, Edit: editForm(u)}
	for _, t := range tokens {
		if t.LastUsedAt != nil && (ud.LastAPIUse == nil || t.LastUsedAt.After(*ud.LastAPIUse)) {
			ud.LastAPIUse = t.LastUsedAt
		}
	}
	return ud, nil
}

// editForm is the account form filled with u's values.
func editForm(u *store.User) views.UserEditForm {
	f := views.UserEditForm{Email: u.Email, Kind: u.Kind}
	if u.DisplayName != nil {
		f.DisplayName = *u.DisplayName
	}
	if u.MaxRepos != nil {
		f.MaxRepos = strconv.Itoa(*u.MaxRepos)
	}
	return f
}

func (d *Door) adminUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	ud, err := d.userDetail(r, u, ar)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, views.UserPage(d.page(ar, "users", u.Username), ud))
	return nil
}

// renderUserErrors re-shows a user's page with field errors: nothing
// was changed.
func (d *Door) renderUserErrors(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, errs views.FieldErrors) error {
	return d.renderUserForm(w, r, ar, u, errs, nil)
}

// renderUserForm re-shows a user's page with field errors, and the
// account form as it was sent when edit is not nil.
func (d *Door) renderUserForm(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, errs views.FieldErrors, edit *views.UserEditForm) error {
	ud, err := d.userDetail(r, u, ar)
	if err != nil {
		return err
	}
	ud.Errors = errs
	if edit != nil {
		ud.Edit = *edit
	}
	p := d.page(ar, "users", u.Username)
	p.Flash = &views.Flash{Kind: "error", Message: "Nothing was changed: fix the fields marked below."}
	d.render(w, r, http.StatusUnprocessableEntity, views.UserPage(p, ud))
	return nil
}

var userLabels = map[string]string{"email": "Email", "display_name": "Display name", "kind": "Kind", "max_repos": "Repository limit"}

// adminEditUser saves the account form: email, display name, kind and
// repository limit, all or nothing.
func (d *Door) adminEditUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	f := views.UserEditForm{Email: strings.TrimSpace(r.PostFormValue("email")), DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Kind: r.PostFormValue("kind"), MaxRepos: strings.TrimSpace(r.PostFormValue("max_repos"))}
	in := siteadmin.UserEdit{Email: f.Email, DisplayName: f.DisplayName, Kind: f.Kind}
	if f.MaxRepos != "" {
		n, err := strconv.Atoi(f.MaxRepos)
		if err != nil {
			n = -1 // the core refuses it with the form's message
		}
		in.MaxRepos = &n
	}
	_, err = d.Admin.UpdateUser(r.Context(), ar.actor(), u, in)
	if ce, ok := fieldsOf(err); ok {
		return d.renderUserForm(w, r, ar, u, formErrors(ce, userLabels), &f)
	}
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", "Saved the account of "+u.Username+".", userPath(u))
}

func (d *Door) adminRevokeToken(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "token")
	if err != nil {
		return err
	}
	t, err := d.Admin.RevokeToken(r.Context(), ar.actor(), u, id)
	if err != nil {
		return d.refusedTo(w, r, userPath(u)+"#tokens", err)
	}
	return d.flashTo(w, r, "success", "Revoked the token “"+t.Name+"” of "+u.Username+": it no longer works.", userPath(u)+"#tokens")
}

func (d *Door) adminRevokeKey(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "SSH key")
	if err != nil {
		return err
	}
	k, err := d.Admin.RevokeSSHKey(r.Context(), ar.actor(), u, id)
	if err != nil {
		return d.refusedTo(w, r, userPath(u)+"#keys", err)
	}
	return d.flashTo(w, r, "success", "Removed the SSH key “"+k.Title+"” of "+u.Username+".", userPath(u)+"#keys")
}

func userPath(u *store.User) string { return "/admin/users/" + u.Username }

// refused answers the core's refusals (one's own account, the last
// administrator, the only owner of organizations) with a message on the
// user's page; any other error is returned as it is.
func (d *Door) refused(w http.ResponseWriter, r *http.Request, u *store.User, err error) error {
	var ce *core.Error
	if errors.As(err, &ce) && (errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrForbidden)) {
		return d.flashTo(w, r, "error", ce.Msg, userPath(u))
	}
	return err
}

func (d *Door) adminSetAdmin(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	admin, err := strconv.ParseBool(r.PostFormValue("admin"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "admin must be true or false.")
	}
	if err := d.Admin.SetAdmin(r.Context(), ar.actor(), u, admin); err != nil {
		return d.refused(w, r, u, err)
	}
	if admin {
		return d.flashTo(w, r, "success", u.Username+" is now a site administrator.", userPath(u))
	}
	return d.flashTo(w, r, "success", u.Username+" is no longer a site administrator.", userPath(u))
}

func (d *Door) adminSetDisabled(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	disabled, err := strconv.ParseBool(r.PostFormValue("disabled"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "disabled must be true or false.")
	}
	if err := d.Admin.SetDisabled(r.Context(), ar.actor(), u, disabled); err != nil {
		return d.refused(w, r, u, err)
	}
	if disabled {
		return d.flashTo(w, r, "success", u.Username+" is disabled: sign-in, tokens and git access are refused.", userPath(u))
	}
	return d.flashTo(w, r, "success", u.Username+" is enabled again.", userPath(u))
}

func (d *Door) adminResetPassword(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	generated, hash, err := d.Admin.ResetPassword(ctx, ar.actor(), u, r.PostFormValue("password"))
	var ce *core.Error
	if errors.As(err, &ce) && len(ce.Fields) > 0 {
		return d.renderUserErrors(w, r, ar, u, views.FieldErrors{"password": strings.Join(ce.Fields["password"], " ")})
	}
	if err != nil {
		return err
	}
	if u.ID == ar.user.ID {
		// The session was tied to the old password: keep this one going.
		d.sessions.Put(ctx, sessPasswordFP, passwordFingerprint(hash))
	}
	if generated != "" {
		d.flashSecret(ctx, "success", "Password of "+u.Username+" reset. The new password:", generated)
	} else {
		d.flash(ctx, "success", "Password of "+u.Username+" reset.")
	}
	redirect(w, r, userPath(u))
	return nil
}

func (d *Door) adminGrantVouches(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("count")), 10, 64)
	if err != nil {
		n = 0 // the core refuses it with the form's message
	}
	balance, err := d.Admin.GrantVouches(r.Context(), ar.actor(), u, n)
	var ce *core.Error
	if errors.As(err, &ce) && len(ce.Fields) > 0 {
		return d.renderUserErrors(w, r, ar, u, views.FieldErrors{"count": strings.Join(ce.Fields["count"], " ")})
	}
	if err != nil {
		return err
	}
	return d.flashTo(w, r, "success", fmt.Sprintf("Granted %d %s to %s; balance now %d.", n, views.Plural(int(n), "vouch", "vouches"), u.Username, balance), userPath(u))
}

// selfDeletePage is the page that refuses deleting one's own account.
func selfDeletePage(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) && errors.Is(err, core.ErrForbidden) {
		return pageErr(http.StatusForbidden, "Not your own account", ce.Msg)
	}
	return err
}

func (d *Door) adminConfirmDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	if err := d.Admin.CheckDeleteUser(ar.actor(), u); err != nil {
		return selfDeletePage(err)
	}
	d.renderConfirmDeleteUser(w, r, ar, u, http.StatusOK, "")
	return nil
}

func (d *Door) renderConfirmDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, status int, errMsg string) {
	n, _ := d.env.Store.CountOwnedRepos(r.Context(), u.ID)
	d.render(w, r, status, views.ConfirmPage(d.page(ar, "users", "Delete user"), views.ConfirmData{
		Action: "/admin/users/" + u.Username + "/delete", Title: "Delete user " + u.Username,
		Message: "This deletes " + u.Username + " with their " + views.Count(n, "repository", "repositories") +
			", tokens and keys. Their issues and comments stay, without an author. It cannot be undone.",
		Name: u.Username, Button: "Delete user", Back: userPath(u), Error: errMsg,
	}))
}

func (d *Door) adminDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := d.userNamed(r, ar)
	if err != nil {
		return err
	}
	if err := d.Admin.CheckDeleteUser(ar.actor(), u); err != nil {
		return selfDeletePage(err)
	}
	if r.PostFormValue("confirm") != u.Username {
		d.renderConfirmDeleteUser(w, r, ar, u, http.StatusUnprocessableEntity, "Type "+u.Username+" exactly to confirm.")
		return nil
	}
	n, err := d.Admin.DeleteUser(r.Context(), ar.actor(), u)
	if err != nil {
		return d.refused(w, r, u, err)
	}
	return d.flashTo(w, r, "success", "Deleted "+u.Username+" and their "+views.Count(n, "repository", "repositories")+".", "/admin/users")
}
