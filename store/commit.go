package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit. SQLite has one writer; before this, every Tx was its own
// transaction and its own commit (with synchronous=FULL, its own fsync),
// one after the other. Now concurrent Tx calls queue for one committer
// goroutine, which runs whatever has queued back to back inside one SQLite
// transaction, each call in its own savepoint, and commits them together:
// a call that fails is rolled back to its savepoint alone, and every call
// returns only once the commit that holds its writes is durable. Callers
// see what they saw before: their function runs serially after every
// write that committed or is committing ahead of it, and its writes land
// all or nothing.

// maxBatch bounds how many calls share one commit, so one batch cannot
// keep the ones behind it waiting long.
const maxBatch = 128

// errClosed is what Tx returns once the store is closed.
var errClosed = errors.New("store is closed")

// committer owns the group commits of one Store.
type committer struct {
	queue   chan *txCall
	closing chan struct{} // closed by stop
	stopped chan struct{} // closed when run has returned
	once    sync.Once
}

// txCall is one Tx waiting to run.
type txCall struct {
	ctx   context.Context
	fn    func(tx *Store) error
	state atomic.Int32 // callQueued, callStarted or callAbandoned
	done  chan txResult
}

const (
	callQueued int32 = iota
	callStarted
	callAbandoned
)

type txResult struct {
	err      error
	panicked any // a panic in fn, re-raised in the caller's goroutine
	hasPanic bool
}

func newCommitter() *committer {
	return &committer{queue: make(chan *txCall), closing: make(chan struct{}), stopped: make(chan struct{})}
}

// do queues fn and waits for its outcome. A call whose context ends while
// it is still queued is dropped and returns the context's error; once it
// has started it runs to the end and reports the commit's outcome.
func (c *committer) do(ctx context.Context, fn func(tx *Store) error) error {
	call := &txCall{ctx: ctx, fn: fn, done: make(chan txResult, 1)}
	select {
	case c.queue <- call:
	case <-c.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	var res txResult
	select {
	case res = <-call.done:
	case <-ctx.Done():
		if call.state.CompareAndSwap(callQueued, callAbandoned) {
			return ctx.Err()
		}
		res = <-call.done
	}
	if res.hasPanic {
		panic(res.panicked)
	}
	return res.err
}

// run takes batches off the queue until stop.
func (c *committer) run(s *Store) {
	stopped := false
	defer func() {
		if !stopped {
			// A transaction function ended this goroutine (runtime.Goexit,
			// as t.Fatal does); commitBatch answered its batch. Writes
			// must not stall for good: carry on in a new one.
			go c.run(s)
			return
		}
		close(c.stopped)
	}()
	batch := make([]*txCall, 0, maxBatch)
	for {
		select {
		case call := <-c.queue:
			batch = append(batch[:0], call)
		case <-c.closing:
			stopped = true
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case call := <-c.queue:
				batch = append(batch, call)
			default:
				break more
			}
		}
		s.commitBatch(batch)
		clear(batch)
		// Between batches the writer connection is free to prepare on.
		s.writerStmts.prepareMissed(context.Background())
	}
}

// stop ends run after the batch in progress; later Tx calls fail.
func (c *committer) stop() {
	c.once.Do(func() { close(c.closing) })
	<-c.stopped
}

// commitBatch runs the calls of one batch in one transaction and commits.
func (s *Store) commitBatch(batch []*txCall) {
	// The transaction belongs to no one caller: a caller that goes away
	// must not roll back the others' writes.
	tx, err := s.writer.BeginTx(context.Background(), nil)
	if err != nil {
		for _, call := range batch {
			if call.state.CompareAndSwap(callQueued, callStarted) {
				call.done <- txResult{err: fmt.Errorf("begin transaction: %w", err)}
			}
		}
		return
	}
	run := detached{txRunner{tx, s.writerStmts}}
	inner := &Store{r: run, w: run, writer: s.writer, path: s.path}
	var ok []*txCall
	var broken error // set when the transaction can no longer commit
	next, finished := 0, false
	defer func() {
		if finished {
			return
		}
		// A function never returned: it ended the goroutine. Undo the
		// batch and answer everyone in it who is still waiting.
		_ = tx.Rollback()
		err := errors.New("a transaction function ended its goroutine; the batch was rolled back")
		for _, call := range ok {
			call.done <- txResult{err: err}
		}
		batch[next-1].done <- txResult{err: err}
		for _, call := range batch[next:] {
			if call.state.CompareAndSwap(callQueued, callStarted) {
				call.done <- txResult{err: err}
			}
		}
	}()
	for _, call := range batch {
		next++
		if !call.state.CompareAndSwap(callQueued, callStarted) {
			continue // its caller gave up while it was queued
		}
		if broken != nil {
			call.done <- txResult{err: broken}
			continue
		}
		if err := call.ctx.Err(); err != nil {
			call.done <- txResult{err: err}
			continue
		}
		res, rollbackErr := runInSavepoint(run, inner, call)
		if rollbackErr != nil {
			// The savepoint could not be undone (SQLite may have rolled
			// the whole transaction back on an I/O or memory error), so
			// nothing in this batch can be trusted to commit.
			broken = fmt.Errorf("transaction aborted: %w", rollbackErr)
			res.err = errors.Join(res.err, broken)
		}
		if res.err != nil || res.hasPanic {
			call.done <- res
			continue
		}
		ok = append(ok, call)
	}
	finished = true
	if broken != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			broken = errors.Join(broken, fmt.Errorf("rollback: %w", rbErr))
		}
		for _, call := range ok {
			call.done <- txResult{err: broken}
		}
		return
	}
	err = tx.Commit()
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	for _, call := range ok {
		call.done <- txResult{err: err}
	}
}

// runInSavepoint runs one call's function between SAVEPOINT and RELEASE,
// rolling back to the savepoint when it fails or panics. rollbackErr
// reports a failure to do so.
func runInSavepoint(tx querier, inner *Store, call *txCall) (res txResult, rollbackErr error) {
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, "SAVEPOINT call"); err != nil {
		return txResult{err: fmt.Errorf("begin transaction: %w", err)}, err
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				res = txResult{panicked: p, hasPanic: true}
			}
		}()
		res.err = call.fn(inner)
	}()
	if res.err != nil || res.hasPanic {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO call"); err != nil {
			return res, err
		}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE call"); err != nil {
		return res, err
	}
	return res, nil
}

// detached runs statements without their caller's cancellation: the
// driver interrupts a statement whose context ends, and SQLite answers an
// interrupted write inside a transaction by rolling back the whole
// transaction, which here holds other callers' writes too.
type detached struct{ q querier }

func (d detached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.q.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.q.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.q.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}
