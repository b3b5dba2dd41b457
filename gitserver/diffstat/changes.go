package diffstat

import (
	"context"
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// MaxScore is the rename similarity of identical files, in git's units
// (git prints Score*100/MaxScore as "similarity index N%").
const MaxScore = maxScore

// Change is one file pair of a tree diff. From is nil for an added path
// and To for a deleted one; a rename has both, with different paths, and
// its similarity in Score (0 for anything but a rename). A path that
// changes between a file, a symlink and a submodule is one Change with
// both sides, as git's tree diff reports it.
type Change struct {
	From, To         *object.TreeEntry
	FromPath, ToPath string
	Score            int
}

// Path is where the change shows in a listing: the new path, or the old
// one for a deletion.
func (c Change) Path() string {
	if c.To != nil {
		return c.ToPath
	}
	return c.FromPath
}

// TreeChanges lists the files that differ between two trees (a zero hash
// is the empty tree) in the order `git diff` prints them. With renames
// set, deletions and additions are paired as `git diff` pairs them at its
// default settings (diff.renames=true, -M50%); without, as
// `git diff --no-renames`.
func TreeChanges(ctx context.Context, s storer.EncodedObjectStorer, from, to plumbing.Hash, renames bool) ([]Change, error) {
	d := &differ{s: s}
	var changes []change
	if err := d.diffTrees(ctx, "", from, to, &changes); err != nil {
		return nil, fmt.Errorf("tree changes: %w", err)
	}
	if renames {
		var err error
		if changes, err = d.detectRenames(ctx, changes); err != nil {
			return nil, fmt.Errorf("tree changes: %w", err)
		}
	}
	// git's tree walk gives full-path order (a directory sorts as its
	// name plus '/', as its paths do), with a rename at its new path.
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].path() < changes[j].path() })
	out := make([]Change, len(changes))
	for i, c := range changes {
		out[i] = Change{From: c.from, To: c.to, FromPath: c.fromPath, ToPath: c.toPath, Score: c.score}
	}
	return out, nil
}
