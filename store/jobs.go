package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Job run statuses as stored in jobs.last_status.
const (
	JobRunning     = "running"
	JobSuccess     = "success"
	JobFailed      = "failed"
	JobInterrupted = "interrupted" // the process stopped while it ran
)

// JobState is what survives a restart of one scheduled job.
type JobState struct {
	Stack          string
	Name           string
	Enabled        bool
	LastStartedAt  *time.Time
	LastFinishedAt *time.Time
	LastStatus     string
	LastDuration   time.Duration
	LastError      string
	LastMessage    string
	NextRunAt      *time.Time
	RunCount       int64
	FailureCount   int64
}

const jobColumns = `stack, name, enabled, last_started_at, last_finished_at, last_status, last_duration_ms,
	last_error, last_message, next_run_at, run_count, failure_count`

func scanJob(row scanner) (*JobState, error) {
	j := &JobState{}
	var started, finished, next sql.NullTime
	var ms int64
	if err := row.Scan(&j.Stack, &j.Name, &j.Enabled, &started, &finished, &j.LastStatus, &ms,
		&j.LastError, &j.LastMessage, &next, &j.RunCount, &j.FailureCount); err != nil {
		return nil, err
	}
	j.LastStartedAt, j.LastFinishedAt, j.NextRunAt = timePtr(started), timePtr(finished), timePtr(next)
	j.LastDuration = time.Duration(ms) * time.Millisecond
	return j, nil
}

// EnsureJob creates the state row of a job the first time it is
// registered; an existing row (and so its enable switch) is kept.
func (s *Store) EnsureJob(ctx context.Context, stack, name string, enabled bool, nextRun time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO jobs(stack, name, enabled, next_run_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(stack, name) DO NOTHING`, stack, name, boolInt(enabled), nextRun.UTC(), Now())
	if err != nil {
		return fmt.Errorf("register job %s: %w", name, err)
	}
	return nil
}

// MarkInterruptedJobs records that runs still marked running were cut off
// by the previous process stopping; called once at start.
func (s *Store) MarkInterruptedJobs(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `UPDATE jobs SET last_status = ?, last_error = 'the server stopped during the run',
		updated_at = ? WHERE last_status = ?`, JobInterrupted, Now(), JobRunning)
	if err != nil {
		return fmt.Errorf("mark interrupted jobs: %w", err)
	}
	return nil
}

// Jobs returns the state of every job, by stack and name.
func (s *Store) Jobs(ctx context.Context) ([]*JobState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs ORDER BY stack, name`)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []*JobState
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("scan job: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// Job returns one job's state.
func (s *Store) Job(ctx context.Context, stack, name string) (*JobState, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? AND name = ?`, stack, name))
	if err != nil {
		return nil, notFound(err, "job")
	}
	return j, nil
}

// SetJobEnabled turns a job's schedule on or off.
func (s *Store) SetJobEnabled(ctx context.Context, stack, name string, enabled bool) error {
	return s.execOne(ctx, "set job enabled", `UPDATE jobs SET enabled = ?, updated_at = ? WHERE stack = ? AND name = ?`,
		boolInt(enabled), Now(), stack, name)
}

// SetJobNextRun moves a job's next scheduled run.
func (s *Store) SetJobNextRun(ctx context.Context, stack, name string, next time.Time) error {
	return s.execOne(ctx, "set job next run", `UPDATE jobs SET next_run_at = ?, updated_at = ? WHERE stack = ? AND name = ?`,
		next.UTC(), Now(), stack, name)
}

// JobStarted records the start of a run.
func (s *Store) JobStarted(ctx context.Context, stack, name string, at time.Time) error {
	return s.execOne(ctx, "job started", `UPDATE jobs SET last_started_at = ?, last_status = ?, last_error = '',
		last_message = '', updated_at = ? WHERE stack = ? AND name = ?`, at.UTC(), JobRunning, Now(), stack, name)
}

// JobRun is the outcome of one finished run.
type JobRun struct {
	Status   string // JobSuccess or JobFailed
	Finished time.Time
	Duration time.Duration
	Error    string
	Message  string
	NextRun  time.Time
}

// JobFinished records the end of a run and when the next one is due.
func (s *Store) JobFinished(ctx context.Context, stack, name string, r JobRun) error {
	failed := 0
	if r.Status == JobFailed {
		failed = 1
	}
	return s.execOne(ctx, "job finished", `UPDATE jobs SET last_finished_at = ?, last_status = ?, last_duration_ms = ?,
		last_error = ?, last_message = ?, next_run_at = ?, run_count = run_count + 1,
		failure_count = failure_count + ?, updated_at = ? WHERE stack = ? AND name = ?`,
		r.Finished.UTC(), r.Status, r.Duration.Milliseconds(), r.Error, r.Message, r.NextRun.UTC(), failed, Now(), stack, name)
}
