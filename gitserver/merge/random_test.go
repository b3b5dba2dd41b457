package merge

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

func storeObject(t *testing.T, s storer.EncodedObjectStorer, enc func(plumbing.EncodedObject) error) plumbing.Hash {
	t.Helper()
	o := s.NewEncodedObject()
	if err := enc(o); err != nil {
		t.Fatal(err)
	}
	h, err := s.SetEncodedObject(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// commitText stores a one-file commit directly, which is much faster than
// driving the git client for hundreds of random rounds.
func commitText(t *testing.T, s storer.EncodedObjectStorer, text string, parents ...plumbing.Hash) plumbing.Hash {
	blob := storeObject(t, s, func(o plumbing.EncodedObject) error {
		o.SetType(plumbing.BlobObject)
		w, err := o.Writer()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return err
		}
		return w.Close()
	})
	tree := storeObject(t, s, (&object.Tree{Entries: []object.TreeEntry{{Name: "f", Mode: filemode.Regular, Hash: blob}}}).Encode)
	sig := object.Signature{Name: "R", Email: "r@example.com", When: time.Unix(1700000000, 0).UTC()}
	return storeObject(t, s, (&object.Commit{Author: sig, Committer: sig, Message: "m\n", TreeHash: tree, ParentHashes: parents}).Encode)
}

func mutateLines(r *rand.Rand, in []string, words []string, edits int) []string {
	out := append([]string(nil), in...)
	for e := 0; e < edits; e++ {
		pos := r.Intn(len(out) + 1)
		switch r.Intn(4) {
		case 0:
			n := 1 + r.Intn(3)
			ins := make([]string, n)
			for i := range ins {
				ins[i] = words[r.Intn(len(words))]
			}
			out = append(out[:pos], append(ins, out[pos:]...)...)
		case 1:
			if pos < len(out) {
				n := min(1+r.Intn(2), len(out)-pos)
				out = append(out[:pos], out[pos+n:]...)
			}
		default:
			if pos < len(out) {
				out[pos] = words[r.Intn(len(words))]
			}
		}
	}
	return out
}

func render(ls []string, nl bool) string {
	s := strings.Join(ls, "\n")
	if nl && len(ls) > 0 {
		s += "\n"
	}
	return s
}

// TestRandomMergesMatchGit checks the line merge against git merge-tree on
// random edits of repetitive text, where the diff algorithm's choices show:
// clean results must be byte-identical and conflicts must agree.
func TestRandomMergesMatchGit(t *testing.T) {
	t.Parallel()
	for _, cfg := range []struct {
		name                string
		words, lines, edits int
		rounds              int
	}{
		{"repetitive", 4, 30, 3, 120},
		{"sparse-edits", 50, 200, 4, 80},
		{"many-edits", 300, 3000, 15, 30},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			r := newGitRepo(t)
			s := r.storage()
			rnd := rand.New(rand.NewSource(int64(cfg.words*1000 + cfg.lines)))
			words := make([]string, cfg.words)
			for i := range words {
				words[i] = fmt.Sprintf("w%d", i)
			}
			var clean, conflicted int
			for round := 0; round < cfg.rounds; round++ {
				base := mutateLines(rnd, nil, words, cfg.lines)
				bnl := rnd.Intn(3) > 0
				baseText := render(base, bnl)
				oursText := render(mutateLines(rnd, base, words, cfg.edits), rnd.Intn(3) > 0 || bnl)
				theirsText := render(mutateLines(rnd, base, words, cfg.edits), rnd.Intn(3) > 0 || bnl)
				bc := commitText(t, s, baseText)
				oc := commitText(t, s, oursText, bc)
				tc := commitText(t, s, theirsText, bc)

				out, code := r.run(nil, "merge-tree", "--write-tree", oc.String(), tc.String())
				if code > 1 {
					t.Fatalf("git merge-tree exit %d: %s", code, out)
				}
				ctx := context.Background()
				ok, err := Mergeable(ctx, s, oc, tc)
				if err != nil {
					t.Fatal(err)
				}
				if ok != (code == 0) {
					t.Fatalf("round %d: mergeable=%v, git exit %d\nbase %q\nours %q\ntheirs %q", round, ok, code, baseText, oursText, theirsText)
				}
				if !ok {
					conflicted++
					continue
				}
				clean++
				sq, err := Squash(ctx, s, oc, tc, Signature{Name: "a", Email: "a@x"}, Signature{Name: "a", Email: "a@x"}, "s")
				if err != nil {
					t.Fatal(err)
				}
				c, err := object.GetCommit(s, sq)
				if err != nil {
					t.Fatal(err)
				}
				want := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
				if c.TreeHash.String() != want {
					t.Fatalf("round %d: tree %s, git %s\nbase %q\nours %q\ntheirs %q\ngit result %q", round, c.TreeHash, want,
						baseText, oursText, theirsText, r.git("cat-file", "-p", want+":f"))
				}
			}
			t.Logf("%d clean, %d conflicted merges agree with git", clean, conflicted)
			if clean == 0 || conflicted == 0 {
				t.Fatalf("random cases exercise only one outcome (%d clean, %d conflicted)", clean, conflicted)
			}
		})
	}
}
