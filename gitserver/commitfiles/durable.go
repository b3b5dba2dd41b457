package commitfiles

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
)

// syncLoose makes the loose objects a commit wrote durable before the
// branch moves onto them. go-git's storer renames each object's temporary
// file into place without fsync, so after a power cut the ref (which
// UpdateRef does fsync) could name a commit whose file never reached the
// disk: a broken repository. Each object file is synced, then each fan-out
// directory that holds one (its new entry), then objects/ itself, which
// may have gained a fan-out directory.
func syncLoose(repoPath string, hashes []plumbing.Hash) error {
	if len(hashes) == 0 {
		return nil
	}
	objects := filepath.Join(repoPath, "objects")
	dirs := map[string]bool{}
	var order []string
	for _, h := range hashes {
		hex := h.String()
		dir := filepath.Join(objects, hex[:2])
		if err := syncPath(filepath.Join(dir, hex[2:])); err != nil {
			return fmt.Errorf("sync object %s: %w", hex, err)
		}
		if !dirs[dir] {
			dirs[dir] = true
			order = append(order, dir)
		}
	}
	for _, dir := range append(order, objects) {
		if err := syncPath(dir); err != nil {
			return fmt.Errorf("sync object directory %s: %w", dir, err)
		}
	}
	return nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
