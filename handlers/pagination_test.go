package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestSmallListsPaginate: lists built in memory follow the same page
// contract (SPEC §4) as the SQL-backed ones: Link, X-Total-Count, and 422
// for a page or per_page that is not a positive integer.
func TestSmallListsPaginate(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "pgown")
	me := shared.as(t, owner.Token)
	others := []testUser{shared.register(t, "pga"), shared.register(t, "pgb"), shared.register(t, "pgc")}

	org := ""
	for range 3 {
		org = newOrg(t, owner, nil)
	}
	me.createRepo(map[string]any{"name": "lib", "auto_init": true})
	repo := "/api/v1/repos/" + owner.Name + "/lib"
	for _, u := range others {
		me.must(http.StatusOK, "PUT", repo+"/collaborators/"+u.Name, nil)
		me.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+u.Name, nil)
		// Endorse three different users, so there are three groups.
		me.must(http.StatusOK, "PUT", repo+"/reputations/"+u.Name, map[string]any{"score": 1})
		me.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/reputations/"+u.Name, map[string]any{"score": 1})
	}

	for _, path := range []string{
		"/api/v1/user/orgs",
		repo + "/collaborators",
		repo + "/reputations",
		"/api/v1/orgs/" + org + "/reputations",
	} {
		all := me.must(http.StatusOK, "GET", path, nil).list(t)
		if len(all) != 3 {
			t.Errorf("%s: %d items, want 3", path, len(all))
			continue
		}
		r := me.must(http.StatusOK, "GET", path+"?per_page=1&page=2", nil)
		page := r.list(t)
		if len(page) != 1 || !sameJSON(page[0], all[1]) {
			t.Errorf("%s page 2: %v, want [%v]", path, page, all[1])
		}
		if r.Header.Get("X-Total-Count") != "3" || !strings.Contains(r.Header.Get("Link"), `page=3&per_page=1>; rel="last"`) {
			t.Errorf("%s headers: X-Total-Count %q Link %q", path, r.Header.Get("X-Total-Count"), r.Header.Get("Link"))
		}
		if l := me.must(http.StatusOK, "GET", path+"?page=9", nil).list(t); len(l) != 0 {
			t.Errorf("%s past the end: %v", path, l)
		}
		for _, bad := range []string{"?page=0", "?per_page=abc", "?per_page=-1"} {
			me.must(http.StatusUnprocessableEntity, "GET", path+bad, nil)
		}
	}
}

// TestOrgBodiesAndJSONShape: PATCH takes the nested form POST takes, and a
// body that is JSON but not an object is a 400 that names no Go types.
func TestOrgBodiesAndJSONShape(t *testing.T) {
	t.Parallel()
	owner, outsider := shared.register(t, "obown"), shared.register(t, "obout")
	me := shared.as(t, owner.Token)
	org := newOrg(t, owner, nil)
	got := me.must(http.StatusOK, "PATCH", "/api/v1/orgs/"+org, map[string]any{"organization": map[string]any{"display_name": "Nested Inc"}}).obj(t)
	if got["display_name"] != "Nested Inc" {
		t.Errorf("nested PATCH: %v", got)
	}
	for _, body := range []string{`"admin"`, `[]`, `42`, `true`} {
		r := me.must(http.StatusBadRequest, "POST", "/api/v1/orgs", body)
		msg := r.obj(t)["error"].(string)
		if !strings.Contains(msg, "must be a JSON object") || strings.Contains(msg, "handlers.") || strings.Contains(msg, "Go ") {
			t.Errorf("body %s: %q", body, msg)
		}
	}
	// Org reputation needs membership for every verb (the seed: "any org member").
	shared.as(t, outsider.Token).must(http.StatusForbidden, "DELETE", "/api/v1/orgs/"+org+"/reputations/"+owner.Name, nil)
	shared.as(t, "").must(http.StatusUnauthorized, "DELETE", "/api/v1/orgs/"+org+"/reputations/"+owner.Name, nil)
}

func sameJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
