package pulls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
	"tapioca/handlers/core"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Reviews lists a pull request's reviews.
func (s *Service) Reviews(ctx context.Context, a core.Actor, ref issues.Ref, pg core.Page) ([]*store.Review, int, error) {
	_, _, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	return s.env.Store.ListReviews(ctx, p.ID, pg.Limit, pg.Offset)
}

// reviewStates maps the input values (and GitHub's upper-case event
// names, lowered) to what is stored and shown.
var reviewStates = map[string]string{
	"approve":         store.ReviewApproved,
	"request_changes": store.ReviewChangesRequested,
	"comment":         store.ReviewCommented,
}

// InlineComment is a review comment on a line of a file.
type InlineComment struct {
	Path core.Opt[string] `json:"path" api:"required" doc:"A file the pull request changes"`
	Line core.Opt[int]    `json:"line" api:"required" doc:"The line of that file (as of the head; of the base for a deleted file)"`
	Body core.Opt[string] `json:"body" api:"required" doc:"The comment"`
}

// ReviewInput is a review to submit.
type ReviewInput struct {
	State    string           `json:"state" api:"required" enum:"approve,request_changes,comment" doc:"approve, request_changes or comment (any case)"`
	Body     core.Opt[string] `json:"body" doc:"The review's text: required to request changes, and for a comment without inline comments"`
	Comments []InlineComment  `json:"comments" doc:"Comments on lines of changed files"`
}

// Review submits a review: anyone signed in who can read the repository
// may, except that authors cannot approve or request changes on their
// own pull request. Inline comments must be on lines of files the pull
// request changes.
func (s *Service) Review(ctx context.Context, a core.Actor, ref issues.Ref, in ReviewInput) (*store.Review, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	state, ok := reviewStates[strings.ToLower(in.State)]
	switch {
	case strings.TrimSpace(in.State) == "":
		v.Add("state", "can't be blank")
	case !ok:
		v.Add("state", `is not included in the list ("approve", "request_changes", "comment")`)
	case state == store.ReviewApproved && p.Author.ID == u.ID:
		v.Add("state", "you cannot approve your own pull request")
	case state == store.ReviewChangesRequested && p.Author.ID == u.ID:
		v.Add("state", "you cannot request changes on your own pull request")
	}
	body := core.CheckBody(v, "body", in.Body)
	blank := body == nil || *body == nil || strings.TrimSpace(**body) == ""
	if blank {
		body = nil
	}
	switch {
	case state == store.ReviewChangesRequested && blank:
		v.Add("body", "can't be blank when requesting changes")
	case state == store.ReviewCommented && blank && len(in.Comments) == 0:
		v.Add("body", "can't be blank for a comment review without inline comments")
	}
	if err := s.Fresh(ctx, repo, []*store.Pull{p}); err != nil {
		return nil, err
	}
	var comments []store.NewReviewComment
	if len(in.Comments) > 0 {
		st, err := s.env.Objects(repo)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		changed, err := changedPaths(ctx, st, p)
		if err != nil {
			return nil, err
		}
		lines, err := newPRLines(st, p)
		if err != nil {
			return nil, err
		}
		for k, c := range in.Comments {
			at := fmt.Sprintf("comments[%d]", k)
			path := strings.TrimPrefix(strings.TrimSpace(c.Path.V), "/")
			switch {
			case path == "":
				v.Add("comments", at+".path can't be blank")
			case !changed[path]:
				v.Add("comments", fmt.Sprintf("%s.path %q is not a file changed by this pull request", at, path))
			}
			if !c.Line.Given() || c.Line.V < 1 {
				v.Add("comments", at+".line must be a positive integer")
			} else if changed[path] {
				n, binary, err := lines.count(path)
				if err != nil {
					return nil, err
				}
				switch {
				case binary:
					v.Add("comments", fmt.Sprintf("%s.path %q is a binary file; comment on the review body instead", at, path))
				case c.Line.V > n:
					v.Add("comments", fmt.Sprintf("%s.line %d is past the end of %q (%d lines)", at, c.Line.V, path, n))
				}
			}
			switch {
			case strings.TrimSpace(c.Body.V) == "":
				v.Add("comments", at+".body can't be blank")
			case utf8.RuneCountInString(c.Body.V) > core.MaxBodyLen:
				v.Add("comments", fmt.Sprintf("%s.body is too long (maximum is %d characters)", at, core.MaxBodyLen))
			case core.TextProblem(c.Body.V) != "":
				v.Add("comments", at+".body "+core.TextProblem(c.Body.V))
			}
			comments = append(comments, store.NewReviewComment{Path: path, Line: c.Line.V, Body: c.Body.V})
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	nr := store.NewReview{RepoID: repo.ID, PullID: p.ID, AuthorID: u.ID, State: state, CommitSHA: p.Git.HeadSHA, Comments: comments}
	if body != nil {
		nr.Body = *body
	}
	var rv *store.Review
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if rv, err = tx.CreateReview(ctx, nr); err != nil {
			return err
		}
		return s.events.PullOfIssue(ctx, tx, repo, u, "review_submitted", p.Issue, map[string]any{"review": payload.ReviewOf(rv)})
	})
	return rv, err
}

// changedPaths is the set of files the pull request changes between the
// tips its facts were computed for (frozen once merged or closed).
func changedPaths(ctx context.Context, st *core.Objects, p *store.Pull) (map[string]bool, error) {
	paths, err := diffstat.ChangedPaths(ctx, st, plumbing.NewHash(p.Git.BaseSHA), plumbing.NewHash(p.Git.HeadSHA))
	if errors.Is(err, merge.ErrNoMergeBase) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(paths))
	for _, path := range paths {
		out[path] = true
	}
	return out, nil
}

// prLines counts the lines of files a pull request touches, as of its
// head (or, for a file the pull request deletes, its base), so inline
// comments can be checked against the file they point into.
type prLines struct {
	head, base *object.Commit
	cache      map[string]fileLines
}

type fileLines struct {
	n      int
	binary bool
}

func newPRLines(st *core.Objects, p *store.Pull) (*prLines, error) {
	pl := &prLines{cache: map[string]fileLines{}}
	var err error
	if pl.head, err = object.GetCommit(st, plumbing.NewHash(p.Git.HeadSHA)); err != nil {
		return nil, fmt.Errorf("pull head %s: %w", p.Git.HeadSHA, err)
	}
	if pl.base, err = object.GetCommit(st, plumbing.NewHash(p.Git.BaseSHA)); err != nil {
		return nil, fmt.Errorf("pull base %s: %w", p.Git.BaseSHA, err)
	}
	return pl, nil
}

// count returns the number of lines of path, counting a final line
// without a newline as git does.
func (pl *prLines) count(path string) (int, bool, error) {
	if fl, ok := pl.cache[path]; ok {
		return fl.n, fl.binary, nil
	}
	f, err := pl.head.File(path)
	if errors.Is(err, object.ErrFileNotFound) {
		f, err = pl.base.File(path)
	}
	if errors.Is(err, object.ErrFileNotFound) {
		// A changed path that is a submodule or otherwise not a blob: no lines.
		pl.cache[path] = fileLines{}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	binary, err := f.IsBinary()
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	fl := fileLines{binary: binary}
	if !binary {
		content, err := f.Contents()
		if err != nil {
			return 0, false, fmt.Errorf("read %s: %w", path, err)
		}
		fl.n = strings.Count(content, "\n")
		if content != "" && !strings.HasSuffix(content, "\n") {
			fl.n++
		}
	}
	pl.cache[path] = fl
	return fl.n, fl.binary, nil
}

// Reviewers lists the users whose review is requested.
func (s *Service) Reviewers(ctx context.Context, a core.Actor, ref issues.Ref) ([]store.UserRef, error) {
	_, _, p, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	return s.env.Store.ReviewRequests(ctx, p.ID)
}

// RequestReviewers asks users who can read the repository (not the
// author) to review: write access. It returns the whole list.
func (s *Service) RequestReviewers(ctx context.Context, a core.Actor, ref issues.Ref, names []string) ([]store.UserRef, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, core.Invalid("reviewers", "can't be blank")
	}
	v := core.Validation{}
	users, err := s.issues.ResolveUsers(ctx, repo, names, "reviewers", v)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.ID == p.Author.ID {
			v.Add("reviewers", fmt.Sprintf("user %q is the author of the pull request", u.Username))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	before, err := s.env.Store.ReviewRequests(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	had := map[int64]bool{}
	for _, u := range before {
		had[u.ID] = true
	}
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.AddReviewRequests(ctx, p.ID, issues.UserIDs(users)); err != nil {
			return err
		}
		for _, u := range users {
			if had[u.ID] {
				continue
			}
			had[u.ID] = true
			if err := s.events.PullOfIssue(ctx, tx, repo, a.User, "review_requested", p.Issue, map[string]any{"requested_reviewer": payload.UserOf(u)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.env.Store.ReviewRequests(ctx, p.ID)
}

// RemoveReviewers withdraws requests: write access. Names that were not
// requested (or do not exist) change nothing. It returns the list that
// remains.
func (s *Service) RemoveReviewers(ctx context.Context, a core.Actor, ref issues.Ref, names []string) ([]store.UserRef, error) {
	repo, _, p, err := s.Load(ctx, a, ref, store.PermWrite)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, core.Invalid("reviewers", "can't be blank")
	}
	before, err := s.env.Store.ReviewRequests(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	requested := map[string]store.UserRef{}
	for _, u := range before {
		requested[strings.ToLower(u.Username)] = u
	}
	var gone []store.UserRef
	for _, n := range names {
		name := strings.ToLower(strings.TrimSpace(n))
		if u, ok := requested[name]; ok {
			gone = append(gone, u)
			delete(requested, name)
			continue
		}
		// An alias names the same user.
		u, err := s.env.Store.UserByName(ctx, name)
		if err != nil {
			if core.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if ref, ok := requested[strings.ToLower(u.Username)]; ok {
			gone = append(gone, ref)
			delete(requested, strings.ToLower(u.Username))
		}
	}
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		ids := make([]int64, 0, len(gone))
		for _, u := range gone {
			ids = append(ids, u.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.RemoveReviewRequests(ctx, p.ID, ids); err != nil {
			return err
		}
		for _, u := range gone {
			if err := s.events.PullOfIssue(ctx, tx, repo, a.User, "review_request_removed", p.Issue, map[string]any{"requested_reviewer": payload.Ref(u)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.env.Store.ReviewRequests(ctx, p.ID)
}
