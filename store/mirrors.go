package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Mirror sync statuses.
const (
	MirrorPending = "pending" // never synced, or asked to sync afresh
	MirrorSyncing = "syncing"
	MirrorSynced  = "synced"
	MirrorError   = "error"
)

// Mirror is a mirror of an upstream repository and its sync state.
type Mirror struct {
	ID            int64
	URL           string // without credentials
	Token         string // sealed; "" = none (a private key for an SSH upstream)
	HostKey       string // an SSH upstream's pinned host key (authorized_keys form); "" = none yet
	Status        string
	LastError     string
	HeadRef       string // the upstream's HEAD, refs/heads/...
	HeadCommit    string // that branch's commit in the mirror
	Interval      time.Duration
	Failures      int
	NextSyncAt    *time.Time
	LastPolledAt  *time.Time
	LastSyncedAt  *time.Time
	LastChangedAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Watchers is how many watched repositories follow the mirror
	// (filled by ListMirrors).
	Watchers int
}

const mirrorColumns = `m.id, m.url, m.token, m.status, m.last_error, m.head_ref, m.head_commit, m.interval_s, m.failures,
	m.next_sync_ms, m.last_polled_at, m.last_synced_at, m.last_changed_at, m.created_at, m.updated_at, m.host_key`

func scanMirror(row scanner, extra ...any) (*Mirror, error) {
	m := &Mirror{}
	var interval int64
	var next sql.NullInt64
	var polled, synced, changed sql.NullTime
	dest := []any{&m.ID, &m.URL, &m.Token, &m.Status, &m.LastError, &m.HeadRef, &m.HeadCommit, &interval, &m.Failures,
		&next, &polled, &synced, &changed, &m.CreatedAt, &m.UpdatedAt, &m.HostKey}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.Interval = time.Duration(interval) * time.Second
	if next.Valid {
		t := time.UnixMilli(next.Int64).UTC()
		m.NextSyncAt = &t
	}
	m.LastPolledAt, m.LastSyncedAt, m.LastChangedAt = timePtr(polled), timePtr(synced), timePtr(changed)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}

// EnsureMirror returns the mirror of url, creating it (pending, synced
// on demand only) the first time.
func (s *Store) EnsureMirror(ctx context.Context, url string) (*Mirror, error) {
	now := Now()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO mirrors(url, created_at, updated_at) VALUES (?, ?, ?)
		ON CONFLICT(url) DO NOTHING`, url, now, now); err != nil {
		return nil, fmt.Errorf("create mirror: %w", err)
	}
	return s.MirrorByURL(ctx, url)
}

// MirrorByID loads a mirror.
func (s *Store) MirrorByID(ctx context.Context, id int64) (*Mirror, error) {
	m, err := scanMirror(s.r.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM mirrors m WHERE m.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "mirror")
	}
	return m, nil
}

// MirrorByURL loads the mirror of url.
func (s *Store) MirrorByURL(ctx context.Context, url string) (*Mirror, error) {
	m, err := scanMirror(s.r.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM mirrors m WHERE m.url = ?`, url))
	if err != nil {
		return nil, notFound(err, "mirror")
	}
	return m, nil
}

// ListMirrors lists every mirror with its number of watchers, by URL.
func (s *Store) ListMirrors(ctx context.Context) ([]*Mirror, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+mirrorColumns+`,
		(SELECT COUNT(*) FROM watched_repos w WHERE w.mirror_id = m.id) FROM mirrors m ORDER BY m.url`)
	if err != nil {
		return nil, fmt.Errorf("list mirrors: %w", err)
	}
	defer rows.Close()
	out := []*Mirror{}
	for rows.Next() {
		var n int
		m, err := scanMirror(rows, &n)
		if err != nil {
			return nil, fmt.Errorf("scan mirror: %w", err)
		}
		m.Watchers = n
		out = append(out, m)
	}
	return out, rows.Err()
}

// ScheduleMirror sets how often a mirror is synced (0 = on demand only)
// and when next.
func (s *Store) ScheduleMirror(ctx context.Context, id int64, every time.Duration, next time.Time) error {
	var nextMS any
	if every > 0 {
		nextMS = next.UnixMilli()
	}
	return s.execOne(ctx, "schedule mirror", `UPDATE mirrors SET interval_s = ?, next_sync_ms = ?, updated_at = ? WHERE id = ?`,
		int64(every/time.Second), nextMS, Now(), id)
}

// SetMirrorToken replaces the sealed credential scheduled syncs use and
// clears the error state, so the next sync starts afresh.
func (s *Store) SetMirrorToken(ctx context.Context, id int64, sealed string) error {
	return s.execOne(ctx, "set mirror token", `UPDATE mirrors SET token = ?, failures = 0,
		status = CASE WHEN status = 'error' THEN 'pending' ELSE status END, last_error = '', updated_at = ? WHERE id = ?`,
		sealed, Now(), id)
}

// StartMirrorSync marks a sync in progress.
func (s *Store) StartMirrorSync(ctx context.Context, id int64) error {
	return s.execOne(ctx, "start mirror sync", `UPDATE mirrors SET status = 'syncing', updated_at = ? WHERE id = ?`, Now(), id)
}

// MirrorSyncOutcome is what a finished sync records.
type MirrorSyncOutcome struct {
	Err        string // "" = success
	HeadRef    string // on success
	HeadCommit string // on success; "" for an empty upstream
	Changed    bool   // a ref moved
	Failures   int    // consecutive failures after this sync
	Next       time.Time
	// HostKey, on success, is the SSH host key the upstream showed: it
	// is pinned if none is yet.
	HostKey string
}

// FinishMirrorSync records a sync's outcome and schedules the next one
// (for a scheduled mirror).
func (s *Store) FinishMirrorSync(ctx context.Context, id int64, o MirrorSyncOutcome) error {
	now := Now()
	next := o.Next.UnixMilli()
	if o.Err != "" {
		return s.execOne(ctx, "finish mirror sync", `UPDATE mirrors SET status = 'error', last_error = ?, failures = ?,
			last_polled_at = ?, next_sync_ms = CASE WHEN interval_s > 0 THEN ? END, updated_at = ? WHERE id = ?`,
			o.Err, o.Failures, now, next, now, id)
	}
	var changed any
	if o.Changed {
		changed = now
	}
	return s.execOne(ctx, "finish mirror sync", `UPDATE mirrors SET status = 'synced', last_error = '', failures = 0,
		head_ref = ?, head_commit = ?, last_polled_at = ?, last_synced_at = ?, last_changed_at = COALESCE(?, last_changed_at),
		next_sync_ms = CASE WHEN interval_s > 0 THEN ? END, host_key = CASE WHEN host_key = '' THEN ? ELSE host_key END,
		updated_at = ? WHERE id = ?`,
		o.HeadRef, o.HeadCommit, now, now, changed, next, o.HostKey, now, id)
}

// DueMirrors lists the scheduled mirrors whose next sync is due at now,
// most overdue first.
func (s *Store) DueMirrors(ctx context.Context, now time.Time) ([]*Mirror, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+mirrorColumns+` FROM mirrors m
		WHERE m.interval_s > 0 AND m.next_sync_ms <= ? ORDER BY m.next_sync_ms`, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("due mirrors: %w", err)
	}
	defer rows.Close()
	var out []*Mirror
	for rows.Next() {
		m, err := scanMirror(rows)
		if err != nil {
			return nil, fmt.Errorf("scan mirror: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ResetSyncingMirrors returns mirrors a dead process left "syncing" to
// pending; there is one process per data directory, so at start-up no
// sync is in flight.
func (s *Store) ResetSyncingMirrors(ctx context.Context) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE mirrors SET status = 'pending', updated_at = ? WHERE status = 'syncing'`, Now())
	if err != nil {
		return 0, fmt.Errorf("reset syncing mirrors: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// idleMirror is the condition of a mirror nothing keeps: no watched
// repository or project follows it, it is not synced on a schedule nor
// being synced, and nobody has polled it since a time (the argument).
const idleMirror = `m.interval_s = 0 AND m.status != 'syncing'
	AND COALESCE(m.last_polled_at, m.created_at) < ?
	AND NOT EXISTS (SELECT 1 FROM watched_repos w WHERE w.mirror_id = m.id)
	AND NOT EXISTS (SELECT 1 FROM project_repos p WHERE p.mirror_id = m.id)`

// IdleMirrors lists the mirrors nothing keeps and nobody polled since
// before: what a poll run of an upstream left as a cache.
func (s *Store) IdleMirrors(ctx context.Context, before time.Time) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.id FROM mirrors m WHERE `+idleMirror+` ORDER BY m.id`,
		before.UTC().Truncate(time.Second))
	if err != nil {
		return nil, fmt.Errorf("idle mirrors: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan mirror: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DeleteIdleMirror deletes mirror id if it is still idle since before
// (one statement, so a watch, a project or a poll that came meanwhile
// keeps it); false when it was kept.
func (s *Store) DeleteIdleMirror(ctx context.Context, id int64, before time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM mirrors AS m WHERE m.id = ? AND `+idleMirror,
		id, before.UTC().Truncate(time.Second))
	if err != nil {
		return false, fmt.Errorf("delete idle mirror: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ErrMirrorWatched refuses deleting a mirror that a watched repository
// still follows.
var ErrMirrorWatched = errors.New("mirror is still watched")

// DeleteUnwatchedMirror deletes a mirror no watched repository or project
// follows; ErrMirrorWatched otherwise.
func (s *Store) DeleteUnwatchedMirror(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM mirrors WHERE id = ?
		AND NOT EXISTS (SELECT 1 FROM watched_repos WHERE mirror_id = ?)
		AND NOT EXISTS (SELECT 1 FROM project_repos WHERE mirror_id = ?)`, id, id, id)
	if err != nil {
		return fmt.Errorf("delete mirror: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if _, lerr := s.MirrorByID(ctx, id); lerr != nil {
			return lerr
		}
		return ErrMirrorWatched
	}
	return nil
}
