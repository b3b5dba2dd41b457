// Package commitfiles makes one commit on a branch from a list of file
// actions — create, update, delete, move — without a work tree, as
// GitLab's commits API and GitHub's contents API do, and moves the branch
// by compare-and-swap through gitserver.Server.UpdateRef.
//
// Objects are written bottom-up (blobs, trees, then the commit) and only
// after every action has been checked, so a refused request writes
// nothing and the invariants in gitserver/doc.go hold. The package checks
// no permissions and runs no hooks: the caller decides who may write,
// applies branch protection (Request.Check) and fires the same events as
// a push with the RefUpdate it gets back.
//
// GitHub's single-file contents API maps onto one action: PUT with the
// file's blob "sha" is an Update with ExpectedBlob (ErrStaleBlob if it
// changed), PUT without it a Create (ErrFileExists if the file is
// there), DELETE a Delete with ExpectedBlob.
package commitfiles

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"tapioca/gitserver"
)

// Op is what an action does to a path.
type Op string

const (
	Create Op = "create"
	Update Op = "update"
	Delete Op = "delete"
	Move   Op = "move"
)

// Action is one change to make. Actions apply in order, each seeing the
// tree the previous ones left.
type Action struct {
	Op   Op
	Path string
	// PreviousPath is where a Move takes the file from.
	PreviousPath string
	// Content is the file's new bytes (a symlink's target). A Move with
	// nil Content keeps the file's content.
	Content []byte
	// Mode is 100644, 100755 or 120000 (a symlink); 0 keeps the file's
	// mode (Update, Move) or makes a regular file (Create).
	Mode filemode.FileMode
	// ExpectedBlob, when set, must be the blob now at Path (Update,
	// Delete) or PreviousPath (Move): GitHub's "sha" of the file being
	// replaced.
	ExpectedBlob plumbing.Hash
}

// Signature names the author or committer; a zero When is now.
type Signature struct {
	Name, Email string
	When        time.Time
}

// Request is one commit to make.
type Request struct {
	// Branch is a branch name ("main" or "refs/heads/main").
	Branch string
	// StartPoint is the revision a new Branch starts from; it is not used
	// when the branch exists. With no StartPoint, a missing branch is an
	// error unless the repository has no branches at all: then the
	// commit is its first (a root commit).
	StartPoint string
	// ExpectedHead, when set, must be the branch's current commit
	// (ErrBranchMoved otherwise). Without it, a branch moved by someone
	// else while this commit was made is retried on the new head.
	ExpectedHead plumbing.Hash
	Message      string
	Author       Signature
	Committer    Signature
	Actions      []Action
	// AllowEmpty makes a commit even when the actions change nothing.
	AllowEmpty bool
	// Check, when set, runs with the ref update just before the branch
	// moves (branch protection); an error stops the commit there and is
	// returned as is.
	Check func(ctx context.Context, u gitserver.RefUpdate) error
}

// File is a file the commit wrote.
type File struct {
	Path string
	SHA  plumbing.Hash
	Mode filemode.FileMode
	Size int64
}

// Result is the commit made and the ref move that published it.
type Result struct {
	Commit plumbing.Hash
	Tree   plumbing.Hash
	// Parent is the previous head (zero for a root commit).
	Parent plumbing.Hash
	// Update is the branch's move, as a push reports it: Old is zero
	// when the branch was created.
	Update gitserver.RefUpdate
	// Files are the files created, updated or moved, at their new paths.
	Files []File
}

var (
	// ErrInvalid is a request that cannot be a commit: a bad path, op,
	// mode, branch name or identity, or no message. The message says
	// which.
	ErrInvalid = errors.New("invalid commit request")
	// ErrBranchMoved is returned (as *BranchMovedError) when the branch
	// is not at ExpectedHead.
	ErrBranchMoved = errors.New("branch moved")
	// ErrFileExists: a Create or Move onto a path that is taken (by a
	// file, or by a directory, or a file stands where a directory is
	// needed).
	ErrFileExists = errors.New("file already exists")
	// ErrFileNotFound: an Update, Delete or Move of a path that is not a
	// file.
	ErrFileNotFound = errors.New("file does not exist")
	// ErrStaleBlob: the file is not at ExpectedBlob any more.
	ErrStaleBlob = errors.New("file has changed")
	// ErrNoChanges: the actions leave the tree as it was.
	ErrNoChanges = errors.New("nothing to commit")
)

// ActionError says which action failed; it unwraps to ErrInvalid,
// ErrFileExists, ErrFileNotFound or ErrStaleBlob.
type ActionError struct {
	Index  int
	Op     Op
	Path   string
	Reason string
	Err    error
}

func (e *ActionError) Error() string {
	msg := fmt.Sprintf("action %d (%s %s): %v", e.Index+1, e.Op, e.Path, e.Err)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *ActionError) Unwrap() error { return e.Err }

// BranchMovedError is a branch found at Actual when Expected was asked
// for (zero Actual: the branch does not exist).
type BranchMovedError struct {
	Branch           string
	Expected, Actual plumbing.Hash
}

func (e *BranchMovedError) Error() string {
	return fmt.Sprintf("%s is at %s, not %s: %v", e.Branch, e.Actual, e.Expected, ErrBranchMoved)
}

func (e *BranchMovedError) Unwrap() error { return ErrBranchMoved }

// maxRetries bounds how often a commit without ExpectedHead is remade on
// a branch that keeps moving.
const maxRetries = 3

// Commit makes the commit and moves the branch.
func Commit(ctx context.Context, srv *gitserver.Server, repoPath string, req Request) (*Result, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	repo, err := gitserver.Open(repoPath)
	if err != nil {
		return nil, err
	}
	branch := "refs/heads/" + strings.TrimPrefix(req.Branch, "refs/heads/")
	for attempt := 0; ; attempt++ {
		res, err := commitOnce(ctx, srv, repoPath, repo.Storer, branch, req)
		if errors.Is(err, errRaced) && req.ExpectedHead.IsZero() && attempt < maxRetries {
			continue
		}
		if errors.Is(err, errRaced) {
			err = fmt.Errorf("%s moved while committing: %w", branch, ErrBranchMoved)
		}
		return res, err
	}
}

// errRaced is a compare-and-swap lost to a concurrent update.
var errRaced = errors.New("raced")

func commitOnce(ctx context.Context, srv *gitserver.Server, repoPath string, st storer.EncodedObjectStorer, branch string, req Request) (*Result, error) {
	head, err := srv.ResolveRef(ctx, repoPath, branch)
	exists := err == nil
	if err != nil && !errors.Is(err, gitserver.ErrNotFound) {
		return nil, err
	}
	if !req.ExpectedHead.IsZero() && head != req.ExpectedHead {
		return nil, &BranchMovedError{Branch: branch, Expected: req.ExpectedHead, Actual: head}
	}
	parent := head
	if !exists {
		switch {
		case req.StartPoint != "":
			if parent, err = srv.ResolveRef(ctx, repoPath, req.StartPoint); err != nil {
				return nil, fmt.Errorf("start point %q: %w", req.StartPoint, err)
			}
		default:
			branches, err := srv.Branches(ctx, repoPath)
			if err != nil {
				return nil, err
			}
			if len(branches) > 0 {
				return nil, fmt.Errorf("branch %s: %w", branch, gitserver.ErrNotFound)
			}
		}
	}

	var baseTree plumbing.Hash
	if !parent.IsZero() {
		c, err := object.GetCommit(st, parent)
		if err != nil {
			return nil, fmt.Errorf("start point %s is not a commit: %w", parent, ErrInvalid)
		}
		baseTree = c.TreeHash
	}
	b := newBuilder(ctx, st, baseTree)
	for i, a := range req.Actions {
		if err := b.apply(i, a); err != nil {
			return nil, err
		}
	}
	tree, err := b.root()
	if err != nil {
		return nil, err
	}
	if tree == baseTree && !parent.IsZero() && !req.AllowEmpty {
		return nil, ErrNoChanges
	}
	commit := &object.Commit{
		Author:    req.Author.git(),
		Committer: req.Committer.git(),
		Message:   normalizeMessage(req.Message),
		TreeHash:  tree,
	}
	if !parent.IsZero() {
		commit.ParentHashes = []plumbing.Hash{parent}
	}
	ch, err := b.put(commit)
	if err != nil {
		return nil, err
	}
	upd := gitserver.RefUpdate{Name: branch, Old: head, New: ch, FastForward: true}
	if req.Check != nil {
		if err := req.Check(ctx, upd); err != nil {
			return nil, err
		}
	}
	// Blobs, trees, then the commit: each object's closure is stored
	// before it is, and all of it is on disk before the ref names it.
	wrote, err := b.flush()
	if err != nil {
		return nil, err
	}
	if err := syncLoose(repoPath, wrote); err != nil {
		return nil, err
	}
	if err := srv.UpdateRef(ctx, repoPath, branch, head, ch); err != nil {
		if errors.Is(err, gitserver.ErrRefConflict) {
			now, rerr := srv.ResolveRef(ctx, repoPath, branch)
			if (rerr == nil) != exists || now != head {
				if !req.ExpectedHead.IsZero() {
					return nil, &BranchMovedError{Branch: branch, Expected: req.ExpectedHead, Actual: now}
				}
				return nil, errRaced
			}
		}
		return nil, err
	}
	return &Result{Commit: ch, Tree: tree, Parent: parent, Update: upd, Files: b.written()}, nil
}

func (s Signature) git() object.Signature {
	when := s.When
	if when.IsZero() {
		when = time.Now()
	}
	return object.Signature{Name: sanitizeIdent(s.Name), Email: sanitizeIdent(s.Email), When: when}
}

// sanitizeIdent drops what would break a commit's identity line, as git
// does with such "crud".
func sanitizeIdent(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '\n', '\r', 0:
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// normalizeMessage ends the message with a newline, as git commit does.
func normalizeMessage(msg string) string {
	if strings.HasSuffix(msg, "\n") {
		return msg
	}
	return msg + "\n"
}

func (req Request) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
	}
	if err := gitserver.CheckBranchName(req.Branch); err != nil || req.Branch == "" {
		return bad("branch name %q", req.Branch)
	}
	if strings.TrimSpace(req.Message) == "" {
		return bad("empty commit message")
	}
	if sanitizeIdent(req.Author.Name) == "" || sanitizeIdent(req.Committer.Name) == "" {
		return bad("author and committer need a name")
	}
	if len(req.Actions) == 0 && !req.AllowEmpty {
		return bad("no actions")
	}
	for i, a := range req.Actions {
		if err := a.validate(); err != nil {
			return &ActionError{Index: i, Op: a.Op, Path: a.Path, Reason: err.Error(), Err: ErrInvalid}
		}
	}
	return nil
}

func (a Action) validate() error {
	switch a.Op {
	case Create, Update, Delete, Move:
	default:
		return fmt.Errorf("unknown action %q", a.Op)
	}
	if err := checkPath(a.Path); err != nil {
		return err
	}
	if a.Op == Move {
		if err := checkPath(a.PreviousPath); err != nil {
			return fmt.Errorf("previous path: %w", err)
		}
	} else if a.PreviousPath != "" {
		return fmt.Errorf("previous path is only for a move")
	}
	switch a.Mode {
	case 0, filemode.Regular, filemode.Executable, filemode.Symlink:
	default:
		return fmt.Errorf("mode %o is not 100644, 100755 or 120000", uint32(a.Mode))
	}
	if a.Op == Delete && (a.Content != nil || a.Mode != 0) {
		return fmt.Errorf("a delete takes no content or mode")
	}
	if a.Op == Create && !a.ExpectedBlob.IsZero() {
		return fmt.Errorf("a create replaces no blob")
	}
	if (a.Op == Create || a.Op == Update) && a.Content == nil {
		return fmt.Errorf("content is required (empty for an empty file)")
	}
	return nil
}

// maxPathBytes bounds a path; git has no limit but file systems do.
const maxPathBytes = 4096

// checkPath refuses paths git would store badly or that would escape the
// tree: empty, absolute, with empty, "." or ".." parts, with a ".git"
// part (any case; git refuses to check those out), or with NUL.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if len(p) > maxPathBytes {
		return fmt.Errorf("path longer than %d bytes", maxPathBytes)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("path contains NUL")
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "", part == ".", part == "..":
			return fmt.Errorf("path %q has an empty, \".\" or \"..\" part", p)
		case strings.EqualFold(part, ".git"):
			return fmt.Errorf("path %q has a .git part", p)
		}
	}
	return nil
}
