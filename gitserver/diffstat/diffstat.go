// Package diffstat computes a pull request's statistics — commit count and
// per-file added/deleted lines — with the same numbers the git client
// prints for `git rev-list --count base..head` and
// `git diff --numstat base...head` (the diff from the merge base to head,
// with git's default rename detection), so the forge and a developer's
// terminal never disagree.
package diffstat

import (
	"bytes"
	"context"

	"fmt"
	"io"
	"path"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver/merge"
	"tapioca/gitserver/merge/linediff"
)

// FileStat is one changed file. A rename has OldPath set to where the file
// came from (git prints it as "old => new"); binary files have Binary set
// and count 0/0, as do mode-only changes and pure renames.
type FileStat struct {
	Path                 string
	OldPath              string
	Additions, Deletions int
	Binary               bool
}

// Stats summarises a pull request.
type Stats struct {
	Commits, Additions, Deletions, ChangedFiles int
	Files                                       []FileStat
}

// bigFileThreshold mirrors core.bigFileThreshold's default: git treats
// larger blobs as binary without looking inside.
const bigFileThreshold = 512 << 20

// Compute returns the statistics of merging headTip into baseTip. When the
// two share no history, git's three-dot diff fails; so does this, with
// merge.ErrNoMergeBase.
func Compute(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) (Stats, error) {
	var st Stats
	n, err := CountCommits(ctx, s, baseTip, headTip)
	if err != nil {
		return st, fmt.Errorf("diffstat: %w", err)
	}
	st.Commits = n
	changes, err := prChanges(ctx, s, baseTip, headTip)
	if err != nil {
		return st, fmt.Errorf("diffstat: %w", err)
	}
	d := &differ{s: s}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("diffstat: %w", err)
		}
		fs, err := d.numstat(c)
		if err != nil {
			return st, fmt.Errorf("diffstat: %s: %w", c.path(), err)
		}
		st.Files = append(st.Files, fs)
		st.Additions += fs.Additions
		st.Deletions += fs.Deletions
	}
	st.ChangedFiles = len(st.Files)
	return st, nil
}

// ChangedPaths lists the paths a pull request touches, in git's order —
// what `git diff --name-only base...head` prints (renames by their new
// path). Review comments are accepted only on these paths.
func ChangedPaths(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) ([]string, error) {
	changes, err := prChanges(ctx, s, baseTip, headTip)
	if err != nil {
		return nil, fmt.Errorf("changed paths: %w", err)
	}
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.path()
	}
	return out, nil
}

func prChanges(ctx context.Context, s storer.EncodedObjectStorer, baseTip, headTip plumbing.Hash) ([]change, error) {
	mb, err := merge.MergeBase(ctx, s, baseTip, headTip)
	if err != nil {
		return nil, err
	}
	from, err := object.GetCommit(s, mb)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", mb, err)
	}
	to, err := object.GetCommit(s, headTip)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", headTip, err)
	}
	d := &differ{s: s}
	var changes []change
	if err := d.diffTrees(ctx, "", from.TreeHash, to.TreeHash, &changes); err != nil {
		return nil, err
	}
	changes, err = d.detectRenames(ctx, changes)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].path() < changes[j].path() })
	return changes, nil
}

// change is one file pair; from or to is nil for an addition or deletion.
type change struct {
	from, to         *object.TreeEntry
	fromPath, toPath string
	score            int // rename similarity, 0 if not a rename
}

func (c change) path() string {
	if c.to != nil {
		return c.toPath
	}
	return c.fromPath
}

type differ struct {
	s storer.EncodedObjectStorer
}

func (d *differ) entries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	t, err := object.GetTree(d.s, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	return t.Entries, nil
}

// diffTrees appends the file-level differences between two trees,
// skipping subtrees whose hashes are equal. A name that is a file on one
// side and a directory on the other is a deletion plus additions, as in
// git, since git never pairs a blob with a tree.
func (d *differ) diffTrees(ctx context.Context, dir string, a, b plumbing.Hash, out *[]change) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ea, err := d.entries(a)
	if err != nil {
		return err
	}
	eb, err := d.entries(b)
	if err != nil {
		return err
	}
	type slot struct{ file, dir [2]*object.TreeEntry }
	slots := make(map[string]*slot)
	var names []string
	for side, es := range [][]object.TreeEntry{ea, eb} {
		for i := range es {
			e := &es[i]
			sl := slots[e.Name]
			if sl == nil {
				sl = &slot{}
				slots[e.Name] = sl
				names = append(names, e.Name)
			}
			if e.Mode == filemode.Dir {
				sl.dir[side] = e
			} else {
				sl.file[side] = e
			}
		}
	}
	for _, name := range names {
		sl := slots[name]
		p := path.Join(dir, name)
		fa, fb := sl.file[0], sl.file[1]
		if fa != nil || fb != nil {
			if fa == nil || fb == nil || fa.Hash != fb.Hash || fa.Mode != fb.Mode {
				*out = append(*out, change{from: fa, to: fb, fromPath: p, toPath: p})
			}
		}
		var da, db plumbing.Hash
		if sl.dir[0] != nil {
			da = sl.dir[0].Hash
		}
		if sl.dir[1] != nil {
			db = sl.dir[1].Hash
		}
		if err := d.diffTrees(ctx, p, da, db, out); err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) blob(e *object.TreeEntry) ([]byte, error) {
	if e.Mode == filemode.Submodule {
		// git diffs a submodule as this one-line text.
		return []byte("Subproject commit " + e.Hash.String() + "\n"), nil
	}
	o, err := d.s.EncodedObject(plumbing.BlobObject, e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", e.Hash, err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.Grow(int(o.Size()))
	if _, err := io.Copy(&b, r); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	return b.Bytes(), nil
}

func isBinary(data []byte) bool {
	return len(data) > bigFileThreshold || linediff.IsBinary(data)
}

// numstat counts one pair's lines as git's numstat does.
func (d *differ) numstat(c change) (FileStat, error) {
	fs := FileStat{Path: c.path()}
	if c.from != nil && c.to != nil && c.fromPath != c.toPath {
		fs.OldPath = c.fromPath
	}
	var a, b []byte
	var err error
	if c.from != nil {
		if a, err = d.blob(c.from); err != nil {
			return fs, err
		}
	}
	if c.to != nil {
		if b, err = d.blob(c.to); err != nil {
			return fs, err
		}
	}
	if isBinary(a) || isBinary(b) {
		fs.Binary = true
		return fs, nil
	}
	if c.from != nil && c.to != nil && c.from.Hash == c.to.Hash {
		return fs, nil
	}
	fs.Deletions, fs.Additions = linediff.Count(linediff.SplitLines(a), linediff.SplitLines(b))
	return fs, nil
}
