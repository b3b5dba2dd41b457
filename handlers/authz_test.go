package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAuthorizationMatrix checks every collaboration endpoint on a private
// repository against every kind of caller: those who must not see the
// repository get 404, those who see it but may not act get 403, and no
// refusal mentions the repository's name.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	owner := shared.register(t, "mxown")
	reader, writer, radmin := shared.register(t, "mxread"), shared.register(t, "mxwrite"), shared.register(t, "mxradm")
	member, stranger, endorsee, extra := shared.register(t, "mxmem"), shared.register(t, "mxstr"), shared.register(t, "mxend"), shared.register(t, "mxext")
	org := newOrg(t, owner, nil)
	oc := shared.as(t, owner.Token)
	oc.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+member.Name, map[string]any{"role": "member"})
	repoName := uniqueName("secretrepo")
	oc.must(http.StatusCreated, "POST", "/api/v1/orgs/"+org+"/repos", map[string]any{"name": repoName, "visibility": "private"})
	base := "/api/v1/repos/" + org + "/" + repoName
	for user, perm := range map[string]string{reader.Name: "read", writer.Name: "write", radmin.Name: "admin", endorsee.Name: "read"} {
		oc.must(http.StatusOK, "PUT", base+"/collaborators/"+user, map[string]any{"permission": perm})
	}
	// The token without the needed scope belongs to the owner: write-only
	// for reads, read-only for writes.
	scoped := func(scope string) string {
		return oc.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": scope, "scopes": []string{scope}}).obj(t)["token"].(string)
	}
	writeOnly, readOnly := scoped("write"), scoped("read")

	callers := []struct {
		name  string
		token string
	}{
		{"anonymous", ""},
		{"unrelated", stranger.Token},
		{"read collaborator", reader.Token},
		{"write collaborator", writer.Token},
		{"repo admin", radmin.Token},
		{"org member", member.Token},
		{"site admin", shared.adminToken(t)},
		{"no scope", ""}, // chosen per endpoint below
	}

	// fixture holds what each caller acts on, made fresh by the owner.
	type fixture struct{ label, delLabel, issue, comment string }
	seq := 0
	setup := func() fixture {
		seq++
		f := fixture{label: "lab-" + itoa(seq), delLabel: "del-" + itoa(seq)}
		oc.must(http.StatusCreated, "POST", base+"/labels", map[string]any{"name": f.label, "color": "#123456"})
		oc.must(http.StatusCreated, "POST", base+"/labels", map[string]any{"name": f.delLabel, "color": "#654321"})
		i := oc.must(http.StatusCreated, "POST", base+"/issues", map[string]any{"title": "fixture", "labels": []string{f.label}, "assignees": []string{owner.Name}}).obj(t)
		f.issue = ftoa(i["number"].(float64))
		c := oc.must(http.StatusCreated, "POST", base+"/issues/"+f.issue+"/comments", map[string]any{"body": "owner's comment"}).obj(t)
		f.comment = ftoa(c["id"].(float64))
		oc.must(http.StatusOK, "PUT", base+"/collaborators/"+extra.Name, map[string]any{"permission": "read"})
		oc.must(http.StatusOK, "PUT", base+"/reputations/"+endorsee.Name, map[string]any{"score": 5})
		return f
	}

	type endpoint struct {
		name   string
		method string
		path   func(f fixture) string
		body   func(f fixture) any
		want   [8]int // in the order of callers
	}
	read := [8]int{404, 404, 200, 200, 200, 200, 200, 403}
	endpoints := []endpoint{
		{"list collaborators", "GET", func(f fixture) string { return base + "/collaborators" }, nil, read},
		{"list deploy keys", "GET", func(f fixture) string { return base + "/keys" }, nil,
			[8]int{404, 404, 403, 403, 200, 403, 200, 403}},
		{"add collaborator", "PUT", func(f fixture) string { return base + "/collaborators/" + extra.Name }, func(f fixture) any { return map[string]any{"permission": "read"} },
			[8]int{404, 404, 403, 403, 200, 403, 200, 403}},
		{"remove collaborator", "DELETE", func(f fixture) string { return base + "/collaborators/" + extra.Name }, nil,
			[8]int{404, 404, 403, 403, 204, 403, 204, 403}},
		{"list labels", "GET", func(f fixture) string { return base + "/labels" }, nil, read},
		{"get label", "GET", func(f fixture) string { return base + "/labels/" + f.label }, nil, read},
		{"create label", "POST", func(f fixture) string { return base + "/labels" }, func(f fixture) any { return map[string]any{"name": "new-" + f.label, "color": "#000000"} },
			[8]int{404, 404, 403, 201, 201, 201, 201, 403}},
		{"update label", "PATCH", func(f fixture) string { return base + "/labels/" + f.label }, func(f fixture) any { return map[string]any{"color": "#ffffff"} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"delete label", "DELETE", func(f fixture) string { return base + "/labels/" + f.delLabel }, nil,
			[8]int{404, 404, 403, 204, 204, 204, 204, 403}},
		{"list issues", "GET", func(f fixture) string { return base + "/issues" }, nil, read},
		{"get issue", "GET", func(f fixture) string { return base + "/issues/" + f.issue }, nil, read},
		{"create issue", "POST", func(f fixture) string { return base + "/issues" }, func(f fixture) any { return map[string]any{"title": "from matrix"} },
			[8]int{404, 404, 201, 201, 201, 201, 201, 403}},
		{"update issue", "PATCH", func(f fixture) string { return base + "/issues/" + f.issue }, func(f fixture) any { return map[string]any{"title": "edited"} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"list comments", "GET", func(f fixture) string { return base + "/issues/" + f.issue + "/comments" }, nil, read},
		{"create comment", "POST", func(f fixture) string { return base + "/issues/" + f.issue + "/comments" }, func(f fixture) any { return map[string]any{"body": "hi"} },
			[8]int{404, 404, 201, 201, 201, 201, 201, 403}},
		{"add issue labels", "POST", func(f fixture) string { return base + "/issues/" + f.issue + "/labels" }, func(f fixture) any { return map[string]any{"labels": []string{"bug"}} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"remove issue label", "DELETE", func(f fixture) string { return base + "/issues/" + f.issue + "/labels/" + f.label }, nil,
			[8]int{404, 404, 403, 204, 204, 204, 204, 403}},
		{"add assignees", "POST", func(f fixture) string { return base + "/issues/" + f.issue + "/assignees" }, func(f fixture) any { return map[string]any{"assignees": []string{reader.Name}} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"remove assignees", "DELETE", func(f fixture) string { return base + "/issues/" + f.issue + "/assignees" }, func(f fixture) any { return map[string]any{"assignees": []string{owner.Name}} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"edit someone's comment", "PATCH", func(f fixture) string { return base + "/comments/" + f.comment }, func(f fixture) any { return map[string]any{"body": "edited"} },
			[8]int{404, 404, 403, 403, 403, 403, 200, 403}},
		{"delete someone's comment", "DELETE", func(f fixture) string { return base + "/comments/" + f.comment }, nil,
			[8]int{404, 404, 403, 403, 204, 403, 204, 403}},
		{"list reputations", "GET", func(f fixture) string { return base + "/reputations" }, nil, read},
		{"set reputation", "PUT", func(f fixture) string { return base + "/reputations/" + endorsee.Name }, func(f fixture) any { return map[string]any{"score": 3} },
			[8]int{404, 404, 403, 200, 200, 200, 200, 403}},
		{"remove someone's endorsement", "DELETE", func(f fixture) string { return base + "/reputations/" + endorsee.Name + "?grantor=" + owner.Name }, nil,
			[8]int{404, 404, 403, 403, 204, 403, 204, 403}},
		{"get repository", "GET", func(f fixture) string { return base }, nil, read},
		{"list branches", "GET", func(f fixture) string { return base + "/branches" }, nil, read},
		{"update repository", "PATCH", func(f fixture) string { return base }, func(f fixture) any { return map[string]any{"description": "x"} },
			[8]int{404, 404, 403, 403, 200, 403, 200, 403}},
	}
	for ci, c := range callers {
		f := setup()
		for _, e := range endpoints {
			token := c.token
			if c.name == "no scope" {
				token = readOnly
				if e.method == "GET" {
					token = writeOnly
				}
			}
			var body any
			if e.body != nil {
				body = e.body(f)
			}
			r := shared.as(t, token).do(e.method, e.path(f), body)
			if r.Status != e.want[ci] {
				t.Errorf("%s / %s: %d, want %d (%s)", c.name, e.name, r.Status, e.want[ci], r.Body)
			}
			if r.Status >= 400 && strings.Contains(string(r.Body), repoName) {
				t.Errorf("%s / %s: refusal leaks the repository name: %s", c.name, e.name, r.Body)
			}
		}
	}
	// Organization admins (not members) administer the org's repositories.
	oc.must(http.StatusOK, "PUT", "/api/v1/orgs/"+org+"/members/"+member.Name, map[string]any{"role": "admin"})
	shared.as(t, member.Token).must(http.StatusOK, "PUT", base+"/collaborators/"+extra.Name, map[string]any{"permission": "write"})
	// The repository appears in no listing for those who cannot see it.
	for _, tok := range []string{"", stranger.Token} {
		for _, path := range []string{"/api/v1/orgs/" + org + "/repos", "/api/v1/users/" + org + "/repos"} {
			r := shared.as(t, tok).must(http.StatusOK, "GET", path, nil)
			if strings.Contains(string(r.Body), repoName) {
				t.Errorf("%s lists the private repository: %s", path, r.Body)
			}
		}
	}
}
