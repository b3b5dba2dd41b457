package code

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"tapioca/gitserver"
	"tapioca/gitserver/browse"
	"tapioca/gitserver/commitfiles"
	"tapioca/handlers/core"
	"tapioca/store"
)

// FileInput writes one file (GitHub's PUT contents): a new file, or a
// new version of the file whose blob sha is given.
type FileInput struct {
	Message string `json:"message" api:"required" doc:"The commit message"`
	Content string `json:"content" api:"required" doc:"The file's new content, base64-encoded"`
	SHA     string `json:"sha" doc:"The blob SHA of the file being replaced: required to update a file, absent to create one"`
	Branch  string `json:"branch" doc:"The branch to commit to (default: the repository's default branch)"`
}

// DeleteFileInput removes one file (GitHub's DELETE contents).
type DeleteFileInput struct {
	Message string `json:"message" api:"required" doc:"The commit message"`
	SHA     string `json:"sha" api:"required" doc:"The blob SHA of the file being deleted"`
	Branch  string `json:"branch" doc:"The branch to commit to (default: the repository's default branch)"`
}

// CommitInput is a commit of several file changes at once (as GitLab's
// commits API).
type CommitInput struct {
	Branch  string `json:"branch" api:"required" doc:"The branch to commit to; it is created when start_branch is given and it does not exist"`
	Message string `json:"message" api:"required" doc:"The commit message"`
	// ExpectedHeadSHA makes the commit a compare-and-swap.
	ExpectedHeadSHA string         `json:"expected_head_sha" doc:"The commit the branch must be at now (full SHA); 409 if it moved"`
	StartBranch     string         `json:"start_branch" doc:"Where a new branch starts: a branch, tag or commit SHA"`
	Actions         []CommitAction `json:"actions" api:"required" doc:"The changes, applied in order"`
}

// CommitAction is one change of a commit.
type CommitAction struct {
	Action       string  `json:"action" api:"required" enum:"create,update,delete,move" doc:"What to do to the file"`
	Path         string  `json:"path" api:"required" doc:"The file's path (after a move)"`
	PreviousPath string  `json:"previous_path" doc:"For a move: where the file was"`
	Content      *string `json:"content" doc:"The file's content (create, update; optional for a move)"`
	Encoding     string  `json:"encoding" enum:"text,base64" doc:"How content is given (default text)"`
	Executable   *bool   `json:"executable" doc:"Make the file executable (true) or not (false); absent keeps the mode"`
	SHA          string  `json:"sha" doc:"The blob SHA the file must have now (update, delete, move); 409 if it changed"`
}

// Written is a commit made through the API.
type Written struct {
	Repo   *store.Repo
	Branch string
	Commit browse.Commit
	// Created is true when the commit created the branch (or the
	// repository's first branch).
	Created bool
	Files   []commitfiles.File
	// Content is the file a contents PUT wrote (nil for a delete and for
	// multi-file commits).
	Content *commitfiles.File
}

// PutFile creates or updates one file.
func (s *Service) PutFile(ctx context.Context, a core.Actor, owner, name, path string, in FileInput) (*Written, error) {
	repo, u, err := s.writer(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	content, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(in.Content), ""))
	if err != nil {
		v.Add("content", "must be base64-encoded")
	}
	act := commitfiles.Action{Op: commitfiles.Create, Path: path, Content: content}
	if in.SHA != "" {
		act.Op = commitfiles.Update
		act.ExpectedBlob = s.blobSHA(v, "sha", in.SHA)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	branch := in.Branch
	if branch == "" {
		branch = repo.DefaultBranch
	}
	w, err := s.commit(ctx, repo, u, commitfiles.Request{Branch: branch, Message: in.Message, Actions: []commitfiles.Action{act}}, fileFields)
	if err != nil {
		return nil, err
	}
	for i := range w.Files {
		if w.Files[i].Path == path {
			w.Content = &w.Files[i]
		}
	}
	return w, nil
}

// DeleteFile removes one file.
func (s *Service) DeleteFile(ctx context.Context, a core.Actor, owner, name, path string, in DeleteFileInput) (*Written, error) {
	repo, u, err := s.writer(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	if in.SHA == "" {
		v.Add("sha", "can't be blank: give the blob SHA of the file being deleted")
	}
	blob := s.blobSHA(v, "sha", in.SHA)
	if err := v.Err(); err != nil {
		return nil, err
	}
	branch := in.Branch
	if branch == "" {
		branch = repo.DefaultBranch
	}
	return s.commit(ctx, repo, u, commitfiles.Request{Branch: branch, Message: in.Message,
		Actions: []commitfiles.Action{{Op: commitfiles.Delete, Path: path, ExpectedBlob: blob}}}, fileFields)
}

// CommitFiles makes one commit of several changes.
func (s *Service) CommitFiles(ctx context.Context, a core.Actor, owner, name string, in CommitInput) (*Written, error) {
	repo, u, err := s.writer(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	if strings.TrimSpace(in.Branch) == "" {
		v.Add("branch", "can't be blank")
	}
	if len(in.Actions) == 0 {
		v.Add("actions", "can't be empty")
	}
	var head plumbing.Hash
	if in.ExpectedHeadSHA != "" {
		if !plumbing.IsHash(in.ExpectedHeadSHA) {
			v.Add("expected_head_sha", "must be a full commit SHA (40 hexadecimal digits)")
		}
		head = plumbing.NewHash(in.ExpectedHeadSHA)
	}
	var acts []commitfiles.Action
	for i, ac := range in.Actions {
		at := fmt.Sprintf("actions[%d]", i)
		act := commitfiles.Action{Op: commitfiles.Op(ac.Action), Path: ac.Path, PreviousPath: ac.PreviousPath}
		switch act.Op {
		case commitfiles.Create, commitfiles.Update, commitfiles.Delete, commitfiles.Move:
		default:
			v.Add("actions", fmt.Sprintf(`%s.action is not included in the list ("create", "update", "delete", "move")`, at))
		}
		if ac.Content != nil {
			switch ac.Encoding {
			case "", "text":
				act.Content = []byte(*ac.Content)
			case "base64":
				b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*ac.Content), ""))
				if err != nil {
					v.Add("actions", at+".content is not valid base64")
				}
				act.Content = b
			default:
				v.Add("actions", at+`.encoding is not included in the list ("text", "base64")`)
			}
		}
		if ac.Executable != nil {
			act.Mode = filemode.Regular
			if *ac.Executable {
				act.Mode = filemode.Executable
			}
		}
		if ac.SHA != "" {
			act.ExpectedBlob = s.blobSHA(v, "actions", ac.SHA)
		}
		acts = append(acts, act)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.commit(ctx, repo, u, commitfiles.Request{Branch: strings.TrimSpace(in.Branch), StartPoint: in.StartBranch,
		ExpectedHead: head, Message: in.Message, Actions: acts}, actionFields)
}

// writer checks write access.
func (s *Service) writer(ctx context.Context, a core.Actor, owner, name string) (*store.Repo, *store.User, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermWrite)
	if err != nil {
		return nil, nil, err
	}
	u, err := a.Require()
	return repo, u, err
}

func (s *Service) blobSHA(v core.Validation, field, sha string) plumbing.Hash {
	if !plumbing.IsHash(strings.ToLower(sha)) {
		v.Add(field, fmt.Sprintf("%q is not a full blob SHA (40 hexadecimal digits)", sha))
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(strings.ToLower(sha))
}

// fieldNames says where a commit's problems are reported: the single-file
// endpoints have no actions list.
type fieldNames struct {
	action func(i int) string // the field of action i's errors
	sha    string
}

var (
	fileFields   = fieldNames{action: func(int) string { return "path" }, sha: "sha"}
	actionFields = fieldNames{action: func(i int) string { return "actions" }, sha: "actions"}
)

// commit makes the commit as a push: the push rules run and the update is
// journaled just before the branch moves, and recorded after.
func (s *Service) commit(ctx context.Context, repo *store.Repo, u *store.User, req commitfiles.Request, fields fieldNames) (*Written, error) {
	if limit := s.env.Git.MaxFileSize(); limit > 0 {
		for _, a := range req.Actions {
			if int64(len(a.Content)) > limit {
				return nil, core.TooLarge("%s is %d bytes: files are limited to %d bytes", a.Path, len(a.Content), limit)
			}
		}
	}
	sig := core.Signature(u)
	req.Author = commitfiles.Signature{Name: sig.Name, Email: sig.Email, When: sig.When}
	req.Committer = req.Author
	var dones []func()
	defer func() {
		for _, d := range dones {
			d()
		}
	}()
	req.Check = func(ctx context.Context, upd gitserver.RefUpdate) error {
		if err := s.rules.Check(ctx, repo, upd); err != nil {
			return &refused{err}
		}
		done, err := s.rules.Begin(ctx, repo, u, upd)
		if err != nil {
			return err
		}
		dones = append(dones, done)
		return nil
	}
	res, err := commitfiles.Commit(ctx, s.env.Git, s.env.RepoPath(repo.ID), req)
	if err != nil {
		return nil, s.commitErr(repo, req, fields, err)
	}
	// The branch has moved: what follows must happen even if the client
	// is gone.
	ctx = context.WithoutCancel(ctx)
	s.rules.Record(ctx, repo, u, []gitserver.RefUpdate{res.Update})
	if fresh, err := s.env.Store.RepoByID(ctx, repo.ID); err == nil {
		repo = fresh
	}
	c := browse.Commit{SHA: res.Commit, Tree: res.Tree,
		Author:    browse.Signature{Name: req.Author.Name, Email: req.Author.Email, When: req.Author.When},
		Committer: browse.Signature{Name: req.Committer.Name, Email: req.Committer.Email, When: req.Committer.When},
		Message:   normalized(req.Message)}
	if !res.Parent.IsZero() {
		c.Parents = []plumbing.Hash{res.Parent}
	}
	return &Written{Repo: repo, Branch: strings.TrimPrefix(req.Branch, "refs/heads/"), Commit: c, Created: res.Update.Old.IsZero(),
		Files: res.Files}, nil
}

func normalized(msg string) string {
	if strings.HasSuffix(msg, "\n") {
		return msg
	}
	return msg + "\n"
}

// refused marks a push rule's refusal through commitfiles.
type refused struct{ err error }

func (r *refused) Error() string { return r.err.Error() }
func (r *refused) Unwrap() error { return r.err }

// commitErr says what went wrong in the API's terms.
func (s *Service) commitErr(repo *store.Repo, req commitfiles.Request, fields fieldNames, err error) error {
	var ref *refused
	var moved *commitfiles.BranchMovedError
	var ae *commitfiles.ActionError
	branch := strings.TrimPrefix(req.Branch, "refs/heads/")
	switch {
	case errors.As(err, &ref):
		return core.Conflict("Refused: %s", ref.err.Error())
	case errors.As(err, &moved):
		if moved.Actual.IsZero() {
			return core.Conflict("Branch %s does not exist, so it is not at %s", branch, Short(moved.Expected))
		}
		return core.Conflict("Branch %s moved: it is at %s, not %s", branch, moved.Actual, moved.Expected)
	case errors.Is(err, commitfiles.ErrBranchMoved):
		return core.Conflict("Branch %s kept moving while the commit was made; try again", branch)
	case errors.As(err, &ae):
		field := fields.action(ae.Index)
		where := ae.Path
		if field == "actions" {
			where = fmt.Sprintf("actions[%d] (%s %s)", ae.Index, ae.Op, ae.Path)
		}
		switch {
		case errors.Is(ae, commitfiles.ErrStaleBlob):
			return core.Conflict("%s has changed: it does not match the sha given", where)
		case errors.Is(ae, commitfiles.ErrFileExists) && field == "path":
			return core.Invalid("sha", fmt.Sprintf("is required to replace the existing file %s", ae.Path))
		case errors.Is(ae, commitfiles.ErrFileExists):
			return core.Invalid(field, where+": the path is taken")
		case errors.Is(ae, commitfiles.ErrFileNotFound) && field == "path":
			return core.NotFound("File %s not found on branch %s", ae.Path, branch)
		case errors.Is(ae, commitfiles.ErrFileNotFound):
			return core.Invalid(field, where+": there is no such file")
		}
		return core.Invalid(field, where+": "+ae.Reason)
	case errors.Is(err, commitfiles.ErrNoChanges):
		return core.Invalidf("Nothing to commit: the changes leave the files as they are")
	case errors.Is(err, commitfiles.ErrInvalid):
		msg := strings.TrimSuffix(err.Error(), ": "+commitfiles.ErrInvalid.Error())
		switch {
		case strings.Contains(msg, "branch"):
			return core.Invalid("branch", msg)
		case strings.Contains(msg, "message"):
			return core.Invalid("message", "can't be blank")
		case strings.Contains(msg, "start point"):
			return core.Invalid("start_branch", msg)
		}
		return core.Invalidf("%s", msg)
	case errors.Is(err, gitserver.ErrNotFound):
		if req.StartPoint != "" {
			return core.Invalid("start_branch", fmt.Sprintf("%s does not name a commit", req.StartPoint))
		}
		return core.NotFound("Branch %s not found (give start_branch to create it)", branch)
	case errors.Is(err, gitserver.ErrAmbiguous):
		return core.Invalid("start_branch", fmt.Sprintf("%s is ambiguous: give more digits", req.StartPoint))
	}
	return err
}
