package gitserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
)

// ref is one resolved ref as read from disk.
type ref struct {
	name string
	hash plumbing.Hash
}

const maxSymrefDepth = 5

// checkRefName applies git's check-ref-format rules to a full ref name and
// requires the refs/ prefix, so a name can never escape the refs directory
// or collide with git's own files.
func checkRefName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why) }
	if !strings.HasPrefix(name, "refs/") || len(name) == len("refs/") {
		return bad("must start with refs/")
	}
	if name == "@" || strings.Contains(name, "@{") {
		return bad("contains @{")
	}
	if strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") {
		return bad("ends with / or .")
	}
	if strings.Contains(name, "..") || strings.Contains(name, "//") {
		return bad("contains .. or //")
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return bad("contains a forbidden character")
		}
	}
	for _, comp := range strings.Split(name, "/") {
		if comp == "" || comp[0] == '.' || strings.HasSuffix(comp, ".lock") {
			return bad("has an empty, dot-leading or .lock component")
		}
	}
	return nil
}

// branchRef turns "main" or "refs/heads/main" into "refs/heads/main".
func branchRef(branch string) string {
	if strings.HasPrefix(branch, "refs/heads/") {
		return branch
	}
	return "refs/heads/" + branch
}

func refPath(repoPath, name string) string {
	return filepath.Join(repoPath, filepath.FromSlash(name))
}

// packedRefs holds the parsed packed-refs file. Peeled values are kept so
// the advertisement can skip reading tag objects when git already peeled.
type packedRefs struct {
	refs   map[string]plumbing.Hash
	peeled map[string]plumbing.Hash
	// The header's promises about peeling: fullyPeeled, every ref whose
	// value is a tag has a ^ line; peeledTags, the same for refs/tags/.
	fullyPeeled, peeledTags bool
}

func readPackedRefs(repoPath string) (*packedRefs, error) {
	pr := &packedRefs{refs: map[string]plumbing.Hash{}, peeled: map[string]plumbing.Hash{}}
	data, err := os.ReadFile(filepath.Join(repoPath, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		// No file promises nothing wrongly: every (zero) entry is peeled.
		pr.fullyPeeled, pr.peeledTags = true, true
		return pr, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read packed-refs: %w", err)
	}
	last := ""
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
		case line[0] == '#':
			if traits, ok := strings.CutPrefix(line, "# pack-refs with:"); ok {
				for _, t := range strings.Fields(traits) {
					switch t {
					case "fully-peeled":
						pr.fullyPeeled = true
					case "peeled":
						pr.peeledTags = true
					}
				}
			}
		case line[0] == '^':
			if h, ok := parseHash(line[1:]); ok && last != "" {
				pr.peeled[last] = h
			}
		default:
			hex, name, ok := strings.Cut(line, " ")
			h, okh := parseHash(hex)
			if !ok || !okh {
				continue
			}
			pr.refs[name] = h
			last = name
		}
	}
	return pr, nil
}

// peeledValue says what the packed ref name peels to when the file tells:
// by a ^ line (a tag), or by the absence of one under a header promising
// a line for every tag. known is false when h is not the packed value (a
// loose file overrides it) or the file promises nothing for name.
func (p *packedRefs) peeledValue(name string, h plumbing.Hash) (target plumbing.Hash, isTag, known bool) {
	if v, ok := p.refs[name]; !ok || v != h {
		return plumbing.ZeroHash, false, false
	}
	if t, ok := p.peeled[name]; ok {
		return t, true, true
	}
	known = p.fullyPeeled || p.peeledTags && strings.HasPrefix(name, "refs/tags/")
	return plumbing.ZeroHash, false, known
}

// parseHash accepts a full object name in lowercase hex, as git writes it.
func parseHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 || !isHex(s) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

// readLoose reads one loose ref file: a hash, or "ref: <target>".
func readLoose(repoPath, name string) (h plumbing.Hash, symref string, exists bool, err error) {
	data, err := os.ReadFile(refPath(repoPath, name))
	if err != nil {
		// A path through a file (refs/heads/a/b when refs/heads/a is a
		// ref), onto a directory, or too long for the file system is simply
		// not a ref.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENAMETOOLONG) || isDirErr(err) {
			return plumbing.ZeroHash, "", false, nil
		}
		return plumbing.ZeroHash, "", false, fmt.Errorf("read ref %s: %w", name, err)
	}
	s := strings.TrimSpace(string(data))
	if target, ok := strings.CutPrefix(s, "ref:"); ok {
		return plumbing.ZeroHash, strings.TrimSpace(target), true, nil
	}
	h, ok := parseHash(s)
	if !ok {
		return plumbing.ZeroHash, "", false, fmt.Errorf("ref %s: malformed content", name)
	}
	return h, "", true, nil
}

func isDirErr(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if info, serr := os.Stat(pe.Path); serr == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// readRef returns the value of a ref, following symbolic refs. A missing
// ref is reported with ok=false and no error. packed may be nil, and must
// be unless it was read under the repository lock: the loose file has to
// be read before packed-refs (see listRefs).
func readRef(repoPath, name string, packed *packedRefs) (plumbing.Hash, bool, error) {
	for depth := 0; depth < maxSymrefDepth; depth++ {
		h, sym, exists, err := readLoose(repoPath, name)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if exists && sym == "" {
			return h, true, nil
		}
		if exists {
			name = sym
			continue
		}
		if packed == nil {
			if packed, err = readPackedRefs(repoPath); err != nil {
				return plumbing.ZeroHash, false, err
			}
		}
		h, ok := packed.refs[name]
		return h, ok, nil
	}
	return plumbing.ZeroHash, false, fmt.Errorf("ref %s: symbolic ref loop", name)
}

// readHEAD returns the ref HEAD points to ("refs/heads/main"), or "" when
// HEAD is detached or missing.
func readHEAD(repoPath string) (string, error) {
	_, sym, exists, err := readLoose(repoPath, "HEAD")
	if err != nil || !exists {
		return "", err
	}
	return sym, nil
}

// listRefs returns the refs whose name starts with prefix: "" for every
// ref, or a directory such as "refs/heads/", of which only that part of
// refs/ is read. Loose values override packed ones; the list is sorted by
// name. Symbolic refs are resolved; dangling ones skipped.
//
// Loose refs are read before packed-refs, as git does: writers put a
// value into packed-refs before removing its loose file (packRefs, batch
// updates, deleteRef), so a ref missed among the loose files is found in
// the packed-refs read afterwards, never lost in between.
func listRefs(repoPath, prefix string) ([]ref, *packedRefs, error) {
	return listRefsUnder(repoPath, []string{prefix})
}

// listRefsUnder is listRefs for the refs matching any of prefixes, which
// may end anywhere ("refs/heads/ma"): only the directories that can hold
// a match are read, so asking for the branches of a repository with
// thousands of tags does not read the tags. Loose refs are read first,
// then packed-refs (see listRefs).
func listRefsUnder(repoPath string, prefixes []string) ([]ref, *packedRefs, error) {
	matches := func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	type looseRef struct {
		hash   plumbing.Hash
		symref string
	}
	loose := map[string]looseRef{}
	for _, dir := range refDirs(prefixes) {
		root := filepath.Join(repoPath, "refs")
		if dir != "refs/" {
			root = refPath(repoPath, strings.TrimSuffix(dir, "/"))
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking (an emptied directory)
				}
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".lock") {
				return nil
			}
			rel, err := filepath.Rel(repoPath, p)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			if !matches(name) {
				return nil
			}
			h, sym, exists, err := readLoose(repoPath, name)
			if err != nil || !exists {
				// A ref being renamed into place or a stray file must not
				// break every fetch; skip what cannot be read.
				return nil
			}
			loose[name] = looseRef{h, sym}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list refs: %w", err)
		}
	}
	packed, err := readPackedRefs(repoPath)
	if err != nil {
		return nil, nil, err
	}
	all := make(map[string]plumbing.Hash, len(packed.refs)+len(loose))
	for name, h := range packed.refs {
		if matches(name) {
			all[name] = h
		}
	}
	for name, l := range loose {
		h := l.hash
		if l.symref != "" {
			// nil: the target's loose file is read now, so packed-refs
			// must be read after it, not reused from before.
			var ok bool
			h, ok, err = readRef(repoPath, l.symref, nil)
			if err != nil || !ok {
				continue
			}
		}
		all[name] = h
	}
	refs := make([]ref, 0, len(all))
	for name, h := range all {
		refs = append(refs, ref{name, h})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].name < refs[j].name })
	return refs, packed, nil
}

// refDirs returns the directories below refs/ ("refs/", "refs/heads/")
// that can hold loose refs matching prefixes, none inside another. A
// prefix that names no valid directory (outside refs/, or with ".."
// in it) needs none: no ref can live there.
func refDirs(prefixes []string) []string {
	var dirs []string
	for _, p := range prefixes {
		if !strings.HasPrefix(p, "refs/") {
			if strings.HasPrefix("refs/", p) {
				dirs = append(dirs, "refs/") // "", "r", "refs"
			}
			continue
		}
		dir := p[:strings.LastIndexByte(p, '/')+1]
		if dir != "refs/" && checkRefName(strings.TrimSuffix(dir, "/")) != nil {
			continue
		}
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	var out []string
	for _, d := range dirs {
		if n := len(out); n > 0 && strings.HasPrefix(d, out[n-1]) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// refNames answers whether a new ref name can live beside the existing
// ones: git stores refs as files, so refs/heads/a and refs/heads/a/b
// exclude each other, in packed-refs as well.
type refNames struct {
	sorted []string
	set    map[string]bool
}

// newRefNames indexes refs (sorted by name, as listRefs returns them),
// leaving out those for which skip is true.
func newRefNames(refs []ref, skip func(name string) bool) *refNames {
	n := &refNames{sorted: make([]string, 0, len(refs)), set: make(map[string]bool, len(refs))}
	for _, r := range refs {
		if skip == nil || !skip(r.name) {
			n.sorted = append(n.sorted, r.name)
			n.set[r.name] = true
		}
	}
	return n
}

// conflict returns an existing ref that makes name impossible to create:
// one named like a parent directory of name, or one living below it.
func (n *refNames) conflict(name string) string {
	for i := len("refs/"); i < len(name); i++ {
		if name[i] == '/' && n.set[name[:i]] {
			return name[:i]
		}
	}
	below := name + "/"
	i := sort.SearchStrings(n.sorted, below)
	if i < len(n.sorted) && strings.HasPrefix(n.sorted[i], below) {
		return n.sorted[i]
	}
	return ""
}

// add records a ref about to be created, so that later names are checked
// against it too.
func (n *refNames) add(name string) {
	if n.set[name] {
		return
	}
	i := sort.SearchStrings(n.sorted, name)
	n.sorted = slices.Insert(n.sorted, i, name)
	n.set[name] = true
}

// writeRef points name at h crash-safely: the new value goes to
// <ref>.lock, is synced, and renamed over the ref, so a reader (or a crash)
// sees either the old or the new value, never a torn file.
func writeRef(repoPath, name string, h plumbing.Hash) error {
	return writeFileLocked(refPath(repoPath, name), []byte(h.String()+"\n"))
}

// writeFileLocked replaces path with data through path.lock. Callers hold
// the repository lock, so an existing .lock file can only be left over
// from a crashed writer and is removed.
func writeFileLocked(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		// Left behind by deleted refs below it; git refuses too when the
		// directory is not empty, and Remove fails in that case.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("%s is a directory: %w", path, ErrRefConflict)
		}
	}
	lock := path + ".lock"
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		_ = os.Remove(lock)
		f, err = os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(lock)
		return fmt.Errorf("write %s: %w", lock, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(lock)
		return fmt.Errorf("sync %s: %w", lock, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(lock)
		return fmt.Errorf("close %s: %w", lock, err)
	}
	if err := os.Rename(lock, path); err != nil {
		os.Remove(lock)
		return fmt.Errorf("rename %s: %w", lock, err)
	}
	syncDir(dir)
	return nil
}

// deleteRef removes name from packed-refs (rewritten through a lock file)
// and then removes the loose file. In that order a concurrent reader never
// sees an older packed value resurface.
func deleteRef(repoPath, name string) error {
	packed, err := readPackedRefs(repoPath)
	if err != nil {
		return err
	}
	if _, ok := packed.refs[name]; ok {
		if err := rewritePackedRefsWithout(repoPath, name); err != nil {
			return err
		}
	}
	p := refPath(repoPath, name)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete ref %s: %w", name, err)
	}
	syncDir(filepath.Dir(p))
	pruneRefDirs(repoPath, name)
	return nil
}

func rewritePackedRefsWithout(repoPath, name string) error {
	path := filepath.Join(repoPath, "packed-refs")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read packed-refs: %w", err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	skipping := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "^") {
			if !skipping {
				out.WriteString(line + "\n")
			}
			continue
		}
		skipping = false
		if _, n, ok := strings.Cut(line, " "); ok && n == name && !strings.HasPrefix(line, "#") {
			skipping = true
			continue
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("parse packed-refs: %w", err)
	}
	return writeFileLocked(path, out.Bytes())
}

// syncDir makes a rename durable. Errors are ignored: some platforms cannot
// open or sync directories, and the rename itself already happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
