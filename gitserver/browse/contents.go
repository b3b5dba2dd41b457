package browse

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver/merge/linediff"
)

// Content is what is at a path at a commit, typed as GitHub's contents
// API types it: "file", "dir", "symlink" or "submodule".
type Content struct {
	Type string
	Name string
	Path string
	// SHA is the blob, the tree, or for a submodule the commit it pins.
	SHA  plumbing.Hash
	Mode filemode.FileMode
	// Size is the blob's size in bytes (0 for directories and
	// submodules).
	Size int64
	// Content holds a file's bytes, or a symlink's target, unless the
	// file is larger than the cap asked for: then TooLarge is set and
	// Content is nil.
	Content  []byte
	TooLarge bool
	// Target is a symlink's target as stored.
	Target string
	// Entries lists a directory, in git's order.
	Entries []Entry
	// Commit is the commit the revision resolved to.
	Commit plumbing.Hash
}

// Entry is one item of a directory listing. Type follows GitHub's
// listing, which calls a submodule "file" (Mode tells it apart).
type Entry struct {
	Type string
	Name string
	Path string
	SHA  plumbing.Hash
	Mode filemode.FileMode
	Size int64
}

// maxSymlinkHops bounds how many symlinks Contents follows to a file.
const maxSymlinkHops = 8

// Contents returns what is at p ("" for the root) at revision rev. A
// file's bytes are read when it is at most maxBytes long (no cap if
// maxBytes <= 0). A symlink whose target (followed through further
// symlinks, inside the repository) is a regular file answers that file,
// as GitHub does; any other symlink answers itself.
func (r *Repo) Contents(ctx context.Context, rev, p string, maxBytes int64) (*Content, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return r.dirContent(ctx, c.Hash, "", c.TreeHash)
	}
	e, ok, err := r.entryAt(c.TreeHash, p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("path %q at %s", p, c.Hash)
	}
	if e.Mode == filemode.Symlink {
		if fp, fe, ok, err := r.followSymlink(c.TreeHash, p, e); err != nil {
			return nil, err
		} else if ok {
			p, e = fp, fe
		}
	}
	switch e.Mode {
	case filemode.Dir:
		return r.dirContent(ctx, c.Hash, p, e.Hash)
	case filemode.Submodule:
		return &Content{Type: "submodule", Name: base(p), Path: p, SHA: e.Hash, Mode: e.Mode, Commit: c.Hash}, nil
	}
	out := &Content{Type: kindOf(e.Mode), Name: base(p), Path: p, SHA: e.Hash, Mode: e.Mode, Commit: c.Hash}
	size, err := r.st.EncodedObjectSize(e.Hash)
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", e.Hash, err)
	}
	out.Size = size
	if maxBytes > 0 && size > maxBytes && e.Mode != filemode.Symlink {
		out.TooLarge = true
		return out, nil
	}
	data, err := r.blob(e.Hash)
	if err != nil {
		return nil, err
	}
	out.Content = bytes.Clone(data) // the caller owns it; data is the store's
	if e.Mode == filemode.Symlink {
		out.Target = string(data)
	}
	return out, nil
}

// followSymlink resolves the symlink e at p to a regular file in the same
// tree; ok is false when it leads anywhere else.
func (r *Repo) followSymlink(root plumbing.Hash, p string, e object.TreeEntry) (string, object.TreeEntry, bool, error) {
	for hop := 0; hop < maxSymlinkHops; hop++ {
		data, err := r.blob(e.Hash)
		if err != nil {
			return "", e, false, err
		}
		target := string(data)
		if target == "" || strings.HasPrefix(target, "/") {
			return "", e, false, nil
		}
		next := path.Join(path.Dir(p), target)
		if next == "." || next == ".." || strings.HasPrefix(next, "../") {
			return "", e, false, nil
		}
		ne, ok, err := r.entryAt(root, next)
		if err != nil || !ok {
			return "", e, false, err
		}
		switch ne.Mode {
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			return next, ne, true, nil
		case filemode.Symlink:
			p, e = next, ne
		default:
			return "", e, false, nil
		}
	}
	return "", e, false, nil
}

func (r *Repo) dirContent(ctx context.Context, commit plumbing.Hash, p string, tree plumbing.Hash) (*Content, error) {
	t, err := r.tree(tree)
	if err != nil {
		return nil, err
	}
	out := &Content{Type: "dir", Name: base(p), Path: p, SHA: tree, Mode: filemode.Dir, Commit: commit}
	if p == "" {
		out.Name = ""
	}
	for _, e := range t.Entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ep := e.Name
		if p != "" {
			ep = p + "/" + e.Name
		}
		en := Entry{Type: kindOf(e.Mode), Name: e.Name, Path: ep, SHA: e.Hash, Mode: e.Mode}
		switch e.Mode {
		case filemode.Submodule:
			en.Type = "file" // GitHub's listing says "file" for submodules
		case filemode.Dir:
		default:
			if en.Size, err = r.st.EncodedObjectSize(e.Hash); err != nil {
				return nil, fmt.Errorf("size of %s: %w", e.Hash, err)
			}
		}
		out.Entries = append(out.Entries, en)
	}
	return out, nil
}

// blob returns a blob's content, which must not be modified: it may be
// shared with the object store's cache.
func (r *Repo) blob(h plumbing.Hash) ([]byte, error) {
	if r.store != nil {
		typ, data, err := r.store.Read(h)
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", h, err)
		}
		if typ != plumbing.BlobObject {
			return nil, fmt.Errorf("read blob %s: a %s: %w", h, typ, plumbing.ErrObjectNotFound)
		}
		return data, nil
	}
	o, err := r.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rd.Close()
	var b bytes.Buffer
	b.Grow(int(o.Size()))
	if _, err := io.Copy(&b, rd); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b.Bytes(), nil
}

// OpenFile opens the blob at p at revision rev for streaming (the raw
// endpoint): a file, or a symlink's target text. The caller closes the
// reader. A directory or submodule is ErrInvalid.
func (r *Repo) OpenFile(ctx context.Context, rev, p string) (*Content, io.ReadCloser, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, nil, err
	}
	if p == "" {
		return nil, nil, fmt.Errorf("the root is a directory: %w", ErrInvalid)
	}
	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return nil, nil, err
	}
	e, ok, err := r.entryAt(c.TreeHash, p)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, notFound("path %q at %s", p, c.Hash)
	}
	if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return nil, nil, fmt.Errorf("%q is a %s, not a file: %w", p, kindOf(e.Mode), ErrInvalid)
	}
	o, err := r.st.EncodedObject(plumbing.BlobObject, e.Hash)
	if err != nil {
		return nil, nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	return &Content{Type: kindOf(e.Mode), Name: base(p), Path: p, SHA: e.Hash, Mode: e.Mode, Size: o.Size(), Commit: c.Hash}, rd, nil
}

// IsBinary applies git's rule (a NUL byte in the first 8000 bytes), for
// choosing how to serve a file's bytes.
func IsBinary(data []byte) bool { return linediff.IsBinary(data) }
