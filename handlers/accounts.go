package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"tapioca/store"
)

func (a *App) routesAccounts() {
	a.api("POST /api/v1/users", areaGeneral, a.register)
	a.api("POST /api/v1/tokens", areaGeneral, a.login)
	a.api("GET /api/v1/user", areaGeneral, a.getSelf)
	a.api("PATCH /api/v1/user", areaGeneral, a.updateSelf)
	a.api("GET /api/v1/user/api_tokens", areaGeneral, a.listTokens)
	a.api("POST /api/v1/user/api_tokens", areaGeneral, a.createToken)
	a.api("DELETE /api/v1/user/api_tokens/{id}", areaGeneral, a.deleteToken)
	a.api("GET /api/v1/user/ssh_keys", areaGeneral, a.listSSHKeys)
	a.api("POST /api/v1/user/ssh_keys", areaGeneral, a.addSSHKey)
	a.api("DELETE /api/v1/user/ssh_keys/{id}", areaGeneral, a.deleteSSHKey)
	a.api("GET /api/v1/users/{username}", areaGeneral, a.getProfile)
}

// accountFields are the fields of the registration and profile forms; they
// may come flat or nested under "user" (SPEC §4).
type accountFields struct {
	Username             opt[string] `json:"username"`
	Email                opt[string] `json:"email"`
	Password             opt[string] `json:"password"`
	PasswordConfirmation opt[string] `json:"password_confirmation"`
	Kind                 opt[string] `json:"kind"`
	DisplayName          opt[string] `json:"display_name"`
	Bio                  opt[string] `json:"bio"`
	URL                  opt[string] `json:"url"`
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
		Username:             or(n.Username, f.Username),
		Email:                or(n.Email, f.Email),
		Password:             or(n.Password, f.Password),
		PasswordConfirmation: or(n.PasswordConfirmation, f.PasswordConfirmation),
		Kind:                 or(n.Kind, f.Kind),
		DisplayName:          or(n.DisplayName, f.DisplayName),
		Bio:                  or(n.Bio, f.Bio),
		URL:                  or(n.URL, f.URL),
	}
}

// loginUser finds the account a login names (a username, or an email
// when it has an @); nil when there is none.
func (a *App) loginUser(ctx context.Context, login string) (*store.User, error) {
	var u *store.User
	var err error
	if strings.Contains(login, "@") {
		u, err = a.store.UserByEmail(ctx, login)
	} else {
		u, err = a.store.UserByName(ctx, login)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// ValidEmail reports whether s is a plain e-mail address (the CLI checks
// with it too).
func ValidEmail(s string) bool { return validEmail(s) }

func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s {
		return false
	}
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-1
}

func validWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkNewName validates a name for the shared namespace of users, orgs
// and aliases, including that nobody has it yet.
func (a *App) checkNewName(r *http.Request, v validation, field, name string) error {
	switch {
	case name == "":
		v.add(field, "can't be blank")
	case !store.ValidNamespaceName(name):
		v.add(field, "is invalid (letters, digits and hyphens, 1-39 characters, no leading or trailing hyphen)")
	case store.ReservedName(name):
		v.add(field, "is reserved")
	default:
		taken, err := a.store.NameTaken(r.Context(), name)
		if err != nil {
			return err
		}
		if taken {
			v.add(field, "has already been taken")
		}
	}
	return nil
}

// register creates an account and its default token (POST /users).
func (a *App) register(w http.ResponseWriter, r *http.Request) error {
	if !a.registrationOpen() {
		return errStatus(http.StatusForbidden, "Registration is closed")
	}
	var req accountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.merged()
	v := validation{}
	username := strings.TrimSpace(f.Username.V)
	if err := a.checkNewName(r, v, "username", username); err != nil {
		return err
	}
	email := strings.TrimSpace(f.Email.V)
	switch {
	case email == "":
		v.add("email", "can't be blank")
	case !validEmail(email):
		v.add("email", "is invalid")
	default:
		taken, err := a.store.EmailTaken(r.Context(), email)
		if err != nil {
			return err
		}
		if taken {
			v.add("email", "has already been taken")
		}
	}
	pw := f.Password.V
	switch {
	case pw == "":
		v.add("password", "can't be blank")
	case utf8.RuneCountInString(pw) < 8:
		v.add("password", "is too short (minimum is 8 characters)")
	case len(pw) > 1024:
		v.add("password", "is too long (maximum is 1024 characters)")
	}
	switch {
	case !f.PasswordConfirmation.Set || f.PasswordConfirmation.V == "":
		v.add("password_confirmation", "can't be blank")
	case f.PasswordConfirmation.V != pw:
		v.add("password_confirmation", "doesn't match password")
	}
	kind := "human"
	if f.Kind.Set && !f.Kind.Null {
		kind = f.Kind.V
		if kind != "human" && kind != "bot" {
			v.add("kind", `is not included in the list ("human", "bot")`)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	hash, err := store.HashPassword(pw)
	if err != nil {
		return err
	}
	var user *store.User
	var plain string
	err = a.store.Tx(r.Context(), func(tx *store.Store) error {
		var err error
		user, err = tx.CreateUser(r.Context(), store.NewUser{Username: username, Email: email, PasswordHash: hash, Kind: kind})
		if err != nil {
			return err
		}
		_, plain, err = tx.CreateToken(r.Context(), user.ID, "default", nil)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return invalid("username", "has already been taken")
	case errors.Is(err, store.ErrEmailTaken):
		return invalid("email", "has already been taken")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": plain, "user": privateProfile(user)})
	return nil
}

// login exchanges email (or username) and password for a new token.
func (a *App) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    opt[string] `json:"email"`
		Username opt[string] `json:"username"`
		Login    opt[string] `json:"login"`
		Password opt[string] `json:"password"`
		Name     opt[string] `json:"name"`
		Scopes   []string    `json:"scopes"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	login := strings.TrimSpace(or(req.Email, req.Login, req.Username).V)
	v := validation{}
	if login == "" {
		v.add("email", "can't be blank")
	}
	if req.Password.V == "" {
		v.add("password", "can't be blank")
	}
	name := strings.TrimSpace(req.Name.V)
	if name == "" {
		name = "login"
	}
	if len(name) > 255 {
		v.add("name", "is too long (maximum is 255 characters)")
	}
	scopes, scopeErr := normalizeScopes(req.Scopes)
	if scopeErr != "" {
		v.add("scopes", scopeErr)
	}
	if err := v.err(); err != nil {
		return err
	}
	user, err := a.verifyLogin(r.Context(), login, req.Password.V)
	if err != nil {
		return err
	}
	if user == nil {
		return errStatus(http.StatusUnauthorized, "Invalid email or password")
	}
	if user.Disabled {
		return errDisabled
	}
	_, plain, err := a.store.CreateToken(r.Context(), user.ID, name, scopes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": plain, "user": privateProfile(user)})
	return nil
}

// verifyLogin finds the user an email or username names and checks the
// password. It returns nil when they do not match, taking about as long
// for an account that does not exist (checked against a dummy hash) as
// for a wrong password. The API login and the dashboard sign-in share it.
func (a *App) verifyLogin(ctx context.Context, login, password string) (*store.User, error) {
	u, err := a.loginUser(ctx, login)
	if err != nil {
		return nil, err
	}
	return a.checkLogin(u, password), nil
}

// checkLogin is verifyLogin for an account already looked up (nil when
// the login named none).
func (a *App) checkLogin(u *store.User, password string) *store.User {
	hash := ""
	if u != nil && !u.IsOrg() {
		hash = u.PasswordHash
	}
	if hash == "" {
		a.dummyOnce.Do(func() { a.dummyHash, _ = store.HashPassword(RandomPassword(20)) })
		hash, u = a.dummyHash, nil
	}
	ok, err := store.CheckPassword(hash, password)
	if err != nil || !ok || u == nil {
		return nil
	}
	return u
}

func (a *App) getSelf(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, privateProfile(u))
	return nil
}

// profileUpdate validates display_name, bio and url as used by users and
// organizations alike.
func profileUpdate(v validation, displayName, bio, link opt[string]) store.ProfileUpdate {
	return store.ProfileUpdate{
		DisplayName: optionalText(v, "display_name", displayName, 255, nil),
		Bio:         optionalText(v, "bio", bio, 500, nil),
		URL:         optionalText(v, "url", link, 2048, validWebURL),
	}
}

func (a *App) updateSelf(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req accountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	f := req.merged()
	v := validation{}
	p := profileUpdate(v, f.DisplayName, f.Bio, f.URL)
	if err := v.err(); err != nil {
		return err
	}
	u, err = a.store.UpdateProfile(r.Context(), u.ID, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, privateProfile(u))
	return nil
}

func (a *App) getProfile(w http.ResponseWriter, r *http.Request) error {
	u, err := a.store.UserByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, publicProfile(u))
	return nil
}

// --- API tokens ---

type tokenJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Token      string   `json:"token,omitempty"`
	Scopes     []string `json:"scopes"`
	LastUsedAt *string  `json:"last_used_at"`
	CreatedAt  string   `json:"created_at"`
}

// normalizeScopes checks scopes against the known set and drops repeats;
// the returned message is empty when all is well.
func normalizeScopes(in []string) ([]string, string) {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if !store.ValidScope(s) {
			return nil, `contains unknown scope "` + s + `" (known: read, write, repo, admin)`
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, ""
}

func (a *App) listTokens(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	ts, err := a.store.ListTokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, Token: t.Hint, Scopes: t.Scopes,
			LastUsedAt: timePtrJSON(t.LastUsedAt), CreatedAt: timeJSON(t.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

func (a *App) createToken(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		Name   opt[string] `json:"name"`
		Scopes []string    `json:"scopes"`
		Token  *struct {
			Name   opt[string] `json:"name"`
			Scopes []string    `json:"scopes"`
		} `json:"api_token"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	name, scopesIn := req.Name.V, req.Scopes
	if req.Token != nil {
		if req.Token.Name.Set {
			name = req.Token.Name.V
		}
		if req.Token.Scopes != nil {
			scopesIn = req.Token.Scopes
		}
	}
	name = strings.TrimSpace(name)
	v := validation{}
	if name == "" {
		v.add("name", "can't be blank")
	} else if utf8.RuneCountInString(name) > 255 {
		v.add("name", "is too long (maximum is 255 characters)")
	}
	scopes, scopeErr := normalizeScopes(scopesIn)
	if scopeErr != "" {
		v.add("scopes", scopeErr)
	}
	if err := v.err(); err != nil {
		return err
	}
	// A scoped token cannot mint a token with more power than itself.
	if cur := who(r).token; cur != nil && len(cur.Scopes) > 0 && !scopesWithin(scopes, cur.Scopes) {
		return errStatus(http.StatusForbidden, "A scoped token cannot create a token with broader scopes")
	}
	t, plain, err := a.store.CreateToken(r.Context(), u.ID, name, scopes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenJSON{ID: t.ID, Name: t.Name, Token: plain, Scopes: t.Scopes, CreatedAt: timeJSON(t.CreatedAt)})
	return nil
}

func scopesWithin(want, have []string) bool {
	if len(want) == 0 {
		return false
	}
	h := map[string]bool{}
	for _, s := range have {
		h[s] = true
	}
	for _, s := range want {
		if !h[s] {
			return false
		}
	}
	return true
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id < 1 {
		return 0, errNotFound
	}
	return id, nil
}

func (a *App) deleteToken(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	// As with creation, a scoped token has no power over a broader one:
	// a leaked read-and-write token must not revoke the owner's keys.
	if cur := who(r).token; cur != nil && len(cur.Scopes) > 0 && cur.ID != id {
		ts, err := a.store.ListTokens(r.Context(), u.ID)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.ID == id && !(len(t.Scopes) > 0 && scopesWithin(t.Scopes, cur.Scopes)) {
				return errStatus(http.StatusForbidden, "A scoped token cannot revoke a token with broader scopes")
			}
		}
	}
	if err := a.store.DeleteToken(r.Context(), u.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- SSH keys ---

type sshKeyJSON struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	Key         string `json:"key"`
	KeyType     string `json:"key_type"`
	Fingerprint string `json:"fingerprint"`
	CreatedAt   string `json:"created_at"`
}

func sshKeyOut(k *store.SSHKey) sshKeyJSON {
	return sshKeyJSON{ID: k.ID, Title: k.Title, Key: k.PublicKey, KeyType: k.KeyType, Fingerprint: k.Fingerprint, CreatedAt: timeJSON(k.CreatedAt)}
}

func (a *App) listSSHKeys(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	ks, err := a.store.ListSSHKeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := make([]sshKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, sshKeyOut(k))
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, p, out))
	return nil
}

type sshKeyFields struct {
	Name      opt[string] `json:"name"`
	Title     opt[string] `json:"title"`
	PublicKey opt[string] `json:"public_key"`
	Key       opt[string] `json:"key"`
}

func (a *App) addSSHKey(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
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
	title := strings.TrimSpace(or(n.Name, n.Title, req.Name, req.Title).V)
	text := strings.TrimSpace(or(n.PublicKey, n.Key, req.PublicKey, req.Key).V)
	v := validation{}
	// Errors name the documented parameter, "name" (title is its alias).
	if title == "" {
		v.add("name", "can't be blank")
	} else if utf8.RuneCountInString(title) > 255 {
		v.add("name", "is too long (maximum is 255 characters)")
	}
	var pub ssh.PublicKey
	if text == "" {
		v.add("public_key", "can't be blank")
	} else {
		var rest []byte
		pub, _, _, rest, err = ssh.ParseAuthorizedKey([]byte(text))
		if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
			v.add("public_key", "is invalid: not an OpenSSH public key")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	k, err := a.store.AddSSHKey(r.Context(), store.SSHKey{
		// Stored as "<type> <base64>": the comment and any options are the
		// client's, and the seed's response shows the key without them.
		UserID: u.ID, Title: title, KeyType: pub.Type(), PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Fingerprint: ssh.FingerprintSHA256(pub),
	})
	if errors.Is(err, store.ErrKeyInUse) {
		return invalid("public_key", "has already been taken")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sshKeyOut(k))
	return nil
}

func (a *App) deleteSSHKey(w http.ResponseWriter, r *http.Request) error {
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.store.DeleteSSHKey(r.Context(), u.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
