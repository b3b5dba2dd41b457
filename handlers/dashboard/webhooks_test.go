package dashboard

import (
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBodyView(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, c := range []struct {
		name, ct, in string
		limit        int
		text         string
		truncated    bool
		binary       bool
	}{
		{"empty", "application/json", "", 10, "", false, false},
		{"json indented", "application/json", `{"a":1,"b":[true]}`, 1000, "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}", false, false},
		{"json without its type", "text/plain", `{"ok":true}`, 1000, "{\n  \"ok\": true\n}", false, false},
		{"form payload", "application/x-www-form-urlencoded", "payload=%7B%22a%22%3A1%7D", 1000, "{\n  \"a\": 1\n}", false, false},
		{"plain text", "text/html; charset=utf-8", "<h1>Bad gateway</h1>", 1000, "<h1>Bad gateway</h1>", false, false},
		{"cut on a character boundary", "text/plain", long, 51, strings.Repeat("é", 25), true, false},
		{"stored start ending mid-character", "text/plain", long[:199], 1000, strings.Repeat("é", 99), false, false},
		{"binary", "application/octet-stream", "\x00\xff\xfe\x89PNG", 1000, "", false, true},
	} {
		v := bodyView([]byte(c.in), c.ct, c.limit)
		if v.Text != c.text || v.Truncated != c.truncated || v.Binary != c.binary || v.Bytes != len(c.in) {
			t.Errorf("%s: %+v", c.name, v)
		}
		if !utf8.ValidString(v.Text) {
			t.Errorf("%s: not UTF-8: %q", c.name, v.Text)
		}
	}
}

func TestVolumeSpace(t *testing.T) {
	free, total, ok := volumeSpace(t.TempDir())
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "dragonfly":
		if !ok || total <= 0 || free < 0 || free > total {
			t.Fatalf("free %d of %d (%v)", free, total, ok)
		}
	default:
		if ok {
			t.Fatalf("%s reported space it cannot know", runtime.GOOS)
		}
	}
	if _, _, ok := volumeSpace("/no/such/directory/at/all"); ok {
		t.Fatal("a missing directory has a volume")
	}
}
