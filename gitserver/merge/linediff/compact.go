// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

// group is a run of changed lines [start, end) in one file; an empty group
// (start == end) sits just above an unchanged line.
type group struct{ start, end int }

func groupInit(s *side) group {
	g := group{}
	for s.changed(g.end) {
		g.end++
	}
	return g
}

func groupNext(s *side, g *group) bool {
	if g.end == len(s.cls) {
		return false
	}
	g.start = g.end + 1
	g.end = g.start
	for s.changed(g.end) {
		g.end++
	}
	return true
}

func groupPrevious(s *side, g *group) bool {
	if g.start == 0 {
		return false
	}
	g.end = g.start - 1
	g.start = g.end
	for s.changed(g.start - 1) {
		g.start--
	}
	return true
}

func slideDown(s *side, g *group) bool {
	if g.end < len(s.cls) && s.cls[g.start] == s.cls[g.end] {
		s.mark(g.start, false)
		s.mark(g.end, true)
		g.start++
		g.end++
		for s.changed(g.end) {
			g.end++
		}
		return true
	}
	return false
}

func slideUp(s *side, g *group) bool {
	if g.start > 0 && s.cls[g.start-1] == s.cls[g.end-1] {
		g.start--
		g.end--
		s.mark(g.start, true)
		s.mark(g.end, false)
		for s.changed(g.start - 1) {
			g.start--
		}
		return true
	}
	return false
}

// compact slides each group of changes in x as xdiff does: merge with
// neighbours where possible, then align with a change in the other file,
// else place it by the indent heuristic when x.recs is set, else leave it
// as low as it can go. Hunk boundaries decide which merge
// hunks touch, so this must match git, not merely be valid.
func compact(x, o *side) {
	g := groupInit(x)
	gother := groupInit(o)
	for {
		if g.end != g.start {
			var earliestEnd, endMatchingOther int
			for {
				size := g.end - g.start
				endMatchingOther = -1
				for slideUp(x, &g) {
					groupPrevious(o, &gother)
				}
				earliestEnd = g.end
				if gother.end > gother.start {
					endMatchingOther = g.end
				}
				for slideDown(x, &g) {
					groupNext(o, &gother)
					if gother.end > gother.start {
						endMatchingOther = g.end
					}
				}
				if size == g.end-g.start {
					break
				}
			}
			switch {
			case g.end == earliestEnd:
				// It could not move at all.
			case endMatchingOther != -1:
				for gother.end == gother.start {
					slideUp(x, &g)
					groupPrevious(o, &gother)
				}
			case x.recs != nil:
				best := bestIndentShift(x, g, earliestEnd)
				for g.end > best {
					slideUp(x, &g)
					groupPrevious(o, &gother)
				}
			}
		}
		if !groupNext(x, &g) {
			break
		}
		groupNext(o, &gother)
	}
}
