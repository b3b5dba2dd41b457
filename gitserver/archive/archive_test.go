package archive

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=C", "GIT_COMMITTER_EMAIL=c@example.com",
		"GIT_COMMITTER_DATE=2023-03-04T05:06:07+02:00", "GIT_AUTHOR_DATE=2023-03-04T05:06:07+02:00")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, stderr.String())
	}
	return string(out)
}

func write(t *testing.T, root, p, data string, mode os.FileMode) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// sampleRepo holds every kind of entry an archive must reproduce.
func sampleRepo(t *testing.T) string {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "README.md", "# sample\n", 0o644)
	write(t, dir, "bin/run.sh", "#!/bin/sh\necho run\n", 0o755)
	write(t, dir, "src/deep/nested/dir/file.go", strings.Repeat("package dir\n", 500), 0o644)
	write(t, dir, "src/empty", "", 0o644)
	write(t, dir, "assets/logo.bin", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff", 0o644)
	write(t, dir, "name with spaces/ünïcode.txt", "hi\n", 0o644)
	if err := os.Symlink("../README.md", filepath.Join(dir, "src/link")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	// A submodule entry, which git archives as an empty directory.
	git(t, dir, "update-index", "--add", "--cacheinfo", "160000,1234567890123456789012345678901234567890,vendor/sub")
	git(t, dir, "commit", "-q", "-m", "sample")
	return dir
}

// entry is what unzip leaves on disk for one path.
type entry struct {
	kind    string // dir, file, symlink
	perm    fs.FileMode
	content string
}

// unpack extracts with the real unzip under a fixed umask, so the modes
// compared are the ones a user gets.
func unpack(t *testing.T, zipPath string) map[string]entry {
	t.Helper()
	dest := t.TempDir()
	cmd := exec.Command("sh", "-c", "umask 022 && unzip -q \"$0\" -d \"$1\"", zipPath, dest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v: %s", err, out)
	}
	got := make(map[string]entry)
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dest {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{perm: info.Mode().Perm()}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.kind = "symlink"
			e.content, err = os.Readlink(p)
			e.perm = 0 // Linux symlinks have no meaningful permissions
		case info.IsDir():
			e.kind = "dir"
		default:
			e.kind = "file"
			var b []byte
			b, err = os.ReadFile(p)
			e.content = string(b)
		}
		got[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriteZipMatchesGitArchive(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("unzip not installed")
	}
	dir := sampleRepo(t)
	commit := plumbing.NewHash(strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")))
	for _, prefix := range []string{"sample-main/", ""} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			gitZip := filepath.Join(t.TempDir(), "git.zip")
			git(t, dir, "archive", "--format=zip", "--prefix="+prefix, "-o", gitZip, "HEAD")

			var buf bytes.Buffer
			s := filesystem.NewStorage(osfs.New(filepath.Join(dir, ".git")), cache.NewObjectLRUDefault())
			if err := WriteZip(context.Background(), &buf, s, commit, prefix); err != nil {
				t.Fatal(err)
			}
			ourZip := filepath.Join(t.TempDir(), "ours.zip")
			if err := os.WriteFile(ourZip, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}

			want, got := unpack(t, gitZip), unpack(t, ourZip)
			if len(want) == 0 {
				t.Fatal("git archive unpacked to nothing")
			}
			var names []string
			for n := range want {
				names = append(names, n)
			}
			for n := range got {
				if _, ok := want[n]; !ok {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				if want[n] != got[n] {
					t.Errorf("%s: got %+v, git %+v", n, got[n], want[n])
				}
			}

			// Entry list (with directories), times and comment, from the
			// zip directories themselves.
			zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			gz, err := zip.OpenReader(gitZip)
			if err != nil {
				t.Fatal(err)
			}
			defer gz.Close()
			var ours, theirs []string
			for _, f := range zr.File {
				ours = append(ours, f.Name)
				if !f.Modified.Equal(time.Date(2023, 3, 4, 3, 6, 7, 0, time.UTC)) {
					t.Errorf("%s: modified %v, want the commit time", f.Name, f.Modified)
				}
			}
			for _, f := range gz.File {
				theirs = append(theirs, f.Name)
			}
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("entries\n got %q\nwant %q", ours, theirs)
			}
			if zr.Comment != gz.Comment {
				t.Errorf("comment %q, git %q", zr.Comment, gz.Comment)
			}
		})
	}
}

func TestWriteZipStopsOnCancel(t *testing.T) {
	t.Parallel()
	dir := sampleRepo(t)
	commit := plumbing.NewHash(strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")))
	s := filesystem.NewStorage(osfs.New(filepath.Join(dir, ".git")), cache.NewObjectLRUDefault())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteZip(ctx, io.Discard, s, commit, "p/"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestWriteZipStreamsLargeBlob archives a 50 MB random blob from a packed
// repository and checks that the bytes allocated while doing so stay far
// below the blob's size: it must be streamed, not loaded.
func TestWriteZipStreamsLargeBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB repository")
	}
	t.Parallel()
	const size = 50 << 20
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	write(t, dir, "big.bin", string(data), 0o644)
	write(t, dir, "small.txt", "small\n", 0o644)
	data = nil
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "big")
	git(t, dir, "repack", "-adq")
	commit := plumbing.NewHash(strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")))

	s := filesystem.NewStorageWithOptions(osfs.New(filepath.Join(dir, ".git")), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: 1 << 20})
	var n countingWriter
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := WriteZip(context.Background(), &n, s, commit, "big/"); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("archived %d MB blob into %d bytes, allocating %d KB", size>>20, n, allocated>>10)
	if n < size {
		t.Fatalf("archive is %d bytes, smaller than the random blob", n)
	}
	if allocated > size/8 {
		t.Fatalf("allocated %d bytes while archiving a %d byte blob: it is being buffered", allocated, size)
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
