package repos

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"tapioca/handlers/core"
	"tapioca/store"
)

var colorRe = regexp.MustCompile(`^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$`)

// NormalizeColor accepts "#rrggbb", "rrggbb", "#rgb" or "rgb" and returns
// "#rrggbb" in lowercase.
func NormalizeColor(s string) (string, bool) {
	m := colorRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", false
	}
	hex := strings.ToLower(m[1])
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	return "#" + hex, true
}

// checkLabelName: 1-50 characters; anything printable but the comma,
// which separates names in the issue filter.
func checkLabelName(v core.Validation, name string) {
	switch {
	case name == "":
		v.Add("name", "can't be blank")
	case utf8.RuneCountInString(name) > 50:
		v.Add("name", "is too long (maximum is 50 characters)")
	case strings.Contains(name, ","):
		v.Add("name", "cannot contain a comma")
	default:
		core.CheckLine(v, "name", name)
	}
}

// Labels lists a repository's labels.
func (s *Service) Labels(ctx context.Context, a core.Actor, owner, name string, p core.Page) ([]*store.Label, int, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	if err != nil {
		return nil, 0, err
	}
	ls, err := s.env.Store.ListLabels(ctx, repo.ID)
	if err != nil {
		return nil, 0, err
	}
	page, total := core.Slice(ls, p)
	return page, total, nil
}

// LabelInput is a label's fields; absent ones stay as they are on update.
type LabelInput struct {
	Name        core.Opt[string]
	Color       core.Opt[string]
	Description core.Opt[string]
}

// CreateLabel adds a label: write access.
func (s *Service) CreateLabel(ctx context.Context, a core.Actor, owner, name string, in LabelInput) (*store.Label, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermWrite)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	lname := strings.TrimSpace(in.Name.V)
	checkLabelName(v, lname)
	color, ok := NormalizeColor(in.Color.V)
	if in.Color.V == "" {
		v.Add("color", "can't be blank")
	} else if !ok {
		v.Add("color", "is invalid (a hex color such as #d73a4a)")
	}
	desc := core.OptionalLine(v, "description", in.Description, 100, nil)
	if err := v.Err(); err != nil {
		return nil, err
	}
	var d *string
	if desc != nil {
		d = *desc
	}
	l, err := s.env.Store.CreateLabel(ctx, repo.ID, lname, color, d)
	if errors.Is(err, store.ErrLabelExists) {
		return nil, core.Invalid("name", "has already been taken")
	}
	return l, err
}

func (s *Service) label(ctx context.Context, a core.Actor, owner, name, label string, need store.Perm) (*store.Label, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, need)
	if err != nil {
		return nil, err
	}
	return s.env.Store.LabelByName(ctx, repo.ID, label)
}

// Label is one label by name.
func (s *Service) Label(ctx context.Context, a core.Actor, owner, name, label string) (*store.Label, error) {
	return s.label(ctx, a, owner, name, label, store.PermRead)
}

// UpdateLabel edits a label: write access.
func (s *Service) UpdateLabel(ctx context.Context, a core.Actor, owner, name, label string, in LabelInput) (*store.Label, error) {
	l, err := s.label(ctx, a, owner, name, label, store.PermWrite)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	var u store.LabelUpdate
	if in.Name.Set {
		n := strings.TrimSpace(in.Name.V)
		checkLabelName(v, n)
		u.Name = &n
	}
	if in.Color.Set {
		color, ok := NormalizeColor(in.Color.V)
		if !ok {
			v.Add("color", "is invalid (a hex color such as #d73a4a)")
		}
		u.Color = &color
	}
	u.Description = core.OptionalLine(v, "description", in.Description, 100, nil)
	if err := v.Err(); err != nil {
		return nil, err
	}
	l, err = s.env.Store.UpdateLabel(ctx, l.ID, u)
	if errors.Is(err, store.ErrLabelExists) {
		return nil, core.Invalid("name", "has already been taken")
	}
	return l, err
}

// DeleteLabel removes a label: write access.
func (s *Service) DeleteLabel(ctx context.Context, a core.Actor, owner, name, label string) error {
	l, err := s.label(ctx, a, owner, name, label, store.PermWrite)
	if err != nil {
		return err
	}
	return s.env.Store.DeleteLabel(ctx, l.ID)
}
