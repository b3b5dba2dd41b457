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
	RefsPacked         int // loose refs moved into packed-refs
	Objects            int // objects in the new pack (0 if none was written)
	Deltas             int // of which stored as deltas
	DeltasReused       int // of those, copied from the old packs
	BytesBefore        int64
	BytesAfter         int64
	IndexesRebuilt     int // damaged or missing pack indexes made again from their packs
}

// ErrMaintenanceRunning is returned by Maintain for a repository that
// this process is maintaining already.
var ErrMaintenanceRunning = errors.New("maintenance already running")

// Maintain repacks a repository with the default delta search (see
// MaintainWith).
func (s *Server) Maintain(ctx context.Context, repoPath string) (MaintainResult, error) {
	return s.MaintainWith(ctx, repoPath, RepackOptions{})
}

// MaintainWith first makes again, from its pack, any pack index that is
// damaged or missing (reindex.go). Then it repacks a repository as `git
// gc` does: every loose object
// and every pack (except those with a .keep file) go into one new pack
// with deltas (repack.go), then the old files are removed and the loose
// refs packed. Nothing is pruned, so no object a concurrent reader or a
// later push relies on can disappear.
//
// The new pack is computed without the repository lock, from the packs
// and loose objects present when it starts: pushes and ref updates go on
// meanwhile, and what they add stays where they put it. The lock is taken
// only to install the new pack and remove what it replaces, and only
// after the pack was read back through the same indexer as pushes (which
// hashes every object again) and found to hold every object it replaces.
// With the default options a single pack and no loose objects is left as
// it is; NoReuse repacks it anyway.
//
// Last, without the lock, it writes the reachability index of the pack
// (reach.go) that lets clones skip the history walk.
func (s *Server) MaintainWith(ctx context.Context, repoPath string, opts RepackOptions) (MaintainResult, error) {
	res, err := s.repackAndPackRefs(ctx, repoPath, opts)
	if err != nil {
		return res, err
	}
	if err := s.writeReachIndex(ctx, repoPath); err != nil {
		// Clones walk the history without it: slower, not wrong.
		s.log.Warn("maintain: reachability index", "repo", repoPath, "err", err)
	}
	if res.BytesAfter, err = dirSize(repoPath); err != nil {
		return res, err
	}
	return res, nil
}

// repackAndPackRefs is MaintainWith but the reachability index.
func (s *Server) repackAndPackRefs(ctx context.Context, repoPath string, opts RepackOptions) (MaintainResult, error) {
	var res MaintainResult
	if !isRepo(repoPath) {
		return res, fmt.Errorf("maintain %s: %w", repoPath, ErrNotFound)
	}
	done, err := s.startMaintenance(repoPath)
	if err != nil {
		return res, err
	}
	defer done()
	objDir := filepath.Join(repoPath, "objects")
	removeStaleQuarantines(objDir)
	if res.BytesBefore, err = dirSize(repoPath); err != nil {
		return res, err
	}
	res.BytesAfter = res.BytesBefore
	// Serving trusts index checksums (readIdx); the pack rewritten from
	// them must not.
	if res.IndexesRebuilt, err = s.repairIndexes(ctx, repoPath); err != nil {
		return res, fmt.Errorf("maintain: %w", err)
	}

	db, err := openODB(repoPath)
	if err != nil {
		return res, err
	}
	defer db.close()
	var replaced []*packFile
	for _, p := range db.packs {
		if _, err := os.Stat(strings.TrimSuffix(p.path, ".pack") + ".keep"); err != nil {
			replaced = append(replaced, p)
		}
	}
	loose, err := listLoose(objDir)
	if err != nil {
		return res, err
	}
	var rp *receivedPack
	if len(replaced)+len(loose) > 0 && (len(replaced) > 1 || len(loose) > 0 || opts.NoReuse) {
		qdir, err := os.MkdirTemp(objDir, "incoming-")
		if err != nil {
			return res, fmt.Errorf("maintain: %w", err)
		}
		defer os.RemoveAll(qdir)
		if rp, err = s.repackInto(ctx, db, repoPath, replaced, loose, opts, qdir, &res); err != nil {
			return res, err
		}
	}
	// Close before renaming and removing: Windows refuses both on open
	// files.
	db.close()
	if s.repacked != nil {
		s.repacked()
	}

	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return res, err
	}
	defer unlock()
	if rp != nil {
		if err := rp.install(repoPath); err != nil {
			return res, err
		}
		newPack := filepath.Join(objDir, "pack", "pack-"+rp.checksum.String()+".pack")
		// The new pack is in place; what it replaces can go. Readers
		// that opened the old files keep reading them (POSIX semantics);
		// readers listing packs now find the new one.
		for _, p := range replaced {
			if p.path == newPack {
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
	}
	peeler := &odbPeeler{ctx: ctx, repoPath: repoPath}
	defer peeler.close()
	if res.RefsPacked, err = packRefs(repoPath, peeler.peel); err != nil {
		return res, err
	}
	if res.BytesAfter, err = dirSize(repoPath); err != nil {
		return res, err
	}
	return res, nil
}

// repackInto writes the new pack of replaced and loose into the
// quarantine qdir and checks that it holds every object they hold.
func (s *Server) repackInto(ctx context.Context, db *odb, repoPath string, replaced []*packFile, loose []plumbing.Hash, opts RepackOptions, qdir string, res *MaintainResult) (*receivedPack, error) {
	plan, err := planRepack(ctx, db, repoPath, replaced, loose, opts)
	if err != nil {
		return nil, fmt.Errorf("maintain: %w", err)
	}
	pr, pw := io.Pipe()
	type indexed struct {
		rp  *receivedPack
		err error
	}
	done := make(chan indexed, 1)
	go func() {
		// The same limits as a push: a stored pack that got in some other
		// way is held to them too (TestMaintainHoldsStoredPacksToTheLimit).
		rp, err := indexPack(ctx, pr, qdir, s.packLimits(0), nil)
		pr.CloseWithError(err) // unblocks the writer if indexing failed
		done <- indexed{rp, err}
	}()
	bw := bufio.NewWriterSize(pw, 256*1024)
	werr := plan.writePack(bw)
	if werr == nil {
		werr = bw.Flush()
	}
	pw.CloseWithError(werr)
	got := <-done
	if werr != nil {
		return nil, fmt.Errorf("maintain: write pack: %w", werr)
	}
	if got.err != nil {
		return nil, fmt.Errorf("maintain: index pack: %w", got.err)
	}
	rp := got.rp
	if len(rp.objects) != len(plan.objs) {
		return nil, fmt.Errorf("maintain: new pack has %d objects, expected %d", len(rp.objects), len(plan.objs))
	}
	for _, o := range plan.objs {
		if _, ok := rp.byHash[o.hash]; !ok {
			return nil, fmt.Errorf("maintain: object %s missing from the new pack", o.hash)
		}
	}
	res.Objects = len(plan.objs)
	res.Deltas = plan.reused + plan.deltified
	res.DeltasReused = plan.reused
	return rp, nil
}

// startMaintenance marks repoPath as being maintained by this process;
// done unmarks it. Two repacks of one repository at once would each
// remove the packs the other is reading from.
func (s *Server) startMaintenance(repoPath string) (done func(), err error) {
	key := lockKey(repoPath)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maintaining[key] {
		return nil, fmt.Errorf("maintain %s: %w", repoPath, ErrMaintenanceRunning)
	}
	s.maintaining[key] = true
	return func() {
		s.mu.Lock()
		delete(s.maintaining, key)
		s.mu.Unlock()
	}, nil
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
