package issues

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/store"
)

// CommentQuery sorts a comment list.
type CommentQuery struct {
	Sort      string    `json:"sort" enum:"created,updated" doc:"created (default) or updated"`
	Direction string    `json:"direction" enum:"asc,desc" doc:"asc (default) or desc"`
	Page      core.Page `json:"-"`
}

// Check validates q, adding problems to v, and returns the direction.
func (q CommentQuery) Check(v core.Validation) (asc bool) {
	if q.Sort != "" && q.Sort != "created" && q.Sort != "updated" {
		v.Add("sort", `is not included in the list ("created", "updated")`)
	}
	switch q.Direction {
	case "", "asc":
		return true
	case "desc":
		return false
	default:
		v.Add("direction", `is not included in the list ("asc", "desc")`)
	}
	return true
}

// Comments lists the comments of an issue or pull request.
func (s *Service) Comments(ctx context.Context, a core.Actor, ref Ref, q CommentQuery) ([]*store.Comment, int, error) {
	_, _, issue, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	v := core.Validation{}
	asc := q.Check(v)
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	return s.env.Store.ListComments(ctx, issue.ID, q.Sort, asc, q.Page.Limit, q.Page.Offset)
}

func checkComment(body string) error {
	v := core.Validation{}
	if strings.TrimSpace(body) == "" {
		v.Add("body", "can't be blank")
	} else if utf8.RuneCountInString(body) > core.MaxBodyLen {
		v.Add("body", fmt.Sprintf("is too long (maximum is %d characters)", core.MaxBodyLen))
	} else {
		core.CheckText(v, "body", body)
	}
	return v.Err()
}

// Comment adds a comment: anyone signed in who can read the repository.
func (s *Service) Comment(ctx context.Context, a core.Actor, ref Ref, body string) (*store.Comment, error) {
	repo, _, issue, err := s.Load(ctx, a, ref, store.PermRead)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	if err := checkComment(body); err != nil {
		return nil, err
	}
	var c *store.Comment
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if c, err = tx.CreateComment(ctx, repo.ID, issue.ID, u.ID, body); err != nil {
			return err
		}
		if issue, err = tx.IssueByID(ctx, issue.ID); err != nil {
			return err
		}
		return s.events.Comment(ctx, tx, repo, u, "created", issue, c, nil)
	})
	return c, err
}

func (s *Service) comment(ctx context.Context, a core.Actor, owner, name string, id int64) (*store.Repo, store.Perm, *store.Comment, error) {
	repo, perm, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, perm, nil, err
	}
	if id < 1 {
		return nil, perm, nil, core.NotFound("Comment %d not found", id)
	}
	c, err := s.env.Store.CommentByID(ctx, repo.ID, id)
	if err != nil {
		return nil, perm, nil, err
	}
	return repo, perm, c, nil
}

// UpdateComment edits a comment: its author (or a site admin).
func (s *Service) UpdateComment(ctx context.Context, a core.Actor, owner, name string, id int64, body string) (*store.Comment, error) {
	repo, _, c, err := s.comment(ctx, a, owner, name, id)
	if err != nil {
		return nil, err
	}
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	if c.Author.ID != u.ID && !u.IsAdmin {
		return nil, core.Forbidden("You can only edit your own comments")
	}
	if err := checkComment(body); err != nil {
		return nil, err
	}
	before := c.Body
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if c, err = tx.UpdateComment(ctx, repo.ID, c.ID, body); err != nil {
			return err
		}
		if err := tx.TouchIssue(ctx, c.IssueID); err != nil {
			return err
		}
		issue, err := tx.IssueByID(ctx, c.IssueID)
		if err != nil {
			return err
		}
		return s.events.Comment(ctx, tx, repo, u, "edited", issue, c, map[string]any{"changes": map[string]any{"body": map[string]any{"from": before}}})
	})
	return c, err
}

// DeleteComment removes a comment: its author, or repository admins.
func (s *Service) DeleteComment(ctx context.Context, a core.Actor, owner, name string, id int64) error {
	repo, perm, c, err := s.comment(ctx, a, owner, name, id)
	if err != nil {
		return err
	}
	u, err := a.Require()
	if err != nil {
		return err
	}
	if c.Author.ID != u.ID && perm < store.PermAdmin {
		return core.Forbidden("You can only delete your own comments")
	}
	return s.env.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.DeleteComment(ctx, repo.ID, c.ID); err != nil {
			return err
		}
		issue, err := tx.IssueByID(ctx, c.IssueID)
		if err != nil {
			return err
		}
		return s.events.Comment(ctx, tx, repo, u, "deleted", issue, c, nil)
	})
}
