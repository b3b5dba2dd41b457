package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"tapioca/gitserver"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Config is what the core takes from the process's configuration.
type Config struct {
	DataDir         string
	BaseURL         string // --base-url; a dashboard setting may override it
	RateLimitAuth   int    // requests per hour per user
	RateLimitAnon   int    // requests per hour per client address
	MaxReposPerUser int
	Version         string
	// SSHPort is the port of the built-in SSH server (0 when it is off),
	// for the ssh_url of repositories.
	SSHPort int
	// CrashAt names a point in the core where the process kills itself
	// (SIGKILL), for crash-recovery tests of the built binary. Empty in
	// real use.
	CrashAt string
}

// Env is what every core service runs in: the database, the git server,
// the configuration and the layout of the data directory. There is one
// per process.
type Env struct {
	Store *store.Store
	Git   *gitserver.Server
	Cfg   Config
	Log   *slog.Logger
	// Secrets seals what must be stored encrypted (webhook secrets,
	// upstream tokens).
	Secrets *SecretBox

	settingsMu sync.RWMutex
	settings   map[string]string // runtime overrides from the settings table
}

// NewEnv makes the environment, with the data directory's secret key;
// LoadSettings reads the runtime settings.
func NewEnv(st *store.Store, git *gitserver.Server, cfg Config, log *slog.Logger) (*Env, error) {
	box, err := LoadSecretBox(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &Env{Store: st, Git: git, Cfg: cfg, Log: log, Secrets: box}, nil
}

// RepoPath is where a repository lives on disk: keyed by id, so renames
// and transfers never move files.
func (e *Env) RepoPath(id int64) string {
	return filepath.Join(e.Cfg.DataDir, "repos", strconv.FormatInt(id, 10)+".git")
}

func (e *Env) trashDir() string { return filepath.Join(e.Cfg.DataDir, "repos", ".trash") }

// EmptyTrash removes repositories whose deletion was interrupted.
func (e *Env) EmptyTrash() {
	if err := os.RemoveAll(e.trashDir()); err != nil {
		e.Log.Warn("empty repository trash", "err", err)
	}
}

// RemoveRepoFiles moves a deleted repository's directory into the trash
// under the repository lock (so no push is half-way through it) and
// removes it. A crash in between leaves only trash, emptied at start;
// failures are logged, since the row is already gone.
func (e *Env) RemoveRepoFiles(ctx context.Context, id int64) {
	path := e.RepoPath(id)
	unlock := e.Git.Lock(path)
	defer unlock()
	if err := os.MkdirAll(e.trashDir(), 0o750); err != nil {
		e.Log.WarnContext(ctx, "repository trash", "err", err)
		return
	}
	trash := filepath.Join(e.trashDir(), strconv.FormatInt(id, 10)+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Rename(path, trash); err != nil {
		if !os.IsNotExist(err) {
			e.Log.WarnContext(ctx, "move repository to trash", "path", path, "err", err)
		}
		return
	}
	if err := os.RemoveAll(trash); err != nil {
		e.Log.WarnContext(ctx, "remove deleted repository", "path", trash, "err", err)
	}
}

// LoadSettings reads the runtime settings table; the dashboard calls it
// after a change so that it applies without a restart.
func (e *Env) LoadSettings(ctx context.Context) error {
	s, err := e.Store.Settings(ctx)
	if err != nil {
		return err
	}
	e.settingsMu.Lock()
	e.settings = s
	e.settingsMu.Unlock()
	return nil
}

// Setting returns a runtime setting and whether it is set.
func (e *Env) Setting(key string) (string, bool) {
	e.settingsMu.RLock()
	defer e.settingsMu.RUnlock()
	v, ok := e.settings[key]
	return v, ok
}

// BaseURL is the external URL in effect: the dashboard's setting if one
// is stored, else --base-url.
func (e *Env) BaseURL() string {
	if v, ok := e.Setting(store.SettingBaseURL); ok && v != "" {
		return v
	}
	return e.Cfg.BaseURL
}

// Host is the base URL's host name, for ssh_url.
func (e *Env) Host() string {
	if u, err := url.Parse(strings.TrimRight(e.BaseURL(), "/")); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// Site is what the URLs in answers and payloads are built from now.
func (e *Env) Site() payload.Site {
	return payload.Site{BaseURL: e.BaseURL(), SSHHost: e.Host(), SSHPort: e.Cfg.SSHPort}
}

// RateLimits are the hourly request limits in effect.
func (e *Env) RateLimits() (auth, anon int) {
	auth, anon = e.Cfg.RateLimitAuth, e.Cfg.RateLimitAnon
	if v, ok := e.Setting(store.SettingRateLimitAuth); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			auth = n
		}
	}
	if v, ok := e.Setting(store.SettingRateLimitAnon); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			anon = n
		}
	}
	return auth, anon
}

// RegistrationOpen reports whether anyone may register through the API.
func (e *Env) RegistrationOpen() bool {
	v, ok := e.Setting(store.SettingRegistrationOpen)
	return !ok || v != "false"
}

// Objects is a repository's object store for gitserver/merge, diffstat
// and archive. LargeObjectThreshold makes go-git stream big blobs from
// disk instead of reading each whole into memory.
type Objects struct {
	*filesystem.Storage
	root string
}

// Objects opens a repository's objects.
func (e *Env) Objects(repo *store.Repo) (*Objects, error) {
	path := e.RepoPath(repo.ID)
	if _, err := os.Stat(filepath.Join(path, "objects")); err != nil {
		return nil, fmt.Errorf("open objects of repository %d: %w", repo.ID, err)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(path), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: 1 << 20})
	return &Objects{Storage: st, root: path}, nil
}

// SetEncodedObject writes a loose object and makes it durable before it
// returns: go-git renames its temporary file into place without fsync, and
// a merge moves a ref onto these objects right after, so a power cut must
// not leave the ref pointing at an object that never reached the disk.
func (s *Objects) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
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

// BranchTips reads every branch of a repository once (refs only, no
// object access), for callers that look at several branches.
func (e *Env) BranchTips(ctx context.Context, repo *store.Repo) (map[string]plumbing.Hash, error) {
	bs, err := e.Git.Branches(ctx, e.RepoPath(repo.ID))
	if err != nil {
		return nil, fmt.Errorf("list branches: %w", err)
	}
	tips := make(map[string]plumbing.Hash, len(bs))
	for _, b := range bs {
		tips[b.Name] = b.Hash
	}
	return tips, nil
}

// BranchTip returns one branch's commit; ok is false if it does not exist.
func (e *Env) BranchTip(ctx context.Context, repo *store.Repo, branch string) (plumbing.Hash, bool, error) {
	if !store.ValidBranchName(branch) {
		return plumbing.ZeroHash, false, nil
	}
	tips, err := e.BranchTips(ctx, repo)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, ok := tips[branch]
	return h, ok, nil
}

// Signature is the git identity Tapioca uses for commits a user makes
// through the forge (merges, files written through the API).
func Signature(u *store.User) gitserver.Signature {
	name := u.Username
	if u.DisplayName != nil && *u.DisplayName != "" {
		name = *u.DisplayName
	}
	email := u.Email
	if email == "" {
		email = u.Username + "@users.noreply.tapioca"
	}
	return gitserver.Signature{Name: name, Email: email, When: time.Now()}
}

// AuthorName is how a commit's author is shown: the username of the
// account with that email, else the name in the commit.
func (e *Env) AuthorName(ctx context.Context, name, email string) (string, error) {
	if email == "" {
		return name, nil
	}
	u, err := e.Store.UserByEmail(ctx, email)
	switch {
	case err == nil && !u.IsOrg():
		return u.Username, nil
	case err == nil, errors.Is(err, store.ErrNotFound):
		return name, nil
	}
	return "", err
}

// CrashPoint kills the process without any cleanup when point is the
// configured crash point, so tests can check what a power cut at exactly
// that step leaves behind.
func (e *Env) CrashPoint(point string) {
	if e.Cfg.CrashAt != "" && e.Cfg.CrashAt == point {
		e.Log.Warn("crash point reached: killing the process", "point", point)
		killSelf()
	}
}

// RandomPassword returns n characters from an alphabet without look-alikes.
func RandomPassword(n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, n)
	buf := make([]byte, n*2)
	for i := 0; i < n; {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if i < n && int(c) < 256-256%len(alphabet) {
				b[i] = alphabet[int(c)%len(alphabet)]
				i++
			}
		}
	}
	return string(b)
}
