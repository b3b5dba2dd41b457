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
	d.api("POST /api/v1/users", core.AreaGeneral, d.register)
	d.api("POST /api/v1/tokens", core.AreaGeneral, d.login)
	d.user("GET /api/v1/user", core.AreaGeneral, d.getSelf)
	d.user("PATCH /api/v1/user", core.AreaGeneral, d.updateSelf)
	d.user("GET /api/v1/user/api_tokens", core.AreaGeneral, d.listTokens)
	d.user("POST /api/v1/user/api_tokens", core.AreaGeneral, d.createToken)
	d.user("DELETE /api/v1/user/api_tokens/{id}", core.AreaGeneral, d.deleteToken)
	d.user("GET /api/v1/user/ssh_keys", core.AreaGeneral, d.listSSHKeys)
	d.user("POST /api/v1/user/ssh_keys", core.AreaGeneral, d.addSSHKey)
	d.user("DELETE /api/v1/user/ssh_keys/{id}", core.AreaGeneral, d.deleteSSHKey)
	d.api("GET /api/v1/users/{username}", core.AreaGeneral, d.getProfile)
}

// accountFields are the fields of the registration and profile forms; they
// may come flat or nested under "user".
type accountFields struct {
	Username             core.Opt[string] `json:"username"`
	Email                core.Opt[string] `json:"email"`
	Password             core.Opt[string] `json:"password"`
	PasswordConfirmation core.Opt[string] `json:"password_confirmation"`
	Kind                 core.Opt[string] `json:"kind"`
	DisplayName          core.Opt[string] `json:"display_name"`
	Bio                  core.Opt[string] `json:"bio"`
	URL                  core.Opt[string] `json:"url"`
}

type accountRequest struct {
	accountFields
	User *accountFields `json:"user"`
}

// merged returns the nested form's fields where given, else the flat ones.
func (r *accountRequest) merged() accountFields {
	n := accountFields{}
	if r.User != nil {
		n = *r.User
	}
	f := r.accountFields
	return accountFields{
		Username:             core.Or(n.Username, f.Username),
		Email:                core.Or(n.Email, f.Email),
		Password:             core.Or(n.Password, f.Password),
		PasswordConfirmation: core.Or(n.PasswordConfirmation, f.PasswordConfirmation),
		Kind:                 core.Or(n.Kind, f.Kind),
		DisplayName:          core.Or(n.DisplayName, f.DisplayName),
		Bio:                  core.Or(n.Bio, f.Bio),
		URL:                  core.Or(n.URL, f.URL),
	}
}

func (d *Door) register(w http.ResponseWriter, r *http.Request) error {
	var req accountRequest
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
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "user": payload.PrivateProfile(u)})
	return nil
}

func (d *Door) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    core.Opt[string] `json:"email"`
		Username core.Opt[string] `json:"username"`
		Login    core.Opt[string] `json:"login"`
		Password core.Opt[string] `json:"password"`
		Name     core.Opt[string] `json:"name"`
		Scopes   []string         `json:"scopes"`
	}
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
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "user": payload.PrivateProfile(u)})
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
	var req accountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.merged()
	u, err := d.Accounts.UpdateProfile(r.Context(), actor(r), core.ProfileInput{DisplayName: f.DisplayName, Bio: f.Bio, URL: f.URL})
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

func (d *Door) createToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name   core.Opt[string] `json:"name"`
		Scopes []string         `json:"scopes"`
		Token  *struct {
			Name   core.Opt[string] `json:"name"`
			Scopes []string         `json:"scopes"`
		} `json:"api_token"`
	}
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
	Name      core.Opt[string] `json:"name"`
	Title     core.Opt[string] `json:"title"`
	PublicKey core.Opt[string] `json:"public_key"`
	Key       core.Opt[string] `json:"key"`
}

func (d *Door) addSSHKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		sshKeyFields
		SSHKey *sshKeyFields `json:"ssh_key"`
	}
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
