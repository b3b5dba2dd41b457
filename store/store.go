// Package store owns Tapioca's SQLite database: opening it, migrating it and
// every SQL statement the application runs. Handlers never write SQL; they
// call the methods here, grouping several in one transaction with Tx when the
// writes must land together.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors callers map to HTTP statuses in one place.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("already exists")
)

// querier is what both *sql.DB and *sql.Tx offer; every query method runs on
// one so that the same code works inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is the database handle. Outside a transaction reads go to a pool of
// reader connections and writes to the single writer connection, so
// concurrent writers queue inside database/sql instead of failing with
// "database is locked". Inside Tx both go to the transaction.
type Store struct {
	r, w    querier
	reader  *sql.DB // nil inside a transaction
	writer  *sql.DB
	path    string
	commits *committer // nil inside a transaction
	// The pools' prepared statements (nil inside a transaction).
	readerStmts, writerStmts *stmtCache
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open opens (creating if needed) the database file at path and applies any
// migrations not yet applied.
func Open(ctx context.Context, path string) (*Store, error) {
	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open database writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database readers: %w", err)
	}
	n := max(4, 2*runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s := &Store{reader: reader, writer: writer, path: path, commits: newCommitter(),
		readerStmts: newStmtCache(reader), writerStmts: newStmtCache(writer)}
	s.r, s.w = pool{reader, s.readerStmts}, pool{writer, s.writerStmts}
	go s.commits.run(s)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a commit is on disk when it returns, so an acknowledged write
	// survives a power cut as well as a killed process ("nothing accepted
	// is ever lost"). Group commit (commit.go) shares one fsync among the
	// writes that queue meanwhile, which is what keeps FULL affordable;
	// NORMAL would be faster still but could lose the last commits to a
	// power cut.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_time_format", "sqlite")
	if write {
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction
		// never has to upgrade a read lock and die with SQLITE_BUSY.
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the group committer and closes both pools.
func (s *Store) Close() error {
	if s.reader == nil {
		return errors.New("store: Close inside a transaction")
	}
	s.commits.stop()
	s.readerStmts.close()
	s.writerStmts.close()
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Tx runs fn inside one write transaction: its writes commit if fn returns
// nil and are rolled back otherwise. A Tx inside a Tx joins the outer one.
// Concurrent calls share commits (see commit.go); fn may run on another
// goroutine, and must not call Tx on the outer store, whose writer it is
// holding.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	if s.reader == nil {
		return fn(s)
	}
	return s.commits.do(ctx, fn)
}

// snapshot runs fn with reads from one read transaction, so that what a
// list reads in several queries (its total, its page, the rows' labels)
// is one consistent state even while writers commit. Inside a write
// transaction fn reads the transaction.
func (s *Store) snapshot(ctx context.Context, fn func(r *Store) error) error {
	if s.reader == nil {
		return fn(s)
	}
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	err = func() error {
		// Read-only: ending it can lose nothing, so its error is no news.
		defer func() { _ = tx.Rollback() }()
		run := txRunner{tx, s.readerStmts}
		return fn(&Store{r: run, w: run, writer: s.writer, path: s.path})
	}()
	s.readerStmts.prepareMissed(ctx)
	return err
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database ping: %w", err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns its findings.
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	var res string
	if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	return res, nil
}

// VacuumInto writes a consistent copy of the database to path while the
// server keeps running.
func (s *Store) VacuumInto(ctx context.Context, path string) error {
	if _, err := s.w.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("vacuum into %s: %w", path, err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at DATETIME NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", base, err)
		}
		err = s.Tx(ctx, func(tx *Store) error {
			var n int
			if err := tx.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE name = ?", base).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.w.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.w.ExecContext(ctx, "INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", base, Now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// Now is the current time as the store keeps it: UTC, whole seconds, which
// is what the API shows.
func Now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKey reports whether err is a FOREIGN KEY violation: a row
// the new one points at was deleted meanwhile.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// notFound turns sql.ErrNoRows into ErrNotFound and wraps anything else.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// inList is the parenthesised list of n placeholders for an IN clause.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// nullString maps "" to NULL for optional text columns.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// DB is the read-only connection pool, for tests and tools that inspect
// the database directly.
func (s *Store) DB() *sql.DB { return s.reader }
