package handlers_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers"
	"tapioca/handlers/backup"
	"tapioca/handlers/sshd"
	"tapioca/store"
)

// TestBackupDuringPushes takes a backup with the real binary, in its own
// process, while 20 git clients push to a running server, then restores
// it into a new data directory: every repository must be fsck-clean, the
// database must pass its integrity check, and a server on the restored
// data must serve the repositories.
func TestBackupDuringPushes(t *testing.T) {
	t.Parallel()
	tapiocaBinary(t) // built before the clock starts
	// With SSH, for the host key the backup must carry.
	srv := newServer(t, func(c *handlers.Config) { c.SSHAddr = "127.0.0.1:0" })
	u := srv.register(t, "backup")
	c := srv.as(t, u.Token)
	const repos, pushers = 4, 20
	for i := range repos {
		c.createRepo(map[string]any{"name": fmt.Sprintf("r%d", i), "auto_init": true})
	}
	// One work tree per pusher, cloned before the clock starts.
	work := make([]string, pushers)
	for i := range pushers {
		work[i] = filepath.Join(t.TempDir(), "w")
		runGit(t, filepath.Dir(work[i]), "clone", "-q", srv.gitURL(u.Token, u.Name, fmt.Sprintf("r%d", i%repos)), "w")
		runGit(t, work[i], "checkout", "-q", "-b", fmt.Sprintf("pusher-%d", i))
	}

	// Pushers keep pushing until the backup is done, so that it runs
	// among pushes in flight.
	var stop atomic.Bool
	var pushes atomic.Int64
	pushed := make([]atomic.Bool, pushers) // pusher i has pushed its branch
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	for i := range pushers {
		wg.Go(func() {
			for n := 0; n < 3 || !stop.Load(); n++ {
				name := fmt.Sprintf("f%d-%d.txt", i, n)
				// A few hundred KB per commit, so packs take a moment to write.
				content := strings.Repeat(fmt.Sprintf("pusher %d commit %d\n", i, n), 8000)
				if err := os.WriteFile(filepath.Join(work[i], name), []byte(content), 0o644); err != nil {
					errs <- err
					return
				}
				for _, args := range [][]string{{"add", name}, {"commit", "-q", "-m", name}, {"push", "-q", "origin", "HEAD"}} {
					if out, err := tryGit(work[i], args...); err != nil {
						errs <- fmt.Errorf("pusher %d: git %s: %v\n%s", i, args[0], err, out)
						return
					}
				}
				pushes.Add(1)
				pushed[i].Store(true)
				if n > 200 {
					return
				}
			}
		})
	}
	// Start once every pusher has pushed about once: what was
	// acknowledged before the backup began must be in it.
	for deadline := time.Now().Add(60 * time.Second); pushes.Load() < pushers && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	var before []bool
	for i := range pushed {
		before = append(before, pushed[i].Load())
	}
	startCount := pushes.Load()
	archive := filepath.Join(t.TempDir(), "backup.tar.gz")
	out, err := runBinary(t, nil, "backup", "--data", srv.Dir, "--out", archive)
	before2 := pushes.Load()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("and %d repositories", repos)) {
		t.Fatalf("backup said %q", out)
	}
	t.Logf("pushes completed: %d when the backup started, %d when it ended, %d in all", startCount, before2, pushes.Load())
	// Nothing of the server's copy work is left in the data directory.
	if left, _ := filepath.Glob(filepath.Join(srv.Dir, ".backup-*")); len(left) > 0 {
		t.Fatalf("staging left behind: %v", left)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runBinary(t, nil, "restore", archive, "--data", restored); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// The secret key that opens sealed secrets and the SSH host key that
	// clients pinned come back, private.
	for _, name := range []string{"secret.key", sshd.HostKeyFile} {
		origKey, err := os.ReadFile(filepath.Join(srv.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if key, err := os.ReadFile(filepath.Join(restored, name)); err != nil || !bytes.Equal(key, origKey) {
			t.Fatalf("restored %s: %v", name, err)
		}
		if st, err := os.Stat(filepath.Join(restored, name)); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Fatalf("restored %s mode: %v %v", name, st.Mode(), err)
		}
	}
	st, err := store.Open(t.Context(), filepath.Join(restored, "tapioca.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.IntegrityCheck(t.Context())
	if err != nil || res != "ok" {
		t.Fatalf("integrity check: %q %v", res, err)
	}
	list, total, err := st.ListRepos(t.Context(), store.RepoList{})
	st.Close()
	if err != nil || total != repos {
		t.Fatalf("restored repositories: %d %v", total, err)
	}
	byName := map[string]string{}
	for _, r := range list {
		dir := filepath.Join(restored, "repos", fmt.Sprintf("%d.git", r.ID))
		byName[r.Name] = dir
		out, err := tryGit(dir, "--git-dir", dir, "fsck", "--full", "--strict")
		if err != nil || strings.Contains(out, "missing") || strings.Contains(out, "broken") {
			t.Errorf("fsck %s: %v\n%s", r.FullName(), err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "tapioca.lock")); err == nil {
			t.Errorf("%s: the lock file was backed up", r.FullName())
		}
	}

	for i, done := range before {
		if !done {
			continue
		}
		dir := byName[fmt.Sprintf("r%d", i%repos)]
		if _, err := tryGit(dir, "--git-dir", dir, "rev-parse", "--verify", "-q", fmt.Sprintf("refs/heads/pusher-%d", i)); err != nil {
			t.Errorf("pusher %d pushed before the backup started, but its branch is not in the backup", i)
		}
	}

	// A server on the restored data serves what it restored.
	again := newServer(t, func(cfg *handlers.Config) { cfg.DataDir = restored })
	clone := t.TempDir()
	runGit(t, clone, "clone", "-q", again.gitURL(u.Token, u.Name, "r0"), "r0")
	if branches := runGit(t, filepath.Join(clone, "r0"), "branch", "-r"); before[0] && !strings.Contains(branches, "origin/pusher-0") {
		t.Fatalf("restored r0 lacks the pushed branch:\n%s", branches)
	}
}

func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	u := srv.register(t, "restore")
	srv.as(t, u.Token).createRepo(map[string]any{"name": "one", "auto_init": true})
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	if out, err := runBinary(t, nil, "backup", "--data", srv.Dir, "--out", archive); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	// A data directory in use is not overwritten without --force.
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runBinary(t, nil, "restore", archive, "--data", target)
	if err == nil || !strings.Contains(out, "not empty; pass --force") {
		t.Fatalf("restore over a non-empty dir: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "keep.txt")); string(b) != "mine" {
		t.Fatal("the refused restore touched the data directory")
	}
	if out, err := runBinary(t, nil, "restore", archive, "--data", target, "--force"); err != nil {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(target, "keep.txt")); !os.IsNotExist(err) {
		t.Fatal("--force kept the old contents")
	}
	if _, err := os.Stat(filepath.Join(target, "tapioca.db")); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".*")); len(left) > 0 {
		t.Fatalf("restore left %v behind", left)
	}

	// Broken or hostile archives change nothing.
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.tar.gz")
	os.WriteFile(garbage, []byte("not a backup"), 0o644)
	evil := filepath.Join(dir, "evil.tar.gz")
	writeTarGz(t, evil, map[string]string{"manifest.json": `{"format":1}`, "../escape.txt": "x"})
	noManifest := filepath.Join(dir, "nomanifest.tar.gz")
	writeTarGz(t, noManifest, map[string]string{"tapioca.db": "x"})
	corruptDB := filepath.Join(dir, "corrupt.tar.gz")
	writeTarGz(t, corruptDB, map[string]string{"manifest.json": `{"format":1,"database_sha256":"00"}`, "tapioca.db": "not sqlite"})
	for name, a := range map[string]string{"garbage": garbage, "path escape": evil, "no manifest": noManifest,
		"corrupt database": corruptDB, "missing file": filepath.Join(dir, "nope.tar.gz")} {
		fresh := filepath.Join(t.TempDir(), "fresh")
		out, err := runBinary(t, nil, "restore", a, "--data", fresh)
		if err == nil {
			t.Errorf("%s: restore succeeded:\n%s", name, out)
		}
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Errorf("%s: restore created the data directory", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "escape.txt")); err == nil {
		t.Fatal("an archive wrote outside the data directory")
	}
	if out, err := runBinary(t, nil, "backup", "--data", filepath.Join(dir, "nothing"), "--out", filepath.Join(dir, "x.tar.gz")); err == nil {
		t.Fatalf("backup of a missing data dir succeeded:\n%s", out)
	}
}

func writeTarGz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	zw.Close()
}

// TestBackupWaitsForTheRepositoryLock: a repository held under its
// cross-process lock is copied only once the holder lets go.
func TestBackupWaitsForTheRepositoryLock(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	u := srv.register(t, "locked")
	repo := srv.as(t, u.Token).createRepo(map[string]any{"name": "held", "auto_init": true})
	path := filepath.Join(srv.Dir, "repos", fmt.Sprintf("%.0f.git", repo["id"]))
	unlock, err := gitserver.LockRepoFile(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := backup.Backup(context.Background(), backup.Options{DataDir: srv.Dir, Out: filepath.Join(t.TempDir(), "b.tar.gz")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("backup finished while the repository was locked: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("backup did not finish after the lock was released")
	}
}
