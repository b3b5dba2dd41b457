package gitserver

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"os"
	"path/filepath"
)

// A pack's side files (the reachability index, the have bitmaps) share
// one frame, big-endian: magic (4) | version (4) | pack checksum (20) |
// entries N (4) | a count K of the file's own (4) | body | SHA-1 of
// everything before it. They describe one pack and are named after it,
// so a repacked repository never reads another pack's file as its own.

const sideHeaderLen = 36

// newSideFile starts a side file for p with its header.
func newSideFile(magic string, version uint32, p *packFile, n, k int) *bytes.Buffer {
	var buf bytes.Buffer
	buf.WriteString(magic)
	binary.Write(&buf, binary.BigEndian, version)
	buf.Write(p.idx.PackfileChecksum[:])
	binary.Write(&buf, binary.BigEndian, uint32(n))
	binary.Write(&buf, binary.BigEndian, uint32(k))
	return &buf
}

// writeSideFile seals buf with its checksum and puts it at path whole
// (a reader sees the old file or the new one, never part of one).
func writeSideFile(path string, buf *bytes.Buffer) error {
	sum := sha1.Sum(buf.Bytes())
	buf.Write(sum[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readSideFile reads the side file at path for p and checks its frame:
// it returns N (which matches p's index), K and the body.
func readSideFile(path, magic string, version uint32, p *packFile) (n, k int, body []byte, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(data) < sideHeaderLen+20 || string(data[:4]) != magic {
		return 0, 0, nil, errBadReach
	}
	head, sum := data[:len(data)-20], data[len(data)-20:]
	if s := sha1.Sum(head); !bytes.Equal(s[:], sum) {
		return 0, 0, nil, errBadReach
	}
	if binary.BigEndian.Uint32(head[4:]) != version || !bytes.Equal(head[8:28], p.idx.PackfileChecksum[:]) {
		return 0, 0, nil, errBadReach
	}
	n = int(binary.BigEndian.Uint32(head[28:]))
	k = int(binary.BigEndian.Uint32(head[32:]))
	count, err := p.idx.Count()
	if err != nil {
		return 0, 0, nil, err
	}
	if int64(n) != count {
		return 0, 0, nil, errBadReach
	}
	return n, k, head[sideHeaderLen:], nil
}
