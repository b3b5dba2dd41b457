package projects

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"tapioca/handlers/core"
	"tapioca/store"
)

// LinkInput links a deploy target to a project: an existing one of the
// namespace by InstanceID, or a new one (Name, Slug, HookURL, Secret).
type LinkInput struct {
	InstanceID string
	Name       string
	Slug       string // "" = from the name
	HookURL    string
	Secret     string
}

// LinkInstance links (and when asked, first creates) a deploy target.
func (s *Service) LinkInstance(ctx context.Context, a core.Actor, id string, in LinkInput) (*store.Instance, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	var inst *store.Instance
	if in.InstanceID != "" && in.Name == "" && in.HookURL == "" {
		inst, err = s.env.Store.InstanceByPublicID(ctx, p.OwnerID, strings.ToLower(in.InstanceID))
		if errors.Is(err, store.ErrNotFound) {
			return nil, core.Invalid("instanceId", "does not exist in this namespace")
		}
		if err != nil {
			return nil, err
		}
	} else {
		if inst, err = s.createInstance(ctx, p, in); err != nil {
			return nil, err
		}
	}
	if err := s.env.Store.LinkInstance(ctx, p.ID, inst.ID); err != nil {
		return nil, err
	}
	return inst, nil
}

func (s *Service) createInstance(ctx context.Context, p *store.Project, in LinkInput) (*store.Instance, error) {
	v := core.Validation{}
	if in.InstanceID != "" {
		v.Add("instanceId", "must be absent when a new instance is described (name, hookUrl, secret)")
	}
	name := strings.TrimSpace(in.Name)
	checkName(v, name)
	generated := in.Slug == ""
	slug := in.Slug
	if generated {
		if slug = Slugify(name); slug == "" && len(v["name"]) == 0 {
			v.Add("name", "must contain a letter or digit to make a slug from")
		}
	} else {
		checkSlug(v, slug)
	}
	hook := s.checkHookURL(ctx, v, in.HookURL)
	switch {
	case len(in.Secret) < minSecret:
		v.Add("secret", fmt.Sprintf("is too short (minimum is %d characters)", minSecret))
	case len(in.Secret) > maxSecret:
		v.Add("secret", fmt.Sprintf("is too long (maximum is %d characters)", maxSecret))
	case core.LineProblem(in.Secret) != "":
		v.Add("secret", core.LineProblem(in.Secret))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	base := slug
	for n := 2; ; n++ {
		inst, err := s.env.Store.CreateInstance(ctx, &store.Instance{OwnerID: p.OwnerID, Name: name, Slug: slug,
			HookURL: hook, Secret: s.env.Secrets.Seal(in.Secret)})
		if !errors.Is(err, store.ErrDuplicate) {
			return inst, err
		}
		if !generated || n > 1000 {
			return nil, &core.Error{Kind: core.ErrConflict, Msg: fmt.Sprintf("An instance with the slug %q already exists in this namespace", slug),
				Fields: core.Validation{"slug": {"has already been taken"}}}
		}
		suffix := "-" + strconv.Itoa(n)
		slug = strings.TrimRight(base[:min(len(base), maxName-len(suffix))], "-") + suffix
	}
}

// checkHookURL checks where an instance is notified (see
// core.CheckReceiverURL).
func (s *Service) checkHookURL(ctx context.Context, v core.Validation, raw string) string {
	return core.CheckReceiverURL(ctx, s.cfg.Policy, v, "hookUrl", raw, "notifications are signed with the secret")
}

// UnlinkInstance removes a deploy target from a project (and the
// project's mappings to it).
func (s *Service) UnlinkInstance(ctx context.Context, a core.Actor, id, instanceID string) error {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return err
	}
	inst, err := s.env.Store.InstanceByPublicID(ctx, p.OwnerID, strings.ToLower(instanceID))
	if err == nil {
		err = s.env.Store.UnlinkInstance(ctx, p.ID, inst.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return core.NotFound("Instance not linked to this project")
	}
	return err
}

// Mappings lists a project's branch mappings.
func (s *Service) Mappings(ctx context.Context, a core.Actor, id string) ([]*store.BranchMapping, error) {
	p, err := s.project(ctx, a, id, false)
	if err != nil {
		return nil, err
	}
	return s.env.Store.BranchMappings(ctx, p.ID)
}

// MappingInput is one branch mapping.
type MappingInput struct {
	BranchPattern string
	InstanceID    string
	Priority      int
}

// SetMappings replaces a project's branch mappings; every instance must
// be linked to the project.
func (s *Service) SetMappings(ctx context.Context, a core.Actor, id string, in []MappingInput) ([]*store.BranchMapping, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	linked, err := s.env.Store.LinkedInstances(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	byID := map[string]*store.Instance{}
	for _, i := range linked {
		byID[i.PublicID] = i
	}
	v := core.Validation{}
	if len(in) > maxMappings {
		v.Add("mappings", fmt.Sprintf("has too many entries (maximum is %d)", maxMappings))
	}
	out := make([]store.BranchMapping, 0, len(in))
	for i, m := range in {
		at := fmt.Sprintf("mappings[%d].", i)
		switch {
		case strings.TrimSpace(m.BranchPattern) == "":
			v.Add(at+"branchPattern", "can't be blank")
		case len(m.BranchPattern) > 255:
			v.Add(at+"branchPattern", "is too long (maximum is 255 characters)")
		case core.LineProblem(m.BranchPattern) != "":
			v.Add(at+"branchPattern", core.LineProblem(m.BranchPattern))
		}
		inst := byID[strings.ToLower(m.InstanceID)]
		switch {
		case m.InstanceID == "":
			v.Add(at+"instanceId", "can't be blank")
		case inst == nil:
			v.Add(at+"instanceId", "does not exist or is not linked to this project")
		}
		if inst != nil {
			out = append(out, store.BranchMapping{Pattern: m.BranchPattern, InstanceID: inst.ID, Priority: m.Priority})
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.env.Store.ReplaceBranchMappings(ctx, p.ID, out); err != nil {
		return nil, err
	}
	return s.env.Store.BranchMappings(ctx, p.ID)
}

// globRE turns a branch pattern into a regular expression: "*" matches
// within one path segment, "**" across segments, "?" one character
// other than "/"; everything else is literal (GitHub's branch filters).
func globRE(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '*' && i+1 < len(rs) && rs[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// MatchBranch reports whether a branch matches a mapping's pattern.
func MatchBranch(pattern, branch string) bool { return globRE(pattern).MatchString(branch) }

// Route picks the mapping that routes branch: the highest priority among
// those whose pattern matches and whose instance is linked, the first
// set on a tie; nil when none does.
func Route(ms []*store.BranchMapping, linked map[int64]bool, branch string) *store.BranchMapping {
	var best *store.BranchMapping
	for _, m := range ms {
		if !linked[m.InstanceID] || !MatchBranch(m.Pattern, branch) {
			continue
		}
		if best == nil || m.Priority > best.Priority {
			best = m
		}
	}
	return best
}
