package diffstat

import (
	"context"
	"path"
	"sort"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Rename detection as `git diff` does it by default (diff.renames=true,
// -M50%): exact matches first, then files whose basename is unique on both
// sides at 75% similarity, then a greedy best-score pairing. Scores use
// git's chunk-hash similarity, not a line diff, because that is what
// decides which pairs git reports — a "better" measure would report
// different renames than the developer's own git.
const (
	maxScore          = 60000
	minimumScore      = maxScore / 2 // -M default: 50%
	minBasenameScore  = minimumScore + (maxScore-minimumScore)/2
	candidatesPerDst  = 4
	renameLimit       = 1000 // diff.renameLimit default
	maxIdenticalProbe = 100
	chunkHashBase     = 107927
)

type renameSrc struct {
	idx  int // index into changes
	used bool
}

type renameDst struct {
	idx      int
	renamed  bool
	srcIndex int
	score    int
}

func (d *differ) detectRenames(ctx context.Context, changes []change) ([]change, error) {
	var srcs []*renameSrc
	var dsts []*renameDst
	for i, c := range changes {
		switch {
		case c.from == nil && c.to != nil:
			dsts = append(dsts, &renameDst{idx: i})
		case c.from != nil && c.to == nil:
			srcs = append(srcs, &renameSrc{idx: i})
		}
	}
	if len(srcs) == 0 || len(dsts) == 0 {
		return changes, nil
	}
	record := func(dst *renameDst, si, score int) {
		dst.renamed, dst.srcIndex, dst.score = true, si, score
		srcs[si].used = true
	}

	// Exact renames: same blob; non-regular files also need the same mode.
	bySha := make(map[string][]int)
	for si, s := range srcs {
		k := changes[s.idx].from.Hash.String()
		bySha[k] = append(bySha[k], si)
	}
	for _, dst := range dsts {
		to := changes[dst.idx]
		best, bestScore, probes := -1, -1, maxIdenticalProbe
		for _, si := range bySha[to.to.Hash.String()] {
			from := changes[srcs[si].idx]
			if (!isRegular(from.from.Mode) || !isRegular(to.to.Mode)) && from.from.Mode != to.to.Mode {
				continue
			}
			if srcs[si].used {
				continue
			}
			score := 1 + basenameSame(from.fromPath, to.toPath)
			if score > bestScore {
				best, bestScore = si, score
				if score == 2 {
					break
				}
			}
			if probes--; probes == 0 {
				break
			}
		}
		if best >= 0 {
			record(dst, best, maxScore)
		}
	}

	sim := &similarity{d: d, counts: make(map[int]map[uint32]uint32), sizes: make(map[int]int)}

	// Files whose basename is unique among the remaining sources and
	// destinations pair at a higher bar, before the general matrix.
	srcBase := make(map[string]int)
	for si, s := range srcs {
		if s.used {
			continue
		}
		b := path.Base(changes[s.idx].fromPath)
		if _, dup := srcBase[b]; dup {
			srcBase[b] = -1
		} else {
			srcBase[b] = si
		}
	}
	dstBase := make(map[string]int)
	for di, dst := range dsts {
		if dst.renamed {
			continue
		}
		b := path.Base(changes[dst.idx].toPath)
		if _, dup := dstBase[b]; dup {
			dstBase[b] = -1
		} else {
			dstBase[b] = di
		}
	}
	for si, s := range srcs {
		if s.used {
			continue
		}
		b := path.Base(changes[s.idx].fromPath)
		if srcBase[b] != si {
			continue
		}
		di, ok := dstBase[b]
		if !ok || di < 0 {
			continue
		}
		score, err := sim.estimate(changes, s.idx, dsts[di].idx, minBasenameScore)
		if err != nil {
			return nil, err
		}
		if score >= minBasenameScore {
			record(dsts[di], si, score)
		}
	}

	var liveSrcs []int
	for si, s := range srcs {
		if !s.used {
			liveSrcs = append(liveSrcs, si)
		}
	}
	var liveDsts []int
	for di, dst := range dsts {
		if !dst.renamed {
			liveDsts = append(liveDsts, di)
		}
	}
	if len(liveSrcs) > 0 && len(liveDsts) > 0 && len(liveSrcs)*len(liveDsts) <= renameLimit*renameLimit {
		type cand struct{ dst, src, score, nameScore int }
		worse := func(a, b cand) bool { // a sorts after b
			if a.dst < 0 {
				return b.dst >= 0
			}
			if b.dst < 0 {
				return false
			}
			if a.score == b.score {
				return b.nameScore > a.nameScore
			}
			return b.score > a.score
		}
		mx := make([]cand, 0, len(liveDsts)*candidatesPerDst)
		for _, di := range liveDsts {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m := [candidatesPerDst]cand{}
			for k := range m {
				m[k].dst = -1
			}
			for _, si := range liveSrcs {
				score, err := sim.estimate(changes, srcs[si].idx, dsts[di].idx, minimumScore)
				if err != nil {
					return nil, err
				}
				o := cand{dst: di, src: si, score: score,
					nameScore: basenameSame(changes[srcs[si].idx].fromPath, changes[dsts[di].idx].toPath)}
				w := 0
				for k := 1; k < candidatesPerDst; k++ {
					if worse(m[k], m[w]) {
						w = k
					}
				}
				if worse(m[w], o) {
					m[w] = o
				}
			}
			mx = append(mx, m[:]...)
		}
		sort.SliceStable(mx, func(i, j int) bool { return worse(mx[j], mx[i]) })
		for _, c := range mx {
			if c.dst < 0 || c.score < minimumScore {
				break
			}
			if dsts[c.dst].renamed || srcs[c.src].used {
				continue
			}
			record(dsts[c.dst], c.src, c.score)
		}
	}

	// Rewrite: each rename replaces its addition; its deletion goes away.
	drop := make(map[int]bool)
	for _, dst := range dsts {
		if !dst.renamed {
			continue
		}
		src := changes[srcs[dst.srcIndex].idx]
		c := &changes[dst.idx]
		c.from, c.fromPath, c.score = src.from, src.fromPath, dst.score
		drop[srcs[dst.srcIndex].idx] = true
	}
	out := changes[:0:0]
	for i, c := range changes {
		if !drop[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

func isRegular(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

func basenameSame(a, b string) int {
	if path.Base(a) == path.Base(b) {
		return 1
	}
	return 0
}

// similarity scores how much of a destination's content comes from a
// source, caching each file's chunk counts across pairs.
type similarity struct {
	d      *differ
	counts map[int]map[uint32]uint32
	sizes  map[int]int
}

func (s *similarity) load(changes []change, idx int, src bool) (map[uint32]uint32, int, error) {
	if c, ok := s.counts[idx]; ok {
		return c, s.sizes[idx], nil
	}
	e := changes[idx].to
	if src {
		e = changes[idx].from
	}
	data, err := s.d.blob(e)
	if err != nil {
		return nil, 0, err
	}
	c := chunkCounts(data, !isBinary(data))
	s.counts[idx], s.sizes[idx] = c, len(data)
	return c, len(data), nil
}

func (s *similarity) size(changes []change, idx int, src bool) (int, error) {
	if n, ok := s.sizes[idx]; ok {
		return n, nil
	}
	e := changes[idx].to
	if src {
		e = changes[idx].from
	}
	n, err := s.d.s.EncodedObjectSize(e.Hash)
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// estimate is git's estimate_similarity: regular files only, a cheap size
// gate, then the share of the larger file's bytes found in both.
func (s *similarity) estimate(changes []change, si, di, minScore int) (int, error) {
	from, to := changes[si].from, changes[di].to
	if !isRegular(from.Mode) || !isRegular(to.Mode) {
		return 0, nil
	}
	ss, err := s.size(changes, si, true)
	if err != nil {
		return 0, err
	}
	ds, err := s.size(changes, di, false)
	if err != nil {
		return 0, err
	}
	maxSize, baseSize := max(ss, ds), min(ss, ds)
	if maxSize*(maxScore-minScore) < (maxSize-baseSize)*maxScore {
		return 0, nil
	}
	sc, _, err := s.load(changes, si, true)
	if err != nil {
		return 0, err
	}
	dc, dsize, err := s.load(changes, di, false)
	if err != nil {
		return 0, err
	}
	if dsize == 0 {
		return 0, nil
	}
	var copied uint64
	for h, n := range sc {
		copied += uint64(min(n, dc[h]))
	}
	return int(copied * maxScore / uint64(maxSize)), nil
}

// chunkCounts cuts data at newlines or every 64 bytes and counts the bytes
// under each chunk hash. The hash and its modulus are git's, because
// chunks that collide in git's table count as shared there. A trailing
// piece without newline shorter than 64 bytes is not counted, as in git.
func chunkCounts(data []byte, text bool) map[uint32]uint32 {
	counts := make(map[uint32]uint32)
	var accum1, accum2 uint32
	n := uint32(0)
	for i := 0; i < len(data); i++ {
		c := uint32(data[i])
		old1 := accum1
		if text && c == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			continue
		}
		accum1 = (accum1 << 7) ^ (accum2 >> 25)
		accum2 = (accum2 << 7) ^ (old1 >> 25)
		accum1 += c
		n++
		if n < 64 && c != '\n' {
			continue
		}
		counts[(accum1+accum2*0x61)%chunkHashBase] += n
		n, accum1, accum2 = 0, 0, 0
	}
	return counts
}
