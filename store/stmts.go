package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// Prepared statements. Parsing and planning a statement cost more than
// running most of ours (a CPU profile of issue creation under load spent
// 38% of the server in SQLite's parser), so each pool keeps its
// statements prepared, by SQL text, and transactions borrow them.

// maxPrepared bounds a pool's cache. Statements are built from a fixed
// set of fragments, so the texts are few (an IN list of up to 100 ids is
// up to 100 of them); should that ever grow past the bound, the rest are
// prepared each time, as before.
const maxPrepared = 1000

// stmtCache holds the prepared statements of one pool. Preparing one on
// the pool needs a free connection, which a caller inside a transaction
// may be holding (the writer pool has only one), so a transaction only
// borrows what is prepared already and notes what it missed; the misses
// are prepared once the transaction has let its connection go.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	missed map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, missed: map[string]bool{}}
}

// get returns query prepared, preparing it if needed, or nil for one that
// is not to be kept: anything but a single SELECT, INSERT, UPDATE, DELETE
// or savepoint statement (not PRAGMA, VACUUM or a migration's script), or
// one past the bound.
// The caller must hold no connection of the pool.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok || !cacheable(query) {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	if len(c.m) >= maxPrepared {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

// lookup returns query if it is prepared, and otherwise notes it for
// prepareMissed.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[query]
	if !ok && len(c.m)+len(c.missed) < maxPrepared && cacheable(query) {
		c.missed[query] = true
	}
	return st
}

// prepareMissed prepares what transactions missed. The caller must hold
// no connection of the pool.
func (c *stmtCache) prepareMissed(ctx context.Context) {
	c.mu.Lock()
	if len(c.missed) == 0 {
		c.mu.Unlock()
		return
	}
	missed := c.missed
	c.missed = map[string]bool{}
	c.mu.Unlock()
	for q := range missed {
		c.get(ctx, q)
	}
}

func cacheable(query string) bool {
	q := strings.TrimSpace(query)
	if strings.Contains(strings.TrimSuffix(q, ";"), ";") {
		return false
	}
	verb, _, _ := strings.Cut(q, " ")
	switch strings.ToUpper(verb) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "SAVEPOINT", "RELEASE", "ROLLBACK":
		return true
	}
	return false
}

// close closes every kept statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// pool runs statements on a pool of connections, prepared.
type pool struct {
	db    *sql.DB
	cache *stmtCache
}

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.cache.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.cache.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.cache.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// txRunner runs statements in a transaction, borrowing its pool's
// prepared statements (database/sql reuses the one already prepared on
// the transaction's connection, or prepares it there).
type txRunner struct {
	tx    *sql.Tx
	cache *stmtCache
}

func (t txRunner) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t txRunner) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txRunner) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
