package diffstat

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// slop is how many extra commits the walk examines after it believes it is
// done, to survive committer dates that go backwards (git uses the same
// margin in its revision walk).
const slop = 5

const (
	fromHead uint8 = 1 << iota
	fromBase
)

type walkItem struct {
	c   *object.Commit
	seq int
}

type walkQueue struct {
	items []walkItem
	seq   int
}

func (q *walkQueue) Len() int { return len(q.items) }
func (q *walkQueue) Less(i, j int) bool {
	ti, tj := q.items[i].c.Committer.When, q.items[j].c.Committer.When
	if !ti.Equal(tj) {
		return ti.After(tj)
	}
	return q.items[i].seq < q.items[j].seq
}
func (q *walkQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *walkQueue) Push(x any)    { q.items = append(q.items, x.(walkItem)) }
func (q *walkQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

// CountCommits returns how many commits are reachable from headTip but not
// from baseTip (`git rev-list --count base..head`). It walks newest first
// and stops once only base-reachable commits remain that are older than
// every head-only commit found, so it reads the pull request's commits and
// a few more, not the whole history.
func CountCommits(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) (int, error) {
	cs, err := headOnly(ctx, s, baseTip, headTip)
	return len(cs), err
}

// Commits returns the commits reachable from headTip but not from baseTip
// (`git rev-list base..head`), oldest first by committer date: every commit
// a pull request brings, including those on branches it merged in.
func Commits(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) ([]*object.Commit, error) {
	out, err := headOnly(ctx, s, baseTip, headTip)
	// The walk's reverse discovery order puts parents before children; the
	// stable sort by date keeps that order among commits of one second.
	slices.SortStableFunc(out, func(x, y *object.Commit) int {
		return x.Committer.When.Compare(y.Committer.When)
	})
	return out, err
}

// headOnly walks both histories newest first and returns the head-only
// commits, parents before children.
func headOnly(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) ([]*object.Commit, error) {
	flags := make(map[plumbing.Hash]uint8)
	commits := make(map[plumbing.Hash]*object.Commit)
	var seen []plumbing.Hash // discovery order, newest first
	q := &walkQueue{}
	push := func(h plumbing.Hash, f uint8) error {
		old := flags[h]
		if old|f == old && old != 0 {
			return nil
		}
		flags[h] = old | f
		c, ok := commits[h]
		if !ok {
			var err error
			if c, err = object.GetCommit(s, h); err != nil {
				return fmt.Errorf("read commit %s: %w", h, err)
			}
			commits[h] = c
			seen = append(seen, h)
		}
		q.seq++
		heap.Push(q, walkItem{c: c, seq: q.seq})
		return nil
	}
	if err := push(headTip, fromHead); err != nil {
		return nil, err
	}
	if err := push(baseTip, fromBase); err != nil {
		return nil, err
	}
	// The oldest commit ever seen as head-only; tracking it monotonically
	// may walk a little further than needed but never stops too early.
	var oldest time.Time
	extra := slop
	for q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := heap.Pop(q).(walkItem).c
		f := flags[c.Hash]
		if f == fromHead && (oldest.IsZero() || c.Committer.When.Before(oldest)) {
			oldest = c.Committer.When
		}
		for _, p := range c.ParentHashes {
			if err := push(p, f); err != nil {
				return nil, err
			}
		}
		if interesting(q, flags, oldest) {
			extra = slop
		} else if extra--; extra <= 0 {
			break
		}
	}
	var out []*object.Commit
	for _, h := range slices.Backward(seen) {
		if flags[h] == fromHead {
			out = append(out, commits[h])
		}
	}
	return out, nil
}

// interesting reports whether the walk must go on: some queued commit is
// not known to be in base, or a queued base commit is not older than the
// oldest head-only commit (it could still reach it).
func interesting(q *walkQueue, flags map[plumbing.Hash]uint8, oldest time.Time) bool {
	for _, it := range q.items {
		if flags[it.c.Hash]&fromBase == 0 {
			return true
		}
		if !oldest.IsZero() && !it.c.Committer.When.Before(oldest) {
			return true
		}
	}
	return false
}
