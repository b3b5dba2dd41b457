package gitserver

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestObjectStoreMatchesGoGit reads every object of a repository holding
// packed (whole and deltified) and loose objects through ObjectStore and
// through go-git's own storage, and requires the same answers.
func TestObjectStoreMatchesGoGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "r.git")
	run := func(stdin io.Reader, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if _, err := os.Stat(repo); err == nil {
			cmd.Dir = repo
		}
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		cmd.Stdin = stdin
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run(nil, "init", "-q", "--bare", "-b", "main", repo)
	var s bytes.Buffer
	text := strings.Repeat("a line of text that deltas well\n", 50)
	for c := 0; c < 6; c++ {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter C <c@example.com> %d +0000\ndata 2\nc\n", 1700000000+c)
		for f := 0; f < 4; f++ {
			body := fmt.Sprintf("%s%d %d\n", text, c, f)
			fmt.Fprintf(&s, "M 100644 inline d/f%d\ndata %d\n%s\n", f, len(body), body)
		}
	}
	run(&s, "fast-import", "--quiet")
	run(nil, "repack", "-adq")
	loose := strings.TrimSpace(run(strings.NewReader("a loose blob\n"), "hash-object", "-w", "--stdin"))

	st, err := OpenObjectStore(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := Open(repo)
	if err != nil {
		t.Fatal(err)
	}
	iter, err := g.Storer.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = iter.ForEach(func(want plumbing.EncodedObject) error {
		n++
		h := want.Hash()
		got, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("%s: %w", h, err)
		}
		wr, _ := want.Reader()
		wd, _ := io.ReadAll(wr)
		gr, _ := got.Reader()
		gd, _ := io.ReadAll(gr)
		if got.Type() != want.Type() || got.Hash() != h || !bytes.Equal(gd, wd) {
			return fmt.Errorf("%s: got %s %d bytes, want %s %d bytes", h, got.Type(), len(gd), want.Type(), len(wd))
		}
		if size, err := st.EncodedObjectSize(h); err != nil || size != int64(len(wd)) {
			return fmt.Errorf("%s: size %d, %v; want %d", h, size, err, len(wd))
		}
		if _, err := st.EncodedObject(otherType(want.Type()), h); err != plumbing.ErrObjectNotFound {
			return fmt.Errorf("%s as the wrong type: %v", h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Fatalf("only %d objects compared", n)
	}
	if err := st.HasEncodedObject(plumbing.NewHash(loose)); err != nil {
		t.Fatalf("loose object: %v", err)
	}
	missing := plumbing.NewHash(strings.Repeat("0", 39) + "1")
	if _, err := st.EncodedObject(plumbing.AnyObject, missing); err != plumbing.ErrObjectNotFound {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := st.EncodedObjectSize(missing); err != plumbing.ErrObjectNotFound {
		t.Fatalf("missing object size: %v", err)
	}
	if _, err := st.SetEncodedObject(&plumbing.MemoryObject{}); err == nil {
		t.Fatal("a read-only store accepted a write")
	}
}

func otherType(t plumbing.ObjectType) plumbing.ObjectType {
	if t == plumbing.BlobObject {
		return plumbing.TreeObject
	}
	return plumbing.BlobObject
}
