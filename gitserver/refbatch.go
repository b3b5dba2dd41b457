package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
)

// Ref updates in batches and ref packing.
//
// A loose ref costs a file, a write and an fsync; a push creating a
// thousand branches paid that a thousand times. Batches go into
// packed-refs instead, one rewrite and one fsync whatever their size, and
// maintenance folds the remaining loose refs in the same way, as git
// gc's pack-refs does. The order of writes is what keeps readers safe:
// a value is always in packed-refs before its loose file is removed, and
// readers look at loose refs first (listRefs, readRef), so a ref is seen
// at its old value or its new one, never missing.

// refChange is one write of a batch: the new value, or the zero hash to
// delete the ref. The caller has checked the name, compared the old value
// and ruled out name conflicts, all under the repository lock.
type refChange struct {
	name string
	new  plumbing.Hash
}

// peelFunc returns the object a tag finally points at; ok is false for
// an object that is not a tag.
type peelFunc func(h plumbing.Hash) (target plumbing.Hash, ok bool, err error)

// batchBytesPerRef is how much of packed-refs a batch may rewrite per ref
// it changes before writing loose files is cheaper: an fsync costs about
// as much as writing this many bytes.
const batchBytesPerRef = 64 << 10

// commitRefs writes changes; the caller holds the repository lock. A
// single change is written as git writes one: a loose ref file, or for a
// deletion, out of packed-refs and then the loose file. More changes are
// written into packed-refs in one rewrite (one fsync), after which the
// loose files that would shadow the new values are removed; only when
// packed-refs is so large that rewriting it would cost more than a file
// per change (a few changes among tens of thousands of refs) are they
// written one by one. peel, if not nil, is used to record what new tag
// values peel to (branches hold commits, which need no peeling: pushes
// and UpdateRef refuse anything else there).
//
// It returns nil when every change was written, or one error per change
// (nil for those written) otherwise.
func commitRefs(repoPath string, changes []refChange, peel peelFunc) []error {
	if len(changes) == 0 {
		return nil
	}
	packedSize := int64(0)
	if st, err := os.Stat(filepath.Join(repoPath, "packed-refs")); err == nil {
		packedSize = st.Size()
	}
	if len(changes) == 1 || packedSize > int64(len(changes))*batchBytesPerRef {
		return commitLoose(repoPath, changes)
	}
	fail := func(err error) []error {
		errs := make([]error, len(changes))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	packed, err := readPackedRefs(repoPath)
	if err != nil {
		return fail(err)
	}
	known := packedPeelKnown(packed)
	for _, c := range changes {
		delete(packed.peeled, c.name)
		if c.new.IsZero() {
			delete(packed.refs, c.name)
			delete(known, c.name)
			continue
		}
		packed.refs[c.name] = c.new
		known[c.name] = strings.HasPrefix(c.name, "refs/heads/")
		if known[c.name] || peel == nil {
			continue
		}
		if target, ok, err := peel(c.new); err == nil {
			known[c.name] = true
			if ok {
				packed.peeled[c.name] = target
			}
		}
	}
	if err := writePackedRefs(repoPath, packed, known); err != nil {
		return fail(err)
	}

	// Deletions first, so that refs/heads/a/b and its directory are gone
	// before anything looks at refs/heads/a.
	order := make([]int, 0, len(changes))
	for i, c := range changes {
		if c.new.IsZero() {
			order = append(order, i)
		}
	}
	for i, c := range changes {
		if !c.new.IsZero() {
			order = append(order, i)
		}
	}
	var errs []error
	dirs := map[string]bool{}
	for _, i := range order {
		c := changes[i]
		removed, err := removeLooseRef(repoPath, c.name)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(changes))
			}
			errs[i] = err
			continue
		}
		if removed {
			dirs[filepath.Dir(refPath(repoPath, c.name))] = true
			if c.new.IsZero() {
				pruneRefDirs(repoPath, c.name)
			}
		}
	}
	// One sync per directory makes the removals durable: a loose file
	// coming back after a crash would bring back the old value.
	for d := range dirs {
		syncDir(d)
	}
	return errs
}

// commitLoose writes changes one by one as loose refs, deletions first
// so that refs/heads/a/b is gone before refs/heads/a is written.
func commitLoose(repoPath string, changes []refChange) []error {
	var errs []error
	for _, deletions := range []bool{true, false} {
		for i, c := range changes {
			if c.new.IsZero() != deletions {
				continue
			}
			var err error
			if deletions {
				err = deleteRef(repoPath, c.name)
			} else {
				err = writeRef(repoPath, c.name, c.new)
			}
			if err != nil {
				if errs == nil {
					errs = make([]error, len(changes))
				}
				errs[i] = err
			}
		}
	}
	return errs
}

// removeLooseRef removes the loose file of name, if there is one. A
// directory in its place (left by refs below it that were deleted) is not
// a ref and is removed if empty.
func removeLooseRef(repoPath, name string) (bool, error) {
	p := refPath(repoPath, name)
	err := os.Remove(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return false, nil
	}
	if info, serr := os.Stat(p); serr == nil && info.IsDir() {
		return false, nil
	}
	return false, fmt.Errorf("remove loose ref %s: %w", name, err)
}

// pruneRefDirs removes the directories below refs/<kind>/ that deleting
// name left empty: they would block creating a ref of their name.
func pruneRefDirs(repoPath, name string) {
	stop := filepath.Join(repoPath, "refs")
	for dir := filepath.Dir(refPath(repoPath, name)); strings.HasPrefix(dir, stop+string(filepath.Separator)) && filepath.Dir(dir) != stop; dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
}

// packedPeelKnown says, for each packed ref, whether the file tells what
// it peels to: by a ^ line, or by the header's promise that refs without
// one are not tags.
func packedPeelKnown(p *packedRefs) map[string]bool {
	known := make(map[string]bool, len(p.refs))
	for name := range p.refs {
		_, hasLine := p.peeled[name]
		known[name] = hasLine || p.fullyPeeled || p.peeledTags && strings.HasPrefix(name, "refs/tags/")
	}
	return known
}

// writePackedRefs replaces packed-refs with p's refs, sorted, through
// packed-refs.lock. The header makes only the peeling promises known
// backs: fully-peeled when every ref's peeling is known, peeled when
// every refs/tags/ one's is.
func writePackedRefs(repoPath string, p *packedRefs, known map[string]bool) error {
	names := make([]string, 0, len(p.refs))
	fully, tags := true, true
	for name := range p.refs {
		names = append(names, name)
		if !known[name] {
			fully = false
			if strings.HasPrefix(name, "refs/tags/") {
				tags = false
			}
		}
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.Grow(len(names) * 64)
	buf.WriteString("# pack-refs with:")
	if tags {
		buf.WriteString(" peeled")
	}
	if fully {
		buf.WriteString(" fully-peeled")
	}
	buf.WriteString(" sorted \n")
	for _, name := range names {
		h := p.refs[name]
		buf.WriteString(h.String())
		buf.WriteByte(' ')
		buf.WriteString(name)
		buf.WriteByte('\n')
		if t, ok := p.peeled[name]; ok {
			buf.WriteByte('^')
			buf.WriteString(t.String())
			buf.WriteByte('\n')
		}
	}
	return writeFileLocked(filepath.Join(repoPath, "packed-refs"), buf.Bytes())
}

// packRefs moves every loose ref (symbolic ones excepted, as git does)
// into packed-refs, peeling all packed values, then removes the loose
// files whose value is now packed. The caller holds the repository lock.
// It returns how many refs it moved.
func packRefs(repoPath string, peel peelFunc) (int, error) {
	type looseRef struct {
		name string
		hash plumbing.Hash
	}
	var loose []looseRef
	root := filepath.Join(repoPath, "refs")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(repoPath, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if checkRefName(name) != nil {
			return nil // lock files, strays: not refs
		}
		h, sym, exists, err := readLoose(repoPath, name)
		if err != nil || !exists || sym != "" {
			return nil
		}
		loose = append(loose, looseRef{name, h})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pack refs: %w", err)
	}
	if len(loose) == 0 {
		return 0, nil
	}
	packed, err := readPackedRefs(repoPath)
	if err != nil {
		return 0, err
	}
	for _, l := range loose {
		packed.refs[l.name] = l.hash
	}
	// Every value is peeled again: cheap next to a repack, and it lets
	// the file promise fully-peeled, which spares readers the tag lookups.
	known := make(map[string]bool, len(packed.refs))
	packed.peeled = make(map[string]plumbing.Hash)
	for name, h := range packed.refs {
		target, ok, err := peel(h)
		if err != nil {
			continue // a dangling ref: its peeling stays unknown
		}
		known[name] = true
		if ok {
			packed.peeled[name] = target
		}
	}
	if err := writePackedRefs(repoPath, packed, known); err != nil {
		return 0, err
	}
	moved := 0
	dirs := map[string]bool{}
	for _, l := range loose {
		// Under the repository lock only another program could have
		// changed the file since it was read; such a value stays loose.
		h, sym, exists, err := readLoose(repoPath, l.name)
		if err != nil || !exists || sym != "" || h != l.hash {
			continue
		}
		if removed, err := removeLooseRef(repoPath, l.name); err == nil && removed {
			moved++
			dirs[filepath.Dir(refPath(repoPath, l.name))] = true
			pruneRefDirs(repoPath, l.name)
		}
	}
	for d := range dirs {
		syncDir(d)
	}
	return moved, nil
}

// odbPeeler peels through an object database opened on first use, so a
// batch that needs no peeling never reads the pack indexes.
type odbPeeler struct {
	ctx      context.Context
	repoPath string
	db       *odb
}

func (p *odbPeeler) peel(h plumbing.Hash) (plumbing.Hash, bool, error) {
	if p.db == nil {
		db, err := openODB(p.repoPath)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		p.db = db
	}
	typ, err := p.db.typeOf(h)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	if typ != objTag {
		return plumbing.ZeroHash, false, nil
	}
	target, _, err := newWalker(p.ctx, p.db).peel(h, nil)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	return target, true, nil
}

func (p *odbPeeler) close() {
	if p.db != nil {
		p.db.close()
		p.db = nil
	}
}
