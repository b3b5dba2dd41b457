package code_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/coretest"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/webhooks"
	"tapioca/store"
)

func text(s string) *string { return &s }

// A commit made through the code service is a push: the rules run, the
// journal is written and cleared, push events fire and pull requests
// whose head moved are synchronized.
func TestCommitFilesIsAPush(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	owner, reader := f.User(t, "ada"), f.User(t, "rex")
	if _, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "app", AutoInit: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Repos.SetCollaborator(ctx, owner, "ada", "app", "rex", core.Some("read")); err != nil {
		t.Fatal(err)
	}
	hook, err := f.Webhooks.Create(ctx, owner, owner.User, webhooks.Fields{URL: core.Some("http://192.0.2.1/h"),
		Events: core.Some([]string{"push", "create", "pull_request"})})
	if err != nil {
		t.Fatal(err)
	}
	in := code.CommitInput{Branch: "topic", StartBranch: "master", Message: "Start topic",
		Actions: []code.CommitAction{{Action: "create", Path: "a.txt", Content: text("a\n")}}}
	if _, err := f.Code.CommitFiles(ctx, reader, "ada", "app", in); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a reader committing: %v", err)
	}
	w, err := f.Code.CommitFiles(ctx, owner, "ada", "app", in)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Created || w.Branch != "topic" || len(w.Files) != 1 {
		t.Fatalf("written: %+v", w)
	}
	p, err := f.Pulls.Create(ctx, owner, "ada", "app", pulls.Creation{Title: core.Some("Topic"), Head: "topic", Base: "master"})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := f.Code.CommitFiles(ctx, owner, "ada", "app", code.CommitInput{Branch: "topic", Message: "More",
		ExpectedHeadSHA: w.Commit.SHA.String(), Actions: []code.CommitAction{
			{Action: "move", Path: "b.txt", PreviousPath: "a.txt"},
			{Action: "create", Path: "bin/run", Content: text(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n"))), Encoding: "base64", Executable: new(true)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	synced, err := f.Pulls.Get(ctx, owner, issues.Ref{Owner: "ada", Repo: "app", Number: p.Number, Pull: true})
	if err != nil {
		t.Fatal(err)
	}
	if synced.Git.HeadSHA != w2.Commit.SHA.String() || synced.Git.Commits != 2 {
		t.Errorf("pull request after the commit: head %s, %d commits", synced.Git.HeadSHA, synced.Git.Commits)
	}
	ds, _, err := f.Env.Store.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: hook.ID})
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for i := len(ds) - 1; i >= 0; i-- {
		evs = append(evs, ds[i].Event+"/"+ds[i].Action)
	}
	if want := []string{"create/", "push/", "pull_request/opened", "push/", "pull_request/synchronize"}; !slices.Equal(evs, want) {
		t.Errorf("events %v, want %v", evs, want)
	}
	if rows, err := f.Env.Store.PendingRefIntents(ctx); err != nil || len(rows) != 0 {
		t.Errorf("journal left %d rows (%v)", len(rows), err)
	}
	run, err := f.Code.Contents(ctx, owner, "ada", "app", "bin/run", code.RefQuery{Ref: "topic"})
	if err != nil || run.Mode.String() != "0100755" || string(run.Content.Content) != "#!/bin/sh\n" {
		t.Fatalf("bin/run: %+v %v", run, err)
	}
}

// The single-file writes follow GitHub's contents API: a create does not
// overwrite, an update names the blob it replaces (409 when stale), a
// delete of a missing file is a 404.
func TestFileWrites(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	owner := f.User(t, "bo")
	if _, err := f.Repos.Create(ctx, owner, "", repos.Creation{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// The first commit of an empty repository makes its default branch.
	w, err := f.Code.PutFile(ctx, owner, "bo", "r", "docs/a.md", code.FileInput{Message: "First", Content: enc("one\n")})
	if err != nil || !w.Created || w.Content == nil || w.Content.Path != "docs/a.md" {
		t.Fatalf("first file: %+v %v", w, err)
	}
	blob := w.Content.SHA.String()
	cases := []struct {
		name string
		in   code.FileInput
		kind error
		msg  string
	}{
		{"create over a file", code.FileInput{Message: "m", Content: enc("x")}, core.ErrInvalid, "sha"},
		{"stale sha", code.FileInput{Message: "m", Content: enc("x"), SHA: strings.Repeat("1", 40)}, core.ErrConflict, "has changed"},
		{"short sha", code.FileInput{Message: "m", Content: enc("x"), SHA: "abc"}, core.ErrInvalid, "full blob SHA"},
		{"not base64", code.FileInput{Message: "m", Content: "!!"}, core.ErrInvalid, "base64"},
		{"no message", code.FileInput{Content: enc("x"), SHA: blob}, core.ErrInvalid, "message"},
		{"unknown branch", code.FileInput{Message: "m", Content: enc("x"), SHA: blob, Branch: "nope"}, core.ErrNotFound, "Branch nope not found"},
		{"same content", code.FileInput{Message: "m", Content: enc("one\n"), SHA: blob}, core.ErrInvalid, "Nothing to commit"},
	}
	for _, tc := range cases {
		_, err := f.Code.PutFile(ctx, owner, "bo", "r", "docs/a.md", tc.in)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v %q", tc.name, err, tc.kind, tc.msg)
		}
	}
	if _, err := f.Code.PutFile(ctx, owner, "bo", "r", "docs/a.md", code.FileInput{Message: "Update", Content: enc("two\n"), SHA: blob}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Code.DeleteFile(ctx, owner, "bo", "r", "docs/nope.md", code.DeleteFileInput{Message: "m", SHA: blob}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("deleting a missing file: %v", err)
	}
	c, err := f.Code.Contents(ctx, owner, "bo", "r", "docs/a.md", code.RefQuery{})
	if err != nil || string(c.Content.Content) != "two\n" {
		t.Fatalf("after the update: %+v %v", c, err)
	}
	if _, err := f.Code.Contents(ctx, owner, "bo", "r", "docs/b.md", code.RefQuery{}); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"docs/b.md" not found`) {
		t.Errorf("missing path: %v", err)
	}
}
