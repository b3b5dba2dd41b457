package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrRepoExists is returned when the owner already has a repository of
// that name.
var ErrRepoExists = fmt.Errorf("repository %w", ErrDuplicate)

// ErrRepoLimit is returned by TransferRepo when the new owner already
// owns as many repositories as it may.
var ErrRepoLimit = errors.New("repository limit reached")

// Repo is a repository row with its owner's identity and live counts.
type Repo struct {
	ID            int64
	OwnerID       int64
	OwnerName     string
	OwnerKind     string
	OwnerType     string
	Name          string
	Description   *string
	Private       bool
	DefaultBranch string
	VouchCount    int64
	Reputation    int64
	SizeBytes     int64
	OpenIssues    int
	OpenPulls     int
	PushedAt      *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// FullName is owner/name with canonical names.
func (r *Repo) FullName() string { return r.OwnerName + "/" + r.Name }

const repoColumns = `r.id, r.owner_id, o.username, o.kind, o.type, r.name, r.description, r.private, r.default_branch,
	r.vouch_count, r.reputation, r.size_bytes,
	COALESCE((SELECT c.n FROM issue_counts c WHERE c.repo_id = r.id AND c.is_pull = 0 AND c.state = 'open'), 0),
	COALESCE((SELECT c.n FROM issue_counts c WHERE c.repo_id = r.id AND c.is_pull = 1 AND c.state = 'open'), 0),
	r.pushed_at, r.created_at, r.updated_at`

const repoFrom = ` FROM repos r JOIN users o ON o.id = r.owner_id`

func scanRepo(row scanner) (*Repo, error) {
	r := &Repo{}
	var desc sql.NullString
	var pushed sql.NullTime
	err := row.Scan(&r.ID, &r.OwnerID, &r.OwnerName, &r.OwnerKind, &r.OwnerType, &r.Name, &desc, &r.Private,
		&r.DefaultBranch, &r.VouchCount, &r.Reputation, &r.SizeBytes, &r.OpenIssues, &r.OpenPulls,
		&pushed, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, err
	}
	r.Description = strPtr(desc)
	if pushed.Valid {
		t := pushed.Time.UTC()
		r.PushedAt = &t
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// NewRepo is what CreateRepo needs.
type NewRepo struct {
	OwnerID       int64
	Name          string
	Description   *string
	Private       bool
	DefaultBranch string
}

// CreateRepo inserts a repository row. The caller creates the bare
// repository on disk inside the same transaction, so a failure there
// leaves no row behind.
func (s *Store) CreateRepo(ctx context.Context, nr NewRepo) (*Repo, error) {
	now := Now()
	if nr.DefaultBranch == "" {
		nr.DefaultBranch = "master"
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO repos(owner_id, name, lower_name, description, private, default_branch, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nr.OwnerID, nr.Name, strings.ToLower(nr.Name), nullString(nr.Description),
		boolInt(nr.Private), nr.DefaultBranch, now, now)
	if err != nil {
		if isUnique(err) {
			return nil, ErrRepoExists
		}
		return nil, fmt.Errorf("create repository: %w", err)
	}
	id, _ := res.LastInsertId()
	for _, l := range defaultLabels {
		if err := s.insertDefaultLabel(ctx, id, l); err != nil {
			return nil, err
		}
	}
	return s.RepoByID(ctx, id)
}

// RepoByID loads a repository.
func (s *Store) RepoByID(ctx context.Context, id int64) (*Repo, error) {
	r, err := scanRepo(s.r.QueryRowContext(ctx, `SELECT `+repoColumns+repoFrom+` WHERE r.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "repository")
	}
	return r, nil
}

// RepoByName loads owner/name; owner may be a canonical name or an alias.
func (s *Store) RepoByName(ctx context.Context, owner, name string) (*Repo, error) {
	r, err := scanRepo(s.r.QueryRowContext(ctx, `SELECT `+repoColumns+repoFrom+`
		JOIN names n ON n.user_id = r.owner_id
		WHERE n.lower_name = ? AND r.lower_name = ?`, strings.ToLower(owner), strings.ToLower(name)))
	if err != nil {
		return nil, notFound(err, "repository")
	}
	return r, nil
}

// CountOwnedRepos counts repositories owned by ownerID.
func (s *Store) CountOwnedRepos(ctx context.Context, ownerID int64) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM repos WHERE owner_id = ?`, ownerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count repositories: %w", err)
	}
	return n, nil
}

// RepoList filters and orders ListRepos.
type RepoList struct {
	OwnerID    int64  // 0 = any owner
	Visibility string // "all" (default), "public", "private"
	Query      string // substring of owner/name, for the dashboard
	Sort       string // "created" (default), "updated", "name", "pushed", "size"
	Asc        bool
	Limit      int
	Offset     int
}

// repoSortColumns are the sorts' expressions, as the indexes of
// 0007_list_indexes.sql spell them.
var repoSortColumns = map[string]string{"created": "r.created_at", "updated": "r.updated_at", "name": "r.lower_name",
	"pushed": "COALESCE(r.pushed_at, r.created_at)", "size": "r.size_bytes"}

// sql is the list's count query and its ids query (for window.order),
// with their arguments.
func (f RepoList) sql() (count, page string, args []any) {
	var where []string
	if f.OwnerID != 0 {
		where = append(where, "r.owner_id = ?")
		args = append(args, f.OwnerID)
	}
	switch f.Visibility {
	case "public":
		where = append(where, "r.private = 0")
	case "private":
		where = append(where, "r.private = 1")
	}
	from := ` FROM repos r`
	if f.Query != "" {
		from += ` JOIN users o ON o.id = r.owner_id`
		where = append(where, `(o.username || '/' || r.name) LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(f.Query)+"%")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	col := repoSortColumns[f.Sort]
	if col == "" {
		col = repoSortColumns["created"]
	}
	return `SELECT COUNT(*)` + from + cond, `SELECT r.id` + from + cond + ` ORDER BY ` + col + `{dir}, r.id{dir} LIMIT ? OFFSET ?`, args
}

// ListRepos returns one page of repositories and the total.
func (s *Store) ListRepos(ctx context.Context, f RepoList) ([]*Repo, int, error) {
	countQuery, pageQuery, args := f.sql()
	var out []*Repo
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		var err error
		if total, err = r.count(ctx, "repositories", countQuery, args...); err != nil {
			return err
		}
		w, ok := pageWindow(total, f.Limit, f.Offset)
		if !ok {
			return nil
		}
		ids, err := r.ids(ctx, w, w.order(pageQuery, f.Asc), args...)
		if err != nil {
			return fmt.Errorf("list repositories: %w", err)
		}
		out, err = r.reposByID(ctx, ids)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if out == nil {
		out = []*Repo{}
	}
	return out, total, nil
}

// reposByID loads repositories in the order of ids.
func (s *Store) reposByID(ctx context.Context, ids []int64) ([]*Repo, error) {
	if len(ids) == 0 {
		return []*Repo{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+repoColumns+repoFrom+` WHERE r.id IN `+inList(len(ids)), idArgs(ids)...)
	if err != nil {
		return nil, fmt.Errorf("load repositories: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]*Repo, len(ids))
	for rows.Next() {
		r, err := scanRepo(rows)
		if err != nil {
			return nil, fmt.Errorf("scan repository: %w", err)
		}
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return inOrder(ids, byID), nil
}

// RepoUpdate carries optional changes; nil fields stay.
type RepoUpdate struct {
	Name          *string
	Description   **string
	Private       *bool
	DefaultBranch *string
}

// UpdateRepo applies u; ErrRepoExists when a rename collides.
func (s *Store) UpdateRepo(ctx context.Context, id int64, u RepoUpdate) (*Repo, error) {
	sets := []string{"updated_at = ?"}
	args := []any{Now()}
	if u.Name != nil {
		sets = append(sets, "name = ?", "lower_name = ?")
		args = append(args, *u.Name, strings.ToLower(*u.Name))
	}
	if u.Description != nil {
		sets = append(sets, "description = ?")
		args = append(args, nullString(*u.Description))
	}
	if u.Private != nil {
		sets = append(sets, "private = ?")
		args = append(args, boolInt(*u.Private))
	}
	if u.DefaultBranch != nil {
		sets = append(sets, "default_branch = ?")
		args = append(args, *u.DefaultBranch)
	}
	args = append(args, id)
	res, err := s.w.ExecContext(ctx, `UPDATE repos SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		if isUnique(err) {
			return nil, ErrRepoExists
		}
		return nil, fmt.Errorf("update repository: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("update repository: %w", ErrNotFound)
	}
	return s.RepoByID(ctx, id)
}

// TransferRepo gives a repository to another owner under name (its own
// name when the caller keeps it), in one transaction: ErrRepoExists when
// the new owner already has a repository of that name (case aside),
// ErrRepoLimit when it already owns limit repositories (limit < 0: no
// limit). The files stay where they are (they are kept by id). A
// collaborator entry of the new owner goes: owning covers it.
func (s *Store) TransferRepo(ctx context.Context, id, newOwnerID int64, name string, limit int) (*Repo, error) {
	err := s.Tx(ctx, func(tx *Store) error {
		if limit >= 0 {
			n, err := tx.CountOwnedRepos(ctx, newOwnerID)
			if err != nil {
				return err
			}
			if n >= limit {
				return ErrRepoLimit
			}
		}
		if err := tx.execOne(ctx, "transfer repository", `UPDATE repos SET owner_id = ?, name = ?, lower_name = ?, updated_at = ?
			WHERE id = ?`, newOwnerID, name, strings.ToLower(name), Now(), id); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return ErrRepoExists
			}
			return err
		}
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM collaborators WHERE repo_id = ? AND user_id = ?`, id, newOwnerID); err != nil {
			return fmt.Errorf("drop the new owner's collaborator entry: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.RepoByID(ctx, id)
}

// SetRepoSize records a repository's size on disk after maintenance.
func (s *Store) SetRepoSize(ctx context.Context, id int64, size int64) error {
	return s.execOne(ctx, "set repository size", `UPDATE repos SET size_bytes = ? WHERE id = ?`, size, id)
}

// DeleteRepo removes the row and, by cascade, everything hanging off it.
// The caller removes the directory on disk.
func (s *Store) DeleteRepo(ctx context.Context, id int64) error {
	return s.execOne(ctx, "delete repository", `DELETE FROM repos WHERE id = ?`, id)
}

// RepoPushed records a push: the time, the size on disk, and updated_at.
func (s *Store) RepoPushed(ctx context.Context, id int64, at time.Time, size int64) error {
	at = at.UTC().Truncate(time.Second)
	_, err := s.w.ExecContext(ctx, `UPDATE repos SET pushed_at = ?, updated_at = ?, size_bytes = ? WHERE id = ?`, at, at, size, id)
	if err != nil {
		return fmt.Errorf("record push: %w", err)
	}
	return nil
}

// ProtectedBranches returns the protected branch names of a repository.
func (s *Store) ProtectedBranches(ctx context.Context, repoID int64) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM protected_branches WHERE repo_id = ?`, repoID)
	if err != nil {
		return nil, fmt.Errorf("list protected branches: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("scan protected branch: %w", err)
		}
		out[n] = true
	}
	return out, rows.Err()
}

// SetBranchProtected turns protection of one branch on or off.
func (s *Store) SetBranchProtected(ctx context.Context, repoID int64, name string, protected bool) error {
	var err error
	if protected {
		_, err = s.w.ExecContext(ctx, `INSERT OR IGNORE INTO protected_branches(repo_id, name, created_at) VALUES (?, ?, ?)`, repoID, name, Now())
	} else {
		_, err = s.w.ExecContext(ctx, `DELETE FROM protected_branches WHERE repo_id = ? AND name = ?`, repoID, name)
	}
	if err != nil {
		return fmt.Errorf("set branch protection: %w", err)
	}
	return nil
}
