// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

// Tuning constants of xdiff's Myers implementation. They make the diff
// non-minimal on large, very different inputs, and git's numbers depend on
// exactly these cut-offs.
const (
	maxCostMin  = 256
	heurMinCost = 256
	snakeCnt    = 20
	kHeur       = 4
	maxEqLimit  = 1024
	simscanWin  = 100
	kpdisRun    = 4
	lineMax     = int(^uint(0) >> 1)
)

// bogosqrt is xdiff's cheap square-root approximation; the exact value
// matters because it sets the cost cut-off and the "too common" limit.
func bogosqrt(n int) int {
	i := 1
	for ; n > 0; n >>= 2 {
		i <<= 1
	}
	return i
}

// classic runs git's Myers diff on a[lo1:lo1+n1] versus b[lo2:lo2+n2] as
// if those ranges were whole files (that is how the histogram fallback
// calls it), marking changed lines in a and b.
func classic(a, b *side, lo1, n1, lo2, n2 int) {
	ca, cb := a.cls[lo1:lo1+n1], b.cls[lo2:lo2+n2]

	// Common head and tail are unchanged and excluded from everything
	// below, including the frequency analysis window.
	start := 0
	for start < n1 && start < n2 && ca[start] == cb[start] {
		start++
	}
	tail := 0
	for tail < min(n1, n2)-start && ca[n1-1-tail] == cb[n2-1-tail] {
		tail++
	}
	dend1, dend2 := n1-tail-1, n2-tail-1

	// Lines with no counterpart are changed for sure; lines with very
	// many counterparts are dropped when they sit among such lines. Only
	// the rest go through the O(ND) search.
	occ1 := make(map[int]int, n1)
	for _, c := range ca {
		occ1[c]++
	}
	occ2 := make(map[int]int, n2)
	for _, c := range cb {
		occ2[c]++
	}
	dis1 := discardMarks(ca, start, dend1, occ2, min(bogosqrt(n1), maxEqLimit))
	dis2 := discardMarks(cb, start, dend2, occ1, min(bogosqrt(n2), maxEqLimit))

	var idx1, idx2 []int // positions (in the range) of kept lines
	var h1, h2 []int
	for i := start; i <= dend1; i++ {
		if dis1[i] == 1 || (dis1[i] == 2 && !cleanMMatch(dis1, i, start, dend1)) {
			idx1 = append(idx1, i)
			h1 = append(h1, ca[i])
		} else {
			a.mark(lo1+i, true)
		}
	}
	for i := start; i <= dend2; i++ {
		if dis2[i] == 1 || (dis2[i] == 2 && !cleanMMatch(dis2, i, start, dend2)) {
			idx2 = append(idx2, i)
			h2 = append(h2, cb[i])
		} else {
			b.mark(lo2+i, true)
		}
	}

	ndiags := len(h1) + len(h2) + 3
	m := &myers{
		h1: h1, h2: h2,
		kf:     make([]int, ndiags),
		kb:     make([]int, ndiags),
		off:    len(h2) + 1,
		mxcost: max(bogosqrt(ndiags), maxCostMin),
		mark1:  func(i int) { a.mark(lo1+idx1[i], true) },
		mark2:  func(i int) { b.mark(lo2+idx2[i], true) },
	}
	m.compare(0, len(h1), 0, len(h2), false)
}

// discardMarks classifies lines in [start, end]: 0 = no match in the other
// file, 1 = matched, 2 = matched more than limit times.
func discardMarks(cls []int, start, end int, other map[int]int, limit int) []byte {
	dis := make([]byte, len(cls)+1)
	for i := start; i <= end; i++ {
		nm := other[cls[i]]
		switch {
		case nm == 0:
			dis[i] = 0
		case nm >= limit:
			dis[i] = 2
		default:
			dis[i] = 1
		}
	}
	return dis
}

// cleanMMatch reports whether a too-common line at i sits in a run that is
// mostly unmatched lines, in which case it is dropped like them.
func cleanMMatch(dis []byte, i, s, e int) bool {
	if i-s > simscanWin {
		s = i - simscanWin
	}
	if e-i > simscanWin {
		e = i + simscanWin
	}
	rdis0, rpdis0 := 0, 1
	for r := 1; i-r >= s; r++ {
		if dis[i-r] == 0 {
			rdis0++
		} else if dis[i-r] == 2 {
			rpdis0++
		} else {
			break
		}
	}
	if rdis0 == 0 {
		return false
	}
	rdis1, rpdis1 := 0, 1
	for r := 1; i+r <= e; r++ {
		if dis[i+r] == 0 {
			rdis1++
		} else if dis[i+r] == 2 {
			rpdis1++
		} else {
			break
		}
	}
	if rdis1 == 0 {
		return false
	}
	rdis1 += rdis0
	rpdis1 += rpdis0
	return rpdis1*kpdisRun < rpdis1+rdis1
}

type myers struct {
	h1, h2       []int
	kf, kb       []int // diagonal vectors, indexed by diagonal+off
	off          int
	mxcost       int
	mark1, mark2 func(int)
}

// compare is the divide-and-conquer driver: shrink the box by its common
// ends, then split it at a middle snake and recurse.
func (m *myers) compare(off1, lim1, off2, lim2 int, needMin bool) {
	h1, h2 := m.h1, m.h2
	for off1 < lim1 && off2 < lim2 && h1[off1] == h2[off2] {
		off1++
		off2++
	}
	for off1 < lim1 && off2 < lim2 && h1[lim1-1] == h2[lim2-1] {
		lim1--
		lim2--
	}
	switch {
	case off1 == lim1:
		for ; off2 < lim2; off2++ {
			m.mark2(off2)
		}
	case off2 == lim2:
		for ; off1 < lim1; off1++ {
			m.mark1(off1)
		}
	default:
		i1, i2, minLo, minHi := m.split(off1, lim1, off2, lim2, needMin)
		m.compare(off1, i1, off2, i2, minLo)
		m.compare(i1, lim1, i2, lim2, minHi)
	}
}

func (m *myers) split(off1, lim1, off2, lim2 int, needMin bool) (int, int, bool, bool) {
	h1, h2 := m.h1, m.h2
	kf := func(d int) *int { return &m.kf[d+m.off] }
	kb := func(d int) *int { return &m.kb[d+m.off] }

	dmin, dmax := off1-lim2, lim1-off2
	fmid, bmid := off1-off2, lim1-lim2
	odd := (fmid-bmid)&1 != 0
	fmin, fmax := fmid, fmid
	bmin, bmax := bmid, bmid
	*kf(fmid) = off1
	*kb(bmid) = lim1

	for ec := 1; ; ec++ {
		gotSnake := false

		if fmin > dmin {
			fmin--
			*kf(fmin - 1) = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			*kf(fmax + 1) = -1
		} else {
			fmax--
		}
		for d := fmax; d >= fmin; d -= 2 {
			var i1 int
			if *kf(d - 1) >= *kf(d + 1) {
				i1 = *kf(d - 1) + 1
			} else {
				i1 = *kf(d + 1)
			}
			prev1 := i1
			i2 := i1 - d
			for i1 < lim1 && i2 < lim2 && h1[i1] == h2[i2] {
				i1++
				i2++
			}
			if i1-prev1 > snakeCnt {
				gotSnake = true
			}
			*kf(d) = i1
			if odd && bmin <= d && d <= bmax && *kb(d) <= i1 {
				return i1, i2, true, true
			}
		}

		if bmin > dmin {
			bmin--
			*kb(bmin - 1) = lineMax
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			*kb(bmax + 1) = lineMax
		} else {
			bmax--
		}
		for d := bmax; d >= bmin; d -= 2 {
			var i1 int
			if *kb(d - 1) < *kb(d + 1) {
				i1 = *kb(d - 1)
			} else {
				i1 = *kb(d + 1) - 1
			}
			prev1 := i1
			i2 := i1 - d
			for i1 > off1 && i2 > off2 && h1[i1-1] == h2[i2-1] {
				i1--
				i2--
			}
			if prev1-i1 > snakeCnt {
				gotSnake = true
			}
			*kb(d) = i1
			if !odd && fmin <= d && d <= fmax && i1 <= *kf(d) {
				return i1, i2, true, true
			}
		}

		if needMin {
			continue
		}

		// Past the heuristic threshold, accept a split at a diagonal that
		// made good progress along a long snake.
		if gotSnake && ec > heurMinCost {
			best, si1, si2 := 0, 0, 0
			for d := fmax; d >= fmin; d -= 2 {
				dd := d - fmid
				if dd < 0 {
					dd = -dd
				}
				i1 := *kf(d)
				i2 := i1 - d
				v := (i1 - off1) + (i2 - off2) - dd
				if v > kHeur*ec && v > best &&
					off1+snakeCnt <= i1 && i1 < lim1 &&
					off2+snakeCnt <= i2 && i2 < lim2 {
					for k := 1; h1[i1-k] == h2[i2-k]; k++ {
						if k == snakeCnt {
							best, si1, si2 = v, i1, i2
							break
						}
					}
				}
			}
			if best > 0 {
				return si1, si2, true, false
			}
			best = 0
			for d := bmax; d >= bmin; d -= 2 {
				dd := d - bmid
				if dd < 0 {
					dd = -dd
				}
				i1 := *kb(d)
				i2 := i1 - d
				v := (lim1 - i1) + (lim2 - i2) - dd
				if v > kHeur*ec && v > best &&
					off1 < i1 && i1 <= lim1-snakeCnt &&
					off2 < i2 && i2 <= lim2-snakeCnt {
					for k := 0; h1[i1+k] == h2[i2+k]; k++ {
						if k == snakeCnt-1 {
							best, si1, si2 = v, i1, i2
							break
						}
					}
				}
			}
			if best > 0 {
				return si1, si2, false, true
			}
		}

		// Too expensive: take the furthest-reaching path found so far.
		if ec >= m.mxcost {
			fbest, fbest1 := -1, -1
			for d := fmax; d >= fmin; d -= 2 {
				i1 := min(*kf(d), lim1)
				i2 := i1 - d
				if lim2 < i2 {
					i1 = lim2 + d
					i2 = lim2
				}
				if fbest < i1+i2 {
					fbest = i1 + i2
					fbest1 = i1
				}
			}
			bbest, bbest1 := lineMax, lineMax
			for d := bmax; d >= bmin; d -= 2 {
				i1 := max(off1, *kb(d))
				i2 := i1 - d
				if i2 < off2 {
					i1 = off2 + d
					i2 = off2
				}
				if i1+i2 < bbest {
					bbest = i1 + i2
					bbest1 = i1
				}
			}
			if (lim1+lim2)-bbest < fbest-(off1+off2) {
				return fbest1, fbest - fbest1, true, false
			}
			return bbest1, bbest - bbest1, false, true
		}
	}
}
