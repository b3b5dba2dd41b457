// Package siteadmin is the forge core's site administration: what a site
// administrator does to the whole forge from the dashboard (accounts,
// rights, passwords, vouch grants, tokens and keys; organizations and
// their members; repositories: creating, renaming, transferring,
// visibility, maintenance; webhooks and their deliveries; deleting users,
// organizations and repositories; runtime settings), with the rules that
// keep the site usable (nobody removes themselves, the last administrator
// stays, an organization keeps an owner) and an audit trail of every
// action.
package siteadmin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/handlers/core/accounts"
	"tapioca/handlers/core/jobs"
	"tapioca/handlers/core/orgs"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/text"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
)

// Service is site administration.
type Service struct {
	env      *core.Env
	accounts *accounts.Service
	orgs     *orgs.Service
	repos    *repos.Service
	hooks    *webhooks.Service
	jobs     *jobs.Scheduler
}

// New returns the site administration service.
func New(env *core.Env, acc *accounts.Service, o *orgs.Service, r *repos.Service, h *webhooks.Service, j *jobs.Scheduler) *Service {
	return &Service{env: env, accounts: acc, orgs: o, repos: r, hooks: h, jobs: j}
}

// ErrNotAdmin refuses anyone but an enabled site administrator.
var ErrNotAdmin = core.Forbidden("Only site administrators can do this")

// Check allows only enabled site administrators.
func (s *Service) Check(a core.Actor) error {
	if !a.SiteAdmin() {
		if a.User == nil {
			return core.ErrNoIdentity
		}
		return ErrNotAdmin
	}
	return nil
}

// SignIn signs a site administrator in to the dashboard with username or
// email and password: throttled failures, then disabled accounts and
// non-administrators refused.
func (s *Service) SignIn(ctx context.Context, login, password, addr string) (*store.User, error) {
	u, err := s.accounts.SignIn(ctx, login, password, addr)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Disabled:
		return nil, core.Forbidden("This account is disabled.")
	case !u.IsAdmin:
		return nil, core.Forbidden("Only site administrators can sign in to the dashboard, and %s is not one.", u.Username)
	}
	return u, nil
}

// Audit records a dashboard action; a failure to record is only logged,
// the action itself has happened.
func (s *Service) Audit(ctx context.Context, a core.Actor, action, target string) {
	s.auditOf(ctx, a, action, "", target)
}

// auditOf is Audit of a target of a kind (store.TargetUser...), which
// recent activity links to its page.
func (s *Service) auditOf(ctx context.Context, a core.Actor, action, kind, target string) {
	if err := s.env.Store.AuditOf(ctx, a.Name(), action, kind, target); err != nil {
		s.env.Log.WarnContext(ctx, "audit log", "err", err)
	}
}

// User is the user account called name; organizations are not users
// here.
func (s *Service) User(ctx context.Context, a core.Actor, name string) (*store.User, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	u, err := s.env.Store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if u.IsOrg() {
		return nil, core.NotFound("%s is an organization; see Organizations.", u.Username)
	}
	return u, nil
}

// NewUser is an account an administrator creates.
type NewUser struct {
	Username, Email string
	Kind            string // human or bot
	Admin           bool
	Password        string // "" generates one
}

// CreateUser creates an account. Every invalid field is reported at once
// and nothing is created. It returns the generated password, if any.
func (s *Service) CreateUser(ctx context.Context, a core.Actor, in NewUser) (*store.User, string, error) {
	if err := s.Check(a); err != nil {
		return nil, "", err
	}
	v := core.Validation{}
	in.Username, in.Email = strings.TrimSpace(in.Username), strings.TrimSpace(in.Email)
	if err := s.env.CheckNewName(ctx, v, "username", in.Username); err != nil {
		return nil, "", err
	}
	switch {
	case in.Email == "":
		v.Add("email", "can't be blank")
	case !core.ValidEmail(in.Email):
		v.Add("email", "is not a valid email address")
	default:
		taken, err := s.env.Store.EmailTaken(ctx, in.Email)
		if err != nil {
			return nil, "", err
		}
		if taken {
			v.Add("email", "has already been taken")
		}
	}
	if in.Kind != "human" && in.Kind != "bot" {
		v.Add("kind", "must be human or bot")
	}
	if in.Password != "" && len(in.Password) < accounts.MinPasswordLen {
		v.Add("password", "is too short (minimum is 8 characters)")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	generated := ""
	if in.Password == "" {
		in.Password = core.RandomPassword(20)
		generated = in.Password
	}
	hash, err := store.HashPassword(in.Password)
	if err != nil {
		return nil, "", err
	}
	u, err := s.env.Store.CreateUser(ctx, store.NewUser{Username: in.Username, Email: in.Email, PasswordHash: hash,
		Kind: in.Kind, IsAdmin: in.Admin})
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return nil, "", core.Invalid("username", "has already been taken")
	case errors.Is(err, store.ErrEmailTaken):
		return nil, "", core.Invalid("email", "has already been taken")
	case err != nil:
		return nil, "", err
	}
	s.auditOf(ctx, a, "created user", store.TargetUser, u.Username)
	return u, generated, nil
}

// refusal words the store's guard errors for the administrator.
func refusal(err error) error {
	var sole *store.SoleOwnerError
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return core.Conflict("Refused: the site must keep at least one enabled site administrator.")
	case errors.As(err, &sole):
		return core.Conflict("Refused: this user is the only owner of %s. Add another owner or delete those organizations first.",
			strings.Join(sole.Orgs, ", "))
	}
	return err
}

// SetAdmin grants or revokes site administration. Nobody revokes their
// own rights, and the last enabled administrator stays.
func (s *Service) SetAdmin(ctx context.Context, a core.Actor, u *store.User, admin bool) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if !admin && u.ID == a.ID() {
		return core.Forbidden("You cannot remove your own administrator rights; ask another administrator.")
	}
	if err := s.env.Store.SetAdminChecked(ctx, u.ID, admin); err != nil {
		return refusal(err)
	}
	if admin {
		s.auditOf(ctx, a, "made site administrator", store.TargetUser, u.Username)
	} else {
		s.auditOf(ctx, a, "removed site administrator", store.TargetUser, u.Username)
	}
	return nil
}

// SetDisabled disables or enables an account: a disabled one cannot sign
// in, use its tokens or reach git. Nobody disables themselves.
func (s *Service) SetDisabled(ctx context.Context, a core.Actor, u *store.User, disabled bool) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if disabled && u.ID == a.ID() {
		return core.Forbidden("You cannot disable your own account.")
	}
	if err := s.env.Store.SetDisabledChecked(ctx, u.ID, disabled); err != nil {
		return refusal(err)
	}
	if disabled {
		s.auditOf(ctx, a, "disabled", store.TargetUser, u.Username)
	} else {
		s.auditOf(ctx, a, "enabled", store.TargetUser, u.Username)
	}
	return nil
}

// ResetPassword sets a new password ("" generates one, returned). The
// account's dashboard sessions end, since they are tied to the old
// password; the new hash is returned for the caller's own session.
func (s *Service) ResetPassword(ctx context.Context, a core.Actor, u *store.User, password string) (generated, hash string, err error) {
	if err := s.Check(a); err != nil {
		return "", "", err
	}
	if password != "" && len(password) < accounts.MinPasswordLen {
		return "", "", core.Invalid("password", "Password is too short (minimum is 8 characters).")
	}
	if password == "" {
		password = core.RandomPassword(20)
		generated = password
	}
	hash, err = store.HashPassword(password)
	if err != nil {
		return "", "", err
	}
	if err := s.env.Store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return "", "", err
	}
	s.auditOf(ctx, a, "reset the password of", store.TargetUser, u.Username)
	return generated, hash, nil
}

// MaxVouchGrant bounds one grant (the CLI's bound too).
const MaxVouchGrant = 1_000_000

// GrantVouches adds n to a user's vouch balance and returns the new
// balance.
func (s *Service) GrantVouches(ctx context.Context, a core.Actor, u *store.User, n int64) (int64, error) {
	if err := s.Check(a); err != nil {
		return 0, err
	}
	if n < 1 || n > MaxVouchGrant {
		return 0, core.Invalid("count", fmt.Sprintf("Enter a whole number from 1 to %d.", MaxVouchGrant))
	}
	source := "dashboard:" + a.Name()
	if a.IsOperator() {
		source = "cli"
	}
	balance, err := s.env.Store.GrantVouches(ctx, u.ID, n, source)
	if err != nil {
		return 0, err
	}
	s.auditOf(ctx, a, fmt.Sprintf("granted %d %s to", n, text.Plural(int(n), "vouch", "vouches")), store.TargetUser, u.Username)
	return balance, nil
}

// ErrSelfDelete refuses deleting one's own account.
var ErrSelfDelete = core.Forbidden("You cannot delete your own account; ask another administrator.")

// CheckDeleteUser refuses what DeleteUser would refuse before the
// administrator confirms.
func (s *Service) CheckDeleteUser(a core.Actor, u *store.User) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if u.ID == a.ID() {
		return ErrSelfDelete
	}
	return nil
}

// DeleteUser deletes a user with their repositories, tokens and keys;
// their issues and comments stay, without an author. It returns how many
// repositories went.
func (s *Service) DeleteUser(ctx context.Context, a core.Actor, u *store.User) (int, error) {
	if err := s.CheckDeleteUser(a, u); err != nil {
		return 0, err
	}
	ids, err := s.env.Store.DeleteUser(ctx, u.ID)
	if err != nil {
		return 0, refusal(err)
	}
	for _, id := range ids {
		s.env.RemoveRepoFiles(ctx, id)
	}
	s.Audit(ctx, a, "deleted user", u.Username)
	return len(ids), nil
}

// DeleteOrg deletes an organization and its repositories, and returns
// how many repositories went.
func (s *Service) DeleteOrg(ctx context.Context, a core.Actor, org *store.User) (int, error) {
	if err := s.Check(a); err != nil {
		return 0, err
	}
	ids, err := s.env.Store.DeleteOrg(ctx, org.ID)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		s.env.RemoveRepoFiles(ctx, id)
	}
	s.Audit(ctx, a, "deleted organization", org.Username)
	return len(ids), nil
}

// DeleteRepo deletes a repository.
func (s *Service) DeleteRepo(ctx context.Context, a core.Actor, repo *store.Repo) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if err := s.repos.Remove(ctx, repo.ID); err != nil {
		return err
	}
	s.Audit(ctx, a, "deleted repository", repo.FullName())
	return nil
}

// Settings are the runtime settings; an empty value removes the
// override (the flag's value applies).
type Settings struct {
	RegistrationOpen bool
	RateLimitAuth    string
	RateLimitAnon    string
	BaseURL          string
}

// MaxRateLimit bounds the configurable hourly limits.
const MaxRateLimit = 10_000_000

// ValidBaseURL reports whether s can be the external URL: absolute http
// or https, without query, fragment or credentials.
func ValidBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// CheckSettings validates settings in place (trimming the base URL) and
// returns the field errors.
func CheckSettings(st *Settings) core.Validation {
	v := core.Validation{}
	limit := func(field, val string) {
		if val == "" {
			return
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > MaxRateLimit {
			v.Add(field, "Enter a whole number from 1 to "+strconv.Itoa(MaxRateLimit)+", or leave empty for the default.")
		}
	}
	limit("rate_limit_auth", st.RateLimitAuth)
	limit("rate_limit_anon", st.RateLimitAnon)
	if st.BaseURL != "" {
		if !ValidBaseURL(st.BaseURL) {
			v.Add("base_url", "Enter an absolute http:// or https:// address without query, fragment or credentials, or leave empty for the default.")
		} else {
			st.BaseURL = strings.TrimRight(st.BaseURL, "/")
		}
	}
	return v
}

// SaveSettings validates the settings, stores them in one transaction
// and reloads them so they apply at once.
func (s *Service) SaveSettings(ctx context.Context, a core.Actor, st Settings) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if err := CheckSettings(&st).Err(); err != nil {
		return err
	}
	err := s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetSetting(ctx, store.SettingRegistrationOpen, strconv.FormatBool(st.RegistrationOpen)); err != nil {
			return err
		}
		for key, v := range map[string]string{store.SettingRateLimitAuth: st.RateLimitAuth,
			store.SettingRateLimitAnon: st.RateLimitAnon, store.SettingBaseURL: st.BaseURL} {
			var err error
			if v == "" {
				err = tx.DeleteSetting(ctx, key)
			} else {
				err = tx.SetSetting(ctx, key, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.env.LoadSettings(ctx); err != nil {
		return err
	}
	s.auditOf(ctx, a, "changed", store.TargetSettings, "settings")
	return nil
}

// Redeliver queues any delivery's payload again, as a new delivery.
func (s *Service) Redeliver(ctx context.Context, a core.Actor, id int64) (*store.Delivery, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	if id < 1 {
		return nil, core.ErrHidden
	}
	nd, err := s.hooks.Redeliver(ctx, id)
	if err != nil {
		return nil, err
	}
	s.auditOf(ctx, a, "redelivered webhook delivery", store.TargetDelivery, "#"+strconv.FormatInt(id, 10))
	return nd, nil
}

// RunJob runs a scheduled job now (or joins its run in flight).
func (s *Service) RunJob(ctx context.Context, a core.Actor, d *jobs.Def) (*jobs.Run, error) {
	if err := s.Check(a); err != nil {
		return nil, err
	}
	run, joined, err := s.jobs.Trigger(ctx, d)
	if errors.Is(err, jobs.ErrDisabled) {
		return nil, core.Conflict("%s is disabled; enable it to run it.", d.Name)
	}
	if err != nil {
		return nil, err
	}
	if !joined {
		s.auditOf(ctx, a, "ran job", store.TargetJob, d.Name)
	}
	return run, nil
}

// SetJobEnabled switches a job's schedule on or off.
func (s *Service) SetJobEnabled(ctx context.Context, a core.Actor, d *jobs.Def, enabled bool) error {
	if err := s.Check(a); err != nil {
		return err
	}
	if err := s.jobs.SetEnabled(ctx, d, enabled); err != nil {
		return err
	}
	verb := "disabled"
	if enabled {
		verb = "enabled"
	}
	s.auditOf(ctx, a, verb+" job", store.TargetJob, d.Name)
	return nil
}
