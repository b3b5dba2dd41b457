package gitserver

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec      string
		blobLimit int64
		treeDepth int
		err       string // substring; "" for success
	}{
		{"blob:none", 0, -1, ""},
		{"blob:limit=0", 0, -1, ""},
		{"blob:limit=1024", 1024, -1, ""},
		{"blob:limit=1k", 1024, -1, ""},
		{"blob:limit=2M", 2 << 20, -1, ""},
		{"blob:limit=1g", 1 << 30, -1, ""},
		{"tree:0", -1, 0, ""},
		{"tree:3", -1, 3, ""},
		{"combine:blob:none+tree:2", 0, 2, ""},
		{"combine:tree%3A3+blob%3Alimit%3D10", 10, 3, ""},
		{"combine:tree:3+tree:1+blob:limit=5+blob:limit=9", 5, 1, ""},
		{"blob:limit=", 0, 0, "invalid filter-spec"},
		{"blob:limit=-1", 0, 0, "invalid filter-spec"},
		{"blob:limit=1t", 0, 0, "invalid filter-spec"},
		{"blob:limit=99999999999999999999", 0, 0, "invalid filter-spec"},
		{"tree:", 0, 0, "invalid filter-spec"},
		{"tree:-1", 0, 0, "invalid filter-spec"},
		{"combine:", 0, 0, "invalid filter-spec"},
		{"combine:blob:none+", 0, 0, "invalid filter-spec"},
		{"combine:combine:blob:none", 0, 0, "nested combine"},
		{"combine:blob:none+sparse:oid=x", 0, 0, "not supported"},
		{"sparse:oid=abc", 0, 0, "not supported"},
		{"object:type=blob", 0, 0, "not supported"},
		{"frob", 0, 0, "invalid filter-spec"},
		{"", 0, 0, "invalid filter-spec"},
		{strings.Repeat("x", 2000), 0, 0, "too long"},
	}
	for _, tc := range cases {
		f, err := parseFilter(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseFilter(%.40q) = %+v, %v; want error %q", tc.spec, f, err, tc.err)
			}
			continue
		}
		if err != nil || f.blobLimit != tc.blobLimit || f.treeDepth != tc.treeDepth {
			t.Errorf("parseFilter(%q) = %+v, %v; want limit %d depth %d", tc.spec, f, err, tc.blobLimit, tc.treeDepth)
		}
	}
	if _, err := parseFilter("sparse:oid=x"); !errors.Is(err, errUnsupportedFilter) {
		t.Errorf("sparse filter error %v does not wrap errUnsupportedFilter", err)
	}
}

func TestProtocolVersion(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"":                     0,
		"version=2":            2,
		"version=1":            1,
		"version=0":            0,
		"foo=bar:version=2":    2,
		"version=1:version=2":  2,
		"version=2:version=1":  2,
		"version=3":            0,
		"version=x":            0,
		"VERSION=2":            0,
		"version=2:object=sha": 2,
	}
	for in, want := range cases {
		if got := ProtocolVersion(in); got != want {
			t.Errorf("ProtocolVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestRefDirs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		prefixes []string
		want     []string
	}{
		{[]string{""}, []string{"refs/"}},
		{[]string{"HEAD"}, nil},
		{[]string{"refs/heads/"}, []string{"refs/heads/"}},
		{[]string{"refs/heads/ma", "refs/tags/v1"}, []string{"refs/heads/", "refs/tags/"}},
		{[]string{"refs/heads/a/b", "refs/heads/"}, []string{"refs/heads/"}},
		{[]string{"refs/tags/", "refs/"}, []string{"refs/"}},
		{[]string{"re", "refs/heads/x"}, []string{"refs/"}},
		{[]string{"refs/../../etc/", "refs/heads/../x"}, nil},
		{[]string{"/etc/passwd"}, nil},
	}
	for _, tc := range cases {
		if got := refDirs(tc.prefixes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("refDirs(%q) = %q, want %q", tc.prefixes, got, tc.want)
		}
	}
}

// TestDeltaEncoder checks that deltas apply back to their targets, stay
// under the size asked for, and find the shared content.
func TestDeltaEncoder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	text := func(n int) []byte {
		words := []string{"alpha ", "beta ", "gamma ", "delta\n", "epsilon ", "{ ", "} ", "return x;\n"}
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.Bytes()[:n]
	}
	mutate := func(src []byte) []byte {
		out := append([]byte(nil), src...)
		for k := r.IntN(6); k >= 0; k-- {
			at := r.IntN(len(out) + 1)
			switch r.IntN(3) {
			case 0: // insert
				out = append(out[:at], append(text(1+r.IntN(200)), out[at:]...)...)
			case 1: // delete
				end := min(len(out), at+r.IntN(300))
				out = append(out[:at], out[end:]...)
			default: // move a block to the front
				end := min(len(out), at+r.IntN(500))
				out = append(append([]byte(nil), out[at:end]...), append(out[:at], out[end:]...)...)
			}
		}
		return out
	}
	for i := 0; i < 300; i++ {
		src := text(r.IntN(20000))
		var tgt []byte
		switch i % 4 {
		case 0:
			tgt = mutate(src)
		case 1:
			tgt = text(r.IntN(3000)) // unrelated
		case 2:
			tgt = append(bytes.Repeat(src, 3), src...) // long copies
		default:
			tgt = append([]byte(nil), src...)
		}
		idx := newDeltaIndex(src)
		d := idx.encode(tgt, len(tgt)+64)
		if d == nil {
			t.Fatalf("case %d: no delta within the target's size + 64", i)
		}
		got, err := applyDelta(src, d)
		if err != nil || !bytes.Equal(got, tgt) {
			t.Fatalf("case %d: delta does not reproduce the target (%v)", i, err)
		}
		if i%4 == 0 && len(src) > 1000 && len(d) > len(tgt)/3 {
			t.Errorf("case %d: delta of %d bytes for an edited copy of %d bytes", i, len(d), len(tgt))
		}
		if small := idx.encode(tgt, len(d)); small != nil {
			t.Errorf("case %d: encode with maxSize %d returned %d bytes", i, len(d), len(small))
		}
	}
}

func TestSmallZlibEncodings(t *testing.T) {
	t.Parallel()
	inputs := [][]byte{nil, {0}, []byte("hello"), bytes.Repeat([]byte{0xff, 0x90, 0x8f, 0x00}, 100)}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20; n++ {
		b := make([]byte, r.IntN(smallDeflateMax))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		inputs = append(inputs, b)
	}
	for i, data := range inputs {
		fixed := appendZlibFixed(nil, data)
		if len(fixed) != fixedLiteralBytes(data) {
			t.Errorf("input %d: fixed encoding is %d bytes, predicted %d", i, len(fixed), fixedLiteralBytes(data))
		}
		for name, z := range map[string][]byte{"stored": appendZlibStored(nil, data), "fixed": fixed} {
			zr, err := zlib.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatalf("input %d %s: %v", i, name, err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("input %d %s: decoded %d bytes, %v", i, name, len(got), err)
			}
		}
	}
}

// TestSizeOf reads object sizes without content: whole and deltified
// packed objects and loose ones.
func TestSizeOf(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	protoRepo(ts, "sizes")
	repo := filepath.Join(ts.root, "sizes.git")
	if _, err := ts.srv.InitialCommit(t.Context(), repo, "loose", "a loose readme\n", Signature{Name: "a", Email: "b"}); err != nil {
		t.Fatal(err)
	}
	db, err := openODB(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	deltas := 0
	for _, line := range strings.Split(strings.TrimSpace(ts.git(repo, "rev-list", "--objects", "--all")), "\n") {
		h, ok := parseHash(strings.Fields(line)[0])
		if !ok {
			t.Fatalf("bad rev-list line %q", line)
		}
		_, data, err := db.read(h)
		if err != nil {
			t.Fatal(err)
		}
		size, err := db.sizeOf(h)
		if err != nil || size != int64(len(data)) {
			t.Errorf("sizeOf(%s) = %d, %v; content is %d bytes", h, size, err, len(data))
		}
		if p, off, ok := db.find(h); ok {
			if eh, _ := p.header(off); eh.typ == objOFS || eh.typ == objREF {
				deltas++
			}
		}
	}
	if deltas == 0 {
		t.Error("the repository holds no deltas; the test does not cover them")
	}
}

// encodeV2Request writes a request back in canonical form.
func encodeV2Request(r *v2Request) []byte {
	var b bytes.Buffer
	writePkt(&b, "command="+r.command+"\n")
	if r.agent != "" {
		writePkt(&b, "agent="+r.agent+"\n")
	}
	for _, o := range r.serverOptions {
		writePkt(&b, "server-option="+o+"\n")
	}
	writeDelim(&b)
	for _, a := range r.args {
		writePkt(&b, a+"\n")
	}
	writeFlush(&b)
	return b.Bytes()
}

// encodeFetchArgs writes parsed fetch arguments back in canonical form.
func encodeFetchArgs(r *uploadRequest) []string {
	var a []string
	for _, h := range r.wants {
		a = append(a, "want "+h.String())
	}
	for _, n := range r.wantRefs {
		a = append(a, "want-ref "+n)
	}
	for _, h := range r.haves {
		a = append(a, "have "+h.String())
	}
	for _, h := range r.clientShallows {
		a = append(a, "shallow "+h.String())
	}
	if r.depth > 0 {
		a = append(a, fmt.Sprintf("deepen %d", r.depth))
	}
	if r.deepenSince > 0 {
		a = append(a, fmt.Sprintf("deepen-since %d", r.deepenSince))
	}
	for _, n := range r.deepenNot {
		a = append(a, "deepen-not "+n)
	}
	if r.filter != nil {
		a = append(a, "filter "+r.filter.spec)
	}
	for _, c := range []string{"thin-pack", "ofs-delta", "no-progress", "include-tag", "deepen-relative"} {
		if r.caps.has(c) {
			a = append(a, c)
		}
	}
	for c, on := range map[string]bool{"done": r.done, "wait-for-done": r.waitForDone, "sideband-all": r.sidebandAll} {
		if on {
			a = append(a, c)
		}
	}
	return a
}

// FuzzParseV2Request feeds arbitrary bytes to the v2 request reader and
// the command argument parsers. Whatever they accept must come out the
// same when written back in canonical form and read again.
func FuzzParseV2Request(f *testing.F) {
	h := strings.Repeat("a1", 20)
	f.Add(v2Body("command=ls-refs", "agent=git/2.39.5", "object-format=sha1", "|", "peel", "symrefs", "unborn", "ref-prefix refs/heads/", ""))
	f.Add(v2Body("command=fetch", "agent=git/2.39.5", "server-option=x", "|", "thin-pack", "ofs-delta", "want "+h, "have "+h, "done", ""))
	f.Add(v2Body("command=fetch", "|", "want-ref refs/heads/main", "deepen 3", "deepen-relative", "shallow "+h, "filter combine:blob:none+tree:2", "sideband-all", ""))
	f.Add(v2Body("command=fetch", "|", "want "+h, "deepen-since 1700000000", "deepen-not main", "wait-for-done", ""))
	f.Add(v2Body(""))
	f.Add([]byte("0014command=ls-refs\n0002"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := readV2Request(newPktReader(bufio.NewReader(bytes.NewReader(data))), maxNegotiationBody)
		if err != nil || req == nil {
			return
		}
		again, err := readV2Request(newPktReader(bufio.NewReader(bytes.NewReader(encodeV2Request(req)))), maxNegotiationBody)
		if err != nil || !reflect.DeepEqual(req, again) {
			t.Fatalf("request %+v read back as %+v, %v", req, again, err)
		}
		switch req.command {
		case "ls-refs":
			if args, err := parseLsRefsArgs(req.args); err == nil && len(args.prefixes) > maxRefPrefixes {
				t.Fatalf("%d ref prefixes kept", len(args.prefixes))
			}
		case "fetch":
			args, err := parseFetchArgs(req.args)
			if err != nil {
				return
			}
			if args.depth < 0 || args.deepenSince < 0 || args.depth > 0 && (args.deepenSince > 0 || len(args.deepenNot) > 0) {
				t.Fatalf("accepted inconsistent deepen arguments: %+v", args)
			}
			for _, n := range args.wantRefs {
				if n != "HEAD" && checkRefName(n) != nil {
					t.Fatalf("accepted want-ref %q", n)
				}
			}
			back, err := parseFetchArgs(encodeFetchArgs(args))
			if err != nil {
				t.Fatalf("canonical form of %q does not parse: %v", req.args, err)
			}
			if !reflect.DeepEqual(normalizeFetch(args), normalizeFetch(back)) {
				t.Fatalf("fetch arguments %q read back differently:\n%+v\n%+v", req.args, args, back)
			}
		}
	})
}

// normalizeFetch drops what canonical form does not keep: repeated
// deepen lines (the last wins) and the filter's spelling.
func normalizeFetch(r *uploadRequest) uploadRequest {
	c := *r
	if c.filter != nil {
		f := *c.filter
		f.spec = ""
		c.filter = &f
	}
	return c
}
