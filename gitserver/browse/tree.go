package browse

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TreeEntry is one entry of a tree listing, as git ls-tree -r -t -l
// shows it: Type is "blob", "tree" or "commit" (a submodule), Size is
// set for blobs.
type TreeEntry struct {
	Path string
	Mode filemode.FileMode
	Type string
	SHA  plumbing.Hash
	Size int64
}

// Tree is a listing of one tree.
type Tree struct {
	SHA     plumbing.Hash
	Entries []TreeEntry
	// Truncated is set when the listing stopped at the limit.
	Truncated bool
}

// Tree lists the tree that rev names: a commit-ish (its root tree) or a
// tree's hash, as GitHub's git/trees endpoint accepts either. Recursive
// lists every entry below, each directory before its contents; at most
// limit entries are returned (no limit if limit <= 0).
func (r *Repo) Tree(ctx context.Context, rev string, recursive bool, limit int) (*Tree, error) {
	if rev == "" {
		rev = "HEAD"
	}
	h, err := r.srv.ResolveRef(ctx, r.path, rev)
	if err != nil {
		return nil, err
	}
	if err := r.openObjects(); err != nil {
		return nil, err
	}
	o, err := r.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	root := h
	switch o.Type() {
	case plumbing.CommitObject:
		c, err := r.commit(h)
		if err != nil {
			return nil, err
		}
		root = c.TreeHash
	case plumbing.TreeObject:
	default:
		return nil, notFound("%q is a %s, not a tree", rev, o.Type())
	}
	out := &Tree{SHA: root}
	if err := r.listTree(ctx, out, root, "", recursive, limit); err != nil {
		return nil, err
	}
	return out, nil
}

// errLimit stops a listing that reached its limit.
var errLimit = fmt.Errorf("limit reached")

func (r *Repo) listTree(ctx context.Context, out *Tree, h plumbing.Hash, dir string, recursive bool, limit int) error {
	err := r.walkTree(ctx, h, dir, recursive, func(p string, mode filemode.FileMode, hash plumbing.Hash) error {
		if limit > 0 && len(out.Entries) >= limit {
			out.Truncated = true
			return errLimit
		}
		e := TreeEntry{Path: p, Mode: mode, SHA: hash, Type: "blob"}
		switch mode {
		case filemode.Dir:
			e.Type = "tree"
		case filemode.Submodule:
			e.Type = "commit"
		default:
			size, err := r.st.EncodedObjectSize(hash)
			if err != nil {
				return fmt.Errorf("size of %s: %w", hash, err)
			}
			e.Size = size
		}
		out.Entries = append(out.Entries, e)
		return nil
	})
	if err == errLimit {
		return nil
	}
	return err
}

// walkTree calls fn for each entry of tree h in git's order, a directory
// before what it holds when recursive. Paths are prefixed with dir.
func (r *Repo) walkTree(ctx context.Context, h plumbing.Hash, dir string, recursive bool, fn func(p string, mode filemode.FileMode, hash plumbing.Hash) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := r.tree(h)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := e.Name
		if dir != "" {
			p = dir + "/" + e.Name
		}
		if err := fn(p, e.Mode, e.Hash); err != nil {
			return err
		}
		if recursive && e.Mode == filemode.Dir {
			if err := r.walkTree(ctx, e.Hash, p, true, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
