package gitserver

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLockRepoFileExcludes checks that a second holder waits for the
// first, and that a cancelled wait gives up without taking the lock.
func TestLockRepoFileExcludes(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockRepoFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockRepoFileContext(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: err %v, want deadline exceeded", err)
	}
	got := make(chan struct{})
	go func() {
		u, err := LockRepoFile(dir)
		if err != nil {
			t.Error(err)
		} else {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("lock taken while held")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	unlock() // idempotent
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("lock not handed over after unlock")
	}
}

func TestLockRepoFileMissingRepository(t *testing.T) {
	_, err := LockRepoFile(filepath.Join(t.TempDir(), "gone.git"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want not exist", err)
	}
}

// TestLockRepoFileAcrossProcesses holds the lock in a child process (this
// test binary re-run as a helper) and checks the parent waits for it.
func TestLockRepoFileAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("TAPIOCA_LOCK_HELPER_DIR"); dir != "" {
		unlock, err := LockRepoFile(dir)
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(300 * time.Millisecond)
		unlock()
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockRepoFileAcrossProcesses$")
	cmd.Env = append(os.Environ(), "TAPIOCA_LOCK_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	start := time.Now()
	unlock, err := LockRepoFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("took the lock after %v while another process held it", waited)
	}
}
