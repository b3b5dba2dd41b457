package store

import (
	"context"
	"fmt"
	"strings"
)

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
