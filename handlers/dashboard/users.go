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
	users, total, err := d.env.Store.ListUsers(r.Context(), store.UserList{Type: store.TypeUser, Query: q,
		Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return views.UsersData{}, err
	}
	return views.UsersData{Users: users, Query: q,
		Pager: views.Pager{Path: "/admin/users", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}, nil
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

func (d *Door) userDetail(r *http.Request, u *store.User, ar *adminReq) (views.UserDetail, error) {
	ctx := r.Context()
	orgs, err := d.env.Store.ListUserOrgs(ctx, u.ID)
	if err != nil {
		return views.UserDetail{}, err
	}
	repos, total, err := d.env.Store.ListRepos(ctx, store.RepoList{OwnerID: u.ID, Sort: "pushed", Limit: 8})
	if err != nil {
		return views.UserDetail{}, err
	}
	return views.UserDetail{U: u, Self: u.ID == ar.user.ID, Orgs: orgs, Repos: repos, RepoTotal: total}, nil
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

// renderUserErrors re-shows a user's page with a field error: nothing
// was changed.
func (d *Door) renderUserErrors(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, errs views.FieldErrors) error {
	ud, err := d.userDetail(r, u, ar)
	if err != nil {
		return err
	}
	ud.Errors = errs
	p := d.page(ar, "users", u.Username)
	p.Flash = &views.Flash{Kind: "error", Message: "Nothing was changed: fix the field marked below."}
	d.render(w, r, http.StatusUnprocessableEntity, views.UserPage(p, ud))
	return nil
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
