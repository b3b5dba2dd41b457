package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAPIEdges pins answers at the edges of the HTTP contract: the API
// never redirects or answers HTML, huge page numbers are just past the
// end, absurd refs are unknown refs, and every 401 says how to
// authenticate.
func TestAPIEdges(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "edge")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "pub", "auto_init": true})
	me.createRepo(map[string]any{"name": "priv", "visibility": "private", "auto_init": true})
	repo := "/api/v1/repos/" + u.Name

	t.Run("no redirects", func(t *testing.T) {
		for _, c := range []struct {
			client       *client
			method, path string
		}{
			{me, "GET", repo + "/pub/archive"},
			{shared.as(t, ""), "GET", repo + "/priv/archive"},
			{me, "GET", "/api/v1//user"},
			{me, "POST", "/api/v1//user/repos"},
			{me, "GET", "/api/v1/user/../user"},
		} {
			r := c.client.do(c.method, c.path, nil)
			if r.Status != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Header.Get("Location") != "" {
				t.Errorf("%s %s: %d %q %q %s", c.method, c.path, r.Status, r.Header.Get("Content-Type"), r.Header.Get("Location"), r.Body)
			}
		}
	})

	t.Run("huge pages are past the end", func(t *testing.T) {
		for _, path := range []string{repo + "/pub/branches", "/api/v1/user/repos", "/api/v1/users/" + u.Name + "/repos", repo + "/pub/issues", "/api/v1/user/api_tokens"} {
			for _, pg := range []string{"9223372036854775807", "184467440737095517", "2147483648"} {
				if l := me.must(http.StatusOK, "GET", path+"?per_page=100&page="+pg, nil).list(t); len(l) != 0 {
					t.Errorf("%s page %s: %d items", path, pg, len(l))
				}
			}
			me.must(http.StatusUnprocessableEntity, "GET", path+"?page=99999999999999999999999", nil)
		}
	})

	t.Run("overlong refs are unknown", func(t *testing.T) {
		long := strings.Repeat("a", 300)
		r := me.must(http.StatusNotFound, "GET", repo+"/pub/archive/"+long, nil)
		if !strings.Contains(string(r.Body), "Ref not found") {
			t.Errorf("archive: %s", r.Body)
		}
		me.must(http.StatusNotFound, "GET", repo+"/pub/branches/"+long, nil)
		me.must(http.StatusNotFound, "GET", repo+"/pub/branches/"+strings.Repeat("d/", 200)+"x", nil)
	})

	t.Run("401 always has WWW-Authenticate", func(t *testing.T) {
		anon := shared.as(t, "")
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/user"},
			{"PATCH", repo + "/pub"},
			{"GET", "/api/v1/user/api_tokens"},
		} {
			r := anon.must(http.StatusUnauthorized, c.method, c.path, nil)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", c.method, c.path, r.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("tokens and keys paginate", func(t *testing.T) {
		for range 2 {
			me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": uniqueName("t"), "scopes": []string{"read"}})
		}
		r := me.must(http.StatusOK, "GET", "/api/v1/user/api_tokens?per_page=1&page=2", nil)
		if l := r.list(t); len(l) != 1 || r.Header.Get("X-Total-Count") == "" || !strings.Contains(r.Header.Get("Link"), `rel="last"`) {
			t.Errorf("tokens page: %v %v", l, r.Header)
		}
		r = me.must(http.StatusOK, "GET", "/api/v1/user/ssh_keys?per_page=1", nil)
		if r.Header.Get("X-Total-Count") != "0" {
			t.Errorf("keys page headers: %v", r.Header)
		}
		me.must(http.StatusUnprocessableEntity, "GET", "/api/v1/user/ssh_keys?page=0", nil)
	})
}
