package gitdiff

import (
	"bytes"
	"compress/zlib"
	"fmt"
)

// writeBinaryPatch writes git's "GIT binary patch" for a change from a to
// b: the new content, then the old (so the patch applies in reverse),
// each zlib-compressed and base85-encoded in lines of at most 52 bytes.
// git picks a delta instead when it is smaller; a literal is always
// valid, so this never does.
func writeBinaryPatch(w *bytes.Buffer, a, b []byte) {
	w.WriteString("GIT binary patch\n")
	writeLiteral(w, b)
	writeLiteral(w, a)
}

func writeLiteral(w *bytes.Buffer, data []byte) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(data) // a bytes.Buffer does not fail
	zw.Close()
	fmt.Fprintf(w, "literal %d\n", len(data))
	deflated := z.Bytes()
	for len(deflated) > 0 {
		n := min(52, len(deflated))
		if n <= 26 {
			w.WriteByte(byte('A' + n - 1))
		} else {
			w.WriteByte(byte('a' + n - 27))
		}
		encode85(w, deflated[:n])
		w.WriteByte('\n')
		deflated = deflated[n:]
	}
	w.WriteByte('\n')
}

const base85Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"

// encode85 is git's base85: each group of four bytes (the last one padded
// with zeros) as five digits, most significant first.
func encode85(w *bytes.Buffer, data []byte) {
	for len(data) > 0 {
		var acc uint32
		for i := 0; i < 4; i++ {
			acc <<= 8
			if i < len(data) {
				acc |= uint32(data[i])
			}
		}
		var out [5]byte
		for i := 4; i >= 0; i-- {
			out[i] = base85Digits[acc%85]
			acc /= 85
		}
		w.Write(out[:])
		data = data[min(4, len(data)):]
	}
}
