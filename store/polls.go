package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PollRecord is what RecordPoll knew before this poll.
type PollRecord struct {
	PreviousCommit string     // "" on the first successful poll
	PreviousPollAt *time.Time // nil on the first poll
}

// RecordPoll stores the commit a poll of (url, reference) found and
// returns what the previous poll had seen. A failed poll (errMsg != "")
// keeps the last good commit, so the next success still compares against
// it.
func (s *Store) RecordPoll(ctx context.Context, url, reference, commit, errMsg string) (PollRecord, error) {
	var rec PollRecord
	err := s.Tx(ctx, func(tx *Store) error {
		var prev string
		var polled sql.NullTime
		err := tx.r.QueryRowContext(ctx, `SELECT commit_sha, polled_at FROM poll_targets WHERE url = ? AND reference = ?`,
			url, reference).Scan(&prev, &polled)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read poll target: %w", err)
		}
		rec.PreviousCommit, rec.PreviousPollAt = prev, timePtr(polled)
		now := Now()
		if errMsg != "" {
			commit = prev
		}
		var changedAt any
		if errMsg == "" && commit != prev {
			changedAt = now
		}
		_, err = tx.w.ExecContext(ctx, `INSERT INTO poll_targets(url, reference, commit_sha, polled_at, changed_at, last_error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(url, reference) DO UPDATE SET commit_sha = excluded.commit_sha, polled_at = excluded.polled_at,
				changed_at = COALESCE(excluded.changed_at, poll_targets.changed_at), last_error = excluded.last_error`,
			url, reference, commit, now, changedAt, errMsg, now)
		if err != nil {
			return fmt.Errorf("record poll: %w", err)
		}
		return nil
	})
	return rec, err
}
