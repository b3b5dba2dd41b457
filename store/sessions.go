package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
)

// SessionStore is the dashboard's scs session store on this database. It
// writes through the single writer connection (the readers are query-only)
// and starts no cleanup goroutine of its own: the scheduled job
// session-cleanup calls DeleteExpiredSessions instead, so the cleanup shows
// up, with its outcome, on the jobs page. Session tokens are stored
// hashed: whoever reads the database (a backup, a stolen disk) cannot
// ride a signed-in session.
func (s *Store) SessionStore() *HashedSessions {
	return &HashedSessions{inner: sqlite3store.NewWithCleanupInterval(s.writer, 0)}
}

// HashedSessions is an scs store that keys sessions by the SHA-256 of
// their token.
type HashedSessions struct{ inner *sqlite3store.SQLite3Store }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Find returns the data of the session with token.
func (h *HashedSessions) Find(token string) ([]byte, bool, error) {
	return h.inner.Find(hashToken(token))
}

// Commit stores a session's data until expiry.
func (h *HashedSessions) Commit(token string, b []byte, expiry time.Time) error {
	return h.inner.Commit(hashToken(token), b, expiry)
}

// Delete removes a session.
func (h *HashedSessions) Delete(token string) error { return h.inner.Delete(hashToken(token)) }

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
