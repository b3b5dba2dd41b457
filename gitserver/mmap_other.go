//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package gitserver

import "os"

// mapFile does not map on this platform; packs are read with pread.
func mapFile(*os.File, int64) []byte { return nil }

func unmapFile([]byte) {}
