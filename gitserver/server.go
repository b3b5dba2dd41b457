package gitserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/go-git/go-billy/v5/osfs"
)

// Agent is sent in the agent= capability so server logs on the client side
// can tell which implementation answered.
const Agent = "tapioca/1.0"

var (
	// ErrNotFound is returned when a repository, ref or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRefConflict is returned by UpdateRef when the ref's current value is
	// not the expected old value, or when the name collides with an existing
	// ref hierarchy (refs/heads/a vs refs/heads/a/b).
	ErrRefConflict = errors.New("ref conflict")
	// ErrAmbiguous is returned by ResolveRef for an abbreviated object name
	// that matches more than one object.
	ErrAmbiguous = errors.New("ambiguous object name")
	// ErrInvalidName is returned for ref or branch names git would refuse.
	ErrInvalidName = errors.New("invalid ref name")
	// ErrExists is returned by Init when the target directory is not empty.
	ErrExists = errors.New("repository already exists")
)

// Config holds the limits the app enforces on pushes.
type Config struct {
	MaxFileSize int64 // bytes; 0 = unlimited (up to maxObjectCeiling)
	MaxRepoSize int64 // bytes; 0 = unlimited
	Logger      *slog.Logger
	// PushCertSeed keys the nonces of signed pushes. Processes that share
	// it accept each other's nonces; empty: a random seed per process.
	PushCertSeed []byte
}

// Server is the git side of one Tapioca process. It owns the table of
// per-repository locks, so there must be exactly one per process (and one
// process per data directory): every ref write in the app goes through it.
type Server struct {
	cfg      Config
	log      *slog.Logger
	certSeed []byte

	mu          sync.Mutex
	locks       map[string]*repoLock
	maintaining map[string]bool // repositories MaintainWith is repacking

	// repacked, if set, runs after MaintainWith computed its pack and
	// before it takes the lock to install it: tests push from there.
	repacked func()
}

type repoLock struct {
	ch   chan struct{} // capacity 1: holding the token means holding the lock
	refs int           // callers holding or waiting; the entry is dropped at 0
}

// New returns a Server with the given limits.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seed := cfg.PushCertSeed
	if len(seed) == 0 {
		seed = make([]byte, 32)
		_, _ = rand.Read(seed)
	}
	return &Server{cfg: cfg, log: log, certSeed: seed, locks: make(map[string]*repoLock), maintaining: make(map[string]bool)}
}

func lockKey(repoPath string) string {
	if abs, err := filepath.Abs(repoPath); err == nil {
		return filepath.Clean(abs)
	}
	return filepath.Clean(repoPath)
}

// Lock takes the per-repository lock and returns the function that releases
// it. The key is the cleaned absolute path, so different spellings of one
// path share a lock. Unlock is idempotent. The lock is not reentrant:
// UpdateRef, SetHEAD, InitialCommit, Maintain and the ref updates of a
// push take it themselves, so do not call them while holding it. Readers
// (fetches, ResolveRef, Branches) never take it.
//
// Inside one process the lock is a table entry; it also holds the
// repository's cross-process file lock (LockRepoFile) so that another
// process, such as `tapioca backup`, excludes writers too.
func (s *Server) Lock(repoPath string) (unlock func()) {
	unlock, _ = s.LockContext(context.Background(), repoPath)
	return unlock
}

// LockContext is Lock that gives up when ctx is done (for example when the
// client of a push disconnects while another push holds the lock).
func (s *Server) LockContext(ctx context.Context, repoPath string) (unlock func(), err error) {
	key := lockKey(repoPath)
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &repoLock{ch: make(chan struct{}, 1)}
		s.locks[key] = l
	}
	l.refs++
	s.mu.Unlock()

	release := func() {
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return func() {}, fmt.Errorf("waiting for repository lock: %w", ctx.Err())
	}
	// The file lock comes second, so this process's writers queue on the
	// table and only one of them at a time contends with other processes.
	// A directory that does not exist yet (a repository or mirror about to
	// be created) has no file lock to take.
	unlockFile := func() {}
	if st, serr := os.Stat(repoPath); serr == nil && st.IsDir() {
		u, ferr := LockRepoFileContext(ctx, repoPath)
		switch {
		case ferr == nil:
			unlockFile = u
		case ctx.Err() != nil:
			<-l.ch
			release()
			return func() {}, ferr
		default:
			// A read-only or odd filesystem: keep serving; in-process
			// exclusion still holds.
			s.log.Warn("repository file lock unavailable", "repo", repoPath, "err", ferr)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unlockFile()
			<-l.ch
			release()
		})
	}, nil
}

// Open opens the bare repository at repoPath with go-git, for packages that
// want go-git's object model (merge, archive, diffstat). Ref writes must
// still go through Server.UpdateRef so they are locked and crash-safe.
func Open(repoPath string) (*git.Repository, error) {
	if !isRepo(repoPath) {
		return nil, fmt.Errorf("open %s: %w", repoPath, ErrNotFound)
	}
	st := filesystem.NewStorage(osfs.New(repoPath), cache.NewObjectLRUDefault())
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", repoPath, err)
	}
	return repo, nil
}

// staleQuarantineAge is how old an objects/incoming-* directory must be
// before a new push removes it as debris of a crashed push.
const staleQuarantineAge = time.Hour
