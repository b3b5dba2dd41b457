package handlers_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestInputThatMustBeRefused: control characters, line breaks in single
// lines and bidirectional overrides in titles, names and labels; JSON that
// is not UTF-8; and a header with a control character, which gets the
// API's JSON 400 rather than net/http's plain text. Nothing is created.
func TestInputThatMustBeRefused(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "input")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "in"})
	base := "/api/v1/repos/" + u.Name + "/in"
	for _, c := range []struct {
		path, field string
		body        map[string]any
	}{
		{base + "/issues", "title", map[string]any{"title": "nul\x00here"}},
		{base + "/issues", "title", map[string]any{"title": "two\nlines"}},
		{base + "/issues", "title", map[string]any{"title": "carriage\rreturn"}},
		{base + "/issues", "title", map[string]any{"title": "admin\u202etxt.exe"}},
		{base + "/issues", "body", map[string]any{"title": "ok", "body": "nul\x00"}},
		{base + "/labels", "name", map[string]any{"name": "bidi\u2066x", "color": "#fff"}},
		{base + "/labels", "description", map[string]any{"name": "fine", "color": "#fff", "description": "a\nb"}},
		{"/api/v1/user/api_tokens", "name", map[string]any{"name": "tab\there"}},
		{"/api/v1/user/repos", "description", map[string]any{"name": "d", "description": "x\u202ey"}},
	} {
		r := me.do("POST", c.path, c.body)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"`+c.field+`"`) {
			t.Errorf("%s %v: %d %s", c.path, c.body, r.Status, r.Body)
		}
	}
	if l := me.must(http.StatusOK, "GET", base+"/issues?state=all", nil).list(t); len(l) != 0 {
		t.Errorf("refused issues were created: %v", l)
	}
	// Invalid UTF-8 is a 400, not text with U+FFFD in it.
	r := me.do("POST", base+"/issues", []byte("{\"title\": \"caf\xe9\"}"))
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "UTF-8") {
		t.Errorf("invalid UTF-8: %d %s", r.Status, r.Body)
	}
	// A control character in a header: JSON, like every API answer.
	c, err := net.Dial("tcp", strings.TrimPrefix(shared.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/v1/user HTTP/1.1\r\nHost: x\r\nX-Thing: a\x01b\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(body.String(), `{"error":`) {
		t.Errorf("control character in a header: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body.String())
	}
}
