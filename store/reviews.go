package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Review states as stored and shown.
const (
	ReviewApproved         = "approved"
	ReviewChangesRequested = "changes_requested"
	ReviewCommented        = "commented"
)

// Review is one submitted review of a pull request.
type Review struct {
	ID          int64
	RepoID      int64
	PullID      int64
	Author      UserRef
	State       string
	Body        *string
	CommitSHA   string // the head the review looked at
	Comments    []*ReviewComment
	SubmittedAt time.Time
}

// ReviewComment is an inline comment on one line of a changed file.
type ReviewComment struct {
	ID        int64
	ReviewID  int64
	Path      string
	Line      int
	Body      string
	Author    UserRef
	CreatedAt time.Time
}

// NewReviewComment is one inline comment of NewReview.
type NewReviewComment struct {
	Path string
	Line int
	Body string
}

// NewReview is what CreateReview needs.
type NewReview struct {
	RepoID    int64
	PullID    int64
	AuthorID  int64
	State     string
	Body      *string
	CommitSHA string
	Comments  []NewReviewComment
}

// CreateReview stores a review with its inline comments, satisfies the
// author's pending review request (as GitHub does) and bumps the pull
// request's updated_at, in one transaction.
func (s *Store) CreateReview(ctx context.Context, nr NewReview) (*Review, error) {
	var id int64
	err := s.Tx(ctx, func(tx *Store) error {
		now := Now()
		res, err := tx.w.ExecContext(ctx, `INSERT INTO reviews(repo_id, pull_id, author_id, state, body, commit_sha, submitted_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, nr.RepoID, nr.PullID, nr.AuthorID, nr.State, nullString(nr.Body), nr.CommitSHA, now)
		if err != nil {
			return fmt.Errorf("insert review: %w", err)
		}
		id, _ = res.LastInsertId()
		for _, c := range nr.Comments {
			_, err := tx.w.ExecContext(ctx, `INSERT INTO review_comments(review_id, pull_id, author_id, path, line, body, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, id, nr.PullID, nr.AuthorID, c.Path, c.Line, c.Body, now)
			if err != nil {
				return fmt.Errorf("insert review comment: %w", err)
			}
		}
		if _, err := tx.w.ExecContext(ctx, `DELETE FROM review_requests WHERE pull_id = ? AND user_id = ?`, nr.PullID, nr.AuthorID); err != nil {
			return fmt.Errorf("satisfy review request: %w", err)
		}
		return tx.TouchIssue(ctx, nr.PullID)
	})
	if err != nil {
		return nil, err
	}
	rs, err := s.reviews(ctx, `r.id = ?`, []any{id}, -1, 0)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("review: %w", ErrNotFound)
	}
	return rs[0], nil
}

// ListReviews lists a pull request's reviews, oldest first, with their
// inline comments, and the total.
func (s *Store) ListReviews(ctx context.Context, pullID int64, limit, offset int) ([]*Review, int, error) {
	out := []*Review{}
	var total int
	err := s.snapshot(ctx, func(r *Store) error {
		var err error
		if total, err = r.count(ctx, "reviews", `SELECT COUNT(*) FROM reviews r INDEXED BY reviews_pull WHERE r.pull_id = ?`, pullID); err != nil {
			return err
		}
		w, ok := pageWindow(total, limit, offset)
		if !ok {
			return nil
		}
		ids, err := r.ids(ctx, w, w.order(reviewListSQL, true), pullID)
		if err != nil {
			return fmt.Errorf("list reviews: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		rs, err := r.reviews(ctx, `r.id IN `+inList(len(ids)), idArgs(ids), -1, 0)
		if err != nil {
			return err
		}
		byID := make(map[int64]*Review, len(rs))
		for _, rv := range rs {
			byID[rv.ID] = rv
		}
		out = inOrder(ids, byID)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// reviewListSQL is the ids query of a pull request's reviews, for
// window.order.
const reviewListSQL = `SELECT r.id FROM reviews r INDEXED BY reviews_pull WHERE r.pull_id = ? ORDER BY r.id{dir} LIMIT ? OFFSET ?`

func (s *Store) reviews(ctx context.Context, cond string, args []any, limit, offset int) ([]*Review, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.repo_id, r.pull_id, `+refColumns+`,
		r.state, r.body, r.commit_sha, r.submitted_at
		FROM reviews r LEFT JOIN users a ON a.id = r.author_id WHERE `+cond+` ORDER BY r.id LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	out := []*Review{}
	byID := map[int64]*Review{}
	for rows.Next() {
		r := &Review{Comments: []*ReviewComment{}}
		var author refRow
		var body sql.NullString
		if err := rows.Scan(&r.ID, &r.RepoID, &r.PullID, &author.id, &author.username, &author.kind, &author.display,
			&r.State, &body, &r.CommitSHA, &r.SubmittedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan review: %w", err)
		}
		r.Author = author.ref()
		r.Body = strPtr(body)
		r.SubmittedAt = r.SubmittedAt.UTC()
		out = append(out, r)
		byID[r.ID] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, r := range out {
		ids = append(ids, r.ID)
	}
	in := inList(len(ids))
	crows, err := s.r.QueryContext(ctx, `SELECT c.id, c.review_id, c.path, c.line, c.body, `+refColumns+`, c.created_at
		FROM review_comments c LEFT JOIN users a ON a.id = c.author_id WHERE c.review_id IN `+in+` ORDER BY c.id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("list review comments: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		c := &ReviewComment{}
		var author refRow
		if err := crows.Scan(&c.ID, &c.ReviewID, &c.Path, &c.Line, &c.Body,
			&author.id, &author.username, &author.kind, &author.display, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan review comment: %w", err)
		}
		c.Author = author.ref()
		c.CreatedAt = c.CreatedAt.UTC()
		byID[c.ReviewID].Comments = append(byID[c.ReviewID].Comments, c)
	}
	return out, crows.Err()
}

// ReviewRequests lists the users asked to review a pull request, in the
// order they were asked.
func (s *Store) ReviewRequests(ctx context.Context, pullID int64) ([]UserRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+refColumns+`
		FROM review_requests rr JOIN users a ON a.id = rr.user_id WHERE rr.pull_id = ?
		ORDER BY rr.created_at, rr.rowid`, pullID)
	if err != nil {
		return nil, fmt.Errorf("list review requests: %w", err)
	}
	defer rows.Close()
	out := []UserRef{}
	for rows.Next() {
		var u refRow
		if err := rows.Scan(&u.id, &u.username, &u.kind, &u.display); err != nil {
			return nil, fmt.Errorf("scan review request: %w", err)
		}
		out = append(out, u.ref())
	}
	return out, rows.Err()
}

// AddReviewRequests asks users to review (already asked ones stay once)
// and bumps the pull request's updated_at.
func (s *Store) AddReviewRequests(ctx context.Context, pullID int64, userIDs []int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		now := Now()
		for _, u := range userIDs {
			if _, err := tx.w.ExecContext(ctx, `INSERT OR IGNORE INTO review_requests(pull_id, user_id, created_at) VALUES (?, ?, ?)`, pullID, u, now); err != nil {
				return fmt.Errorf("request review: %w", err)
			}
		}
		return tx.TouchIssue(ctx, pullID)
	})
}

// RemoveReviewRequests withdraws review requests; users not asked are
// ignored.
func (s *Store) RemoveReviewRequests(ctx context.Context, pullID int64, userIDs []int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		for _, u := range userIDs {
			if _, err := tx.w.ExecContext(ctx, `DELETE FROM review_requests WHERE pull_id = ? AND user_id = ?`, pullID, u); err != nil {
				return fmt.Errorf("withdraw review request: %w", err)
			}
		}
		return tx.TouchIssue(ctx, pullID)
	})
}
