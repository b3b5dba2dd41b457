package gitserver

import (
	"encoding/binary"
	"math/bits"
)

// Git deltas: an object expressed as instructions against a base, either
// "copy n bytes from offset o of the base" or "insert these bytes". The
// encoder indexes the base once (a hash of every deltaBlock-byte block)
// and then slides a rolling hash of the same width over the target: at
// each position a hit in the index is a candidate match, extended forward
// as far as the bytes agree and backward into the bytes not yet emitted.
// Building the index costs one pass over the base; a base can then be
// tried against many targets (a delta search's window: the fetch's in
// deltasearch.go, the repack's in repack.go) without re-indexing.
// Candidates per position and bytes compared per candidate are bounded,
// so repetitive data (runs of zeros, repeated lines) costs no more than
// any other.

const (
	deltaBlock     = 16      // bytes hashed per index entry and per window
	deltaMaxCopy   = 0x10000 // longest copy per instruction, as git writes them
	deltaMaxInsert = 0x7f    // longest insert per instruction (format limit)
	// deltaBucketMax bounds the entries kept per hash bucket, so a base of
	// repetitive bytes cannot make each probe scan thousands of offsets.
	deltaBucketMax = 64
	// deltaProbe bounds how far each candidate is compared before the
	// best one is chosen; only the winner is then followed to its end.
	deltaProbe = 4096
	// deltaMaxBase is the largest base the index can address (offsets
	// are stored in 32 bits); objects that large are not deltified.
	deltaMaxBase = 1<<31 - 1

	rollPrime = 0x100000001b3 // odd multiplier of the rolling hash
	mixPrime  = 0x9e3779b97f4a7c15
)

// deltaIndex is a base prepared for encoding deltas against it.
type deltaIndex struct {
	src   []byte
	shift uint // bucket = mix(hash) >> shift
	// Bucket b's entries are offs[start[b]:start[b+1]], with the low 32
	// bits of each block's hash in checks to skip collisions cheaply.
	start  []uint32
	offs   []uint32
	checks []uint32
	// rollOut is rollPrime^(deltaBlock-1): the weight of the byte that
	// leaves the window.
	rollOut uint64
}

// blockHash hashes deltaBlock bytes; roll moves the same hash one byte on.
func blockHash(b []byte) uint64 {
	var h uint64
	for _, c := range b[:deltaBlock] {
		h = h*rollPrime + uint64(c)
	}
	return h
}

func (ix *deltaIndex) roll(h uint64, out, in byte) uint64 {
	return (h-uint64(out)*ix.rollOut)*rollPrime + uint64(in)
}

func (ix *deltaIndex) bucket(h uint64) uint32 {
	return uint32((h * mixPrime) >> ix.shift)
}

// newDeltaIndex indexes src. A src shorter than one block gives an index
// that finds nothing, so every delta against it is all inserts.
func newDeltaIndex(src []byte) *deltaIndex { return indexInto(src, nil, &indexScratch{}) }

// indexScratch is the working space of indexing, kept by a goroutine
// that indexes object after object.
type indexScratch struct {
	hashes []uint64
	count  []uint32
}

// indexInto indexes src as newDeltaIndex does, into the arrays of ix (an
// index no longer used, or nil for new ones): a delta search that
// indexes object after object then allocates little.
func indexInto(src []byte, ix *deltaIndex, sc *indexScratch) *deltaIndex {
	if ix == nil {
		ix = &deltaIndex{}
	}
	*ix = deltaIndex{src: src, rollOut: 1, start: ix.start, offs: ix.offs, checks: ix.checks}
	for i := 1; i < deltaBlock; i++ {
		ix.rollOut *= rollPrime
	}
	blocks := len(src) / deltaBlock
	if len(src) > deltaMaxBase {
		blocks = 0
	}
	// About one block per bucket, as a power of two (at least 16).
	nbits := max(4, bits.Len(uint(blocks)))
	ix.shift = uint(64 - nbits)
	nb := 1 << nbits
	sc.hashes = resize(sc.hashes, blocks)
	sc.count = resize(sc.count, nb+1)
	hashes, count := sc.hashes, sc.count
	clear(count)
	for i := range hashes {
		hashes[i] = blockHash(src[i*deltaBlock:])
		if b := ix.bucket(hashes[i]); count[b] < deltaBucketMax {
			count[b]++
		}
	}
	ix.start = resize(ix.start, nb+1)
	var total uint32
	for b := 0; b < nb; b++ {
		ix.start[b] = total
		total += count[b]
	}
	ix.start[nb] = total
	// Every entry of offs and checks is written below: each bucket gets
	// exactly the blocks counted for it.
	ix.offs = resize(ix.offs, int(total))
	ix.checks = resize(ix.checks, int(total))
	fill := count[:nb] // reused as the fill cursor, counting down
	for i, h := range hashes {
		b := ix.bucket(h)
		if fill[b] == 0 {
			continue // bucket full: earlier blocks keep their place
		}
		fill[b]--
		j := ix.start[b] + fill[b]
		ix.offs[j] = uint32(i * deltaBlock)
		ix.checks[j] = uint32(h)
	}
	return ix
}

// resize returns s with length n, reallocated only if too small.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// memSize approximates the index's own memory, the base excluded (a
// reused index holds the arrays of the largest it has been).
func (ix *deltaIndex) memSize() int64 {
	return int64(cap(ix.start)+cap(ix.offs)+cap(ix.checks)) * 4
}

// encode returns a delta turning the base into trg, or nil if it would
// be maxSize bytes or longer (maxSize <= 0: no limit): callers pass the
// size a delta must stay under to be worth having.
func (ix *deltaIndex) encode(trg []byte, maxSize int) []byte {
	return ix.encodeTo(nil, trg, maxSize)
}

// encodeTo is encode writing into dst's array, which the result shares
// when it fits there (the caller's to reuse once done with the delta).
func (ix *deltaIndex) encodeTo(dst, trg []byte, maxSize int) []byte {
	src := ix.src
	out := dst[:0]
	if out == nil {
		out = make([]byte, 0, min(len(trg)/4+32, 1<<20))
	}
	out = binary.AppendUvarint(out, uint64(len(src)))
	out = binary.AppendUvarint(out, uint64(len(trg)))
	over := func() bool { return maxSize > 0 && len(out) >= maxSize }

	pending := 0 // trg[pending:i] is not emitted yet
	i := 0
	var h uint64
	if len(trg) >= deltaBlock && len(ix.offs) > 0 {
		h = blockHash(trg)
	}
	for len(ix.offs) > 0 && i+deltaBlock <= len(trg) {
		bestOff, bestLen := 0, 0
		b := ix.bucket(h)
		for j := ix.start[b]; j < ix.start[b+1]; j++ {
			if ix.checks[j] != uint32(h) {
				continue
			}
			off := int(ix.offs[j])
			n := commonPrefix(src[off:], trg[i:], deltaProbe)
			if n > bestLen {
				bestOff, bestLen = off, n
				if n == deltaProbe {
					break
				}
			}
		}
		if bestLen < deltaBlock {
			// No match here (a hash collision, or none at all): move on
			// by one byte, unless the inserts alone are already too long.
			if maxSize > 0 && len(out)+i-pending >= maxSize {
				return nil
			}
			if i+deltaBlock < len(trg) {
				h = ix.roll(h, trg[i], trg[i+deltaBlock])
			}
			i++
			continue
		}
		if bestLen == deltaProbe {
			bestLen += commonPrefix(src[bestOff+bestLen:], trg[i+bestLen:], len(trg))
		}
		// Bytes before the match may agree too; they were pending as
		// inserts and become part of the copy.
		for bestOff > 0 && i > pending && src[bestOff-1] == trg[i-1] {
			bestOff--
			i--
			bestLen++
		}
		out = appendInserts(out, trg[pending:i])
		out = appendCopies(out, bestOff, bestLen)
		if over() {
			return nil
		}
		i += bestLen
		pending = i
		if i+deltaBlock <= len(trg) {
			h = blockHash(trg[i:])
		}
	}
	out = appendInserts(out, trg[pending:])
	if over() {
		return nil
	}
	return out
}

// commonPrefix is the length of the common prefix of a and b, up to limit.
func commonPrefix(a, b []byte, limit int) int {
	n := min(len(a), len(b), limit)
	i := 0
	for i+8 <= n {
		x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
		if x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

func appendInserts(out, lit []byte) []byte {
	for len(lit) > 0 {
		n := min(len(lit), deltaMaxInsert)
		out = append(out, byte(n))
		out = append(out, lit[:n]...)
		lit = lit[n:]
	}
	return out
}

// appendCopies encodes a copy of n bytes at off: an opcode whose low bits
// say which offset and size bytes follow (zero bytes are left out, and a
// size of exactly 64 KiB is written as no size bytes at all).
func appendCopies(out []byte, off, n int) []byte {
	for n > 0 {
		size := min(n, deltaMaxCopy)
		op := byte(0x80)
		at := len(out)
		out = append(out, 0)
		for k := 0; k < 4; k++ {
			if c := byte(off >> (8 * k)); c != 0 {
				op |= 1 << k
				out = append(out, c)
			}
		}
		if size != deltaMaxCopy {
			for k := 0; k < 3; k++ {
				if c := byte(size >> (8 * k)); c != 0 {
					op |= 0x10 << k
					out = append(out, c)
				}
			}
		}
		out[at] = op
		off += size
		n -= size
	}
	return out
}
