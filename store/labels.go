package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ErrLabelExists is returned when a repository already has a label of
// that name (case-insensitively).
var ErrLabelExists = fmt.Errorf("label %w", ErrDuplicate)

// Label is a repository's label.
type Label struct {
	ID          int64
	RepoID      int64
	Name        string
	Color       string // #rrggbb
	Description *string
	CreatedAt   time.Time
}

type defaultLabel struct{ name, color, description string }

// Every new repository starts with these (SPEC §4).
var defaultLabels = []defaultLabel{
	{"bug", "#d73a4a", "Something isn't working"},
	{"enhancement", "#a2eeef", "New feature or request"},
}

func (s *Store) insertDefaultLabel(ctx context.Context, repoID int64, l defaultLabel) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO labels(repo_id, name, lower_name, color, description, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, repoID, l.name, strings.ToLower(l.name), l.color, l.description, Now())
	if err != nil {
		return fmt.Errorf("create label %s: %w", l.name, err)
	}
	return nil
}

const labelColumns = `l.id, l.repo_id, l.name, l.color, l.description, l.created_at`

// scanLabel reads labelColumns, then any extra columns into extra.
func scanLabel(row scanner, extra ...any) (*Label, error) {
	l := &Label{}
	var desc sql.NullString
	if err := row.Scan(append([]any{&l.ID, &l.RepoID, &l.Name, &l.Color, &desc, &l.CreatedAt}, extra...)...); err != nil {
		return nil, err
	}
	l.Description = strPtr(desc)
	return l, nil
}

// ListLabels lists a repository's labels by name.
func (s *Store) ListLabels(ctx context.Context, repoID int64) ([]*Label, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+labelColumns+` FROM labels l WHERE l.repo_id = ? ORDER BY l.lower_name`, repoID)
	if err != nil {
		return nil, fmt.Errorf("list labels: %w", err)
	}
	defer rows.Close()
	out := []*Label{}
	for rows.Next() {
		l, err := scanLabel(rows)
		if err != nil {
			return nil, fmt.Errorf("scan label: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// LabelByName finds a label case-insensitively.
func (s *Store) LabelByName(ctx context.Context, repoID int64, name string) (*Label, error) {
	l, err := scanLabel(s.r.QueryRowContext(ctx, `SELECT `+labelColumns+` FROM labels l WHERE l.repo_id = ? AND l.lower_name = ?`,
		repoID, strings.ToLower(name)))
	if err != nil {
		return nil, notFound(err, "label")
	}
	return l, nil
}

// CreateLabel adds a label; ErrLabelExists on a name clash.
func (s *Store) CreateLabel(ctx context.Context, repoID int64, name, color string, desc *string) (*Label, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO labels(repo_id, name, lower_name, color, description, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, repoID, name, strings.ToLower(name), color, nullString(desc), Now())
	if err != nil {
		if isUnique(err) {
			return nil, ErrLabelExists
		}
		return nil, fmt.Errorf("create label: %w", err)
	}
	id, _ := res.LastInsertId()
	return s.labelByID(ctx, id)
}

func (s *Store) labelByID(ctx context.Context, id int64) (*Label, error) {
	l, err := scanLabel(s.r.QueryRowContext(ctx, `SELECT `+labelColumns+` FROM labels l WHERE l.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "label")
	}
	return l, nil
}

// LabelUpdate carries optional changes.
type LabelUpdate struct {
	Name        *string
	Color       *string
	Description **string
}

// UpdateLabel changes a label; ErrLabelExists when a rename clashes.
func (s *Store) UpdateLabel(ctx context.Context, id int64, u LabelUpdate) (*Label, error) {
	var sets []string
	var args []any
	if u.Name != nil {
		sets = append(sets, "name = ?", "lower_name = ?")
		args = append(args, *u.Name, strings.ToLower(*u.Name))
	}
	if u.Color != nil {
		sets = append(sets, "color = ?")
		args = append(args, *u.Color)
	}
	if u.Description != nil {
		sets = append(sets, "description = ?")
		args = append(args, nullString(*u.Description))
	}
	if len(sets) > 0 {
		_, err := s.w.ExecContext(ctx, `UPDATE labels SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
		if err != nil {
			if isUnique(err) {
				return nil, ErrLabelExists
			}
			return nil, fmt.Errorf("update label: %w", err)
		}
	}
	return s.labelByID(ctx, id)
}

// DeleteLabel removes a label and its uses on issues.
func (s *Store) DeleteLabel(ctx context.Context, id int64) error {
	return s.execOne(ctx, "delete label", `DELETE FROM labels WHERE id = ?`, id)
}
