package store

import (
	"context"
	"fmt"

	"github.com/alexedwards/scs/sqlite3store"
)

// SessionStore is the dashboard's scs session store on this database. It
// writes through the single writer connection (the readers are query-only)
// and starts no cleanup goroutine of its own: the scheduled job
// session-cleanup calls DeleteExpiredSessions instead, so the cleanup shows
// up, with its outcome, on the jobs page.
func (s *Store) SessionStore() *sqlite3store.SQLite3Store {
	return sqlite3store.NewWithCleanupInterval(s.writer, 0)
}

// DeleteExpiredSessions removes expired dashboard sessions and returns how
// many there were.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expiry < julianday('now')`)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
