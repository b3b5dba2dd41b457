package browse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver/gitdiff"
	"tapioca/gitserver/merge"
)

// ErrNoMergeBase is returned by Compare (and the three-dot diffs) for
// two commits with no common history; it wraps merge.ErrNoMergeBase.
var ErrNoMergeBase = fmt.Errorf("no common ancestor: %w", merge.ErrNoMergeBase)

// Stats sums a diff's lines.
type Stats struct {
	Additions, Deletions, Total int
}

func statsOf(files []gitdiff.File) Stats {
	var s Stats
	for _, f := range files {
		s.Additions += f.Additions
		s.Deletions += f.Deletions
	}
	s.Total = s.Additions + s.Deletions
	return s
}

// CommitDetail is a commit with what it changed against its first parent
// (the empty tree for a root commit), as GitHub's single-commit answer.
type CommitDetail struct {
	Commit
	Files []gitdiff.File
	Stats Stats
}

// DiffOptions is gitdiff.Options without the abbreviation, which the
// Repo supplies from its own objects.
type DiffOptions struct {
	NoRenames     bool
	MaxPatchBytes int
}

func (r *Repo) diffOptions(o DiffOptions) (gitdiff.Options, error) {
	if r.abbrev == nil {
		a, err := gitdiff.NewAbbreviator(r.path)
		if err != nil {
			return gitdiff.Options{}, err
		}
		r.abbrev = a
	}
	return gitdiff.Options{NoRenames: o.NoRenames, MaxPatchBytes: o.MaxPatchBytes, Abbrev: r.abbrev.Abbrev}, nil
}

// CommitDetail returns the commit rev names with its changed files.
func (r *Repo) CommitDetail(ctx context.Context, rev string, o DiffOptions) (*CommitDetail, error) {
	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	from, err := r.firstParentTree(c)
	if err != nil {
		return nil, err
	}
	opts, err := r.diffOptions(o)
	if err != nil {
		return nil, err
	}
	files, err := gitdiff.Files(ctx, r.st, from, c.TreeHash, opts)
	if err != nil {
		return nil, err
	}
	return &CommitDetail{Commit: commitOf(c), Files: files, Stats: statsOf(files)}, nil
}

func (r *Repo) firstParentTree(c *object.Commit) (plumbing.Hash, error) {
	if len(c.ParentHashes) == 0 {
		return plumbing.ZeroHash, nil
	}
	p, err := r.commit(c.ParentHashes[0])
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return p.TreeHash, nil
}

// Comparison is GitHub's compare of base...head: the merge base, how far
// each side has moved, the commits head has and base has not, and the
// diff from the merge base to head.
type Comparison struct {
	Base, Head, MergeBase plumbing.Hash
	// Status is "identical", "ahead", "behind" or "diverged".
	Status            string
	AheadBy, BehindBy int
	// Commits are base..head, oldest first (GitHub's order: the reverse
	// of git log's), at most MaxCommits of them: the oldest ones.
	Commits []Commit
	Files   []gitdiff.File
	Stats   Stats
}

// DefaultCompareCommits is how many commits Compare lists when
// CompareOptions.MaxCommits is 0 (GitHub lists 250).
const DefaultCompareCommits = 250

// CompareOptions tune Compare.
type CompareOptions struct {
	DiffOptions
	MaxCommits int
}

// Compare compares two revisions as GitHub's compare endpoint does.
func (r *Repo) Compare(ctx context.Context, base, head string, o CompareOptions) (*Comparison, error) {
	cs, err := r.commitsAt(ctx, base, head)
	if err != nil {
		return nil, err
	}
	bc, hc := cs[0], cs[1]
	mb, err := r.mergeBase(ctx, bc.Hash, hc.Hash)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Base: bc.Hash, Head: hc.Hash, MergeBase: mb}
	ahead, err := newWalker(ctx, r).rangeCommits(hc.Hash, []plumbing.Hash{bc.Hash})
	if err != nil {
		return nil, walkErr(err)
	}
	behind, err := newWalker(ctx, r).countRange(bc.Hash, []plumbing.Hash{hc.Hash})
	if err != nil {
		return nil, walkErr(err)
	}
	cmp.AheadBy, cmp.BehindBy = len(ahead), behind
	switch {
	case cmp.AheadBy == 0 && cmp.BehindBy == 0:
		cmp.Status = "identical"
	case cmp.BehindBy == 0:
		cmp.Status = "ahead"
	case cmp.AheadBy == 0:
		cmp.Status = "behind"
	default:
		cmp.Status = "diverged"
	}
	maxCommits := o.MaxCommits
	if maxCommits <= 0 {
		maxCommits = DefaultCompareCommits
	}
	w := newWalker(ctx, r)
	for _, n := range slices.Backward(ahead) {
		if len(cmp.Commits) == maxCommits {
			break
		}
		c, err := w.full(n)
		if err != nil {
			return nil, err
		}
		cmp.Commits = append(cmp.Commits, commitOf(c))
	}
	mbc, err := r.commit(mb)
	if err != nil {
		return nil, err
	}
	opts, err := r.diffOptions(o.DiffOptions)
	if err != nil {
		return nil, err
	}
	if cmp.Files, err = gitdiff.Files(ctx, r.st, mbc.TreeHash, hc.TreeHash, opts); err != nil {
		return nil, err
	}
	cmp.Stats = statsOf(cmp.Files)
	return cmp, nil
}

func (r *Repo) mergeBase(ctx context.Context, a, b plumbing.Hash) (plumbing.Hash, error) {
	mb, err := merge.MergeBase(ctx, r.st, a, b)
	if errors.Is(err, merge.ErrNoMergeBase) {
		return plumbing.ZeroHash, fmt.Errorf("%s and %s: %w", a, b, ErrNoMergeBase)
	}
	return mb, err
}

// WriteCommitDiff writes `git diff <rev>^ <rev>` (against the empty tree
// for a root commit; the first parent for a merge).
func (r *Repo) WriteCommitDiff(ctx context.Context, w io.Writer, rev string, o DiffOptions) error {
	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return err
	}
	from, err := r.firstParentTree(c)
	if err != nil {
		return err
	}
	opts, err := r.diffOptions(o)
	if err != nil {
		return err
	}
	return gitdiff.WriteDiff(ctx, w, r.st, from, c.TreeHash, opts)
}

// WriteCompareDiff writes `git diff base...head`: from the merge base to
// head, what a pull request's diff shows.
func (r *Repo) WriteCompareDiff(ctx context.Context, w io.Writer, base, head string, o DiffOptions) error {
	cs, err := r.commitsAt(ctx, base, head)
	if err != nil {
		return err
	}
	bc, hc := cs[0], cs[1]
	mb, err := r.mergeBase(ctx, bc.Hash, hc.Hash)
	if err != nil {
		return err
	}
	mbc, err := r.commit(mb)
	if err != nil {
		return err
	}
	opts, err := r.diffOptions(o)
	if err != nil {
		return err
	}
	return gitdiff.WriteDiff(ctx, w, r.st, mbc.TreeHash, hc.TreeHash, opts)
}

// WritePatchSeries writes `git format-patch --stdout base..head`; an
// empty base gives the single commit head (`git format-patch -1 head`).
// signature is printed after "-- " at the end of each patch (git prints
// its version); empty leaves it out.
func (r *Repo) WritePatchSeries(ctx context.Context, w io.Writer, base, head, signature string, o DiffOptions) error {
	revs := []string{head}
	if base != "" {
		revs = append(revs, base)
	}
	cs, err := r.commitsAt(ctx, revs...)
	if err != nil {
		return err
	}
	hc := cs[0]
	var commits []*object.Commit
	if base == "" {
		commits = []*object.Commit{hc}
	} else {
		ns, err := newWalker(ctx, r).rangeCommits(hc.Hash, []plumbing.Hash{cs[1].Hash})
		if err != nil {
			return walkErr(err)
		}
		for _, n := range slices.Backward(ns) {
			c, err := r.commit(n.hash)
			if err != nil {
				return err
			}
			commits = append(commits, c)
		}
	}
	opts, err := r.diffOptions(o)
	if err != nil {
		return err
	}
	return gitdiff.WriteFormatPatch(ctx, w, r.st, commits, gitdiff.PatchOptions{Options: opts, Signature: signature})
}

// FilesSinceMergeBase lists what head changed since it left base: the
// files of `git diff base...head`, as a pull request's files page shows.
func (r *Repo) FilesSinceMergeBase(ctx context.Context, base, head string, o DiffOptions) ([]gitdiff.File, error) {
	cs, err := r.commitsAt(ctx, base, head)
	if err != nil {
		return nil, err
	}
	mb, err := r.mergeBase(ctx, cs[0].Hash, cs[1].Hash)
	if err != nil {
		return nil, err
	}
	mbc, err := r.commit(mb)
	if err != nil {
		return nil, err
	}
	opts, err := r.diffOptions(o)
	if err != nil {
		return nil, err
	}
	return gitdiff.Files(ctx, r.st, mbc.TreeHash, cs[1].TreeHash, opts)
}

// RangeCommits lists the commits of base..head oldest first (a pull
// request's commits), at most limit of them (all if limit <= 0), and how
// many there are in all.
func (r *Repo) RangeCommits(ctx context.Context, base, head string, limit int) ([]Commit, int, error) {
	cs, err := r.commitsAt(ctx, base, head)
	if err != nil {
		return nil, 0, err
	}
	ns, err := newWalker(ctx, r).rangeCommits(cs[1].Hash, []plumbing.Hash{cs[0].Hash})
	if err != nil {
		return nil, 0, walkErr(err)
	}
	var out []Commit
	for _, n := range slices.Backward(ns) {
		if limit > 0 && len(out) == limit {
			break
		}
		c, err := r.commit(n.hash)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, commitOf(c))
	}
	return out, len(ns), nil
}
