// Package browse reads a repository the way the forge's API shows it to
// people and agents without a clone: a revision resolved to a commit, a
// file or directory at that commit, a tree listed recursively, a
// regular-expression search of the files, history filtered by path,
// author and dates, one commit with its changed files, the tags, and the
// comparison of two commits, plus the unified diffs and patch series of
// those (through gitserver/gitdiff, byte-identical to git).
//
// It only reads; gitserver/commitfiles writes. Results are typed values;
// encoding them (JSON, base64) is the caller's business.
package browse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver"
	"tapioca/gitserver/gitdiff"
)

var (
	// ErrNotCommit is returned when a revision names an object that is
	// not a commit (a tree or blob, or a tag of one) where a commit is
	// needed.
	ErrNotCommit = errors.New("not a commit")
	// ErrInvalid is returned for a request that cannot be answered as
	// asked: a bad path, pattern or glob. The message says which.
	ErrInvalid = errors.New("invalid request")
)

// Not-found answers (unknown revision, path absent at a commit) wrap
// gitserver.ErrNotFound, so one errors.Is check maps them all to 404.

// Repo is one repository opened for reading, for the length of a
// request. It is not safe for concurrent use.
//
// Each method resolves the revisions it is given before it reads any
// object; the object store is opened at the first read and sees the
// packs present then, which hold every object those refs can name
// (objects are installed before refs).
type Repo struct {
	srv    *gitserver.Server
	path   string
	store  *gitserver.ObjectStore
	st     storer.EncodedObjectStorer // store, once open
	trees  map[plumbing.Hash]*object.Tree
	abbrev *gitdiff.Abbreviator
}

// Open opens the bare repository at repoPath. srv resolves revisions
// with the forge's rules (gitserver.Server.ResolveRef).
func Open(srv *gitserver.Server, repoPath string) (*Repo, error) {
	if _, err := gitserver.Open(repoPath); err != nil {
		return nil, err // not a repository
	}
	return &Repo{srv: srv, path: repoPath, trees: map[plumbing.Hash]*object.Tree{}}, nil
}

// Close releases the repository's open files.
func (r *Repo) Close() error {
	if r.store != nil {
		r.store.Close()
		r.store, r.st = nil, nil
	}
	return nil
}

// openObjects opens the object store; call it after resolving refs.
func (r *Repo) openObjects() error {
	if r.store != nil {
		return nil
	}
	s, err := gitserver.OpenObjectStore(r.path)
	if err != nil {
		return err
	}
	r.store, r.st = s, s
	return nil
}

// Resolve resolves a revision to a commit: a full or abbreviated hash
// (4+ hex digits), HEAD, a full ref name, a branch or a tag (peeled),
// with gitserver.ResolveRef's precedence. An empty revision is HEAD.
func (r *Repo) Resolve(ctx context.Context, rev string) (plumbing.Hash, error) {
	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return c.Hash, nil
}

func (r *Repo) commitAt(ctx context.Context, rev string) (*object.Commit, error) {
	cs, err := r.commitsAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// commitsAt resolves every revision before reading any object: the
// object store lists its packs on first use, and refs resolved after that
// could name objects from a pack it does not know.
func (r *Repo) commitsAt(ctx context.Context, revs ...string) ([]*object.Commit, error) {
	hs := make([]plumbing.Hash, len(revs))
	for i, rev := range revs {
		if rev == "" {
			rev = "HEAD"
		}
		h, err := r.srv.ResolveRef(ctx, r.path, rev)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	wasOpen := r.store != nil
	if err := r.openObjects(); err != nil {
		return nil, err
	}
	out := make([]*object.Commit, len(revs))
	for i, h := range hs {
		c, err := r.commit(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) && wasOpen {
			// A push since this Repo opened its store: look again.
			r.Close()
			wasOpen = false
			if err := r.openObjects(); err != nil {
				return nil, err
			}
			c, err = r.commit(h)
		}
		if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, ErrNotCommit) {
			return nil, fmt.Errorf("revision %q is %s: %w", revs[i], h, ErrNotCommit)
		}
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (r *Repo) commit(h plumbing.Hash) (*object.Commit, error) {
	o, err := r.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	if o.Type() != plumbing.CommitObject {
		return nil, fmt.Errorf("%s is a %s: %w", h, o.Type(), ErrNotCommit)
	}
	c, err := object.DecodeCommit(r.st, o)
	if err != nil {
		return nil, fmt.Errorf("decode commit %s: %w", h, err)
	}
	return c, nil
}

// treeCacheMax bounds the decoded trees a Repo keeps; history walks with
// a path filter revisit the same few directories thousands of times.
const treeCacheMax = 4096

func (r *Repo) tree(h plumbing.Hash) (*object.Tree, error) {
	if t, ok := r.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(r.st, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	if len(r.trees) >= treeCacheMax {
		clear(r.trees)
	}
	r.trees[h] = t
	return t, nil
}

// cleanPath checks a repository path from a request and returns it
// without leading or trailing slashes ("" is the root).
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.IndexByte(part, 0) >= 0 {
			return "", fmt.Errorf("path %q: %w", p, ErrInvalid)
		}
	}
	return p, nil
}

// entryAt finds the entry at p (cleaned, not "") in the tree root; ok is
// false when no such path exists. It scans the stored trees without
// decoding them: history walks call it for every commit.
func (r *Repo) entryAt(root plumbing.Hash, p string) (object.TreeEntry, bool, error) {
	cur := root
	for rest := p; ; {
		name, more, deeper := strings.Cut(rest, "/")
		typ, data, err := r.store.Read(cur)
		if err != nil {
			return object.TreeEntry{}, false, fmt.Errorf("read tree %s: %w", cur, err)
		}
		if typ != plumbing.TreeObject {
			return object.TreeEntry{}, false, fmt.Errorf("%s is a %s, not a tree", cur, typ)
		}
		mode, h, ok, err := findRawEntry(data, name)
		if err != nil {
			return object.TreeEntry{}, false, fmt.Errorf("tree %s: %w", cur, err)
		}
		if !ok {
			return object.TreeEntry{}, false, nil
		}
		if !deeper {
			return object.TreeEntry{Name: name, Mode: mode, Hash: h}, true, nil
		}
		if mode != filemode.Dir {
			return object.TreeEntry{}, false, nil
		}
		cur, rest = h, more
	}
}

var errBadTree = errors.New("malformed tree")

// findRawEntry looks a name up in a stored tree: entries of
// "<octal mode> <name>\x00<20-byte hash>".
func findRawEntry(data []byte, name string) (filemode.FileMode, plumbing.Hash, bool, error) {
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return 0, plumbing.ZeroHash, false, errBadTree
		}
		nul := bytes.IndexByte(data[sp+1:], 0)
		if nul < 0 || sp+1+nul+21 > len(data) {
			return 0, plumbing.ZeroHash, false, errBadTree
		}
		entry := data[sp+1 : sp+1+nul]
		if string(entry) == name {
			var mode uint32
			for _, c := range data[:sp] {
				if c < '0' || c > '7' {
					return 0, plumbing.ZeroHash, false, errBadTree
				}
				mode = mode<<3 | uint32(c-'0')
			}
			var h plumbing.Hash
			copy(h[:], data[sp+1+nul+1:])
			return filemode.FileMode(mode), h, true, nil
		}
		data = data[sp+1+nul+21:]
	}
	return 0, plumbing.ZeroHash, false, nil
}

func notFound(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, gitserver.ErrNotFound)...)
}

// kindOf names an entry's kind as GitHub's contents API does.
func kindOf(m filemode.FileMode) string {
	switch m {
	case filemode.Dir:
		return "dir"
	case filemode.Symlink:
		return "symlink"
	case filemode.Submodule:
		return "submodule"
	}
	return "file"
}

func base(p string) string { return path.Base(p) }
