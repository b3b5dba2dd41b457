package codeboba

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

func (d *Door) routesAccounts() {
	d.api("POST /api/v1/users", core.AreaGeneral, d.register,
		Doc{Summary: "Register a user (returns its first token)", Body: registrationRequest{}, Out: authJSON{}, Status: http.StatusCreated})
	d.api("POST /api/v1/tokens", core.AreaGeneral, d.login,
		Doc{Summary: "Sign in with email (or username) and password; returns a new token", Body: loginRequest{}, Out: authJSON{}, Status: http.StatusCreated})
	d.user("GET /api/v1/user", core.AreaGeneral, d.getSelf, Doc{Summary: "The signed-in user", Out: payload.Profile{}})
	d.user("PATCH /api/v1/user", core.AreaGeneral, d.updateSelf, Doc{Summary: "Update the signed-in user's profile", Body: profileRequest{}, Out: payload.Profile{}})
	d.user("GET /api/v1/user/api_tokens", core.AreaGeneral, d.listTokens, Doc{Summary: "List your API tokens", Paged: true, Out: []tokenJSON{}})
	d.user("POST /api/v1/user/api_tokens", core.AreaGeneral, d.createToken,
		Doc{Summary: "Create an API token (shown once)", Body: tokenRequest{}, Out: tokenJSON{}, Status: http.StatusCreated})
	d.user("DELETE /api/v1/user/api_tokens/{id}", core.AreaGeneral, d.deleteToken, Doc{Summary: "Revoke an API token"})
	d.user("GET /api/v1/user/ssh_keys", core.AreaGeneral, d.listSSHKeys, Doc{Summary: "List your SSH keys", Paged: true, Out: []sshKeyJSON{}})
	d.user("POST /api/v1/user/ssh_keys", core.AreaGeneral, d.addSSHKey,
		Doc{Summary: "Add an SSH key", Body: sshKeyRequest{}, Out: sshKeyJSON{}, Status: http.StatusCreated})
	d.user("DELETE /api/v1/user/ssh_keys/{id}", core.AreaGeneral, d.deleteSSHKey, Doc{Summary: "Remove an SSH key"})
	d.api("GET /api/v1/users/{username}", core.AreaGeneral, d.getProfile, Doc{Summary: "A user's or organization's public profile", Out: payload.Profile{}})
}

// registrationFields are the registration form's fields; they may come
// flat or nested under "user".
type registrationFields struct {
	Username             core.Opt[string] `json:"username" doc:"Letters, digits and hyphens, 1-39 characters"`
	Email                core.Opt[string] `json:"email"`
	Password             core.Opt[string] `json:"password" doc:"At least 8 characters"`
	PasswordConfirmation core.Opt[string] `json:"password_confirmation" doc:"The password again"`
	Kind                 core.Opt[string] `json:"kind" enum:"human,bot" doc:"human (default) or bot"`
}

type registrationRequest struct {
	registrationFields
	User *registrationFields `json:"user" doc:"The same fields, nested"`
}

// merged returns the nested form's fields where given, else the flat ones.
func (r *registrationRequest) merged() registrationFields {
	n := registrationFields{}
	if r.User != nil {
		n = *r.User
	}
	f := r.registrationFields
	return registrationFields{
		Username:             core.Or(n.Username, f.Username),
		Email:                core.Or(n.Email, f.Email),
		Password:             core.Or(n.Password, f.Password),
		PasswordConfirmation: core.Or(n.PasswordConfirmation, f.PasswordConfirmation),
		Kind:                 core.Or(n.Kind, f.Kind),
	}
}

// profileFields are the profile form's fields, flat or nested under
// "user".
type profileFields struct {
	DisplayName core.Opt[string] `json:"display_name" doc:"At most 255 characters; null clears it"`
	Bio         core.Opt[string] `json:"bio" doc:"At most 500 characters; null clears it"`
	URL         core.Opt[string] `json:"url" doc:"A web site; null clears it"`
}

type profileRequest struct {
	profileFields
	User *profileFields `json:"user" doc:"The same fields, nested"`
}

// authJSON is the answer of registration and sign-in: the new token,
// shown once, and the account.
type authJSON struct {
	Token string          `json:"token"`
	User  payload.Profile `json:"user"`
}

func (d *Door) register(w http.ResponseWriter, r *http.Request) error {
	var req registrationRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.merged()
	u, token, err := d.Accounts.Register(r.Context(), accounts.Registration{
		Username: f.Username.V, Email: f.Email.V, Password: f.Password.V,
		PasswordConfirmation: f.PasswordConfirmation, Kind: f.Kind,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, authJSON{Token: token, User: payload.PrivateProfile(u)})
	return nil
}

type loginRequest struct {
	Email    core.Opt[string] `json:"email" doc:"The account's email, or its username"`
	Username core.Opt[string] `json:"username" doc:"Instead of email"`
	Login    core.Opt[string] `json:"login" doc:"Instead of email"`
	Password core.Opt[string] `json:"password" api:"required"`
	Name     core.Opt[string] `json:"name" doc:"A label for the new token"`
	Scopes   []string         `json:"scopes" doc:"Restrict the new token: read, write, repo, admin (none: full access)"`
}

func (d *Door) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, token, err := d.Accounts.LogIn(r.Context(), accounts.Login{
		Login: core.Or(req.Email, req.Login, req.Username).V, Password: req.Password.V,
		Name: req.Name.V, Scopes: req.Scopes,
	}, httpx.ClientIP(r))
	var ce *core.Error
	if errors.As(err, &ce) && errors.Is(err, core.ErrRateLimited) {
		retry := int(math.Ceil(ce.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		return &core.Error{Kind: core.ErrRateLimited, Msg: fmt.Sprintf("Too many failed sign-in attempts. Retry after %s.",
			time.Now().Add(ce.RetryAfter).UTC().Truncate(time.Second).Format(time.RFC3339))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, authJSON{Token: token, User: payload.PrivateProfile(u)})
	return nil
}

func (d *Door) getSelf(w http.ResponseWriter, r *http.Request) error {
	u, err := d.Accounts.Self(actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.PrivateProfile(u))
	return nil
}

func (d *Door) updateSelf(w http.ResponseWriter, r *http.Request) error {
	var req profileRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	n := profileFields{}
	if req.User != nil {
		n = *req.User
	}
	f := req.profileFields
	u, err := d.Accounts.UpdateProfile(r.Context(), actor(r), core.ProfileInput{DisplayName: core.Or(n.DisplayName, f.DisplayName),
		Bio: core.Or(n.Bio, f.Bio), URL: core.Or(n.URL, f.URL)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.PrivateProfile(u))
	return nil
}

func (d *Door) getProfile(w http.ResponseWriter, r *http.Request) error {
	u, err := d.Accounts.Profile(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, payload.PublicProfile(u))
	return nil
}

type tokenJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Token      string   `json:"token,omitempty"`
	Scopes     []string `json:"scopes"`
	LastUsedAt *string  `json:"last_used_at"`
	CreatedAt  string   `json:"created_at"`
}

func (d *Door) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	ts, total, err := d.Accounts.Tokens(r.Context(), actor(r), p.Core())
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, Token: t.Hint, Scopes: t.Scopes,
			LastUsedAt: payload.TimePtr(t.LastUsedAt), CreatedAt: payload.Time(t.CreatedAt)})
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type tokenFields struct {
	Name   core.Opt[string] `json:"name" api:"required" doc:"A label for the token"`
	Scopes []string         `json:"scopes" doc:"read, write, repo, admin (none: full access)"`
}

type tokenRequest struct {
	tokenFields
	Token *tokenFields `json:"api_token" doc:"The same fields, nested"`
}

func (d *Door) createToken(w http.ResponseWriter, r *http.Request) error {
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name, scopes := req.Name.V, req.Scopes
	if req.Token != nil {
		if req.Token.Name.Set {
			name = req.Token.Name.V
		}
		if req.Token.Scopes != nil {
			scopes = req.Token.Scopes
		}
	}
	t, plain, err := d.Accounts.CreateToken(r.Context(), actor(r), name, scopes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenJSON{ID: t.ID, Name: t.Name, Token: plain, Scopes: t.Scopes, CreatedAt: payload.Time(t.CreatedAt)})
	return nil
}

func (d *Door) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := d.Accounts.DeleteToken(r.Context(), actor(r), id); err != nil {
		return err
	}
	return noContent(w)
}

type sshKeyJSON struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	Key         string `json:"key"`
	KeyType     string `json:"key_type"`
	Fingerprint string `json:"fingerprint"`
	CreatedAt   string `json:"created_at"`
}

func sshKeyOut(k *store.SSHKey) sshKeyJSON {
	return sshKeyJSON{ID: k.ID, Title: k.Title, Key: k.PublicKey, KeyType: k.KeyType, Fingerprint: k.Fingerprint, CreatedAt: payload.Time(k.CreatedAt)}
}

func (d *Door) listSSHKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	ks, total, err := d.Accounts.SSHKeys(r.Context(), actor(r), p.Core())
	if err != nil {
		return err
	}
	out := make([]sshKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, sshKeyOut(k))
	}
	d.setPage(w, r, p, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

type sshKeyFields struct {
	Name      core.Opt[string] `json:"name" doc:"A label for the key"`
	Title     core.Opt[string] `json:"title" doc:"Instead of name"`
	PublicKey core.Opt[string] `json:"public_key" doc:"The public key, e.g. ssh-ed25519 AAAA... user@host"`
	Key       core.Opt[string] `json:"key" doc:"Instead of public_key"`
}

type sshKeyRequest struct {
	sshKeyFields
	SSHKey *sshKeyFields `json:"ssh_key" doc:"The same fields, nested"`
}

func (d *Door) addSSHKey(w http.ResponseWriter, r *http.Request) error {
	var req sshKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	n := sshKeyFields{}
	if req.SSHKey != nil {
		n = *req.SSHKey
	}
	title := core.Or(n.Name, n.Title, req.Name, req.Title).V
	text := core.Or(n.PublicKey, n.Key, req.PublicKey, req.Key).V
	k, err := d.Accounts.AddSSHKey(r.Context(), actor(r), title, text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sshKeyOut(k))
	return nil
}

func (d *Door) deleteSSHKey(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := d.Accounts.DeleteSSHKey(r.Context(), actor(r), id); err != nil {
		return err
	}
	return noContent(w)
}
