package gitserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// MaintainResult reports what Maintain did.
type MaintainResult struct {
	LooseObjectsPacked int
	PacksMerged        int // packs replaced by the new one
	BytesBefore        int64
	BytesAfter         int64
}

// Maintain repacks a repository: every loose object and every pack
// (except those with a .keep file) go into one new pack, then the old
// files are removed. Nothing is pruned, so no object a concurrent reader
// or a later push relies on can disappear. The new pack is written through
// the same indexer as pushes, which re-hashes every object, and installed
// only if it holds exactly the objects it replaces. Runs under the
// repository lock.
func (s *Server) Maintain(ctx context.Context, repoPath string) (MaintainResult, error) {
	var res MaintainResult
	if !isRepo(repoPath) {
		return res, fmt.Errorf("maintain %s: %w", repoPath, ErrNotFound)
	}
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return res, err
	}
	defer unlock()
	objDir := filepath.Join(repoPath, "objects")
	removeStaleQuarantines(objDir)
	if res.BytesBefore, err = dirSize(repoPath); err != nil {
		return res, err
	}
	res.BytesAfter = res.BytesBefore

	db, err := openODB(repoPath)
	if err != nil {
		return res, err
	}
	defer db.close()
	kept := map[*packFile]bool{}
	for _, p := range db.packs {
		if _, err := os.Stat(strings.TrimSuffix(p.path, ".pack") + ".keep"); err == nil {
			kept[p] = true
		}
	}
	loose, err := listLoose(objDir)
	if err != nil {
		return res, err
	}
	old := len(db.packs) - len(kept)
	if old+len(loose) == 0 || old == 1 && len(loose) == 0 {
		return res, nil // nothing to merge
	}

	en := &enumeration{sending: map[plumbing.Hash]bool{}, clientHas: map[plumbing.Hash]bool{}}
	for _, p := range db.packs {
		if kept[p] {
			continue
		}
		ents, err := p.sortedEntries()
		if err != nil {
			return res, err
		}
		for _, e := range ents {
			en.add(e.hash)
		}
	}
	for _, h := range loose {
		en.add(h)
	}
	qdir, err := os.MkdirTemp(objDir, "incoming-")
	if err != nil {
		return res, fmt.Errorf("maintain: %w", err)
	}
	defer os.RemoveAll(qdir)
	pr, pw := io.Pipe()
	type indexed struct {
		rp  *receivedPack
		err error
	}
	done := make(chan indexed, 1)
	go func() {
		rp, err := indexPack(ctx, pr, qdir, s.packLimits(0), nil)
		pr.CloseWithError(err) // unblocks the writer if indexing failed
		done <- indexed{rp, err}
	}()
	bw := bufio.NewWriterSize(pw, 256*1024)
	writer := newPackWriter(db, bw, en, true, false)
	werr := writer.writePack(ctx.Err)
	if werr == nil {
		werr = bw.Flush()
	}
	pw.CloseWithError(werr)
	got := <-done
	if werr != nil {
		return res, fmt.Errorf("maintain: write pack: %w", werr)
	}
	if got.err != nil {
		return res, fmt.Errorf("maintain: index pack: %w", got.err)
	}
	rp := got.rp
	if len(rp.objects) != len(en.objects) {
		return res, fmt.Errorf("maintain: new pack has %d objects, expected %d", len(rp.objects), len(en.objects))
	}
	for _, h := range en.objects {
		if _, ok := rp.byHash[h]; !ok {
			return res, fmt.Errorf("maintain: object %s missing from the new pack", h)
		}
	}
	// Close before renaming and removing: Windows refuses both on open
	// files.
	packs := db.packs
	db.close()
	if err := rp.install(repoPath); err != nil {
		return res, err
	}
	newPack := filepath.Join(objDir, "pack", "pack-"+rp.checksum.String()+".pack")

	// The new pack is in place; what it replaces can go. Readers that
	// opened the old files keep reading them (POSIX semantics).
	for _, p := range packs {
		if kept[p] || p.path == newPack {
			continue
		}
		base := strings.TrimSuffix(p.path, ".pack")
		for _, ext := range []string{".idx", ".pack", ".rev", ".bitmap"} {
			// The index goes first, mirroring install: a pack without
			// index must never be visible to go-git.
			if err := os.Remove(base + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("maintain: remove old pack file", "file", base+ext, "err", err)
			}
		}
		res.PacksMerged++
	}
	for _, h := range loose {
		if err := os.Remove(db.loosePath(h)); err == nil {
			res.LooseObjectsPacked++
		}
		os.Remove(filepath.Dir(db.loosePath(h))) // only succeeds once empty
	}
	syncDir(filepath.Join(objDir, "pack"))
	if res.BytesAfter, err = dirSize(repoPath); err != nil {
		return res, err
	}
	return res, nil
}

// listLoose returns the loose objects of objDir.
func listLoose(objDir string) ([]plumbing.Hash, error) {
	dirs, err := os.ReadDir(objDir)
	if err != nil {
		return nil, fmt.Errorf("list loose objects: %w", err)
	}
	var out []plumbing.Hash
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 || !isHex(d.Name()) {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(objDir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("list loose objects: %w", err)
		}
		for _, e := range ents {
			if h, ok := parseHash(d.Name() + e.Name()); ok {
				out = append(out, h)
			}
		}
	}
	return out, nil
}
