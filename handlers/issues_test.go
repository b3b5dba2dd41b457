package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestLabels(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "lab")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "lib"})
	base := "/api/v1/repos/" + u.Name + "/lib/labels"
	// New repositories start with bug and enhancement.
	list := shared.as(t, "").must(http.StatusOK, "GET", base, nil).list(t)
	if len(list) != 2 || list[0]["name"] != "bug" || list[0]["color"] != "#d73a4a" || list[0]["description"] != "Something isn't working" ||
		list[1]["name"] != "enhancement" || list[1]["color"] != "#a2eeef" || list[1]["description"] != "New feature or request" {
		t.Fatalf("default labels %v", list)
	}
	l := me.must(http.StatusCreated, "POST", base, map[string]any{"name": "priority:high", "color": "#E11D48", "description": "High priority issue"}).obj(t)
	if l["name"] != "priority:high" || l["color"] != "#e11d48" || l["description"] != "High priority issue" {
		t.Errorf("created %v", l)
	}
	// Colours are normalised; names with spaces work in paths.
	l = me.must(http.StatusCreated, "POST", base, map[string]any{"name": "needs review", "color": "0F0"}).obj(t)
	if l["color"] != "#00ff00" || l["description"] != nil {
		t.Errorf("short colour %v", l)
	}
	me.must(http.StatusOK, "GET", base+"/"+url.PathEscape("needs review"), nil)
	me.must(http.StatusOK, "GET", base+"/PRIORITY:HIGH", nil)
	cases := []map[string]any{
		{"name": "Priority:High", "color": "#000000"}, // case-insensitive duplicate
		{"name": "x", "color": "red"},
		{"name": "x"},
		{"color": "#000000"},
		{"name": "a,b", "color": "#000000"},
		{"name": strings.Repeat("n", 51), "color": "#000000"},
	}
	for _, c := range cases {
		me.must(http.StatusUnprocessableEntity, "POST", base, c)
	}
	up := me.must(http.StatusOK, "PATCH", base+"/priority:high", map[string]any{"color": "#dc2626"}).obj(t)
	if up["color"] != "#dc2626" || up["name"] != "priority:high" || up["description"] != "High priority issue" {
		t.Errorf("updated %v", up)
	}
	me.must(http.StatusOK, "PATCH", base+"/priority:high", map[string]any{"name": "p1"})
	me.must(http.StatusNotFound, "GET", base+"/priority:high", nil)
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/p1", map[string]any{"name": "BUG"})
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/p1", map[string]any{"color": "nope"})
	other := shared.register(t, "labo")
	shared.as(t, other.Token).must(http.StatusForbidden, "POST", base, map[string]any{"name": "z", "color": "#000"})
	shared.as(t, other.Token).must(http.StatusForbidden, "DELETE", base+"/p1", nil)
	me.must(http.StatusNoContent, "DELETE", base+"/p1", nil)
	me.must(http.StatusNotFound, "DELETE", base+"/p1", nil)
}

func TestIssues(t *testing.T) {
	t.Parallel()
	owner, alice, stranger := shared.register(t, "iown"), shared.register(t, "ialice"), shared.register(t, "istr")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "lib"})
	repoPath := "/api/v1/repos/" + owner.Name + "/lib"
	base := repoPath + "/issues"

	i := me.must(http.StatusCreated, "POST", base, map[string]any{
		"title": "Add support for JSON output", "body": "It would be useful.", "labels": []string{"enhancement"}, "assignees": []string{owner.Name}}).obj(t)
	if i["number"] != 1.0 || i["state"] != "open" || i["comments_count"] != 0.0 || i["closed_at"] != nil || i["body"] != "It would be useful." {
		t.Errorf("issue %v", i)
	}
	if a := i["author"].(map[string]any); a["username"] != owner.Name || a["kind"] != "human" {
		t.Errorf("author %v", a)
	}
	if l := i["labels"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "enhancement" || l[0].(map[string]any)["color"] != "#a2eeef" {
		t.Errorf("labels %v", l)
	}
	if as := i["assignees"].([]any); len(as) != 1 || as[0].(map[string]any)["username"] != owner.Name {
		t.Errorf("assignees %v", as)
	}
	// Any signed-in reader may open an issue (public repo); anonymous may not.
	i2 := shared.as(t, alice.Token).must(http.StatusCreated, "POST", base, map[string]any{"title": "Widget crashes on empty input"}).obj(t)
	if i2["number"] != 2.0 || i2["body"] != nil || len(i2["labels"].([]any)) != 0 {
		t.Errorf("second issue %v", i2)
	}
	shared.as(t, "").must(http.StatusUnauthorized, "POST", base, map[string]any{"title": "anon"})
	// Readers cannot set labels/assignees; bad labels and assignees are 422.
	shared.as(t, alice.Token).must(http.StatusForbidden, "POST", base, map[string]any{"title": "x", "labels": []string{"bug"}})
	r := me.must(http.StatusUnprocessableEntity, "POST", base, map[string]any{"title": "x", "labels": []string{"nope"}})
	if !strings.Contains(string(r.Body), `"labels"`) {
		t.Errorf("unknown label body %s", r.Body)
	}
	me.must(http.StatusUnprocessableEntity, "POST", base, map[string]any{"title": "x", "assignees": []string{uniqueName("ghost")}})
	me.must(http.StatusUnprocessableEntity, "POST", base, map[string]any{"title": "  "})
	me.must(http.StatusUnprocessableEntity, "POST", base, map[string]any{"title": strings.Repeat("t", 257)})

	// open_issues_count on the repository.
	if n := me.must(http.StatusOK, "GET", repoPath, nil).obj(t)["open_issues_count"]; n != 2.0 {
		t.Errorf("open_issues_count %v", n)
	}
	// The author (without write access) may edit and close their own issue; strangers may not.
	shared.as(t, stranger.Token).must(http.StatusForbidden, "PATCH", base+"/2", map[string]any{"title": "hijack"})
	c := shared.as(t, alice.Token).must(http.StatusOK, "PATCH", base+"/2", map[string]any{"state": "closed"}).obj(t)
	if c["state"] != "closed" || c["closed_at"] == nil {
		t.Errorf("closed %v", c)
	}
	me.must(http.StatusUnprocessableEntity, "PATCH", base+"/2", map[string]any{"state": "merged"})
	if n := me.must(http.StatusOK, "GET", repoPath, nil).obj(t)["open_issues_count"]; n != 1.0 {
		t.Errorf("open_issues_count after close %v", n)
	}
	o := me.must(http.StatusOK, "PATCH", base+"/2", map[string]any{"state": "open", "title": "Widget crashes on empty input (v2)", "body": "details"}).obj(t)
	if o["state"] != "open" || o["closed_at"] != nil || o["title"] != "Widget crashes on empty input (v2)" || o["body"] != "details" {
		t.Errorf("reopened %v", o)
	}
	me.must(http.StatusOK, "PATCH", base+"/2", map[string]any{"state": "closed"})
	me.must(http.StatusNotFound, "GET", base+"/99", nil)
	me.must(http.StatusNotFound, "GET", base+"/abc", nil)

	// Labels and assignees on an issue.
	me.must(http.StatusCreated, "POST", repoPath+"/labels", map[string]any{"name": "priority:high", "color": "#e11d48"})
	ls := me.must(http.StatusOK, "POST", base+"/1/labels", map[string]any{"labels": []string{"priority:high", "bug"}}).list(t)
	if len(ls) != 3 {
		t.Errorf("labels after add %v", ls)
	}
	me.must(http.StatusUnprocessableEntity, "POST", base+"/1/labels", map[string]any{"labels": []string{"nope"}})
	shared.as(t, alice.Token).must(http.StatusForbidden, "POST", base+"/1/labels", map[string]any{"labels": []string{"bug"}})
	me.must(http.StatusNoContent, "DELETE", base+"/1/labels/priority:high", nil)
	me.must(http.StatusNotFound, "DELETE", base+"/1/labels/priority:high", nil)
	me.must(http.StatusNotFound, "DELETE", base+"/1/labels/nope", nil)
	as := me.must(http.StatusOK, "POST", base+"/1/assignees", map[string]any{"assignees": []string{alice.Name, owner.Name}}).obj(t)
	if n := len(as["assignees"].([]any)); n != 2 || as["number"] != 1.0 || as["title"] != "Add support for JSON output" {
		t.Errorf("after assign %v", as)
	}
	as = me.must(http.StatusOK, "DELETE", base+"/1/assignees", map[string]any{"assignees": []string{owner.Name}}).obj(t)
	if a := as["assignees"].([]any); len(a) != 1 || a[0].(map[string]any)["username"] != alice.Name {
		t.Errorf("after unassign %v", as)
	}
	me.must(http.StatusUnprocessableEntity, "POST", base+"/1/assignees", map[string]any{})

	// List filters.
	me.must(http.StatusCreated, "POST", base, map[string]any{"title": "third", "labels": []string{"bug"}})
	numbers := func(q string) string {
		var out []string
		for _, it := range me.must(http.StatusOK, "GET", base+q, nil).list(t) {
			out = append(out, ftoa(it["number"].(float64)))
		}
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"":                              "3,1",
		"?state=closed":                 "2",
		"?state=all":                    "3,2,1",
		"?state=all&direction=asc":      "1,2,3",
		"?labels=bug":                   "3,1",
		"?labels=bug,enhancement":       "1",
		"?labels=BUG,enhancement":       "1",
		"?assignee=" + alice.Name:       "1",
		"?assignee=none":                "3",
		"?assignee=*":                   "1",
		"?state=all&per_page=1&page=2":  "2",
		"?state=all&labels=nonexistent": "",
	} {
		if got := numbers(q); got != want {
			t.Errorf("GET issues%s = %q, want %q", q, got, want)
		}
	}
	// Timestamps have one-second resolution, so which issue was updated
	// last depends on where second boundaries fell: check the order against
	// the updated_at values themselves (ties broken by number, newest first).
	byUpdated := me.must(http.StatusOK, "GET", base+"?state=all&sort=updated", nil).list(t)
	if len(byUpdated) != 3 {
		t.Fatalf("sort=updated returned %d issues", len(byUpdated))
	}
	for k := 1; k < len(byUpdated); k++ {
		prev, cur := byUpdated[k-1], byUpdated[k]
		pu, cu := prev["updated_at"].(string), cur["updated_at"].(string)
		if pu < cu || (pu == cu && prev["number"].(float64) < cur["number"].(float64)) {
			t.Errorf("sort=updated: #%v (%s) before #%v (%s)", prev["number"], pu, cur["number"], cu)
		}
	}
	me.must(http.StatusUnprocessableEntity, "GET", base+"?state=merged", nil)
	me.must(http.StatusUnprocessableEntity, "GET", base+"?sort=votes", nil)
	r = me.must(http.StatusOK, "GET", base+"?state=all&per_page=2", nil)
	if r.Header.Get("X-Total-Count") != "3" || !strings.Contains(r.Header.Get("Link"), `rel="next"`) {
		t.Errorf("pagination headers %v", r.Header)
	}
}

func TestComments(t *testing.T) {
	t.Parallel()
	owner, alice, bob := shared.register(t, "cmown"), shared.register(t, "cmalice"), shared.register(t, "cmbob")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "lib"})
	base := "/api/v1/repos/" + owner.Name + "/lib"
	me.must(http.StatusCreated, "POST", base+"/issues", map[string]any{"title": "t"})
	c1 := shared.as(t, alice.Token).must(http.StatusCreated, "POST", base+"/issues/1/comments", map[string]any{"body": "I can reproduce this on version 2.1.0."}).obj(t)
	if c1["body"] != "I can reproduce this on version 2.1.0." || c1["author"].(map[string]any)["username"] != alice.Name || c1["created_at"] != c1["updated_at"] {
		t.Errorf("comment %v", c1)
	}
	shared.as(t, bob.Token).must(http.StatusCreated, "POST", base+"/issues/1/comments", map[string]any{"body": "me too"})
	shared.as(t, "").must(http.StatusUnauthorized, "POST", base+"/issues/1/comments", map[string]any{"body": "anon"})
	me.must(http.StatusUnprocessableEntity, "POST", base+"/issues/1/comments", map[string]any{"body": " "})
	me.must(http.StatusNotFound, "POST", base+"/issues/9/comments", map[string]any{"body": "x"})
	if n := me.must(http.StatusOK, "GET", base+"/issues/1", nil).obj(t)["comments_count"]; n != 2.0 {
		t.Errorf("comments_count %v", n)
	}
	list := shared.as(t, "").must(http.StatusOK, "GET", base+"/issues/1/comments", nil).list(t)
	if len(list) != 2 || list[0]["body"] != "I can reproduce this on version 2.1.0." {
		t.Errorf("comments %v", list)
	}
	if l := me.must(http.StatusOK, "GET", base+"/issues/1/comments?direction=desc", nil).list(t); l[0]["body"] != "me too" {
		t.Errorf("desc comments %v", l)
	}
	// Standalone: authors edit their own; repo admins delete any; others cannot.
	id := ftoa(c1["id"].(float64))
	shared.as(t, bob.Token).must(http.StatusForbidden, "PATCH", base+"/comments/"+id, map[string]any{"body": "x"})
	e := shared.as(t, alice.Token).must(http.StatusOK, "PATCH", base+"/comments/"+id, map[string]any{"body": "I can reproduce this on version 2.1.0 and 2.1.1."}).obj(t)
	if e["body"] != "I can reproduce this on version 2.1.0 and 2.1.1." || e["id"] != c1["id"] {
		t.Errorf("edited %v", e)
	}
	shared.as(t, bob.Token).must(http.StatusForbidden, "DELETE", base+"/comments/"+id, nil)
	me.must(http.StatusNoContent, "DELETE", base+"/comments/"+id, nil)
	me.must(http.StatusNotFound, "PATCH", base+"/comments/"+id, map[string]any{"body": "x"})
	if n := me.must(http.StatusOK, "GET", base+"/issues/1", nil).obj(t)["comments_count"]; n != 1.0 {
		t.Errorf("comments_count after delete %v", n)
	}
	// A comment id from another repository does not resolve here.
	me.createRepo(map[string]any{"name": "other"})
	me.must(http.StatusNotFound, "DELETE", "/api/v1/repos/"+owner.Name+"/other/comments/"+ftoa(list[1]["id"].(float64)), nil)
}

// TestConcurrentIssueNumbers: 50 issues created at once get 50 distinct,
// consecutive numbers.
func TestConcurrentIssueNumbers(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "conc")
	me := shared.as(t, u.Token)
	me.createRepo(map[string]any{"name": "busy"})
	var wg sync.WaitGroup
	nums := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := me.do("POST", "/api/v1/repos/"+u.Name+"/busy/issues", map[string]any{"title": fmt.Sprintf("issue %d", i)})
			if r.Status != http.StatusCreated {
				t.Errorf("create %d: %d %s", i, r.Status, r.Body)
				return
			}
			nums <- int(r.obj(t)["number"].(float64))
		}(i)
	}
	wg.Wait()
	close(nums)
	var got []int
	for n := range nums {
		got = append(got, n)
	}
	sort.Ints(got)
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("numbers %v are not 1..50", got)
		}
	}
	if len(got) != 50 {
		t.Fatalf("%d issues created", len(got))
	}
}

func TestVouches(t *testing.T) {
	t.Parallel()
	voucher, alice, carol := shared.register(t, "vch"), shared.register(t, "valice"), shared.register(t, "vcarol")
	vc := shared.as(t, voucher.Token)
	// No balance yet: the documented 422.
	r := vc.must(http.StatusUnprocessableEntity, "POST", "/api/v1/vouches", map[string]any{"target_type": "User", "target": alice.Name})
	if r.obj(t)["error"] != "No vouches remaining. Purchase more at https://codeboba.com/vouches." {
		t.Errorf("no balance body %s", r.Body)
	}
	if _, err := shared.App.Store().GrantVouches(t.Context(), voucher.ID, 3, "test"); err != nil {
		t.Fatal(err)
	}
	v := vc.must(http.StatusCreated, "POST", "/api/v1/vouches", map[string]any{"target_type": "User", "target": alice.Name}).obj(t)
	vr := v["voucher"].(map[string]any)
	if v["target_type"] != "User" || v["target"] != alice.Name || v["reputation_added"] != 1.0 ||
		vr["username"] != voucher.Name || vr["remaining_vouches"] != 2.0 || vr["reputation"] != 0.0 {
		t.Errorf("vouch %v", v)
	}
	prof := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/users/"+alice.Name, nil).obj(t)
	if prof["vouch_count"] != 1.0 || prof["reputation"] != 1.0 {
		t.Errorf("alice after vouch %v", prof)
	}
	// A repository: its vouch_count grows and the reputation goes to its owner.
	shared.as(t, carol.Token).createRepo(map[string]any{"name": "great-project"})
	v = vc.must(http.StatusCreated, "POST", "/api/v1/vouches", map[string]any{"target_type": "Repository", "target": carol.Name + "/great-project"}).obj(t)
	if v["target"] != carol.Name+"/great-project" || v["voucher"].(map[string]any)["remaining_vouches"] != 1.0 {
		t.Errorf("repo vouch %v", v)
	}
	if repo := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/repos/"+carol.Name+"/great-project", nil).obj(t); repo["vouch_count"] != 1.0 {
		t.Errorf("repo after vouch %v", repo)
	}
	if p := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/users/"+carol.Name, nil).obj(t); p["reputation"] != 1.0 {
		t.Errorf("owner reputation %v", p["reputation"])
	}
	// An organization.
	org := newOrg(t, carol, nil)
	vc.must(http.StatusCreated, "POST", "/api/v1/vouches", map[string]any{"target_type": "Organization", "target": org})
	if o := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/orgs/"+org, nil).obj(t); o["vouch_count"] != 1.0 || o["reputation"] != 1.0 {
		t.Errorf("org after vouch %v", o)
	}
	// Balance now 0 again.
	vc.must(http.StatusUnprocessableEntity, "POST", "/api/v1/vouches", map[string]any{"target_type": "User", "target": alice.Name})

	if _, err := shared.App.Store().GrantVouches(t.Context(), carol.ID, 5, "test"); err != nil {
		t.Fatal(err)
	}
	cc := shared.as(t, carol.Token)
	for _, bad := range []map[string]any{
		{"target_type": "User", "target": carol.Name},                          // self
		{"target_type": "Repository", "target": carol.Name + "/great-project"}, // own repo
		{"target_type": "Organization", "target": org},                         // own org
		{"target_type": "Team", "target": alice.Name},                          // bad type
		{"target_type": "User", "target": uniqueName("ghost")},                 // unknown
		{"target_type": "Organization", "target": alice.Name},                  // a user is not an org
		{"target_type": "Repository", "target": "no-slash"},                    // bad repo form
		{"target": alice.Name},                                                 // missing type
	} {
		cc.must(http.StatusUnprocessableEntity, "POST", "/api/v1/vouches", bad)
	}
	// Private repositories the voucher cannot see do not exist for them.
	shared.as(t, alice.Token).createRepo(map[string]any{"name": "hidden", "visibility": "private"})
	r = cc.must(http.StatusUnprocessableEntity, "POST", "/api/v1/vouches", map[string]any{"target_type": "Repository", "target": alice.Name + "/hidden"})
	if strings.Contains(string(r.Body), "hidden") {
		t.Errorf("leaks private name: %s", r.Body)
	}
	shared.as(t, "").must(http.StatusUnauthorized, "POST", "/api/v1/vouches", map[string]any{"target_type": "User", "target": alice.Name})

	list := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/users/"+alice.Name+"/vouches", nil).list(t)
	if len(list) != 1 || list[0]["target_type"] != "User" || list[0]["target"] != alice.Name || list[0]["voucher"].(map[string]any)["username"] != voucher.Name {
		t.Errorf("alice's vouches %v", list)
	}
	if _, ok := list[0]["voucher"].(map[string]any)["remaining_vouches"]; ok {
		t.Errorf("public list shows the voucher's balance: %v", list[0])
	}
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/users/"+uniqueName("ghost")+"/vouches", nil)
}

func TestRepoReputations(t *testing.T) {
	t.Parallel()
	owner, bob, carol, alice, stranger := shared.register(t, "rown"), shared.register(t, "rbob"), shared.register(t, "rcarol"), shared.register(t, "ralice"), shared.register(t, "rstr")
	me := shared.as(t, owner.Token)
	me.createRepo(map[string]any{"name": "lib", "visibility": "private"})
	base := "/api/v1/repos/" + owner.Name + "/lib"
	me.must(http.StatusOK, "PUT", base+"/collaborators/"+bob.Name, map[string]any{"permission": "write"})
	me.must(http.StatusOK, "PUT", base+"/collaborators/"+carol.Name, map[string]any{"permission": "write"})
	me.must(http.StatusOK, "PUT", base+"/collaborators/"+alice.Name, map[string]any{"permission": "read"})
	e := shared.as(t, bob.Token).must(http.StatusOK, "PUT", base+"/reputations/"+alice.Name, map[string]any{"score": 100}).obj(t)
	if e["score"] != 100.0 || e["user"].(map[string]any)["username"] != alice.Name || e["grantor"].(map[string]any)["username"] != bob.Name {
		t.Errorf("endorsement %v", e)
	}
	shared.as(t, carol.Token).must(http.StatusOK, "PUT", base+"/reputations/"+alice.Name, map[string]any{"score": 50.5})
	shared.as(t, bob.Token).must(http.StatusOK, "PUT", base+"/reputations/"+alice.Name, map[string]any{"score": 99.5}) // update
	list := shared.as(t, alice.Token).must(http.StatusOK, "GET", base+"/reputations", nil).list(t)
	if len(list) != 1 || list[0]["total_score"] != 150.0 || len(list[0]["endorsements"].([]any)) != 2 || list[0]["user"].(map[string]any)["username"] != alice.Name {
		t.Errorf("reputations %v", list)
	}
	for _, bad := range []any{map[string]any{"score": 0}, map[string]any{"score": -1}, map[string]any{}, map[string]any{"score": "x"}} {
		shared.as(t, bob.Token).must(http.StatusUnprocessableEntity, "PUT", base+"/reputations/"+alice.Name, bad)
	}
	shared.as(t, bob.Token).must(http.StatusUnprocessableEntity, "PUT", base+"/reputations/"+bob.Name, map[string]any{"score": 1})
	shared.as(t, bob.Token).must(http.StatusNotFound, "PUT", base+"/reputations/"+uniqueName("ghost"), map[string]any{"score": 1})
	shared.as(t, alice.Token).must(http.StatusForbidden, "PUT", base+"/reputations/"+bob.Name, map[string]any{"score": 1})
	shared.as(t, stranger.Token).must(http.StatusNotFound, "GET", base+"/reputations", nil)
	shared.as(t, "").must(http.StatusNotFound, "GET", base+"/reputations", nil)
	// Delete: own endorsement; an admin may delete others'.
	shared.as(t, carol.Token).must(http.StatusNoContent, "DELETE", base+"/reputations/"+alice.Name, nil)
	shared.as(t, carol.Token).must(http.StatusNotFound, "DELETE", base+"/reputations/"+alice.Name, nil)
	shared.as(t, carol.Token).must(http.StatusForbidden, "DELETE", base+"/reputations/"+alice.Name+"?grantor="+bob.Name, nil)
	me.must(http.StatusNoContent, "DELETE", base+"/reputations/"+alice.Name, nil)
	if l := me.must(http.StatusOK, "GET", base+"/reputations", nil).list(t); len(l) != 0 {
		t.Errorf("after admin delete %v", l)
	}
}

func TestOrgReputations(t *testing.T) {
	t.Parallel()
	owner, member, outsider := shared.register(t, "orpown"), shared.register(t, "orpmem"), shared.register(t, "orpout")
	org := newOrg(t, owner, nil)
	base := "/api/v1/orgs/" + org
	shared.as(t, owner.Token).must(http.StatusOK, "PUT", base+"/members/"+member.Name, nil)
	shared.as(t, member.Token).must(http.StatusOK, "PUT", base+"/reputations/"+owner.Name, map[string]any{"score": 10})
	shared.as(t, owner.Token).must(http.StatusOK, "PUT", base+"/reputations/"+member.Name, map[string]any{"score": 20})
	list := shared.as(t, member.Token).must(http.StatusOK, "GET", base+"/reputations", nil).list(t)
	if len(list) != 2 {
		t.Errorf("org reputations %v", list)
	}
	shared.as(t, outsider.Token).must(http.StatusForbidden, "GET", base+"/reputations", nil)
	shared.as(t, "").must(http.StatusUnauthorized, "GET", base+"/reputations", nil)
	shared.as(t, outsider.Token).must(http.StatusForbidden, "PUT", base+"/reputations/"+member.Name, map[string]any{"score": 1})
	shared.as(t, member.Token).must(http.StatusNotFound, "DELETE", base+"/reputations/"+member.Name, nil)
	shared.as(t, owner.Token).must(http.StatusNoContent, "DELETE", base+"/reputations/"+owner.Name, nil) // admin removes member's endorsement of them
	shared.as(t, member.Token).must(http.StatusNotFound, "DELETE", base+"/reputations/"+owner.Name, nil)
}
