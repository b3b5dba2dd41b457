package gitserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// v2Body encodes a protocol v2 request: "" is a flush packet, "|" a
// delim packet, anything else one line.
func v2Body(lines ...string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		switch l {
		case "":
			b.WriteString("0000")
		case "|":
			b.WriteString("0001")
		default:
			writePkt(&b, l+"\n")
		}
	}
	return b.Bytes()
}

func postV2(t *testing.T, ts *testServer, repo string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", ts.remote(repo)+"/git-upload-pack", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Git-Protocol", "version=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// gitV2 runs the same request through git's own upload-pack, with the
// features this server offers turned on.
func gitV2(t *testing.T, ts *testServer, repoPath string, body []byte) []byte {
	t.Helper()
	cmd := exec.Command("git", "upload-pack", "--stateless-rpc", repoPath)
	cmd.Env = ts.env("GIT_PROTOCOL=version=2", "GIT_CONFIG_COUNT=3",
		"GIT_CONFIG_KEY_0=uploadpack.allowFilter", "GIT_CONFIG_VALUE_0=true",
		"GIT_CONFIG_KEY_1=uploadpack.allowRefInWant", "GIT_CONFIG_VALUE_1=true",
		"GIT_CONFIG_KEY_2=uploadpack.allowSidebandAll", "GIT_CONFIG_VALUE_2=true")
	cmd.Stdin = bytes.NewReader(body)
	out, _ := cmd.Output() // git exits non-zero after an ERR packet
	return out
}

// splitV2 reads a v2 response into its lines ("0000", "0001" for the
// special packets; side-band 1 markers removed; progress dropped) and
// the pack from the packfile section.
func splitV2(t *testing.T, resp []byte) (lines []string, pack []byte) {
	t.Helper()
	inPack := false
	for len(resp) > 0 {
		if len(resp) < 4 {
			t.Fatalf("truncated pkt-line: %q", resp)
		}
		var n int
		if _, err := fmt.Sscanf(string(resp[:4]), "%04x", &n); err != nil {
			t.Fatalf("bad pkt-line length %q", resp[:4])
		}
		if n < 4 {
			lines = append(lines, fmt.Sprintf("%04x", n))
			resp = resp[4:]
			continue
		}
		if n > len(resp) {
			t.Fatalf("pkt-line length %d beyond the response", n)
		}
		p := resp[4:n]
		resp = resp[n:]
		if inPack || len(p) > 0 && p[0] <= 3 {
			switch p[0] {
			case bandData:
				if inPack {
					pack = append(pack, p[1:]...)
					continue
				}
				p = p[1:] // sideband-all
			case bandProgress:
				continue
			case bandError:
				lines = append(lines, "ERR "+strings.TrimSuffix(string(p[1:]), "\n"))
				continue
			}
		}
		line := strings.TrimSuffix(string(p), "\n")
		lines = append(lines, line)
		inPack = line == "packfile"
	}
	return lines, pack
}

// TestUploadPackV2MatchesGit sends the same v2 requests to this server
// and to git's own upload-pack on the same repository and compares the
// answers line by line and the packs object by object.
func TestUploadPackV2MatchesGit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	work := protoRepo(ts, "v2")
	repo := filepath.Join(ts.root, "v2.git")
	empty := ts.newRepo("v2empty")
	ts.git(repo, "pack-refs", "--all") // peeled values from packed-refs, and tags read from objects
	ts.git(work, "tag", "-a", "-m", "loose tag", "v0.9", "main~5")
	ts.git(work, "push", "-q", "origin", "v0.9")
	rev := func(r string) string { return ts.revParse(work, r) }
	head := rev("main")
	unknown := strings.Repeat("ab", 20)
	caps := []string{"agent=test/1", "object-format=sha1"}
	lsRefs := func(args ...string) []byte {
		return v2Body(append(append(append([]string{"command=ls-refs"}, caps...), "|"), append(args, "")...)...)
	}
	fetch := func(args ...string) []byte {
		return v2Body(append(append(append([]string{"command=fetch"}, caps...), "|"), append(args, "")...)...)
	}
	cases := []struct {
		name string
		repo string
		body []byte
	}{
		{"ls-refs", repo, lsRefs()},
		{"ls-refs peel symrefs", repo, lsRefs("peel", "symrefs")},
		{"ls-refs heads", repo, lsRefs("symrefs", "ref-prefix refs/heads/")},
		{"ls-refs tags peeled", repo, lsRefs("peel", "ref-prefix refs/tags/")},
		{"ls-refs partial name", repo, lsRefs("ref-prefix refs/heads/ma", "ref-prefix refs/tags/v1")},
		{"ls-refs HEAD unborn", repo, lsRefs("symrefs", "unborn", "ref-prefix HEAD")},
		{"ls-refs unborn", empty, lsRefs("symrefs", "peel", "unborn", "ref-prefix HEAD", "ref-prefix refs/heads/")},
		{"ls-refs empty without unborn", empty, lsRefs("symrefs")},
		{"ls-refs no args", repo, v2Body("command=ls-refs", "")},
		{"clone", repo, fetch("thin-pack", "ofs-delta", "no-progress", "want "+head, "done")},
		{"negotiation ready", repo, fetch("ofs-delta", "want "+head, "have "+unknown, "have "+rev("main~3"))},
		{"negotiation NAK", repo, fetch("ofs-delta", "want "+head, "have "+unknown)},
		{"wait-for-done", repo, fetch("wait-for-done", "want "+head, "have "+rev("main~3"))},
		{"haves and done", repo, fetch("ofs-delta", "include-tag", "want "+head, "have "+rev("main~4"), "have "+unknown, "done")},
		{"deepen", repo, fetch("ofs-delta", "want "+head, "want "+rev("other"), "deepen 2", "done")},
		{"deepen-relative", repo, fetch("ofs-delta", "deepen-relative", "want "+head, "shallow "+rev("main~1"), "deepen 2", "have "+head, "done")},
		{"deepen-since", repo, fetch("want "+head, "deepen-since 1700000900", "done")},
		{"deepen-not", repo, fetch("want "+head, "deepen-not light", "done")},
		{"shallow without deepen", repo, fetch("want "+head, "shallow "+rev("main~1"), "have "+rev("main~1"), "done")},
		{"blob:none", repo, fetch("ofs-delta", "want "+head, "filter blob:none", "done")},
		{"tree:1 and depth", repo, fetch("ofs-delta", "want "+head, "filter tree:1", "deepen 3", "done")},
		{"blob:limit by id", repo, fetch("want "+rev("main:big"), "want "+rev("other:dir0"), "filter blob:limit=600", "done")},
		{"want-ref", repo, fetch("ofs-delta", "want-ref refs/heads/other", "want-ref refs/tags/v1", "include-tag", "done")},
		{"sideband-all", repo, fetch("sideband-all", "want "+head, "have "+rev("main~2"), "done")},
		{"sideband-all acks", repo, fetch("sideband-all", "want "+head, "have "+rev("main~2"))},
		{"not our ref", repo, fetch("want "+unknown, "done")},
		{"unknown want-ref", repo, fetch("want-ref refs/heads/nope", "done")},
		{"nothing wanted", repo, fetch("done")},
	}
	for _, tc := range cases {
		code, ours := postV2(t, ts, filepath.Base(strings.TrimSuffix(tc.repo, ".git")), tc.body)
		if code != http.StatusOK {
			t.Errorf("%s: HTTP %d: %s", tc.name, code, ours)
			continue
		}
		theirs := gitV2(t, ts, tc.repo, tc.body)
		ol, opack := splitV2(t, ours)
		gl, gpack := splitV2(t, theirs)
		if strings.Join(sortShallowLines(ol), "|") != strings.Join(sortShallowLines(gl), "|") {
			t.Errorf("%s:\n ours %q\n git  %q", tc.name, ol, gl)
		}
		if (len(opack) > 0) != (len(gpack) > 0) {
			t.Errorf("%s: ours sent a pack: %v, git: %v", tc.name, len(opack) > 0, len(gpack) > 0)
		}
		if len(opack) > 0 && len(gpack) > 0 {
			o, g := packObjects(t, ts, opack), packObjects(t, ts, gpack)
			// What git sends and we do not must be on the client already
			// (git's edge with a shallow client is coarser); we never send
			// what git does not.
			onClient := clientObjects(ts, repo, tc.body)
			for h := range g {
				if !o[h] && !onClient[h] {
					t.Errorf("%s: git sends %s, which we do not and the client lacks", tc.name, h)
				}
			}
			for h := range o {
				if !g[h] {
					t.Errorf("%s: we send %s, git does not", tc.name, h)
				}
			}
			if !packSizeOK(int64(len(opack)), int64(len(gpack))) {
				t.Errorf("%s: pack of %d bytes, git's is %d", tc.name, len(opack), len(gpack))
			}
		}
	}
}

// sortShallowLines puts the shallow-info lines in order: git lists the
// boundary as its depth-first walk meets it, which says nothing.
func sortShallowLines(lines []string) []string {
	out := append([]string(nil), lines...)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && (strings.HasPrefix(out[j], "shallow ") || strings.HasPrefix(out[j], "unshallow ")) {
			j++
		}
		if j > i {
			sort.Strings(out[i:j])
			i = j
		} else {
			i++
		}
	}
	return out
}

// clientObjects lists what a fetch request says the client has: all
// that its haves reach, and the trees of its shallow commits.
func clientObjects(ts *testServer, repo string, body []byte) map[string]bool {
	on := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		if i := strings.Index(l, "have "); i >= 0 {
			out, _, _ := ts.gitErr(repo, nil, "rev-list", "--objects", l[i+5:])
			for k := range objectNames(out) {
				on[k] = true
			}
		}
		if i := strings.Index(l, "shallow "); i >= 0 {
			h := l[i+8:]
			on[h] = true
			for _, e := range strings.Split(ts.git(repo, "ls-tree", "-r", "-t", h), "\n") {
				if f := strings.Fields(e); len(f) >= 3 {
					on[f[2]] = true
				}
			}
		}
	}
	return on
}

// TestUploadPackV2BadRequests: requests that break the protocol get 400
// and no answer.
func TestUploadPackV2BadRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("bad")
	h := strings.Repeat("12", 20)
	cases := []struct {
		name string
		body []byte
	}{
		{"no command", v2Body("agent=x", "|", "")},
		{"unknown command", v2Body("command=frobnicate", "")},
		{"two commands", v2Body("command=fetch", "command=ls-refs", "")},
		{"unknown capability", v2Body("command=ls-refs", "frob=1", "")},
		{"sha256", v2Body("command=ls-refs", "object-format=sha256", "")},
		{"unknown argument", v2Body("command=fetch", "|", "want "+h, "frob", "")},
		{"short want", v2Body("command=fetch", "|", "want 1234", "")},
		{"bad deepen", v2Body("command=fetch", "|", "want "+h, "deepen 0", "")},
		{"deepen and since", v2Body("command=fetch", "|", "want "+h, "deepen 1", "deepen-since 5", "")},
		{"two filters", v2Body("command=fetch", "|", "want "+h, "filter blob:none", "filter tree:0", "")},
		{"bad filter", v2Body("command=fetch", "|", "want "+h, "filter blob:limit=x", "")},
		{"bad ref-prefix line", v2Body("command=ls-refs", "|", "ref-prefix", "")},
		{"truncated", v2Body("command=fetch", "|", "want "+h)},
		{"delim in args", v2Body("command=fetch", "|", "want "+h, "|", "")},
		{"response-end", []byte("0014command=ls-refs\n0002")},
	}
	for _, tc := range cases {
		code, body := postV2(t, ts, "bad", tc.body)
		if code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d: %q", tc.name, code, body)
		}
	}
}

// TestLsRemoteSendsOnlyAskedRefs: over v2, ls-remote with --heads,
// --tags or a pattern receives only the refs asked for (over v0 the
// client gets every ref and filters), and answers as git's own server.
func TestLsRemoteSendsOnlyAskedRefs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	work := protoRepo(ts, "many")
	var refs bytes.Buffer
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&refs, "create refs/tags/t%03d %s\n", i, ts.revParse(work, fmt.Sprintf("main~%d", i%20)))
	}
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = work, ts.env(), &refs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-ref: %v %s", err, out)
	}
	ts.git(work, "push", "-q", "origin", "--tags")
	ts.nativeCopy("many")
	native := nativeServer(t, ts) + "/many-native.git"

	for _, proto := range []int{0, 2} {
		for _, args := range [][]string{{"--heads"}, {"--tags"}, {"--refs"}, {"--symref"}, {"", "main", "t01*"}, {"--tags", "", "v1"}} {
			// "" stands for the remote: options before it, patterns after.
			withRemote := func(url string) []string {
				out := []string{"ls-remote"}
				for _, a := range args {
					if a == "" {
						a = url
					}
					out = append(out, a)
				}
				if !slices.Contains(args, "") {
					out = append(out, url)
				}
				return out
			}
			received := func(url string) (string, int) {
				trace := filepath.Join(t.TempDir(), "trace")
				out, errOut, err := ts.gitErr("", []string{"GIT_TRACE_PACKET=" + trace}, protoArgs(proto, withRemote(url)...)...)
				if err != nil {
					t.Fatalf("ls-remote %v: %v\n%s", args, err, errOut)
				}
				tr, _ := os.ReadFile(trace)
				n := 0 // ref lines the client read from the server
				for _, l := range strings.Split(string(tr), "\n") {
					if i := strings.Index(l, "< "); i >= 0 && strings.Contains(l[i:], " refs/") {
						n++
					}
				}
				return out, n
			}
			ours, oursN := received(ts.remote("many"))
			theirs, theirsN := received(native)
			if ours != theirs {
				t.Errorf("v%d ls-remote %v:\n ours %q\n git  %q", proto, args, ours, theirs)
			}
			if oursN > theirsN {
				t.Errorf("v%d ls-remote %v: %d refs crossed the wire, %d from git", proto, args, oursN, theirsN)
			}
			// --heads: over v2 the client asks for refs/heads/ (and HEAD)
			// only; over v0 it gets every ref and filters them itself.
			if args[0] == "--heads" {
				if shown := countLines(ours); proto == 2 && oursN > shown+1 || proto == 0 && oursN <= shown+1 {
					t.Errorf("v%d ls-remote --heads: %d refs crossed the wire for %d shown", proto, oursN, shown)
				}
			}
		}
	}

	// An empty repository's default branch reaches a v2 clone (unborn).
	ts.srv.Init(t.Context(), filepath.Join(ts.root, "trunk.git"), "trunk")
	dir := filepath.Join(t.TempDir(), "e")
	ts.git("", protoArgs(2, "clone", "-q", ts.remote("trunk"), dir)...)
	if head := strings.TrimSpace(ts.git(dir, "symbolic-ref", "HEAD")); head != "refs/heads/trunk" {
		t.Errorf("clone of an empty repository whose HEAD is trunk: HEAD = %s", head)
	}
}

// TestUploadPackRefusals: requests this server will not serve get an ERR
// packet the client shows, in v0 and v2.
func TestUploadPackRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	work := protoRepo(ts, "refuse")
	head := ts.revParse(work, "main")
	for _, proto := range []int{0, 2} {
		_, errOut, err := ts.gitErr("", nil, protoArgs(proto, "clone", "-q", "--filter=sparse:oid="+head, ts.remote("refuse"), filepath.Join(t.TempDir(), "x"))...)
		if err == nil || !strings.Contains(errOut, "remote error: filter 'sparse' not supported") {
			t.Errorf("v%d clone with a sparse filter: %v\n%s", proto, err, errOut)
		}
	}
	_, body := postV2(t, ts, "refuse", v2Body("command=fetch", "|", "want "+head, "filter object:type=blob", "done", ""))
	if lines, _ := splitV2(t, body); len(lines) != 1 || lines[0] != "ERR filter 'object' not supported" {
		t.Errorf("object:type filter: %q", lines)
	}
	// Objects are served by id when a ref leads to them, whatever their
	// type and however old; a blob no ref leads to is not.
	cmd := exec.Command("git", "hash-object", "-w", "--stdin")
	cmd.Dir, cmd.Env, cmd.Stdin = filepath.Join(ts.root, "refuse.git"), ts.env(), strings.NewReader("not for you\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dangling := strings.TrimSpace(string(out))
	old := ts.revParse(work, "main~20:dir1/file1.txt")
	_, body = postV2(t, ts, "refuse", v2Body("command=fetch", "|", "want "+old, "want "+dangling, "done", ""))
	if lines, _ := splitV2(t, body); len(lines) != 1 || lines[0] != "ERR upload-pack: not our ref "+dangling {
		t.Errorf("want of a dangling blob: %q", lines)
	}
	_, body = postV2(t, ts, "refuse", v2Body("command=fetch", "|", "want "+old, "want "+ts.revParse(work, "other~3^{tree}"), "done", ""))
	if lines, pack := splitV2(t, body); len(pack) == 0 {
		t.Errorf("want of an old blob and tree: %q", lines)
	}
	resp := postUploadPack(t, ts, "refuse", false, "want "+dangling+" side-band-64k\n", "", "done\n")
	if !strings.Contains(string(resp), "ERR upload-pack: not our ref "+dangling) {
		t.Errorf("v0 want of a dangling blob: %q", resp)
	}
}

// TestInfoRefsProtocolVersions: the advertisement follows Git-Protocol
// for upload-pack, and receive-pack answers v0 (after "version 1" when
// asked), as http-backend does.
func TestInfoRefsProtocolVersions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("adv2")
	get := func(service, proto string) string {
		req, _ := http.NewRequest("GET", ts.remote("adv2")+"/info/refs?service="+service, nil)
		if proto != "" {
			req.Header.Set("Git-Protocol", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d", service, proto, resp.StatusCode)
		}
		return string(b)
	}
	up := "001e# service=git-upload-pack\n0000"
	rp := "001f# service=git-receive-pack\n0000"
	cases := []struct {
		service, proto, prefix, contains string
	}{
		{"git-upload-pack", "", up, "multi_ack_detailed"},
		{"git-upload-pack", "version=1", up + "000eversion 1\n", " filter "},
		{"git-upload-pack", "version=2", "000eversion 2\n", "fetch=shallow wait-for-done filter ref-in-want sideband-all\n"},
		{"git-upload-pack", "foo=bar:version=2", "000eversion 2\n", "server-option\n"},
		{"git-upload-pack", "version=3", up, "capabilities^{}"},
		{"git-receive-pack", "version=2", rp, "report-status"},
		{"git-receive-pack", "version=1", rp + "000eversion 1\n", "report-status"},
	}
	for _, tc := range cases {
		body := get(tc.service, tc.proto)
		if !strings.HasPrefix(body, tc.prefix) || !strings.Contains(body, tc.contains) {
			t.Errorf("%s with Git-Protocol %q: %q", tc.service, tc.proto, body)
		}
	}
}
