package gitserver

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

func TestCheckRefName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"refs/heads/main", true},
		{"refs/heads/feature/x-1", true},
		{"refs/tags/v1.0", true},
		{"refs/pull/12/head", true},
		{"main", false},
		{"refs/", false},
		{"refs/heads/", false},
		{"refs/heads/a..b", false},
		{"refs/heads/a//b", false},
		{"refs/heads/.hidden", false},
		{"refs/heads/x.lock", false},
		{"refs/heads/x.", false},
		{"refs/heads/a b", false},
		{"refs/heads/a~1", false},
		{"refs/heads/a^", false},
		{"refs/heads/a:b", false},
		{"refs/heads/a?", false},
		{"refs/heads/a*", false},
		{"refs/heads/a[", false},
		{"refs/heads/a\\b", false},
		{"refs/heads/a@{1}", false},
		{"refs/heads/\x01", false},
		{"refs/heads/../../config", false},
	}
	for _, tc := range cases {
		err := checkRefName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("checkRefName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkRefName(%q) error does not wrap ErrInvalidName", tc.name)
		}
	}
}

func TestApplyDelta(t *testing.T) {
	t.Parallel()
	cases := []struct{ base, target string }{
		{"hello world", "hello brave new world"},
		{"", "from nothing"}, // git allows an empty base; go-git's PatchDelta does not
		{strings.Repeat("abcdefgh", 20000), strings.Repeat("abcdefgh", 10000) + "X" + strings.Repeat("abcdefgh", 10000)},
		{"same", "same"},
		{"something", ""},
	}
	for _, tc := range cases {
		delta := packfile.DiffDelta([]byte(tc.base), []byte(tc.target))
		got, err := applyDelta([]byte(tc.base), delta)
		if err != nil || !bytes.Equal(got, []byte(tc.target)) {
			t.Errorf("applyDelta(%.10q -> %.10q) = %.10q, %v", tc.base, tc.target, got, err)
		}
	}
	bad := [][]byte{
		{},                          // no sizes
		{5, 3, 0},                   // command 0 is reserved
		{5, 3, 0x91, 4, 3},          // copy past the base
		{5, 10, 3, 'a', 'b', 'c'},   // short of the declared size
		{5, 1, 3, 'a', 'b', 'c'},    // over the declared size
		{9, 3, 0x90, 3},             // base size mismatch
		{5, 0xff, 0xff, 0xff, 0xff}, // truncated size varint
	}
	for _, d := range bad {
		if _, err := applyDelta([]byte("01234"), d); err == nil {
			t.Errorf("applyDelta accepted corrupt delta %v", d)
		}
	}
}

func TestEntryHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{0, 1, 15, 16, 127, 128, 1 << 20, 1<<35 + 7} {
		for _, dist := range []int64{1, 127, 128, 16511, 16512, 1 << 30} {
			hdr := appendEntryHeader(nil, objOFS, size)
			hdr = appendOfsDistance(hdr, dist)
			var raw [32]byte
			copy(raw[:], hdr)
			eh, err := parseHeaderBytes(raw[:len(hdr)], dist)
			if err != nil || eh.typ != objOFS || eh.size != size || eh.baseOff != 0 || eh.hdrLen != int64(len(hdr)) {
				t.Errorf("size %d dist %d: %+v %v", size, dist, eh, err)
			}
		}
	}
}

func TestSidebandWriterChunks(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := &sidebandWriter{w: &out, band: bandData, max: sideband64kMax}
	payload := bytes.Repeat([]byte{7}, 3*sideband64kMax+10)
	if n, err := w.Write(payload); err != nil || n != len(payload) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	var got []byte
	b := out.Bytes()
	for len(b) > 0 {
		var n int
		for _, c := range b[:4] {
			n = n<<4 | int(strings.IndexByte("0123456789abcdef", c))
		}
		if n > maxPktLen || b[4] != bandData {
			t.Fatalf("packet of %d bytes on band %d", n, b[4])
		}
		got = append(got, b[5:n]...)
		b = b[n:]
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("payload changed")
	}
}

func TestParseCapabilities(t *testing.T) {
	t.Parallel()
	c := parseCapabilities("multi_ack_detailed side-band-64k  agent=git/2.39.5 symref=HEAD:refs/heads/main")
	if !c.has("multi_ack_detailed") || !c.has("side-band-64k") || c["agent"] != "git/2.39.5" || c["symref"] != "HEAD:refs/heads/main" || c.has("side-band") {
		t.Fatalf("parsed %v", c)
	}
}

func TestParseTreeAndOrder(t *testing.T) {
	t.Parallel()
	var raw bytes.Buffer
	h := plumbing.NewHash(strings.Repeat("1", 40))
	for _, e := range []string{"100644 foo", "40000 foo-bar", "100644 foo.c", "40000 foo", "160000 sub"} {
		raw.WriteString(e + "\x00")
		raw.Write(h[:])
	}
	ents, err := parseTree(raw.Bytes())
	if err != nil || len(ents) != 5 {
		t.Fatalf("parseTree: %v %d", err, len(ents))
	}
	if !ents[1].isTree() || ents[0].isTree() || !ents[4].isGitlnk() {
		t.Fatalf("modes: %+v", ents)
	}
	// git order: "foo" (blob) < "foo-bar/" < "foo.c" < "foo/"
	if !(compareEntries(ents[0], ents[1]) < 0 && compareEntries(ents[1], ents[2]) < 0 && compareEntries(ents[2], ents[3]) < 0) {
		t.Fatal("compareEntries disagrees with git's tree order")
	}
	if compareEntries(ents[0], ents[3]) == 0 {
		t.Fatal("a blob and a tree of the same name compare equal")
	}
	if _, err := parseTree([]byte("100644 x\x00short")); err == nil {
		t.Fatal("truncated tree accepted")
	}
}
