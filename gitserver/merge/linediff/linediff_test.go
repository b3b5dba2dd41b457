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
