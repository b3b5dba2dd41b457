package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"time"
)

// synthRepo writes a repository with realistic churn through fast-import:
// each commit edits a few lines of a few files, so packs hold real deltas.
func synthRepo(dir string, commits, files int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := git(dir, "init", "-q", "-b", "master"); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	contents := make([][]string, files)
	for i := range contents {
		n := 20 + r.IntN(200)
		lines := make([]string, n)
		for j := range lines {
			lines[j] = fmt.Sprintf("file %d line %d: %x", i, j, r.Uint64())
		}
		contents[i] = lines
	}
	var buf bytes.Buffer
	when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for c := 0; c < commits; c++ {
		fmt.Fprintf(&buf, "commit refs/heads/master\ncommitter Bench <bench@example.com> %d +0000\n", when+int64(c)*60)
		msg := fmt.Sprintf("commit %d", c)
		fmt.Fprintf(&buf, "data %d\n%s\n", len(msg), msg)
		var touched []int
		if c == 0 {
			for i := 0; i < files; i++ {
				touched = append(touched, i)
			}
		} else {
			for k := 0; k < 1+r.IntN(4); k++ {
				f := r.IntN(files)
				lines := contents[f]
				lines[r.IntN(len(lines))] = fmt.Sprintf("edited in %d: %x", c, r.Uint64())
				if r.IntN(3) == 0 {
					contents[f] = append(lines, fmt.Sprintf("added in %d", c))
				}
				touched = append(touched, f)
			}
		}
		for _, f := range touched {
			body := strings.Join(contents[f], "\n") + "\n"
			fmt.Fprintf(&buf, "M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n", f%40, f, len(body), body)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("fast-import: %w: %s", err, out)
	}
	if err := git(dir, "reset", "-q", "--hard", "master"); err != nil {
		return err
	}
	return git(dir, "gc", "-q")
}
