package gitserver

import "encoding/binary"

// A git delta encoder with a reusable source index, for the pack writer's
// delta search: one source is compared with up to a window of targets,
// so its index is built once. (go-git's DiffDelta rebuilds the index on
// every call, hashes every target position from scratch and follows one
// candidate per bucket.) The format is git's: source and target sizes as
// varints, then copy instructions (offset and size in up to 4 and 3
// bytes) and insert instructions (up to 127 literal bytes).

const (
	deltaBlock    = 16      // bytes hashed per index entry, as git's RABIN_WINDOW
	deltaMaxCopy  = 0x10000 // git's largest copy instruction
	deltaMaxChain = 32      // candidates tried per target position
	deltaHashMul  = 0x01000193
)

// deltaIndex maps the hash of each aligned 16-byte block of a source to
// the block's offsets, newest first.
type deltaIndex struct {
	src   []byte
	mask  uint32
	head  []int32 // bucket -> 1 + first entry, 0 for none
	next  []int32 // entry -> 1 + next entry in the bucket
	entry []int32 // entry -> source offset
}

// deltaPow is deltaHashMul to the power deltaBlock, to roll a byte out.
var deltaPow = func() uint32 {
	p := uint32(1)
	for i := 0; i < deltaBlock; i++ {
		p *= deltaHashMul
	}
	return p
}()

func blockHash(b []byte) uint32 {
	var h uint32
	for _, c := range b[:deltaBlock] {
		h = h*deltaHashMul + uint32(c)
	}
	return h
}

func newDeltaIndex(src []byte) *deltaIndex {
	n := len(src) / deltaBlock
	size := 16
	for size < n {
		size <<= 1
	}
	idx := &deltaIndex{
		src:   src,
		mask:  uint32(size - 1),
		head:  make([]int32, size),
		next:  make([]int32, 0, n),
		entry: make([]int32, 0, n),
	}
	// Indexed from the front, each new entry heading its bucket: equal
	// blocks then try the latest copy first, and long runs of one
	// repeated block do not fill the chains with useless candidates.
	var last uint32
	for off := 0; off+deltaBlock <= len(src); off += deltaBlock {
		h := blockHash(src[off:])
		if off > 0 && h == last {
			continue
		}
		last = h
		b := h & idx.mask
		idx.entry = append(idx.entry, int32(off))
		idx.next = append(idx.next, idx.head[b])
		idx.head[b] = int32(len(idx.entry))
	}
	return idx
}

// encode returns the delta turning the indexed source into tgt, or nil
// when it would be maxSize bytes or more (the caller's bar for a delta
// worth having).
func (idx *deltaIndex) encode(tgt []byte, maxSize int) []byte {
	src := idx.src
	out := make([]byte, 0, min(maxSize, len(tgt)/4+64))
	out = binary.AppendUvarint(out, uint64(len(src)))
	out = binary.AppendUvarint(out, uint64(len(tgt)))
	lit := 0 // start of pending literal bytes in tgt
	flushLit := func(end int) {
		for lit < end {
			n := min(end-lit, 127)
			out = append(out, byte(n))
			out = append(out, tgt[lit:lit+n]...)
			lit += n
		}
	}
	i := 0
	var h uint32
	rolled := false // whether h holds the hash of tgt[i:i+deltaBlock]
	for i+deltaBlock <= len(tgt) {
		if len(out)+(i-lit) >= maxSize {
			return nil
		}
		if !rolled {
			h = blockHash(tgt[i:])
			rolled = true
		}
		bestOff, bestLen := 0, 0
		for e, tries := idx.head[h&idx.mask], 0; e != 0 && tries < deltaMaxChain; e, tries = idx.next[e-1], tries+1 {
			off := int(idx.entry[e-1])
			n := 0
			for off+n < len(src) && i+n < len(tgt) && src[off+n] == tgt[i+n] {
				n++
			}
			if n > bestLen {
				bestOff, bestLen = off, n
				if i+n == len(tgt) {
					break
				}
			}
		}
		if bestLen < deltaBlock {
			// No match here: the byte becomes a literal; roll the hash on.
			if i+deltaBlock < len(tgt) {
				h = h*deltaHashMul - uint32(tgt[i])*deltaPow + uint32(tgt[i+deltaBlock])
			}
			i++
			continue
		}
		// Grow the match backwards over pending literals.
		for bestOff > 0 && i > lit && src[bestOff-1] == tgt[i-1] {
			bestOff--
			i--
			bestLen++
		}
		flushLit(i)
		for bestLen > 0 {
			n := min(bestLen, deltaMaxCopy)
			out = appendCopyOp(out, bestOff, n)
			bestOff += n
			bestLen -= n
			i += n
		}
		lit = i
		rolled = false
	}
	flushLit(len(tgt))
	if len(out) >= maxSize {
		return nil
	}
	return out
}

// appendCopyOp appends a copy instruction: a byte of flags saying which
// offset and size bytes follow, then those bytes; a size of 0x10000 is
// written as none (git reads a zero size as 0x10000).
func appendCopyOp(out []byte, off, n int) []byte {
	at := len(out)
	out = append(out, 0x80)
	for k := 0; k < 4; k++ {
		if b := byte(off >> (8 * k)); b != 0 {
			out[at] |= 1 << k
			out = append(out, b)
		}
	}
	if n != deltaMaxCopy {
		for k := 0; k < 3; k++ {
			if b := byte(n >> (8 * k)); b != 0 {
				out[at] |= 0x10 << k
				out = append(out, b)
			}
		}
	}
	return out
}
