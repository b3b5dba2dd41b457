package commitfiles

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// builder applies actions to an in-memory copy of a tree, reading only
// the directories the actions touch, and keeps the objects it makes in
// memory until flush, so a refused request writes nothing.
type builder struct {
	ctx     context.Context
	st      storer.EncodedObjectStorer
	top     *dir
	created map[plumbing.Hash]plumbing.EncodedObject
	order   []plumbing.Hash
	files   map[string]File // by path, in the final tree
}

// dir is a directory being edited. Until loaded, entries is nil and the
// directory is its stored tree, hash.
type dir struct {
	hash    plumbing.Hash
	loaded  bool
	entries map[string]*entry
}

type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash
	sub  *dir // for directories
}

func newBuilder(ctx context.Context, st storer.EncodedObjectStorer, tree plumbing.Hash) *builder {
	return &builder{
		ctx: ctx, st: st, top: &dir{hash: tree},
		created: map[plumbing.Hash]plumbing.EncodedObject{},
		files:   map[string]File{},
	}
}

func (b *builder) load(d *dir) error {
	if d.loaded {
		return nil
	}
	d.loaded = true
	d.entries = map[string]*entry{}
	if d.hash.IsZero() {
		return nil
	}
	t, err := object.GetTree(b.st, d.hash)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", d.hash, err)
	}
	for _, e := range t.Entries {
		en := &entry{mode: e.Mode, hash: e.Hash}
		if e.Mode == filemode.Dir {
			en.sub = &dir{hash: e.Hash}
		}
		d.entries[e.Name] = en
	}
	return nil
}

// lookup finds the entry at p. A missing path gives nil; conflict names
// a file standing where p needs a directory.
func (b *builder) lookup(p string) (e *entry, parent *dir, name, conflict string, err error) {
	parts := strings.Split(p, "/")
	d := b.top
	for i, part := range parts[:len(parts)-1] {
		if err := b.load(d); err != nil {
			return nil, nil, "", "", err
		}
		next := d.entries[part]
		if next == nil {
			return nil, nil, "", "", nil
		}
		if next.sub == nil {
			return nil, nil, "", strings.Join(parts[:i+1], "/"), nil
		}
		d = next.sub
	}
	if err := b.load(d); err != nil {
		return nil, nil, "", "", err
	}
	name = parts[len(parts)-1]
	return d.entries[name], d, name, "", nil
}

// ensureDir returns the directory that will hold p, making the missing
// directories on the way.
func (b *builder) ensureDir(p string) (*dir, string, error) {
	parts := strings.Split(p, "/")
	d := b.top
	for i, part := range parts[:len(parts)-1] {
		if err := b.load(d); err != nil {
			return nil, "", err
		}
		next := d.entries[part]
		if next == nil {
			next = &entry{mode: filemode.Dir, sub: &dir{loaded: true, entries: map[string]*entry{}}}
			d.entries[part] = next
		}
		if next.sub == nil {
			return nil, "", fmt.Errorf("%s is a file", strings.Join(parts[:i+1], "/"))
		}
		d = next.sub
	}
	if err := b.load(d); err != nil {
		return nil, "", err
	}
	return d, parts[len(parts)-1], nil
}

func (b *builder) apply(i int, a Action) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	fail := func(sentinel error, reason string) error {
		return &ActionError{Index: i, Op: a.Op, Path: a.Path, Reason: reason, Err: sentinel}
	}
	// existing checks that path holds a file (not a directory) at the
	// expected blob.
	existing := func(p string) (*entry, *dir, string, error) {
		e, parent, name, conflict, err := b.lookup(p)
		switch {
		case err != nil:
			return nil, nil, "", err
		case conflict != "":
			return nil, nil, "", fail(ErrFileNotFound, conflict+" is a file")
		case e == nil:
			return nil, nil, "", fail(ErrFileNotFound, p+" does not exist")
		case e.sub != nil:
			return nil, nil, "", fail(ErrFileNotFound, p+" is a directory")
		case !a.ExpectedBlob.IsZero() && e.hash != a.ExpectedBlob:
			return nil, nil, "", fail(ErrStaleBlob, fmt.Sprintf("%s is at %s, not %s", p, e.hash, a.ExpectedBlob))
		}
		return e, parent, name, nil
	}
	// free checks that nothing is at path.
	free := func(p string) error {
		e, _, _, conflict, err := b.lookup(p)
		switch {
		case err != nil:
			return err
		case conflict != "":
			return fail(ErrFileExists, conflict+" is a file")
		case e != nil && e.sub != nil:
			return fail(ErrFileExists, p+" is a directory")
		case e != nil:
			return fail(ErrFileExists, p+" exists")
		}
		return nil
	}

	switch a.Op {
	case Create:
		if err := free(a.Path); err != nil {
			return err
		}
		mode := a.Mode
		if mode == 0 {
			mode = filemode.Regular
		}
		return b.setFile(a.Path, mode, a.Content)
	case Update:
		e, _, _, err := existing(a.Path)
		if err != nil {
			return err
		}
		if e.mode == filemode.Submodule {
			return fail(ErrFileNotFound, a.Path+" is a submodule")
		}
		mode := a.Mode
		if mode == 0 {
			mode = e.mode
		}
		return b.setFile(a.Path, mode, a.Content)
	case Delete:
		_, parent, name, err := existing(a.Path)
		if err != nil {
			return err
		}
		delete(parent.entries, name)
		delete(b.files, a.Path)
		return nil
	case Move:
		e, parent, name, err := existing(a.PreviousPath)
		if err != nil {
			return err
		}
		if a.PreviousPath != a.Path {
			if err := free(a.Path); err != nil {
				return err
			}
		}
		mode := a.Mode
		if mode == 0 {
			mode = e.mode
		}
		delete(parent.entries, name)
		delete(b.files, a.PreviousPath)
		if a.Content == nil {
			if e.mode == filemode.Submodule && mode != filemode.Submodule {
				return fail(ErrInvalid, "a submodule cannot change mode")
			}
			return b.setEntry(a.Path, mode, e.hash)
		}
		return b.setFile(a.Path, mode, a.Content)
	}
	return fail(ErrInvalid, "unknown action")
}

func (b *builder) setFile(p string, mode filemode.FileMode, content []byte) error {
	o := &plumbing.MemoryObject{}
	o.SetType(plumbing.BlobObject)
	if _, err := o.Write(content); err != nil {
		return fmt.Errorf("buffer blob: %w", err)
	}
	return b.setEntry(p, mode, b.keep(o))
}

func (b *builder) setEntry(p string, mode filemode.FileMode, h plumbing.Hash) error {
	d, name, err := b.ensureDir(p)
	if err != nil {
		return err
	}
	d.entries[name] = &entry{mode: mode, hash: h}
	size := int64(0)
	if o, ok := b.created[h]; ok {
		size = o.Size()
	} else if mode != filemode.Submodule {
		if size, err = b.st.EncodedObjectSize(h); err != nil {
			return fmt.Errorf("size of %s: %w", h, err)
		}
	}
	b.files[p] = File{Path: p, SHA: h, Mode: mode, Size: size}
	return nil
}

// keep records an object to write at flush, in creation order (children
// before the trees and commit that name them).
func (b *builder) keep(o plumbing.EncodedObject) plumbing.Hash {
	h := o.Hash()
	if _, ok := b.created[h]; !ok {
		b.created[h] = o
		b.order = append(b.order, h)
	}
	return h
}

// root writes out the edited directories and returns the root tree.
func (b *builder) root() (plumbing.Hash, error) {
	h, _, err := b.writeDir(b.top)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if h.IsZero() {
		// Every file deleted: an empty root tree is still a tree.
		return b.writeTree(nil)
	}
	return h, nil
}

// writeDir returns a directory's tree, or zero when it is empty (git
// does not store empty directories).
func (b *builder) writeDir(d *dir) (plumbing.Hash, bool, error) {
	if !d.loaded {
		return d.hash, !d.hash.IsZero(), nil
	}
	var entries []object.TreeEntry
	for name, e := range d.entries {
		h := e.hash
		if e.sub != nil {
			var nonEmpty bool
			var err error
			if h, nonEmpty, err = b.writeDir(e.sub); err != nil {
				return plumbing.ZeroHash, false, err
			}
			if !nonEmpty {
				continue
			}
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: h})
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, false, nil
	}
	h, err := b.writeTree(entries)
	return h, true, err
}

func (b *builder) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	sort.Sort(object.TreeEntrySorter(entries))
	o := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	return b.keep(o), nil
}

func (b *builder) put(c *object.Commit) (plumbing.Hash, error) {
	o := &plumbing.MemoryObject{}
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	return b.keep(o), nil
}

// flush stores the objects the store does not have yet, in creation
// order, and returns the ones it wrote.
func (b *builder) flush() ([]plumbing.Hash, error) {
	var wrote []plumbing.Hash
	for _, h := range b.order {
		if err := b.ctx.Err(); err != nil {
			return wrote, err
		}
		if b.st.HasEncodedObject(h) == nil {
			continue
		}
		if _, err := b.st.SetEncodedObject(b.created[h]); err != nil {
			return wrote, fmt.Errorf("write object %s: %w", h, err)
		}
		wrote = append(wrote, h)
	}
	return wrote, nil
}

func (b *builder) written() []File {
	out := make([]File, 0, len(b.files))
	for _, f := range b.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
