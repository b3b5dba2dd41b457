package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrPullNotOpen is returned by MarkPullMerged when the pull request was
// merged in the meantime.
var ErrPullNotOpen = errors.New("pull request is not open")

// DuplicatePullError says an open pull request already proposes the same
// head into the same base.
type DuplicatePullError struct{ Number int64 }

func (e *DuplicatePullError) Error() string {
	return fmt.Sprintf("pull request #%d is already open for these branches", e.Number)
}

func (e *DuplicatePullError) Unwrap() error { return ErrDuplicate }

// PullGit is the part of a pull request computed from git: the branch tips
// it was computed for, and what merging head into base would do.
type PullGit struct {
	HeadSHA, BaseSHA string
	Mergeable        bool
	Commits          int
	Additions        int
	Deletions        int
	ChangedFiles     int
}

// Pull is a pull request: its conversation (the embedded Issue, with
// IsPull set) and its git side.
type Pull struct {
	*Issue
	HeadRef, BaseRef    string
	Draft               bool
	Git                 PullGit
	ReviewCommentsCount int
	RequestedReviewers  []UserRef // pending review requests, in the order asked
	MergedAt            *time.Time
	MergedBy            *UserRef
	MergeCommitSHA      *string
}

// Merged reports whether the pull request was merged.
func (p *Pull) Merged() bool { return p.State == "merged" }

// NewPull is what CreatePull needs.
type NewPull struct {
	Issue   NewIssue
	HeadRef string
	BaseRef string
	Draft   bool
	Git     PullGit
}

// OpenPullFor returns the number of the open pull request from head into
// base, or 0 when there is none. exceptID leaves one pull request out (the
// one being edited).
func (s *Store) OpenPullFor(ctx context.Context, repoID int64, head, base string, exceptID int64) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT i.number FROM pulls p JOIN issues i ON i.id = p.issue_id
		WHERE p.repo_id = ? AND p.head_ref = ? AND p.base_ref = ? AND i.state = 'open' AND i.id != ?
		ORDER BY i.number LIMIT 1`, repoID, head, base, exceptID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find open pull request: %w", err)
	}
	return n, nil
}

// CreatePull opens a pull request: the issue row (taking the shared
// number) and the pulls row, in one transaction. An open pull request for
// the same head and base is a *DuplicatePullError; the check and the
// insert share the one write transaction, so two racing creations cannot
// both pass it.
func (s *Store) CreatePull(ctx context.Context, np NewPull) (*Pull, error) {
	np.Issue.IsPull = true
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		n, err := tx.OpenPullFor(ctx, np.Issue.RepoID, np.HeadRef, np.BaseRef, 0)
		if err != nil {
			return err
		}
		if n != 0 {
			return &DuplicatePullError{Number: n}
		}
		i, err := tx.CreateIssue(ctx, np.Issue)
		if err != nil {
			return err
		}
		id = i.ID
		g := np.Git
		_, err = tx.w.ExecContext(ctx, `INSERT INTO pulls(issue_id, repo_id, head_ref, base_ref, head_sha, base_sha, draft,
			mergeable, commits_count, additions, deletions, changed_files) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, np.Issue.RepoID, np.HeadRef, np.BaseRef, g.HeadSHA, g.BaseSHA, boolInt(np.Draft),
			boolInt(g.Mergeable), g.Commits, g.Additions, g.Deletions, g.ChangedFiles)
		if err != nil {
			return fmt.Errorf("insert pull request: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.PullByID(ctx, id)
}

// PullByID loads a pull request by its issue id.
func (s *Store) PullByID(ctx context.Context, id int64) (*Pull, error) {
	i, err := s.IssueByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !i.IsPull {
		return nil, fmt.Errorf("pull request: %w", ErrNotFound)
	}
	return s.PullOf(ctx, i)
}

// PullOf completes an already loaded pull-request issue with its git side.
func (s *Store) PullOf(ctx context.Context, i *Issue) (*Pull, error) {
	ps, err := s.fillPulls(ctx, []*Issue{i})
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// fillPulls loads the pulls rows of a page of pull-request issues in one
// query, keeping the order.
func (s *Store) fillPulls(ctx context.Context, issues []*Issue) ([]*Pull, error) {
	out := make([]*Pull, 0, len(issues))
	if len(issues) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(issues))
	for _, i := range issues {
		ids = append(ids, i.ID)
	}
	in := inList(len(ids))
	rows, err := s.r.QueryContext(ctx, `SELECT p.issue_id, p.head_ref, p.base_ref, p.head_sha, p.base_sha, p.draft,
		p.mergeable, p.commits_count, p.additions, p.deletions, p.changed_files,
		(SELECT COUNT(*) FROM review_comments rc WHERE rc.pull_id = p.issue_id),
		p.merged_at, p.merge_commit_sha, `+refColumns+`
		FROM pulls p LEFT JOIN users a ON a.id = p.merged_by_id WHERE p.issue_id IN `+in, ids...)
	if err != nil {
		return nil, fmt.Errorf("load pull requests: %w", err)
	}
	defer rows.Close()
	byID := map[int64]*Pull{}
	for rows.Next() {
		p := &Pull{}
		var id int64
		var mergedAt sql.NullTime
		var mergeSHA sql.NullString
		var mergedBy refRow
		if err := rows.Scan(&id, &p.HeadRef, &p.BaseRef, &p.Git.HeadSHA, &p.Git.BaseSHA, &p.Draft,
			&p.Git.Mergeable, &p.Git.Commits, &p.Git.Additions, &p.Git.Deletions, &p.Git.ChangedFiles,
			&p.ReviewCommentsCount, &mergedAt, &mergeSHA,
			&mergedBy.id, &mergedBy.username, &mergedBy.kind, &mergedBy.display); err != nil {
			return nil, fmt.Errorf("scan pull request: %w", err)
		}
		if mergedAt.Valid {
			t := mergedAt.Time.UTC()
			p.MergedAt = &t
			by := mergedBy.ref()
			p.MergedBy = &by
		}
		p.MergeCommitSHA = strPtr(mergeSHA)
		byID[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	rr, err := s.r.QueryContext(ctx, `SELECT rr.pull_id, `+refColumns+`
		FROM review_requests rr JOIN users a ON a.id = rr.user_id WHERE rr.pull_id IN `+in+`
		ORDER BY rr.created_at, rr.rowid`, ids...)
	if err != nil {
		return nil, fmt.Errorf("load review requests: %w", err)
	}
	defer rr.Close()
	for rr.Next() {
		var pullID int64
		var u refRow
		if err := rr.Scan(&pullID, &u.id, &u.username, &u.kind, &u.display); err != nil {
			return nil, fmt.Errorf("scan review request: %w", err)
		}
		if p := byID[pullID]; p != nil {
			p.RequestedReviewers = append(p.RequestedReviewers, u.ref())
		}
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	for _, i := range issues {
		p := byID[i.ID]
		if p == nil {
			return nil, fmt.Errorf("pull request %d has no git side: %w", i.Number, ErrNotFound)
		}
		p.Issue = i
		out = append(out, p)
	}
	return out, nil
}

// PullList filters ListPulls: the issue filters plus branches.
type PullList struct {
	IssueList
	Head string // head branch name, "" = any
	Base string // base branch name, "" = any
	// Branch matches pull requests whose head or base is this branch.
	Branch string
}

// ListPulls returns one page of pull requests and the total.
func (s *Store) ListPulls(ctx context.Context, f PullList) ([]*Pull, int, error) {
	f.IsPull = true
	f.head, f.base, f.branch = f.Head, f.Base, f.Branch
	var pulls []*Pull
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		issues, n, err := r.ListIssues(ctx, f.IssueList)
		if err != nil {
			return err
		}
		total = n
		pulls, err = r.fillPulls(ctx, issues)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return pulls, total, nil
}

// UpdatePullGit stores freshly computed git facts, by compare-and-swap on
// the tips they replace (fromHead, fromBase): if another writer stored
// newer facts meanwhile, nothing changes and it reports false. Only open
// pull requests change; touch also bumps updated_at (the head moved).
func (s *Store) UpdatePullGit(ctx context.Context, id int64, fromHead, fromBase string, g PullGit, touch bool) (bool, error) {
	var done bool
	err := s.Tx(ctx, func(tx *Store) error {
		res, err := tx.w.ExecContext(ctx, `UPDATE pulls SET head_sha = ?, base_sha = ?, mergeable = ?, commits_count = ?,
			additions = ?, deletions = ?, changed_files = ?
			WHERE issue_id = ? AND head_sha = ? AND base_sha = ?
			AND EXISTS (SELECT 1 FROM issues i WHERE i.id = pulls.issue_id AND i.state = 'open')`,
			g.HeadSHA, g.BaseSHA, boolInt(g.Mergeable), g.Commits, g.Additions, g.Deletions, g.ChangedFiles,
			id, fromHead, fromBase)
		if err != nil {
			return fmt.Errorf("update pull request: %w", err)
		}
		n, _ := res.RowsAffected()
		done = n == 1
		if done && touch {
			return tx.TouchIssue(ctx, id)
		}
		return nil
	})
	return done, err
}

// PullUpdate carries optional changes to a pull request.
type PullUpdate struct {
	IssueUpdate
	BaseRef *string
	Draft   *bool
	Git     *PullGit // recomputed facts, when the base or state changed
}

// UpdatePull applies u to the conversation and the git side together.
func (s *Store) UpdatePull(ctx context.Context, id int64, u PullUpdate) (*Pull, error) {
	err := s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.UpdateIssue(ctx, id, u.IssueUpdate); err != nil {
			return err
		}
		var sets []string
		var args []any
		if u.BaseRef != nil {
			sets = append(sets, "base_ref = ?")
			args = append(args, *u.BaseRef)
		}
		if u.Draft != nil {
			sets = append(sets, "draft = ?")
			args = append(args, boolInt(*u.Draft))
		}
		if g := u.Git; g != nil {
			sets = append(sets, "head_sha = ?", "base_sha = ?", "mergeable = ?", "commits_count = ?",
				"additions = ?", "deletions = ?", "changed_files = ?")
			args = append(args, g.HeadSHA, g.BaseSHA, boolInt(g.Mergeable), g.Commits, g.Additions, g.Deletions, g.ChangedFiles)
		}
		if len(sets) == 0 {
			return nil
		}
		return tx.execOne(ctx, "update pull request", `UPDATE pulls SET `+strings.Join(sets, ", ")+` WHERE issue_id = ?`, append(args, id)...)
	})
	if err != nil {
		return nil, err
	}
	return s.PullByID(ctx, id)
}

// MarkPullMerged records a merge: state merged, closed_at and merged_at
// now, who merged and the commit the base moved to, with the git facts as
// they were at the merge. ErrPullNotOpen if it is already merged.
func (s *Store) MarkPullMerged(ctx context.Context, id, byID int64, mergeSHA string, g PullGit) (*Pull, error) {
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		// A pull request closed while its merge was being written is still
		// merged: its commit is in the base by now.
		res, err := tx.w.ExecContext(ctx, `UPDATE issues SET state = 'merged', closed_at = ?, updated_at = ?
			WHERE id = ? AND is_pull = 1 AND state != 'merged'`, now, now, id)
		if err != nil {
			return fmt.Errorf("merge pull request: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrPullNotOpen
		}
		var by any
		if byID != 0 {
			by = byID
		}
		return tx.execOne(ctx, "merge pull request", `UPDATE pulls SET merged_at = ?, merged_by_id = ?, merge_commit_sha = ?,
			head_sha = ?, base_sha = ?, mergeable = ?, commits_count = ?, additions = ?, deletions = ?, changed_files = ?
			WHERE issue_id = ?`, now, by, mergeSHA, g.HeadSHA, g.BaseSHA, boolInt(g.Mergeable),
			g.Commits, g.Additions, g.Deletions, g.ChangedFiles, id)
	})
	if err != nil {
		return nil, err
	}
	return s.PullByID(ctx, id)
}
