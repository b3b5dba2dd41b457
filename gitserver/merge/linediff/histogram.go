// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

// maxChain is the occurrence count above which a line is considered too
// common to anchor the histogram LCS; git falls back to Myers for regions
// whose only common lines are that frequent.
const maxChain = 64

type histRec struct {
	ptr, cnt int
}

type region struct {
	b1, e1, b2, e2 int // inclusive line ranges of the chosen common run
}

type histogram struct {
	a, b *side
}

// diff marks changed lines in a[lo1:lo1+n1] versus b[lo2:lo2+n2]. The
// recursion on the part before the anchor and the loop on the part after
// it mirror git's order, which matters for which of several equal anchors
// gets picked in later regions.
func (h *histogram) diff(lo1, n1, lo2, n2 int) {
	for {
		if n1 <= 0 && n2 <= 0 {
			return
		}
		if n1 == 0 {
			for i := lo2; i < lo2+n2; i++ {
				h.b.mark(i, true)
			}
			return
		}
		if n2 == 0 {
			for i := lo1; i < lo1+n1; i++ {
				h.a.mark(i, true)
			}
			return
		}
		lcs, found, fallback := h.findLCS(lo1, n1, lo2, n2)
		if fallback {
			classic(h.a, h.b, lo1, n1, lo2, n2)
			return
		}
		if !found {
			for i := lo1; i < lo1+n1; i++ {
				h.a.mark(i, true)
			}
			for i := lo2; i < lo2+n2; i++ {
				h.b.mark(i, true)
			}
			return
		}
		h.diff(lo1, lcs.b1-lo1, lo2, lcs.b2-lo2)
		end1, end2 := lo1+n1-1, lo2+n2-1
		n1, lo1 = end1-lcs.e1, lcs.e1+1
		n2, lo2 = end2-lcs.e2, lcs.e2+1
	}
}

// findLCS picks the anchor run: among runs of equal lines, the one whose
// rarest line (counted in a's region) is least frequent, and among those
// the longest found first while scanning b forward.
func (h *histogram) findLCS(lo1, n1, lo2, n2 int) (lcs region, found, fallback bool) {
	a, b := h.a.cls, h.b.cls
	end1, end2 := lo1+n1-1, lo2+n2-1

	recs := make(map[int]*histRec, n1)
	next := make([]int, n1)
	lineRec := make([]*histRec, n1)
	// Scanning backwards leaves each class's record pointing at its
	// first occurrence, with next[] chaining the later ones in order.
	for p := end1; p >= lo1; p-- {
		c := a[p]
		if r, ok := recs[c]; ok {
			next[p-lo1] = r.ptr
			r.ptr = p
			r.cnt++
			lineRec[p-lo1] = r
			continue
		}
		r := &histRec{ptr: p, cnt: 1}
		next[p-lo1] = -1
		recs[c] = r
		lineRec[p-lo1] = r
	}

	cnt := maxChain + 1
	hasCommon := false
	for bp := lo2; bp <= end2; {
		bnext := bp + 1
		r := recs[b[bp]]
		if r != nil {
			hasCommon = true
			if r.cnt <= cnt {
				as := r.ptr
				for {
					np := next[as-lo1]
					bs, ae, be, rc := bp, as, bp, r.cnt
					for as > lo1 && bs > lo2 && a[as-1] == b[bs-1] {
						as--
						bs--
						if rc > 1 {
							rc = min(rc, lineRec[as-lo1].cnt)
						}
					}
					for ae < end1 && be < end2 && a[ae+1] == b[be+1] {
						ae++
						be++
						if rc > 1 {
							rc = min(rc, lineRec[ae-lo1].cnt)
						}
					}
					if bnext <= be {
						bnext = be + 1
					}
					if lcs.e1-lcs.b1 < ae-as || rc < cnt {
						lcs = region{b1: as, e1: ae, b2: bs, e2: be}
						cnt = rc
					}
					for np >= 0 && np <= ae {
						np = next[np-lo1]
					}
					if np < 0 {
						break
					}
					as = np
				}
			}
		}
		bp = bnext
	}
	switch {
	case !hasCommon:
		return lcs, false, false
	case cnt > maxChain:
		return lcs, false, true
	}
	return lcs, true, false
}
