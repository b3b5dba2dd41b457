package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestDeployKeyAPI: GitHub's /repos/{owner}/{repo}/keys, for repository
// administrators. (TestGitOverSSH uses the keys.)
func TestDeployKeyAPI(t *testing.T) {
	t.Parallel()
	owner, writer := shared.register(t, "dkown"), shared.register(t, "dkwrite")
	oc := shared.as(t, owner.Token)
	oc.createRepo(map[string]any{"name": "site"})
	base := "/api/v1/repos/" + owner.Name + "/site"
	oc.must(http.StatusOK, "PUT", base+"/collaborators/"+writer.Name, map[string]any{"permission": "write"})

	key, fp := newSSHKey(t, "ci@runner")
	k := oc.must(http.StatusCreated, "POST", base+"/keys", map[string]any{"title": "ci", "key": key}).obj(t)
	id := ftoa(k["id"].(float64))
	// Read-only unless asked; the key without its comment, as SSH keys.
	if k["title"] != "ci" || k["key"] != strings.TrimSuffix(key, " ci@runner") || k["fingerprint"] != fp ||
		k["read_only"] != true || k["added_by"] != owner.Name || k["url"] != shared.URL+base+"/keys/"+id {
		t.Errorf("key %v", k)
	}
	if got := oc.must(http.StatusOK, "GET", base+"/keys/"+id, nil).obj(t); got["id"] != k["id"] {
		t.Errorf("get %v", got)
	}
	key2, _ := newSSHKey(t, "")
	if w := oc.must(http.StatusCreated, "POST", base+"/keys", map[string]any{"name": "deploy", "public_key": key2, "read_only": false}).obj(t); w["read_only"] != false {
		t.Errorf("writable key %v", w)
	}
	if l := oc.must(http.StatusOK, "GET", base+"/keys", nil).list(t); len(l) != 2 || l[0]["title"] != "ci" {
		t.Errorf("list %v", l)
	}

	// Bad input changes nothing: a key already in use (here, on another
	// repository; a user's key counts too), not a key, no title.
	oc.createRepo(map[string]any{"name": "other"})
	for _, c := range []struct {
		body  map[string]any
		field string
		msg   string
	}{
		{map[string]any{"title": "again", "key": key}, "key", "is already in use"},
		{map[string]any{"title": "bad", "key": "ssh-ed25519 AAAAnotakey"}, "key", "not an OpenSSH public key"},
		{map[string]any{"key": key2}, "title", "can't be blank"},
	} {
		r := oc.must(http.StatusUnprocessableEntity, "POST", "/api/v1/repos/"+owner.Name+"/other/keys", c.body)
		if msgs := errField(t, r, c.field); len(msgs) == 0 || !strings.Contains(fmt.Sprint(msgs[0]), c.msg) {
			t.Errorf("%v: %s", c.body, r.Body)
		}
	}
	if l := oc.must(http.StatusOK, "GET", "/api/v1/repos/"+owner.Name+"/other/keys", nil).list(t); len(l) != 0 {
		t.Errorf("refused keys were stored: %v", l)
	}
	r := shared.as(t, writer.Token).must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/ssh_keys", map[string]any{"title": "mine", "key": key})
	if !strings.Contains(string(r.Body), "has already been taken") {
		t.Errorf("deploy key as a user key: %s", r.Body)
	}

	// Writers may not manage keys; a key of another repository is not found.
	shared.as(t, writer.Token).must(http.StatusForbidden, "POST", base+"/keys", map[string]any{"title": "w", "key": key2})
	oc.must(http.StatusNotFound, "GET", "/api/v1/repos/"+owner.Name+"/other/keys/"+id, nil)
	oc.must(http.StatusNotFound, "DELETE", "/api/v1/repos/"+owner.Name+"/other/keys/"+id, nil)
	oc.must(http.StatusNoContent, "DELETE", base+"/keys/"+id, nil)
	oc.must(http.StatusNotFound, "GET", base+"/keys/"+id, nil)
}
