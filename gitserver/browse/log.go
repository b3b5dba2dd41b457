package browse

import (
	"context"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Signature is who authored or committed, and when (in their time zone).
type Signature struct {
	Name, Email string
	When        time.Time
}

// Commit is one commit's metadata.
type Commit struct {
	SHA       plumbing.Hash
	Tree      plumbing.Hash
	Parents   []plumbing.Hash
	Author    Signature
	Committer Signature
	Message   string
}

func commitOf(c *object.Commit) Commit {
	return Commit{
		SHA: c.Hash, Tree: c.TreeHash, Parents: append([]plumbing.Hash(nil), c.ParentHashes...),
		Author:    Signature{c.Author.Name, c.Author.Email, c.Author.When},
		Committer: Signature{c.Committer.Name, c.Committer.Email, c.Committer.When},
		Message:   c.Message,
	}
}

// LogQuery selects commits as `git log <rev> -- <path>` lists them, then
// a page of them.
type LogQuery struct {
	// Rev is where history starts; empty is HEAD.
	Rev string
	// Path keeps commits that change this file or directory, with git
	// log's default history simplification (a merge that kept one
	// parent's version of the path is skipped and only that parent
	// followed) and without following renames.
	Path string
	// Author keeps commits whose author name or email contains it (any
	// case); AuthorEmails keeps those whose author email is one of them
	// (any case). Given both, a commit matching either is kept. This is
	// how GitHub's author filter (a login or an email) maps to git.
	Author       string
	AuthorEmails []string
	// Since and Until bound the committer date, inclusive, as git log's
	// --since and --until do: history older than Since is not walked.
	Since, Until time.Time
	// Skip commits, then return at most Limit (DefaultLogLimit if 0).
	Skip, Limit int
}

// DefaultLogLimit is the page size when LogQuery.Limit is 0.
const DefaultLogLimit = 30

// LogPage is one page of history.
type LogPage struct {
	Commits []Commit
	// HasMore is set when commits matching the query follow this page.
	HasMore bool
}

// Log lists history in git log's order (see walk.go).
func (r *Repo) Log(ctx context.Context, q LogQuery) (*LogPage, error) {
	p, err := cleanPath(q.Path)
	if err != nil {
		return nil, err
	}
	start, err := r.commitAt(ctx, q.Rev)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	w := newWalker(ctx, r)
	if err := w.start([]plumbing.Hash{start.Hash}, false); err != nil {
		return nil, walkErr(err)
	}
	var simplify func(*node) error
	if p != "" {
		simplify = func(n *node) error { return r.simplify(w, n, p) }
	}
	match := authorMatcher(q.Author, q.AuthorEmails)
	page := &LogPage{}
	skipped := 0
	for w.q.Len() > 0 {
		if err := w.tick(); err != nil {
			return nil, walkErr(err)
		}
		n := w.pop()
		when := n.time
		if !q.Since.IsZero() && when < q.Since.Unix() {
			continue // and its parents are not walked, as in git
		}
		if err := w.processParents(n, simplify); err != nil {
			return nil, walkErr(err)
		}
		if n.flags&fTreesame != 0 {
			continue
		}
		if !q.Until.IsZero() && when > q.Until.Unix() {
			continue
		}
		if match != nil && !match(n) {
			continue
		}
		if skipped < q.Skip {
			skipped++
			continue
		}
		if len(page.Commits) == limit {
			page.HasMore = true
			break
		}
		c, err := w.full(n)
		if err != nil {
			return nil, walkErr(err)
		}
		page.Commits = append(page.Commits, commitOf(c))
	}
	return page, nil
}

func authorMatcher(sub string, emails []string) func(*node) bool {
	if sub == "" && len(emails) == 0 {
		return nil
	}
	sub = strings.ToLower(sub)
	return func(n *node) bool {
		name, email := n.author()
		for _, e := range emails {
			if strings.EqualFold(e, email) {
				return true
			}
		}
		return sub != "" && (strings.Contains(strings.ToLower(name), sub) ||
			strings.Contains(strings.ToLower(email), sub))
	}
}

// simplify is git's try_to_simplify_commit for a one-path filter with
// the default options: a commit is TREESAME when the path is the same as
// in a parent; a merge TREESAME to a parent keeps only that parent (the
// first such), so history follows where the content came from.
func (r *Repo) simplify(w *walker, n *node, p string) error {
	mine, ok, err := r.entryAt(n.tree, p)
	if err != nil {
		return err
	}
	if len(n.origParents) == 0 {
		if !ok {
			n.flags |= fTreesame
		}
		return nil
	}
	for _, ph := range n.origParents {
		par, err := w.get(ph)
		if err != nil {
			return err
		}
		same := par.tree == n.tree
		if !same {
			theirs, tok, err := r.entryAt(par.tree, p)
			if err != nil {
				return err
			}
			same = ok == tok && (!ok || theirs.Hash == mine.Hash && theirs.Mode == mine.Mode)
		}
		if same {
			n.parents = []plumbing.Hash{ph}
			n.flags |= fTreesame
			return nil
		}
	}
	return nil
}
