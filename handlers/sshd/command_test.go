package sshd

import (
	"errors"
	"testing"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		line                 string
		service, owner, repo string
		err                  error // errNotGit, or nil; "bad path" cases use errBadPath
	}{
		// What git sends for ssh:// URLs and for scp-style ones.
		{"git-upload-pack '/alice/app.git'", "git-upload-pack", "alice", "app", nil},
		{"git-receive-pack 'alice/app.git'", "git-receive-pack", "alice", "app", nil},
		{"git-upload-pack 'alice/app'", "git-upload-pack", "alice", "app", nil},
		{"git-upload-pack '/alice/app.git/'", "git-upload-pack", "alice", "app", nil},
		{"git upload-pack '/alice/app.git'", "git-upload-pack", "alice", "app", nil},
		{"git-upload-pack /alice/app.git", "git-upload-pack", "alice", "app", nil},
		{`git-upload-pack "alice/my app.git"`, "git-upload-pack", "alice", "my app", nil},
		// git's sq_quote writes ' as '\'' and ! as '\!'.
		{`git-upload-pack 'alice/it'\''s'\!'.git'`, "git-upload-pack", "alice", "it's!", nil},
		{"git-upload-archive 'alice/app.git'", "", "", "", errNotGit},
		{"ls -la", "", "", "", errNotGit},
		{"", "", "", "", errNotGit},
		{"git-upload-pack", "", "", "", errNotGit},
		{"git-upload-pack 'a/b' extra", "", "", "", errNotGit},
		{"git-upload-pack 'unterminated", "", "", "", errNotGit},
		{"git-upload-pack '/alice'", "git-upload-pack", "", "", errBadPath},
		{"git-upload-pack '/alice/app/more.git'", "git-upload-pack", "", "", errBadPath},
		{"git-upload-pack '/alice/.git'", "git-upload-pack", "", "", errBadPath},
		{"git-upload-pack '//app.git'", "git-upload-pack", "", "", errBadPath},
	}
	for _, c := range cases {
		got, err := parseCommand(c.line)
		switch {
		case c.err == nil && err != nil:
			t.Errorf("%q: %v", c.line, err)
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%q: error %v, want %v", c.line, err, c.err)
		case c.err == nil && (got.service != c.service || got.owner != c.owner || got.repo != c.repo):
			t.Errorf("%q = %+v", c.line, got)
		case errors.Is(c.err, errBadPath) && got.service != c.service:
			t.Errorf("%q: service %q, want %q for the message", c.line, got.service, c.service)
		}
	}
}
