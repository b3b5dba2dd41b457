package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// CommitStatus is one status a check posted for a commit.
type CommitStatus struct {
	ID          int64
	RepoID      int64
	SHA         string
	State       string // pending, success, failure, error
	Context     string
	Description *string
	TargetURL   *string
	Creator     UserRef
	CreatedAt   time.Time
}

// NewCommitStatus is what CreateCommitStatus needs.
type NewCommitStatus struct {
	RepoID      int64
	SHA         string
	State       string
	Context     string
	Description *string
	TargetURL   *string
	CreatorID   int64
}

// MaxStatusesPerContext bounds the statuses kept for one commit and
// context, as GitHub does (1000).
const MaxStatusesPerContext = 1000

// ErrTooManyStatuses is a post past MaxStatusesPerContext.
var ErrTooManyStatuses = fmt.Errorf("at most %d statuses per commit and context", MaxStatusesPerContext)

const statusColumns = `s.id, s.repo_id, s.sha, s.state, s.context, s.description, s.target_url, ` + refColumns + `, s.created_at`

const statusFrom = ` FROM commit_statuses s LEFT JOIN users a ON a.id = s.creator_id`

func scanStatus(row scanner) (*CommitStatus, error) {
	st := &CommitStatus{}
	var desc, url sql.NullString
	var creator refRow
	if err := row.Scan(&st.ID, &st.RepoID, &st.SHA, &st.State, &st.Context, &desc, &url,
		&creator.id, &creator.username, &creator.kind, &creator.display, &st.CreatedAt); err != nil {
		return nil, err
	}
	st.Description, st.TargetURL = strPtr(desc), strPtr(url)
	st.Creator = creator.ref()
	st.CreatedAt = st.CreatedAt.UTC()
	return st, nil
}

// CreateCommitStatus records a status.
func (s *Store) CreateCommitStatus(ctx context.Context, ns NewCommitStatus) (*CommitStatus, error) {
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		var n int
		if err := tx.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM commit_statuses WHERE repo_id = ? AND sha = ? AND context = ?`,
			ns.RepoID, ns.SHA, ns.Context).Scan(&n); err != nil {
			return fmt.Errorf("count statuses: %w", err)
		}
		if n >= MaxStatusesPerContext {
			return ErrTooManyStatuses
		}
		var creator any
		if ns.CreatorID != 0 {
			creator = ns.CreatorID
		}
		res, err := tx.w.ExecContext(ctx, `INSERT INTO commit_statuses(repo_id, sha, state, context, description, target_url, creator_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ns.RepoID, ns.SHA, ns.State, ns.Context, nullString(ns.Description), nullString(ns.TargetURL), creator, Now())
		if err != nil {
			return fmt.Errorf("insert status: %w", err)
		}
		id, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return nil, err
	}
	st, err := scanStatus(s.r.QueryRowContext(ctx, `SELECT `+statusColumns+statusFrom+` WHERE s.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "status")
	}
	return st, nil
}

// CommitStatuses lists a commit's statuses, newest first, with the total.
func (s *Store) CommitStatuses(ctx context.Context, repoID int64, sha string, limit, offset int) ([]*CommitStatus, int, error) {
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM commit_statuses WHERE repo_id = ? AND sha = ?`, repoID, sha).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count statuses: %w", err)
	}
	if limit <= 0 {
		limit = -1
	}
	out, err := s.statuses(ctx, `SELECT `+statusColumns+statusFrom+` WHERE s.repo_id = ? AND s.sha = ? ORDER BY s.id DESC LIMIT ? OFFSET ?`,
		repoID, sha, limit, offset)
	return out, total, err
}

// LatestStatuses is the current status of each context of a commit (the
// newest post), by context name.
func (s *Store) LatestStatuses(ctx context.Context, repoID int64, sha string) ([]*CommitStatus, error) {
	return s.statuses(ctx, `SELECT `+statusColumns+statusFrom+` WHERE s.id IN
		(SELECT MAX(id) FROM commit_statuses WHERE repo_id = ? AND sha = ? GROUP BY context) ORDER BY s.context`, repoID, sha)
}

func (s *Store) statuses(ctx context.Context, query string, args ...any) ([]*CommitStatus, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list statuses: %w", err)
	}
	defer rows.Close()
	out := []*CommitStatus{}
	for rows.Next() {
		st, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("scan status: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Protection is what a protected branch requires.
type Protection struct {
	Branch            string
	RequiredContexts  []string
	RequiredApprovals int
}

// BranchProtection returns a protected branch's requirements; ok is false
// when the branch is not protected.
func (s *Store) BranchProtection(ctx context.Context, repoID int64, branch string) (p Protection, ok bool, err error) {
	var contexts string
	err = s.r.QueryRowContext(ctx, `SELECT required_contexts, required_approvals FROM protected_branches WHERE repo_id = ? AND name = ?`,
		repoID, branch).Scan(&contexts, &p.RequiredApprovals)
	if err == sql.ErrNoRows {
		return Protection{Branch: branch}, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("branch protection: %w", err)
	}
	p.Branch = branch
	if err := json.Unmarshal([]byte(contexts), &p.RequiredContexts); err != nil {
		return p, false, fmt.Errorf("branch protection contexts: %w", err)
	}
	if p.RequiredContexts == nil {
		p.RequiredContexts = []string{}
	}
	return p, true, nil
}

// SetBranchRequirements protects a branch (if it was not) with these
// requirements.
func (s *Store) SetBranchRequirements(ctx context.Context, repoID int64, p Protection) error {
	contexts := p.RequiredContexts
	if contexts == nil {
		contexts = []string{}
	}
	js, err := json.Marshal(contexts)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO protected_branches(repo_id, name, created_at, required_contexts, required_approvals)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT(repo_id, name) DO UPDATE SET required_contexts = excluded.required_contexts,
		required_approvals = excluded.required_approvals`, repoID, p.Branch, Now(), string(js), p.RequiredApprovals)
	if err != nil {
		return fmt.Errorf("set branch requirements: %w", err)
	}
	return nil
}
