// SPDX-License-Identifier: LGPL-2.1-or-later
// Part of gitserver/merge/linediff, offered under the GNU LGPL 2.1 or later
// (see LICENSE in this directory); the rest of Tapioca is MIT-licensed.

package linediff

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// gitEnv keeps the user's git configuration (diff.algorithm,
// indentHeuristic, ...) from changing what the real client computes.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
}

var hunkRE = regexp.MustCompile(`(?m)^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@`)

// gitHunks asks the real client for the -U0 hunks between two files.
func gitHunks(t *testing.T, dir string, a, b []byte, args ...string) []Hunk {
	t.Helper()
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(pa, a, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", append([]string{"diff", "--no-index", "-U0", "--no-indent-heuristic", "--no-color"}, append(args, pa, pb)...)...)
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("git diff: %v", err)
		}
	}
	var hs []Hunk
	for _, m := range hunkRE.FindAllSubmatch(out, -1) {
		num := func(s []byte, def int) int {
			if s == nil {
				return def
			}
			n, _ := strconv.Atoi(string(s))
			return n
		}
		s1, c1, s2, c2 := num(m[1], 0), num(m[2], 1), num(m[3], 0), num(m[4], 1)
		// A header names the line before an empty range, and the first
		// line (1-based) of a non-empty one.
		if c1 > 0 {
			s1--
		}
		if c2 > 0 {
			s2--
		}
		hs = append(hs, Hunk{I1: s1, Chg1: c1, I2: s2, Chg2: c2})
	}
	return hs
}

// mutate makes a random edit of text built from a small alphabet, so that
// repeated lines force the algorithms' tie-breaking paths.
func mutate(r *rand.Rand, lines []string, alphabet []string, edits int) []string {
	out := append([]string(nil), lines...)
	for e := 0; e < edits; e++ {
		pos := 0
		if len(out) > 0 {
			pos = r.Intn(len(out) + 1)
		}
		switch r.Intn(3) {
		case 0: // insert
			n := 1 + r.Intn(3)
			ins := make([]string, n)
			for i := range ins {
				ins[i] = alphabet[r.Intn(len(alphabet))]
			}
			out = append(out[:pos], append(ins, out[pos:]...)...)
		case 1: // delete
			if pos < len(out) {
				n := min(1+r.Intn(3), len(out)-pos)
				out = append(out[:pos], out[pos+n:]...)
			}
		default: // replace
			if pos < len(out) {
				out[pos] = alphabet[r.Intn(len(alphabet))]
			}
		}
	}
	return out
}

func join(lines []string, finalNL bool) []byte {
	var b bytes.Buffer
	for i, l := range lines {
		b.WriteString(l)
		if i < len(lines)-1 || finalNL {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func alphabet(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = fmt.Sprintf("line %d", i)
	}
	return a
}

func TestDiffMatchesGit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		alphabet, lines int
		edits, rounds   int
	}{
		{"tiny-repetitive", 3, 12, 4, 60},
		{"small", 20, 60, 8, 40},
		{"frequent-lines-fallback", 2, 300, 30, 10},
		{"large-many-edits", 400, 3000, 600, 4},
		{"huge-diff-cost-cutoff", 5000, 6000, 4000, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := rand.New(rand.NewSource(int64(len(tc.name))))
			al := alphabet(tc.alphabet)
			for round := 0; round < tc.rounds; round++ {
				base := mutate(r, nil, al, tc.lines)
				other := mutate(r, base, al, tc.edits)
				a, b := join(base, r.Intn(4) != 0), join(other, r.Intn(4) != 0)
				la, lb := SplitLines(a), SplitLines(b)
				for _, alg := range []struct {
					name string
					alg  Algorithm
					args []string
				}{{"myers", Myers, []string{"--diff-algorithm=myers"}}, {"histogram", Histogram, []string{"--histogram"}}} {
					want := gitHunks(t, dir, a, b, alg.args...)
					got := Diff(la, lb, alg.alg)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("round %d %s: hunks differ from git\n got %v\nwant %v", round, alg.name, got, want)
					}
				}
				del, add := Count(la, lb)
				var wd, wa int
				for _, h := range gitHunks(t, dir, a, b, "--diff-algorithm=myers") {
					wd += h.Chg1
					wa += h.Chg2
				}
				if del != wd || add != wa {
					t.Fatalf("round %d: Count = -%d +%d, git -%d +%d", round, del, add, wd, wa)
				}
			}
		})
	}
}

func TestMerge3(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		base, ours, theirs string
		want               string
		clean              bool
	}{
		{"disjoint", "a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n", "A\nb\nc\nd\nE\n", true},
		{"adjacent conflicts", "a\nb\nc\n", "A\nb\nc\n", "a\nB\nc\n", "", false},
		{"same change", "a\nb\nc\n", "a\nX\nc\n", "a\nX\nc\n", "a\nX\nc\n", true},
		{"one side only", "a\n", "a\n", "b\n", "b\n", true},
		{"eof newline added vs last line edited", "a\nb\nc\nd", "a\nb\nc\nD", "a\nb\nc\nd\n", "", false},
		{"eof newline added, edit two lines above", "a\nb\nc\nd", "a\nB\nc\nd", "a\nb\nc\nd\n", "a\nB\nc\nd\n", true},
		{"eof newline far from edit", "a\nb\nc\nd\ne", "A\nb\nc\nd\ne", "a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", true},
		{"empty base both add differently", "", "x\n", "y\n", "", false},
		{"overlapping identical results", "a\nb\nc\nd\n", "a\nX\nY\nd\n", "a\nX\nY\nd\n", "a\nX\nY\nd\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, clean := Merge3([]byte(tc.base), []byte(tc.ours), []byte(tc.theirs))
			if clean != tc.clean || (clean && string(got) != tc.want) {
				t.Fatalf("Merge3 = %q, %v; want %q, %v", got, clean, tc.want, tc.clean)
			}
		})
	}
}

// codeLike builds text shaped like source code: nested blocks, blank
// lines between them and repeated closing lines, which is what gives the
// indent heuristic ambiguous slides to decide.
func codeLike(r *rand.Rand, blocks int) []string {
	var out []string
	for b := 0; b < blocks; b++ {
		name := fmt.Sprintf("func f%d() {", r.Intn(blocks*2))
		out = append(out, name)
		depth := 1
		for s := 0; s < 2+r.Intn(6); s++ {
			ind := strings.Repeat("\t", depth)
			switch r.Intn(5) {
			case 0:
				out = append(out, ind+"if x {")
				depth++
			case 1:
				if depth > 1 {
					depth--
					out = append(out, strings.Repeat("\t", depth)+"}")
				}
			case 2:
				out = append(out, "")
			default:
				out = append(out, fmt.Sprintf("%sx = %d", ind, r.Intn(4)))
			}
		}
		for depth > 0 {
			depth--
			out = append(out, strings.Repeat("\t", depth)+"}")
		}
		if r.Intn(3) > 0 {
			out = append(out, "")
		}
	}
	return out
}

// mutateBlocks inserts or deletes whole runs of lines copied from the
// text itself, the edits whose placement is ambiguous.
func mutateBlocks(r *rand.Rand, lines []string, edits int) []string {
	out := append([]string(nil), lines...)
	for e := 0; e < edits && len(out) > 2; e++ {
		start := r.Intn(len(out) - 1)
		n := 1 + r.Intn(min(6, len(out)-start))
		if r.Intn(2) == 0 {
			out = append(out[:start], out[start+n:]...)
			continue
		}
		block := append([]string(nil), out[start:start+n]...)
		at := start + r.Intn(n+1)
		out = append(out[:at], append(block, out[at:]...)...)
	}
	return out
}

func TestIndentHeuristicMatchesGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := rand.New(rand.NewSource(7))
	for round := 0; round < 60; round++ {
		base := codeLike(r, 3+r.Intn(8))
		other := mutateBlocks(r, base, 1+r.Intn(4))
		a, b := join(base, true), join(other, round%5 != 0)
		want := gitHunks(t, dir, a, b, "--diff-algorithm=myers", "--indent-heuristic")
		got := DiffWith(SplitLines(a), SplitLines(b), Options{Algorithm: Myers, IndentHeuristic: true})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: hunks differ from git\n got %v\nwant %v\n--- a\n%s--- b\n%s", round, got, want, a, b)
		}
	}
}

var headerRE = regexp.MustCompile(`(?m)^@@ .*$`)

// TestUnifiedHeadersMatchGit checks hunk grouping, ranges and function
// names against `git diff` at several context sizes.
func TestUnifiedHeadersMatchGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := rand.New(rand.NewSource(11))
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for round := 0; round < 40; round++ {
		base := codeLike(r, 4+r.Intn(10))
		if round%7 == 0 {
			// Long function lines are cut at 80 bytes.
			base[0] = "func " + strings.Repeat("long_name_", 12) + "() {   "
		}
		other := mutateBlocks(r, base, 1+r.Intn(5))
		a, b := join(base, round%4 != 0), join(other, round%3 != 0)
		if err := os.WriteFile(pa, a, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pb, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ctx := range []int{0, 1, 3, 5} {
			cmd := exec.Command("git", "diff", "--no-index", "--no-color", fmt.Sprintf("-U%d", ctx), pa, pb)
			cmd.Env = gitEnv()
			out, _ := cmd.Output()
			want := strings.Join(headerRE.FindAllString(string(out), -1), "\n")
			la, lb := SplitLines(a), SplitLines(b)
			var hs []string
			for _, h := range Unified(la, lb, DiffWith(la, lb, Options{IndentHeuristic: true}), ctx) {
				hs = append(hs, formatHeader(h))
			}
			if got := strings.Join(hs, "\n"); got != want {
				t.Fatalf("round %d -U%d:\n got %s\nwant %s", round, ctx, got, want)
			}
		}
	}
}

func formatHeader(h UnifiedHunk) string {
	start := func(s, n int) string {
		if n == 0 {
			return strconv.Itoa(s)
		}
		if n == 1 {
			return strconv.Itoa(s + 1)
		}
		return fmt.Sprintf("%d,%d", s+1, n)
	}
	old := start(h.OldStart, h.OldLines)
	if h.OldLines == 0 {
		old += ",0"
	}
	nw := start(h.NewStart, h.NewLines)
	if h.NewLines == 0 {
		nw += ",0"
	}
	s := fmt.Sprintf("@@ -%s +%s @@", old, nw)
	if len(h.Func) > 0 {
		s += " " + string(h.Func)
	}
	return s
}
