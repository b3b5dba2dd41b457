// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

import "bytes"

// Merge modes of a region, as in xdiff.
const (
	modeConflict = 0
	modeOurs     = 1
	modeTheirs   = 2
	modeResolved = 4 // conflict whose two sides turned out identical
)

type mergeRegion struct {
	mode     int
	i0, chg0 int // base
	i1, chg1 int // ours
	i2, chg2 int // theirs
}

// Merge3 merges two descendants of base line by line, with the rules of
// git's merge-ort at its default settings (histogram diff, "zealous"
// level, no favouring): changes from both sides that overlap or merely
// touch (adjacent lines) conflict unless they are the same change. It
// returns the merged text and true when the merge is clean; a conflicted
// merge returns nil and false, as the forge never stores conflict markers.
func Merge3(base, ours, theirs []byte) ([]byte, bool) {
	lb, lo, lt := SplitLines(base), SplitLines(ours), SplitLines(theirs)
	s1 := Diff(lb, lo, Histogram)
	s2 := Diff(lb, lt, Histogram)
	if len(s1) == 0 {
		return bytes.Clone(theirs), true
	}
	if len(s2) == 0 {
		return bytes.Clone(ours), true
	}
	regions := walkHunks(s1, s2, lo, lt, len(lo)-len(lb), len(lt)-len(lb))
	for i := range regions {
		m := &regions[i]
		// A conflict whose two post-images are the same text is no
		// conflict (git re-diffs them and finds nothing).
		if m.mode == modeConflict && m.chg1 > 0 && m.chg2 > 0 &&
			sameLines(lo[m.i1:m.i1+m.chg1], lt[m.i2:m.i2+m.chg2]) {
			m.mode = modeResolved
		}
	}
	var out bytes.Buffer
	out.Grow(max(len(ours), len(theirs)))
	i := 0
	for _, m := range regions {
		switch m.mode {
		case modeConflict:
			return nil, false
		case modeResolved:
			continue
		}
		writeLines(&out, lo[i:m.i1])
		if m.mode&modeOurs != 0 {
			writeLines(&out, lo[m.i1:m.i1+m.chg1])
		}
		if m.mode&modeTheirs != 0 {
			writeLines(&out, lt[m.i2:m.i2+m.chg2])
		}
		i = m.i1 + m.chg1
	}
	writeLines(&out, lo[i:])
	return out.Bytes(), true
}

// walkHunks pairs the hunks of both sides in base order. The coordinates it
// records for the side a hunk does not come from, and the merging of
// regions that touch in either side's coordinates, follow xdiff exactly:
// they decide which neighbouring hunks fuse into one conflict.
func walkHunks(s1, s2 []Hunk, lo, lt [][]byte, delta1, delta2 int) []mergeRegion {
	var rs []mergeRegion
	add := func(mode, i0, chg0, i1, chg1, i2, chg2 int) {
		if n := len(rs); n > 0 {
			m := &rs[n-1]
			if i1 <= m.i1+m.chg1 || i2 <= m.i2+m.chg2 {
				if mode != m.mode {
					m.mode = modeConflict
				}
				m.chg0 = i0 + chg0 - m.i0
				m.chg1 = i1 + chg1 - m.i1
				m.chg2 = i2 + chg2 - m.i2
				return
			}
		}
		rs = append(rs, mergeRegion{mode, i0, chg0, i1, chg1, i2, chg2})
	}

	x1, x2 := 0, 0
	for x1 < len(s1) && x2 < len(s2) {
		h1, h2 := s1[x1], s2[x2]
		if h1.I1+h1.Chg1 < h2.I1 {
			add(modeOurs, h1.I1, h1.Chg1, h1.I2, h1.Chg2, h2.I2-h2.I1+h1.I1, h1.Chg1)
			x1++
			continue
		}
		if h2.I1+h2.Chg1 < h1.I1 {
			add(modeTheirs, h2.I1, h2.Chg1, h1.I2-h1.I1+h2.I1, h2.Chg1, h2.I2, h2.Chg2)
			x2++
			continue
		}
		if h1.I1 != h2.I1 || h1.Chg1 != h2.Chg1 || h1.Chg2 != h2.Chg2 ||
			!sameLines(lo[h1.I2:h1.I2+h1.Chg2], lt[h2.I2:h2.I2+h2.Chg2]) {
			off := h1.I1 - h2.I1
			ffo := off + h1.Chg1 - h2.Chg1
			i0, i1, i2 := h1.I1, h1.I2, h2.I2
			if off > 0 {
				i0 -= off
				i1 -= off
			} else {
				i2 += off
			}
			chg0 := h1.I1 + h1.Chg1 - i0
			chg1 := h1.I2 + h1.Chg2 - i1
			chg2 := h2.I2 + h2.Chg2 - i2
			if ffo < 0 {
				chg0 -= ffo
				chg1 -= ffo
			} else {
				chg2 += ffo
			}
			add(modeConflict, i0, chg0, i1, chg1, i2, chg2)
		}
		e1, e2 := h1.I1+h1.Chg1, h2.I1+h2.Chg1
		if e1 >= e2 {
			x2++
		}
		if e2 >= e1 {
			x1++
		}
	}
	for ; x1 < len(s1); x1++ {
		h1 := s1[x1]
		add(modeOurs, h1.I1, h1.Chg1, h1.I2, h1.Chg2, h1.I1+delta2, h1.Chg1)
	}
	for ; x2 < len(s2); x2++ {
		h2 := s2[x2]
		add(modeTheirs, h2.I1, h2.Chg1, h2.I1+delta1, h2.Chg1, h2.I2, h2.Chg2)
	}
	return rs
}

func sameLines(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func writeLines(w *bytes.Buffer, ls [][]byte) {
	for _, l := range ls {
		w.Write(l)
	}
}

// IsBinary reports whether git would treat data as binary: a NUL byte in
// its first 8000 bytes.
func IsBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}
