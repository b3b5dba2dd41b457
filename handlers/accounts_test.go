package handlers_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"tapioca/handlers"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	anon := shared.as(t, "")
	name := uniqueName("reg")
	r := anon.must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{
		"username": name,
		"user": map[string]any{"email": name + "@example.com", "password": "s3cureP@ssw0rd",
			"password_confirmation": "s3cureP@ssw0rd", "kind": "bot"},
	})
	body := r.obj(t)
	if !regexp.MustCompile(`^cb_[a-z0-9]{40}$`).MatchString(body["token"].(string)) {
		t.Errorf("token %q is not cb_ + 40 lowercase alphanumerics", body["token"])
	}
	u := body["user"].(map[string]any)
	for k, want := range map[string]any{"username": name, "email": name + "@example.com", "kind": "bot", "display_name": nil, "bio": nil, "url": nil} {
		if u[k] != want {
			t.Errorf("user.%s = %v, want %v", k, u[k], want)
		}
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(u["created_at"].(string)) {
		t.Errorf("created_at %q is not RFC 3339 UTC seconds", u["created_at"])
	}
	// The token works.
	me := shared.as(t, body["token"].(string)).must(http.StatusOK, "GET", "/api/v1/user", nil).obj(t)
	if me["username"] != name || me["email"] != name+"@example.com" {
		t.Errorf("GET /user = %v", me)
	}
	// Flat fields work too.
	flat := uniqueName("flat")
	anon.must(http.StatusCreated, "POST", "/api/v1/users", map[string]any{
		"username": flat, "email": flat + "@example.com", "password": "password123", "password_confirmation": "password123",
	})
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	taken := shared.register(t, "taken")
	anon := shared.as(t, "")
	ok := func(name string) map[string]any {
		return map[string]any{"email": name + "@example.com", "password": "password123", "password_confirmation": "password123"}
	}
	cases := []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"missing username", map[string]any{"user": ok("x")}, "username", "can't be blank"},
		{"bad username", map[string]any{"username": "bad_name!", "user": ok("y")}, "username", "is invalid"},
		{"too long username", map[string]any{"username": strings.Repeat("a", 40), "user": ok("z")}, "username", "is invalid"},
		{"reserved username", map[string]any{"username": "admin", "user": ok("w")}, "username", "is reserved"},
		{"taken username", map[string]any{"username": strings.ToUpper(taken.Name), "user": ok(uniqueName("v"))}, "username", "has already been taken"},
		{"taken email", map[string]any{"username": uniqueName("e"), "user": map[string]any{"email": taken.Email, "password": "password123", "password_confirmation": "password123"}}, "email", "has already been taken"},
		{"bad email", map[string]any{"username": uniqueName("e"), "user": map[string]any{"email": "nope", "password": "password123", "password_confirmation": "password123"}}, "email", "is invalid"},
		{"short password", map[string]any{"username": uniqueName("p"), "user": map[string]any{"email": uniqueName("p") + "@x.io", "password": "short", "password_confirmation": "short"}}, "password", "is too short (minimum is 8 characters)"},
		{"mismatch", map[string]any{"username": uniqueName("m"), "user": map[string]any{"email": uniqueName("m") + "@x.io", "password": "password123", "password_confirmation": "password124"}}, "password_confirmation", "doesn't match password"},
		{"bad kind", map[string]any{"username": uniqueName("k"), "user": map[string]any{"email": uniqueName("k") + "@x.io", "password": "password123", "password_confirmation": "password123", "kind": "robot"}}, "kind", "is not included in the list"},
		{"wrong type", map[string]any{"username": 42}, "username", "must be a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := anon.must(http.StatusUnprocessableEntity, "POST", "/api/v1/users", tc.body)
			body := r.obj(t)
			if body["error"] != "Validation failed" {
				t.Errorf("error = %v", body["error"])
			}
			errs, _ := body["errors"].(map[string]any)
			msgs, _ := errs[tc.field].([]any)
			found := false
			for _, m := range msgs {
				if strings.HasPrefix(m.(string), tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors = %v, want %s: %q", errs, tc.field, tc.msg)
			}
		})
	}
	// Malformed JSON is a 400, not a 422.
	r := anon.must(http.StatusBadRequest, "POST", "/api/v1/users", "{not json")
	if !strings.Contains(string(r.Body), `"error"`) {
		t.Errorf("400 body %s", r.Body)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "login")
	anon := shared.as(t, "")
	r := anon.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"email": u.Email, "password": "password123", "name": "my-cli"})
	tok := r.obj(t)["token"].(string)
	if tok == u.Token {
		t.Fatal("login returned the registration token")
	}
	list := shared.as(t, tok).must(http.StatusOK, "GET", "/api/v1/user/api_tokens", nil).list(t)
	if len(list) != 2 || list[1]["name"] != "my-cli" {
		t.Errorf("tokens after login: %v", list)
	}
	// By username as well.
	anon.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"email": u.Name, "password": "password123"})
	for _, body := range []map[string]any{
		{"email": u.Email, "password": "wrong-password"},
		{"email": "nobody@example.com", "password": "password123"},
	} {
		r := anon.must(http.StatusUnauthorized, "POST", "/api/v1/tokens", body)
		if r.obj(t)["error"] != "Invalid email or password" {
			t.Errorf("body %s", r.Body)
		}
	}
	anon.must(http.StatusUnprocessableEntity, "POST", "/api/v1/tokens", map[string]any{"email": u.Email})
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	anon := shared.as(t, "")
	r := anon.must(http.StatusUnauthorized, "GET", "/api/v1/user", nil)
	if r.obj(t)["error"] == nil {
		t.Errorf("401 body %s", r.Body)
	}
	shared.as(t, "cb_"+strings.Repeat("x", 40)).must(http.StatusUnauthorized, "GET", "/api/v1/user", nil)
	// A bad token is refused even where anonymous access would work.
	shared.as(t, "cb_nope").must(http.StatusUnauthorized, "GET", "/api/v1/users/admin", nil)
	// Unknown routes and methods answer JSON.
	r = anon.must(http.StatusNotFound, "GET", "/api/v1/does-not-exist", nil)
	if r.obj(t)["error"] != "No such endpoint: GET /api/v1/does-not-exist" {
		t.Errorf("404 body %s", r.Body)
	}
	r = anon.must(http.StatusMethodNotAllowed, "PUT", "/api/v1/user", nil)
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
}

func TestProfile(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "prof")
	me := shared.as(t, u.Token)
	r := me.must(http.StatusOK, "PATCH", "/api/v1/user", map[string]any{"user": map[string]any{
		"display_name": "CodeBot 9000", "bio": "I write code.", "url": "https://codebot.dev"}})
	p := r.obj(t)
	if p["display_name"] != "CodeBot 9000" || p["bio"] != "I write code." || p["url"] != "https://codebot.dev" || p["email"] != u.Email {
		t.Errorf("patched profile %v", p)
	}
	if p["vouch_count"] != 0.0 || p["reputation"] != 0.0 {
		t.Errorf("vouch_count/reputation %v %v", p["vouch_count"], p["reputation"])
	}
	// Flat, partial: bio cleared with null, display name untouched.
	p = me.must(http.StatusOK, "PATCH", "/api/v1/user", map[string]any{"bio": nil}).obj(t)
	if p["bio"] != nil || p["display_name"] != "CodeBot 9000" {
		t.Errorf("after clearing bio: %v", p)
	}
	me.must(http.StatusUnprocessableEntity, "PATCH", "/api/v1/user", map[string]any{"user": map[string]any{"display_name": strings.Repeat("x", 256)}})
	me.must(http.StatusUnprocessableEntity, "PATCH", "/api/v1/user", map[string]any{"user": map[string]any{"bio": strings.Repeat("x", 501)}})
	me.must(http.StatusUnprocessableEntity, "PATCH", "/api/v1/user", map[string]any{"url": "javascript:alert(1)"})
	shared.as(t, "").must(http.StatusUnauthorized, "PATCH", "/api/v1/user", map[string]any{"bio": "x"})

	// Public profile: no email, case-insensitive name.
	pub := shared.as(t, "").must(http.StatusOK, "GET", "/api/v1/users/"+strings.ToUpper(u.Name), nil).obj(t)
	if _, has := pub["email"]; has {
		t.Errorf("public profile shows email: %v", pub)
	}
	if pub["username"] != u.Name || pub["display_name"] != "CodeBot 9000" {
		t.Errorf("public profile %v", pub)
	}
	shared.as(t, "").must(http.StatusNotFound, "GET", "/api/v1/users/"+uniqueName("ghost"), nil)
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "tok")
	me := shared.as(t, u.Token)
	r := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "ci-readonly", "scopes": []string{"read", "repo"}})
	created := r.obj(t)
	plain := created["token"].(string)
	if created["name"] != "ci-readonly" || len(created["scopes"].([]any)) != 2 || !strings.HasPrefix(plain, "cb_") {
		t.Errorf("created %v", created)
	}
	list := me.must(http.StatusOK, "GET", "/api/v1/user/api_tokens", nil)
	if strings.Contains(string(list.Body), plain) {
		t.Fatal("token list shows a plaintext token")
	}
	items := list.list(t)
	if len(items) != 2 || items[0]["name"] != "default" || len(items[0]["scopes"].([]any)) != 0 {
		t.Errorf("list %v", items)
	}
	if items[0]["last_used_at"] == nil {
		t.Errorf("default token in use but last_used_at is null")
	}
	if items[1]["last_used_at"] != nil {
		t.Errorf("unused token has last_used_at %v", items[1]["last_used_at"])
	}
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/api_tokens", map[string]any{"scopes": []string{"read"}})
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "x", "scopes": []string{"sudo"}})

	// The read-scoped token reads but cannot write.
	ro := shared.as(t, plain)
	ro.must(http.StatusOK, "GET", "/api/v1/user", nil)
	r = ro.must(http.StatusForbidden, "PATCH", "/api/v1/user", map[string]any{"bio": "x"})
	if !strings.Contains(r.obj(t)["error"].(string), "scope") {
		t.Errorf("403 body %s", r.Body)
	}
	ro.must(http.StatusForbidden, "POST", "/api/v1/user/api_tokens", map[string]any{"name": "escalate"})

	// A write-scoped token may revoke itself or a narrower token, never a
	// broader one (the default full-access token included).
	mk := func(scopes ...string) (float64, string) {
		o := me.must(http.StatusCreated, "POST", "/api/v1/user/api_tokens", map[string]any{"name": uniqueName("s"), "scopes": scopes}).obj(t)
		return o["id"].(float64), o["token"].(string)
	}
	wid, wtok := mk("write", "read")
	narrowID, _ := mk("write")
	wideID, _ := mk("write", "read", "admin")
	wc := shared.as(t, wtok)
	defaultID := items[0]["id"].(float64)
	for _, bigger := range []float64{defaultID, wideID} {
		if r := wc.must(http.StatusForbidden, "DELETE", "/api/v1/user/api_tokens/"+ftoa(bigger), nil); !strings.Contains(string(r.Body), "broader") {
			t.Errorf("revoking a broader token: %s", r.Body)
		}
	}
	me.must(http.StatusOK, "GET", "/api/v1/user", nil) // the default token still works
	wc.must(http.StatusNoContent, "DELETE", "/api/v1/user/api_tokens/"+ftoa(narrowID), nil)
	wc.must(http.StatusNoContent, "DELETE", "/api/v1/user/api_tokens/"+ftoa(wid), nil)
	wc.must(http.StatusUnauthorized, "GET", "/api/v1/user", nil)

	// Revoke: 204, then the token is dead; someone else's id is a 404.
	id := created["id"].(float64)
	other := shared.register(t, "tok2")
	shared.as(t, other.Token).must(http.StatusNotFound, "DELETE", "/api/v1/user/api_tokens/"+ftoa(id), nil)
	me.must(http.StatusNoContent, "DELETE", "/api/v1/user/api_tokens/"+ftoa(id), nil)
	ro.must(http.StatusUnauthorized, "GET", "/api/v1/user", nil)
	me.must(http.StatusNotFound, "DELETE", "/api/v1/user/api_tokens/"+ftoa(id), nil)
	me.must(http.StatusNotFound, "DELETE", "/api/v1/user/api_tokens/abc", nil)
}

func newSSHKey(t testing.TB, comment string) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment
	return line, ssh.FingerprintSHA256(k)
}

func TestSSHKeys(t *testing.T) {
	t.Parallel()
	u := shared.register(t, "ssh")
	me := shared.as(t, u.Token)
	key, fp := newSSHKey(t, "user@host")
	r := me.must(http.StatusCreated, "POST", "/api/v1/user/ssh_keys", map[string]any{"ssh_key": map[string]any{"name": "ci-server", "public_key": key}})
	k := r.obj(t)
	// The key comes back without its comment, as in the seed's example.
	if k["title"] != "ci-server" || k["key"] != strings.TrimSuffix(key, " user@host") || k["fingerprint"] != fp || k["key_type"] != "ssh-ed25519" {
		t.Errorf("key %v, want fingerprint %s", k, fp)
	}
	// Flat form with title/key.
	key2, _ := newSSHKey(t, "")
	me.must(http.StatusCreated, "POST", "/api/v1/user/ssh_keys", map[string]any{"title": "laptop", "key": key2})
	list := me.must(http.StatusOK, "GET", "/api/v1/user/ssh_keys", nil).list(t)
	if len(list) != 2 || list[0]["title"] != "ci-server" {
		t.Errorf("list %v", list)
	}
	// Invalid, missing, duplicate (even on another account) → 422.
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/ssh_keys", map[string]any{"name": "bad", "public_key": "ssh-ed25519 AAAAnotakey"})
	me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/ssh_keys", map[string]any{"name": "none"})
	if r := me.must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/ssh_keys", map[string]any{"public_key": key2}); len(errField(t, r, "name")) == 0 {
		t.Errorf("missing name: %s", r.Body)
	}
	other := shared.register(t, "ssh2")
	r = shared.as(t, other.Token).must(http.StatusUnprocessableEntity, "POST", "/api/v1/user/ssh_keys", map[string]any{"name": "dup", "public_key": key})
	if !strings.Contains(string(r.Body), "has already been taken") {
		t.Errorf("duplicate body %s", r.Body)
	}
	id := ftoa(k["id"].(float64))
	shared.as(t, other.Token).must(http.StatusNotFound, "DELETE", "/api/v1/user/ssh_keys/"+id, nil)
	me.must(http.StatusNoContent, "DELETE", "/api/v1/user/ssh_keys/"+id, nil)
	if l := me.must(http.StatusOK, "GET", "/api/v1/user/ssh_keys", nil).list(t); len(l) != 1 {
		t.Errorf("after delete: %v", l)
	}
	shared.as(t, "").must(http.StatusUnauthorized, "GET", "/api/v1/user/ssh_keys", nil)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *handlers.Config) { c.RateLimitAnon = 3; c.RateLimitAuth = 5 })
	anon := s.as(t, "")
	tok := s.adminToken(t) // the login itself is anonymous: one of the 3
	for i := 1; i < 3; i++ {
		r := anon.must(http.StatusNotFound, "GET", "/api/v1/users/nobody-here", nil)
		if r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != itoa(2-i) || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("request %d headers %v", i, r.Header)
		}
	}
	r := anon.must(http.StatusTooManyRequests, "GET", "/api/v1/users/nobody-here", nil)
	msg := r.obj(t)["error"].(string)
	if !regexp.MustCompile(`^Rate limit exceeded\. Retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.$`).MatchString(msg) {
		t.Errorf("429 message %q", msg)
	}
	// An authenticated user has their own, larger budget.
	for i := 0; i < 5; i++ {
		r := s.as(t, tok).must(http.StatusOK, "GET", "/api/v1/user", nil)
		if r.Header.Get("X-RateLimit-Limit") != "5" {
			t.Fatalf("auth limit header %q", r.Header.Get("X-RateLimit-Limit"))
		}
	}
	s.as(t, tok).must(http.StatusTooManyRequests, "GET", "/api/v1/user", nil)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	r := shared.as(t, "").must(http.StatusOK, "GET", "/v1/health", nil)
	if string(r.Body) != "{\"details\":\"healthy\"}\n" {
		t.Errorf("health body %q", r.Body)
	}
}
