package merge

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver/merge/linediff"
)

// Conflict reasons. They are stable strings so callers can show or match
// them.
const (
	ReasonContent       = "content"        // both sides edited the same or adjacent lines
	ReasonBinary        = "binary"         // both sides changed a binary file differently
	ReasonAddAdd        = "add/add"        // both sides added the path with different content
	ReasonModifyDelete  = "modify/delete"  // ours modified, theirs deleted
	ReasonDeleteModify  = "delete/modify"  // ours deleted, theirs modified
	ReasonFileDirectory = "file/directory" // a file on one side, a directory on the other
	ReasonMode          = "mode"           // both sides changed the mode differently
	ReasonType          = "type"           // file, symlink and submodule mixed
	ReasonSymlink       = "symlink"        // both sides retargeted a symlink differently
	ReasonSubmodule     = "submodule"      // both sides moved a submodule differently
	ReasonCrissCross    = "criss-cross"    // merge bases could not be merged with each other
)

// merger holds the objects one merge creates. They are kept in memory and
// only written when the whole operation is clean, so a conflicted merge
// leaves nothing behind; later steps (a virtual merge base, a rebase's next
// commit) read them back through get.
type merger struct {
	ctx       context.Context
	s         storer.EncodedObjectStorer
	created   map[plumbing.Hash]plumbing.EncodedObject
	order     []plumbing.Hash
	conflicts []Conflict
}

func newMerger(ctx context.Context, s storer.EncodedObjectStorer) *merger {
	return &merger{ctx: ctx, s: s, created: make(map[plumbing.Hash]plumbing.EncodedObject)}
}

func (m *merger) get(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if o, ok := m.created[h]; ok {
		return o, nil
	}
	o, err := m.s.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return o, nil
}

func (m *merger) put(o plumbing.EncodedObject) plumbing.Hash {
	h := o.Hash()
	if _, ok := m.created[h]; !ok {
		m.created[h] = o
		m.order = append(m.order, h)
	}
	return h
}

// flush writes the created objects that the store does not already have.
func (m *merger) flush() error {
	for _, h := range m.order {
		if err := m.s.HasEncodedObject(h); err == nil {
			continue
		}
		if _, err := m.s.SetEncodedObject(m.created[h]); err != nil {
			return fmt.Errorf("write object %s: %w", h, err)
		}
	}
	m.order = m.order[:0]
	return nil
}

func (m *merger) conflict(p, reason string) {
	m.conflicts = append(m.conflicts, Conflict{Path: p, Reason: reason})
}

func (m *merger) treeEntries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	o, err := m.get(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	var t object.Tree
	if err := t.Decode(o); err != nil {
		return nil, fmt.Errorf("decode tree %s: %w", h, err)
	}
	return t.Entries, nil
}

func (m *merger) blob(h plumbing.Hash) ([]byte, error) {
	o, err := m.get(plumbing.BlobObject, h)
	if err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b, nil
}

// entry is one side's view of a name: a non-tree object (file) and/or a
// subtree. A valid tree has at most one of them per name; keeping both
// layers lets a file replaced by a directory merge like any other change.
type entry struct {
	file *object.TreeEntry
	dir  plumbing.Hash
}

func sameFile(a, b *object.TreeEntry) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Mode == b.Mode && a.Hash == b.Hash
}

// mergeTree merges three trees (zero hash = absent) and returns the merged
// tree, or zero if it is empty: git drops directories a merge empties.
// Conflicts are recorded and the walk goes on so all of them are reported.
func (m *merger) mergeTree(dir string, base, ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	if err := m.ctx.Err(); err != nil {
		return plumbing.ZeroHash, err
	}
	// Identical subtrees need no look inside; this keeps a merge's cost
	// proportional to what changed, not to the repository size.
	switch {
	case ours == theirs:
		return ours, nil
	case base == ours:
		return theirs, nil
	case base == theirs:
		return ours, nil
	}
	var sides [3][]object.TreeEntry
	for i, h := range []plumbing.Hash{base, ours, theirs} {
		es, err := m.treeEntries(h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		sides[i] = es
	}
	names := make(map[string]*[3]entry)
	var order []string
	for i, es := range sides {
		for k := range es {
			e := &es[k]
			slot, ok := names[e.Name]
			if !ok {
				slot = &[3]entry{}
				names[e.Name] = slot
				order = append(order, e.Name)
			}
			if e.Mode == filemode.Dir {
				slot[i].dir = e.Hash
			} else {
				slot[i].file = e
			}
		}
	}
	var out []object.TreeEntry
	for _, name := range order {
		slot := names[name]
		p := path.Join(dir, name)
		file, err := m.mergeFile(p, slot[0].file, slot[1].file, slot[2].file)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		sub, err := m.mergeTree(p, slot[0].dir, slot[1].dir, slot[2].dir)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case file != nil && !sub.IsZero():
			m.conflict(p, ReasonFileDirectory)
		case file != nil:
			out = append(out, object.TreeEntry{Name: name, Mode: file.Mode, Hash: file.Hash})
		case !sub.IsZero():
			out = append(out, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: sub})
		}
	}
	if len(out) == 0 {
		return plumbing.ZeroHash, nil
	}
	sort.Sort(object.TreeEntrySorter(out))
	return m.writeTree(out)
}

func (m *merger) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	o := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: entries}).Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	return m.put(o), nil
}

type kind int

const (
	kindRegular kind = iota
	kindSymlink
	kindSubmodule
)

func kindOf(mode filemode.FileMode) kind {
	switch mode {
	case filemode.Symlink:
		return kindSymlink
	case filemode.Submodule:
		return kindSubmodule
	}
	return kindRegular
}

// mergeFile merges the non-tree entries of one path with merge-ort's rules;
// it returns nil when the path ends up absent (or conflicted).
func (m *merger) mergeFile(p string, base, ours, theirs *object.TreeEntry) (*object.TreeEntry, error) {
	switch {
	case sameFile(ours, theirs):
		return ours, nil
	case sameFile(base, ours):
		return theirs, nil
	case sameFile(base, theirs):
		return ours, nil
	}
	// From here both sides changed the path, differently.
	switch {
	case ours == nil:
		m.conflict(p, ReasonDeleteModify)
		return nil, nil
	case theirs == nil:
		m.conflict(p, ReasonModifyDelete)
		return nil, nil
	}
	if kindOf(ours.Mode) != kindOf(theirs.Mode) {
		m.conflict(p, ReasonType)
		return nil, nil
	}
	reason := ReasonContent
	if base == nil {
		reason = ReasonAddAdd
	}

	// Modes merge like content: whoever changed it wins, and only two
	// different changes conflict (an add/add with different modes too).
	var baseMode filemode.FileMode
	if base != nil {
		baseMode = base.Mode
	}
	mode := ours.Mode
	switch {
	case ours.Mode == theirs.Mode, theirs.Mode == baseMode:
	case ours.Mode == baseMode:
		mode = theirs.Mode
	default:
		m.conflict(p, ReasonMode)
		return nil, nil
	}

	var baseHash plumbing.Hash
	if base != nil {
		baseHash = base.Hash
	}
	hash := ours.Hash
	switch {
	case ours.Hash == theirs.Hash, theirs.Hash == baseHash:
	case ours.Hash == baseHash:
		hash = theirs.Hash
	default:
		switch kindOf(ours.Mode) {
		case kindSymlink:
			m.conflict(p, ReasonSymlink)
			return nil, nil
		case kindSubmodule:
			m.conflict(p, ReasonSubmodule)
			return nil, nil
		}
		merged, conflictReason, err := m.mergeBlobs(base, ours.Hash, theirs.Hash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if conflictReason != "" {
			if conflictReason == ReasonContent {
				conflictReason = reason
			}
			m.conflict(p, conflictReason)
			return nil, nil
		}
		hash = merged
	}
	return &object.TreeEntry{Name: ours.Name, Mode: mode, Hash: hash}, nil
}

// mergeBlobs runs the line merge; a base that is missing (add/add) or not a
// regular file merges as empty text, as merge-ort does.
func (m *merger) mergeBlobs(base *object.TreeEntry, ours, theirs plumbing.Hash) (plumbing.Hash, string, error) {
	var baseData []byte
	if base != nil && kindOf(base.Mode) != kindSubmodule {
		var err error
		if baseData, err = m.blob(base.Hash); err != nil {
			return plumbing.ZeroHash, "", err
		}
	}
	oursData, err := m.blob(ours)
	if err != nil {
		return plumbing.ZeroHash, "", err
	}
	theirsData, err := m.blob(theirs)
	if err != nil {
		return plumbing.ZeroHash, "", err
	}
	if linediff.IsBinary(baseData) || linediff.IsBinary(oursData) || linediff.IsBinary(theirsData) {
		return plumbing.ZeroHash, ReasonBinary, nil
	}
	merged, clean := linediff.Merge3(baseData, oursData, theirsData)
	if !clean {
		return plumbing.ZeroHash, ReasonContent, nil
	}
	o := &plumbing.MemoryObject{}
	o.SetType(plumbing.BlobObject)
	if _, err := o.Write(merged); err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("buffer merged blob: %w", err)
	}
	return m.put(o), "", nil
}

// rootTree merges root trees. Unlike subtrees, an empty root is a real
// tree (every file deleted), so it is written rather than dropped.
func (m *merger) rootTree(base, ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	h, err := m.mergeTree("", base, ours, theirs)
	if err != nil || !h.IsZero() {
		return h, err
	}
	return m.writeTree(nil)
}
