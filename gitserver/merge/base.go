package merge

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrNoMergeBase is returned when two commits share no history; git
// refuses such merges too ("refusing to merge unrelated histories").
var ErrNoMergeBase = errors.New("merge: commits have no common ancestor")

// graph caches decoded commits for one operation, so walks that revisit
// commits (painting, redundancy checks, rebase) decode each only once.
type graph struct {
	s       storer.EncodedObjectStorer
	commits map[plumbing.Hash]*object.Commit
}

func newGraph(s storer.EncodedObjectStorer) *graph {
	return &graph{s: s, commits: make(map[plumbing.Hash]*object.Commit)}
}

func (g *graph) commit(h plumbing.Hash) (*object.Commit, error) {
	if c, ok := g.commits[h]; ok {
		return c, nil
	}
	c, err := object.GetCommit(g.s, h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	g.commits[h] = c
	return c, nil
}

// dateQueue pops the newest commit first, ties in insertion order, like
// git's commit priority queue; the order changes only speed, not results.
type dateQueue struct {
	items []queued
	seq   int
}

type queued struct {
	c   *object.Commit
	seq int
}

func (q *dateQueue) Len() int { return len(q.items) }
func (q *dateQueue) Less(i, j int) bool {
	ti, tj := q.items[i].c.Committer.When, q.items[j].c.Committer.When
	if !ti.Equal(tj) {
		return ti.After(tj)
	}
	return q.items[i].seq < q.items[j].seq
}
func (q *dateQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *dateQueue) Push(x any)    { q.items = append(q.items, x.(queued)) }
func (q *dateQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

func (q *dateQueue) push(c *object.Commit) {
	q.seq++
	heap.Push(q, queued{c: c, seq: q.seq})
}

func (q *dateQueue) pop() *object.Commit { return heap.Pop(q).(queued).c }

const (
	flagOne uint8 = 1 << iota
	flagTwo
	flagStale
	flagResult
)

// paint walks down from both sets until every remaining path is known to
// lead only below a common ancestor (git's paint_down_to_common). It
// returns the candidates and the flags it left, which the redundancy
// check reads.
func (g *graph) paint(ctx context.Context, ones, twos []plumbing.Hash) ([]plumbing.Hash, map[plumbing.Hash]uint8, error) {
	flags := make(map[plumbing.Hash]uint8)
	q := &dateQueue{}
	for _, set := range []struct {
		hs []plumbing.Hash
		f  uint8
	}{{ones, flagOne}, {twos, flagTwo}} {
		for _, h := range set.hs {
			c, err := g.commit(h)
			if err != nil {
				return nil, nil, err
			}
			flags[h] |= set.f
			q.push(c)
		}
	}
	var results []plumbing.Hash
	nonStale := func() bool {
		for _, it := range q.items {
			if flags[it.c.Hash]&flagStale == 0 {
				return true
			}
		}
		return false
	}
	for q.Len() > 0 && nonStale() {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		c := q.pop()
		f := flags[c.Hash] & (flagOne | flagTwo | flagStale)
		if f == flagOne|flagTwo {
			if flags[c.Hash]&flagResult == 0 {
				flags[c.Hash] |= flagResult
				results = append(results, c.Hash)
			}
			f |= flagStale
		}
		for _, p := range c.ParentHashes {
			if flags[p]&f == f {
				continue
			}
			pc, err := g.commit(p)
			if err != nil {
				return nil, nil, err
			}
			flags[p] |= f
			q.push(pc)
		}
	}
	var out []plumbing.Hash
	for _, h := range results {
		if flags[h]&flagStale == 0 {
			out = append(out, h)
		}
	}
	return out, flags, nil
}

// mergeBases returns the best common ancestors of the two sets, newest
// first, as `git merge-base --all` would.
func (g *graph) mergeBases(ctx context.Context, ones, twos []plumbing.Hash) ([]plumbing.Hash, error) {
	for _, a := range ones {
		for _, b := range twos {
			if a == b {
				return []plumbing.Hash{a}, nil
			}
		}
	}
	cands, _, err := g.paint(ctx, ones, twos)
	if err != nil {
		return nil, err
	}
	if len(cands) > 1 {
		if cands, err = g.removeRedundant(ctx, cands); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return g.commits[cands[i]].Committer.When.After(g.commits[cands[j]].Committer.When)
	})
	return cands, nil
}

// removeRedundant drops candidates that are ancestors of other candidates.
func (g *graph) removeRedundant(ctx context.Context, cands []plumbing.Hash) ([]plumbing.Hash, error) {
	redundant := make([]bool, len(cands))
	for i := range cands {
		if redundant[i] {
			continue
		}
		var others []plumbing.Hash
		var idx []int
		for j := range cands {
			if j != i && !redundant[j] {
				others = append(others, cands[j])
				idx = append(idx, j)
			}
		}
		_, flags, err := g.paint(ctx, []plumbing.Hash{cands[i]}, others)
		if err != nil {
			return nil, err
		}
		if flags[cands[i]]&flagTwo != 0 {
			redundant[i] = true
		}
		for k, h := range others {
			if flags[h]&flagOne != 0 {
				redundant[idx[k]] = true
			}
		}
	}
	var out []plumbing.Hash
	for i, h := range cands {
		if !redundant[i] {
			out = append(out, h)
		}
	}
	return out, nil
}

// MergeBase returns the best common ancestor of commits a and b. When a
// criss-cross history gives several, it returns the newest by committer
// date (what `git merge-base` prints first); the merge functions
// themselves do not rely on that pick but merge all bases, as git does.
func MergeBase(ctx context.Context, s storer.EncodedObjectStorer, a, b plumbing.Hash) (plumbing.Hash, error) {
	bases, err := newGraph(s).mergeBases(ctx, []plumbing.Hash{a}, []plumbing.Hash{b})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("merge base of %s and %s: %w", a, b, err)
	}
	if len(bases) == 0 {
		return plumbing.ZeroHash, fmt.Errorf("merge base of %s and %s: %w", a, b, ErrNoMergeBase)
	}
	return bases[0], nil
}

// MergeBases returns all best common ancestors of a and b, newest first
// (`git merge-base --all`).
func MergeBases(ctx context.Context, s storer.EncodedObjectStorer, a, b plumbing.Hash) ([]plumbing.Hash, error) {
	bases, err := newGraph(s).mergeBases(ctx, []plumbing.Hash{a}, []plumbing.Hash{b})
	if err != nil {
		return nil, fmt.Errorf("merge bases of %s and %s: %w", a, b, err)
	}
	return bases, nil
}
