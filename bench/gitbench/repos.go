package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchRepo is one input repository made ready for both servers, with
// the client repositories the operations start from. Everything here is
// built once (and kept across bench runs with -cache); each measured run
// works on hard-linked copies, so packs are shared and refs are not.
type benchRepo struct {
	Label  string `json:"label"`
	Dir    string `json:"dir"`
	Branch string `json:"branch"` // the default branch, short name
	// Served copies: C git's after `git gc` (one pack, bitmap,
	// commit-graph), Tapioca's the same pack after Tapioca's own
	// maintenance instead of C git's index files; the 5k variants have
	// refs added up to at least 5,000.
	Cgit, Tap, Cgit5k, Tap5k string
	Refs, Refs5k             int
	// Client templates.
	ClientFull   string // a clone of the served repository, no checkout
	ClientBehind string // the default branch 50 commits behind, objects too
	ClientPush50 string // ClientFull plus 50 commits on bench-push
	ClientPush1k string // ClientFull plus 1,000 branches bench-new/NNNN
	FetchCount   int    // commits the fetch of ClientBehind brings
	Objects      int    // objects in the served pack
	PackBytes    int64
	Commits      int
}

const refsTarget = 5000

// prepareRepo builds (or finds in dir, from an earlier run) the served
// copies and client templates of the bare repository src.
func prepareRepo(label, src, dir string) (*benchRepo, error) {
	metaPath := filepath.Join(dir, "bench.json")
	if data, err := os.ReadFile(metaPath); err == nil {
		var r benchRepo
		if err := json.Unmarshal(data, &r); err == nil {
			fmt.Printf("%s: reusing prepared repositories in %s\n", label, dir)
			return &r, nil
		}
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &benchRepo{Label: label, Dir: dir}
	srcGit := src
	if st, err := os.Stat(filepath.Join(src, ".git")); err == nil && st.IsDir() {
		srcGit = filepath.Join(src, ".git")
	}
	head, err := gitOut(srcGit, "symbolic-ref", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("%s: HEAD: %w", src, err)
	}
	r.Branch = strings.TrimPrefix(strings.TrimSpace(head), "refs/heads/")

	// A bare clone's content (branches and tags) over the source's
	// objects, then `git gc`: one pack of the reachable objects, with
	// C git's bitmap and commit-graph.
	step := stepper(label)
	step("copying %s (branches and tags) and running git gc", src)
	r.Cgit = filepath.Join(dir, "cgit", "repo.git")
	if err := git(dir, "init", "-q", "--bare", r.Cgit); err != nil {
		return nil, err
	}
	if err := linkObjects(filepath.Join(srcGit, "objects"), filepath.Join(r.Cgit, "objects")); err != nil {
		return nil, err
	}
	refs, err := gitOut(srcGit, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.Cgit, "packed-refs"), []byte(refs), 0o644); err != nil {
		return nil, err
	}
	if err := git(r.Cgit, "symbolic-ref", "HEAD", "refs/heads/"+r.Branch); err != nil {
		return nil, err
	}
	if err := git(r.Cgit, "-c", "gc.pruneExpire=now", "-c", "repack.writeBitmaps=true", "gc", "--quiet"); err != nil {
		return nil, err
	}
	packs, _ := filepath.Glob(filepath.Join(r.Cgit, "objects", "pack", "*.bitmap"))
	if len(packs) != 1 {
		return nil, fmt.Errorf("%s: git gc left %d bitmaps, want 1", r.Cgit, len(packs))
	}
	r.Refs = strings.Count(refs, "\n")
	if out, err := gitOut(r.Cgit, "count-objects", "-v"); err == nil {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "in-pack: "); ok {
				r.Objects, _ = strconv.Atoi(v)
			}
			if v, ok := strings.CutPrefix(l, "size-pack: "); ok {
				kb, _ := strconv.ParseInt(v, 10, 64)
				r.PackBytes = kb * 1024
			}
		}
	}
	if out, err := gitOut(r.Cgit, "rev-list", "--all", "--count"); err == nil {
		r.Commits, _ = strconv.Atoi(strings.TrimSpace(out))
	}

	step("Tapioca's copy: the same pack, then Tapioca's maintenance")
	r.Tap = filepath.Join(dir, "tapioca", "repo.git")
	if err := linkTree(r.Cgit, r.Tap, func(rel string) bool {
		base := filepath.Base(rel)
		return strings.HasSuffix(base, ".bitmap") || strings.HasSuffix(base, ".rev") ||
			base == "commit-graph" || strings.Contains(rel, "commit-graphs")
	}); err != nil {
		return nil, err
	}
	if err := runSelf("maintain", r.Tap); err != nil {
		return nil, err
	}

	step("5,000-ref variants")
	r.Cgit5k = filepath.Join(dir, "cgit", "repo5k.git")
	r.Tap5k = filepath.Join(dir, "tapioca", "repo5k.git")
	if err := linkTree(r.Cgit, r.Cgit5k, nil); err != nil {
		return nil, err
	}
	if err := linkTree(r.Tap, r.Tap5k, nil); err != nil {
		return nil, err
	}
	r.Refs5k = r.Refs
	if r.Refs < refsTarget {
		if err := addRefs(r.Cgit5k, r.Branch, "refs/heads/bench-ls/", refsTarget-r.Refs); err != nil {
			return nil, err
		}
		if err := git(r.Cgit5k, "pack-refs", "--all"); err != nil {
			return nil, err
		}
		r.Refs5k = refsTarget
		if err := copyFile(filepath.Join(r.Cgit5k, "packed-refs"), filepath.Join(r.Tap5k, "packed-refs")); err != nil {
			return nil, err
		}
	}

	step("client repositories")
	if err := r.makeClients(); err != nil {
		return nil, err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(metaPath, data, 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

func stepper(label string) func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		fmt.Printf("%s [%s]: %s\n", label, time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
	}
}

// makeClients builds the client templates against C git's copy (the
// refs are the same on both sides).
func (r *benchRepo) makeClients() error {
	// A clone without checkout, made by hand from the served pack: a
	// real clone of git/git would cost minutes for the same result.
	r.ClientFull = filepath.Join(r.Dir, "client-full")
	if err := git(r.Dir, "init", "-q", "-b", r.Branch, r.ClientFull); err != nil {
		return err
	}
	gitDir := filepath.Join(r.ClientFull, ".git")
	if err := linkObjects(filepath.Join(r.Cgit, "objects"), filepath.Join(gitDir, "objects")); err != nil {
		return err
	}
	refs, err := gitOut(r.Cgit, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return err
	}
	var upd strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(refs), "\n") {
		h, name, _ := strings.Cut(l, " ")
		switch {
		case strings.HasPrefix(name, "refs/heads/"):
			fmt.Fprintf(&upd, "create refs/remotes/origin/%s %s\n", strings.TrimPrefix(name, "refs/heads/"), h)
			if name == "refs/heads/"+r.Branch {
				fmt.Fprintf(&upd, "create %s %s\n", name, h)
			}
		case strings.HasPrefix(name, "refs/tags/"):
			fmt.Fprintf(&upd, "create %s %s\n", name, h)
		}
	}
	if err := gitIn(r.ClientFull, upd.String(), "update-ref", "--stdin"); err != nil {
		return err
	}
	if err := git(r.ClientFull, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/"+r.Branch); err != nil {
		return err
	}
	if err := git(r.ClientFull, "pack-refs", "--all"); err != nil {
		return err
	}
	if err := r.clientConfig(r.ClientFull); err != nil {
		return err
	}

	// 50 commits behind: the first first-parent ancestor from which the
	// default branch is at least 50 commits ahead, fetched (objects and
	// all) into an empty repository, so the fetch must bring them.
	base := ""
	for k := 1; ; k++ {
		b, err := gitOut(r.Cgit, "rev-parse", "--verify", "-q", fmt.Sprintf("%s~%d", r.Branch, k))
		if err != nil {
			break // a short history: fetch it all from the root
		}
		base = strings.TrimSpace(b)
		n, err := gitOut(r.Cgit, "rev-list", "--count", base+".."+r.Branch)
		if err != nil {
			return err
		}
		if r.FetchCount, _ = strconv.Atoi(strings.TrimSpace(n)); r.FetchCount >= 50 {
			break
		}
	}
	r.ClientBehind = filepath.Join(r.Dir, "client-behind")
	if err := git(r.Dir, "init", "-q", "-b", r.Branch, r.ClientBehind); err != nil {
		return err
	}
	if err := git(r.ClientBehind, "fetch", "-q", "--no-tags",
		"--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack",
		r.Cgit, base+":refs/remotes/origin/"+r.Branch); err != nil {
		return err
	}
	if err := git(r.ClientBehind, "update-ref", "refs/heads/"+r.Branch, base); err != nil {
		return err
	}
	if err := r.clientConfig(r.ClientBehind); err != nil {
		return err
	}

	// 50 new commits on a new branch, each adding a file.
	r.ClientPush50 = filepath.Join(r.Dir, "client-push50")
	if err := linkTree(r.ClientFull, r.ClientPush50, nil); err != nil {
		return err
	}
	tip, err := gitOut(r.Cgit, "rev-parse", r.Branch)
	if err != nil {
		return err
	}
	var fi bytes.Buffer
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&fi, "commit refs/heads/bench-push\ncommitter Bench <bench@example.com> %d +0000\n", when+int64(i)*60)
		msg := fmt.Sprintf("bench push commit %d", i)
		fmt.Fprintf(&fi, "data %d\n%s\n", len(msg), msg)
		if i == 0 {
			fmt.Fprintf(&fi, "from %s\n", strings.TrimSpace(tip))
		}
		body := strings.Repeat(fmt.Sprintf("line of bench file %d\n", i), 20)
		fmt.Fprintf(&fi, "M 100644 inline bench-push/f%02d.txt\ndata %d\n%s\n", i, len(body), body)
	}
	if err := gitIn(r.ClientPush50, fi.String(), "fast-import", "--quiet"); err != nil {
		return err
	}

	// 1,000 new branches at existing commits: a push of refs only.
	r.ClientPush1k = filepath.Join(r.Dir, "client-push1000")
	if err := linkTree(r.ClientFull, r.ClientPush1k, nil); err != nil {
		return err
	}
	return addRefs(r.ClientPush1k, r.Branch, "refs/heads/bench-new/", 1000)
}

// clientConfig makes dir a clone of origin as git clone would, with
// background maintenance off so nothing outlives a measurement.
func (r *benchRepo) clientConfig(dir string) error {
	for _, kv := range [][2]string{
		{"remote.origin.url", "http://placeholder.invalid/repo.git"},
		{"remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"},
		{"branch." + r.Branch + ".remote", "origin"},
		{"branch." + r.Branch + ".merge", "refs/heads/" + r.Branch},
		{"gc.auto", "0"},
		{"maintenance.auto", "false"},
		{"fetch.writeCommitGraph", "false"},
	} {
		if err := git(dir, "config", kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// addRefs creates n refs named prefix%05d at the newest commits of
// branch (cycling through them when the history is shorter).
func addRefs(repo, branch, prefix string, n int) error {
	out, err := gitOut(repo, "rev-list", fmt.Sprintf("--max-count=%d", n), branch)
	if err != nil {
		return err
	}
	commits := strings.Fields(out)
	if len(commits) == 0 {
		return errors.New("no commits to point refs at")
	}
	var upd strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&upd, "create %s%05d %s\n", prefix, i, commits[i%len(commits)])
	}
	return gitIn(repo, upd.String(), "update-ref", "--stdin")
}

// linkObjects hard-links the packs and loose objects of src into dst
// (object directories).
func linkObjects(src, dst string) error {
	return linkTree(src, dst, func(rel string) bool {
		base := filepath.Base(rel)
		return strings.HasSuffix(base, ".promisor") || strings.HasSuffix(base, ".keep") ||
			base == "info" || strings.HasPrefix(rel, "info"+string(filepath.Separator))
	})
}

// linkTree copies the directory src to dst: files under objects/ (never
// modified in place by git or Tapioca) as hard links, others (refs,
// config) as copies. skip leaves out paths relative to src.
func linkTree(src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		case isObjectFile(rel):
			if err := os.Link(p, target); err == nil {
				return nil
			}
			return copyFile(p, target)
		default:
			return copyFile(p, target)
		}
	})
}

func isObjectFile(rel string) bool {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, s := range parts[:len(parts)-1] {
		if s == "objects" && i+1 < len(parts) && (parts[i+1] == "pack" || len(parts[i+1]) == 2) {
			return true
		}
	}
	return parts[0] == "pack" || len(parts) == 2 && len(parts[0]) == 2
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runSelf runs this executable in another mode and waits for it.
func runSelf(args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}
