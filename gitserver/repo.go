package gitserver

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Signature identifies the author of a commit the server writes itself.
type Signature struct {
	Name, Email string
	When        time.Time
}

// Branch is one refs/heads/ ref, Name without the prefix.
type Branch struct {
	Name string
	Hash plumbing.Hash
}

func isRepo(repoPath string) bool {
	if st, err := os.Stat(filepath.Join(repoPath, "objects")); err != nil || !st.IsDir() {
		return false
	}
	_, err := os.Stat(filepath.Join(repoPath, "HEAD"))
	return err == nil
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DefaultBranch is used by Init when no branch is given (SPEC: "master
// unless given").
const DefaultBranch = "master"

// Init creates a bare repository at repoPath whose HEAD names
// refs/heads/<defaultBranch> (DefaultBranch if empty). The repository is
// assembled in a sibling temporary directory and renamed into place, so a
// crash never leaves a half-made repository at repoPath.
func (s *Server) Init(ctx context.Context, repoPath, defaultBranch string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if defaultBranch == "" {
		defaultBranch = DefaultBranch
	}
	head := branchRef(defaultBranch)
	if err := checkRefName(head); err != nil {
		return err
	}
	if ents, err := os.ReadDir(repoPath); err == nil {
		if len(ents) > 0 {
			return fmt.Errorf("init %s: %w", repoPath, ErrExists)
		}
		if err := os.Remove(repoPath); err != nil {
			return fmt.Errorf("init %s: %w", repoPath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("init %s: %w", repoPath, err)
	}
	parent := filepath.Dir(filepath.Clean(repoPath))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("init %s: %w", repoPath, err)
	}
	tmp := filepath.Join(parent, ".init-"+filepath.Base(repoPath)+"-"+randomSuffix())
	defer os.RemoveAll(tmp)
	for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags", "info"} {
		if err := os.MkdirAll(filepath.Join(tmp, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("init %s: %w", repoPath, err)
		}
	}
	files := map[string]string{
		"HEAD":        "ref: " + head + "\n",
		"config":      "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n",
		"description": "Unnamed repository; edit this file 'description' to name the repository.\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("init %s: %w", repoPath, err)
		}
	}
	if err := os.Rename(tmp, repoPath); err != nil {
		return fmt.Errorf("init %s: %w", repoPath, err)
	}
	syncDir(parent)
	return nil
}

// InitialCommit writes a root commit holding README.md and creates
// refs/heads/<branch> on it (the branch HEAD names if branch is empty);
// ErrRefConflict if the branch already exists.
func (s *Server) InitialCommit(ctx context.Context, repoPath, branch, readme string, author Signature) (plumbing.Hash, error) {
	if !isRepo(repoPath) {
		return plumbing.ZeroHash, fmt.Errorf("initial commit %s: %w", repoPath, ErrNotFound)
	}
	name := branchRef(branch)
	if branch == "" {
		head, err := readHEAD(repoPath)
		if err != nil || !strings.HasPrefix(head, "refs/heads/") {
			return plumbing.ZeroHash, fmt.Errorf("initial commit: HEAD names no branch: %w", ErrInvalidName)
		}
		name = head
	}
	if err := checkRefName(name); err != nil {
		return plumbing.ZeroHash, err
	}
	objDir := filepath.Join(repoPath, "objects")
	blob, err := writeLooseObject(objDir, objBlob, []byte(readme))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var tree bytes.Buffer
	tree.WriteString("100644 README.md\x00")
	tree.Write(blob[:])
	treeHash, err := writeLooseObject(objDir, objTree, tree.Bytes())
	if err != nil {
		return plumbing.ZeroHash, err
	}
	when := author.When
	if when.IsZero() {
		when = time.Now()
	}
	sig := fmt.Sprintf("%s <%s> %d %s", sanitizeIdent(author.Name), sanitizeIdent(author.Email), when.Unix(), when.Format("-0700"))
	commit := fmt.Sprintf("tree %s\nauthor %s\ncommitter %s\n\nInitial commit\n", treeHash, sig, sig)
	commitHash, err := writeLooseObject(objDir, objCommit, []byte(commit))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := s.UpdateRef(ctx, repoPath, name, plumbing.ZeroHash, commitHash); err != nil {
		return plumbing.ZeroHash, err
	}
	return commitHash, nil
}

// sanitizeIdent drops the characters that would break a commit's author
// line, as git does.
func sanitizeIdent(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '\n', '\r', 0:
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// writeLooseObject stores an object as a loose file (temp, sync, rename).
func writeLooseObject(objDir string, typ plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	hasher := plumbing.NewHasher(typ, int64(len(data)))
	hasher.Write(data)
	h := hasher.Sum()
	hexh := h.String()
	dir := filepath.Join(objDir, hexh[:2])
	final := filepath.Join(dir, hexh[2:])
	if _, err := os.Stat(final); err == nil {
		return h, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return h, fmt.Errorf("write object: %w", err)
	}
	f, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return h, fmt.Errorf("write object: %w", err)
	}
	defer os.Remove(f.Name())
	zw := zlib.NewWriter(f)
	fmt.Fprintf(zw, "%s %d\x00", typ, len(data))
	zw.Write(data)
	if err := zw.Close(); err != nil {
		f.Close()
		return h, fmt.Errorf("write object: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return h, fmt.Errorf("write object: %w", err)
	}
	if err := f.Close(); err != nil {
		return h, fmt.Errorf("write object: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o444); err != nil {
		return h, fmt.Errorf("write object: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return h, fmt.Errorf("write object: %w", err)
	}
	syncDir(dir)
	return h, nil
}

// Branches lists refs/heads/, sorted by name.
func (s *Server) Branches(ctx context.Context, repoPath string) ([]Branch, error) {
	if !isRepo(repoPath) {
		return nil, fmt.Errorf("branches %s: %w", repoPath, ErrNotFound)
	}
	refs, _, err := listRefs(repoPath, "refs/heads/")
	if err != nil {
		return nil, err
	}
	var out []Branch
	for _, r := range refs {
		out = append(out, Branch{strings.TrimPrefix(r.name, "refs/heads/"), r.hash})
	}
	return out, nil
}

// ResolveRef resolves a revision the way a forge user writes one: a full
// hash, HEAD, a full ref name, a branch, a tag, or an abbreviated hash of
// at least 4 hex digits, in that order of precedence. Tags are peeled, so
// the result is the commit (or tree/blob) the name finally points to.
func (s *Server) ResolveRef(ctx context.Context, repoPath, name string) (plumbing.Hash, error) {
	if !isRepo(repoPath) {
		return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", name, ErrNotFound)
	}
	// Refs are read before the packs are listed: objects are installed
	// before the refs that point to them, so this order never misses one.
	lower := strings.ToLower(name)
	var candidates []string
	switch {
	case len(lower) == 40 && isHex(lower):
	case name == "HEAD":
		candidates = []string{"HEAD"}
	case strings.HasPrefix(name, "refs/"):
		candidates = []string{name}
	default:
		candidates = []string{"refs/heads/" + name, "refs/tags/" + name}
	}
	var found plumbing.Hash
	for _, c := range candidates {
		if c != "HEAD" && checkRefName(c) != nil {
			continue
		}
		// packed-refs is read after the loose file (nil), so a ref being
		// packed is found in one or the other.
		h, ok, err := readRef(repoPath, c, nil)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if ok {
			found = h
			break
		}
	}

	db, err := openODB(repoPath)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer db.close()
	w := newWalker(ctx, db)
	peel := func(h plumbing.Hash) (plumbing.Hash, error) {
		target, _, err := w.peel(h, nil)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", name, err)
		}
		return target, nil
	}
	if !found.IsZero() {
		return peel(found)
	}
	if h, ok := parseHash(lower); ok && db.has(h) {
		return peel(h)
	}
	if len(lower) >= 4 && len(lower) < 40 && isHex(lower) {
		matches, err := db.lookupPrefix(lower)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch len(matches) {
		case 0:
		case 1:
			return peel(matches[0])
		default:
			return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", name, ErrAmbiguous)
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", name, ErrNotFound)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// UpdateRef moves a ref by compare-and-swap under the repository lock.
// name is a full ref name or a branch name. A zero old means the ref must
// not exist; a zero new deletes it. ErrRefConflict when the current value
// differs from old; ErrNotFound when new is not in the repository.
func (s *Server) UpdateRef(ctx context.Context, repoPath, name string, old, new plumbing.Hash) error {
	if !strings.HasPrefix(name, "refs/") {
		name = branchRef(name)
	}
	if err := checkRefName(name); err != nil {
		return err
	}
	if !isRepo(repoPath) {
		return fmt.Errorf("update %s: %w", name, ErrNotFound)
	}
	if !new.IsZero() {
		db, err := openODB(repoPath)
		if err != nil {
			return err
		}
		typ, err := db.typeOf(new)
		db.close()
		if err != nil {
			return fmt.Errorf("update %s: object %s: %w", name, new, ErrNotFound)
		}
		if strings.HasPrefix(name, "refs/heads/") && typ != objCommit {
			return fmt.Errorf("update %s: %s is a %s, not a commit: %w", name, new, typ, ErrInvalidName)
		}
	}
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return err
	}
	defer unlock()
	return s.casRef(repoPath, name, old, new)
}

// casRef applies one compare-and-swap; the caller holds the lock.
func (s *Server) casRef(repoPath, name string, old, new plumbing.Hash) error {
	packed, err := readPackedRefs(repoPath)
	if err != nil {
		return err
	}
	cur, exists, err := readRef(repoPath, name, packed)
	if err != nil {
		return err
	}
	if !exists {
		cur = plumbing.ZeroHash
	}
	if cur != old {
		return fmt.Errorf("update %s: is at %s but expected %s: %w", name, cur, old, ErrRefConflict)
	}
	if new.IsZero() {
		if !exists {
			return nil
		}
		return deleteRef(repoPath, name)
	}
	if !exists {
		// Only a new name can collide with a ref hierarchy, and only
		// that check needs every ref.
		refs, _, err := listRefs(repoPath, "")
		if err != nil {
			return err
		}
		if other := newRefNames(refs, nil).conflict(name); other != "" {
			return fmt.Errorf("update %s: conflicts with %s: %w", name, other, ErrRefConflict)
		}
	}
	return writeRef(repoPath, name, new)
}

// SetHEAD points HEAD at a branch (which need not exist yet, as in an empty
// repository).
func (s *Server) SetHEAD(ctx context.Context, repoPath, branch string) error {
	name := branchRef(branch)
	if err := checkRefName(name); err != nil {
		return err
	}
	if !isRepo(repoPath) {
		return fmt.Errorf("set HEAD: %w", ErrNotFound)
	}
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return err
	}
	defer unlock()
	return writeFileLocked(filepath.Join(repoPath, "HEAD"), []byte("ref: "+name+"\n"))
}

// Size is the repository's footprint on disk in bytes.
func (s *Server) Size(ctx context.Context, repoPath string) (int64, error) {
	if !isRepo(repoPath) {
		return 0, fmt.Errorf("size %s: %w", repoPath, ErrNotFound)
	}
	return dirSize(repoPath)
}

func dirSize(root string) (int64, error) {
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a finished quarantine)
			}
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "incoming-") {
			return filepath.SkipDir // pushes in flight are not part of the repository yet
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", root, err)
	}
	return total, nil
}

// HEAD returns the branch HEAD points to ("main"), or "" when HEAD is
// detached or missing.
func (s *Server) HEAD(ctx context.Context, repoPath string) (string, error) {
	ref, err := readHEAD(repoPath)
	if err != nil {
		return "", err
	}
	branch, _ := strings.CutPrefix(ref, "refs/heads/")
	return branch, nil
}
