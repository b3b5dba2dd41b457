package browse

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// History walks in git's default order (what `git log` prints without
// --topo-order or --date-order): a queue of commits ordered by committer
// date, newest first, ties in the order they were queued; each commit
// taken from the queue queues its parents. With clock skew a parent can
// come before its child, in git too; reproducing the walk exactly keeps
// pagination and patch-series order identical to the git client's.

const (
	fSeen uint8 = 1 << iota
	fAdded
	fUninteresting
	fTreesame
)

// slop is how many extra commits a range walk reads after it seems done,
// to survive committer dates that go backwards (git's SLOP).
const slop = 5

// node is a commit in a walk, read only as far as the walk needs: the
// full commit is decoded (full) only for commits that are shown.
type node struct {
	hash        plumbing.Hash
	tree        plumbing.Hash
	origParents []plumbing.Hash // as stored
	parents     []plumbing.Hash // after history simplification
	time        int64           // committer date, seconds
	raw         []byte          // the commit object, shared with the store
	flags       uint8
	seq         int
}

type walker struct {
	ctx   context.Context
	r     *Repo
	nodes map[plumbing.Hash]*node
	q     nodeQueue
	seq   int
	steps int
}

func newWalker(ctx context.Context, r *Repo) *walker {
	return &walker{ctx: ctx, r: r, nodes: map[plumbing.Hash]*node{}}
}

type nodeQueue []*node

func (q nodeQueue) Len() int { return len(q) }
func (q nodeQueue) Less(i, j int) bool {
	ti, tj := q[i].time, q[j].time
	if ti != tj {
		return ti > tj
	}
	return q[i].seq < q[j].seq
}
func (q nodeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *nodeQueue) Push(x any)   { *q = append(*q, x.(*node)) }
func (q *nodeQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// get loads a commit ("parses" it, in git's terms).
func (w *walker) get(h plumbing.Hash) (*node, error) {
	if n, ok := w.nodes[h]; ok {
		return n, nil
	}
	typ, data, err := w.r.store.Read(h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	if typ != plumbing.CommitObject {
		return nil, fmt.Errorf("%s is a %s: %w", h, typ, ErrNotCommit)
	}
	n := &node{hash: h, raw: data}
	if err := parseCommitHeader(data, n); err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	n.parents = n.origParents
	w.nodes[h] = n
	return n, nil
}

// full decodes a commit for showing it.
func (w *walker) full(n *node) (*object.Commit, error) { return w.r.commit(n.hash) }

var errMalformed = errors.New("malformed commit")

// parseCommitHeader reads the tree, parents and committer date.
func parseCommitHeader(data []byte, n *node) error {
	sawTree := false
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(line) == 0 {
			break
		}
		key, val, _ := bytes.Cut(line, []byte{' '})
		switch string(key) {
		case "tree":
			h, ok := parseHex(val)
			if !ok {
				return errMalformed
			}
			n.tree, sawTree = h, true
		case "parent":
			h, ok := parseHex(val)
			if !ok {
				return errMalformed
			}
			n.origParents = append(n.origParents, h)
		case "committer":
			n.time = identTime(val)
		}
	}
	if !sawTree {
		return errMalformed
	}
	return nil
}

func parseHex(b []byte) (plumbing.Hash, bool) {
	var h plumbing.Hash
	if len(b) != 40 {
		return h, false
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return h, false
	}
	return h, true
}

// identTime is the epoch in "Name <email> 1700000000 +0000".
func identTime(b []byte) int64 {
	if i := bytes.LastIndexByte(b, '>'); i >= 0 {
		b = b[i+1:]
	}
	fs := bytes.Fields(b)
	if len(fs) == 0 {
		return 0
	}
	t, _ := strconv.ParseInt(string(fs[0]), 10, 64)
	return t
}

// author returns the author's name and email from the raw commit.
func (n *node) author() (name, email string) {
	data := n.raw
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(line) == 0 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("author ")); ok {
			lt, gt := bytes.IndexByte(v, '<'), bytes.LastIndexByte(v, '>')
			if lt < 0 || gt < lt {
				return string(bytes.TrimSpace(v)), ""
			}
			return string(bytes.TrimSpace(v[:lt])), string(v[lt+1 : gt])
		}
	}
	return "", ""
}

func (w *walker) push(n *node) {
	n.flags |= fSeen
	w.seq++
	n.seq = w.seq
	heap.Push(&w.q, n)
}

func (w *walker) pop() *node { return heap.Pop(&w.q).(*node) }

func (w *walker) tick() error {
	w.steps++
	if w.steps&255 == 0 {
		return w.ctx.Err()
	}
	return nil
}

// start queues the tips, newest first, as git sorts its initial list.
func (w *walker) start(tips []plumbing.Hash, uninteresting bool) error {
	for _, h := range tips {
		n, err := w.get(h)
		if err != nil {
			return err
		}
		if uninteresting {
			n.flags |= fUninteresting
			if err := w.markParentsUninteresting(n); err != nil {
				return err
			}
		}
		if n.flags&fSeen == 0 {
			w.push(n)
		}
	}
	return nil
}

// markParentsUninteresting flags n's ancestors that are already loaded;
// the others get the flag when they are reached.
func (w *walker) markParentsUninteresting(n *node) error {
	stack := append([]plumbing.Hash(nil), n.origParents...)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p, ok := w.nodes[h]
		if !ok {
			// Not loaded: mark it now so it is uninteresting when met.
			var err error
			if p, err = w.get(h); err != nil {
				return err
			}
			p.flags |= fUninteresting
			continue
		}
		if p.flags&fUninteresting != 0 {
			continue
		}
		p.flags |= fUninteresting
		stack = append(stack, p.origParents...)
	}
	return nil
}

// processParents queues n's parents (simplified first when simplify is
// set) and, for an uninteresting commit, passes the flag on.
func (w *walker) processParents(n *node, simplify func(*node) error) error {
	if n.flags&fAdded != 0 {
		return nil
	}
	n.flags |= fAdded
	if n.flags&fUninteresting != 0 {
		for _, h := range n.origParents {
			p, err := w.get(h)
			if err != nil {
				return err
			}
			p.flags |= fUninteresting
			if err := w.markParentsUninteresting(p); err != nil {
				return err
			}
			if p.flags&fSeen == 0 {
				w.push(p)
			}
		}
		return nil
	}
	if simplify != nil {
		if err := simplify(n); err != nil {
			return err
		}
	}
	for _, h := range n.parents {
		p, err := w.get(h)
		if err != nil {
			return err
		}
		if p.flags&fSeen == 0 {
			w.push(p)
		}
	}
	return nil
}

// rangeCommits returns the commits reachable from head but not from any
// of bases, in `git log bases..head` order (git's limit_list).
func (w *walker) rangeCommits(head plumbing.Hash, bases []plumbing.Hash) ([]*node, error) {
	if err := w.start(bases, true); err != nil {
		return nil, err
	}
	if err := w.start([]plumbing.Hash{head}, false); err != nil {
		return nil, err
	}
	var out []*node
	left := slop
	var newest int64 = 1<<63 - 1 // date of the last interesting commit listed
	for w.q.Len() > 0 {
		if err := w.tick(); err != nil {
			return nil, err
		}
		n := w.pop()
		if err := w.processParents(n, nil); err != nil {
			return nil, err
		}
		if n.flags&fUninteresting != 0 {
			if err := w.markParentsUninteresting(n); err != nil {
				return nil, err
			}
			left = w.stillInteresting(newest, left)
			if left == 0 {
				break
			}
			continue
		}
		newest = n.time
		out = append(out, n)
	}
	kept := out[:0]
	for _, n := range out {
		if n.flags&fUninteresting == 0 {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// stillInteresting is git's still_interesting: keep walking while the
// queue holds interesting commits or ones newer than the last listed,
// then for slop more commits.
func (w *walker) stillInteresting(date int64, left int) int {
	if w.q.Len() == 0 {
		return 0
	}
	if date <= w.q[0].time {
		return slop
	}
	for _, n := range w.q {
		if n.flags&fUninteresting == 0 {
			return slop
		}
	}
	return left - 1
}

func (w *walker) countRange(head plumbing.Hash, bases []plumbing.Hash) (int, error) {
	ns, err := w.rangeCommits(head, bases)
	return len(ns), err
}

func walkErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("history: %w", err)
}
