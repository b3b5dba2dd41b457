package gitserver

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
)

// Minimal parsers for the parts of commits, trees and tags the transport
// needs (links and dates). go-git's object package decodes whole objects
// (messages, signatures) and allocates accordingly; walking every commit
// and tree of a clone through it is several times slower.

type commitInfo struct {
	tree    plumbing.Hash
	parents []plumbing.Hash
	time    int64 // committer time, seconds
}

var errMalformed = errors.New("malformed object")

// headerLines yields the header lines of a commit or tag object: those
// before the blank line that starts the message.
func headerLines(data []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			line, rest, _ := bytes.Cut(data, []byte{'\n'})
			if len(line) == 0 || !yield(line) {
				return
			}
			data = rest
		}
	}
}

func parseCommit(data []byte) (commitInfo, error) {
	var c commitInfo
	sawTree := false
	for line := range headerLines(data) {
		switch {
		case bytes.HasPrefix(line, []byte("tree ")):
			h, ok := parseHash(string(line[5:]))
			if !ok || sawTree {
				return c, fmt.Errorf("%w: bad tree line", errMalformed)
			}
			c.tree, sawTree = h, true
		case bytes.HasPrefix(line, []byte("parent ")):
			h, ok := parseHash(string(line[7:]))
			if !ok {
				return c, fmt.Errorf("%w: bad parent line", errMalformed)
			}
			c.parents = append(c.parents, h)
		case bytes.HasPrefix(line, []byte("committer ")):
			c.time = parseSignatureTime(line)
		}
	}
	if !sawTree {
		return c, fmt.Errorf("%w: commit without tree", errMalformed)
	}
	return c, nil
}

// parseSignatureTime extracts the epoch from "name <email> 1700000000 +0000".
func parseSignatureTime(line []byte) int64 {
	gt := bytes.LastIndexByte(line, '>')
	if gt < 0 {
		return 0
	}
	fields := bytes.Fields(line[gt+1:])
	if len(fields) == 0 {
		return 0
	}
	t, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return 0
	}
	return t
}

type tagInfo struct {
	target     plumbing.Hash
	targetType plumbing.ObjectType
}

func parseTag(data []byte) (tagInfo, error) {
	var t tagInfo
	for line := range headerLines(data) {
		switch {
		case bytes.HasPrefix(line, []byte("object ")):
			h, ok := parseHash(string(line[7:]))
			if !ok {
				return t, fmt.Errorf("%w: bad tag object line", errMalformed)
			}
			t.target = h
		case bytes.HasPrefix(line, []byte("type ")):
			typ, err := plumbing.ParseObjectType(string(line[5:]))
			if err != nil {
				return t, fmt.Errorf("%w: bad tag type", errMalformed)
			}
			t.targetType = typ
		}
	}
	if t.target.IsZero() || t.targetType == plumbing.InvalidObject {
		return t, fmt.Errorf("%w: tag without object or type", errMalformed)
	}
	return t, nil
}

type treeEntry struct {
	mode uint32
	name []byte // aliases the tree's data
	hash plumbing.Hash
}

const (
	modeTree   = 0o040000
	modeGitlnk = 0o160000
)

func (e treeEntry) isTree() bool   { return e.mode&0o170000 == modeTree }
func (e treeEntry) isGitlnk() bool { return e.mode&0o170000 == modeGitlnk }

func parseTree(data []byte) ([]treeEntry, error) {
	out := make([]treeEntry, 0, len(data)/40+1)
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return nil, fmt.Errorf("%w: bad tree entry mode", errMalformed)
		}
		var mode uint32
		for _, c := range data[:sp] {
			if c < '0' || c > '7' {
				return nil, fmt.Errorf("%w: bad tree entry mode", errMalformed)
			}
			mode = mode<<3 | uint32(c-'0')
		}
		data = data[sp+1:]
		nul := bytes.IndexByte(data, 0)
		if nul <= 0 || nul+21 > len(data) {
			return nil, fmt.Errorf("%w: bad tree entry name", errMalformed)
		}
		e := treeEntry{mode: mode, name: data[:nul:nul]}
		copy(e.hash[:], data[nul+1:nul+21])
		out = append(out, e)
		data = data[nul+21:]
	}
	return out, nil
}

// compareEntries orders tree entries the way git does: a tree sorts as if
// its name ended in '/'. Returns <0, 0, >0.
func compareEntries(a, b treeEntry) int {
	n := min(len(a.name), len(b.name))
	if c := bytes.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	ca, cb := entryCharAt(a, n), entryCharAt(b, n)
	switch {
	case ca < cb:
		return -1
	case ca > cb:
		return 1
	}
	return 0
}

func entryCharAt(e treeEntry, i int) int {
	if i < len(e.name) {
		return int(e.name[i])
	}
	if i == len(e.name) && e.isTree() {
		return '/'
	}
	return 0
}
