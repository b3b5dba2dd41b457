package gitserver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

func fillRandom(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
}

// pktBody encodes payloads as pkt-lines; "" is a flush packet.
func pktBody(pkts ...string) []byte {
	var b bytes.Buffer
	for _, p := range pkts {
		if p == "" {
			b.WriteString("0000")
			continue
		}
		writePkt(&b, p)
	}
	return b.Bytes()
}

func postUploadPack(t *testing.T, ts *testServer, repo string, gz bool, pkts ...string) []byte {
	t.Helper()
	body := pktBody(pkts...)
	req, err := http.NewRequest("POST", ts.remote(repo)+"/git-upload-pack", nil)
	if err != nil {
		t.Fatal(err)
	}
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(body)
		zw.Close()
		body = zb.Bytes()
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("upload-pack: HTTP %d: %s", resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-result" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
		t.Errorf("Cache-Control = %q", cc)
	}
	return out
}

// splitResponse separates the negotiation lines of an upload-pack
// response from its side-band stream, returning the band-1 bytes and the
// largest band payload seen.
func splitResponse(t *testing.T, resp []byte) (lines []string, pack []byte, maxPayload int) {
	t.Helper()
	for len(resp) > 0 {
		if bytes.HasPrefix(resp, []byte("PACK")) { // no side-band
			return lines, resp, 0
		}
		if len(resp) < 4 {
			t.Fatalf("truncated pkt-line: %q", resp)
		}
		var n int
		if _, err := fmt.Sscanf(string(resp[:4]), "%04x", &n); err != nil {
			t.Fatalf("bad pkt-line length %q", resp[:4])
		}
		if n == 0 {
			lines = append(lines, "0000")
			resp = resp[4:]
			continue
		}
		if n > len(resp) || n > maxPktLen {
			t.Fatalf("bad pkt-line length %d", n)
		}
		payload := resp[4:n]
		resp = resp[n:]
		switch payload[0] {
		case bandData:
			pack = append(pack, payload[1:]...)
			maxPayload = max(maxPayload, len(payload)-1)
		case bandProgress:
			maxPayload = max(maxPayload, len(payload)-1)
		case bandError:
			t.Fatalf("band 3 error: %s", payload[1:])
		default:
			if bytes.HasPrefix(payload, []byte("PACK")) {
				pack = append(pack, payload...)
				pack = append(pack, resp...)
				return lines, pack, maxPayload
			}
			lines = append(lines, strings.TrimSuffix(string(payload), "\n"))
		}
	}
	return lines, pack, maxPayload
}

func demuxSideband(t *testing.T, resp []byte) ([]byte, int) {
	_, pack, m := splitResponse(t, resp)
	return pack, m
}

// verifyPack checks a pack with git index-pack and its object count.
func verifyPack(t *testing.T, ts *testServer, pack []byte, wantObjects int) {
	t.Helper()
	if len(pack) < 32 || string(pack[:4]) != "PACK" {
		t.Fatalf("not a pack: %d bytes", len(pack))
	}
	if n := int(binary.BigEndian.Uint32(pack[8:12])); wantObjects >= 0 && n != wantObjects {
		t.Errorf("pack has %d objects, want %d", n, wantObjects)
	}
	dir := t.TempDir()
	ts.git(dir, "init", "-q", "--bare")
	cmd := exec.Command("git", "index-pack", "--stdin")
	cmd.Dir = dir
	cmd.Env = ts.env()
	cmd.Stdin = bytes.NewReader(pack)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("index-pack: %v\n%s", err, out)
	}
}

func TestGzipRequestBody(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("gz")
	work := ts.workdir("gz")
	ts.history(work, "main", 5, 3, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")
	head := ts.readServerRef(repo, "refs/heads/main")
	base := ts.revParse(work, "main~2")

	resp := postUploadPack(t, ts, "gz", true,
		"want "+head.String()+" multi_ack_detailed side-band-64k ofs-delta no-progress\n", "",
		"have "+base+"\n", "done\n")
	lines, pack, _ := splitResponse(t, resp)
	if len(lines) == 0 || lines[0] != "ACK "+base+" common" {
		t.Fatalf("negotiation = %q", lines)
	}
	// Two commits, and for each a root tree, a subtree and a blob.
	verifyPack(t, ts, pack, 8)

	// A real client gzips bodies over 1 KiB: a fetch from a clone with many
	// local commits sends that many haves.
	local := ts.clone("gz")
	ts.history(local, "main", 120, 5, 1700100000)
	ts.commitFile(work, "dir1/other.txt", "x\n", "server side")
	ts.git(work, "push", "-q", "origin", "main")
	before := ts.gzipRequests.Load()
	if n := ts.fetchCount(local, "origin"); n != 4 {
		t.Errorf("fetch transferred %d objects, want 4", n)
	}
	if ts.gzipRequests.Load() == before {
		t.Errorf("the client sent no gzip request; the test does not cover gzip")
	}
	ts.fsck(repo)
}

// TestNegotiationMatchesGit sends the same requests to this server and to
// `git upload-pack --stateless-rpc` over the same repository and compares
// everything before the pack.
func TestNegotiationMatchesGit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("nego")
	work := ts.workdir("nego")
	ts.history(work, "main", 20, 4, 1700000000)
	ts.git(work, "checkout", "-q", "main")
	ts.git(work, "push", "-q", "origin", "main")
	rev := func(r string) string { return ts.revParse(work, r) }
	unknown := strings.Repeat("ab", 20)
	head := rev("main")
	caps := " multi_ack_detailed no-done side-band-64k ofs-delta no-progress"

	cases := []struct {
		name string
		pkts []string
	}{
		{"clone", []string{"want " + head + caps + "\n", "", "done\n"}},
		{"round without done", []string{"want " + head + caps + "\n", "", "have " + unknown + "\n", "have " + rev("main~3") + "\n", ""}},
		{"ready with no-done", []string{"want " + head + caps + "\n", "", "have " + rev("main~3") + "\n", ""}},
		{"done with haves", []string{"want " + head + " multi_ack_detailed side-band-64k\n", "", "have " + rev("main~3") + "\n", "have " + unknown + "\n", "done\n"}},
		{"multi_ack", []string{"want " + head + " multi_ack side-band-64k\n", "", "have " + unknown + "\n", "have " + rev("main~2") + "\n", ""}},
		{"no multi_ack", []string{"want " + head + " side-band-64k\n", "", "have " + rev("main~2") + "\n", "have " + rev("main~4") + "\n", ""}},
		{"only unknown haves", []string{"want " + head + caps + "\n", "", "have " + unknown + "\n", ""}},
		{"deepen probe", []string{"want " + head + caps + "\n", "deepen 3\n", ""}},
		{"deepen round", []string{"want " + head + caps + "\n", "deepen 3\n", "", "done\n"}},
		{"deepen relative", []string{"want " + head + caps + " deepen-relative\n", "shallow " + rev("main~2") + "\n", "deepen 2\n", "", "have " + head + "\n", ""}},
		{"unshallow", []string{"want " + head + caps + "\n", "shallow " + rev("main~1") + "\n", "deepen 5\n", "", "have " + head + "\n", "done\n"}},
		{"plain side-band", []string{"want " + head + " multi_ack_detailed side-band ofs-delta\n", "", "have " + rev("main~5") + "\n", "done\n"}},
		{"no side-band", []string{"want " + head + " multi_ack_detailed ofs-delta\n", "", "have " + rev("main~5") + "\n", "done\n"}},
		{"no ofs-delta", []string{"want " + head + " multi_ack_detailed side-band-64k\n", "", "done\n"}},
		{"shallow without deepen", []string{"want " + head + caps + "\n", "shallow " + rev("main~1") + "\n", "", "have " + head + "\n", ""}},
	}
	for _, tc := range cases {
		ours := postUploadPack(t, ts, "nego", false, tc.pkts...)
		cmd := exec.Command("git", "upload-pack", "--stateless-rpc", repo)
		cmd.Env = ts.env()
		cmd.Stdin = bytes.NewReader(pktBody(tc.pkts...))
		theirs, _ := cmd.Output()
		ol, opack, _ := splitResponse(t, ours)
		gl, gpack, _ := splitResponse(t, theirs)
		if strings.Join(ol, "|") != strings.Join(gl, "|") {
			t.Errorf("%s:\n ours %q\n git  %q", tc.name, ol, gl)
		}
		if (len(opack) > 0) != (len(gpack) > 0) {
			t.Errorf("%s: ours sent a pack: %v, git: %v", tc.name, len(opack) > 0, len(gpack) > 0)
		}
		if len(opack) > 0 && len(gpack) > 0 {
			verifyPack(t, ts, opack, -1)
			// What git sends and we do not must already be on the client:
			// reachable from a have, or in a shallow commit's tree.
			o, g := packObjects(t, ts, opack), packObjects(t, ts, gpack)
			onClient := map[string]bool{}
			for _, p := range tc.pkts {
				if h, ok := strings.CutPrefix(p, "have "); ok {
					out, _, _ := ts.gitErr(repo, nil, "rev-list", "--objects", strings.TrimSpace(h)) // unknown haves fail
					for k := range objectNames(out) {
						onClient[k] = true
					}
				}
				if h, ok := strings.CutPrefix(p, "shallow "); ok {
					h = strings.TrimSpace(h)
					onClient[h] = true
					for _, l := range strings.Split(ts.git(repo, "ls-tree", "-r", "-t", h), "\n") {
						if f := strings.Fields(l); len(f) >= 3 {
							onClient[f[2]] = true
						}
					}
				}
			}
			for h := range g {
				if !o[h] && !onClient[h] {
					t.Errorf("%s: git sends %s, which we do not and the client lacks", tc.name, h)
				}
			}
			if len(o) > len(g) {
				t.Errorf("%s: pack with %d objects, git sends %d", tc.name, len(o), len(g))
			}
		}
	}
	ts.fsck(repo)
}

func TestInfoRefsAdvertisement(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.newRepo("adv")
	get := func(service string) (string, http.Header, int) {
		resp, err := http.Get(ts.remote("adv") + "/info/refs?service=" + service)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header, resp.StatusCode
	}
	body, h, code := get("git-upload-pack")
	if code != 200 || h.Get("Content-Type") != "application/x-git-upload-pack-advertisement" || !strings.Contains(h.Get("Cache-Control"), "no-cache") {
		t.Fatalf("headers: %d %v", code, h)
	}
	if !strings.HasPrefix(body, "001e# service=git-upload-pack\n0000") {
		t.Fatalf("body prefix: %q", body)
	}
	if !strings.Contains(body, strings.Repeat("0", 40)+" capabilities^{}\x00") || !strings.Contains(body, "agent=tapioca/") {
		t.Fatalf("empty repo advertisement: %q", body)
	}
	body, h, _ = get("git-receive-pack")
	if h.Get("Content-Type") != "application/x-git-receive-pack-advertisement" || !strings.Contains(body, "report-status") || strings.Contains(body, "no-thin") {
		t.Fatalf("receive-pack advertisement: %q %v", body, h)
	}
	if _, _, code := get("git-frobnicate"); code != http.StatusForbidden {
		t.Errorf("unknown service: HTTP %d", code)
	}
	resp, err := http.Get(ts.remote("missing") + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing repo: HTTP %d", resp.StatusCode)
	}
}

func TestWantNotOurRef(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	repo := ts.newRepo("notours")
	work := ts.workdir("notours")
	ts.commitFile(work, "a", "a", "a")
	ts.git(work, "push", "-q", "origin", "main")
	resp := postUploadPack(t, ts, "notours", false, "want "+strings.Repeat("12", 20)+" side-band-64k\n", "", "done\n")
	if !strings.Contains(string(resp), "ERR upload-pack: not our ref") {
		t.Fatalf("response %q", resp)
	}
	ts.fsck(repo)
}

func emptyPack() []byte {
	p := []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x00")
	sum := sha1.Sum(p)
	return append(p, sum[:]...)
}

func postReceivePack(t *testing.T, ts *testServer, repo string, body []byte) string {
	t.Helper()
	resp, err := http.Post(ts.remote(repo)+"/git-receive-pack", "application/x-git-receive-pack-request", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("receive-pack: HTTP %d: %s", resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-receive-pack-result" {
		t.Errorf("Content-Type = %q", ct)
	}
	return string(out)
}
