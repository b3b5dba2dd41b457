package gitserver

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// What makes a repository worth maintaining soon after a push, as `git
// gc --auto` decides after receive-pack, with one reason of Tapioca's
// own: a history with no reachability index, which every clone then
// walks whole (on git/git, 20 s of CPU where the index makes it 0.4 s).
const (
	// autoIndexObjects: below this many objects a clone's walk is cheap
	// enough that a push alone is no reason to index.
	autoIndexObjects = 10000
	// autoPackLimit is git's gc.autoPackLimit: every fetch looks names
	// up pack by pack.
	autoPackLimit = 50
	// autoLooseObjects is git's gc.auto: loose objects, estimated as git
	// does from the one directory objects/17.
	autoLooseObjects = 6700
)

// WantsMaintenance reports whether the repository would serve markedly
// better after Maintain: its packs hold at least autoIndexObjects
// objects and none has a reachability index, or it has autoPackLimit
// packs, or about autoLooseObjects loose objects. It reads directory
// listings and the first kilobyte of each pack index, so the core can ask
// after every push.
func (s *Server) WantsMaintenance(repoPath string) bool {
	objDir := filepath.Join(repoPath, "objects")
	if ents, err := os.ReadDir(filepath.Join(objDir, "17")); err == nil && len(ents)*256 >= autoLooseObjects {
		return true
	}
	ents, err := os.ReadDir(filepath.Join(objDir, "pack"))
	if err != nil {
		return false
	}
	packs, objects := 0, int64(0)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".idx")
		if !ok || !strings.HasPrefix(name, "pack-") {
			continue
		}
		packs++
		objects += idxObjectCount(filepath.Join(objDir, "pack", e.Name()))
	}
	if packs >= autoPackLimit {
		return true
	}
	if objects < autoIndexObjects {
		return false
	}
	infos, _ := os.ReadDir(filepath.Join(objDir, "info"))
	for _, e := range infos {
		if strings.HasPrefix(e.Name(), reachPrefix) {
			return false
		}
	}
	return true
}

// idxObjectCount is the last fanout entry of a version 2 pack index: how
// many objects its pack holds (0 when it cannot be read).
func idxObjectCount(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var head [idxHeaderLen]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:4]) != "\xfftOc" {
		return 0
	}
	return int64(binary.BigEndian.Uint32(head[idxHeaderLen-4:]))
}
