package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RefIntent is one journaled ref update (see migration 0006).
type RefIntent struct {
	ID        int64
	RepoID    int64
	PusherID  int64 // 0 when unknown
	Ref       string
	Old, New  string // 40 hex; all zeros for create (Old) or delete (New)
	PullID    int64  // the pull request a merge moves the ref for; 0 otherwise
	CreatedAt time.Time
}

// JournalRefUpdate records that ref is about to move from old to new;
// pullID names the pull request when the move is its merge (0 otherwise).
func (s *Store) JournalRefUpdate(ctx context.Context, repoID, pusherID, pullID int64, ref, old, new string) (int64, error) {
	var pusher, pull any
	if pusherID != 0 {
		pusher = pusherID
	}
	if pullID != 0 {
		pull = pullID
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO ref_journal(repo_id, pusher_id, pull_id, ref, old_sha, new_sha, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, repoID, pusher, pull, ref, old, new, Now())
	if err != nil {
		return 0, fmt.Errorf("journal ref update: %w", err)
	}
	return res.LastInsertId()
}

// ClearJournal removes journal rows once their push is fully recorded.
func (s *Store) ClearJournal(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := s.w.ExecContext(ctx, `DELETE FROM ref_journal WHERE id IN `+inList(len(ids)), args...)
	if err != nil {
		return fmt.Errorf("clear ref journal: %w", err)
	}
	return nil
}

// PendingRefIntents lists journal rows in the order they were written.
func (s *Store) PendingRefIntents(ctx context.Context) ([]RefIntent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, repo_id, pusher_id, pull_id, ref, old_sha, new_sha, created_at FROM ref_journal ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read ref journal: %w", err)
	}
	defer rows.Close()
	var out []RefIntent
	for rows.Next() {
		var ri RefIntent
		var pusher, pull sql.NullInt64
		if err := rows.Scan(&ri.ID, &ri.RepoID, &pusher, &pull, &ri.Ref, &ri.Old, &ri.New, &ri.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan ref journal: %w", err)
		}
		ri.PusherID, ri.PullID = pusher.Int64, pull.Int64
		out = append(out, ri)
	}
	return out, rows.Err()
}
