package handlers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"tapioca/gitserver"
	"tapioca/store"
)

// objectStore opens a repository's objects for gitserver/merge, diffstat
// and archive. LargeObjectThreshold makes go-git stream big blobs from
// disk instead of reading each whole into memory.
type objectStore struct {
	*filesystem.Storage
	root string
}

func (a *App) objects(repo *store.Repo) (*objectStore, error) {
	path := a.repoPath(repo.ID)
	if _, err := os.Stat(filepath.Join(path, "objects")); err != nil {
		return nil, fmt.Errorf("open objects of repository %d: %w", repo.ID, err)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(path), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: 1 << 20})
	return &objectStore{Storage: st, root: path}, nil
}

// SetEncodedObject writes a loose object and makes it durable before it
// returns: go-git renames its temporary file into place without fsync, and
// a merge moves a ref onto these objects right after, so a power cut must
// not leave the ref pointing at an object that never reached the disk.
func (s *objectStore) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h, err := s.Storage.SetEncodedObject(o)
	if err != nil {
		return h, err
	}
	hex := h.String()
	dir := filepath.Join(s.root, "objects", hex[:2])
	if err := syncPath(filepath.Join(dir, hex[2:])); err != nil {
		return h, fmt.Errorf("sync object %s: %w", hex, err)
	}
	if err := syncPath(dir); err != nil {
		return h, fmt.Errorf("sync object directory of %s: %w", hex, err)
	}
	return h, nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// branchTips reads every branch of a repository once (refs only, no
// object access), for callers that look at several branches.
func (a *App) branchTips(ctx context.Context, repo *store.Repo) (map[string]plumbing.Hash, error) {
	bs, err := a.git.Branches(ctx, a.repoPath(repo.ID))
	if err != nil {
		return nil, fmt.Errorf("list branches: %w", err)
	}
	tips := make(map[string]plumbing.Hash, len(bs))
	for _, b := range bs {
		tips[b.Name] = b.Hash
	}
	return tips, nil
}

// branchTip returns one branch's commit; ok is false if it does not exist.
func (a *App) branchTip(ctx context.Context, repo *store.Repo, branch string) (plumbing.Hash, bool, error) {
	if !store.ValidBranchName(branch) {
		return plumbing.ZeroHash, false, nil
	}
	tips, err := a.branchTips(ctx, repo)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, ok := tips[branch]
	return h, ok, nil
}

// commitInfo is the brief commit shown with a branch.
type commitInfo struct {
	SHA         string `json:"sha"`
	Message     string `json:"message"`
	Author      string `json:"author"`
	CommittedAt string `json:"committed_at"`
}

// commitOf describes a commit. The author is shown as the Tapioca
// username whose email matches the commit's author email (as the seed's
// example shows a username), else as the name in the commit.
func (a *App) commitOf(ctx context.Context, st *objectStore, h plumbing.Hash) (commitInfo, error) {
	c, err := object.GetCommit(st, h)
	if err != nil {
		return commitInfo{}, fmt.Errorf("read commit %s: %w", h, err)
	}
	author := c.Author.Name
	if c.Author.Email != "" {
		u, err := a.store.UserByEmail(ctx, c.Author.Email)
		switch {
		case err == nil:
			author = u.Username
		case !errors.Is(err, store.ErrNotFound):
			return commitInfo{}, err
		}
	}
	return commitInfo{
		SHA: h.String(), Message: strings.TrimRight(c.Message, "\n"), Author: author,
		CommittedAt: timeJSON(c.Committer.When.In(time.UTC)),
	}, nil
}

// refUpdate builds the RefUpdate an API change of a branch amounts to, so
// it goes through the same hooks as a push (events, pull request sync).
// The API only ever creates, deletes or moves a branch forward.
func refUpdate(branch string, old, new plumbing.Hash) gitserver.RefUpdate {
	return gitserver.RefUpdate{Name: "refs/heads/" + branch, Old: old, New: new, FastForward: !new.IsZero()}
}
