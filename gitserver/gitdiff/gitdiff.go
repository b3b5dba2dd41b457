// Package gitdiff compares two trees of a repository and prints the result
// exactly as git 2.39 does at its default settings: `git diff <a> <b>`
// (Myers with the indent heuristic, three lines of context, funcname hunk
// headers, rename detection on, abbreviated index lines) and
// `git format-patch --stdout`, plus the per-file summary a forge shows
// (status, line counts, the patch text of each file).
//
// Output is byte-identical to git's for text files. Binary files print
// "Binary files a/x and b/x differ" as git diff does; in a patch series
// they carry a "GIT binary patch" that git apply accepts, but whose
// compressed bytes differ from git's (Go's zlib is not C zlib), and the
// delta form git sometimes prefers is never used. Not reproduced:
// .gitattributes (diff drivers, textconv, binary attributes) and
// non-UTF-8 commit encodings in patch series.
package gitdiff

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge/linediff"
)

// Status says what happened to a path, with the names GitHub's API uses.
type Status string

const (
	Added    Status = "added"
	Removed  Status = "removed"
	Modified Status = "modified"
	Renamed  Status = "renamed"
	// Changed is a path whose mode or kind changed (file, executable,
	// symlink, submodule) with no content change to show as lines, or a
	// change of kind: GitHub's "changed".
	Changed Status = "changed"
)

// Options tune a diff. The zero value is git's default.
type Options struct {
	// NoRenames reports renames as a deletion and an addition, as
	// `git diff --no-renames`. git detects renames by default.
	NoRenames bool
	// Abbrev shortens object names in index lines; nil takes the first 7
	// hex digits. An Abbreviator's Abbrev reproduces git inside the
	// repository.
	Abbrev func(plumbing.Hash) string
	// MaxPatchBytes, when positive, leaves File.Patch empty (and sets
	// PatchOmitted) for files whose patch would be longer.
	MaxPatchBytes int
}

func (o Options) abbrev(h plumbing.Hash) string {
	if o.Abbrev != nil {
		return o.Abbrev(h)
	}
	return h.String()[:7]
}

// File is one changed path.
type File struct {
	Status Status
	// Path is the path after the change (before it, for a removal);
	// PreviousPath is set for renames.
	Path, PreviousPath string
	OldMode, NewMode   filemode.FileMode // 0 where the path is absent
	OldHash, NewHash   plumbing.Hash     // zero where the path is absent
	// Similarity is a rename's similarity index in percent.
	Similarity           int
	Binary               bool
	Additions, Deletions int
	// Patch is the file's hunks as git prints them, from the first "@@"
	// line: what GitHub's API calls a file's patch. Empty for binary
	// files and for changes without content lines.
	Patch        string
	PatchOmitted bool
}

// bigFileThreshold is core.bigFileThreshold's default: git treats larger
// blobs as binary without reading them.
const bigFileThreshold = 512 << 20

// context is git's default number of context lines.
const contextLines = 3

// side is one half of a file pair.
type side struct {
	path  string
	entry *object.TreeEntry
}

func (s side) valid() bool { return s.entry != nil }

func (s side) mode() filemode.FileMode {
	if s.entry == nil {
		return 0
	}
	return s.entry.Mode
}

func (s side) hash() plumbing.Hash {
	if s.entry == nil {
		return plumbing.ZeroHash
	}
	return s.entry.Hash
}

// pair is one queued file pair, as git's diff queue holds it.
type pair struct {
	one, two side
	score    int // rename similarity, git units
}

func (p pair) renamed() bool { return p.one.valid() && p.two.valid() && p.one.path != p.two.path }

// typeChanged reports a change between a file, a symlink and a gitlink,
// which git prints as a deletion followed by a creation.
func (p pair) typeChanged() bool {
	return p.one.valid() && p.two.valid() && p.one.mode()&0o170000 != p.two.mode()&0o170000
}

// differ reads what one diff needs from the object store.
type differ struct {
	ctx  context.Context
	s    storer.EncodedObjectStorer
	opts Options
	// binaryPatches prints binary files as "GIT binary patch" with full
	// index hashes, as format-patch does.
	binaryPatches bool
}

// queue lists the pairs between two trees in git's order.
func (d *differ) queue(from, to plumbing.Hash) ([]pair, error) {
	changes, err := diffstat.TreeChanges(d.ctx, d.s, from, to, !d.opts.NoRenames)
	if err != nil {
		return nil, err
	}
	out := make([]pair, len(changes))
	for i, c := range changes {
		out[i] = pair{one: side{c.FromPath, c.From}, two: side{c.ToPath, c.To}, score: c.Score}
	}
	return out, nil
}

// content is a side's bytes as git diffs them: a gitlink is the line
// "Subproject commit <hash>".
type content struct {
	data   []byte
	size   int64
	binary bool
	big    bool // over bigFileThreshold: binary, and not read
}

// rawReader is a store that hands out an object's bytes without copying
// them (gitserver.ObjectStore); the bytes are only read here.
type rawReader interface {
	Read(plumbing.Hash) (plumbing.ObjectType, []byte, error)
}

func (d *differ) load(s side) (content, error) {
	if !s.valid() {
		return content{}, nil
	}
	if s.mode() == filemode.Submodule {
		b := []byte("Subproject commit " + s.hash().String() + "\n")
		return content{data: b, size: int64(len(b))}, nil
	}
	if rr, ok := d.s.(rawReader); ok {
		size, err := d.s.EncodedObjectSize(s.hash())
		if err != nil {
			return content{}, fmt.Errorf("size of blob %s: %w", s.hash(), err)
		}
		if size > bigFileThreshold {
			return content{size: size, binary: true, big: true}, nil
		}
		typ, data, err := rr.Read(s.hash())
		if err != nil {
			return content{}, fmt.Errorf("read blob %s: %w", s.hash(), err)
		}
		if typ != plumbing.BlobObject {
			return content{}, fmt.Errorf("read blob %s: a %s", s.hash(), typ)
		}
		return content{data: data, size: size, binary: linediff.IsBinary(data)}, nil
	}
	o, err := d.s.EncodedObject(plumbing.BlobObject, s.hash())
	if err != nil {
		return content{}, fmt.Errorf("read blob %s: %w", s.hash(), err)
	}
	if o.Size() > bigFileThreshold {
		return content{size: o.Size(), binary: true, big: true}, nil
	}
	r, err := o.Reader()
	if err != nil {
		return content{}, fmt.Errorf("open blob %s: %w", s.hash(), err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.Grow(int(o.Size()))
	if _, err := io.Copy(&b, r); err != nil {
		return content{}, fmt.Errorf("read blob %s: %w", s.hash(), err)
	}
	return content{data: b.Bytes(), size: o.Size(), binary: linediff.IsBinary(b.Bytes())}, nil
}

// textDiff holds the line diff of two texts.
type textDiff struct {
	a, b  [][]byte
	hunks []linediff.UnifiedHunk
	add   int
	del   int
}

func diffText(a, b []byte) textDiff {
	la, lb := linediff.SplitLines(a), linediff.SplitLines(b)
	hs := linediff.DiffWith(la, lb, linediff.Options{Algorithm: linediff.Myers, IndentHeuristic: true})
	td := textDiff{a: la, b: lb, hunks: linediff.Unified(la, lb, hs, contextLines)}
	for _, h := range hs {
		td.del += h.Chg1
		td.add += h.Chg2
	}
	return td
}

// Files lists the changes between two trees (a zero hash is the empty
// tree) in git's order, with line counts and patches.
func Files(ctx context.Context, s storer.EncodedObjectStorer, from, to plumbing.Hash, opts Options) ([]File, error) {
	d := &differ{ctx: ctx, s: s, opts: opts}
	q, err := d.queue(from, to)
	if err != nil {
		return nil, fmt.Errorf("diff %s %s: %w", from, to, err)
	}
	out := make([]File, 0, len(q))
	for _, p := range q {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := d.file(p)
		if err != nil {
			return nil, fmt.Errorf("diff %s: %w", p.two.path, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func (d *differ) file(p pair) (File, error) {
	f := File{
		OldMode: p.one.mode(), NewMode: p.two.mode(),
		OldHash: p.one.hash(), NewHash: p.two.hash(),
	}
	switch {
	case !p.one.valid():
		f.Status, f.Path = Added, p.two.path
	case !p.two.valid():
		f.Status, f.Path = Removed, p.one.path
	case p.renamed():
		f.Status, f.Path, f.PreviousPath = Renamed, p.two.path, p.one.path
		f.Similarity = p.score * 100 / diffstat.MaxScore
	default:
		f.Status, f.Path = Modified, p.two.path
	}
	a, err := d.load(p.one)
	if err != nil {
		return f, err
	}
	b, err := d.load(p.two)
	if err != nil {
		return f, err
	}
	if a.binary || b.binary {
		f.Binary = true
		if f.Status == Modified && p.one.hash() == p.two.hash() {
			f.Status = Changed
		}
		return f, nil
	}
	if p.one.hash() == p.two.hash() {
		if f.Status == Modified {
			f.Status = Changed
		}
		return f, nil
	}
	td := diffText(a.data, b.data)
	f.Additions, f.Deletions = td.add, td.del
	if f.Status == Modified && p.typeChanged() {
		f.Status = Changed
	}
	var buf bytes.Buffer
	td.writeHunks(&buf)
	if d.opts.MaxPatchBytes > 0 && buf.Len() > d.opts.MaxPatchBytes {
		f.PatchOmitted = true
	} else {
		f.Patch = buf.String()
	}
	return f, nil
}

// writeHunks prints the hunks as xdiff emits them: the header, context
// from the new file, removed then added lines, and git's marker after a
// line without a final newline.
func (td textDiff) writeHunks(w *bytes.Buffer) {
	for _, h := range td.hunks {
		writeHunkHeader(w, h)
		s2 := h.NewStart
		for _, c := range h.Changes {
			for ; s2 < c.I2; s2++ {
				writeRecord(w, ' ', td.b[s2])
			}
			for i := c.I1; i < c.I1+c.Chg1; i++ {
				writeRecord(w, '-', td.a[i])
			}
			for ; s2 < c.I2+c.Chg2; s2++ {
				writeRecord(w, '+', td.b[s2])
			}
		}
		for ; s2 < h.NewStart+h.NewLines; s2++ {
			writeRecord(w, ' ', td.b[s2])
		}
	}
}

func writeRecord(w *bytes.Buffer, sign byte, rec []byte) {
	w.WriteByte(sign)
	w.Write(rec)
	if len(rec) == 0 || rec[len(rec)-1] != '\n' {
		w.WriteString("\n\\ No newline at end of file\n")
	}
}

// hunkHeaderMax is the size of xdiff's hunk header buffer: the function
// text is cut to fit it.
const hunkHeaderMax = 128

func writeHunkHeader(w *bytes.Buffer, h linediff.UnifiedHunk) {
	var hdr []byte
	hdr = append(hdr, "@@ -"...)
	hdr = appendRange(hdr, h.OldStart, h.OldLines)
	hdr = append(hdr, " +"...)
	hdr = appendRange(hdr, h.NewStart, h.NewLines)
	hdr = append(hdr, " @@"...)
	if len(h.Func) > 0 {
		hdr = append(hdr, ' ')
		fn := h.Func
		if room := hunkHeaderMax - len(hdr) - 1; len(fn) > room {
			fn = fn[:room]
		}
		hdr = append(hdr, fn...)
	}
	// git cuts the header line at the first byte that is not valid
	// UTF-8 (a function line cut inside a character, or not UTF-8).
	w.Write(hdr[:validUTF8Prefix(hdr)])
	w.WriteByte('\n')
}

func appendRange(b []byte, start, n int) []byte {
	if n == 0 {
		b = fmt.Appendf(b, "%d", start)
	} else {
		b = fmt.Appendf(b, "%d", start+1)
	}
	if n != 1 {
		b = fmt.Appendf(b, ",%d", n)
	}
	return b
}

// validUTF8Prefix is the length of the longest prefix of b that git's
// UTF-8 reader accepts.
func validUTF8Prefix(b []byte) int {
	i := 0
	for i < len(b) {
		n := utf8Len(b[i:])
		if n == 0 {
			return i
		}
		i += n
	}
	return i
}

// utf8Len is the length of the UTF-8 character b starts with, by git's
// rules (which, unlike Go's, refuse U+FFFE and U+FFFF), or 0 if b does
// not start with a valid one.
func utf8Len(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	c := b[0]
	cont := func(i int) bool { return i < len(b) && b[i]&0xc0 == 0x80 }
	switch {
	case c < 0x80:
		return 1
	case c&0xe0 == 0xc0:
		if cont(1) && c&0xfe != 0xc0 {
			return 2
		}
	case c&0xf0 == 0xe0:
		if cont(1) && cont(2) &&
			!(c == 0xe0 && b[1]&0xe0 == 0x80) &&
			!(c == 0xed && b[1]&0xe0 == 0xa0) &&
			!(c == 0xef && b[1] == 0xbf && b[2]&0xfe == 0xbe) {
			return 3
		}
	case c&0xf8 == 0xf0:
		if cont(1) && cont(2) && cont(3) &&
			!(c == 0xf0 && b[1]&0xf0 == 0x80) &&
			!(c == 0xf4 && b[1] > 0x8f) && c <= 0xf4 {
			return 4
		}
	}
	return 0
}
