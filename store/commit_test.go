package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// userCount counts accounts named like prefix%.
func userCount(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM users WHERE username LIKE ?`, prefix+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// One batch, one commit: each call's writes land or vanish on their own.
// A call that fails or panics is rolled back to its savepoint alone, a
// call whose caller went away never runs, and the calls after them still
// see and keep what the earlier ones wrote.
func TestCommitBatchIsolatesCalls(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	create := func(name string) func(tx *Store) error {
		return func(tx *Store) error {
			_, err := tx.CreateUser(ctx, NewUser{Username: name, Email: name + "@example.com"})
			return err
		}
	}
	boom := errors.New("boom")
	ran := false
	fns := []struct {
		ctx context.Context
		fn  func(tx *Store) error
	}{
		{ctx, create("batch-a")},
		{ctx, func(tx *Store) error {
			if err := create("batch-b")(tx); err != nil {
				return err
			}
			return boom
		}},
		{ctx, func(tx *Store) error {
			if err := create("batch-c")(tx); err != nil {
				return err
			}
			panic("kaboom")
		}},
		{gone, func(tx *Store) error { ran = true; return create("batch-d")(tx) }},
		// Sees batch-a, written earlier in the same transaction.
		{ctx, func(tx *Store) error {
			if _, err := tx.UserByName(ctx, "batch-a"); err != nil {
				return fmt.Errorf("earlier call's write: %w", err)
			}
			return create("batch-e")(tx)
		}},
		{ctx, create("batch-a")}, // a duplicate name: fails alone
	}
	var batch []*txCall
	for _, f := range fns {
		batch = append(batch, &txCall{ctx: f.ctx, fn: f.fn, done: make(chan txResult, 1)})
	}
	s.commitBatch(batch)
	results := make([]txResult, len(batch))
	for k, call := range batch {
		results[k] = <-call.done
	}
	if results[0].err != nil || results[4].err != nil {
		t.Errorf("good calls failed: %v, %v", results[0].err, results[4].err)
	}
	if !errors.Is(results[1].err, boom) {
		t.Errorf("failing call: %v", results[1].err)
	}
	if !results[2].hasPanic || results[2].panicked != "kaboom" {
		t.Errorf("panicking call: %+v", results[2])
	}
	if !errors.Is(results[3].err, context.Canceled) || ran {
		t.Errorf("abandoned call: %v, ran %v", results[3].err, ran)
	}
	if !errors.Is(results[5].err, ErrDuplicate) && !errors.Is(results[5].err, ErrNameTaken) {
		t.Errorf("duplicate: %v", results[5].err)
	}
	for name, want := range map[string]bool{"batch-a": true, "batch-b": false, "batch-c": false, "batch-d": false, "batch-e": true} {
		if _, err := s.UserByName(ctx, name); (err == nil) != want {
			t.Errorf("%s kept = %v, want %v", name, err == nil, want)
		}
	}
}

// Concurrent Tx calls share commits and still behave as if run one
// after another: issue numbers stay distinct and consecutive, failures
// roll back only their own call, and a panic reaches its own caller.
func TestConcurrentTxShareCommits(t *testing.T) {
	t.Parallel()
	s, r, u := pullFixture(t)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	nums := make(chan int64, n)
	errs := make(chan error, n)
	for k := range n {
		wg.Go(func() {
			if k%10 == 9 {
				defer func() {
					if p := recover(); p != fmt.Sprint("panic ", k) {
						errs <- fmt.Errorf("call %d: recovered %v", k, p)
					}
				}()
			}
			err := s.Tx(ctx, func(tx *Store) error {
				i, err := tx.CreateIssue(ctx, NewIssue{RepoID: r.ID, Title: fmt.Sprint("issue ", k), AuthorID: u.ID})
				if err != nil {
					return err
				}
				switch k % 10 {
				case 8:
					return errors.New("rolled back")
				case 9:
					panic(fmt.Sprint("panic ", k))
				}
				nums <- i.Number
				return nil
			})
			if err != nil && k%10 != 8 {
				errs <- fmt.Errorf("call %d: %w", k, err)
			}
		})
	}
	wg.Wait()
	close(nums)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var got []int64
	for x := range nums {
		got = append(got, x)
	}
	slices.Sort(got)
	list, total, err := s.ListIssues(ctx, IssueList{RepoID: r.ID, Sort: "created", Asc: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := n * 8 / 10; len(got) != want || total != want || !slices.Equal(numbers(list), got) {
		t.Fatalf("kept %d issues (%d listed, total %d), want %d", len(got), len(list), total, want)
	}
	// Numbers taken by rolled-back calls are free again, so the kept ones
	// are not 1..160, but no two calls ever held the same number.
	for k := 1; k < len(got); k++ {
		if got[k] == got[k-1] {
			t.Fatalf("number %d twice", got[k])
		}
	}
}

// A Tx on a closed store fails instead of waiting forever.
func TestTxAfterClose(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(context.Background(), func(*Store) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("Tx after Close: %v", err)
	}
}

// A function that ends the committing goroutine (runtime.Goexit, as
// t.Fatal does) fails its own Tx, and writing goes on.
func TestTxSurvivesGoexit(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	err := s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.CreateUser(ctx, NewUser{Username: "goexit", Email: "goexit@example.com"}); err != nil {
			return err
		}
		runtime.Goexit()
		return nil
	})
	if err == nil {
		t.Fatal("Tx whose function called Goexit succeeded")
	}
	if _, err := s.CreateUser(ctx, NewUser{Username: "after", Email: "after@example.com"}); err != nil {
		t.Fatalf("write after Goexit: %v", err)
	}
	if userCount(t, s, "goexit") != 0 || userCount(t, s, "after") != 1 {
		t.Error("the Goexit call's write was kept, or the next one lost")
	}
}
