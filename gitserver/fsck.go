package gitserver

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
)

// Pushed objects are checked as C git's receive.fsckObjects checks them
// (index-pack --strict: fsck's warnings count as errors, its "info"
// messages do not). A repository holding an object git refuses cannot be
// cloned by git clients that check (transfer.fsckObjects), and some such
// objects (a .gitmodules whose url is a command-line option, a tree
// entry named .git) attack the clients that do not. The message ids and
// texts are git's own (fsck.c), so a user can look them up and the
// refusal reads as git's would.

// fsckProblem is one thing git's fsck reports about an object.
type fsckProblem struct {
	id  string // git's message id, e.g. badTimezone
	msg string
}

func (p fsckProblem) String() string { return p.id + ": " + p.msg }

// fsckError is a pushed object fsck refuses.
type fsckError struct {
	hash     plumbing.Hash
	problems []fsckProblem
}

func (e *fsckError) Error() string {
	var b strings.Builder
	for i, p := range e.problems {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "object %s: %s", e.hash, p)
	}
	return b.String()
}

// fsckCommit checks a commit's headers; git stops at the first problem.
func fsckCommit(data []byte) []fsckProblem {
	if p, ok := verifyHeaders(data); !ok {
		return []fsckProblem{p}
	}
	c := cursor{data: data}
	if !c.skip("tree ") {
		return problem("missingTree", "invalid format - expected 'tree' line")
	}
	if !c.hashLine() {
		return problem("badTreeSha1", "invalid 'tree' line format - bad sha1")
	}
	for c.skip("parent ") {
		if !c.hashLine() {
			return problem("badParentSha1", "invalid 'parent' line format - bad sha1")
		}
	}
	authors := 0
	for c.skip("author ") {
		authors++
		if p, ok := c.ident(); !ok {
			return []fsckProblem{p}
		}
	}
	switch {
	case authors == 0:
		return problem("missingAuthor", "invalid format - expected 'author' line")
	case authors > 1:
		return problem("multipleAuthors", "invalid format - multiple 'author' lines")
	}
	if !c.skip("committer ") {
		return problem("missingCommitter", "invalid format - expected 'committer' line")
	}
	if p, ok := c.ident(); !ok {
		return []fsckProblem{p}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return problem("nulInCommit", "NUL byte in the commit object body")
	}
	return nil
}

// fsckTag checks a tag's headers. The tag's name and tagger are only
// "info" to git and not refused.
func fsckTag(data []byte) []fsckProblem {
	if p, ok := verifyHeaders(data); !ok {
		return []fsckProblem{p}
	}
	c := cursor{data: data}
	if !c.skip("object ") {
		return problem("missingObject", "invalid format - expected 'object' line")
	}
	if !c.hashLine() {
		return problem("badObjectSha1", "invalid 'object' line format - bad sha1")
	}
	if !c.skip("type ") {
		return problem("missingTypeEntry", "invalid format - expected 'type' line")
	}
	typ, ok := c.line()
	if !ok {
		return problem("missingType", "invalid format - unexpected end after 'type' line")
	}
	if _, err := plumbing.ParseObjectType(string(typ)); err != nil || string(typ) == "ofs-delta" || string(typ) == "ref-delta" {
		return problem("badType", "invalid 'type' value")
	}
	if !c.skip("tag ") {
		return problem("missingTagEntry", "invalid format - expected 'tag' line")
	}
	if _, ok := c.line(); !ok {
		return problem("missingTag", "invalid format - unexpected end after 'type' line")
	}
	if c.skip("tagger ") {
		if p, ok := c.ident(); !ok {
			return []fsckProblem{p}
		}
	}
	return nil
}

func problem(id, msg string) []fsckProblem { return []fsckProblem{{id, msg}} }

// verifyHeaders finds the end of a commit's or tag's header: a NUL
// before it, or no end at all, is fatal to git.
func verifyHeaders(data []byte) (fsckProblem, bool) {
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case 0:
			return fsckProblem{"nulInHeader", fmt.Sprintf("unterminated header: NUL at offset %d", i)}, false
		case '\n':
			if i+1 < len(data) && data[i+1] == '\n' {
				return fsckProblem{}, true
			}
		}
	}
	// No message is fine as long as the last header line is terminated.
	if len(data) > 0 && data[len(data)-1] == '\n' {
		return fsckProblem{}, true
	}
	return fsckProblem{"unterminatedHeader", "unterminated header"}, false
}

// cursor walks a commit or tag header the way git's fsck does.
type cursor struct {
	data []byte
	pos  int
}

// at returns the byte at pos+i, or 0 past the end (git's buffers are
// NUL-terminated).
func (c *cursor) at(i int) byte {
	if c.pos+i < len(c.data) {
		return c.data[c.pos+i]
	}
	return 0
}

func (c *cursor) skip(prefix string) bool {
	if bytes.HasPrefix(c.data[c.pos:], []byte(prefix)) {
		c.pos += len(prefix)
		return true
	}
	return false
}

// hashLine consumes a full hex object name and its newline.
func (c *cursor) hashLine() bool {
	rest := c.data[c.pos:]
	if len(rest) < 41 || rest[40] != '\n' || !isHex(strings.ToLower(string(rest[:40]))) {
		return false
	}
	c.pos += 41
	return true
}

// line consumes up to and including the next newline; false if there is
// none.
func (c *cursor) line() ([]byte, bool) {
	rest := c.data[c.pos:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		return nil, false
	}
	c.pos += nl + 1
	return rest[:nl], true
}

// ident checks "Name <email> 1700000000 +0000\n" and moves past the line.
func (c *cursor) ident() (fsckProblem, bool) {
	bad := func(id, what string) (fsckProblem, bool) {
		return fsckProblem{id, "invalid author/committer line - " + what}, false
	}
	line := c.data[c.pos:]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		c.pos += nl + 1
	} else {
		c.pos = len(c.data)
	}
	p := cursor{data: line}
	if p.at(0) == '<' {
		// git's wording for this id is the one below.
		return bad("missingNameBeforeEmail", "missing space before email")
	}
	p.pos += spanUntil(line, 0, "<>\n")
	if p.at(0) == '>' {
		return bad("badName", "bad name")
	}
	if p.at(0) != '<' {
		return bad("missingEmail", "missing email")
	}
	if line[p.pos-1] != ' ' {
		return bad("missingSpaceBeforeEmail", "missing space before email")
	}
	p.pos++
	p.pos += spanUntil(line, p.pos, "<>\n")
	if p.at(0) != '>' {
		return bad("badEmail", "bad email")
	}
	p.pos++
	if p.at(0) != ' ' {
		return bad("missingSpaceBeforeDate", "missing space before date")
	}
	p.pos++
	if p.at(0) == '0' && p.at(1) != ' ' {
		return bad("zeroPaddedDate", "zero-padded date")
	}
	start := p.pos
	var t uint64
	overflow := false
	for c := p.at(0); c >= '0' && c <= '9'; c = p.at(0) {
		d := uint64(c - '0')
		if t > (1<<64-1-d)/10 {
			overflow = true
		}
		t = t*10 + d
		p.pos++
	}
	// git keeps times in a time_t.
	if overflow || t >= 1<<63-1 {
		return bad("badDateOverflow", "date causes integer overflow")
	}
	if p.pos == start || p.at(0) != ' ' {
		return bad("badDate", "bad date")
	}
	p.pos++
	if (p.at(0) != '+' && p.at(0) != '-') || !isDigit(p.at(1)) || !isDigit(p.at(2)) || !isDigit(p.at(3)) || !isDigit(p.at(4)) || p.at(5) != '\n' {
		return bad("badTimezone", "bad time zone")
	}
	return fsckProblem{}, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// spanUntil counts the bytes of b from i before one of stop (strcspn).
func spanUntil(b []byte, i int, stop string) int {
	n := 0
	for ; i+n < len(b) && strings.IndexByte(stop, b[i+n]) < 0; n++ {
	}
	return n
}

// fsckTree checks a tree's entries; it returns every problem git reports
// for it, and the blobs named .gitmodules, to be checked once the push is
// read.
func fsckTree(data []byte) (problems []fsckProblem, gitmodules []plumbing.Hash) {
	var nullSha, fullPath, emptyName, dot, dotdot, dotgit, zeroPad, dup, unsorted bool
	var prev treeEntry
	// names are the entries' names so far, for duplicates: in a sorted
	// tree a name repeats either next to itself or, a file then a
	// directory, with only names between that extend it by a character
	// sorting before '/' ("a", "a.c", "a/"). A map of every name was a
	// fifth of a first push's CPU on git/git.
	var names [][]byte
	for first := true; len(data) > 0; first = false {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return problem("badTree", "cannot be parsed as a tree"), nil
		}
		var mode uint32
		for _, c := range data[:sp] {
			if c < '0' || c > '7' {
				return problem("badTree", "cannot be parsed as a tree"), nil
			}
			mode = mode<<3 | uint32(c-'0')
		}
		if data[0] == '0' {
			zeroPad = true
		}
		data = data[sp+1:]
		nul := bytes.IndexByte(data, 0)
		if nul < 0 || nul+21 > len(data) {
			return problem("badTree", "cannot be parsed as a tree"), nil
		}
		e := treeEntry{mode: mode, name: data[:nul:nul]}
		copy(e.hash[:], data[nul+1:nul+21])
		data = data[nul+21:]

		name := string(e.name)
		nullSha = nullSha || e.hash.IsZero()
		fullPath = fullPath || strings.IndexByte(name, '/') >= 0
		emptyName = emptyName || name == ""
		dot = dot || name == "."
		dotdot = dotdot || name == ".."
		// HFS+ names start, ignorable code points aside (none is ASCII),
		// with the dot.
		hfs := name != "" && (name[0] == '.' || name[0] >= 0x80)
		dotgit = dotgit || hfs && isHFSDot(name, "git") || isNTFSDotGit(name)
		if hfs && isHFSDot(name, "gitmodules") || isNTFSDotGitmodules(name) {
			if e.mode&0o170000 == 0o120000 {
				problems = append(problems, fsckProblem{"gitmodulesSymlink", ".gitmodules is a symbolic link"})
			} else {
				gitmodules = append(gitmodules, e.hash)
			}
		}
		// Windows reads a backslash as a separator: each part counts.
		for rest := name; ; {
			i := strings.IndexByte(rest, '\\')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			dotgit = dotgit || isNTFSDotGit(rest)
			if isNTFSDotGitmodules(rest) {
				if e.mode&0o170000 == 0o120000 {
					problems = append(problems, fsckProblem{"gitmodulesSymlink", ".gitmodules is a symbolic link"})
				} else {
					gitmodules = append(gitmodules, e.hash)
				}
			}
		}
		if !first {
			if c := compareEntries(prev, e); c > 0 {
				unsorted = true
			} else if c == 0 {
				dup = true
			}
		}
		if e.isTree() && !dup {
			dup = fileBefore(names, e.name)
		}
		names = append(names, e.name)
		prev = e
	}
	if unsorted && !dup {
		// Out of order, a repeated name can be anywhere.
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			dup = dup || seen[string(n)]
			seen[string(n)] = true
		}
	}
	for _, p := range []struct {
		set bool
		fsckProblem
	}{
		{nullSha, fsckProblem{"nullSha1", "contains entries pointing to null sha1"}},
		{fullPath, fsckProblem{"fullPathname", "contains full pathnames"}},
		{emptyName, fsckProblem{"emptyName", "contains empty pathname"}},
		{dot, fsckProblem{"hasDot", "contains '.'"}},
		{dotdot, fsckProblem{"hasDotdot", "contains '..'"}},
		{dotgit, fsckProblem{"hasDotgit", "contains '.git'"}},
		{zeroPad, fsckProblem{"zeroPaddedFilemode", "contains zero-padded file modes"}},
		{dup, fsckProblem{"duplicateEntries", "contains duplicate file entries"}},
		{unsorted, fsckProblem{"treeNotSorted", "not properly sorted"}},
	} {
		if p.set {
			problems = append(problems, p.fsckProblem)
		}
	}
	return problems, gitmodules
}

// fileBefore reports whether a sorted tree's entries before a directory
// called dir hold a file of that name: going back, only names extending
// dir by a character sorting before '/' can stand between them.
func fileBefore(names [][]byte, dir []byte) bool {
	for j := len(names) - 1; j >= 0; j-- {
		n := names[j]
		if !bytes.HasPrefix(n, dir) {
			return false
		}
		if len(n) == len(dir) {
			return true
		}
		if n[len(dir)] >= '/' {
			return false
		}
	}
	return false
}

// hfsIgnored are the code points HFS+ drops from file names, so that
// ".g\u200cit" names .git there.
func hfsIgnored(r rune) bool {
	switch {
	case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
		return true
	}
	return false
}

// isHFSDot reports whether name is "."+needle as HFS+ compares names:
// ASCII case folded, ignorable code points dropped.
func isHFSDot(name, needle string) bool {
	want := "." + needle
	i := 0
	for len(name) > 0 {
		r, n := utf8.DecodeRuneInString(name)
		name = name[n:]
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if hfsIgnored(r) {
			continue
		}
		if i >= len(want) || r >= utf8.RuneSelf || lowerASCII(byte(r)) != want[i] {
			return false
		}
		i++
	}
	return i == len(want)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// ntfsTail reports whether what follows a matched NTFS name is only
// spaces and periods (which NTFS drops), up to the end or a ':' stream
// name, or a separator.
func ntfsTail(rest string) bool {
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ':', '\\', '/':
			return true
		case ' ', '.':
		default:
			return false
		}
	}
	return true
}

// isNTFSDotGit: .git, its short name git~1, with what NTFS ignores after.
func isNTFSDotGit(name string) bool {
	switch {
	case len(name) >= 4 && name[0] == '.' && strings.EqualFold(name[1:4], "git"):
		return ntfsTail(name[4:])
	case len(name) >= 5 && strings.EqualFold(name[:5], "git~1"):
		return ntfsTail(name[5:])
	}
	return false
}

// isNTFSDotGitmodules: .gitmodules and its 8.3 short names (gitmod~N,
// or the hashed gi7eba~N), with what NTFS ignores after.
func isNTFSDotGitmodules(name string) bool {
	if len(name) >= 11 && name[0] == '.' && strings.EqualFold(name[1:11], "gitmodules") {
		return ntfsTail(name[11:])
	}
	if len(name) >= 8 && name[6] == '~' {
		switch {
		case strings.EqualFold(name[:6], "gitmod") && name[7] >= '1' && name[7] <= '4':
			return ntfsTail(name[8:])
		case strings.EqualFold(name[:6], "gi7eba") && name[7] >= '1' && name[7] <= '9':
			return ntfsTail(name[8:])
		}
	}
	return false
}

// fsckGitmodules checks a .gitmodules blob: git clients act on its
// submodule names, urls, paths and update commands, so each is checked
// where a hostile value would reach a command line or escape the
// repository. A blob that is not valid config is only "info" to git.
func fsckGitmodules(data []byte) []fsckProblem {
	entries, ok := parseGitConfig(data)
	if !ok {
		return nil
	}
	var problems []fsckProblem
	for _, e := range entries {
		if e.section != "submodule" || !e.hasSub {
			continue
		}
		if !validSubmoduleName(e.sub) {
			problems = append(problems, fsckProblem{"gitmodulesName", "disallowed submodule name: " + e.sub})
		}
		if !e.hasValue {
			continue
		}
		switch e.key {
		case "url":
			if !validSubmoduleURL(e.value) {
				problems = append(problems, fsckProblem{"gitmodulesUrl", "disallowed submodule url: " + e.value})
			}
		case "path":
			if !validSubmodulePath(e.value) {
				problems = append(problems, fsckProblem{"gitmodulesPath", "disallowed submodule path: " + e.value})
			}
		case "update":
			if strings.HasPrefix(e.value, "!") {
				problems = append(problems, fsckProblem{"gitmodulesUpdate", "disallowed submodule update setting: " + e.value})
			}
		}
	}
	return problems
}

func looksLikeOption(s string) bool { return strings.HasPrefix(s, "-") }

// validSubmoduleName refuses empty names and names with a ".." component:
// the name becomes a directory under .git/modules.
func validSubmoduleName(name string) bool {
	if name == "" {
		return false
	}
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return false
		}
	}
	return true
}

// validSubmoduleURL refuses urls a client would take for an option, and
// urls that decode to a newline (which would inject credential-helper
// lines).
func validSubmoduleURL(u string) bool {
	if looksLikeOption(u) {
		return false
	}
	decoded, err := url.PathUnescape(u)
	if err != nil {
		decoded = u
	}
	return !strings.ContainsAny(decoded, "\n")
}

// validSubmodulePath refuses paths a client would take for an option, and
// (stricter than git, which leaves this to the client's checkout) paths
// that are absolute or climb out of the work tree.
func validSubmodulePath(p string) bool {
	if looksLikeOption(p) || p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "\\") || (len(p) > 1 && p[1] == ':') {
		return false
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return false
		}
	}
	return true
}

// configEntry is one "key = value" of a git config file.
type configEntry struct {
	section, sub, key string // section and key lowercased
	hasSub            bool
	value             string
	hasValue          bool // "key" alone has none
}

// parseGitConfig reads git's config syntax far enough for .gitmodules:
// sections, subsections (quoted, or the old dotted form), values with
// quotes, escapes, comments and continuation lines.
func parseGitConfig(data []byte) ([]configEntry, bool) {
	var out []configEntry
	var cur configEntry
	inSection := false
	s := string(data)
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '#' || c == ';':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, false
			}
			hdr := s[i+1 : i+end]
			i += end + 1
			cur = configEntry{}
			if sp := strings.IndexAny(hdr, " \t"); sp >= 0 {
				name := strings.TrimSpace(hdr[sp:])
				if len(name) < 2 || name[0] != '"' || name[len(name)-1] != '"' {
					return nil, false
				}
				var b strings.Builder
				for j := 1; j < len(name)-1; j++ {
					if name[j] == '\\' && j+1 < len(name)-1 {
						j++
					} else if name[j] == '"' || name[j] == '\n' {
						return nil, false
					}
					b.WriteByte(name[j])
				}
				cur.section, cur.sub, cur.hasSub = strings.ToLower(hdr[:sp]), b.String(), true
			} else if dot := strings.IndexByte(hdr, '.'); dot >= 0 {
				cur.section, cur.sub, cur.hasSub = strings.ToLower(hdr[:dot]), strings.ToLower(hdr[dot+1:]), true
			} else {
				cur.section = strings.ToLower(hdr)
			}
			if cur.section == "" {
				return nil, false
			}
			inSection = true
		default:
			if !inSection || !isConfigKeyChar(c) {
				return nil, false
			}
			j := i
			for j < len(s) && isConfigKeyChar(s[j]) {
				j++
			}
			e := cur
			e.key = strings.ToLower(s[i:j])
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && s[j] == '=' {
				v, n, ok := parseConfigValue(s[j+1:])
				if !ok {
					return nil, false
				}
				e.value, e.hasValue = v, true
				j += 1 + n
			} else if j < len(s) && s[j] != '\n' && s[j] != '\r' && s[j] != '#' && s[j] != ';' {
				return nil, false
			}
			out = append(out, e)
			i = j
		}
	}
	return out, true
}

func isConfigKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// parseConfigValue reads a value up to its end of line; it returns the
// value and how many bytes it took.
func parseConfigValue(s string) (string, int, bool) {
	var b strings.Builder
	quoted := false
	pending := 0 // unquoted whitespace, kept only if more value follows
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			if quoted {
				return "", 0, false
			}
			return b.String(), i, true
		case !quoted && (c == '#' || c == ';'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			return b.String(), i, true
		case !quoted && (c == ' ' || c == '\t'):
			if b.Len() > 0 {
				pending++
			}
			continue
		case c == '"':
			quoted = !quoted
		case c == '\\':
			i++
			if i >= len(s) {
				return "", 0, false
			}
			switch s[i] {
			case '\n':
			case '\r':
				if i+1 < len(s) && s[i+1] == '\n' {
					i++
				}
			case 'n':
				b.WriteString(strings.Repeat(" ", pending) + "\n")
			case 't':
				b.WriteString(strings.Repeat(" ", pending) + "\t")
			case 'b':
				b.WriteString(strings.Repeat(" ", pending) + "\b")
			case '\\', '"':
				b.WriteString(strings.Repeat(" ", pending) + s[i:i+1])
			default:
				return "", 0, false
			}
			pending = 0
		case c == '\r' && !quoted && i+1 < len(s) && s[i+1] == '\n':
		default:
			b.WriteString(strings.Repeat(" ", pending))
			pending = 0
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", 0, false
	}
	return b.String(), i, true
}
