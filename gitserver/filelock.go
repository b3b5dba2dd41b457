package gitserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// LockFileName is the file inside a bare repository that holds the
// cross-process repository lock. git ignores unknown files in the git
// directory, so it does not disturb git fsck or clones.
const LockFileName = "tapioca.lock"

// errWouldBlock is what tryLockFile returns when another open file
// description holds the lock.
var errWouldBlock = errors.New("lock held elsewhere")

// LockRepoFile takes the cross-process lock of a repository: an exclusive
// advisory lock (flock on Unix, LockFileEx on Windows) on LockFileName
// inside it. The in-process Server.Lock cannot protect a repository from
// another process such as `tapioca backup`; this one can. The lock is tied
// to an open file, so a crashed holder releases it automatically. It
// blocks until the lock is free; unlock is idempotent.
func LockRepoFile(repoPath string) (unlock func(), err error) {
	return LockRepoFileContext(context.Background(), repoPath)
}

// LockRepoFileContext is LockRepoFile that gives up when ctx is done. A
// missing repository is an error wrapping fs.ErrNotExist: the lock file is
// never created outside an existing repository.
func LockRepoFileContext(ctx context.Context, repoPath string) (unlock func(), err error) {
	path := filepath.Join(repoPath, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open repository lock: %w", err)
	}
	// Polling rather than a blocking call keeps the wait cancellable; the
	// backoff stays short because holders (pushes, ref updates, copies for
	// a backup) are brief.
	delay := time.Millisecond
	for {
		err := tryLockFile(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errWouldBlock) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for repository lock %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		// Closing the file releases the lock; unlocking first keeps the
		// release immediate even if another descriptor shares the file.
		_ = unlockFile(f)
		f.Close()
	}, nil
}
