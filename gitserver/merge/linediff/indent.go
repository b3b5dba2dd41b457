// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

// xdiff's indent heuristic (XDF_INDENT_HEURISTIC): among the positions a
// group of added or deleted lines can slide to, pick the one whose two
// boundaries look most like block boundaries. The weights are git's
// (determined empirically by its authors); they are reproduced exactly
// because any other choice shows a different, equally valid diff.

const (
	maxIndent        = 200
	maxBlanks        = 20
	maxIndentSliding = 100

	startOfFilePenalty     = 1
	endOfFilePenalty       = 21
	totalBlankWeight       = -30
	postBlankWeight        = 6
	relIndentPenalty       = -4
	relIndentBlankPenalty  = 10
	relOutdentPenalty      = 24
	relOutdentBlankPenalty = 17
	relDedentPenalty       = 23
	relDedentBlankPenalty  = 17
	indentWeight           = 60
)

// isSpace is git's isspace: ASCII space, tab, newline, carriage return.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// lineIndent is the indentation of a line, a tab counting to the next
// multiple of 8; -1 for a line of only whitespace.
func lineIndent(rec []byte) int {
	ret := 0
	for _, c := range rec {
		if !isSpace(c) {
			return ret
		}
		switch c {
		case ' ':
			ret++
		case '\t':
			ret += 8 - ret%8
		}
		if ret >= maxIndent {
			return maxIndent
		}
	}
	return -1
}

// splitMeasure describes the surroundings of a split above line split.
type splitMeasure struct {
	endOfFile  bool
	indent     int // of the line after the split, -1 if blank
	preBlank   int // blank lines just above the split
	preIndent  int // of the nearest non-blank line above, -1 if none
	postBlank  int // blank lines after the line after the split
	postIndent int // of the nearest non-blank line after that, -1 if none
}

func measureSplit(recs [][]byte, split int) splitMeasure {
	var m splitMeasure
	if split >= len(recs) {
		m.endOfFile = true
		m.indent = -1
	} else {
		m.indent = lineIndent(recs[split])
	}
	m.preIndent = -1
	for i := split - 1; i >= 0; i-- {
		m.preIndent = lineIndent(recs[i])
		if m.preIndent != -1 {
			break
		}
		m.preBlank++
		if m.preBlank == maxBlanks {
			m.preIndent = 0
			break
		}
	}
	m.postIndent = -1
	for i := split + 1; i < len(recs); i++ {
		m.postIndent = lineIndent(recs[i])
		if m.postIndent != -1 {
			break
		}
		m.postBlank++
		if m.postBlank == maxBlanks {
			m.postIndent = 0
			break
		}
	}
	return m
}

type splitScore struct {
	effectiveIndent int
	penalty         int
}

func (s *splitScore) add(m splitMeasure) {
	if m.preIndent == -1 && m.preBlank == 0 {
		s.penalty += startOfFilePenalty
	}
	if m.endOfFile {
		s.penalty += endOfFilePenalty
	}
	postBlank := 0
	if m.indent == -1 {
		postBlank = 1 + m.postBlank
	}
	totalBlank := m.preBlank + postBlank
	s.penalty += totalBlankWeight * totalBlank
	s.penalty += postBlankWeight * postBlank
	indent := m.indent
	if indent == -1 {
		indent = m.postIndent
	}
	anyBlanks := totalBlank != 0
	s.effectiveIndent += indent
	pick := func(blank, plain int) int {
		if anyBlanks {
			return blank
		}
		return plain
	}
	switch {
	case indent == -1, m.preIndent == -1:
	case indent > m.preIndent:
		s.penalty += pick(relIndentBlankPenalty, relIndentPenalty)
	case indent == m.preIndent:
	case m.postIndent != -1 && m.postIndent > indent:
		s.penalty += pick(relOutdentBlankPenalty, relOutdentPenalty)
	default:
		s.penalty += pick(relDedentBlankPenalty, relDedentPenalty)
	}
}

// cmp is negative when s is the better (lower) score.
func (s splitScore) cmp(o splitScore) int {
	c := 0
	switch {
	case s.effectiveIndent > o.effectiveIndent:
		c = 1
	case s.effectiveIndent < o.effectiveIndent:
		c = -1
	}
	return indentWeight*c + (s.penalty - o.penalty)
}

// bestIndentShift returns the end the group g (slid as far down as it
// goes; earliestEnd is its end when slid fully up) should have. Later
// positions win ties.
func bestIndentShift(x *side, g group, earliestEnd int) int {
	size := g.end - g.start
	shift := max(earliestEnd, g.end-size-1, g.end-maxIndentSliding)
	best := -1
	var bestScore splitScore
	for ; shift <= g.end; shift++ {
		var s splitScore
		s.add(measureSplit(x.recs, shift))
		s.add(measureSplit(x.recs, shift-size))
		if best == -1 || s.cmp(bestScore) <= 0 {
			bestScore, best = s, shift
		}
	}
	return best
}
