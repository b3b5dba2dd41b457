// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

// UnifiedHunk is one hunk of a unified diff as xdiff cuts them for
// `git diff -U<context>`: lines [OldStart, OldStart+OldLines) of the old
// file and [NewStart, NewStart+NewLines) of the new one (0-based), holding
// Changes with the context around and between them.
type UnifiedHunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Changes            []Hunk
	// Func is the text git prints after the hunk header: the nearest line
	// of the old file above the hunk that starts with a letter, '_' or '$'
	// (git's default funcname rule), cut to 80 bytes, trailing whitespace
	// removed. A hunk with no such line since the previous hunk's start
	// repeats the previous hunk's Func, as git does.
	Func []byte
}

// funcLineMax is the size of xdiff's function-line buffer.
const funcLineMax = 80

// Unified groups the changes of a diff of a and b into hunks with context
// lines of context, as xdiff does: changes at most 2*context unchanged
// lines apart share a hunk.
func Unified(a, b [][]byte, hunks []Hunk, context int) []UnifiedHunk {
	var out []UnifiedHunk
	var fn []byte
	funcPrev := -1
	for i := 0; i < len(hunks); {
		first := hunks[i]
		j := i
		for j+1 < len(hunks) && hunks[j+1].I1-(hunks[j].I1+hunks[j].Chg1) <= 2*context {
			j++
		}
		last := hunks[j]
		s1 := max(first.I1-context, 0)
		s2 := max(first.I2-context, 0)
		lctx := min(context, len(a)-(last.I1+last.Chg1), len(b)-(last.I2+last.Chg2))
		e1 := last.I1 + last.Chg1 + lctx
		e2 := last.I2 + last.Chg2 + lctx

		for l := s1 - 1; l != funcPrev && l >= 0 && l < len(a); l-- {
			if f, ok := funcLine(a[l]); ok {
				fn = f
				break
			}
		}
		funcPrev = s1 - 1

		out = append(out, UnifiedHunk{
			OldStart: s1, OldLines: e1 - s1,
			NewStart: s2, NewLines: e2 - s2,
			Changes: hunks[i : j+1 : j+1],
			Func:    fn,
		})
		i = j + 1
	}
	return out
}

// funcLine applies xdiff's default function-line rule to one line.
func funcLine(rec []byte) ([]byte, bool) {
	if len(rec) == 0 {
		return nil, false
	}
	c := rec[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$') {
		return nil, false
	}
	n := min(len(rec), funcLineMax)
	for n > 0 && isSpace(rec[n-1]) {
		n--
	}
	return rec[:n:n], true
}
