package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver/diffstat"
	"tapioca/gitserver/merge"
	"tapioca/store"
)

func (a *App) routesReviews() {
	const pr = "/api/v1/repos/{owner}/{repo}/pulls/{number}"
	a.api("GET "+pr+"/reviews", areaRepo, a.listReviews)
	a.api("POST "+pr+"/reviews", areaRepo, a.createReview)
	a.api("GET "+pr+"/requested_reviewers", areaRepo, a.listRequestedReviewers)
	a.api("POST "+pr+"/requested_reviewers", areaRepo, a.requestReviewers)
	a.api("DELETE "+pr+"/requested_reviewers", areaRepo, a.removeRequestedReviewers)
}

type reviewCommentJSON struct {
	ID        int64         `json:"id"`
	Path      string        `json:"path"`
	Line      int           `json:"line"`
	Body      string        `json:"body"`
	Author    userBriefJSON `json:"author"`
	CreatedAt string        `json:"created_at"`
}

type reviewJSON struct {
	ID          int64               `json:"id"`
	Body        *string             `json:"body"`
	State       string              `json:"state"`
	Author      userBriefJSON       `json:"author"`
	CommitID    string              `json:"commit_id"`
	Comments    []reviewCommentJSON `json:"comments"`
	SubmittedAt string              `json:"submitted_at"`
}

func reviewOut(rv *store.Review) reviewJSON {
	out := reviewJSON{ID: rv.ID, Body: rv.Body, State: rv.State, Author: refBrief(rv.Author), CommitID: rv.CommitSHA,
		Comments: make([]reviewCommentJSON, 0, len(rv.Comments)), SubmittedAt: timeJSON(rv.SubmittedAt)}
	for _, c := range rv.Comments {
		out.Comments = append(out.Comments, reviewCommentJSON{ID: c.ID, Path: c.Path, Line: c.Line, Body: c.Body,
			Author: refBrief(c.Author), CreatedAt: timeJSON(c.CreatedAt)})
	}
	return out
}

func (a *App) listReviews(w http.ResponseWriter, r *http.Request) error {
	_, _, p, err := a.pullFor(r, store.PermRead)
	if err != nil {
		return err
	}
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	rs, total, err := a.store.ListReviews(r.Context(), p.ID, pg.PerPage, pg.Offset())
	if err != nil {
		return err
	}
	out := make([]reviewJSON, 0, len(rs))
	for _, rv := range rs {
		out = append(out, reviewOut(rv))
	}
	a.setPageHeaders(w, r, pg, total)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reviewStates maps the input values (and GitHub's upper-case event names)
// to what is stored and shown.
var reviewStates = map[string]string{
	"approve":         store.ReviewApproved,
	"request_changes": store.ReviewChangesRequested,
	"comment":         store.ReviewCommented,
}

// createReview submits a review: anyone signed in who can read the
// repository may, except that authors cannot approve or request changes
// on their own pull request. Inline comments must be on files the pull
// request changes.
func (a *App) createReview(w http.ResponseWriter, r *http.Request) error {
	repo, _, p, err := a.pullFor(r, store.PermRead)
	if err != nil {
		return err
	}
	u, err := requireUser(r)
	if err != nil {
		return err
	}
	var req struct {
		Body     opt[string] `json:"body"`
		State    opt[string] `json:"state"`
		Event    opt[string] `json:"event"`
		Comments []struct {
			Path opt[string] `json:"path"`
			Line opt[int]    `json:"line"`
			Body opt[string] `json:"body"`
		} `json:"comments"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	v := validation{}
	in := or(req.State, req.Event)
	state, ok := reviewStates[strings.ToLower(in.V)]
	switch {
	case strings.TrimSpace(in.V) == "":
		v.add("state", "can't be blank")
	case !ok:
		v.add("state", `is not included in the list ("approve", "request_changes", "comment")`)
	case state == store.ReviewApproved && p.Author.ID == u.ID:
		v.add("state", "you cannot approve your own pull request")
	case state == store.ReviewChangesRequested && p.Author.ID == u.ID:
		v.add("state", "you cannot request changes on your own pull request")
	}
	body := checkBody(v, "body", req.Body)
	blank := body == nil || *body == nil || strings.TrimSpace(**body) == ""
	if blank {
		body = nil
	}
	switch {
	case state == store.ReviewChangesRequested && blank:
		v.add("body", "can't be blank when requesting changes")
	case state == store.ReviewCommented && blank && len(req.Comments) == 0:
		v.add("body", "can't be blank for a comment review without inline comments")
	}
	ctx := r.Context()
	if err := a.freshPulls(ctx, repo, []*store.Pull{p}); err != nil {
		return err
	}
	var comments []store.NewReviewComment
	if len(req.Comments) > 0 {
		st, err := a.objects(repo)
		if err != nil {
			return err
		}
		defer st.Close()
		changed, err := changedPaths(ctx, st, p)
		if err != nil {
			return err
		}
		lines, err := newPRLines(st, p)
		if err != nil {
			return err
		}
		for k, c := range req.Comments {
			at := fmt.Sprintf("comments[%d]", k)
			path := strings.TrimPrefix(strings.TrimSpace(c.Path.V), "/")
			switch {
			case path == "":
				v.add("comments", at+".path can't be blank")
			case !changed[path]:
				v.add("comments", fmt.Sprintf("%s.path %q is not a file changed by this pull request", at, path))
			}
			if !c.Line.Set || c.Line.Null || c.Line.V < 1 {
				v.add("comments", at+".line must be a positive integer")
			} else if changed[path] {
				n, binary, err := lines.count(path)
				if err != nil {
					return err
				}
				switch {
				case binary:
					v.add("comments", fmt.Sprintf("%s.path %q is a binary file; comment on the review body instead", at, path))
				case c.Line.V > n:
					v.add("comments", fmt.Sprintf("%s.line %d is past the end of %q (%d lines)", at, c.Line.V, path, n))
				}
			}
			switch {
			case strings.TrimSpace(c.Body.V) == "":
				v.add("comments", at+".body can't be blank")
			case utf8.RuneCountInString(c.Body.V) > maxBodyLen:
				v.add("comments", fmt.Sprintf("%s.body is too long (maximum is %d characters)", at, maxBodyLen))
			}
			comments = append(comments, store.NewReviewComment{Path: path, Line: c.Line.V, Body: c.Body.V})
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	nr := store.NewReview{RepoID: repo.ID, PullID: p.ID, AuthorID: u.ID, State: state, CommitSHA: p.Git.HeadSHA, Comments: comments}
	if body != nil {
		nr.Body = *body
	}
	var rv *store.Review
	err = a.store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if rv, err = tx.CreateReview(ctx, nr); err != nil {
			return err
		}
		return a.emitPullAction(ctx, tx, repo, u, "review_submitted", p.Issue, map[string]any{"review": reviewOut(rv)})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, reviewOut(rv))
	return nil
}

// changedPaths is the set of files the pull request changes between the
// tips its facts were computed for (frozen once merged or closed).
func changedPaths(ctx context.Context, st *objectStore, p *store.Pull) (map[string]bool, error) {
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

func newPRLines(st *objectStore, p *store.Pull) (*prLines, error) {
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

// --- requested reviewers ---

type reviewerJSON struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	Kind        string  `json:"kind"`
	DisplayName *string `json:"display_name"`
}

func (a *App) reviewers(r *http.Request, p *store.Pull) ([]reviewerJSON, error) {
	us, err := a.store.ReviewRequests(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]reviewerJSON, 0, len(us))
	for _, u := range us {
		out = append(out, reviewerJSON{ID: u.ID, Username: u.Username, Kind: u.Kind, DisplayName: u.DisplayName})
	}
	return out, nil
}

// writeReviewers answers a change with the whole list that remains.
func (a *App) writeReviewers(w http.ResponseWriter, r *http.Request, status int, p *store.Pull) error {
	out, err := a.reviewers(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

func (a *App) listRequestedReviewers(w http.ResponseWriter, r *http.Request) error {
	_, _, p, err := a.pullFor(r, store.PermRead)
	if err != nil {
		return err
	}
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	out, err := a.reviewers(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paginate(a, w, r, pg, out))
	return nil
}

func reviewersRequest(r *http.Request) ([]string, error) {
	var req struct {
		Reviewers []string `json:"reviewers"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Reviewers) == 0 {
		return nil, invalid("reviewers", "can't be blank")
	}
	return req.Reviewers, nil
}

// requestReviewers asks users who can read the repository (not the
// author) to review: write access needed.
func (a *App) requestReviewers(w http.ResponseWriter, r *http.Request) error {
	repo, _, p, err := a.pullFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	names, err := reviewersRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := validation{}
	users, err := a.resolveAssignees(ctx, repo, names, "reviewers", v)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID == p.Author.ID {
			v.add("reviewers", fmt.Sprintf("user %q is the author of the pull request", u.Username))
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	before, err := a.store.ReviewRequests(ctx, p.ID)
	if err != nil {
		return err
	}
	had := map[int64]bool{}
	for _, u := range before {
		had[u.ID] = true
	}
	sender := who(r).user
	err = a.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.AddReviewRequests(ctx, p.ID, userIDs(users)); err != nil {
			return err
		}
		for _, u := range users {
			if had[u.ID] {
				continue
			}
			had[u.ID] = true
			if err := a.emitPullAction(ctx, tx, repo, sender, "review_requested", p.Issue, map[string]any{"requested_reviewer": userBrief(u)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.writeReviewers(w, r, http.StatusCreated, p)
}

// removeRequestedReviewers withdraws requests; names that were not
// requested (or do not exist) change nothing.
func (a *App) removeRequestedReviewers(w http.ResponseWriter, r *http.Request) error {
	repo, _, p, err := a.pullFor(r, store.PermWrite)
	if err != nil {
		return err
	}
	names, err := reviewersRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	before, err := a.store.ReviewRequests(ctx, p.ID)
	if err != nil {
		return err
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
		u, err := a.store.UserByName(ctx, name)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return err
		}
		if ref, ok := requested[strings.ToLower(u.Username)]; ok {
			gone = append(gone, ref)
			delete(requested, strings.ToLower(u.Username))
		}
	}
	sender := who(r).user
	err = a.store.Tx(ctx, func(tx *store.Store) error {
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
			if err := a.emitPullAction(ctx, tx, repo, sender, "review_request_removed", p.Issue, map[string]any{"requested_reviewer": refBrief(u)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.writeReviewers(w, r, http.StatusOK, p)
}
