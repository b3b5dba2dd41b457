package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"tapioca/store"
	"tapioca/views"
)

func (a *App) usersData(r *http.Request) (views.UsersData, error) {
	q, pg := listParams(r)
	users, total, err := a.store.ListUsers(r.Context(), store.UserList{Type: store.TypeUser, Query: q,
		Limit: adminPerPage, Offset: (pg - 1) * adminPerPage})
	if err != nil {
		return views.UsersData{}, err
	}
	return views.UsersData{Users: users, Query: q,
		Pager: views.Pager{Path: "/admin/users", Query: r.URL.Query(), Page: pg, PerPage: adminPerPage, Total: total}}, nil
}

func (a *App) adminUsers(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	d, err := a.usersData(r)
	if err != nil {
		return err
	}
	a.render(w, r, http.StatusOK, views.UsersPage(a.page(ar, "users", "Users"), d))
	return nil
}

// minPasswordLen matches the API's rule for new passwords.
const minPasswordLen = 8

// adminCreateUser creates an account from the form. Any invalid field
// re-shows the form with every problem marked, and nothing is created.
func (a *App) adminCreateUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	f := views.UserForm{
		Username: strings.TrimSpace(r.PostFormValue("username")),
		Email:    strings.TrimSpace(r.PostFormValue("email")),
		Kind:     r.PostFormValue("kind"),
		Admin:    r.PostFormValue("admin") == "true",
	}
	password := r.PostFormValue("password")
	v := validation{}
	if err := a.checkNewName(r, v, "username", f.Username); err != nil {
		return err
	}
	switch {
	case f.Email == "":
		v.add("email", "can't be blank")
	case !validEmail(f.Email):
		v.add("email", "is not a valid email address")
	default:
		taken, err := a.store.EmailTaken(ctx, f.Email)
		if err != nil {
			return err
		}
		if taken {
			v.add("email", "has already been taken")
		}
	}
	if f.Kind != "human" && f.Kind != "bot" {
		v.add("kind", "must be human or bot")
	}
	if password != "" && len(password) < minPasswordLen {
		v.add("password", "is too short (minimum is 8 characters)")
	}
	if len(v) == 0 {
		generated := password == ""
		if generated {
			password = RandomPassword(20)
		}
		hash, err := store.HashPassword(password)
		if err != nil {
			return err
		}
		u, err := a.store.CreateUser(ctx, store.NewUser{Username: f.Username, Email: f.Email, PasswordHash: hash,
			Kind: f.Kind, IsAdmin: f.Admin})
		switch {
		case errors.Is(err, store.ErrNameTaken):
			v.add("username", "has already been taken")
		case errors.Is(err, store.ErrEmailTaken):
			v.add("email", "has already been taken")
		case err != nil:
			return err
		default:
			a.audit(ctx, ar, "created user", u.Username)
			msg := "Created " + u.Username + "."
			if generated {
				a.flashSecret(ctx, "success", msg+" Their generated password:", password)
			} else {
				a.flash(ctx, "success", msg)
			}
			redirect(w, r, "/admin/users/"+u.Username)
			return nil
		}
	}
	d, err := a.usersData(r)
	if err != nil {
		return err
	}
	f.Errors = views.FieldErrors{}
	for field, msgs := range v {
		f.Errors[field] = capitalize(field) + " " + strings.Join(msgs, "; ")
	}
	d.Form = f
	p := a.page(ar, "users", "Users")
	p.Flash = &views.Flash{Kind: "error", Message: "The user was not created: fix the fields marked below."}
	a.render(w, r, http.StatusUnprocessableEntity, views.UsersPage(p, d))
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// userNamedForAdmin loads the user of the path; organizations are not
// users here.
func (a *App) userNamedForAdmin(r *http.Request) (*store.User, error) {
	u, err := a.store.UserByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if u.IsOrg() {
		return nil, pageErr(http.StatusNotFound, "Not a user", u.Username+" is an organization; see Organizations.")
	}
	return u, nil
}

func (a *App) userDetail(r *http.Request, u *store.User, ar *adminReq) (views.UserDetail, error) {
	ctx := r.Context()
	orgs, err := a.store.ListUserOrgs(ctx, u.ID)
	if err != nil {
		return views.UserDetail{}, err
	}
	repos, total, err := a.store.ListRepos(ctx, store.RepoList{OwnerID: u.ID, Sort: "pushed", Limit: 8})
	if err != nil {
		return views.UserDetail{}, err
	}
	return views.UserDetail{U: u, Self: u.ID == ar.user.ID, Orgs: orgs, Repos: repos, RepoTotal: total}, nil
}

func (a *App) adminUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	d, err := a.userDetail(r, u, ar)
	if err != nil {
		return err
	}
	a.render(w, r, http.StatusOK, views.UserPage(a.page(ar, "users", u.Username), d))
	return nil
}

// renderUserErrors re-shows a user's page with a field error: nothing
// was changed.
func (a *App) renderUserErrors(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, errs views.FieldErrors) error {
	d, err := a.userDetail(r, u, ar)
	if err != nil {
		return err
	}
	d.Errors = errs
	p := a.page(ar, "users", u.Username)
	p.Flash = &views.Flash{Kind: "error", Message: "Nothing was changed: fix the field marked below."}
	a.render(w, r, http.StatusUnprocessableEntity, views.UserPage(p, d))
	return nil
}

func (a *App) userPath(u *store.User) string { return "/admin/users/" + u.Username }

// refused answers the store's guard errors (the last administrator, the
// only owner of organizations) with a message on the user's page; any
// other error is returned as it is.
func (a *App) refused(w http.ResponseWriter, r *http.Request, u *store.User, err error) error {
	var sole *store.SoleOwnerError
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return a.flashTo(w, r, "error", "Refused: the site must keep at least one enabled site administrator.", a.userPath(u))
	case errors.As(err, &sole):
		return a.flashTo(w, r, "error", "Refused: this user is the only owner of "+strings.Join(sole.Orgs, ", ")+
			". Add another owner or delete those organizations first.", a.userPath(u))
	}
	return err
}

func (a *App) adminSetAdmin(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	admin, err := strconv.ParseBool(r.PostFormValue("admin"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "admin must be true or false.")
	}
	if !admin && u.ID == ar.user.ID {
		return a.flashTo(w, r, "error", "You cannot remove your own administrator rights; ask another administrator.", a.userPath(u))
	}
	if err := a.store.SetAdminChecked(ctx, u.ID, admin); err != nil {
		return a.refused(w, r, u, err)
	}
	if admin {
		a.audit(ctx, ar, "made site administrator", u.Username)
		return a.flashTo(w, r, "success", u.Username+" is now a site administrator.", a.userPath(u))
	}
	a.audit(ctx, ar, "removed site administrator", u.Username)
	return a.flashTo(w, r, "success", u.Username+" is no longer a site administrator.", a.userPath(u))
}

func (a *App) adminSetDisabled(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	disabled, err := strconv.ParseBool(r.PostFormValue("disabled"))
	if err != nil {
		return pageErr(http.StatusUnprocessableEntity, "Invalid form", "disabled must be true or false.")
	}
	if disabled && u.ID == ar.user.ID {
		return a.flashTo(w, r, "error", "You cannot disable your own account.", a.userPath(u))
	}
	if err := a.store.SetDisabledChecked(ctx, u.ID, disabled); err != nil {
		return a.refused(w, r, u, err)
	}
	if disabled {
		a.audit(ctx, ar, "disabled", u.Username)
		return a.flashTo(w, r, "success", u.Username+" is disabled: sign-in, tokens and git access are refused.", a.userPath(u))
	}
	a.audit(ctx, ar, "enabled", u.Username)
	return a.flashTo(w, r, "success", u.Username+" is enabled again.", a.userPath(u))
}

func (a *App) adminResetPassword(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	password := r.PostFormValue("password")
	if password != "" && len(password) < minPasswordLen {
		return a.renderUserErrors(w, r, ar, u, views.FieldErrors{"password": "Password is too short (minimum is 8 characters)."})
	}
	generated := password == ""
	if generated {
		password = RandomPassword(20)
	}
	hash, err := store.HashPassword(password)
	if err != nil {
		return err
	}
	if err := a.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	a.audit(ctx, ar, "reset the password of", u.Username)
	if u.ID == ar.user.ID {
		// The session was tied to the old password: keep this one going.
		a.dash.sessions.Put(ctx, sessPasswordFP, passwordFingerprint(hash))
	}
	if generated {
		a.flashSecret(ctx, "success", "Password of "+u.Username+" reset. The new password:", password)
	} else {
		a.flash(ctx, "success", "Password of "+u.Username+" reset.")
	}
	redirect(w, r, a.userPath(u))
	return nil
}

// maxVouchGrant matches the CLI's bound on one grant.
const maxVouchGrant = 1_000_000

func (a *App) adminGrantVouches(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("count")), 10, 64)
	if err != nil || n < 1 || n > maxVouchGrant {
		return a.renderUserErrors(w, r, ar, u, views.FieldErrors{"count": fmt.Sprintf("Enter a whole number from 1 to %d.", maxVouchGrant)})
	}
	balance, err := a.store.GrantVouches(ctx, u.ID, n, "dashboard:"+ar.user.Username)
	if err != nil {
		return err
	}
	a.audit(ctx, ar, fmt.Sprintf("granted %d %s to", n, views.Plural(int(n), "vouch", "vouches")), u.Username)
	return a.flashTo(w, r, "success", fmt.Sprintf("Granted %d %s to %s; balance now %d.", n, views.Plural(int(n), "vouch", "vouches"), u.Username, balance), a.userPath(u))
}

func (a *App) adminConfirmDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	if u.ID == ar.user.ID {
		return pageErr(http.StatusForbidden, "Not your own account", "You cannot delete your own account; ask another administrator.")
	}
	a.renderConfirmDeleteUser(w, r, ar, u, http.StatusOK, "")
	return nil
}

func (a *App) renderConfirmDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq, u *store.User, status int, errMsg string) {
	n, _ := a.store.CountOwnedRepos(r.Context(), u.ID)
	a.render(w, r, status, views.ConfirmPage(a.page(ar, "users", "Delete user"), views.ConfirmData{
		Action: "/admin/users/" + u.Username + "/delete", Title: "Delete user " + u.Username,
		Message: "This deletes " + u.Username + " with their " + views.Count(n, "repository", "repositories") +
			", tokens and keys. Their issues and comments stay, without an author. It cannot be undone.",
		Name: u.Username, Button: "Delete user", Back: a.userPath(u), Error: errMsg,
	}))
}

func (a *App) adminDeleteUser(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ctx := r.Context()
	u, err := a.userNamedForAdmin(r)
	if err != nil {
		return err
	}
	if u.ID == ar.user.ID {
		return pageErr(http.StatusForbidden, "Not your own account", "You cannot delete your own account; ask another administrator.")
	}
	if r.PostFormValue("confirm") != u.Username {
		a.renderConfirmDeleteUser(w, r, ar, u, http.StatusUnprocessableEntity, "Type "+u.Username+" exactly to confirm.")
		return nil
	}
	ids, err := a.store.DeleteUser(ctx, u.ID)
	if err != nil {
		return a.refused(w, r, u, err)
	}
	for _, id := range ids {
		a.removeRepoFiles(ctx, id)
	}
	a.audit(ctx, ar, "deleted user", u.Username)
	return a.flashTo(w, r, "success", "Deleted "+u.Username+" and their "+views.Count(len(ids), "repository", "repositories")+".", "/admin/users")
}
