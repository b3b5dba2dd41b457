package browse

import (
	"fmt"
	"strings"
	"testing"
)

// TestMatcherLines checks the whole-file prefilter never changes which
// lines match: every case is also run line by line.
func TestMatcherLines(t *testing.T) {
	for _, tc := range []struct {
		pattern, data string
		want          string // "line:col" of each match
	}{
		{"b", "a\nb\nab\n", "2:1 3:2"},
		{"^$", "a\n\nb\n", "2:1"},
		{"^$", "a\nb\n", ""}, // no line after the final newline
		{"x$", "ax\r\nbx\n", "2:2"},
		{`\r$`, "ax\r\nbx\n", "1:3"},
		{"b", "a\nlast b", "2:6"},
		{`a\sb`, "a\nb\na b\n", "3:1"}, // \s can cross lines in the whole file, not in a line
		{`[^x]+y`, "q\ny\nxy\n", ""},
		{`[^x]+y`, "q\nay\n", "2:1"},       // the whole-file match starts on line 1
		{`\Afoo`, "foo\nfoo\n", "1:1 2:1"}, // \A is each line's start, as git grep treats it
		{`foo\z`, "foo\nfoo", "1:1 2:1"},
		{`(?-m)^b`, "a\nb\n", "2:1"},
		{"é", "café\nthé\n", "1:4 2:3"},
		{"", "a\n", ""},
	} {
		t.Run(fmt.Sprintf("%q", tc.pattern), func(t *testing.T) {
			m, err := newMatcher(tc.pattern, false)
			if tc.pattern == "" {
				if err == nil {
					t.Fatal("empty pattern accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			m.each([]byte(tc.data), func(line, col int, text []byte) error {
				got = append(got, fmt.Sprintf("%d:%d", line, col))
				return nil
			})
			// The same without the whole-file prefilter.
			slow := &matcher{line: m.line}
			var want []string
			slow.each([]byte(tc.data), func(line, col int, text []byte) error {
				want = append(want, fmt.Sprintf("%d:%d", line, col))
				return nil
			})
			if strings.Join(got, " ") != tc.want || strings.Join(want, " ") != tc.want {
				t.Fatalf("matches %v (line by line %v), want %s", got, want, tc.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, path string
		want       bool
	}{
		{"*.go", "main.go", true},
		{"*.go", "cmd/tool/main.go", true},
		{"*.go", "main.go.txt", false},
		{"Makefile", "sub/Makefile", true},
		{"cmd/*.go", "cmd/main.go", true},
		{"cmd/*.go", "cmd/tool/main.go", false},
		{"cmd/**/*.go", "cmd/main.go", true},
		{"cmd/**/*.go", "cmd/a/b/main.go", true},
		{"cmd/**/*.go", "other/cmd/main.go", false},
		{"docs/**", "docs/a/b.md", true},
		{"docs/**", "docs", false},
		{"/docs/*.md", "docs/x.md", true},
		{"**/test_*.py", "a/test_x.py", true},
		{"**/test_*.py", "test_x.py", true},
		{"[ab].txt", "dir/a.txt", true},
		{"[ab].txt", "dir/c.txt", false},
	} {
		if got := matchGlob(tc.glob, tc.path); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
	}
	for _, bad := range []string{"[a", "x/[", "a\\"} {
		if err := checkGlob(bad); err == nil {
			t.Errorf("checkGlob(%q) accepted a bad pattern", bad)
		}
	}
}
