package gitdiff

import (
	"strings"
)

// Path quoting as git prints paths at its default core.quotePath=true:
// control characters, '"', '\\' and every byte of 0x80 and above are
// escaped and the whole name put in double quotes; anything else,
// spaces included, is printed as it is.

// escapeFor returns the letter git escapes c with ('n' for "\n"), 0 for
// an octal escape, and ok=false when c needs no quoting.
func escapeFor(c byte) (letter byte, ok bool) {
	switch c {
	case '\a':
		return 'a', true
	case '\b':
		return 'b', true
	case '\t':
		return 't', true
	case '\n':
		return 'n', true
	case '\v':
		return 'v', true
	case '\f':
		return 'f', true
	case '\r':
		return 'r', true
	case '"':
		return '"', true
	case '\\':
		return '\\', true
	}
	if c < 0x20 || c >= 0x7f {
		return 0, true
	}
	return 0, false
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := escapeFor(s[i]); ok {
			return true
		}
	}
	return false
}

// writeEscaped writes s with git's escapes, without the quotes.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter, ok := escapeFor(c)
		switch {
		case !ok:
			b.WriteByte(c)
		case letter != 0:
			b.WriteByte('\\')
			b.WriteByte(letter)
		default:
			b.WriteByte('\\')
			b.WriteByte('0' + c>>6&3)
			b.WriteByte('0' + c>>3&7)
			b.WriteByte('0' + c&7)
		}
	}
}

// quotePath is git's quote_c_style: s itself, or s escaped in quotes.
func quotePath(s string) string {
	if !needsQuote(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	writeEscaped(&b, s)
	b.WriteByte('"')
	return b.String()
}

// quotePrefixed quotes prefix+name as one string ("a/dir/name"), quoted
// as a whole when either part needs it.
func quotePrefixed(prefix, name string) string {
	if !needsQuote(prefix) && !needsQuote(name) {
		return prefix + name
	}
	var b strings.Builder
	b.WriteByte('"')
	writeEscaped(&b, prefix)
	writeEscaped(&b, name)
	b.WriteByte('"')
	return b.String()
}

// renameName is how git's diffstat and summary name a rename:
// "dir/{old => new}/file" around the longest common directory prefix and
// suffix, or "old => new" quoted separately when either needs quoting.
func renameName(a, b string) string {
	if needsQuote(a) || needsQuote(b) {
		return quotePath(a) + " => " + quotePath(b)
	}
	// Common prefix, ending at a '/'.
	pfx := 0
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == '/' {
			pfx = i + 1
		}
	}
	// Common suffix, starting at a '/'. With a prefix, the scan may look
	// one byte into it to find the slash that ends it.
	sfx := 0
	adjust := 0
	if pfx > 0 {
		adjust = 1
	}
	for ia, ib := len(a), len(b); ia >= pfx-adjust && ib >= pfx-adjust; ia, ib = ia-1, ib-1 {
		ca, cb := byteAt(a, ia), byteAt(b, ib)
		if ca != cb {
			break
		}
		if ca == '/' {
			sfx = len(a) - ia
		}
	}
	aMid := max(len(a)-pfx-sfx, 0)
	bMid := max(len(b)-pfx-sfx, 0)
	var s strings.Builder
	if pfx+sfx > 0 {
		s.WriteString(a[:pfx])
		s.WriteByte('{')
	}
	s.WriteString(a[pfx : pfx+aMid])
	s.WriteString(" => ")
	s.WriteString(b[pfx : pfx+bMid])
	if pfx+sfx > 0 {
		s.WriteByte('}')
		s.WriteString(a[len(a)-sfx:])
	}
	return s.String()
}

// byteAt reads s[i], with the terminating NUL git's scan sees at len(s).
func byteAt(s string, i int) byte {
	if i >= len(s) {
		return 0
	}
	return s[i]
}
