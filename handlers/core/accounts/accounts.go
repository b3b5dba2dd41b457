// Package accounts is the forge core's account service: registration,
// sign-in with a password, API tokens (issuing, scoping, revoking and
// resolving them to an actor), profiles and SSH keys (and resolving a
// key, a user's or a deploy key, to an actor).
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers/core"
	"tapioca/store"
)

// MinPasswordLen is the shortest password an account may have.
const MinPasswordLen = 8

// Service is the account service.
type Service struct {
	env *core.Env

	// dummyHash is checked against when a sign-in names no account, so
	// that a wrong name costs as much time as a wrong password.
	dummyOnce sync.Once
	dummyHash string
}

// New returns the account service.
func New(env *core.Env) *Service { return &Service{env: env} }

// EnsureAdmin creates the site administrator "admin" on first start. It
// returns the password when it generated one (empty password given), so
// the caller can show it once.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (generated string, err error) {
	n, err := s.env.Store.CountUsers(ctx, store.TypeUser)
	if err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	pw := password
	if pw == "" {
		pw = core.RandomPassword(20)
		generated = pw
	}
	hash, err := store.HashPassword(pw)
	if err != nil {
		return "", err
	}
	_, err = s.env.Store.CreateUser(ctx, store.NewUser{
		Username: "admin", Email: "admin@localhost", PasswordHash: hash, IsAdmin: true,
	})
	if err != nil {
		return "", fmt.Errorf("create admin account: %w", err)
	}
	return generated, nil
}

// Authenticate resolves a token to the actor it stands for:
// ErrBadCredentials for an unknown token, ErrDisabled for a disabled
// account.
func (s *Service) Authenticate(ctx context.Context, token string) (core.Actor, error) {
	if token == "" {
		return core.Anonymous, core.ErrBadCredentials
	}
	t, u, err := s.env.Store.TokenByPlaintext(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return core.Anonymous, core.ErrBadCredentials
	}
	if err != nil {
		return core.Anonymous, err
	}
	if u.Disabled {
		return core.Anonymous, core.ErrDisabled
	}
	now := time.Now()
	// last_used_at is kept to the minute: a write per request would make
	// every GET a write.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if err := s.env.Store.TouchToken(ctx, t.ID, now); err != nil {
			s.env.Log.WarnContext(ctx, "token last_used_at", "err", err)
		}
	}
	return core.Actor{User: u, Token: t}, nil
}

// Registration is the input of Register.
type Registration struct {
	Username             string
	Email                string
	Password             string
	PasswordConfirmation core.Opt[string]
	Kind                 core.Opt[string]
}

// Register creates an account and its default token, returned in plain
// text once.
func (s *Service) Register(ctx context.Context, in Registration) (*store.User, string, error) {
	if !s.env.RegistrationOpen() {
		return nil, "", core.Forbidden("Registration is closed")
	}
	v := core.Validation{}
	username := strings.TrimSpace(in.Username)
	if err := s.env.CheckNewName(ctx, v, "username", username); err != nil {
		return nil, "", err
	}
	email := strings.TrimSpace(in.Email)
	switch {
	case email == "":
		v.Add("email", "can't be blank")
	case !core.ValidEmail(email):
		v.Add("email", "is invalid")
	default:
		taken, err := s.env.Store.EmailTaken(ctx, email)
		if err != nil {
			return nil, "", err
		}
		if taken {
			v.Add("email", "has already been taken")
		}
	}
	pw := in.Password
	switch {
	case pw == "":
		v.Add("password", "can't be blank")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		v.Add("password", "is too short (minimum is 8 characters)")
	case len(pw) > 1024:
		v.Add("password", "is too long (maximum is 1024 characters)")
	}
	switch {
	case !in.PasswordConfirmation.Set || in.PasswordConfirmation.V == "":
		v.Add("password_confirmation", "can't be blank")
	case in.PasswordConfirmation.V != pw:
		v.Add("password_confirmation", "doesn't match password")
	}
	kind := "human"
	if in.Kind.Given() {
		kind = in.Kind.V
		if kind != "human" && kind != "bot" {
			v.Add("kind", `is not included in the list ("human", "bot")`)
		}
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	hash, err := store.HashPassword(pw)
	if err != nil {
		return nil, "", err
	}
	var user *store.User
	var plain string
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		user, err = tx.CreateUser(ctx, store.NewUser{Username: username, Email: email, PasswordHash: hash, Kind: kind})
		if err != nil {
			return err
		}
		_, plain, err = tx.CreateToken(ctx, user.ID, "default", nil)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return nil, "", core.Invalid("username", "has already been taken")
	case errors.Is(err, store.ErrEmailTaken):
		return nil, "", core.Invalid("email", "has already been taken")
	case err != nil:
		return nil, "", err
	}
	return user, plain, nil
}

// Login is the input of LogIn.
type Login struct {
	Login    string // username or email
	Password string
	Name     string   // the new token's name; "login" when empty
	Scopes   []string // the new token's scopes; none = full access
}

// LogIn exchanges an email (or username) and password for a new token,
// for a client at addr (failures are throttled as the dashboard's are).
func (s *Service) LogIn(ctx context.Context, in Login, addr string) (*store.User, string, error) {
	login := strings.TrimSpace(in.Login)
	v := core.Validation{}
	if login == "" {
		v.Add("email", "can't be blank")
	}
	if in.Password == "" {
		v.Add("password", "can't be blank")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "login"
	}
	if len(name) > 255 {
		v.Add("name", "is too long (maximum is 255 characters)")
	}
	scopes, scopeErr := NormalizeScopes(in.Scopes)
	if scopeErr != "" {
		v.Add("scopes", scopeErr)
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	user, err := s.SignIn(ctx, login, in.Password, addr)
	if errors.Is(err, core.ErrUnauthorized) {
		return nil, "", &core.Error{Kind: core.ErrUnauthorized, Msg: "Invalid email or password"}
	}
	if err != nil {
		return nil, "", err
	}
	if user.Disabled {
		return nil, "", core.ErrDisabled
	}
	_, plain, err := s.env.Store.CreateToken(ctx, user.ID, name, scopes)
	if err != nil {
		return nil, "", err
	}
	return user, plain, nil
}

// LoginUser finds the account a login names (a username, or an email
// when it has an @); nil when there is none.
func (s *Service) LoginUser(ctx context.Context, login string) (*store.User, error) {
	var u *store.User
	var err error
	if strings.Contains(login, "@") {
		u, err = s.env.Store.UserByEmail(ctx, login)
	} else {
		u, err = s.env.Store.UserByName(ctx, login)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// VerifyLogin finds the user an email or username names and checks the
// password. It returns nil when they do not match, taking about as long
// for an account that does not exist (checked against a dummy hash) as
// for a wrong password. The API login and the dashboard sign-in share it.
func (s *Service) VerifyLogin(ctx context.Context, login, password string) (*store.User, error) {
	u, err := s.LoginUser(ctx, login)
	if err != nil {
		return nil, err
	}
	return s.CheckPassword(u, password), nil
}

// CheckPassword is VerifyLogin for an account already looked up (nil
// when the login named none).
func (s *Service) CheckPassword(u *store.User, password string) *store.User {
	hash := ""
	if u != nil && !u.IsOrg() {
		hash = u.PasswordHash
	}
	if hash == "" {
		s.dummyOnce.Do(func() { s.dummyHash, _ = store.HashPassword(core.RandomPassword(20)) })
		hash, u = s.dummyHash, nil
	}
	ok, err := store.CheckPassword(hash, password)
	if err != nil || !ok || u == nil {
		return nil
	}
	return u
}

// SignIn checks a password sign-in from a client address, throttled as
// throttle.go describes: while a sign-in must wait, the answer is
// ErrRateLimited with RetryAfter, whatever the password. It returns the
// account or an ErrUnauthorized error; disabled accounts are the
// caller's to refuse. The API's login and the dashboard share it.
func (s *Service) SignIn(ctx context.Context, login, password, addr string) (*store.User, error) {
	account, err := s.LoginUser(ctx, login)
	if err != nil {
		return nil, err
	}
	k := keysFor(account, login, addr)
	now := time.Now()
	wait, err := s.wait(ctx, account, k, now)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &core.Error{Kind: core.ErrRateLimited, Msg: "Too many failed sign-in attempts", RetryAfter: wait}
	}
	u := s.CheckPassword(account, password)
	if u == nil {
		s.failed(ctx, k, now)
		return nil, &core.Error{Kind: core.ErrUnauthorized, Msg: "Incorrect username, email or password."}
	}
	s.succeeded(ctx, u, k, addr)
	return u, nil
}

// Self is the signed-in account.
func (s *Service) Self(a core.Actor) (*store.User, error) { return a.Require() }

// UpdateProfile edits the actor's display name, bio and URL.
func (s *Service) UpdateProfile(ctx context.Context, a core.Actor, in core.ProfileInput) (*store.User, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	p := in.Check(v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.env.Store.UpdateProfile(ctx, u.ID, p)
}

// Profile is the public account (user or organization) called name.
func (s *Service) Profile(ctx context.Context, name string) (*store.User, error) {
	return s.env.Store.UserByName(ctx, name)
}

// NormalizeScopes checks scopes against the known set and drops repeats;
// the returned message is empty when all is well.
func NormalizeScopes(in []string) ([]string, string) {
	seen := map[string]bool{}
	out := []string{}
	for _, sc := range in {
		sc = strings.ToLower(strings.TrimSpace(sc))
		if !store.ValidScope(sc) {
			return nil, `contains unknown scope "` + sc + `" (known: read, write, repo, admin)`
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, ""
}

// Tokens lists the actor's API tokens (plaintext never included).
func (s *Service) Tokens(ctx context.Context, a core.Actor, p core.Page) ([]*store.Token, int, error) {
	u, err := a.Require()
	if err != nil {
		return nil, 0, err
	}
	ts, err := s.env.Store.ListTokens(ctx, u.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(ts, p)
	return page, total, nil
}

// CreateToken issues a token; the plaintext is returned once. A scoped
// token cannot mint a token with more power than itself.
func (s *Service) CreateToken(ctx context.Context, a core.Actor, name string, scopesIn []string) (*store.Token, string, error) {
	u, err := a.Require()
	if err != nil {
		return nil, "", err
	}
	name = strings.TrimSpace(name)
	v := core.Validation{}
	if name == "" {
		v.Add("name", "can't be blank")
	} else if utf8.RuneCountInString(name) > 255 {
		v.Add("name", "is too long (maximum is 255 characters)")
	} else {
		core.CheckLine(v, "name", name)
	}
	scopes, scopeErr := NormalizeScopes(scopesIn)
	if scopeErr != "" {
		v.Add("scopes", scopeErr)
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if a.Scoped() && !core.ScopesWithin(scopes, a.Token.Scopes) {
		return nil, "", core.Forbidden("A scoped token cannot create a token with broader scopes")
	}
	return s.env.Store.CreateToken(ctx, u.ID, name, scopes)
}

// DeleteToken revokes one of the actor's tokens. As with creation, a
// scoped token has no power over a broader one: a leaked read-and-write
// token must not revoke the owner's keys.
func (s *Service) DeleteToken(ctx context.Context, a core.Actor, id int64) error {
	u, err := a.Require()
	if err != nil {
		return err
	}
	if a.Scoped() && a.Token.ID != id {
		ts, err := s.env.Store.ListTokens(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.ID == id && !(len(t.Scopes) > 0 && core.ScopesWithin(t.Scopes, a.Token.Scopes)) {
				return core.Forbidden("A scoped token cannot revoke a token with broader scopes")
			}
		}
	}
	return s.env.Store.DeleteToken(ctx, u.ID, id)
}

// SSHKeys lists the actor's SSH keys.
func (s *Service) SSHKeys(ctx context.Context, a core.Actor, p core.Page) ([]*store.SSHKey, int, error) {
	u, err := a.Require()
	if err != nil {
		return nil, 0, err
	}
	ks, err := s.env.Store.ListSSHKeys(ctx, u.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(ks, p)
	return page, total, nil
}

// AddSSHKey registers an OpenSSH public key for the actor. Errors name
// the documented parameters, "name" and "public_key".
func (s *Service) AddSSHKey(ctx context.Context, a core.Actor, title, text string) (*store.SSHKey, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	title, text = strings.TrimSpace(title), strings.TrimSpace(text)
	v := core.Validation{}
	if title == "" {
		v.Add("name", "can't be blank")
	} else if utf8.RuneCountInString(title) > 255 {
		v.Add("name", "is too long (maximum is 255 characters)")
	} else {
		core.CheckLine(v, "name", title)
	}
	pub := CheckPublicKey(v, "public_key", text)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.env.Store.AddSSHKey(ctx, store.SSHKey{
		UserID: u.ID, Title: title, KeyType: pub.Type(), PublicKey: AuthorizedKey(pub),
		Fingerprint: ssh.FingerprintSHA256(pub),
	})
	if errors.Is(err, store.ErrKeyInUse) {
		return nil, core.Invalid("public_key", "has already been taken")
	}
	return k, err
}

// CheckPublicKey parses text, one OpenSSH public key line, for field of
// v: the key, or nil with the problem added to v.
func CheckPublicKey(v core.Validation, field, text string) ssh.PublicKey {
	if text == "" {
		v.Add(field, "can't be blank")
		return nil
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		v.Add(field, "is invalid: not an OpenSSH public key")
		return nil
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		// The SSH server identifies clients by their key, not by
		// certificates (no certificate authority to trust).
		v.Add(field, "is a certificate: give the public key itself")
		return nil
	}
	return pub
}

// AuthorizedKey is how a key is stored and shown: "<type> <base64>". The
// comment and any options are the client's, and the seed's response
// shows the key without them.
func AuthorizedKey(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// AuthenticateKey resolves the SHA-256 fingerprint of a public key that a
// client proved it holds (over SSH) to the actor it acts as: the
// account whose key it is, with the account's full rights (keys have no
// scopes), or the deploy key itself. ErrBadCredentials for a key nobody
// registered, ErrDisabled for a disabled account's key.
func (s *Service) AuthenticateKey(ctx context.Context, fingerprint string) (core.Actor, error) {
	k, err := s.env.Store.SSHKeyByFingerprint(ctx, fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		dk, err := s.env.Store.DeployKeyByFingerprint(ctx, fingerprint)
		if errors.Is(err, store.ErrNotFound) {
			return core.Anonymous, core.ErrBadCredentials
		}
		if err != nil {
			return core.Anonymous, err
		}
		return core.Actor{DeployKey: dk}, nil
	}
	if err != nil {
		return core.Anonymous, err
	}
	u, err := s.env.Store.UserByID(ctx, k.UserID)
	if err != nil {
		return core.Anonymous, err
	}
	if u.Disabled {
		return core.Anonymous, core.ErrDisabled
	}
	return core.AsUser(u), nil
}

// DeleteSSHKey removes one of the actor's keys.
func (s *Service) DeleteSSHKey(ctx context.Context, a core.Actor, id int64) error {
	u, err := a.Require()
	if err != nil {
		return err
	}
	return s.env.Store.DeleteSSHKey(ctx, u.ID, id)
}
