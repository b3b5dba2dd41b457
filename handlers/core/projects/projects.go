// Package projects is the forge core's project service (the oCore
// dialect's rules): projects in a namespace (a user or an organization)
// that connect one git repository, a Tapioca repository followed by id
// or an upstream URL followed by a mirror of the mirror engine, and map
// its branches to deploy targets (instances). When a branch of the
// connected repository moves, the highest-priority matching instance is
// notified through a durable outbox, signed, with retries.
//
// Visibility follows the namespace: someone who is not a member sees
// nothing (not found); members read; organization admins and owners,
// and a user in their own namespace, write.
package projects

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"tapioca/handlers/core"
	"tapioca/handlers/core/deploykeys"
	"tapioca/handlers/core/mirrors"
	"tapioca/store"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultRetryBase   = 30 * time.Second
	DefaultMaxAttempts = 8
	DefaultWorkers     = 4

	maxName        = 100
	maxDescription = 2000
	maxURL         = 2048
	maxMappings    = 100
	minSecret      = 8
	maxSecret      = 256
)

// Test gate values.
var gates = []string{"none", "optional", "required"}

// Config tunes the service.
type Config struct {
	Policy      core.NetPolicy // which hook URLs instances may have
	Timeout     time.Duration  // one notification attempt
	RetryBase   time.Duration  // the first retry's delay, ×3 per failure (±20%)
	MaxAttempts int
	Workers     int
	UserAgent   string
}

// Sender makes the HTTP request of a notification attempt
// (handlers/outbound.Sender: the network policy applies on the address
// dialled).
type Sender interface {
	Post(ctx context.Context, url string, headers map[string]string, body []byte) (status int, respHeaders map[string]string, respBody []byte, err error)
}

// Service is the project service.
type Service struct {
	env     *core.Env
	mirrors *mirrors.Engine
	keys    *deploykeys.Service
	sender  Sender
	cfg     Config
	wake    chan struct{}
	plan    chan int64 // mirrors that synced, for the planner
	// planMu makes one upstream plan at a time, so two syncs seeing the
	// same move cannot both read the old tips.
	planMu sync.Mutex
}

// New returns the service; it plans notifications after every mirror
// sync.
func New(env *core.Env, m *mirrors.Engine, keys *deploykeys.Service, sender Sender, cfg Config) *Service {
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.RetryBase = cmp.Or(cfg.RetryBase, DefaultRetryBase)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, "Tapioca-Projects")
	s := &Service{env: env, mirrors: m, keys: keys, sender: sender, cfg: cfg,
		wake: make(chan struct{}, 1), plan: make(chan int64, 64)}
	m.Follow(func(id int64) {
		select {
		case s.plan <- id:
		default: // the planner's sweep catches up
		}
	})
	return s
}

// View is a project with what its answers show.
type View struct {
	*store.Project
	Repo      *store.ProjectRepo // nil when none is connected
	Instances []*store.Instance
	Mappings  []*store.BranchMapping
}

// access is what the actor may do in a namespace.
type access struct {
	ns    *store.User
	write bool
}

// namespace resolves a namespace by name or numeric id and what the actor
// may do there; a namespace the actor is not in is not found.
func (s *Service) namespace(ctx context.Context, a core.Actor, ref string) (*access, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	var ns *store.User
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil && id > 0 {
		ns, err = s.env.Store.UserByID(ctx, id)
	} else {
		ns, err = s.env.Store.UserByName(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.ErrHidden
	}
	if err != nil {
		return nil, err
	}
	return s.accessTo(ctx, a, u, ns)
}

func (s *Service) accessTo(ctx context.Context, a core.Actor, u, ns *store.User) (*access, error) {
	if !ns.IsOrg() {
		if ns.ID == u.ID || a.SiteAdmin() {
			return &access{ns: ns, write: true}, nil
		}
		return nil, core.ErrHidden
	}
	role, err := s.env.OrgRole(ctx, a, ns)
	if err != nil {
		return nil, err
	}
	if role == "" {
		return nil, core.ErrHidden
	}
	return &access{ns: ns, write: core.RoleRank[role] >= core.RoleRank[store.RoleAdmin]}, nil
}

// project loads a project the actor may see, and may change when write.
func (s *Service) project(ctx context.Context, a core.Actor, id string, write bool) (*store.Project, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	p, err := s.env.Store.ProjectByPublicID(ctx, strings.ToLower(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, core.NotFound("Project not found")
	}
	if err != nil {
		return nil, err
	}
	ns, err := s.env.Store.UserByID(ctx, p.OwnerID)
	if err != nil {
		return nil, err
	}
	acc, err := s.accessTo(ctx, a, u, ns)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.NotFound("Project not found")
	}
	if err != nil {
		return nil, err
	}
	if write && !acc.write {
		return nil, core.Forbidden("Only the namespace's owners and admins can change its projects")
	}
	return p, nil
}

// ProjectIn loads a project that must belong to the namespace ns (a name
// or numeric id): the organization-scoped routes.
func (s *Service) ProjectIn(ctx context.Context, a core.Actor, ns, id string, write bool) (*store.Project, error) {
	acc, err := s.namespace(ctx, a, ns)
	if err != nil {
		return nil, err
	}
	p, err := s.project(ctx, a, id, write)
	if err != nil {
		return nil, err
	}
	if p.OwnerID != acc.ns.ID {
		return nil, core.NotFound("Project not found")
	}
	return p, nil
}

func (s *Service) view(ctx context.Context, p *store.Project) (*View, error) {
	v := &View{Project: p}
	r, err := s.env.Store.ProjectRepoOf(ctx, p.ID)
	switch {
	case err == nil:
		v.Repo = r
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if v.Instances, err = s.env.Store.LinkedInstances(ctx, p.ID); err != nil {
		return nil, err
	}
	if v.Mappings, err = s.env.Store.BranchMappings(ctx, p.ID); err != nil {
		return nil, err
	}
	return v, nil
}

// ListInput filters List.
type ListInput struct {
	Namespace       string // "" = every namespace the actor is in
	IncludeArchived bool
}

// List lists the projects of the actor's namespaces (their own and their
// organizations'), or of one namespace.
func (s *Service) List(ctx context.Context, a core.Actor, in ListInput) ([]*View, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	var owners []int64
	if in.Namespace != "" {
		acc, err := s.namespace(ctx, a, in.Namespace)
		if err != nil {
			return nil, err
		}
		owners = []int64{acc.ns.ID}
	} else {
		orgs, err := s.env.Store.ListUserOrgs(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		owners = []int64{u.ID}
		for _, o := range orgs {
			owners = append(owners, o.ID)
		}
	}
	ps, err := s.env.Store.ListProjects(ctx, owners, in.IncludeArchived)
	if err != nil {
		return nil, err
	}
	out := make([]*View, 0, len(ps))
	for _, p := range ps {
		v, err := s.view(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns a project.
func (s *Service) Get(ctx context.Context, a core.Actor, id string) (*View, error) {
	p, err := s.project(ctx, a, id, false)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p)
}

// CreateInput is a new project.
type CreateInput struct {
	Name        string
	Slug        string // "" = from the name
	Description string
	Namespace   string // "" = the actor's own
}

var slugRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// Slugify makes a slug from a name: lower case letters and digits, runs
// of anything else as one hyphen.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	out := b.String()
	if len(out) > maxName {
		out = strings.TrimRight(out[:maxName], "-")
	}
	return out
}

func checkName(v core.Validation, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		v.Add("name", "can't be blank")
	case len(name) > maxName:
		v.Add("name", fmt.Sprintf("is too long (maximum is %d characters)", maxName))
	default:
		core.CheckLine(v, "name", name)
	}
}

func checkDescription(v core.Validation, d string) {
	if len(d) > maxDescription {
		v.Add("description", fmt.Sprintf("is too long (maximum is %d characters)", maxDescription))
		return
	}
	core.CheckText(v, "description", d)
}

func checkSlug(v core.Validation, slug string) {
	switch {
	case len(slug) > maxName:
		v.Add("slug", fmt.Sprintf("is too long (maximum is %d characters)", maxName))
	case !slugRE.MatchString(slug):
		v.Add("slug", "must be lower case letters, digits and single hyphens (like my-project)")
	}
}

// Create makes a project in the actor's namespace or an organization
// they administer. A slug given and taken is a conflict; a slug made from
// the name gets a number when taken.
func (s *Service) Create(ctx context.Context, a core.Actor, in CreateInput) (*View, error) {
	u, err := a.Require()
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	in.Name = strings.TrimSpace(in.Name)
	checkName(v, in.Name)
	checkDescription(v, in.Description)
	generated := in.Slug == ""
	if !generated {
		checkSlug(v, in.Slug)
	} else if len(v["name"]) == 0 {
		if in.Slug = Slugify(in.Name); in.Slug == "" {
			v.Add("name", "must contain a letter or digit to make a slug from")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ns := u
	if in.Namespace != "" {
		acc, err := s.namespace(ctx, a, in.Namespace)
		if errors.Is(err, core.ErrNotFound) {
			return nil, core.Invalid("namespace", "does not exist or you are not a member")
		}
		if err != nil {
			return nil, err
		}
		if !acc.write {
			return nil, core.Forbidden("Only the namespace's owners and admins can create projects there")
		}
		ns = acc.ns
	}
	p, err := s.insert(ctx, s.env.Store, &store.Project{OwnerID: ns.ID, Name: in.Name, Slug: in.Slug, Description: in.Description,
		TestGateStaging: "none", TestGateProduction: "none"}, generated)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p)
}

// insert creates p; with a generated slug, a taken one gets -2, -3, ...
func (s *Service) insert(ctx context.Context, st *store.Store, p *store.Project, generated bool) (*store.Project, error) {
	base := p.Slug
	for n := 2; ; n++ {
		out, err := st.CreateProject(ctx, p)
		if !errors.Is(err, store.ErrDuplicate) {
			return out, err
		}
		if !generated || n > 1000 {
			return nil, &core.Error{Kind: core.ErrConflict, Msg: fmt.Sprintf("A project with the slug %q already exists in %s", p.Slug, nsName(ctx, s, p.OwnerID)),
				Fields: core.Validation{"slug": {"has already been taken"}}}
		}
		suffix := "-" + strconv.Itoa(n)
		p.Slug = strings.TrimRight(base[:min(len(base), maxName-len(suffix))], "-") + suffix
	}
}

func nsName(ctx context.Context, s *Service, id int64) string {
	if u, err := s.env.Store.UserByID(ctx, id); err == nil {
		return u.Username
	}
	return "this namespace"
}

// UpdateInput changes a project; absent fields stay.
type UpdateInput struct {
	Name               core.Opt[string]
	Description        core.Opt[string]
	TestSuiteEnabled   core.Opt[bool]
	TestGateStaging    core.Opt[string]
	TestGateProduction core.Opt[string]
}

// Update changes a project's name, description and test settings.
func (s *Service) Update(ctx context.Context, a core.Actor, id string, in UpdateInput) (*View, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	if in.Name.Set {
		p.Name = strings.TrimSpace(in.Name.V)
		checkName(v, p.Name)
	}
	if in.Description.Set {
		p.Description = in.Description.V
		checkDescription(v, p.Description)
	}
	if in.TestSuiteEnabled.Set {
		if in.TestSuiteEnabled.Null {
			v.Add("testSuiteEnabled", "must be a boolean")
		}
		p.TestSuiteEnabled = in.TestSuiteEnabled.V
	}
	for _, g := range []struct {
		field string
		in    core.Opt[string]
		dst   *string
	}{{"testGateStaging", in.TestGateStaging, &p.TestGateStaging}, {"testGateProduction", in.TestGateProduction, &p.TestGateProduction}} {
		if !g.in.Set {
			continue
		}
		if !oneOf(g.in.V, gates) {
			v.Add(g.field, "is not included in the list: "+strings.Join(gates, ", "))
		}
		*g.dst = g.in.V
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if p, err = s.env.Store.UpdateProject(ctx, p); err != nil {
		return nil, err
	}
	return s.view(ctx, p)
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// SetArchived archives or restores a project.
func (s *Service) SetArchived(ctx context.Context, a core.Actor, id string, archived bool) (*store.Project, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	if err := s.env.Store.SetProjectArchived(ctx, p.ID, archived); err != nil {
		return nil, err
	}
	p.Archived = archived
	return p, nil
}

// Delete deletes a project, disconnecting its repository first.
func (s *Service) Delete(ctx context.Context, a core.Actor, id string) error {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return err
	}
	if err := s.disconnect(ctx, a, p); err != nil {
		return err
	}
	return s.env.Store.DeleteProject(ctx, p.ID)
}

// CloneInput names a project's copy; empty fields are made from the
// original's ("<name> (copy)").
type CloneInput struct {
	Name, Slug string
}

// Clone copies a project's settings and branch mappings under a new name
// and slug, in the same namespace; no instances are linked to the copy
// and no repository is connected.
func (s *Service) Clone(ctx context.Context, a core.Actor, id string, in CloneInput) (*View, error) {
	p, err := s.project(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	name := strings.TrimSpace(cmp.Or(in.Name, p.Name+" (copy)"))
	checkName(v, name)
	generated := in.Slug == ""
	slug := in.Slug
	if generated {
		slug = Slugify(name)
	} else {
		checkSlug(v, slug)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	maps, err := s.env.Store.BranchMappings(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var copy *store.Project
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		copy, err = s.insert(ctx, tx, &store.Project{OwnerID: p.OwnerID, Name: name, Slug: slug, Description: p.Description,
			TestSuiteEnabled: p.TestSuiteEnabled, TestGateStaging: p.TestGateStaging, TestGateProduction: p.TestGateProduction}, generated)
		if err != nil {
			return err
		}
		ms := make([]store.BranchMapping, 0, len(maps))
		for _, m := range maps {
			ms = append(ms, store.BranchMapping{Pattern: m.Pattern, InstanceID: m.InstanceID, Priority: m.Priority})
		}
		return tx.ReplaceBranchMappings(ctx, copy.ID, ms)
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, copy)
}
