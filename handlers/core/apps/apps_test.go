package apps

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/mirrors"
)

func newService(t *testing.T, githubURL string) (*Service, *coretest.Forge) {
	t.Helper()
	f := coretest.New(t)
	s, err := New(f.Env, mirrors.New(f.Env, nil, mirrors.Config{}), nil, Config{GitHubURL: githubURL})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestParseRepoURL(t *testing.T) {
	gh, _ := newService(t, "https://github.com/")
	sub, _ := newService(t, "https://git.example.com/gitea")
	for _, c := range []struct {
		s        *Service
		raw      string
		want     string // canonical URL, or "" when invalid
		problems string // part of the error
	}{
		{gh, "https://github.com/owner/repo", "https://github.com/owner/repo", ""},
		{gh, "https://github.com/owner/repo.git", "https://github.com/owner/repo", ""},
		{gh, "  https://github.com/owner/repo/ ", "https://github.com/owner/repo", ""},
		{gh, "https://GitHub.com/Owner-1/my.repo_x", "https://github.com/Owner-1/my.repo_x", ""},
		{sub, "https://git.example.com/gitea/o/r", "https://git.example.com/gitea/o/r", ""},
		{gh, "", "", "required"},
		{gh, "github.com/owner/repo", "", "repository URL"},
		{gh, "http://github.com/owner/repo", "", "must be a repository on github.com"},
		{gh, "https://gitlab.com/owner/repo", "", "must be a repository on github.com"},
		{gh, "https://user:pw@github.com/owner/repo", "", "credentials"},
		{gh, "https://github.com/owner/repo?x=1", "", "query"},
		{gh, "https://github.com/owner/repo#readme", "", "fragment"},
		{gh, "https://github.com/owner", "", "must name a repository"},
		{gh, "https://github.com/owner/repo/issues", "", "must name a repository"},
		{gh, "https://github.com/-owner/repo", "", "invalid owner"},
		{gh, "https://github.com/" + strings.Repeat("a", 40) + "/repo", "", "invalid owner"},
		{gh, "https://github.com/owner/..", "", "invalid repository name"},
		{gh, "https://github.com/owner/.git", "", "invalid repository name"},
		{gh, "https://github.com/owner/re%20po", "", "invalid repository name"},
		{sub, "https://git.example.com/o/r", "", "repository URL"},
	} {
		got, err := c.s.ParseRepoURL(c.raw)
		switch {
		case c.want != "" && (err != nil || got.Canonical != c.want || got.Git != c.want+".git"):
			t.Errorf("%q: %+v %v, want %s", c.raw, got, err, c.want)
		case c.want == "" && (err == nil || !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.problems)):
			t.Errorf("%q: error %v, want one saying %q", c.raw, err, c.problems)
		}
	}
	if _, err := New(coretest.New(t).Env, nil, nil, Config{GitHubURL: "ftp://example.com"}); err == nil {
		t.Error("an ftp --github-url was accepted")
	}
}

func TestEncodeContent(t *testing.T) {
	for _, c := range []struct {
		in        []byte
		content   string
		encoding  string
		roundTrip bool
	}{
		{[]byte("plain text\n"), "plain text\n", "utf-8", true},
		{[]byte("héllo ✓"), "héllo ✓", "utf-8", true},
		{[]byte{}, "", "utf-8", true},
		{[]byte("nul\x00inside"), "bnVsAGluc2lkZQ==", "base64", false},
		{[]byte{0xff, 0xfe, 'a'}, "//5h", "base64", false},
	} {
		content, enc := encodeContent(c.in)
		if content != c.content || enc != c.encoding {
			t.Errorf("%q: %q %s, want %q %s", c.in, content, enc, c.content, c.encoding)
		}
	}
}

func TestApps(t *testing.T) {
	s, f := newService(t, "")
	ctx := context.Background()
	admin := f.User(t, "root")
	admin.User.IsAdmin = true
	member := f.User(t, "member")

	if _, _, err := s.Create(ctx, member, NewApp{Name: "x", URL: "https://example.com/h", Secret: "12345678"}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("non-admin create: %v", err)
	}
	_, _, err := s.Create(ctx, admin, NewApp{Name: " ", URL: "ftp://x", Secret: "short"})
	var ce *core.Error
	if !errors.As(err, &ce) || len(ce.Fields["name"]) == 0 || len(ce.Fields["url"]) == 0 || len(ce.Fields["secret"]) == 0 {
		t.Fatalf("invalid app: %v", err)
	}
	if _, _, err := s.Create(ctx, admin, NewApp{Name: "loop", URL: "http://127.0.0.1/h", Secret: "12345678"}); err == nil {
		t.Fatal("a loopback delivery URL was accepted without the allowance")
	}
	app, tok, err := s.Create(ctx, admin, NewApp{Name: "Docs Bot", URL: "https://example.com/hook", Secret: "s3cret-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+40 || strings.Contains(app.Secret, "s3cret") {
		t.Fatalf("token %q, stored secret %q", tok, app.Secret)
	}
	if _, _, err := s.Create(ctx, Operator(), NewApp{Name: "docs bot", URL: "https://example.com/2", Secret: "12345678"}); !errors.As(err, &ce) || len(ce.Fields["name"]) == 0 {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []string{"", tok + "x", "cb_" + tok[len(TokenPrefix):], strings.ToUpper(tok)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, core.ErrUnauthorized) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if got, err := s.Authenticate(ctx, tok); err != nil || got.ID != app.ID {
		t.Fatalf("authenticate: %v", err)
	}
	_, tok2, err := s.RotateToken(ctx, admin, app.ID)
	if err != nil || tok2 == tok {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := s.Authenticate(ctx, tok); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("old token after rotation: %v", err)
	}
	if _, err := s.SetDisabled(ctx, admin, app.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok2); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("disabled app: %v", err)
	}
	if got, err := s.App(ctx, admin, "DOCS BOT"); err != nil || got.ID != app.ID {
		t.Fatalf("find by name: %v", err)
	}
	if err := s.Delete(ctx, admin, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App(ctx, admin, "docs bot"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
