// Package merge merges branches inside a repository's object store, the
// way `git merge` (merge-ort) would, so the forge can merge, squash and
// rebase pull requests without a git binary or a work tree.
//
// It only writes objects (blobs, trees, commits) and returns the commit the
// base branch should move to; it never reads or moves refs, because the
// caller owns the compare-and-swap of the branch under its own lock.
//
// Differences from git, all on the side of caution (a conflict where git
// might merge) except the last: no rename detection, so a file renamed on
// one side and edited on the other is a modify/delete conflict here; when
// criss-cross history gives several merge bases they are merged into a
// virtual base as git does, but if that inner merge conflicts the merge is
// reported as conflicted instead of merging with conflict markers in the
// base; .gitattributes merge drivers are ignored (a bare repository has
// none in git 2.39 either). The one difference in the other direction: git
// 2.39 reports a file added inside a directory that the other side renamed
// as a conflict (directory rename detection), while this package, not
// seeing renames, merges it cleanly at its old place.
package merge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Signature names who authored or committed, and when.
type Signature struct {
	Name, Email string
	When        time.Time
}

func (s Signature) git() object.Signature {
	return object.Signature{Name: s.Name, Email: s.Email, When: s.When}
}

// Conflict is one path that could not be merged, with one of the Reason*
// constants (prefixed by the commit being replayed, for Rebase).
type Conflict struct {
	Path   string
	Reason string
}

// ErrConflict is returned when a merge is not clean. Nothing it computed is
// written to the store.
type ErrConflict struct {
	Conflicts []Conflict
}

func (e *ErrConflict) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "merge conflict in %d path(s)", len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i == 5 {
			fmt.Fprintf(&b, ", ...")
			break
		}
		sep := ": "
		if i > 0 {
			sep = ", "
		}
		fmt.Fprintf(&b, "%s%s (%s)", sep, c.Path, c.Reason)
	}
	return b.String()
}

var (
	// ErrUpToDate: the head commit is already contained in the base
	// branch, so there is nothing to merge.
	ErrUpToDate = errors.New("merge: head is already merged into base")
	// ErrMergeCommitInRange: Rebase only replays linear history; a merge
	// commit on the head branch cannot be replayed without losing what it
	// brought in.
	ErrMergeCommitInRange = errors.New("merge: cannot rebase a range that contains merge commits")
)

// MergeTrees merges the trees ours and theirs relative to base and returns
// the merged tree, written to s. When the merge is not clean it returns a
// zero hash and the conflicts, and writes nothing.
func MergeTrees(ctx context.Context, s storer.EncodedObjectStorer, base, ours, theirs plumbing.Hash) (plumbing.Hash, []Conflict, error) {
	m := newMerger(ctx, s)
	tree, err := m.rootTree(base, ours, theirs)
	if err != nil {
		return plumbing.ZeroHash, nil, fmt.Errorf("merge trees: %w", err)
	}
	if len(m.conflicts) > 0 {
		return plumbing.ZeroHash, m.conflicts, nil
	}
	if err := m.flush(); err != nil {
		return plumbing.ZeroHash, nil, fmt.Errorf("merge trees: %w", err)
	}
	return tree, nil, nil
}

// mergeCommits computes the merged tree of two commits in memory. It
// returns ErrUpToDate when theirs is already in ours, and *ErrConflict.
func mergeCommits(m *merger, g *graph, ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	bases, err := g.mergeBases(m.ctx, []plumbing.Hash{ours}, []plumbing.Hash{theirs})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(bases) == 0 {
		return plumbing.ZeroHash, ErrNoMergeBase
	}
	if len(bases) == 1 && bases[0] == theirs {
		return plumbing.ZeroHash, ErrUpToDate
	}
	baseTree, err := virtualBase(m, g, bases)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	oc, err := g.commit(ours)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tc, err := g.commit(theirs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree, err := m.rootTree(baseTree, oc.TreeHash, tc.TreeHash)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(m.conflicts) > 0 {
		return plumbing.ZeroHash, &ErrConflict{Conflicts: m.conflicts}
	}
	return tree, nil
}

// virtualBase returns the tree to use as merge base. With several bases
// (criss-cross merges) git merges them pairwise, oldest first, each pair
// against its own merge bases, and uses the result; so does this.
func virtualBase(m *merger, g *graph, bases []plumbing.Hash) (plumbing.Hash, error) {
	first, err := g.commit(bases[len(bases)-1])
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(bases) == 1 {
		return first.TreeHash, nil
	}
	accTree, accHeads := first.TreeHash, []plumbing.Hash{first.Hash}
	for i := len(bases) - 2; i >= 0; i-- {
		next, err := g.commit(bases[i])
		if err != nil {
			return plumbing.ZeroHash, err
		}
		inner, err := g.mergeBases(m.ctx, accHeads, []plumbing.Hash{next.Hash})
		if err != nil {
			return plumbing.ZeroHash, err
		}
		var innerTree plumbing.Hash
		if len(inner) > 0 {
			// An inner merge with no common ancestor uses the empty tree,
			// as git's recursive base merge does.
			if innerTree, err = virtualBase(m, g, inner); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		before := len(m.conflicts)
		tree, err := m.rootTree(innerTree, accTree, next.TreeHash)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(m.conflicts) > before {
			paths := m.conflicts[before:]
			m.conflicts = m.conflicts[:before]
			for _, c := range paths {
				m.conflict(c.Path, ReasonCrissCross)
			}
			return plumbing.ZeroHash, &ErrConflict{Conflicts: m.conflicts}
		}
		accTree, accHeads = tree, append(accHeads, next.Hash)
	}
	return accTree, nil
}

// Mergeable reports whether headTip merges cleanly into baseTip. It writes
// nothing. A head already contained in the base counts as mergeable.
func Mergeable(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) (bool, error) {
	m := newMerger(ctx, s)
	_, err := mergeCommits(m, newGraph(s), baseTip, headTip)
	var ce *ErrConflict
	switch {
	case err == nil, errors.Is(err, ErrUpToDate):
		return true, nil
	case errors.As(err, &ce):
		return false, nil
	}
	return false, fmt.Errorf("mergeable %s into %s: %w", headTip, baseTip, err)
}

// MergeCommit creates a merge commit with parents (baseTip, headTip), even
// when baseTip could be fast-forwarded, so the pull request stays visible
// in history as GitHub's "merge" button does.
func MergeCommit(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash, author, committer Signature, message string) (plumbing.Hash, error) {
	h, err := commitMerge(ctx, s, baseTip, headTip, author, committer, message, baseTip, headTip)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("merge %s into %s: %w", headTip, baseTip, err)
	}
	return h, nil
}

// Squash creates one commit on top of baseTip whose tree is the merge of
// headTip into baseTip.
func Squash(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash, author, committer Signature, message string) (plumbing.Hash, error) {
	h, err := commitMerge(ctx, s, baseTip, headTip, author, committer, message, baseTip)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("squash %s onto %s: %w", headTip, baseTip, err)
	}
	return h, nil
}

// commitMerge writes the merge of headTip into baseTip as a commit with
// the given parents: what MergeCommit and Squash differ in.
func commitMerge(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash, author, committer Signature, message string, parents ...plumbing.Hash) (plumbing.Hash, error) {
	m := newMerger(ctx, s)
	tree, err := mergeCommits(m, newGraph(s), baseTip, headTip)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := m.commit(&object.Commit{
		Author: author.git(), Committer: committer.git(), Message: normalizeMessage(message),
		TreeHash: tree, ParentHashes: parents,
	})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := m.flush(); err != nil {
		return plumbing.ZeroHash, err
	}
	return h, nil
}

// Rebase replays the commits of merge-base..headTip (first-parent chain,
// oldest first) onto baseTip, each as a three-way merge against its own
// parent like `git rebase` (cherry-pick) does. Each new commit keeps its
// author and message; the committer is the one given. A commit whose
// changes are already in the base (it becomes empty) is dropped, as git
// rebase does by default; a commit that was empty to begin with is kept.
// It returns the new tip, or baseTip itself if every commit was dropped.
// Any conflict stops it with *ErrConflict and nothing is referenced.
func Rebase(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash, committer Signature) (plumbing.Hash, error) {
	h, err := rebase(ctx, s, baseTip, headTip, committer)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("rebase %s onto %s: %w", headTip, baseTip, err)
	}
	return h, nil
}

func rebase(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash, committer Signature) (plumbing.Hash, error) {
	g := newGraph(s)
	bases, err := g.mergeBases(ctx, []plumbing.Hash{baseTip}, []plumbing.Hash{headTip})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(bases) == 0 {
		return plumbing.ZeroHash, ErrNoMergeBase
	}
	isBase := make(map[plumbing.Hash]bool, len(bases))
	for _, b := range bases {
		isBase[b] = true
	}
	if isBase[headTip] {
		return plumbing.ZeroHash, ErrUpToDate
	}
	var todo []*object.Commit
	for h := headTip; !isBase[h]; {
		if err := ctx.Err(); err != nil {
			return plumbing.ZeroHash, err
		}
		c, err := g.commit(h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch len(c.ParentHashes) {
		case 0:
			return plumbing.ZeroHash, fmt.Errorf("%s: reached a root commit before the merge base: %w", c.Hash, ErrNoMergeBase)
		case 1:
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s: %w", c.Hash, ErrMergeCommitInRange)
		}
		todo = append(todo, c)
		h = c.ParentHashes[0]
	}

	m := newMerger(ctx, s)
	cur, err := g.commit(baseTip)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tip, tipTree := cur.Hash, cur.TreeHash
	for i := len(todo) - 1; i >= 0; i-- {
		c := todo[i]
		parent, err := g.commit(c.ParentHashes[0])
		if err != nil {
			return plumbing.ZeroHash, err
		}
		tree, err := m.rootTree(parent.TreeHash, tipTree, c.TreeHash)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(m.conflicts) > 0 {
			for k := range m.conflicts {
				m.conflicts[k].Reason = fmt.Sprintf("%s (applying %s)", m.conflicts[k].Reason, c.Hash)
			}
			return plumbing.ZeroHash, &ErrConflict{Conflicts: m.conflicts}
		}
		if tree == tipTree && c.TreeHash != parent.TreeHash {
			continue
		}
		nc := &object.Commit{
			Author: c.Author, Committer: committer.git(), Message: c.Message,
			TreeHash: tree, ParentHashes: []plumbing.Hash{tip},
			Encoding: c.Encoding,
		}
		// Signatures and mergetags do not survive a rewrite; other extra
		// headers are dropped too, as git rebase does.
		tip, err = m.commit(nc)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		tipTree = tree
	}
	if err := m.flush(); err != nil {
		return plumbing.ZeroHash, err
	}
	return tip, nil
}

func (m *merger) commit(c *object.Commit) (plumbing.Hash, error) {
	o := &plumbing.MemoryObject{}
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	return m.put(o), nil
}

// normalizeMessage ends the message with a newline, as `git commit` does,
// so logs and patch tools see a well-formed body.
func normalizeMessage(msg string) string {
	if msg == "" || strings.HasSuffix(msg, "\n") {
		return msg
	}
	return msg + "\n"
}
