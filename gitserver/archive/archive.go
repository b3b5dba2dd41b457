// Package archive streams a commit's tree as a ZIP file, with the layout
// `git archive --format=zip --prefix=<prefix>` produces, so a download
// costs a few kilobytes of memory whatever the repository size.
//
// Blobs are copied through their readers straight into the deflate
// stream. Whether a large blob is really streamed from disk depends on how
// the caller opened the store: go-git's filesystem storage reads whole
// objects into memory unless filesystem.Options.LargeObjectThreshold is
// set, so callers serving archives should set it (e.g. 1 MiB).
package archive

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// WriteZip writes the tree of commit as a ZIP archive to w. Every path is
// under prefix (typically "repo-branch/"; a prefix ending in "/" also gets
// its own directory entry, as with git). Directory entries are included,
// executables are 0755 and other files 0644, symlinks are stored as
// symlink entries whose content is the target, submodules become empty
// directories, and every entry's time is the commit's committer time.
// The archive comment is the commit id, as in git's own zip output.
//
// Nothing is buffered beyond deflate's window and a copy buffer; if ctx is
// cancelled the archive is left truncated and ctx's error returned, so a
// caller streaming to an HTTP client simply stops.
func WriteZip(ctx context.Context, w io.Writer, s storer.EncodedObjectStorer, commit plumbing.Hash, prefix string) error {
	c, err := object.GetCommit(s, commit)
	if err != nil {
		return fmt.Errorf("archive %s: read commit: %w", commit, err)
	}
	z := &zipper{
		ctx: ctx, s: s, zw: zip.NewWriter(w),
		when: c.Committer.When,
		buf:  make([]byte, 32<<10),
	}
	if err := z.zw.SetComment(commit.String()); err != nil {
		return fmt.Errorf("archive %s: %w", commit, err)
	}
	if prefix != "" && prefix[len(prefix)-1] == '/' {
		if err := z.dir(prefix); err != nil {
			return fmt.Errorf("archive %s: %w", commit, err)
		}
	}
	if err := z.tree(c.TreeHash, prefix); err != nil {
		return fmt.Errorf("archive %s: %w", commit, err)
	}
	if err := z.zw.Close(); err != nil {
		return fmt.Errorf("archive %s: finish zip: %w", commit, err)
	}
	return nil
}

type zipper struct {
	ctx  context.Context
	s    storer.EncodedObjectStorer
	zw   *zip.Writer
	when time.Time
	buf  []byte
}

func (z *zipper) header(name string, mode os.FileMode, method uint16) *zip.FileHeader {
	h := &zip.FileHeader{Name: name, Method: method, Modified: z.when}
	h.SetMode(mode)
	return h
}

func (z *zipper) dir(name string) error {
	_, err := z.zw.CreateHeader(z.header(name, os.ModeDir|0o755, zip.Store))
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	return nil
}

// tree writes a tree's entries in git's order, directories before their
// contents, recursing depth-first so only one path's state is held.
func (z *zipper) tree(h plumbing.Hash, prefix string) error {
	t, err := object.GetTree(z.s, h)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		if err := z.ctx.Err(); err != nil {
			return err
		}
		name := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			if err := z.dir(name + "/"); err != nil {
				return err
			}
			if err := z.tree(e.Hash, name+"/"); err != nil {
				return err
			}
		case filemode.Submodule:
			// The submodule's commit is not in this repository; git
			// archive leaves an empty directory in its place too.
			if err := z.dir(name + "/"); err != nil {
				return err
			}
		case filemode.Symlink:
			if err := z.file(name, e.Hash, os.ModeSymlink|0o777, zip.Store); err != nil {
				return err
			}
		case filemode.Executable:
			if err := z.file(name, e.Hash, 0o755, zip.Deflate); err != nil {
				return err
			}
		default:
			if err := z.file(name, e.Hash, 0o644, zip.Deflate); err != nil {
				return err
			}
		}
	}
	return nil
}

func (z *zipper) file(name string, h plumbing.Hash, mode os.FileMode, method uint16) error {
	o, err := z.s.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return fmt.Errorf("%s: read blob %s: %w", name, h, err)
	}
	if o.Size() == 0 {
		method = zip.Store
	}
	fw, err := z.zw.CreateHeader(z.header(name, mode, method))
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("%s: open blob %s: %w", name, h, err)
	}
	defer r.Close()
	if _, err := io.CopyBuffer(fw, ctxReader{z.ctx, r}, z.buf); err != nil {
		return fmt.Errorf("%s: copy blob %s: %w", name, h, err)
	}
	return nil
}

// ctxReader stops a long copy when the request is gone.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
