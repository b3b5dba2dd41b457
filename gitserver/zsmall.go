package gitserver

import (
	"encoding/binary"
	"hash/adler32"
	"math/bits"
)

// Go's compress/flate ends every stream with an empty stored block (about
// five bytes) where zlib marks the last data block final; on the small
// objects and deltas of a pack that is a visible share of each entry. For
// those the pack writer also tries the two encodings that need no match
// search, a stored block and a block of fixed-Huffman literals, each
// written final, and keeps the smallest.

// smallDeflateMax is the largest input for which the alternatives are
// tried; beyond it LZ matching wins and the five bytes do not matter.
const smallDeflateMax = 1024

// appendZlibStored appends data as a zlib stream of one final stored
// block.
func appendZlibStored(dst, data []byte) []byte {
	dst = append(dst, 0x78, 0x01, 0x01) // zlib header; BFINAL=1, BTYPE=00
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(data)))
	dst = binary.LittleEndian.AppendUint16(dst, ^uint16(len(data)))
	dst = append(dst, data...)
	return binary.BigEndian.AppendUint32(dst, adler32.Checksum(data))
}

// appendZlibFixed appends data as a zlib stream of one final block of
// literals in the fixed Huffman code (RFC 1951 3.2.6).
func appendZlibFixed(dst, data []byte) []byte {
	dst = append(dst, 0x78, 0x01)
	var acc uint64
	var n uint
	put := func(v uint64, width uint) {
		acc |= v << n
		n += width
		for n >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	// Huffman codes go out most significant bit first.
	code := func(c uint32, width uint) { put(uint64(bits.Reverse32(c)>>(32-width)), width) }
	put(0b011, 3) // BFINAL=1, BTYPE=01
	for _, b := range data {
		if b < 144 {
			code(0x30+uint32(b), 8)
		} else {
			code(0x190+uint32(b)-144, 9)
		}
	}
	code(0, 7) // end of block
	if n > 0 {
		dst = append(dst, byte(acc))
	}
	return binary.BigEndian.AppendUint32(dst, adler32.Checksum(data))
}

// fixedLiteralBytes is the size appendZlibFixed gives data.
func fixedLiteralBytes(data []byte) int {
	nbits := 3 + 7
	for _, b := range data {
		nbits += 8
		if b >= 144 {
			nbits++
		}
	}
	return 2 + (nbits+7)/8 + 4
}
