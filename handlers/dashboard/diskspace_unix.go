//go:build linux || darwin || freebsd || dragonfly

package dashboard

import "golang.org/x/sys/unix"

// volumeSpace reports the free (for unprivileged writers) and total
// bytes of the volume holding path.
func volumeSpace(path string) (free, total int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, false
	}
	// The field types differ between systems; these conversions suit all.
	bsize := int64(st.Bsize)
	return int64(st.Bavail) * bsize, int64(st.Blocks) * bsize, true
}
