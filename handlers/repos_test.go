package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tapioca/handlers"
)

func TestCreateRepo(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "repo")
	me := shared.as(t, u.Token)
	repo := me.createRepo(map[string]any{"name": "new-project", "description": "My new project", "visibility": "public", "auto_init": true})
	want := map[string]any{
		"name": "new-project", "full_name": u.Name + "/new-project", "description": "My new project",
		"visibility": "public", "default_branch": "master",
		"clone_url":                shared.URL + "/" + u.Name + "/new-project.git",
		"open_issues_count":        0.0,
		"open_pull_requests_count": 0.0,
		"vouch_count":              0.0,
	}
	for k, v := range want {
		if repo[k] != v {
			t.Errorf("%s = %v, want %v", k, repo[k], v)
		}
	}
	if repo["ssh_url"] != "git@127.0.0.1:"+u.Name+"/new-project.git" {
		t.Errorf("ssh_url %v", repo["ssh_url"])
	}
	owner := repo["owner"].(map[string]any)
	if owner["username"] != u.Name || owner["kind"] != "human" || owner["id"].(float64) != float64(u.ID) {
		t.Errorf("owner %v", owner)
	}
	// auto_init made one commit on master with a README.
	branches := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/new-project/branches", nil).list(t)
	if len(branches) != 1 || branches[0]["name"] != "master" || len(branches[0]["sha"].(string)) != 40 || branches[0]["protected"] != false {
		t.Fatalf("branches %v", branches)
	}
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "new-project"), "w")
	readme, err := os.ReadFile(filepath.Join(dir, "w", "README.md"))
	if err != nil || !strings.Contains(string(readme), "new-project") {
		t.Errorf("README %q %v", readme, err)
	}

	// Without auto_init: empty, no branches, custom default branch, private.
	repo = me.createRepo(map[string]any{"name": "empty.repo_1", "visibility": "private", "default_branch": "main"})
	if repo["visibility"] != "private" || repo["default_branch"] != "main" || repo["description"] != nil {
		t.Errorf("private repo %v", repo)
	}
	if b := me.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/empty.repo_1/branches", nil).list(t); len(b) != 0 {
		t.Errorf("empty repo branches %v", b)
	}
}

func TestCreateRepoValidation(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "repoval")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "exists"})
	cases := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "name"},
		{map[string]any{"name": "bad name"}, "name"},
		{map[string]any{"name": "x.git"}, "name"},
		{map[string]any{"name": ".."}, "name"},
		{map[string]any{"name": strings.Repeat("a", 101)}, "name"},
		{map[string]any{"name": "EXISTS"}, "name"},
		{map[string]any{"name": "ok1", "visibility": "secret"}, "visibility"},
		{map[string]any{"name": "ok2", "default_branch": "bad..branch"}, "default_branch"},
		{map[string]any{"name": "ok3", "description": strings.Repeat("d", 1001)}, "description"},
	}
	for _, tc := range cases {
		r := me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/repos", tc.body)
		if _, ok := r.obj(t)["errors"].(map[string]any)[tc.field]; !ok {
			t.Errorf("%v: errors %s, want field %s", tc.body, r.Body, tc.field)
		}
	}
	shared.as(t, "").must(http.StatusUnauthorized, "POST", "/api/v1/user/repos", map[string]any{"name": "anon"})
}

func TestRepoLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *handlers.Config) { c.MaxReposPerUser = 2 })
	u := s.register(t, "limit")
	me := s.as(t, u.Token)
	me.createRepo(map[string]any{"name": "a"})
	me.createRepo(map[string]any{"name": "b"})
	r := me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/repos", map[string]any{"name": "c"})
	if !strings.Contains(string(r.Body), "at most 2 repositories") {
		t.Errorf("limit body %s", r.Body)
	}
}

func TestListRepos(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "list")
	me := shared.as(t, u.Token)
	for _, n := range []string{"charlie", "alpha", "bravo"} {
		me.createRepo(map[string]any{"name": n})
	}
	me.createRepo(map[string]any{"name": "delta", "visibility": "private"})

	names := func(l []map[string]any) string {
		var out []string
		for _, r := range l {
			out = append(out, r["name"].(string))
		}
		return strings.Join(out, ",")
	}
	cases := []struct{ query, want string }{
		{"", "delta,bravo,alpha,charlie"},
		{"?direction=asc", "charlie,alpha,bravo,delta"},
		{"?sort=name&direction=asc", "alpha,bravo,charlie,delta"},
		{"?sort=name", "delta,charlie,bravo,alpha"},
		{"?visibility=private", "delta"},
		{"?visibility=public&sort=name&direction=asc", "alpha,bravo,charlie"},
	}
	for _, tc := range cases {
		got := names(me.must(http.StatusOK, "GET", "/api/v1/user/repos"+tc.query, nil).list(t))
		if got != tc.want {
			t.Errorf("GET /user/repos%s = %s, want %s", tc.query, got, tc.want)
		}
	}
	for _, bad := range []string{"?visibility=secret", "?sort=size", "?direction=up", "?page=0", "?per_page=x"} {
		me.must(http.StatusUnprocessableEntity, "GET", "/api/v1/user/repos"+bad, nil)
	}

	// Pagination headers.
	r := me.must(http.StatusOK, "GET", "/api/v1/user/repos?sort=name&direction=asc&per_page=2&page=2", nil)
	if got := names(r.list(t)); got != "charlie,delta" {
		t.Errorf("page 2 = %s", got)
	}
	if r.Header.Get("X-Total-Count") != "4" {
		t.Errorf("X-Total-Count %q", r.Header.Get("X-Total-Count"))
	}
	link := r.Header.Get("Link")
	for _, want := range []string{
		`<` + shared.URL + `/api/v1/user/repos?direction=asc&page=1&per_page=2&sort=name>; rel="first"`,
		`<` + shared.URL + `/api/v1/user/repos?direction=asc&page=1&per_page=2&sort=name>; rel="prev"`,
		`<` + shared.URL + `/api/v1/user/repos?direction=asc&page=2&per_page=2&sort=name>; rel="last"`,
	} {
		if !strings.Contains(link, want) {
			t.Errorf("Link %q lacks %q", link, want)
		}
	}
	if strings.Contains(link, `rel="next"`) {
		t.Errorf("last page has a next link: %s", link)
	}
	// per_page above 100 is capped.
	r = me.must(http.StatusOK, "GET", "/api/v1/user/repos?per_page=500", nil)
	if !strings.Contains(r.Header.Get("Link"), "per_page=100") {
		t.Errorf("per_page not capped: %s", r.Header.Get("Link"))
	}

	// Public listing: only public repositories, for everyone, even the owner.
	for _, c := range []*client{shared.as(t, ""), me} {
		got := names(c.must(http.StatusOK, "GET", "/api/v1/users/"+u.Name+"/repos?sort=name&direction=asc", nil).list(t))
		if got != "alpha,bravo,charlie" {
			t.Errorf("public list = %s", got)
		}
	}
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/users/"+uniqueName("nobody")+"/repos", nil)
}

func TestRepoVisibility(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "vis")
	other := shared.register(t, "other")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "secret", "visibility": "private"})
	me.createRepo(map[string]any{"name": "open"})
	priv := "/api/v1/repos/" + owner.Name + "/secret"
	pub := "/api/v1/repos/" + owner.Name + "/open"
	admin := shared.adminToken(t)

	type call struct {
		who    string
		method string
		path   string
		body   any
		want   int
	}
	tokens := map[string]string{"anon": "", "other": other.Token, "owner": owner.Token, "admin": admin}
	calls := []call{
		{"anon", "GET", priv, nil, 404},
		{"other", "GET", priv, nil, 404},
		{"owner", "GET", priv, nil, 200},
		{"admin", "GET", priv, nil, 200},
		{"anon", "GET", priv + "/branches", nil, 404},
		{"other", "GET", priv + "/branches", nil, 404},
		{"other", "PATCH", priv, map[string]any{"description": "x"}, 404},
		{"other", "DELETE", priv, nil, 404},
		{"anon", "GET", pub, nil, 200},
		{"anon", "PATCH", pub, map[string]any{"description": "x"}, 401},
		{"other", "PATCH", pub, map[string]any{"description": "x"}, 403},
		{"other", "DELETE", pub, nil, 403},
		{"admin", "PATCH", pub, map[string]any{"description": "by admin"}, 200},
	}
	for _, c := range calls {
		r := shared.as(t, tokens[c.who]).do(c.method, c.path, c.body)
		if r.Status != c.want {
			t.Errorf("%s %s %s = %d, want %d (%s)", c.who, c.method, c.path, r.Status, c.want, r.Body)
		}
		if r.Status == 404 && strings.Contains(string(r.Body), "secret") {
			t.Errorf("404 body leaks the name: %s", r.Body)
		}
	}
}

func TestUpdateRepo(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "upd")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "proj", "auto_init": true})
	base := "/api/v1/repos/" + u.Name + "/proj"
	r := me.must(http.StatusOK, "PATCH", base, map[string]any{"description": "An even more awesome library", "visibility": "private"}).obj(t)
	if r["description"] != "An even more awesome library" || r["visibility"] != "private" {
		t.Errorf("patched %v", r)
	}
	me.must(http.StatusUnprocessableEntity, "PATCH", base, map[string]any{"default_branch": "develop"})
	me.must(http.StatusUnprocessableEntity, "PATCH", base, map[string]any{"visibility": "internal"})

	// Make a develop branch over git and switch the default to it.
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "proj"), "w")
	runGit(t, filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD:refs/heads/develop")
	r = me.must(http.StatusOK, "PATCH", base, map[string]any{"default_branch": "develop"}).obj(t)
	if r["default_branch"] != "develop" {
		t.Errorf("default_branch %v", r["default_branch"])
	}
	out := runGit(t, dir, "clone", shared.gitURL(u.Token, u.Name, "proj"), "w2")
	if head := strings.TrimSpace(runGit(t, filepath.Join(dir, "w2"), "rev-parse", "--abbrev-ref", "HEAD")); head != "develop" {
		t.Errorf("fresh clone is on %s, want develop (%s)", head, out)
	}

	// Rename: the old name is gone, the new one works, even over git.
	me.must(http.StatusOK, "PATCH", base, map[string]any{"name": "proj2"})
	me.must(http.StatusNotFound, "GET", base, nil)
	me.must(http.StatusOK, "GET", base+"2", nil)
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, u.Name, "proj2"), "w3")
	me.createRepo(map[string]any{"name": "taken"})
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"2", map[string]any{"name": "taken"})
}

func TestDeleteRepo(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "del")
	me := shared.as(t, u.Token)
	repo := me.createRepo(map[string]any{"name": "doomed", "auto_init": true})
	path := filepath.Join(shared.Dir, "repos", ftoa(repo["id"].(float64))+".git")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("repository not on disk: %v", err)
	}
	base := "/api/v1/repos/" + u.Name + "/doomed"

	// A repo-scoped token may not delete (that needs admin); an admin-scoped one may.
	repoTok := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "r", "scopes": []string{"repo"}}).obj(t)["token"].(string)
	shared.as(t, repoTok).must(http.StatusForbidden, "DELETE", base, nil)
	shared.as(t, repoTok).must(http.StatusOK, "GET", base, nil)
	adminTok := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "a", "scopes": []string{"admin"}}).obj(t)["token"].(string)
	shared.as(t, adminTok).must(http.StatusNoContent, "DELETE", base, nil)
	me.must(http.StatusNotFound, "GET", base, nil)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("repository still on disk: %v", err)
	}
	// The name is free again.
	me.createRepo(map[string]any{"name": "doomed"})
}

func TestScopes(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "scope")
	me := shared.as(t, u.Token)
	mk := func(scopes ...string) *client {
		tok := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "s", "scopes": scopes}).obj(t)["token"].(string)
		return shared.as(t, tok)
	}
	read, write, repo := mk("read"), mk("write"), mk("repo")
	read.must(http.StatusOK, "GET", "/api/v1/user/repos", nil)
	read.must(http.StatusForbidden, "POST", "/api/v1/user/repos", map[string]any{"name": "r1"})
	write.must(http.StatusForbidden, "GET", "/api/v1/user", nil)
	write.must(http.StatusCreated, "POST", "/api/v1/user/repos", map[string]any{"name": "w1"})
	repo.must(http.StatusCreated, "POST", "/api/v1/user/repos", map[string]any{"name": "r2"})
	repo.must(http.StatusOK, "GET", "/api/v1/repos/"+u.Name+"/r2", nil)
	repo.must(http.StatusForbidden, "GET", "/api/v1/user", nil)
	repo.must(http.StatusForbidden, "PATCH", "/api/v1/user", map[string]any{"bio": "x"})
}
