package gitserver

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// rawObject is an object built by hand, as a hostile client would.
type rawObject struct {
	typ  plumbing.ObjectType
	data []byte
}

func (o rawObject) hash() plumbing.Hash { return plumbing.ComputeHash(o.typ, o.data) }

type rawEntry struct {
	mode, name string
	hash       plumbing.Hash
}

func rawTree(ents ...rawEntry) rawObject {
	var b bytes.Buffer
	for _, e := range ents {
		fmt.Fprintf(&b, "%s %s\x00", e.mode, e.name)
		b.Write(e.hash[:])
	}
	return rawObject{objTree, b.Bytes()}
}

func rawCommit(tree plumbing.Hash, extra string) rawObject {
	return rawObject{objCommit, []byte(fmt.Sprintf("tree %s\nauthor A U Thor <a@example.com> 1700000000 +0000\ncommitter A U Thor <a@example.com> 1700000000 +0000\n%s\nmessage\n", tree, extra))}
}

func rawBlob(s string) rawObject { return rawObject{objBlob, []byte(s)} }

func packOf(objs ...rawObject) []byte {
	var buf bytes.Buffer
	b := newPackBuilder(&buf, uint32(len(objs)))
	for _, o := range objs {
		b.whole(o.typ, o.data)
	}
	b.finish()
	return buf.Bytes()
}

// TestPushRefusesObjectsGitWouldRefuse: each row pushes hand-built
// objects that git's receive.fsckObjects refuses (or that link to an
// object of the wrong type, stored or pushed). The push is refused with
// git's own message, the ref is not created, nothing is stored, and
// git's index-pack --strict, given the same pack next to the same
// repository, refuses it with the same words.
func TestPushRefusesObjectsGitWouldRefuse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("fsck")
	work := ts.workdir("fsck")
	base := plumbing.NewHash(ts.commitFile(work, "README", "hello\n", "base"))
	ts.git(work, "push", "-q", "origin", "main")
	storedBlob := plumbing.NewHash(ts.revParse(work, "HEAD:README"))
	storedTree := plumbing.NewHash(ts.revParse(work, "HEAD^{tree}"))
	// git's own verdict on each pack, from a copy of the repository.
	oracle := filepath.Join(t.TempDir(), "oracle.git")
	ts.git("", "clone", "-q", "--bare", repo, oracle)

	blob := rawBlob("content\n")
	file := func(name string) rawEntry { return rawEntry{"100644", name, blob.hash()} }
	ident := func(line string) rawObject {
		return rawObject{objCommit, []byte(fmt.Sprintf("tree %s\nauthor %s\ncommitter A <a@example.com> 1700000000 +0000\n\nx\n", storedTree, line))}
	}
	gitmodules := func(mode, content string) []rawObject {
		mods := rawBlob(content)
		tree := rawTree(rawEntry{mode, ".gitmodules", mods.hash()})
		return []rawObject{mods, tree, rawCommit(tree.hash(), "")}
	}
	withTree := func(tree rawObject, more ...rawObject) []rawObject {
		return append(append(more, tree), rawCommit(tree.hash(), ""))
	}
	tagOf := func(target plumbing.Hash, typ string) rawObject {
		return rawObject{objTag, []byte(fmt.Sprintf("object %s\ntype %s\ntag v1\ntagger A <a@example.com> 1700000000 +0000\n\ntag\n", target, typ))}
	}
	parentTree := rawTree(file("a"))
	parentIsTree := rawObject{objCommit, []byte(fmt.Sprintf("tree %s\nparent %s\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nx\n", storedTree, parentTree.hash()))}

	rows := []struct {
		name    string
		objs    []rawObject // the last is the new tip
		ref     string
		bad     int    // index of the object refused
		want    string // message after "object <sha>: "
		gitSays string // git's words when not the same (stricter checks); "" = same
	}{
		{"author line without space before date", []rawObject{ident("A <a@example.com>1700000000 +0000")}, "refs/heads/r", 0,
			"missingSpaceBeforeDate: invalid author/committer line - missing space before date", ""},
		{"author line with bad email", []rawObject{ident("A <a@example.com 1700000000 +0000")}, "refs/heads/r", 0,
			"badEmail: invalid author/committer line - bad email", ""},
		{"author line with bad time zone", []rawObject{ident("A <a@example.com> 1700000000 +00x0")}, "refs/heads/r", 0,
			"badTimezone: invalid author/committer line - bad time zone", ""},
		{"author line with bad date", []rawObject{ident("A <a@example.com> never +0000")}, "refs/heads/r", 0,
			"badDate: invalid author/committer line - bad date", ""},
		{"author line without name", []rawObject{ident("<a@example.com> 1700000000 +0000")}, "refs/heads/r", 0,
			"missingNameBeforeEmail: invalid author/committer line - missing space before email", ""},
		{"date overflow", []rawObject{ident("A <a@example.com> 99999999999999999999 +0000")}, "refs/heads/r", 0,
			"badDateOverflow: invalid author/committer line - date causes integer overflow", ""},
		{"missing committer", []rawObject{{objCommit, []byte(fmt.Sprintf("tree %s\nauthor A <a@example.com> 1700000000 +0000\n\nx\n", storedTree))}}, "refs/heads/r", 0,
			"missingCommitter: invalid format - expected 'committer' line", ""},
		{"NUL in a header", []rawObject{{objCommit, []byte(fmt.Sprintf("tree %s\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a\x00@example.com> 1700000000 +0000\n\nx\n", storedTree))}}, "refs/heads/r", 0,
			"nulInHeader: unterminated header: NUL at offset 102", ""},
		{"tree entry .git", withTree(rawTree(file(".git")), blob), "refs/heads/r", 1,
			"hasDotgit: contains '.git'", ""},
		{"tree entry .GIT (case-folding file systems)", withTree(rawTree(file(".GIT")), blob), "refs/heads/r", 1,
			"hasDotgit: contains '.git'", ""},
		{"tree entry git~1 (NTFS short name)", withTree(rawTree(file("git~1")), blob), "refs/heads/r", 1,
			"hasDotgit: contains '.git'", ""},
		{"tree entry ..", withTree(rawTree(file("..")), blob), "refs/heads/r", 1,
			"hasDotdot: contains '..'", ""},
		{"tree entry .", withTree(rawTree(file(".")), blob), "refs/heads/r", 1,
			"hasDot: contains '.'", ""},
		{"tree entry a/b", withTree(rawTree(file("a/b")), blob), "refs/heads/r", 1,
			"fullPathname: contains full pathnames", ""},
		{"duplicate entries", withTree(rawTree(file("a"), file("a")), blob), "refs/heads/r", 1,
			"duplicateEntries: contains duplicate file entries", ""},
		{"unsorted entries", withTree(rawTree(file("b"), file("a")), blob), "refs/heads/r", 1,
			"treeNotSorted: not properly sorted", ""},
		{"zero-padded mode", withTree(rawTree(rawEntry{"0100644", "a", blob.hash()}), blob), "refs/heads/r", 1,
			"zeroPaddedFilemode: contains zero-padded file modes", ""},
		{".gitmodules url that is an option", gitmodules("100644", "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch${IFS}pwned\n"), "refs/heads/r", 0,
			"gitmodulesUrl: disallowed submodule url: --upload-pack=touch${IFS}pwned", ""},
		{".gitmodules path that is an option", gitmodules("100644", "[submodule \"x\"]\n\tpath = -x\n\turl = https://example.com/x.git\n"), "refs/heads/r", 0,
			"gitmodulesPath: disallowed submodule path: -x", ""},
		{".gitmodules path escaping the repository", gitmodules("100644", "[submodule \"x\"]\n\tpath = ../../outside\n\turl = https://example.com/x.git\n"), "refs/heads/r", 0,
			"gitmodulesPath: disallowed submodule path: ../../outside", "accepted"},
		{".gitmodules name climbing out of .git/modules", gitmodules("100644", "[submodule \"../../hooks\"]\n\tpath = x\n\turl = https://example.com/x.git\n"), "refs/heads/r", 0,
			"gitmodulesName: disallowed submodule name: ../../hooks", ""},
		{".gitmodules as a symlink", gitmodules("120000", "elsewhere"), "refs/heads/r", 1,
			"gitmodulesSymlink: .gitmodules is a symbolic link", ""},
		{"commit whose tree line names a stored blob", []rawObject{rawCommit(storedBlob, "")}, "refs/heads/r", -1,
			fmt.Sprintf("object %s: expected type tree, found blob", storedBlob), ""},
		{"tag of type tree pointing at a commit", []rawObject{tagOf(base, "tree")}, "refs/tags/t", -1,
			fmt.Sprintf("object %s: expected type tree, found commit", base), ""},
		{"tree entry 100644 naming a tree", withTree(rawTree(rawEntry{"100644", "sub", storedTree})), "refs/heads/r", -1,
			fmt.Sprintf("object %s: expected type blob, found tree", storedTree), ""},
		{"commit whose parent is a pushed tree", []rawObject{blob, parentTree, parentIsTree}, "refs/heads/r", -1,
			fmt.Sprintf("object %s is a tree, not a commit", parentTree.hash()), ""},
	}

	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			pack := packOf(row.objs...)
			tip := row.objs[len(row.objs)-1].hash()
			body := pktBody(plumbing.ZeroHash.String()+" "+tip.String()+" "+row.ref+"\x00report-status side-band-64k\n", "")
			resp := postReceivePack(t, ts, "fsck", append(body, pack...))
			var want string
			switch {
			case row.bad >= 0:
				want = fmt.Sprintf("error: object %s: %s", row.objs[row.bad].hash(), row.want)
			case strings.Contains(row.want, "expected type"): // a stored object
				want = "fatal: " + row.want
			default: // a pushed object
				want = "error: " + row.want
			}
			if !strings.Contains(resp, want) {
				t.Errorf("response lacks %q:\n%q", want, resp)
			}
			if !strings.Contains(resp, "unpack index-pack abnormal exit") || !strings.Contains(resp, "ng "+row.ref+" unpacker error") {
				t.Errorf("response lacks the unpack failure:\n%q", resp)
			}
			if h := ts.readServerRef(repo, row.ref); !h.IsZero() {
				t.Errorf("%s created at %s", row.ref, h)
			}
			assertNoPackHolds(t, repo, tip.String())

			cmd := exec.Command("git", "index-pack", "--strict", "--stdin")
			cmd.Dir = oracle
			cmd.Env = ts.env()
			cmd.Stdin = bytes.NewReader(pack)
			out, err := cmd.CombinedOutput()
			gitWords := strings.TrimPrefix(strings.TrimPrefix(want, "error: "), "fatal: ")
			switch {
			case row.gitSays == "accepted":
				if err != nil {
					t.Errorf("git index-pack --strict refused it too, say so: %v\n%s", err, out)
				}
			case err == nil:
				t.Errorf("git index-pack --strict accepted the pack")
			case !strings.Contains(string(out), gitWords):
				t.Errorf("git says:\n%s\nwe say %q", out, gitWords)
			}
		})
	}

	// What was refused left nothing behind, and ordinary pushes still go.
	ts.commitFile(work, ".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n", "submodule")
	ts.git(work, "push", "-q", "origin", "main")
	ts.fsck(repo)
}

// TestFsckUnit holds the checks to what git 2.39's index-pack --strict
// said about the same objects: what it refuses and, as much, what it
// lets through.
func TestFsckUnit(t *testing.T) {
	t.Parallel()
	tree := strings.Repeat("4b", 20)
	commit := func(s string) []byte { return []byte("tree " + tree + "\n" + s) }
	commits := []struct {
		data []byte
		id   string // "" = accepted
	}{
		{commit("author A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nbody with \x00 nul\n"), "nulInCommit"},
		{commit("author A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 -0130\nencoding ISO-8859-1\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nok\n"), ""},
		{commit("author A <a@b> 0 +0000\ncommitter A U. Thor <> 1700000000 +0000\n\nok\n"), ""},
		{commit("author A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n"), ""}, // no message
		{commit("author A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000"), "unterminatedHeader"},
		{commit("author A <a@b> 1700000000 +0000\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nx\n"), "multipleAuthors"},
		{commit("committer A <a@b> 1700000000 +0000\n\nx\n"), "missingAuthor"},
		{commit("author A <a@b> 01700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nx\n"), "zeroPaddedDate"},
		{commit("author A a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nx\n"), "badName"},
		{commit("author A<a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nx\n"), "missingSpaceBeforeEmail"},
		{[]byte("tree " + tree[:39] + "\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nx\n"), "badTreeSha1"},
		{[]byte("parent " + tree + "\n\nx\n"), "missingTree"},
	}
	for _, c := range commits {
		p := fsckCommit(c.data)
		if c.id == "" && len(p) > 0 || c.id != "" && (len(p) == 0 || p[0].id != c.id) {
			t.Errorf("fsckCommit(%q) = %v, want %q", c.data, p, c.id)
		}
	}
	tags := []struct {
		data string
		id   string
	}{
		{"object " + tree + "\ntype commit\ntag v1\ntagger A <a@b> 1700000000 +0000\n\nmsg\n", ""},
		{"object " + tree + "\ntype commit\ntag v1\n\nno tagger is only info to git\n", ""},
		{"object " + tree + "\ntype commit\ntag bad..name\ntagger A <a@b> 1 +0000\n\nbad name is only info\n", ""},
		{"object " + tree + "\ntype ofs-delta\ntag v1\n\nx\n", "badType"},
		{"object " + tree + "\ntag v1\n\nx\n", "missingTypeEntry"},
		{"type commit\n\nx\n", "missingObject"},
		{"object " + tree + "\ntype commit\ntag v1\ntagger A <a@b> 1 +0000x\n\nx\n", "badTimezone"},
	}
	for _, c := range tags {
		p := fsckTag([]byte(c.data))
		if c.id == "" && len(p) > 0 || c.id != "" && (len(p) == 0 || p[0].id != c.id) {
			t.Errorf("fsckTag(%q) = %v, want %q", c.data, p, c.id)
		}
	}
	names := []struct {
		name             string
		dotgit, dotmodul bool
	}{
		{".git", true, false}, {".GiT", true, false}, {".git.", true, false}, {".git ", true, false},
		{"git~1", true, false}, {".g\u200cit", true, false}, {".gitx", false, false}, {"git", false, false},
		{".gitmodules", false, true}, {".GITMODULES", false, true}, {"gitmod~1", false, true},
		{".gitmodules\u200d", false, true}, {".gitmodulesx", false, false}, {"gitmodules", false, false},
	}
	for _, n := range names {
		if got := isHFSDot(n.name, "git") || isNTFSDotGit(n.name); got != n.dotgit {
			t.Errorf("%q names .git: %v", n.name, got)
		}
		if got := isHFSDot(n.name, "gitmodules") || isNTFSDotGitmodules(n.name); got != n.dotmodul {
			t.Errorf("%q names .gitmodules: %v", n.name, got)
		}
	}
	configs := []struct {
		text string
		ids  []string
	}{
		{"[submodule \"a\"]\n\tpath = a\n\turl = https://example.com/a.git\n", nil},
		{"# comment\n[submodule \"a\"] ; here too\n\tURL = \"--upload-pack=x\" # quoted\n", []string{"gitmodulesUrl"}},
		{"[submodule \"a\"]\n\turl = ./a\\\n\\n.git\n", []string{"gitmodulesUrl"}}, // continued, with an escaped newline
		{"[submodule \"a\"]\n\turl = https://example.com/%0a.git\n", []string{"gitmodulesUrl"}},
		{"[submodule \"a\"]\n\tupdate = !sh\n\tpath = /abs\n", []string{"gitmodulesUpdate", "gitmodulesPath"}},
		{"[submodule.a]\n\turl = -x\n", []string{"gitmodulesUrl"}},
		{"[submodule \"a\"\n\turl = -x\n", nil}, // not config: only "info" to git
		{"[core]\n\turl = -x\n", nil},
	}
	for _, c := range configs {
		var ids []string
		for _, p := range fsckGitmodules([]byte(c.text)) {
			ids = append(ids, p.id)
		}
		if strings.Join(ids, ",") != strings.Join(c.ids, ",") {
			t.Errorf("fsckGitmodules(%q) = %v, want %v", c.text, ids, c.ids)
		}
	}
}

// TestFsckTreeDuplicatesRandom compares fsckTree's duplicate check, which
// looks only where a sorted tree can repeat a name, with a plain search
// of every pair, on random trees (sorted and not) whose names share
// prefixes and characters around '/'.
func TestFsckTreeDuplicatesRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 13))
	alphabet := []byte("a-.0_b")
	for round := range 20000 {
		n := 1 + rng.IntN(7)
		ents := make([]treeEntry, n)
		for i := range ents {
			name := make([]byte, 1+rng.IntN(3))
			for k := range name {
				name[k] = alphabet[rng.IntN(len(alphabet))]
			}
			ents[i].name = name
			ents[i].mode = 0o100644
			if rng.IntN(2) == 0 {
				ents[i].mode = modeTree
			}
			ents[i].hash[0] = byte(1 + i)
		}
		if rng.IntN(4) != 0 {
			slices.SortStableFunc(ents, compareEntries)
		}
		var data []byte
		want := false
		for i, e := range ents {
			data = fmt.Appendf(data, "%o %s\x00%s", e.mode, e.name, e.hash[:])
			for _, o := range ents[:i] {
				want = want || bytes.Equal(o.name, e.name)
			}
		}
		problems, _ := fsckTree(data)
		got := slices.ContainsFunc(problems, func(p fsckProblem) bool { return p.id == "duplicateEntries" })
		if got != want {
			t.Fatalf("round %d: %q: duplicateEntries %v, want %v (%v)", round, data, got, want, problems)
		}
	}
}

// TestPushRefusedOnWorkers: a pack large enough for its objects to be
// checked on several goroutines is refused, and leaves nothing, when one
// of them (the last tree, or one in the middle) names an object that is
// nowhere or has the wrong type; the same pack without the fault goes in.
func TestPushRefusedOnWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("many")
	var blobs []rawObject
	var ents []rawEntry
	for i := range 3000 {
		b := rawBlob(fmt.Sprintf("blob %d\n", i))
		blobs = append(blobs, b)
		ents = append(ents, rawEntry{"100644", fmt.Sprintf("f%04d", i), b.hash()})
	}
	missing := plumbing.NewHash("1111111111111111111111111111111111111111")
	sub := rawTree(ents[:10]...)
	rows := []struct {
		name string
		bad  rawEntry // added to the root tree
		want string
	}{
		{"missing blob", rawEntry{"100644", "zz-missing", missing}, "missing object " + missing.String()},
		{"a tree named as a file", rawEntry{"100644", "zz-sub", sub.hash()}, fmt.Sprintf("object %s is a tree, not a blob", sub.hash())},
		{"sound", rawEntry{"40000", "zz-sub", sub.hash()}, ""},
	}
	for _, row := range rows {
		root := rawTree(append(slices.Clone(ents), row.bad)...)
		commit := rawCommit(root.hash(), "")
		objs := append(slices.Clone(blobs[:1500]), sub)
		objs = append(objs, root)
		objs = append(objs, blobs[1500:]...)
		objs = append(objs, commit)
		body := pktBody(plumbing.ZeroHash.String()+" "+commit.hash().String()+" refs/heads/r\x00report-status side-band-64k\n", "")
		resp := postReceivePack(t, ts, "many", append(body, packOf(objs...)...))
		if row.want == "" {
			if !strings.Contains(resp, "ok refs/heads/r") {
				t.Fatalf("%s: %q", row.name, resp)
			}
			ts.fsck(repo)
			continue
		}
		if !strings.Contains(resp, row.want) || !strings.Contains(resp, "ng refs/heads/r") {
			t.Errorf("%s: response lacks %q:\n%q", row.name, row.want, resp)
		}
		if h := ts.readServerRef(repo, "refs/heads/r"); !h.IsZero() {
			t.Fatalf("%s: refs/heads/r created at %s", row.name, h)
		}
		assertNoPackHolds(t, repo, commit.hash().String())
	}
}
