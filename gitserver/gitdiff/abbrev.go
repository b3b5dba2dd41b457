package gitdiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Abbreviator shortens object names the way git does inside one
// repository (core.abbrev=auto): at least 7 hex digits, more as the
// repository's packs grow (one more digit per factor of four past 2^14
// packed objects), and as many as it takes to be unique among the
// repository's objects. `git diff` prints its index lines this way, so
// matching it byte for byte needs the same rule over the same objects.
//
// It reads the pack indexes once, when made, and loose object
// directories on first use; it is meant for one request and is not safe
// for concurrent use.
type Abbreviator struct {
	objDir string
	minLen int
	packs  []packNames
	loose  map[byte][]plumbing.Hash
}

// packNames is the sorted object-name table of one pack index.
type packNames struct {
	names  []byte // n*stride bytes
	stride int    // 20 in a v2 index, 24 in v1 (a 4-byte offset first)
	skip   int    // bytes before each name within a stride
}

func (p packNames) count() int { return len(p.names) / p.stride }

func (p packNames) name(i int) []byte {
	off := i*p.stride + p.skip
	return p.names[off : off+20]
}

// NewAbbreviator reads the pack indexes of the bare repository at
// repoPath.
func NewAbbreviator(repoPath string) (*Abbreviator, error) {
	a := &Abbreviator{objDir: filepath.Join(repoPath, "objects"), loose: map[byte][]plumbing.Hash{}}
	packDir := filepath.Join(a.objDir, "pack")
	ents, err := os.ReadDir(packDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("abbreviate: %w", err)
	}
	total := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "pack-") || !strings.HasSuffix(name, ".idx") {
			continue
		}
		// git only counts indexes whose pack is there.
		if _, err := os.Stat(filepath.Join(packDir, strings.TrimSuffix(name, ".idx")+".pack")); err != nil {
			continue
		}
		p, err := readPackNames(filepath.Join(packDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced by a repack since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("abbreviate: %w", err)
		}
		a.packs = append(a.packs, p)
		total += p.count()
	}
	a.minLen = autoAbbrevLen(total)
	return a, nil
}

// autoAbbrevLen is git's length for a repository with count packed
// objects: enough hex digits that a random collision is unlikely.
func autoAbbrevLen(count int) int {
	msb := 0
	for v := count; v > 1; v >>= 1 {
		msb++
	}
	n := (msb + 2) / 2 // ceil((msb+1)/2)
	return max(n, 7)
}

func readPackNames(path string) (packNames, error) {
	f, err := os.Open(path)
	if err != nil {
		return packNames{}, err
	}
	defer f.Close()
	var head [8 + 256*4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return packNames{}, fmt.Errorf("read %s: %w", path, err)
	}
	fanoutAt, stride, skip := 0, 24, 4
	if bytes.Equal(head[:4], []byte{0xff, 't', 'O', 'c'}) {
		if v := binary.BigEndian.Uint32(head[4:8]); v != 2 {
			return packNames{}, fmt.Errorf("read %s: unsupported index version %d", path, v)
		}
		fanoutAt, stride, skip = 8, 20, 0
	}
	n := int(binary.BigEndian.Uint32(head[fanoutAt+255*4:]))
	names := make([]byte, n*stride)
	if _, err := f.ReadAt(names, int64(fanoutAt+256*4)); err != nil {
		return packNames{}, fmt.Errorf("read %s: %w", path, err)
	}
	return packNames{names: names, stride: stride, skip: skip}, nil
}

// Abbrev returns the shortest prefix of h's hex name, at least the
// repository's minimum length, that no other object shares.
func (a *Abbreviator) Abbrev(h plumbing.Hash) string {
	hex := h.String()
	cur := a.minLen
	extend := func(other []byte, from int) {
		i := from
		for i < 40 && hex[i] == hexDigit(other, i) {
			i++
		}
		// git compares against the raw hash size of its widest
		// algorithm here (32), not the hex length; kept for fidelity.
		if i < 32 && i >= cur {
			cur = i + 1
		}
	}
	for _, p := range a.packs {
		n := p.count()
		first := sort.Search(n, func(i int) bool { return bytes.Compare(p.name(i), h[:]) >= 0 })
		match := first < n && bytes.Equal(p.name(first), h[:])
		if !match {
			if first < n {
				extend(p.name(first), 0)
			}
		} else if first < n-1 {
			extend(p.name(first+1), 0)
		}
		if first > 0 {
			extend(p.name(first-1), 0)
		}
	}
	from := cur
	for _, o := range a.looseWith(h[0]) {
		if o != h && strings.HasPrefix(o.String(), hex[:from]) {
			extend(o[:], from)
		}
	}
	return hex[:cur]
}

func hexDigit(b []byte, i int) byte {
	const digits = "0123456789abcdef"
	if i%2 == 0 {
		return digits[b[i/2]>>4]
	}
	return digits[b[i/2]&0x0f]
}

// looseWith lists the loose objects whose name starts with the byte b.
func (a *Abbreviator) looseWith(b byte) []plumbing.Hash {
	if hs, ok := a.loose[b]; ok {
		return hs
	}
	dir := fmt.Sprintf("%02x", b)
	var hs []plumbing.Hash
	if ents, err := os.ReadDir(filepath.Join(a.objDir, dir)); err == nil {
		for _, e := range ents {
			if s := dir + e.Name(); len(s) == 40 && isHex(s) {
				hs = append(hs, plumbing.NewHash(s))
			}
		}
	}
	a.loose[b] = hs
	return hs
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
