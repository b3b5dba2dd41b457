package core

import "unicode"

// Text rules for what people type: a single line (names, titles,
// descriptions) may hold no control character at all, NUL and line
// breaks included; multi-line text (bodies) keeps its line breaks and
// tabs but no other control character. Neither may hold the
// bidirectional override and isolate characters, which make text read
// differently from what it is (CVE-2021-42574).

// isBidiControl reports the explicit directional formatting characters
// (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI).
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// LineProblem says what is wrong with s as a single line, or "".
func LineProblem(s string) string {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			return "must be a single line"
		case unicode.IsControl(r):
			return "cannot contain control characters"
		case isBidiControl(r):
			return "cannot contain bidirectional override characters"
		}
	}
	return ""
}

// TextProblem says what is wrong with s as multi-line text, or "".
func TextProblem(s string) string {
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			return "cannot contain control characters"
		case isBidiControl(r):
			return "cannot contain bidirectional override characters"
		}
	}
	return ""
}

// CheckLine adds a problem with s as a single line to v under field.
func CheckLine(v Validation, field, s string) {
	if p := LineProblem(s); p != "" {
		v.Add(field, p)
	}
}

// CheckText adds a problem with s as multi-line text to v under field.
func CheckText(v Validation, field, s string) {
	if p := TextProblem(s); p != "" {
		v.Add(field, p)
	}
}
