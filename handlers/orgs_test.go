package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newOrg creates an organization owned by owner and returns its name.
func newOrg(t *testing.T, owner testUser, body map[string]any) string {
	t.Helper()
	name := uniqueName("org")
	if body == nil {
		body = map[string]any{}
	}
	body["username"] = name
	shared.as(t, owner.Token).must(http.StatusCreated, "POST", "/api/v1/orgs", body)
	return name
}

func TestOrganizations(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "orgown")
	me := shared.as(t, owner.Token)
	name := uniqueName("acme")
	o := me.must(http.StatusCreated, "POST", "/api/v1/orgs", map[string]any{
		"username": name, "display_name": "Acme Corporation", "bio": "Building the future of widgets"}).obj(t)
	for k, want := range map[string]any{"username": name, "display_name": "Acme Corporation", "bio": "Building the future of widgets",
		"url": nil, "vouch_count": 0.0, "reputation": 0.0} {
		if o[k] != want {
			t.Errorf("org.%s = %v, want %v", k, o[k], want)
		}
	}
	// Anyone can read it, case-insensitively.
	got := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/orgs/"+strings.ToUpper(name), nil).obj(t)
	if got["username"] != name {
		t.Errorf("GET org %v", got)
	}
	// A user's name is not an org, and orgs and users share one namespace.
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/orgs/"+owner.Name, nil)
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/orgs", map[string]any{"username": owner.Name})
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/orgs", map[string]any{"username": name})
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/orgs", map[string]any{"username": "no spaces"})
	shared.as(t, "").must(http.StatusUnauthorized, "POST", "/api/v1/orgs", map[string]any{"username": uniqueName("x")})
	rr := shared.as(t, "").do("POST", "/api/v1/users", map[string]any{
		"username": strings.ToUpper(name), "user": map[string]any{"email": uniqueName("e") + "@x.io", "password": "password123", "password_confirmation": "password123"}})
	if rr.Status != http.StatusUnprocessableEntity {
		t.Errorf("user with an org's name: %d %s", rr.Status, rr.Body)
	}

	// Members and roles.
	admin, member, outsider := shared.register(t, "oadm"), shared.register(t, "omem"), shared.register(t, "oout")
	base := "/api/v1/orgs/" + name
	m := me.must(http.StatusOK, "PUT", base+"/members/"+admin.Name, map[string]any{"role": "admin"}).obj(t)
	if m["role"] != "admin" || m["username"] != admin.Name || m["kind"] != "human" {
		t.Errorf("member %v", m)
	}
	shared.as(t, admin.Token).must(http.StatusOK, "PUT", base+"/members/"+member.Name, nil) // default role member
	members := me.must(http.StatusOK, "GET", base+"/members", nil).list(t)
	if len(members) != 3 || members[0]["role"] != "owner" || members[0]["username"] != owner.Name {
		t.Errorf("members %v", members)
	}
	if l := me.must(http.StatusOK, "GET", base+"/members?role=member", nil).list(t); len(l) != 1 || l[0]["username"] != member.Name {
		t.Errorf("role=member %v", l)
	}
	me.must(http.StatusUnprocessableEntity, "GET", base+"/members?role=boss", nil)
	me.must(http.StatusUnprocessableEntity, "PUT", base+"/members/"+member.Name, map[string]any{"role": "boss"})
	me.must(http.StatusNotFound, "PUT", base+"/members/"+uniqueName("ghost"), nil)
	// Admins manage members but cannot grant or touch ownership; members manage nothing.
	shared.as(t, admin.Token).must(http.StatusForbidden, "PUT", base+"/members/"+member.Name, map[string]any{"role": "owner"})
	shared.as(t, admin.Token).must(http.StatusForbidden, "DELETE", base+"/members/"+owner.Name, nil)
	shared.as(t, member.Token).must(http.StatusForbidden, "PUT", base+"/members/"+outsider.Name, nil)
	shared.as(t, outsider.Token).must(http.StatusForbidden, "PATCH", base, map[string]any{"bio": "x"})
	shared.as(t, member.Token).must(http.StatusForbidden, "PATCH", base, map[string]any{"bio": "x"})
	p := shared.as(t, admin.Token).must(http.StatusOK, "PATCH", base, map[string]any{"display_name": "Acme Corp", "url": "https://acme.example.com"}).obj(t)
	if p["display_name"] != "Acme Corp" || p["url"] != "https://acme.example.com" {
		t.Errorf("patched %v", p)
	}
	// The last owner can be neither removed nor demoted; with a second owner they can.
	r := me.must(http.StatusUnprocessableEntity, "DELETE", base+"/members/"+owner.Name, nil)
	if !strings.Contains(r.obj(t)["error"].(string), "last owner") {
		t.Errorf("last owner body %s", r.Body)
	}
	me.must(http.StatusUnprocessableEntity, "PUT", base+"/members/"+owner.Name, map[string]any{"role": "admin"})
	me.must(http.StatusOK, "PUT", base+"/members/"+admin.Name, map[string]any{"role": "owner"})
	me.must(http.StatusOK, "PUT", base+"/members/"+owner.Name, map[string]any{"role": "admin"})
	shared.as(t, admin.Token).must(http.StatusOK, "PUT", base+"/members/"+owner.Name, map[string]any{"role": "owner"})
	// A member may leave; removing a non-member is a 404.
	shared.as(t, member.Token).must(http.StatusNoContent, "DELETE", base+"/members/"+member.Name, nil)
	me.must(http.StatusNotFound, "DELETE", base+"/members/"+member.Name, nil)

	// /user/orgs
	orgs := shared.as(t, admin.Token).must(http.StatusOK, "GET", "/api/v1/user/orgs", nil).list(t)
	if len(orgs) != 1 || orgs[0]["username"] != name {
		t.Errorf("user/orgs %v", orgs)
	}
	if l := shared.as(t, outsider.Token).must(http.StatusOK, "GET", "/api/v1/user/orgs", nil).list(t); len(l) != 0 {
		t.Errorf("outsider orgs %v", l)
	}
}

func TestOrgRepos(t *testing.T) {
	t.Parallel()
	owner, member, outsider := shared.register(t, "orown"), shared.register(t, "ormem"), shared.register(t, "orout")
	org := newOrg(t, owner, nil)
	base := "/api/v1/orgs/" + org
	shared.as(t, owner.Token).must(http.StatusOK, "PUT", base+"/members/"+member.Name, nil)
	// Members may create; the repository belongs to the org.
	repo := shared.as(t, member.Token).must(http.StatusCreated, "POST", base+"/repos", map[string]any{
		"name": "widget-api", "description": "The Widget API", "visibility": "private"}).obj(t)
	if repo["full_name"] != org+"/widget-api" || repo["owner"].(map[string]any)["kind"] != "organization" {
		t.Errorf("org repo %v", repo)
	}
	shared.as(t, owner.Token).must(http.StatusCreated, "POST", base+"/repos", map[string]any{"name": "public-one", "auto_init": true})
	shared.as(t, outsider.Token).must(http.StatusForbidden, "POST", base+"/repos", map[string]any{"name": "nope"})
	// Members see private ones, others only public ones.
	if l := shared.as(t, member.Token).must(http.StatusOK, "GET", base+"/repos", nil).list(t); len(l) != 2 {
		t.Errorf("member sees %d repos", len(l))
	}
	l := shared.as(t, outsider.Token).must(http.StatusOK, "GET", base+"/repos", nil)
	if items := l.list(t); len(items) != 1 || items[0]["name"] != "public-one" || strings.Contains(string(l.Body), "widget-api") {
		t.Errorf("outsider sees %s", l.Body)
	}
	// Org members have write access: they can push.
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(member.Token, org, "public-one"), "w")
	commitFile(t, filepath.Join(dir, "w"), "x.txt", "x\n", "member commit")
	runGit(t, filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD")

	// Deleting the org (owner + admin scope) deletes its repositories.
	repoPath := filepath.Join(shared.Dir, "repos", ftoa(repo["id"].(float64))+".git")
	shared.as(t, member.Token).must(http.StatusForbidden, "DELETE", base, nil)
	tok := shared.as(t, owner.Token).must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "w", "scopes": []string{"write", "read"}}).obj(t)["token"].(string)
	shared.as(t, tok).must(http.StatusForbidden, "DELETE", base, nil)
	shared.as(t, owner.Token).must(http.StatusNoContent, "DELETE", base, nil)
	shared.as(t, owner.Token).must(http.StatusNotFound, "GET", base, nil)
	shared.as(t, owner.Token).must(http.StatusNotFound, "GET", "/api/v1/repos/"+org+"/widget-api", nil)
	if _, err := os.Stat(repoPath); !os.IsNotExist(err) {
		t.Errorf("org repository still on disk: %v", err)
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "longname")
	me := shared.as(t, u.Token)
	alias := uniqueName("ln")
	r := me.must(http.StatusOK, "PUT", "/api/v1/user/alias", map[string]any{"alias": alias}).obj(t)
	if r["name"] != u.Name || r["alias"] != alias {
		t.Errorf("alias response %v", r)
	}
	me.createRepo(map[string]any{"name": "proj", "auto_init": true, "visibility": "private"})
	// The alias resolves everywhere, and responses show canonical names.
	prof := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/users/"+alias, nil).obj(t)
	if prof["username"] != u.Name {
		t.Errorf("profile via alias %v", prof)
	}
	repo := me.must(http.StatusOK, "GET", "/api/v1/repos/"+alias+"/proj", nil).obj(t)
	if repo["full_name"] != u.Name+"/proj" {
		t.Errorf("repo via alias %v", repo)
	}
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/repos/"+alias+"/proj", nil)
	// Git through the alias, with the real client.
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(u.Token, alias, "proj"), "w")
	commitFile(t, filepath.Join(dir, "w"), "a.txt", "a\n", "via alias")
	runGit(t, filepath.Join(dir, "w"), "push", "-q", "origin", "HEAD")

	// Collisions: another's name or alias, one's own name, reserved, invalid.
	other := shared.register(t, "other")
	oc := shared.as(t, other.Token)
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{"alias": alias})
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{"alias": strings.ToUpper(u.Name)})
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{"alias": other.Name})
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{"alias": "admin"})
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{"alias": "bad_alias"})
	oc.must(http.StatusUnprocessableEntity, "PUT", "/api/v1/user/alias", map[string]any{})
	// Registration cannot take an alias either.
	shared.as(t, "").must(http.StatusUnprocessableEntity, "POST", "/api/v1/users", map[string]any{
		"username": alias, "user": map[string]any{"email": uniqueName("z") + "@x.io", "password": "password123", "password_confirmation": "password123"}})
	// Replacing the alias frees the old one; removing it makes it 404.
	alias2 := uniqueName("ln2")
	me.must(http.StatusOK, "PUT", "/api/v1/user/alias", map[string]any{"alias": alias2})
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/users/"+alias, nil)
	me.must(http.StatusNoContent, "DELETE", "/api/v1/user/alias", nil)
	me.must(http.StatusNotFound, "DELETE", "/api/v1/user/alias", nil)
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/users/"+alias2, nil)

	// Organization aliases: admins and owners only.
	org := newOrg(t, u, nil)
	oa := uniqueName("oa")
	oc.must(http.StatusForbidden, "PUT", "/api/v1/orgs/"+org+"/alias", map[string]any{"alias": oa})
	r = me.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/alias", map[string]any{"alias": oa}).obj(t)
	if r["name"] != org || r["alias"] != oa {
		t.Errorf("org alias %v", r)
	}
	if g := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/orgs/"+oa, nil).obj(t); g["username"] != org {
		t.Errorf("org via alias %v", g)
	}
	me.must(http.StatusCreated, "POST", "/api/v1/orgs/"+oa+"/repos", map[string]any{"name": "r"})
	if g := me.must(http.StatusOK, "GET", "/api/v1/repos/"+oa+"/r", nil).obj(t); g["full_name"] != org+"/r" {
		t.Errorf("org repo via alias %v", g)
	}
	me.must(http.StatusNoContent, "DELETE", "/api/v1/orgs/"+org+"/alias", nil)
	// A read-scoped token cannot manage aliases.
	tok := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "w", "scopes": []string{"write"}}).obj(t)["token"].(string)
	shared.as(t, tok).must(http.StatusForbidden, "PUT", "/api/v1/user/alias", map[string]any{"alias": uniqueName("q")})
}

func TestCollaborators(t *testing.T) {
	t.Parallel()
	owner, alice, bob := shared.register(t, "cown"), shared.register(t, "alice"), shared.register(t, "bob")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "lib", "visibility": "private", "auto_init": true})
	base := "/api/v1/repos/" + owner.Name + "/lib/collaborators"
	shared.as(t, alice.Token).must(http.StatusNotFound, "GET", base, nil)
	c := me.must(http.StatusOK, "PUT", base+"/"+alice.Name, nil).obj(t) // default write
	if c["permission"] != "write" || c["username"] != alice.Name || c["display_name"] != nil {
		t.Errorf("collaborator %v", c)
	}
	me.must(http.StatusOK, "PUT", base+"/"+bob.Name, map[string]any{"permission": "read"})
	list := shared.as(t, alice.Token).must(http.StatusOK, "GET", base, nil).list(t)
	if len(list) != 2 {
		t.Errorf("collaborators %v", list)
	}
	me.must(http.StatusUnprocessableEntity, "PUT", base+"/"+bob.Name, map[string]any{"permission": "owner"})
	me.must(http.StatusUnprocessableEntity, "PUT", base+"/"+owner.Name, nil)
	me.must(http.StatusNotFound, "PUT", base+"/"+uniqueName("nobody"), nil)
	// A write collaborator pushes; a read one clones but cannot push.
	dir := t.TempDir()
	runGit(t, dir, "clone", "-q", shared.gitURL(alice.Token, owner.Name, "lib"), "a")
	commitFile(t, filepath.Join(dir, "a"), "a.txt", "a\n", "alice")
	runGit(t, filepath.Join(dir, "a"), "push", "-q", "origin", "HEAD")
	runGit(t, dir, "clone", "-q", shared.gitURL(bob.Token, owner.Name, "lib"), "b")
	commitFile(t, filepath.Join(dir, "b"), "b.txt", "b\n", "bob")
	if out, err := tryGit(filepath.Join(dir, "b"), "push", "origin", "HEAD"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("read collaborator pushed: %v %s", err, out)
	}
	// Only admins manage collaborators; a collaborator may remove themselves.
	shared.as(t, alice.Token).must(http.StatusForbidden, "PUT", base+"/"+bob.Name, map[string]any{"permission": "admin"})
	shared.as(t, alice.Token).must(http.StatusForbidden, "DELETE", base+"/"+bob.Name, nil)
	shared.as(t, bob.Token).must(http.StatusNoContent, "DELETE", base+"/"+bob.Name, nil)
	shared.as(t, bob.Token).must(http.StatusNotFound, "GET", "/api/v1/repos/"+owner.Name+"/lib", nil)
	me.must(http.StatusNoContent, "DELETE", base+"/"+alice.Name, nil)
	me.must(http.StatusNotFound, "DELETE", base+"/"+alice.Name, nil)
}
