package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors for the shared namespace and for accounts.
var (
	ErrNameTaken  = fmt.Errorf("name %w", ErrDuplicate)
	ErrEmailTaken = fmt.Errorf("email %w", ErrDuplicate)
)

// Account types: users and organizations share the users table.
const (
	TypeUser = "user"
	TypeOrg  = "org"
)

// User is a user or an organization (Type tells which).
type User struct {
	ID           int64
	Type         string
	Username     string
	Kind         string // human, bot; organization for orgs
	Email        string
	PasswordHash string
	DisplayName  *string
	Bio          *string
	URL          *string
	IsAdmin      bool
	Disabled     bool
	VouchBalance int64
	VouchCount   int64
	Reputation   int64
	Alias        string // "" when none
	// MaxRepos is the account's own repository limit; nil follows the
	// site's (--max-repos).
	MaxRepos *int
	// LastSignInAt is the last password sign-in (API login or
	// dashboard); nil when never.
	LastSignInAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// IsOrg reports whether u is an organization.
func (u *User) IsOrg() bool { return u.Type == TypeOrg }

const userColumns = `u.id, u.type, u.username, u.kind, COALESCE(u.email, ''), COALESCE(u.password_hash, ''),
	u.display_name, u.bio, u.url, u.is_admin, u.disabled, u.vouch_balance, u.vouch_count, u.reputation,
	COALESCE((SELECT alias FROM names a WHERE a.user_id = u.id AND a.is_alias = 1), ''),
	u.max_repos, u.last_sign_in_at, u.created_at, u.updated_at`

type scanner interface{ Scan(dest ...any) error }

// scanUser reads userColumns, then any extra columns into extra.
func scanUser(row scanner, extra ...any) (*User, error) {
	u := &User{}
	var display, bio, url sql.NullString
	var maxRepos sql.NullInt64
	var signIn sql.NullTime
	dest := []any{&u.ID, &u.Type, &u.Username, &u.Kind, &u.Email, &u.PasswordHash,
		&display, &bio, &url, &u.IsAdmin, &u.Disabled, &u.VouchBalance, &u.VouchCount, &u.Reputation,
		&u.Alias, &maxRepos, &signIn, &u.CreatedAt, &u.UpdatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	u.DisplayName, u.Bio, u.URL = strPtr(display), strPtr(bio), strPtr(url)
	if maxRepos.Valid {
		n := int(maxRepos.Int64)
		u.MaxRepos = &n
	}
	u.LastSignInAt = timePtr(signIn)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

func strPtr(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	s := ns.String
	return &s
}

// NewUser holds what is needed to create an account.
type NewUser struct {
	Type         string // TypeUser (default) or TypeOrg
	Username     string
	Email        string
	PasswordHash string
	Kind         string
	DisplayName  *string
	Bio          *string
	URL          *string
	IsAdmin      bool
}

// CreateUser inserts a user or organization and claims its name in the
// shared namespace. ErrNameTaken or ErrEmailTaken when either is in use.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	if nu.Type == "" {
		nu.Type = TypeUser
	}
	if nu.Kind == "" {
		nu.Kind = "human"
		if nu.Type == TypeOrg {
			nu.Kind = "organization"
		}
	}
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		var email, lowerEmail any
		if nu.Email != "" {
			email, lowerEmail = nu.Email, strings.ToLower(nu.Email)
		}
		var pw any
		if nu.PasswordHash != "" {
			pw = nu.PasswordHash
		}
		res, err := tx.w.ExecContext(ctx, `INSERT INTO users
			(type, username, kind, email, lower_email, password_hash, display_name, bio, url, is_admin, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nu.Type, nu.Username, nu.Kind, email, lowerEmail, pw,
			nullString(nu.DisplayName), nullString(nu.Bio), nullString(nu.URL), boolInt(nu.IsAdmin), now, now)
		if err != nil {
			if isUnique(err) {
				return ErrEmailTaken
			}
			return fmt.Errorf("insert user: %w", err)
		}
		id, _ = res.LastInsertId()
		if _, err := tx.w.ExecContext(ctx, `INSERT INTO names(lower_name, user_id, is_alias) VALUES (?, ?, 0)`,
			strings.ToLower(nu.Username), id); err != nil {
			if isUnique(err) {
				return ErrNameTaken
			}
			return fmt.Errorf("claim name: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.UserByID(ctx, id)
}

// UserByID loads a user or organization by id.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// usersByID loads the accounts with these ids in one query. It sorts ids
// and drops repeats in place.
func (s *Store) usersByID(ctx context.Context, ids []int64) (map[int64]*User, error) {
	out := map[int64]*User{}
	if len(ids) == 0 {
		return out, nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id IN `+inList(len(ids)), args...)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out[u.ID] = u
	}
	return out, rows.Err()
}

// UserByName resolves a canonical name or an alias, case-insensitively.
func (s *Store) UserByName(ctx context.Context, name string) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`
		FROM names n JOIN users u ON u.id = n.user_id WHERE n.lower_name = ?`, strings.ToLower(name)))
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// UserByEmail finds a user (never an organization) by email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`
		FROM users u WHERE u.lower_email = ? AND u.type = 'user'`, strings.ToLower(email)))
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// NameTaken reports whether name is used in the shared namespace (by a
// user, an organization or an alias).
func (s *Store) NameTaken(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM names WHERE lower_name = ?`, strings.ToLower(name)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check name: %w", err)
	}
	return n > 0, nil
}

// EmailTaken reports whether an account already uses email.
func (s *Store) EmailTaken(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE lower_email = ?`, strings.ToLower(email)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check email: %w", err)
	}
	return n > 0, nil
}

// ProfileUpdate carries optional profile changes; nil fields stay as they
// are, a pointer to "" clears the field.
type ProfileUpdate struct {
	DisplayName **string
	Bio         **string
	URL         **string
}

// UpdateProfile changes display name, bio and URL of a user or org.
func (s *Store) UpdateProfile(ctx context.Context, id int64, p ProfileUpdate) (*User, error) {
	sets := []string{"updated_at = ?"}
	args := []any{Now()}
	add := func(col string, v **string) {
		if v == nil {
			return
		}
		sets = append(sets, col+" = ?")
		args = append(args, nullString(*v))
	}
	add("display_name", p.DisplayName)
	add("bio", p.Bio)
	add("url", p.URL)
	args = append(args, id)
	res, err := s.w.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("update profile: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("update profile: %w", ErrNotFound)
	}
	return s.UserByID(ctx, id)
}

// SetAdmin grants or revokes site administration.
func (s *Store) SetAdmin(ctx context.Context, id int64, admin bool) error {
	return s.execOne(ctx, "set admin", `UPDATE users SET is_admin = ?, updated_at = ? WHERE id = ? AND type = 'user'`, boolInt(admin), Now(), id)
}

// SetDisabled disables or re-enables an account; a disabled account's
// tokens and sessions stop working.
func (s *Store) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.execOne(ctx, "set disabled", `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ? AND type = 'user'`, boolInt(disabled), Now(), id)
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	return s.execOne(ctx, "set password", `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND type = 'user'`, hash, Now(), id)
}

// AccountUpdate carries an administrator's changes to a user account;
// nil fields stay as they are.
type AccountUpdate struct {
	Email       *string
	DisplayName **string // a nil value clears it
	Kind        *string  // human or bot
	MaxRepos    **int    // a nil value follows the site's limit
}

// UpdateAccount applies u to a user (never an organization):
// ErrEmailTaken when the email is another account's.
func (s *Store) UpdateAccount(ctx context.Context, id int64, u AccountUpdate) (*User, error) {
	sets := []string{"updated_at = ?"}
	args := []any{Now()}
	if u.Email != nil {
		sets = append(sets, "email = ?", "lower_email = ?")
		args = append(args, *u.Email, strings.ToLower(*u.Email))
	}
	if u.DisplayName != nil {
		sets = append(sets, "display_name = ?")
		args = append(args, nullString(*u.DisplayName))
	}
	if u.Kind != nil {
		sets = append(sets, "kind = ?")
		args = append(args, *u.Kind)
	}
	if u.MaxRepos != nil {
		var n any
		if *u.MaxRepos != nil {
			n = **u.MaxRepos
		}
		sets = append(sets, "max_repos = ?")
		args = append(args, n)
	}
	args = append(args, id)
	err := s.execOne(ctx, "update account", `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ? AND type = 'user'`, args...)
	if errors.Is(err, ErrDuplicate) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return s.UserByID(ctx, id)
}

// RecordSignIn notes a successful password sign-in.
func (s *Store) RecordSignIn(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET last_sign_in_at = ? WHERE id = ?`, at.UTC().Truncate(time.Second), id); err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// CountUsers counts accounts of one type (TypeUser or TypeOrg).
func (s *Store) CountUsers(ctx context.Context, typ string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE type = ?`, typ).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UserList is a filter for ListUsers.
type UserList struct {
	Type     string // TypeUser or TypeOrg
	Query    string // substring of username, email or display name
	Admin    bool   // site administrators only
	Bot      bool   // bots only
	Disabled bool   // disabled accounts only
	// Sort is "name" (default, A to Z), "created" (newest first) or
	// "signin" (last signed in first, never last).
	Sort   string
	Limit  int
	Offset int
}

// userSorts are the users page's orders: the index that holds each (after
// the type), its column and whether it reads ascending.
var userSorts = map[string]struct {
	index, column string
	asc           bool
}{
	"name":    {"users_type_name", "lower(u.username)", true},
	"created": {"users_type_created", "u.created_at", false},
	"signin":  {"users_type_signin", "u.last_sign_in_at", false},
}

// sql is the list's count query and page query (for window.order;
// columns come first, then FROM). The flags filter the rows the sort's
// index walks: administrators, bots and disabled accounts are few, and
// a page of them stops as soon as it is full.
func (f UserList) sql() (count, page string, args []any, asc bool) {
	sort, ok := userSorts[f.Sort]
	if !ok {
		sort = userSorts["name"]
	}
	typ := cmp.Or(f.Type, TypeUser)
	where := []string{`u.type = ?`}
	args = []any{typ}
	if f.Query != "" {
		q := "%" + likeEscape(f.Query) + "%"
		where = append(where, `(u.username LIKE ? ESCAPE '\' OR COALESCE(u.email, '') LIKE ? ESCAPE '\' OR COALESCE(u.display_name, '') LIKE ? ESCAPE '\')`)
		args = append(args, q, q, q)
	}
	if f.Admin {
		where = append(where, `u.is_admin = 1`)
	}
	if f.Bot {
		where = append(where, `u.kind = 'bot'`)
	}
	if f.Disabled {
		where = append(where, `u.disabled = 1`)
	}
	from := ` FROM users u INDEXED BY ` + sort.index + ` WHERE ` + strings.Join(where, " AND ")
	return `SELECT COUNT(*)` + from, from + ` ORDER BY ` + sort.column + `{dir}, u.id{dir} LIMIT ? OFFSET ?`, args, sort.asc
}

// accountListSQL is the count query and the page query (for window.order;
// columns come first, then FROM) of accounts of one type by name,
// optionally those with query in one of fields, as users_type_name
// serves them.
func accountListSQL(typ, query string, fields ...string) (count, page string, args []any) {
	where := `u.type = ?`
	args = []any{typ}
	if query != "" {
		var match []string
		q := "%" + likeEscape(query) + "%"
		for _, f := range fields {
			match = append(match, `COALESCE(`+f+`, '') LIKE ? ESCAPE '\'`)
			args = append(args, q)
		}
		where += ` AND (` + strings.Join(match, " OR ") + `)`
	}
	return `SELECT COUNT(*) FROM users u INDEXED BY users_type_name WHERE ` + where,
		` FROM users u INDEXED BY users_type_name WHERE ` + where + ` ORDER BY lower(u.username){dir}, u.id{dir} LIMIT ? OFFSET ?`, args
}

// ListUsers lists accounts as f filters and sorts them, with the total
// before paging.
func (s *Store) ListUsers(ctx context.Context, f UserList) ([]*User, int, error) {
	countQuery, pageQuery, args, asc := f.sql()
	return rowsPage(ctx, s, "users", countQuery, `SELECT `+userColumns+pageQuery, asc, args, f.Limit, f.Offset,
		func(rows *sql.Rows) (*User, error) { return scanUser(rows) })
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// execOne runs a write that must touch exactly one row.
func (s *Store) execOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("%s: %w", what, ErrDuplicate)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
