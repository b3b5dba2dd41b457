//go:build linux || darwin || freebsd || netbsd || openbsd

package gitserver

import (
	"os"
	"syscall"
)

// mapFile maps a pack read-only. Packs are never modified once written
// (only renamed or removed, which leaves a mapping valid), so random
// reads of small entries cost no system call and no copy, as in git.
func mapFile(f *os.File, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil // fall back to pread
	}
	return data
}

func unmapFile(data []byte) {
	if data != nil {
		_ = syscall.Munmap(data)
	}
}
