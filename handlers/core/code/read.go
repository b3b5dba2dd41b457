package code

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/gitserver/browse"
	"tapioca/gitserver/gitdiff"
	"tapioca/handlers/core"
	"tapioca/store"
)

// RefQuery picks the revision a read looks at.
type RefQuery struct {
	Ref string `json:"ref" doc:"Branch, tag or commit SHA (default: the repository's default branch)"`
}

// Contents is what is at a path: a file (with its bytes unless larger
// than MaxInlineContent), a symlink, a submodule or a directory.
type Contents struct {
	Repo *store.Repo
	*browse.Content
}

// Contents reads the file or directory at path ("" for the root).
func (s *Service) Contents(ctx context.Context, a core.Actor, owner, name, path string, q RefQuery) (*Contents, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, err := r.resolve(ctx, q.Ref)
	if err != nil {
		return nil, err
	}
	c, err := r.br.Contents(ctx, h.String(), path, MaxInlineContent)
	if err != nil {
		return nil, readErr(err, "path")
	}
	return &Contents{Repo: r.repo, Content: c}, nil
}

// Raw opens a file's bytes for streaming. refAndPath is "<ref>/<path>",
// where the ref may itself contain slashes: the shortest leading part
// that names a revision is the ref. The caller closes the reader.
func (s *Service) Raw(ctx context.Context, a core.Actor, owner, name, refAndPath string) (*browse.Content, io.ReadCloser, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	parts := strings.Split(strings.Trim(refAndPath, "/"), "/")
	for i := 1; i < len(parts); i++ {
		h, err := r.br.Resolve(ctx, strings.Join(parts[:i], "/"))
		if err != nil {
			continue
		}
		c, rd, err := r.br.OpenFile(ctx, h.String(), strings.Join(parts[i:], "/"))
		if err != nil {
			return nil, nil, readErr(err, "path")
		}
		return c, rd, nil
	}
	if len(parts) < 2 {
		return nil, nil, core.NotFound("No file named: the path must be <ref>/<file path>")
	}
	return nil, nil, core.NotFound("No ref found at the start of %s", refAndPath)
}

// TreeQuery asks for a listing of the whole tree.
type TreeQuery struct {
	Recursive bool `json:"recursive" doc:"List every entry below, not only the top level"`
}

// Tree lists the tree rev names (a commit-ish's root tree, or a tree's
// SHA), at most MaxTreeEntries entries (Truncated past that).
func (s *Service) Tree(ctx context.Context, a core.Actor, owner, name, rev string, q TreeQuery) (*browse.Tree, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	t, err := r.br.Tree(ctx, rev, q.Recursive, MaxTreeEntries)
	switch {
	case errors.Is(err, gitserver.ErrNotFound):
		return nil, core.NotFound("Tree %s not found", rev)
	case errors.Is(err, gitserver.ErrAmbiguous):
		return nil, core.Invalidf("%s is ambiguous: give more digits", rev)
	}
	return t, readErr(err, "ref")
}

// GrepQuery is a search of the files at one revision.
type GrepQuery struct {
	Pattern    string `json:"q" api:"required" doc:"A regular expression (Go's RE2 syntax) matched against each line"`
	Ref        string `json:"ref" doc:"Branch, tag or commit SHA (default: the repository's default branch)"`
	Path       string `json:"path" doc:"Only search this directory or file"`
	Glob       string `json:"glob" doc:"Only files matching this glob: *.go (file name) or cmd/**/*_test.go (whole path)"`
	IgnoreCase bool   `json:"ignore_case" doc:"Match letters in any case"`
	MaxMatches int    `json:"max_matches" doc:"Stop after this many matching lines (default 100, at most 1000)"`
}

// GrepTimeout bounds one search; what was found by then is returned with
// truncated set.
const GrepTimeout = 10 * time.Second

// Grep searches the text files at a revision.
func (s *Service) Grep(ctx context.Context, a core.Actor, owner, name string, q GrepQuery) (*browse.GrepResult, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	v := core.Validation{}
	if q.Pattern == "" {
		v.Add("q", "can't be blank")
	}
	if q.MaxMatches > MaxGrepMatches {
		v.Add("max_matches", "must be at most 1000")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	h, err := r.resolve(ctx, q.Ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, GrepTimeout)
	defer cancel()
	res, err := r.br.Grep(ctx, h.String(), browse.GrepQuery{Pattern: q.Pattern, IgnoreCase: q.IgnoreCase, Path: q.Path,
		Glob: q.Glob, MaxMatches: q.MaxMatches})
	if err != nil {
		field := "q"
		if strings.Contains(err.Error(), "glob") {
			field = "glob"
		} else if strings.Contains(err.Error(), "path") {
			field = "path"
		}
		return nil, readErr(err, field)
	}
	return res, nil
}

// LogQuery filters history.
type LogQuery struct {
	SHA    string    `json:"sha" doc:"Branch, tag or commit SHA to list history from (default: the default branch)"`
	Path   string    `json:"path" doc:"Only commits that change this file or directory"`
	Author string    `json:"author" doc:"A username (commits with that account's email) or part of an author's name or email"`
	Since  time.Time `json:"since" doc:"Only commits committed at or after this time"`
	Until  time.Time `json:"until" doc:"Only commits committed at or before this time"`
}

// LogPage is one page of history.
type LogPage struct {
	Repo    *store.Repo
	Commits []browse.Commit
	HasMore bool
}

// Log lists history in git log's order.
func (s *Service) Log(ctx context.Context, a core.Actor, owner, name string, q LogQuery, p core.Page) (*LogPage, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, err := r.resolve(ctx, q.SHA)
	if err != nil {
		return nil, err
	}
	lq := browse.LogQuery{Rev: h.String(), Path: q.Path, Since: q.Since, Until: q.Until, Skip: p.Offset, Limit: p.Limit}
	if q.Author != "" {
		lq.Author = q.Author
		// A username stands for the emails its commits carry.
		if u, err := s.env.UserNamed(ctx, q.Author); err == nil {
			sig := core.Signature(u)
			lq.AuthorEmails = []string{u.Email, sig.Email, u.Username + "@users.noreply.tapioca"}
		} else if !core.IsNotFound(err) {
			return nil, err
		}
	}
	page, err := r.br.Log(ctx, lq)
	if err != nil {
		return nil, readErr(err, "path")
	}
	return &LogPage{Repo: r.repo, Commits: page.Commits, HasMore: page.HasMore}, nil
}

// Commit is one commit with its changed files and their patches.
func (s *Service) Commit(ctx context.Context, a core.Actor, owner, name, rev string) (*browse.CommitDetail, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, err := r.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	d, err := r.br.CommitDetail(ctx, h.String(), browse.DiffOptions{MaxPatchBytes: MaxPatchBytes})
	return d, readErr(err, "ref")
}

// Tags lists the tags, by name.
func (s *Service) Tags(ctx context.Context, a core.Actor, owner, name string, p core.Page) ([]browse.Tag, int, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	tags, err := r.br.Tags(ctx)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(tags, p)
	return page, total, nil
}

// Compare compares base...head as GitHub does: the merge base, how far
// each side moved, head's new commits and the diff from the merge base.
func (s *Service) Compare(ctx context.Context, a core.Actor, owner, name, base, head string) (*browse.Comparison, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	bh, hh, err := r.pair(ctx, base, head)
	if err != nil {
		return nil, err
	}
	c, err := r.br.Compare(ctx, bh.String(), hh.String(), browse.CompareOptions{DiffOptions: browse.DiffOptions{MaxPatchBytes: MaxPatchBytes}})
	return c, readErr(err, "basehead")
}

func (r *reader) pair(ctx context.Context, base, head string) (plumbing.Hash, plumbing.Hash, error) {
	if base == "" || head == "" {
		return plumbing.ZeroHash, plumbing.ZeroHash, core.Invalid("basehead", "must be two revisions: base...head")
	}
	bh, err := r.resolve(ctx, base)
	if err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	hh, err := r.resolve(ctx, head)
	return bh, hh, err
}

// Format is how a diff is written.
type Format int

const (
	// Diff is `git diff` output.
	Diff Format = iota
	// Patch is `git format-patch --stdout` output, one mail per commit.
	Patch
)

// DiffWriter writes a diff or patch series once everything it needs was
// found; Write closes the repository, as does Close (for a writer that is
// never used).
type DiffWriter struct {
	r     *reader
	write func(ctx context.Context, w io.Writer) error
}

// Write writes the diff.
func (d *DiffWriter) Write(ctx context.Context, w io.Writer) error {
	defer d.Close()
	return d.write(ctx, w)
}

// Close releases the repository.
func (d *DiffWriter) Close() {
	if d.r != nil {
		d.r.Close()
		d.r = nil
	}
}

func (s *Service) signature() string { return "Tapioca " + s.env.Cfg.Version }

// CommitDiff is the diff of one commit against its first parent, or its
// patch.
func (s *Service) CommitDiff(ctx context.Context, a core.Actor, owner, name, rev string, f Format) (*DiffWriter, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	h, err := r.resolve(ctx, rev)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &DiffWriter{r: r, write: func(ctx context.Context, w io.Writer) error {
		if f == Patch {
			return r.br.WritePatchSeries(ctx, w, "", h.String(), s.signature(), browse.DiffOptions{})
		}
		return r.br.WriteCommitDiff(ctx, w, h.String(), browse.DiffOptions{})
	}}, nil
}

// CompareDiff is `git diff base...head`, or the patch series of
// base..head.
func (s *Service) CompareDiff(ctx context.Context, a core.Actor, owner, name, base, head string, f Format) (*DiffWriter, error) {
	r, err := s.open(ctx, a, owner, name)
	if err != nil {
		return nil, err
	}
	bh, hh, err := r.pair(ctx, base, head)
	if err != nil {
		r.Close()
		return nil, err
	}
	return s.rangeDiff(r, bh, hh, f), nil
}

func (s *Service) rangeDiff(r *reader, base, head plumbing.Hash, f Format) *DiffWriter {
	return &DiffWriter{r: r, write: func(ctx context.Context, w io.Writer) error {
		if f == Patch {
			return readErr(r.br.WritePatchSeries(ctx, w, base.String(), head.String(), s.signature(), browse.DiffOptions{}), "basehead")
		}
		return readErr(r.br.WriteCompareDiff(ctx, w, base.String(), head.String(), browse.DiffOptions{}), "basehead")
	}}
}

// pull loads a pull request with fresh facts and opens its repository.
func (s *Service) pull(ctx context.Context, a core.Actor, ref pullRef) (*reader, *store.Pull, error) {
	p, err := s.pulls.Get(ctx, a, ref)
	if err != nil {
		return nil, nil, err
	}
	repo, err := s.env.Store.RepoByID(ctx, p.RepoID)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.openRepo(repo)
	return r, p, err
}

// PullDiff is the pull request's diff (what its head changed since it
// left the base) or its patch series.
func (s *Service) PullDiff(ctx context.Context, a core.Actor, ref pullRef, f Format) (*DiffWriter, error) {
	r, p, err := s.pull(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	return s.rangeDiff(r, plumbing.NewHash(p.Git.BaseSHA), plumbing.NewHash(p.Git.HeadSHA), f), nil
}

// PullFiles lists the files a pull request changes, with patches.
func (s *Service) PullFiles(ctx context.Context, a core.Actor, ref pullRef, pg core.Page) ([]gitdiff.File, int, error) {
	r, p, err := s.pull(ctx, a, ref)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	files, err := r.br.FilesSinceMergeBase(ctx, p.Git.BaseSHA, p.Git.HeadSHA, browse.DiffOptions{MaxPatchBytes: MaxPatchBytes})
	if errors.Is(err, browse.ErrNoMergeBase) {
		return []gitdiff.File{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(files, pg)
	return page, total, nil
}

// PullCommits lists a pull request's commits (base..head), oldest first.
func (s *Service) PullCommits(ctx context.Context, a core.Actor, ref pullRef, pg core.Page) ([]browse.Commit, int, error) {
	r, p, err := s.pull(ctx, a, ref)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	all, total, err := r.br.RangeCommits(ctx, p.Git.BaseSHA, p.Git.HeadSHA, 0)
	if err != nil {
		return nil, 0, err
	}
	page, _ := core.Slice(all, pg)
	return page, total, nil
}
