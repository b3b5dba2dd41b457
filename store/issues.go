package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// UserRef is the brief identity shown inside other objects.
type UserRef struct {
	ID          int64
	Username    string
	Kind        string
	DisplayName *string
}

// ghost stands in for an author whose account was deleted.
var ghost = UserRef{Username: "ghost", Kind: "human"}

// refColumns are a UserRef's columns from users joined as a.
const refColumns = `a.id, a.username, a.kind, a.display_name`

// refRow receives refColumns, which a LEFT JOIN leaves NULL when the
// account was deleted.
type refRow struct {
	id                      sql.NullInt64
	username, kind, display sql.NullString
}

// ref is the UserRef, or ghost for a deleted account.
func (r *refRow) ref() UserRef {
	if !r.id.Valid {
		return ghost
	}
	return UserRef{ID: r.id.Int64, Username: r.username.String, Kind: r.kind.String, DisplayName: strPtr(r.display)}
}

// Issue is an issue or a pull request's conversation part (IsPull).
type Issue struct {
	ID            int64
	RepoID        int64
	Number        int64
	IsPull        bool
	Title         string
	Body          *string
	State         string
	Author        UserRef
	CommentsCount int
	Labels        []*Label
	Assignees     []UserRef
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ClosedAt      *time.Time
}

const issueColumns = `i.id, i.repo_id, i.number, i.is_pull, i.title, i.body, i.state, ` + refColumns + `,
	i.comments_count, i.created_at, i.updated_at, i.closed_at`

const issueFrom = ` FROM issues i LEFT JOIN users a ON a.id = i.author_id`

func scanIssue(row scanner) (*Issue, error) {
	i := &Issue{}
	var body sql.NullString
	var author refRow
	var closed sql.NullTime
	err := row.Scan(&i.ID, &i.RepoID, &i.Number, &i.IsPull, &i.Title, &body, &i.State,
		&author.id, &author.username, &author.kind, &author.display,
		&i.CommentsCount, &i.CreatedAt, &i.UpdatedAt, &closed)
	if err != nil {
		return nil, err
	}
	i.Body = strPtr(body)
	i.Author = author.ref()
	if closed.Valid {
		t := closed.Time.UTC()
		i.ClosedAt = &t
	}
	i.CreatedAt, i.UpdatedAt = i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	i.Labels, i.Assignees = []*Label{}, []UserRef{}
	return i, nil
}

// NewIssue is what CreateIssue needs.
type NewIssue struct {
	RepoID      int64
	IsPull      bool
	Title       string
	Body        *string
	AuthorID    int64
	LabelIDs    []int64
	AssigneeIDs []int64
}

// CreateIssue takes the repository's next number (shared by issues and
// pull requests) and inserts the issue with its labels and assignees. The
// number is taken by the insert itself, inside the one write transaction
// of the one writer, so concurrent creations get distinct consecutive
// numbers.
func (s *Store) CreateIssue(ctx context.Context, ni NewIssue) (*Issue, error) {
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		err := tx.w.QueryRowContext(ctx, `INSERT INTO issues(repo_id, number, is_pull, title, body, state, author_id, created_at, updated_at)
			VALUES (?, (SELECT COALESCE(MAX(number), 0) + 1 FROM issues WHERE repo_id = ?), ?, ?, ?, 'open', ?, ?, ?) RETURNING id`,
			ni.RepoID, ni.RepoID, boolInt(ni.IsPull), ni.Title, nullString(ni.Body), ni.AuthorID, now, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert issue: %w", err)
		}
		if err := tx.addIssueLabels(ctx, id, ni.LabelIDs); err != nil {
			return err
		}
		return tx.addAssignees(ctx, id, ni.AssigneeIDs)
	})
	if err != nil {
		return nil, err
	}
	i, err := scanIssue(s.r.QueryRowContext(ctx, `SELECT `+issueColumns+issueFrom+` WHERE i.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	// A new issue has the labels and assignees just given and no others:
	// without them there is nothing more to read.
	if len(ni.LabelIDs)+len(ni.AssigneeIDs) > 0 {
		if err := s.fillIssues(ctx, []*Issue{i}); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// IssueByID loads an issue with its labels and assignees.
func (s *Store) IssueByID(ctx context.Context, id int64) (*Issue, error) {
	return s.issueWhere(ctx, `i.id = ?`, id)
}

// IssueByNumber loads issue (isPull false) or pull request (true) number n.
func (s *Store) IssueByNumber(ctx context.Context, repoID, n int64, isPull bool) (*Issue, error) {
	return s.issueWhere(ctx, `i.repo_id = ? AND i.number = ? AND i.is_pull = ?`, repoID, n, boolInt(isPull))
}

func (s *Store) issueWhere(ctx context.Context, cond string, args ...any) (*Issue, error) {
	i, err := scanIssue(s.r.QueryRowContext(ctx, `SELECT `+issueColumns+issueFrom+` WHERE `+cond, args...))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	if err := s.fillIssues(ctx, []*Issue{i}); err != nil {
		return nil, err
	}
	return i, nil
}

// fillIssues loads labels and assignees for a page of issues in two queries.
func (s *Store) fillIssues(ctx context.Context, issues []*Issue) error {
	if len(issues) == 0 {
		return nil
	}
	byID := map[int64]*Issue{}
	ids := make([]any, 0, len(issues))
	for _, i := range issues {
		byID[i.ID] = i
		ids = append(ids, i.ID)
	}
	in := inList(len(ids))
	rows, err := s.r.QueryContext(ctx, `SELECT `+labelColumns+`, il.issue_id
		FROM issue_labels il JOIN labels l ON l.id = il.label_id WHERE il.issue_id IN `+in+` ORDER BY l.lower_name`, ids...)
	if err != nil {
		return fmt.Errorf("issue labels: %w", err)
	}
	for rows.Next() {
		var issueID int64
		l, err := scanLabel(rows, &issueID)
		if err != nil {
			rows.Close()
			return fmt.Errorf("scan issue label: %w", err)
		}
		byID[issueID].Labels = append(byID[issueID].Labels, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.r.QueryContext(ctx, `SELECT ia.issue_id, `+refColumns+`
		FROM issue_assignees ia JOIN users a ON a.id = ia.user_id WHERE ia.issue_id IN `+in+` ORDER BY ia.created_at, lower(a.username)`, ids...)
	if err != nil {
		return fmt.Errorf("issue assignees: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var issueID int64
		var u refRow
		if err := rows.Scan(&issueID, &u.id, &u.username, &u.kind, &u.display); err != nil {
			return fmt.Errorf("scan assignee: %w", err)
		}
		byID[issueID].Assignees = append(byID[issueID].Assignees, u.ref())
	}
	return rows.Err()
}

// IssueUpdate carries optional changes.
type IssueUpdate struct {
	Title *string
	Body  **string
	State *string // open, closed (merged is set by the merge itself)
}

// UpdateIssue applies u; closing sets closed_at, reopening clears it.
func (s *Store) UpdateIssue(ctx context.Context, id int64, u IssueUpdate) (*Issue, error) {
	now := Now()
	sets := []string{"updated_at = ?"}
	args := []any{now}
	if u.Title != nil {
		sets = append(sets, "title = ?")
		args = append(args, *u.Title)
	}
	if u.Body != nil {
		sets = append(sets, "body = ?")
		args = append(args, nullString(*u.Body))
	}
	if u.State != nil {
		sets = append(sets, "state = ?", "closed_at = CASE WHEN ? = 'open' THEN NULL WHEN state = ? THEN closed_at ELSE ? END")
		args = append(args, *u.State, *u.State, *u.State, now)
	}
	if err := s.execOne(ctx, "update issue", `UPDATE issues SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
		return nil, err
	}
	return s.IssueByID(ctx, id)
}

// TouchIssue bumps updated_at (a label, assignee or comment changed).
func (s *Store) TouchIssue(ctx context.Context, id int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE issues SET updated_at = ? WHERE id = ?`, Now(), id)
	if err != nil {
		return fmt.Errorf("touch issue: %w", err)
	}
	return nil
}

func (s *Store) addIssueLabels(ctx context.Context, issueID int64, labelIDs []int64) error {
	for _, l := range labelIDs {
		if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO issue_labels(issue_id, label_id) VALUES (?, ?)`, issueID, l); err != nil {
			return fmt.Errorf("apply label: %w", err)
		}
	}
	return nil
}

func (s *Store) addAssignees(ctx context.Context, issueID int64, userIDs []int64) error {
	now := Now()
	for _, u := range userIDs {
		if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO issue_assignees(issue_id, user_id, created_at) VALUES (?, ?, ?)`, issueID, u, now); err != nil {
			return fmt.Errorf("assign: %w", err)
		}
	}
	return nil
}

// AddIssueLabels applies labels (already applied ones are kept once).
func (s *Store) AddIssueLabels(ctx context.Context, issueID int64, labelIDs []int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.addIssueLabels(ctx, issueID, labelIDs); err != nil {
			return err
		}
		return tx.TouchIssue(ctx, issueID)
	})
}

// RemoveIssueLabel takes a label off; ErrNotFound if it was not applied.
func (s *Store) RemoveIssueLabel(ctx context.Context, issueID, labelID int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.execOne(ctx, "remove issue label", `DELETE FROM issue_labels WHERE issue_id = ? AND label_id = ?`, issueID, labelID); err != nil {
			return err
		}
		return tx.TouchIssue(ctx, issueID)
	})
}

// AddAssignees assigns users (already assigned ones are kept once).
func (s *Store) AddAssignees(ctx context.Context, issueID int64, userIDs []int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.addAssignees(ctx, issueID, userIDs); err != nil {
			return err
		}
		return tx.TouchIssue(ctx, issueID)
	})
}

// RemoveAssignees unassigns users; ones not assigned are ignored.
func (s *Store) RemoveAssignees(ctx context.Context, issueID int64, userIDs []int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		for _, u := range userIDs {
			if _, err := tx.w.ExecContext(ctx, `DELETE FROM issue_assignees WHERE issue_id = ? AND user_id = ?`, issueID, u); err != nil {
				return fmt.Errorf("unassign: %w", err)
			}
		}
		return tx.TouchIssue(ctx, issueID)
	})
}

// Comment is a conversation comment on an issue or pull request.
type Comment struct {
	ID          int64
	RepoID      int64
	IssueID     int64
	IssueNumber int64
	IsPull      bool
	Author      UserRef
	Body        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const commentColumns = `c.id, c.repo_id, c.issue_id, i.number, i.is_pull, ` + refColumns + `,
	c.body, c.created_at, c.updated_at`

const commentFrom = ` FROM comments c JOIN issues i ON i.id = c.issue_id LEFT JOIN users a ON a.id = c.author_id`

func scanComment(row scanner) (*Comment, error) {
	c := &Comment{}
	var author refRow
	err := row.Scan(&c.ID, &c.RepoID, &c.IssueID, &c.IssueNumber, &c.IsPull,
		&author.id, &author.username, &author.kind, &author.display, &c.Body, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return nil, err
	}
	c.Author = author.ref()
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// CreateComment adds a comment and counts it on the issue.
func (s *Store) CreateComment(ctx context.Context, repoID, issueID, authorID int64, body string) (*Comment, error) {
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		res, err := tx.w.ExecContext(ctx, `INSERT INTO comments(repo_id, issue_id, author_id, body, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, repoID, issueID, authorID, body, now, now)
		if err != nil {
			return fmt.Errorf("insert comment: %w", err)
		}
		id, _ = res.LastInsertId()
		_, err = tx.w.ExecContext(ctx, `UPDATE issues SET comments_count = comments_count + 1, updated_at = ? WHERE id = ?`, now, issueID)
		if err != nil {
			return fmt.Errorf("count comment: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.CommentByID(ctx, repoID, id)
}

// CommentByID loads a comment of a repository.
func (s *Store) CommentByID(ctx context.Context, repoID, id int64) (*Comment, error) {
	c, err := scanComment(s.r.QueryRowContext(ctx, `SELECT `+commentColumns+commentFrom+` WHERE c.id = ? AND c.repo_id = ?`, id, repoID))
	if err != nil {
		return nil, notFound(err, "comment")
	}
	return c, nil
}

// commentListSQL is the count query and the ids query (for window.order)
// of an issue's comments by sort (created, the default, or updated); each
// sort has its index.
func commentListSQL(sort string) (count, page string) {
	index, col := "comments_issue", "c.created_at"
	if sort == "updated" {
		index, col = "comments_issue_updated", "c.updated_at"
	}
	return `SELECT COUNT(*) FROM comments c INDEXED BY comments_issue WHERE c.issue_id = ?`,
		`SELECT c.id FROM comments c INDEXED BY ` + index + ` WHERE c.issue_id = ? ORDER BY ` + col + `{dir}, c.id{dir} LIMIT ? OFFSET ?`
}

// ListComments lists an issue's comments with the total.
func (s *Store) ListComments(ctx context.Context, issueID int64, sort string, asc bool, limit, offset int) ([]*Comment, int, error) {
	countQuery, pageQuery := commentListSQL(sort)
	out := []*Comment{}
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		var err error
		if total, err = r.count(ctx, "comments", countQuery, issueID); err != nil {
			return err
		}
		w, ok := pageWindow(total, limit, offset)
		if !ok {
			return nil
		}
		ids, err := r.ids(ctx, w, w.order(pageQuery, asc), issueID)
		if err != nil {
			return fmt.Errorf("list comments: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err := r.r.QueryContext(ctx, `SELECT `+commentColumns+commentFrom+` WHERE c.id IN `+inList(len(ids)), idArgs(ids)...)
		if err != nil {
			return fmt.Errorf("load comments: %w", err)
		}
		defer rows.Close()
		byID := make(map[int64]*Comment, len(ids))
		for rows.Next() {
			c, err := scanComment(rows)
			if err != nil {
				return fmt.Errorf("scan comment: %w", err)
			}
			byID[c.ID] = c
		}
		if err := rows.Err(); err != nil {
			return err
		}
		out = inOrder(ids, byID)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateComment replaces a comment's body.
func (s *Store) UpdateComment(ctx context.Context, repoID, id int64, body string) (*Comment, error) {
	if err := s.execOne(ctx, "update comment", `UPDATE comments SET body = ?, updated_at = ? WHERE id = ? AND repo_id = ?`, body, Now(), id, repoID); err != nil {
		return nil, err
	}
	return s.CommentByID(ctx, repoID, id)
}

// DeleteComment removes a comment and uncounts it.
func (s *Store) DeleteComment(ctx context.Context, repoID, id int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		c, err := tx.CommentByID(ctx, repoID, id)
		if err != nil {
			return err
		}
		if err := tx.execOne(ctx, "delete comment", `DELETE FROM comments WHERE id = ?`, id); err != nil {
			return err
		}
		_, err = tx.w.ExecContext(ctx, `UPDATE issues SET comments_count = MAX(comments_count - 1, 0), updated_at = ? WHERE id = ?`, Now(), c.IssueID)
		if err != nil {
			return fmt.Errorf("uncount comment: %w", err)
		}
		return nil
	})
}
