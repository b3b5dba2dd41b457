// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

// Package linediff computes line diffs that agree line-for-line with git's
// own diff machinery (xdiff), so that merges and statistics built on them
// give the same answers as the git client.
//
// Any correct line diff would be a valid diff, but merges are not
// diff-agnostic: which lines a diff pairs up decides whether two edits
// "touch" and therefore whether a merge conflicts, and what the merged text
// is. git's merge-ort uses the histogram algorithm (falling back to Myers
// for regions made only of very frequent lines) followed by xdiff's hunk
// sliding; `git diff` uses Myers with xdiff's pre-pass that discards
// unmatched lines and its cost cut-offs. Both are reproduced here,
// including their tie-breaking, because a "better" diff would give merge
// results that differ from git's.
//
// Provenance: the algorithms here were written in Go by reading git's
// xdiff (xdiff/xdiffi.c, xhistogram.c, xmerge.c), which git distributes
// under the GNU LGPL 2.1 or later. This package may be a derivative work
// of it and is offered under the same terms (LICENSE in this directory).
// It is self-contained: it imports only the standard library.
package linediff

import "bytes"

// Hunk is one change: lines [I1, I1+Chg1) of the old file are replaced by
// lines [I2, I2+Chg2) of the new file (0-based).
type Hunk struct {
	I1, Chg1, I2, Chg2 int
}

// SplitLines splits data into records the way xdiff does: every line keeps
// its '\n', and a final line without one is a record of its own, so a
// missing newline at EOF is a change of that last line.
func SplitLines(data []byte) [][]byte {
	n := bytes.Count(data, []byte{'\n'})
	recs := make([][]byte, 0, n+1)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			recs = append(recs, data)
			break
		}
		recs = append(recs, data[:i+1:i+1])
		data = data[i+1:]
	}
	return recs
}

// classifier gives equal lines equal small integers, so the algorithms
// compare ints instead of byte strings.
type classifier struct {
	ids map[string]int
}

func newClassifier(sizeHint int) *classifier {
	return &classifier{ids: make(map[string]int, sizeHint)}
}

func (c *classifier) classify(recs [][]byte) []int {
	out := make([]int, len(recs))
	for i, r := range recs {
		id, ok := c.ids[string(r)]
		if !ok {
			id = len(c.ids)
			c.ids[string(r)] = id
		}
		out[i] = id
	}
	return out
}

// side is one file of a diff: its line classes and which lines changed.
// chg has a false sentinel at both ends (chg[0] and chg[n+1]) so group
// scans need no bounds checks, as in xdiff.
type side struct {
	cls []int
	chg []bool
	// recs are the lines themselves, set only when the indent heuristic
	// needs to look at their indentation.
	recs [][]byte
}

func newSide(cls []int) *side {
	return &side{cls: cls, chg: make([]bool, len(cls)+2)}
}

func (s *side) changed(i int) bool {
	if i < 0 || i >= len(s.cls) {
		return false
	}
	return s.chg[i+1]
}

func (s *side) mark(i int, v bool) { s.chg[i+1] = v }

// Algorithm selects how the line pairing is computed.
type Algorithm int

const (
	// Myers is git's default diff algorithm (used by `git diff`).
	Myers Algorithm = iota
	// Histogram is what merge-ort uses for content merges.
	Histogram
)

// Diff returns the hunks turning a into b, as git would compute them with
// the given algorithm (after xdiff's hunk sliding, without the indent
// heuristic, which only changes how a diff is displayed).
func Diff(a, b [][]byte, alg Algorithm) []Hunk {
	return DiffWith(a, b, Options{Algorithm: alg})
}

// Options selects how DiffWith pairs lines.
type Options struct {
	Algorithm Algorithm
	// IndentHeuristic slides ambiguous groups of added or deleted lines
	// to where their indentation suggests a block starts and ends, as
	// `git diff` does by default since git 2.14 (diff.indentHeuristic).
	// It changes which lines a diff shows, never how many.
	IndentHeuristic bool
}

// DiffWith returns the hunks turning a into b as git computes them with
// the given options. `git diff` at its default settings is
// Options{Algorithm: Myers, IndentHeuristic: true}.
func DiffWith(a, b [][]byte, o Options) []Hunk {
	c := newClassifier(len(a) + len(b))
	sa, sb := newSide(c.classify(a)), newSide(c.classify(b))
	if o.IndentHeuristic {
		sa.recs, sb.recs = a, b
	}
	run(sa, sb, o.Algorithm)
	compact(sa, sb)
	compact(sb, sa)
	return buildScript(sa, sb)
}

// Count returns how many lines a diff from a to b deletes and adds; it is
// what `git diff --numstat` prints for a text file. Sliding does not change
// counts, so it is skipped.
func Count(a, b [][]byte) (deleted, added int) {
	c := newClassifier(len(a) + len(b))
	sa, sb := newSide(c.classify(a)), newSide(c.classify(b))
	run(sa, sb, Myers)
	for i := range sa.cls {
		if sa.changed(i) {
			deleted++
		}
	}
	for i := range sb.cls {
		if sb.changed(i) {
			added++
		}
	}
	return deleted, added
}

func run(a, b *side, alg Algorithm) {
	if alg == Histogram {
		h := histogram{a: a, b: b}
		h.diff(0, len(a.cls), 0, len(b.cls))
		return
	}
	classic(a, b, 0, len(a.cls), 0, len(b.cls))
}

// buildScript turns the changed-line marks into hunks, in file order.
func buildScript(a, b *side) []Hunk {
	var rev []Hunk
	i1, i2 := len(a.cls), len(b.cls)
	for i1 >= 0 || i2 >= 0 {
		if a.changed(i1-1) || b.changed(i2-1) {
			l1, l2 := i1, i2
			for a.changed(i1 - 1) {
				i1--
			}
			for b.changed(i2 - 1) {
				i2--
			}
			rev = append(rev, Hunk{I1: i1, Chg1: l1 - i1, I2: i2, Chg2: l2 - i2})
		}
		i1--
		i2--
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}
