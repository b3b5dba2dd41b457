package gitserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// repairIndexes gives every pack of the repository a sound index before
// maintenance reads through them. Serving trusts an index's checksum
// (readIdx), so bit rot in one goes unnoticed until maintenance verifies
// it; an index that is gone hides every object of its pack. Either way
// the pack itself still holds the objects, so the index is made again
// from it, through the indexer pushes use: every object is inflated and
// hashed again and the pack's own checksum is checked. A pack that fails
// that is left as it is, with the error: nothing is rewritten from it.
func (s *Server) repairIndexes(ctx context.Context, repoPath string) (rebuilt int, err error) {
	packDir := filepath.Join(repoPath, "objects", "pack")
	ents, err := os.ReadDir(packDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list packs: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pack")
		if !ok || !strings.HasPrefix(name, "pack-") {
			continue
		}
		base := filepath.Join(packDir, name)
		verr := verifyIdx(base + ".idx")
		if verr == nil {
			continue
		}
		s.log.Warn("maintain: rebuilding a pack index from its pack", "index", base+".idx", "err", verr)
		if err := s.rebuildIdx(ctx, repoPath, base); err != nil {
			return rebuilt, fmt.Errorf("%w; rebuilding it from %s: %w", verr, filepath.Base(base)+".pack", err)
		}
		rebuilt++
	}
	return rebuilt, nil
}

// rebuildIdx indexes base.pack again into a quarantine and puts the new
// index in place of base.idx, under the repository lock.
func (s *Server) rebuildIdx(ctx context.Context, repoPath, base string) error {
	f, err := os.Open(base + ".pack")
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	qdir, err := os.MkdirTemp(filepath.Join(repoPath, "objects"), "incoming-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(qdir)
	// No thin bases: a stored pack holds every base it refers to.
	rp, err := indexPack(ctx, bufio.NewReaderSize(f, 256*1024), qdir, s.packLimits(0), nil)
	if err != nil {
		return err
	}
	if rp.size != st.Size() {
		return fmt.Errorf("the pack ends at byte %d of %d", rp.size, st.Size())
	}
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Chmod(rp.idxPath, 0o444); err != nil {
		return err
	}
	// Readers that mapped the old index keep it; the next ones read this.
	if err := os.Rename(rp.idxPath, base+".idx"); err != nil {
		return err
	}
	syncDir(filepath.Dir(base))
	return nil
}
