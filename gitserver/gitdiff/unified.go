package gitdiff

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver/diffstat"
)

// WriteDiff writes what `git diff <from> <to>` prints for two trees (a
// zero hash is the empty tree).
func WriteDiff(ctx context.Context, w io.Writer, s storer.EncodedObjectStorer, from, to plumbing.Hash, opts Options) error {
	d := &differ{ctx: ctx, s: s, opts: opts}
	q, err := d.queue(from, to)
	if err != nil {
		return fmt.Errorf("diff %s %s: %w", from, to, err)
	}
	if err := d.writePatches(w, q); err != nil {
		return fmt.Errorf("diff %s %s: %w", from, to, err)
	}
	return nil
}

// writePatches prints each pair's patch; a change of kind is printed as
// a deletion and a creation, as git does.
func (d *differ) writePatches(w io.Writer, q []pair) error {
	var buf bytes.Buffer
	for _, p := range q {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		buf.Reset()
		var err error
		if p.typeChanged() {
			if err = d.writePatch(&buf, pair{one: p.one, two: side{path: p.two.path}}); err == nil {
				err = d.writePatch(&buf, pair{one: side{path: p.one.path}, two: p.two})
			}
		} else {
			err = d.writePatch(&buf, p)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.two.path, err)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writePatch prints one pair as git's builtin_diff does. A side with a
// nil entry is absent (/dev/null); its path still names the pair.
func (d *differ) writePatch(w *bytes.Buffer, p pair) error {
	nameA, nameB := p.one.path, p.two.path
	if !p.one.valid() {
		nameA = nameB
	}
	if !p.two.valid() {
		nameB = nameA
	}
	aOne, bTwo := quotePrefixed("a/", nameA), quotePrefixed("b/", nameB)
	lbl0, lbl1 := aOne, bTwo
	if !p.one.valid() {
		lbl0 = "/dev/null"
	}
	if !p.two.valid() {
		lbl1 = "/dev/null"
	}

	a, err := d.load(p.one)
	if err != nil {
		return err
	}
	b, err := d.load(p.two)
	if err != nil {
		return err
	}
	binary := a.binary || b.binary

	// The extended header: what git's fill_metainfo adds after the mode
	// lines.
	var meta bytes.Buffer
	mustShow := false
	if p.renamed() {
		fmt.Fprintf(&meta, "similarity index %d%%\n", p.score*100/diffstat.MaxScore)
		fmt.Fprintf(&meta, "rename from %s\nrename to %s\n", quotePath(p.one.path), quotePath(p.two.path))
		mustShow = true
	}
	if p.one.hash() != p.two.hash() {
		oldName, newName := d.opts.abbrev(p.one.hash()), d.opts.abbrev(p.two.hash())
		if d.binaryPatches && binary {
			oldName, newName = p.one.hash().String(), p.two.hash().String()
		}
		fmt.Fprintf(&meta, "index %s..%s", oldName, newName)
		if p.one.mode() == p.two.mode() {
			fmt.Fprintf(&meta, " %06o", uint32(p.one.mode()))
		}
		meta.WriteByte('\n')
	}

	var header bytes.Buffer
	fmt.Fprintf(&header, "diff --git %s %s\n", aOne, bTwo)
	switch {
	case !p.one.valid():
		fmt.Fprintf(&header, "new file mode %06o\n", uint32(p.two.mode()))
		header.Write(meta.Bytes())
		mustShow = true
	case !p.two.valid():
		fmt.Fprintf(&header, "deleted file mode %06o\n", uint32(p.one.mode()))
		header.Write(meta.Bytes())
		mustShow = true
	default:
		if p.one.mode() != p.two.mode() {
			fmt.Fprintf(&header, "old mode %06o\nnew mode %06o\n", uint32(p.one.mode()), uint32(p.two.mode()))
			mustShow = true
		}
		header.Write(meta.Bytes())
	}

	if binary {
		if p.one.hash() == p.two.hash() {
			if mustShow {
				w.Write(header.Bytes())
			}
			return nil
		}
		w.Write(header.Bytes())
		if d.binaryPatches && !a.big && !b.big {
			writeBinaryPatch(w, a.data, b.data)
			return nil
		}
		fmt.Fprintf(w, "Binary files %s and %s differ\n", lbl0, lbl1)
		return nil
	}

	if mustShow {
		w.Write(header.Bytes())
		header.Reset()
	}
	if p.one.hash() == p.two.hash() && p.one.valid() && p.two.valid() {
		return nil
	}
	td := diffText(a.data, b.data)
	if len(td.hunks) == 0 {
		return nil
	}
	w.Write(header.Bytes())
	fmt.Fprintf(w, "--- %s%s\n", lbl0, tabIfSpace(lbl0))
	fmt.Fprintf(w, "+++ %s%s\n", lbl1, tabIfSpace(lbl1))
	td.writeHunks(w)
	return nil
}

// tabIfSpace is git's marker after a ---/+++ name with a space in it, so
// patch tools can tell where the name ends.
func tabIfSpace(name string) string {
	if bytes.IndexByte([]byte(name), ' ') >= 0 {
		return "\t"
	}
	return ""
}
