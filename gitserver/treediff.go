package gitserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// FileChangeKind says how a file differs between two commits.
type FileChangeKind int

// File change kinds. A rename is a deletion and an addition.
const (
	FileAdded FileChangeKind = iota + 1
	FileModified
	FileDeleted
)

func (k FileChangeKind) String() string {
	switch k {
	case FileAdded:
		return "added"
	case FileModified:
		return "modified"
	case FileDeleted:
		return "deleted"
	}
	return "unknown"
}

// FileChange is one file that differs between two commits' trees.
type FileChange struct {
	Path string
	Kind FileChangeKind
	// Mode and Hash are the file's (its old ones for a deletion): a
	// regular file's or a symbolic link's blob.
	Mode uint32
	Hash plumbing.Hash
}

// DiffFiles calls fn for each file that differs between the trees of
// commits from and to, in byte order of their paths (git's tree order
// read depth first), starting after the path after ("" = from the
// start), so an interrupted walk resumes where it stopped. A zero from
// lists every file of to as added. Submodules are not files and are
// left out; a mode change is a modification. Only the trees on the way
// are held in memory, never the whole list.
func DiffFiles(ctx context.Context, st *ObjectStore, from, to plumbing.Hash, after string, fn func(FileChange) error) error {
	d := &treeDiff{ctx: ctx, st: st, after: after, fn: fn}
	var a, b plumbing.Hash
	var err error
	if !from.IsZero() {
		if a, err = d.commitTree(from); err != nil {
			return err
		}
	}
	if b, err = d.commitTree(to); err != nil {
		return err
	}
	return d.diff(a, b, "")
}

type treeDiff struct {
	ctx   context.Context
	st    *ObjectStore
	after string
	fn    func(FileChange) error
	steps int
}

func (d *treeDiff) commitTree(h plumbing.Hash) (plumbing.Hash, error) {
	typ, data, err := d.read(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if typ != objCommit {
		return plumbing.ZeroHash, fmt.Errorf("object %s is a %s, not a commit", h, typ)
	}
	c, err := parseCommit(data)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
	}
	return c.tree, nil
}

func (d *treeDiff) read(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	typ, data, err := d.st.Read(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return typ, nil, fmt.Errorf("object %s: %w", h, ErrNotFound)
	}
	return typ, data, err
}

func (d *treeDiff) tree(h plumbing.Hash) ([]treeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	typ, data, err := d.read(h)
	if err != nil {
		return nil, err
	}
	if typ != objTree {
		return nil, fmt.Errorf("object %s is a %s, not a tree", h, typ)
	}
	ents, err := parseTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	// The entries' names point into data, which the store may share
	// with its cache and reuse: keep copies.
	out := make([]treeEntry, len(ents))
	for i, e := range ents {
		out[i] = e
		out[i].name = append([]byte(nil), e.name...)
	}
	return out, nil
}

// skipped reports whether everything at p (a file, or with dir a whole
// directory) comes at or before d.after in path order.
func (d *treeDiff) skipped(p string, dir bool) bool {
	if d.after == "" {
		return false
	}
	if !dir {
		return p <= d.after
	}
	prefix := p + "/"
	return !strings.HasPrefix(d.after, prefix) && prefix < d.after
}

// diff compares two trees (zero = empty) under dir, entries merged in
// tree order: a directory sorts as its name followed by "/", which is
// what makes the files come out in byte order of their paths.
func (d *treeDiff) diff(a, b plumbing.Hash, dir string) error {
	if a == b {
		return nil
	}
	if d.steps++; d.steps&255 == 0 {
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	ea, err := d.tree(a)
	if err != nil {
		return err
	}
	eb, err := d.tree(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ea) || j < len(eb) {
		var x, y *treeEntry
		switch {
		case i == len(ea):
			y = &eb[j]
		case j == len(eb):
			x = &ea[i]
		default:
			switch c := compareEntries(ea[i], eb[j]); {
			case c < 0:
				x = &ea[i]
			case c > 0:
				y = &eb[j]
			default:
				x, y = &ea[i], &eb[j]
			}
		}
		if x != nil {
			i++
		}
		if y != nil {
			j++
		}
		if err := d.entry(x, y, dir); err != nil {
			return err
		}
	}
	return nil
}

// entry handles one name present in either tree or both (same kind:
// entries of different kinds sort apart). Submodules are skipped.
func (d *treeDiff) entry(x, y *treeEntry, dir string) error {
	e := x
	if e == nil {
		e = y
	}
	if e.isGitlnk() || (x != nil && y != nil && x.isGitlnk() != y.isGitlnk()) {
		if x != nil && y != nil && x.isGitlnk() != y.isGitlnk() {
			// A file became a submodule or back: only the file side
			// counts.
			if !x.isGitlnk() {
				return d.file(x, nil, dir)
			}
			return d.file(nil, y, dir)
		}
		return nil
	}
	if e.isTree() {
		p := dir + string(e.name)
		if d.skipped(p, true) {
			return nil
		}
		var ha, hb plumbing.Hash
		if x != nil {
			ha = x.hash
		}
		if y != nil {
			hb = y.hash
		}
		return d.diff(ha, hb, p+"/")
	}
	return d.file(x, y, dir)
}

func (d *treeDiff) file(x, y *treeEntry, dir string) error {
	e := x
	if e == nil {
		e = y
	}
	p := dir + string(e.name)
	if d.skipped(p, false) {
		return nil
	}
	switch {
	case x == nil:
		return d.fn(FileChange{Path: p, Kind: FileAdded, Mode: y.mode, Hash: y.hash})
	case y == nil:
		return d.fn(FileChange{Path: p, Kind: FileDeleted, Mode: x.mode, Hash: x.hash})
	case x.hash != y.hash || x.mode != y.mode:
		return d.fn(FileChange{Path: p, Kind: FileModified, Mode: y.mode, Hash: y.hash})
	}
	return nil
}
