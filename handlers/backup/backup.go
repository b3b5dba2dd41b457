// Package backup takes consistent snapshots of a data directory while the
// server runs (database and repositories, into one tar.gz) and restores
// them into a new data directory after checking every part. It runs in
// the CLI's own process, beside a live server.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"tapioca/gitserver"
	"tapioca/store"
)

// Backups are tar.gz archives of a data directory, taken while the server
// runs, from another process:
//
//	manifest.json        what is inside (Manifest)
//	tapioca.db           the database, copied with VACUUM INTO
//	secret.key           the key of the secrets sealed in the database
//	ssh_host_ed25519_key the SSH server's host key
//	repos/<id>.git/...   every repository the database copy knows
//
// The database is copied first, in one transaction, so the archive holds
// exactly the repositories that copy names. Each repository is then
// copied under its cross-process lock (gitserver.LockRepoFile), refs
// before objects: even a writer that ignores the lock only ever adds
// objects before it moves a ref, so every copied ref finds its objects.
// Object files never change once written, so they are hard-linked into a
// staging directory while the lock is held and packed into the archive
// after it is released: a push waits milliseconds, not for the archive.
// The mirror area (<data>/mirrors) is a cache and is left out.

// BackupFormat is the archive layout version in manifest.json.
const BackupFormat = 1

// Manifest describes an archive.
type Manifest struct {
	Format         int       `json:"format"`
	TapiocaVersion string    `json:"tapioca_version"`
	CreatedAt      time.Time `json:"created_at"`
	DatabaseSHA256 string    `json:"database_sha256"`
	Repositories   []Repo    `json:"repositories"`
	// Missing lists repositories the database names whose directory was
	// gone when copied (deleted between the database copy and theirs).
	Missing []int64 `json:"missing_repositories,omitempty"`
}

// Repo is one repository in an archive.
type Repo struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
}

// Options says what to back up and where.
type Options struct {
	DataDir string
	Out     string // archive path; written to Out.tmp-* and renamed
	Version string // recorded in the manifest
}

// Backup writes a consistent archive of a data directory, which a server
// may be using at the same time.
func Backup(ctx context.Context, o Options) (*Manifest, error) {
	dbPath := filepath.Join(o.DataDir, "tapioca.db")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no Tapioca database in %s: %w", o.DataDir, err)
	}
	staging, err := os.MkdirTemp(o.DataDir, ".backup-")
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	live, err := store.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	snapshot := filepath.Join(staging, "tapioca.db")
	err = live.VacuumInto(ctx, snapshot)
	live.Close()
	if err != nil {
		return nil, err
	}
	repos, err := reposOf(ctx, snapshot)
	if err != nil {
		return nil, err
	}
	// The secret key opens the sealed secrets in the database: without
	// it a restored forge could not sign its webhooks.
	if err := copyFile(filepath.Join(o.DataDir, keyFile), filepath.Join(staging, keyFile), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("copy secret key: %w", err)
	}
	// The SSH host key is what clients pinned: a restored forge that made
	// a new one would greet every client with a host key warning.
	if err := copyFile(filepath.Join(o.DataDir, hostKeyFile), filepath.Join(staging, hostKeyFile), 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("copy ssh host key: %w", err)
	}
	m := &Manifest{Format: BackupFormat, TapiocaVersion: o.Version, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if m.DatabaseSHA256, err = fileSHA256(snapshot); err != nil {
		return nil, err
	}
	for _, r := range repos {
		name := strconv.FormatInt(r.ID, 10) + ".git"
		files, bytes, err := stageRepo(ctx, filepath.Join(o.DataDir, "repos", name), filepath.Join(staging, "repos", name))
		if errors.Is(err, fs.ErrNotExist) {
			m.Missing = append(m.Missing, r.ID)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("copy repository %s: %w", r.FullName(), err)
		}
		m.Repositories = append(m.Repositories, Repo{ID: r.ID, FullName: r.FullName(), Files: files, Bytes: bytes})
	}
	if err := writeArchive(o.Out, staging, m); err != nil {
		return nil, err
	}
	return m, nil
}

// reposOf lists the repositories of a database copy.
func reposOf(ctx context.Context, dbPath string) ([]*store.Repo, error) {
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("open database copy: %w", err)
	}
	defer st.Close()
	repos, _, err := st.ListRepos(ctx, store.RepoList{Sort: "created", Asc: true})
	return repos, err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// skipInRepo reports whether a path inside a repository stays out of a
// backup: the lock file, lock files of ref updates in flight, and pushes
// still in quarantine.
func skipInRepo(rel string, d fs.DirEntry) bool {
	base := d.Name()
	switch {
	case rel == gitserver.LockFileName:
		return true
	case d.IsDir() && strings.HasPrefix(base, "incoming-"):
		return true
	case !d.IsDir() && (strings.HasSuffix(base, ".lock") || strings.HasPrefix(base, "tmp_") || strings.HasPrefix(base, ".tmp")):
		return true
	}
	return false
}

// stageRepo copies a repository into dst under its cross-process lock.
// It returns fs.ErrNotExist when the repository is gone.
func stageRepo(ctx context.Context, src, dst string) (files int, bytes int64, err error) {
	unlock, err := gitserver.LockRepoFileContext(ctx, src)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	var objects []string
	// Pass one: everything but objects/ (HEAD, config, refs, packed-refs).
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return os.MkdirAll(dst, 0o750)
		}
		if skipInRepo(filepath.ToSlash(rel), d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "objects" {
			objects = append(objects, p)
			return filepath.SkipDir
		}
		n, err := stageEntry(p, filepath.Join(dst, rel), d, false)
		if n >= 0 && !d.IsDir() {
			files++
			bytes += n
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	// Pass two: objects. A pack counts only with its index: installing a
	// push renames the index first, and git ignores an index without pack.
	for _, root := range objects {
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // replaced while walking (a repack by a lock-ignoring writer)
				}
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if skipInRepo(filepath.ToSlash(rel), d) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && !packComplete(p) {
				return nil
			}
			n, err := stageEntry(p, filepath.Join(dst, rel), d, true)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if n >= 0 && !d.IsDir() {
				files++
				bytes += n
			}
			return err
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return files, bytes, nil
}

// packComplete reports whether a file under objects/pack has its pair.
func packComplete(p string) bool {
	ext := filepath.Ext(p)
	if filepath.Base(filepath.Dir(p)) != "pack" || (ext != ".pack" && ext != ".idx") {
		return true
	}
	other := ".idx"
	if ext == ".idx" {
		other = ".pack"
	}
	_, err := os.Stat(strings.TrimSuffix(p, ext) + other)
	return err == nil
}

// stageEntry copies one directory entry. Immutable object files are hard
// linked when link is set and the filesystem allows it. It returns the
// file's size (-1 for directories).
func stageEntry(src, dst string, d fs.DirEntry, link bool) (int64, error) {
	info, err := d.Info()
	if err != nil {
		return -1, err
	}
	if d.IsDir() {
		return -1, os.MkdirAll(dst, 0o750)
	}
	if !info.Mode().IsRegular() {
		return -1, nil // git repositories hold no symlinks or devices Tapioca made
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return -1, err
	}
	immutable := link && filepath.Base(filepath.Dir(src)) != "info"
	if immutable && os.Link(src, dst) == nil {
		return info.Size(), nil
	}
	return info.Size(), copyFile(src, dst, info.Mode().Perm())
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// writeArchive packs the staging directory behind the manifest into a
// tar.gz, through a temporary file renamed into place once synced.
func writeArchive(out, staging string, m *Manifest) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create archive: %w", err)
	}
	defer os.Remove(tmp.Name())
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed) // packs are compressed already
	tw := tar.NewWriter(zw)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		tmp.Close()
		return err
	}
	now := time.Now()
	err = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest)), ModTime: now, Typeflag: tar.TypeReg})
	if err == nil {
		_, err = tw.Write(manifest)
	}
	if err == nil {
		err = filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(staging, p)
			if rel == "." || strings.HasPrefix(filepath.Base(rel), "tapioca.db-") {
				return nil // the database copy's -wal/-shm are empty after Close
			}
			return addToArchive(tw, p, filepath.ToSlash(rel), d)
		})
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

func addToArchive(tw *tar.Writer, p, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(info, "")
	if err != nil {
		return err
	}
	hdr.Name = name
	hdr.Uname, hdr.Gname, hdr.Uid, hdr.Gid = "", "", 0, 0
	if d.IsDir() {
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// keyFile is the data directory's secret key (core.KeyFile), hostKeyFile
// its SSH host key (sshd.HostKeyFile).
const (
	keyFile     = "secret.key"
	hostKeyFile = "ssh_host_ed25519_key"
)

// RestoreOptions says which archive to restore where.
type RestoreOptions struct {
	Archive string
	DataDir string
	Force   bool // replace a data directory that is not empty
}

// Restore unpacks an archive into a data directory. Everything is
// unpacked and checked (manifest, database integrity, every repository
// present) in a directory beside the target first; only then does it take
// the target's place, so a bad archive changes nothing. The server must
// not be running on the target.
func Restore(ctx context.Context, o RestoreOptions) (*Manifest, error) {
	target, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 && !o.Force {
		return nil, fmt.Errorf("data directory %s is not empty; pass --force to replace it", target)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data directory %s: %w", target, err)
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restore-")
	if err != nil {
		return nil, fmt.Errorf("create restore directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	m, err := unpack(o.Archive, tmp)
	if err != nil {
		return nil, err
	}
	if err := checkRestored(ctx, tmp, m); err != nil {
		return nil, err
	}
	if _, err := os.Stat(target); err == nil {
		old := filepath.Join(parent, "."+filepath.Base(target)+".replaced-"+randomHex(6))
		if err := os.Rename(target, old); err != nil {
			return nil, fmt.Errorf("move the old data directory aside: %w", err)
		}
		if err := os.Rename(tmp, target); err != nil {
			if rerr := os.Rename(old, target); rerr != nil {
				return nil, fmt.Errorf("put restored data in place: %w (and the old data directory is now %s: %v)", err, old, rerr)
			}
			return nil, fmt.Errorf("put restored data in place: %w", err)
		}
		if err := os.RemoveAll(old); err != nil {
			return m, fmt.Errorf("restored, but the old data could not be removed from %s: %w", old, err)
		}
		return m, nil
	}
	if err := os.Rename(tmp, target); err != nil {
		return nil, fmt.Errorf("put restored data in place: %w", err)
	}
	return m, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unpack extracts an archive into dir, refusing anything that is not a
// plain file or directory inside the expected layout.
func unpack(archive, dir string) (*Manifest, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not a Tapioca backup (not gzip): %w", archive, err)
	}
	tr := tar.NewReader(zr)
	var m *Manifest
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		name := path.Clean(hdr.Name)
		if !validBackupPath(name) {
			return nil, fmt.Errorf("backup holds an unexpected entry %q", hdr.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o750); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if name == "manifest.json" {
				m = &Manifest{}
				if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(m); err != nil {
					return nil, fmt.Errorf("read manifest: %w", err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
				return nil, err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, hdr.FileInfo().Mode().Perm()|0o200)
			if err != nil {
				return nil, fmt.Errorf("restore %s: %w", name, err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("restore %s: %w", name, err)
			}
		default:
			return nil, fmt.Errorf("backup entry %q is not a file or directory", hdr.Name)
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%s is not a Tapioca backup: no manifest.json", archive)
	}
	if m.Format != BackupFormat {
		return nil, fmt.Errorf("backup format %d is not supported (this tapioca reads format %d)", m.Format, BackupFormat)
	}
	return m, nil
}

func validBackupPath(name string) bool {
	if name == "manifest.json" || name == "tapioca.db" || name == "repos" || name == keyFile || name == hostKeyFile {
		return true
	}
	rest, ok := strings.CutPrefix(name, "repos/")
	if !ok || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") {
		return false
	}
	repo, _, _ := strings.Cut(rest, "/")
	id, ok := strings.CutSuffix(repo, ".git")
	if _, err := strconv.ParseInt(id, 10, 64); !ok || err != nil {
		return false
	}
	return true
}

// checkRestored verifies an unpacked archive before it replaces anything.
func checkRestored(ctx context.Context, dir string, m *Manifest) error {
	db := filepath.Join(dir, "tapioca.db")
	sum, err := fileSHA256(db)
	if err != nil {
		return fmt.Errorf("backup has no database: %w", err)
	}
	if sum != m.DatabaseSHA256 {
		return errors.New("the database in the backup does not match its manifest (corrupt archive)")
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		return fmt.Errorf("open restored database: %w", err)
	}
	defer st.Close()
	res, err := st.IntegrityCheck(ctx)
	if err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("restored database fails its integrity check: %s", res)
	}
	if err := os.MkdirAll(filepath.Join(dir, "repos"), 0o750); err != nil {
		return err
	}
	for _, r := range m.Repositories {
		if _, err := os.Stat(filepath.Join(dir, "repos", strconv.FormatInt(r.ID, 10)+".git", "HEAD")); err != nil {
			return fmt.Errorf("backup lacks repository %s: %w", r.FullName, err)
		}
	}
	return nil
}
