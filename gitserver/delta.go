package gitserver

import (
	"bufio"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
)

// Reading a pack from anyone else means trusting sizes it declares: an
// entry header names the inflated size, a delta's header the size of the
// object it makes. Both are checked here before a byte is inflated or
// copied, and nothing is allocated from them before that check, so a
// small pack cannot make the server hold (or hash, or write) gigabytes.

// maxObjectCeiling bounds any one object when no file size limit is
// configured: beyond it, a declared size is refused as if it were the
// limit.
const maxObjectCeiling = 2 << 30

// ErrObjectTooLarge is matched (errors.Is) by every *ObjectTooLargeError.
var ErrObjectTooLarge = errors.New("object too large")

// ObjectTooLargeError reports an object whose declared size is over the
// limit, found before the object was inflated or its delta applied.
type ObjectTooLargeError struct {
	Hash   plumbing.Hash       // zero when not known yet (refused by its header)
	Type   plumbing.ObjectType // the entry's type; a delta's type when refused by its header
	Size   int64               // declared size (for a delta: of the object it makes)
	Limit  int64
	Offset int64 // entry offset in the pack, -1 when not known
}

func (e *ObjectTooLargeError) Error() string {
	limit := formatSize(e.Limit) + " file size limit"
	switch {
	case !e.Hash.IsZero():
		return fmt.Sprintf("object %s is %s, over the %s", e.Hash, formatSize(e.Size), limit)
	case e.Type.IsDelta():
		return fmt.Sprintf("an object in the pack expands by delta to %s, over the %s", formatSize(e.Size), limit)
	case e.Type == objBlob:
		return fmt.Sprintf("a file in the pack is %s, over the %s", formatSize(e.Size), limit)
	}
	return fmt.Sprintf("a %s in the pack is %s, over the %s", e.Type, formatSize(e.Size), limit)
}

// Is makes errors.Is(err, ErrObjectTooLarge) hold.
func (e *ObjectTooLargeError) Is(target error) bool { return target == ErrObjectTooLarge }

var errCorruptDelta = errors.New("corrupt delta")

// DeltaSizes decodes the header of a git delta: the size of the base it
// applies to and of the object it makes, and how many bytes the header
// took. It needs at most 20 bytes.
func DeltaSizes(delta []byte) (baseSize, resultSize int64, n int, err error) {
	pos := 0
	next := func() (byte, error) {
		if pos >= len(delta) {
			return 0, errCorruptDelta
		}
		pos++
		return delta[pos-1], nil
	}
	if baseSize, err = readDeltaVarint(next); err != nil {
		return 0, 0, 0, err
	}
	if resultSize, err = readDeltaVarint(next); err != nil {
		return 0, 0, 0, err
	}
	return baseSize, resultSize, pos, nil
}

// readDeltaVarint reads one little-endian base-128 size of a delta
// header; sizes past 2^63 are corrupt.
func readDeltaVarint(next func() (byte, error)) (int64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift > 56 {
			return 0, errCorruptDelta
		}
		c, err := next()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 1<<62 {
				return 0, errCorruptDelta
			}
			return int64(v), nil
		}
	}
}

// ApplyDelta writes to dst the object that a git delta makes from base,
// reading the delta in one pass, so neither the delta nor the result is
// held in memory (base is read where copy commands point). Before
// anything is written the delta's header is checked: the base size it
// names must be baseSize and the result size at most max, else an
// *ObjectTooLargeError. It returns the result size.
//
// Mirror fetches and anything else that resolves deltas from an
// untrusted pack should use this or applyDeltaMax, never a delta
// applier that trusts the header.
func ApplyDelta(dst io.Writer, base io.ReaderAt, baseSize int64, delta io.Reader, max int64) (int64, error) {
	br, ok := delta.(io.ByteReader)
	if !ok {
		b := bufio.NewReaderSize(delta, 32*1024)
		br, delta = b, b
	}
	next := br.ReadByte
	src, err := readDeltaVarint(next)
	if err != nil {
		return 0, deltaEOF(err)
	}
	size, err := readDeltaVarint(next)
	if err != nil {
		return 0, deltaEOF(err)
	}
	if src != baseSize {
		return 0, fmt.Errorf("delta base size %d != %d", src, baseSize)
	}
	if size > max {
		return 0, &ObjectTooLargeError{Type: objOFS, Size: size, Limit: max, Offset: -1}
	}
	buf := make([]byte, min(size, 64*1024))
	var written int64
	for written < size {
		cmd, err := next()
		if err != nil {
			return written, deltaEOF(err)
		}
		switch {
		case cmd&0x80 != 0:
			off, n, err := copyArgs(cmd, next)
			if err != nil {
				return written, deltaEOF(err)
			}
			if off+n > baseSize || n > size-written {
				return written, errCorruptDelta
			}
			for n > 0 {
				chunk := buf[:min(n, int64(len(buf)))]
				if _, err := base.ReadAt(chunk, off); err != nil {
					return written, fmt.Errorf("read delta base: %w", err)
				}
				if _, err := dst.Write(chunk); err != nil {
					return written, err
				}
				off += int64(len(chunk))
				n -= int64(len(chunk))
				written += int64(len(chunk))
			}
		case cmd != 0:
			n := int64(cmd)
			if n > size-written {
				return written, errCorruptDelta
			}
			if _, err := io.ReadFull(delta, buf[:n]); err != nil {
				return written, deltaEOF(err)
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return written, err
			}
			written += n
		default:
			return written, errCorruptDelta
		}
	}
	// Instructions past the declared size make a corrupt delta.
	if _, err := next(); err != io.EOF {
		return written, errCorruptDelta
	}
	return written, nil
}

func deltaEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errCorruptDelta
	}
	return err
}

// copyArgs decodes the offset and length of a delta copy command.
func copyArgs(cmd byte, next func() (byte, error)) (off, n int64, err error) {
	for i := 0; i < 4; i++ {
		if cmd&(1<<i) != 0 {
			c, err := next()
			if err != nil {
				return 0, 0, err
			}
			off |= int64(c) << (8 * i)
		}
	}
	for i := 0; i < 3; i++ {
		if cmd&(0x10<<i) != 0 {
			c, err := next()
			if err != nil {
				return 0, 0, err
			}
			n |= int64(c) << (8 * i)
		}
	}
	if n == 0 {
		n = 0x10000
	}
	return off, n, nil
}

// applyDelta applies a delta held in memory to base, within
// maxObjectCeiling. go-git's PatchDelta refuses an empty base, which git
// itself allows.
func applyDelta(base, delta []byte) ([]byte, error) {
	return applyDeltaMax(base, delta, maxObjectCeiling)
}

// applyDeltaMax is the in-memory ApplyDelta: the result is allocated only
// after its declared size was checked against max.
func applyDeltaMax(base, delta []byte, max int64) ([]byte, error) {
	src, dstSize, pos, err := DeltaSizes(delta)
	if err != nil {
		return nil, err
	}
	if src != int64(len(base)) {
		return nil, fmt.Errorf("delta base size %d != %d", src, len(base))
	}
	if dstSize > max {
		return nil, &ObjectTooLargeError{Type: objOFS, Size: dstSize, Limit: max, Offset: -1}
	}
	next := func() (byte, error) {
		if pos >= len(delta) {
			return 0, errCorruptDelta
		}
		pos++
		return delta[pos-1], nil
	}
	out := make([]byte, 0, dstSize)
	for pos < len(delta) {
		cmd := delta[pos]
		pos++
		switch {
		case cmd&0x80 != 0:
			off, n, err := copyArgs(cmd, next)
			if err != nil {
				return nil, err
			}
			if off+n > int64(len(base)) || int64(len(out))+n > dstSize {
				return nil, errCorruptDelta
			}
			out = append(out, base[off:off+n]...)
		case cmd != 0:
			n := int(cmd)
			if pos+n > len(delta) || int64(len(out)+n) > dstSize {
				return nil, errCorruptDelta
			}
			out = append(out, delta[pos:pos+n]...)
			pos += n
		default:
			return nil, errCorruptDelta
		}
	}
	if int64(len(out)) != dstSize {
		return nil, errCorruptDelta
	}
	return out, nil
}

// InflateBounded inflates the zlib stream src into dst. The stream must
// hold exactly size bytes, as an entry header declares; size is checked
// against max before anything is read, so an oversized declaration costs
// nothing. src should be an io.ByteReader for the stream to end exactly
// where its data does (the next entry of a pack follows it).
func InflateBounded(dst io.Writer, src io.Reader, size, max int64) (int64, error) {
	if size < 0 {
		return 0, fmt.Errorf("inflate: bad size %d", size)
	}
	if size > max {
		return 0, &ObjectTooLargeError{Size: size, Limit: max, Offset: -1}
	}
	zr, err := zlib.NewReader(src)
	if err != nil {
		return 0, fmt.Errorf("inflate: %w", err)
	}
	defer zr.Close()
	n, err := io.CopyN(dst, zr, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("inflated to %d bytes, header says %d", n, size)
		}
		return n, fmt.Errorf("inflate: %w", err)
	}
	if err := expectZlibEnd(zr); err != nil {
		return n, fmt.Errorf("inflate: %w", err)
	}
	return n, nil
}
