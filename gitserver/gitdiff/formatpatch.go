package gitdiff

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// PatchOptions tune a patch series.
type PatchOptions struct {
	Options
	// Signature follows the "-- " line at the end of each patch; git
	// prints its version there ("2.39.5"). Empty leaves the signature
	// out, as --no-signature.
	Signature string
}

// mailWrap is the width git wraps mail headers and the diffstat to.
const mailWrap = 72

// WriteFormatPatch writes what `git format-patch --stdout` prints for the
// given commits, oldest first (the order of `git log --reverse
// base..head`). Merge commits are skipped and not numbered, as git skips
// them; a commit that changes nothing is numbered but prints nothing, as
// in git. Each commit is diffed against its parent (a root commit against
// the empty tree).
func WriteFormatPatch(ctx context.Context, w io.Writer, s storer.EncodedObjectStorer, commits []*object.Commit, opts PatchOptions) error {
	var list []*object.Commit
	for _, c := range commits {
		if len(c.ParentHashes) <= 1 {
			list = append(list, c)
		}
	}
	d := &differ{ctx: ctx, s: s, opts: opts.Options, binaryPatches: true}
	shown := false
	var buf bytes.Buffer
	for i, c := range list {
		var parentTree plumbing.Hash
		if len(c.ParentHashes) == 1 {
			p, err := object.GetCommit(s, c.ParentHashes[0])
			if err != nil {
				return fmt.Errorf("format-patch %s: read parent: %w", c.Hash, err)
			}
			parentTree = p.TreeHash
		}
		q, err := d.queue(parentTree, c.TreeHash)
		if err != nil {
			return fmt.Errorf("format-patch %s: %w", c.Hash, err)
		}
		if len(q) == 0 {
			continue
		}
		buf.Reset()
		if shown {
			buf.WriteByte('\n')
		}
		shown = true
		writeMailHeader(&buf, c, i+1, len(list))
		buf.WriteString("---\n")
		entries, err := d.statEntries(q)
		if err != nil {
			return fmt.Errorf("format-patch %s: %w", c.Hash, err)
		}
		writeStat(&buf, entries, mailWrap)
		writeSummary(&buf, q)
		buf.WriteByte('\n')
		if err := d.writePatches(&buf, q); err != nil {
			return fmt.Errorf("format-patch %s: %w", c.Hash, err)
		}
		if opts.Signature != "" {
			buf.WriteString("-- \n" + opts.Signature)
			if !strings.HasSuffix(opts.Signature, "\n") {
				buf.WriteByte('\n')
			}
			buf.WriteByte('\n')
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeMailHeader writes the mbox "From " line, the mail headers and the
// commit message, up to the "---" line.
func writeMailHeader(b *bytes.Buffer, c *object.Commit, nr, total int) {
	fmt.Fprintf(b, "From %s Mon Sep 17 00:00:00 2001\n", c.Hash)
	start := b.Len()

	b.WriteString("From: ")
	name, email := c.Author.Name, c.Author.Email
	maxLen := 78
	switch {
	case needsRFC2047(name):
		addRFC2047(b, name, true)
		maxLen = 76
	case needsRFC822Quote(name):
		wrapText(b, rfc822Quote(name), -6, 1, maxLen)
	default:
		wrapText(b, name, -6, 1, maxLen)
	}
	if maxLen < lastLineLength(b)+len(" <")+len(email)+len(">") {
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, " <%s>\n", email)
	fmt.Fprintf(b, "Date: %s\n", c.Author.When.Format("Mon, 2 Jan 2006 15:04:05 -0700"))

	msg := c.Message
	msg = skipBlankLines(msg)
	var subject []string
	for msg != "" {
		line, rest := oneLine(msg)
		msg = rest
		line = trimRightSpace(line)
		if line == "" {
			break
		}
		subject = append(subject, line)
	}
	title := strings.Join(subject, " ")
	if total > 1 {
		fmt.Fprintf(b, "Subject: [PATCH %0*d/%d] ", decimalWidth(total), nr, total)
	} else {
		b.WriteString("Subject: [PATCH] ")
	}
	if needsRFC2047(title) {
		addRFC2047(b, title, false)
	} else {
		wrapText(b, title, -lastLineLength(b), 1, 78)
	}
	b.WriteByte('\n')
	if hasNonASCII(c.Message) {
		b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n")
	}
	b.WriteByte('\n')
	bodyStart := b.Len()

	msg = skipBlankLines(msg)
	for msg != "" {
		line, rest := oneLine(msg)
		msg = rest
		b.WriteString(trimRightSpace(line))
		b.WriteByte('\n')
	}
	// git trims the whole message and ends it with one newline, keeping
	// the blank line after the headers when the body is empty.
	trimmed := bytes.TrimRight(b.Bytes()[start:], " \t\n\r")
	b.Truncate(start + len(trimmed))
	b.WriteByte('\n')
	if b.Len() <= bodyStart {
		b.WriteByte('\n')
	}
}

// oneLine splits off the first line of s, without its newline.
func oneLine(s string) (line, rest string) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func trimRightSpace(s string) string { return strings.TrimRight(s, " \t\n\r") }

func skipBlankLines(s string) string {
	for s != "" {
		line, rest := oneLine(s)
		if trimRightSpace(line) != "" {
			break
		}
		s = rest
	}
	return s
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func lastLineLength(b *bytes.Buffer) int {
	data := b.Bytes()
	return len(data) - (bytes.LastIndexByte(data, '\n') + 1)
}

func needsRFC822Quote(s string) bool {
	return strings.ContainsAny(s, `()<>[]:;@,."\`)
}

func rfc822Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// needsRFC2047 is true for text that cannot go in a mail header as it is:
// non-ASCII, a newline, or something that looks like an encoded word.
func needsRFC2047(s string) bool {
	return hasNonASCII(s) || strings.Contains(s, "\n") || strings.Contains(s, "=?")
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isPrint(c byte) bool { return c >= 0x20 && c < 0x7f }

func isRFC2047Special(c byte, address bool) bool {
	if c >= 0x80 || !isPrint(c) {
		return true
	}
	if c == ' ' || c == '=' || c == '?' || c == '_' {
		return true
	}
	if !address {
		return false
	}
	return !(isAlnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/')
}

// addRFC2047 writes s as RFC 2047 "Q" encoded words, never splitting a
// UTF-8 character, folding before a line would pass 76 bytes.
func addRFC2047(b *bytes.Buffer, s string, address bool) {
	const maxEncoded = 76
	lineLen := lastLineLength(b)
	b.WriteString("=?UTF-8?q?")
	lineLen += len("UTF-8") + 5
	for i := 0; i < len(s); {
		n := utf8CharLen(s[i:])
		special := n > 1 || isRFC2047Special(s[i], address)
		encLen := 1
		if special {
			encLen = 3 * n
		}
		if lineLen+encLen+2 > maxEncoded {
			b.WriteString("?=\n =?UTF-8?q?")
			lineLen = len("UTF-8") + 5 + 1
		}
		for k := 0; k < n; k++ {
			if special {
				fmt.Fprintf(b, "=%02X", s[i+k])
			} else {
				b.WriteByte(s[i+k])
			}
		}
		lineLen += encLen
		i += n
	}
	b.WriteString("?=")
}

// utf8CharLen is the length of the character at the start of s by git's
// UTF-8 rules, 1 for a byte that does not start a valid one.
func utf8CharLen(s string) int {
	if n := utf8Len([]byte(s[:min(len(s), 4)])); n > 0 {
		return n
	}
	return 1
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// charWidth is the display width git gives an ASCII byte.
func charWidth(c byte) int {
	if c < 0x20 || c == 0x7f {
		return -1
	}
	return 1
}

// wrapText appends text word-wrapped to width columns as git's
// strbuf_add_wrapped_text does for ASCII text: indent1 columns before
// the first line (a negative value: that many columns already used on
// the current line), indent2 before the others; words longer than a
// line are not broken.
func wrapText(b *bytes.Buffer, text string, indent1, indent2, width int) {
	at := func(i int) byte {
		if i < len(text) {
			return text[i]
		}
		return 0
	}
	bol, pos := 0, 0
	w, indent := indent1, indent1
	space := -1
	if indent < 0 {
		w = -indent
		space = 0
	}
	for {
		c := at(pos)
		if c != 0 && !isSpaceByte(c) {
			w += charWidth(c)
			pos++
			continue
		}
		newLine := false
		if w <= width || space < 0 {
			start := bol
			if c == 0 && pos == start {
				return
			}
			if space >= 0 {
				start = space
			} else {
				b.WriteString(strings.Repeat(" ", indent))
			}
			b.WriteString(text[start:pos])
			if c == 0 {
				return
			}
			space = pos
			switch c {
			case '\t':
				w |= 7
			case '\n':
				space++
				switch {
				case at(space) == '\n':
					b.WriteByte('\n')
					newLine = true
				case !isAlnum(at(space)):
					newLine = true
				default:
					b.WriteByte(' ')
				}
			}
			if !newLine {
				w++
				pos++
				continue
			}
		}
		b.WriteByte('\n')
		bol = space
		if isSpaceByte(at(space)) {
			bol++
		}
		pos = bol
		space = -1
		w, indent = indent2, indent2
	}
}
