package browse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"tapioca/gitserver/merge/linediff"
)

// GrepQuery is a search of the files at one revision. Zero limits take
// the defaults below.
type GrepQuery struct {
	// Pattern is a Go regular expression (RE2 syntax) matched against
	// each line, without its newline, as `git grep -E` matches lines.
	Pattern    string
	IgnoreCase bool
	// Path limits the search to one directory (or file) of the tree.
	Path string
	// Glob limits it to files whose path matches: a pattern without '/'
	// is matched against the file name ("*.go"), one with '/' against
	// the whole path, where "**" stands for any number of directories
	// ("cmd/**/*_test.go").
	Glob string
	// MaxMatches stops the search after that many matching lines.
	MaxMatches int
	// MaxBytes stops it once that many bytes of files have been read.
	MaxBytes int64
	// MaxFileSize skips larger files without reading them.
	MaxFileSize int64
	// MaxLineBytes cuts the text of a reported line.
	MaxLineBytes int
}

// Defaults for GrepQuery's zero limits.
const (
	DefaultGrepMatches  = 100
	DefaultGrepBytes    = 64 << 20
	DefaultGrepFileSize = 1 << 20
	DefaultGrepLine     = 512
)

// GrepMatch is one matching line.
type GrepMatch struct {
	Path string
	// Line is 1-based; Column is the 1-based byte offset of the first
	// match in the line.
	Line, Column int
	Text         string
	// TextTruncated is set when Text was cut to MaxLineBytes.
	TextTruncated bool
}

// Grep stop reasons.
const (
	StopMatches  = "max_matches" // MaxMatches reached
	StopBytes    = "max_bytes"   // MaxBytes read
	StopDeadline = "deadline"    // the context's deadline passed or it was cancelled
)

// GrepResult holds the matches, in path order then line order.
type GrepResult struct {
	Commit  plumbing.Hash
	Matches []GrepMatch
	// Truncated is set when the search stopped before the end of the
	// tree; StoppedBy says why (one of the Stop* constants).
	Truncated bool
	StoppedBy string
	// FilesSearched counts files read; SkippedBinary and SkippedLarge
	// count files left out (git's binary rule: a NUL byte in the first
	// 8000 bytes; larger than MaxFileSize).
	FilesSearched, SkippedBinary, SkippedLarge int
	BytesSearched                              int64
}

// Grep searches the regular files at revision rev. It stops early, with
// Truncated set and no error, at a limit or when ctx is done, returning
// what it found so far. Symlinks and submodules are not searched.
func (r *Repo) Grep(ctx context.Context, rev string, q GrepQuery) (*GrepResult, error) {
	m, err := newMatcher(q.Pattern, q.IgnoreCase)
	if err != nil {
		return nil, err
	}
	dir, err := cleanPath(q.Path)
	if err != nil {
		return nil, err
	}
	if q.Glob != "" {
		if err := checkGlob(q.Glob); err != nil {
			return nil, err
		}
	}
	q.MaxMatches = orDefault(q.MaxMatches, DefaultGrepMatches)
	q.MaxBytes = orDefault(q.MaxBytes, DefaultGrepBytes)
	q.MaxFileSize = orDefault(q.MaxFileSize, DefaultGrepFileSize)
	q.MaxLineBytes = orDefault(q.MaxLineBytes, DefaultGrepLine)

	c, err := r.commitAt(ctx, rev)
	if err != nil {
		return nil, err
	}
	res := &GrepResult{Commit: c.Hash}
	root, rootDir := c.TreeHash, ""
	visit := func(p string, mode filemode.FileMode, h plumbing.Hash) error {
		if mode != filemode.Regular && mode != filemode.Executable && mode != filemode.Deprecated {
			return nil
		}
		if q.Glob != "" && !matchGlob(q.Glob, p) {
			return nil
		}
		return r.grepFile(ctx, m, q, res, p, h)
	}
	if dir != "" {
		e, ok, err := r.entryAt(c.TreeHash, dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound("path %q at %s", dir, c.Hash)
		}
		if e.Mode != filemode.Dir {
			err = visit(dir, e.Mode, e.Hash)
			return res, stopped(res, err)
		}
		root, rootDir = e.Hash, dir
	}
	err = r.walkTree(ctx, root, rootDir, true, visit)
	return res, stopped(res, err)
}

func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// errStop ends a search that reached a limit; its reason is in the
// result.
var errStop = errors.New("grep stopped")

// stopped turns the walk's end into Grep's answer: limits and a done
// context are a truncated result, anything else an error.
func stopped(res *GrepResult, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStop):
		res.Truncated = true
		return nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		res.Truncated, res.StoppedBy = true, StopDeadline
		return nil
	}
	return err
}

func (r *Repo) grepFile(ctx context.Context, m *matcher, q GrepQuery, res *GrepResult, p string, h plumbing.Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	size, err := r.st.EncodedObjectSize(h)
	if err != nil {
		return fmt.Errorf("size of %s: %w", h, err)
	}
	if size > q.MaxFileSize {
		res.SkippedLarge++
		return nil
	}
	if res.BytesSearched+size > q.MaxBytes {
		res.StoppedBy = StopBytes
		return errStop
	}
	data, err := r.blob(h)
	if err != nil {
		return err
	}
	res.BytesSearched += int64(len(data))
	if linediff.IsBinary(data) {
		res.SkippedBinary++
		return nil
	}
	res.FilesSearched++
	return m.each(data, func(line, col int, text []byte) error {
		if len(res.Matches) >= q.MaxMatches {
			res.StoppedBy = StopMatches
			return errStop
		}
		gm := GrepMatch{Path: p, Line: line, Column: col}
		if len(text) > q.MaxLineBytes {
			text = text[:validUTF8Cut(text, q.MaxLineBytes)]
			gm.TextTruncated = true
		}
		gm.Text = string(text)
		res.Matches = append(res.Matches, gm)
		return nil
	})
}

// validUTF8Cut moves a cut point back to the start of a UTF-8 character.
func validUTF8Cut(b []byte, n int) int {
	for n > 0 && n < len(b) && b[n]&0xc0 == 0x80 {
		n--
	}
	return n
}

// matcher finds matching lines. Matching line by line is exact but slow
// on large files, so a whole-file search with the same expression in
// multi-line mode finds candidate lines first: any line that matches on
// its own also matches there, at the same offset, unless the expression
// anchors to the start or end of the whole text (\A, \z), in which case
// every line is tried.
type matcher struct {
	line *regexp.Regexp
	file *regexp.Regexp // nil: try every line
}

func newMatcher(pattern string, ignoreCase bool) (*matcher, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty pattern: %w", ErrInvalid)
	}
	flags := ""
	if ignoreCase {
		flags = "(?i)"
	}
	line, err := regexp.Compile(flags + pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern: %v: %w", err, ErrInvalid)
	}
	m := &matcher{line: line}
	whole := "(?m)" + flags + "(?:" + pattern + ")"
	if re, err := syntax.Parse(whole, syntax.Perl); err == nil && !anchorsText(re) {
		m.file, _ = regexp.Compile(whole)
	}
	return m, nil
}

// anchorsText reports \A or \z (or ^/$ outside multi-line mode).
func anchorsText(re *syntax.Regexp) bool {
	if re.Op == syntax.OpBeginText || re.Op == syntax.OpEndText {
		return true
	}
	for _, s := range re.Sub {
		if anchorsText(s) {
			return true
		}
	}
	return false
}

// each calls fn for every matching line of data with its 1-based number,
// the 1-based column of the first match and its text.
func (m *matcher) each(data []byte, fn func(line, col int, text []byte) error) error {
	lineNo, lineStart := 1, 0
	for pos := 0; pos < len(data); {
		if m.file != nil {
			loc := m.file.FindIndex(data[pos:])
			if loc == nil {
				return nil
			}
			at := pos + loc[0]
			// Jump to the line holding the candidate match.
			if nl := bytes.LastIndexByte(data[pos:at], '\n'); nl >= 0 {
				lineNo += bytes.Count(data[pos:at], []byte{'\n'})
				lineStart = pos + nl + 1
			}
			if lineStart >= len(data) {
				return nil // an empty match after the final newline is no line
			}
		}
		end := len(data)
		next := len(data)
		if nl := bytes.IndexByte(data[lineStart:], '\n'); nl >= 0 {
			end = lineStart + nl
			next = end + 1
		}
		text := data[lineStart:end]
		if loc := m.line.FindIndex(text); loc != nil {
			if err := fn(lineNo, loc[0]+1, text); err != nil {
				return err
			}
		}
		if next >= len(data) {
			return nil
		}
		pos, lineStart = next, next
		lineNo++
	}
	return nil
}
