// Package repos is the forge core's repository service: creating,
// listing, editing and deleting repositories, their collaborators,
// labels and branches (with protection), and resolving refs for
// archives.
package repos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/text"
	"tapioca/store"
)

// Service is the repository service.
type Service struct {
	env *core.Env
	// Refs records branch changes made through the API as pushes.
	Refs core.RefRecorder

	// soon holds repositories a push left wanting maintenance, for
	// MaintainSoon; queued marks those waiting there, so a busy
	// repository waits once.
	soon   chan int64
	mu     sync.Mutex
	queued map[int64]bool
}

// soonBacklog bounds the repositories waiting for maintenance after a
// push; past it, the daily job maintains the rest.
const soonBacklog = 256

// New returns the repository service; set Refs before use.
func New(env *core.Env) *Service {
	return &Service{env: env, soon: make(chan int64, soonBacklog), queued: map[int64]bool{}}
}

// Get is the repository owner/name, readable by the actor.
func (s *Service) Get(ctx context.Context, a core.Actor, owner, name string) (*store.Repo, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermRead)
	return repo, err
}

// ListQuery is how a repository list is filtered and sorted.
type ListQuery struct {
	Visibility string    `json:"visibility" enum:"all,public,private" doc:"all (default), public or private (your own and your organizations' repositories)"`
	Sort       string    `json:"sort" enum:"created,updated,name" doc:"created (default), updated or name"`
	Direction  string    `json:"direction" enum:"asc,desc" doc:"desc (default) or asc"`
	Page       core.Page `json:"-"`
}

// list validates q into a store filter. Visibility is only read when
// withVisibility; otherwise the list shows public repositories only.
func (q ListQuery) filter(v core.Validation, withVisibility bool) store.RepoList {
	f := store.RepoList{Visibility: "all", Sort: "created", Limit: q.Page.Limit, Offset: q.Page.Offset}
	if withVisibility {
		if q.Visibility != "" {
			if q.Visibility != "all" && q.Visibility != "public" && q.Visibility != "private" {
				v.Add("visibility", `is not included in the list ("public", "private", "all")`)
			}
			f.Visibility = q.Visibility
		}
	} else {
		f.Visibility = "public"
	}
	if q.Sort != "" {
		if q.Sort != "created" && q.Sort != "updated" && q.Sort != "name" {
			v.Add("sort", `is not included in the list ("created", "updated", "name")`)
		}
		f.Sort = q.Sort
	}
	switch q.Direction {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		v.Add("direction", `is not included in the list ("asc", "desc")`)
	}
	return f
}

// CheckListQuery validates a list query without running it, for doors
// that must report every field error at once (with their own).
func CheckListQuery(v core.Validation, q ListQuery, withVisibility bool) { q.filter(v, withVisibility) }

func (s *Service) list(ctx context.Context, q ListQuery, withVisibility bool, ownerID int64) ([]*store.Repo, int, error) {
	v := core.Validation{}
	f := q.filter(v, withVisibility)
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	f.OwnerID = ownerID
	return s.env.Store.ListRepos(ctx, f)
}

// Mine lists the repositories the actor owns.
func (s *Service) Mine(ctx context.Context, a core.Actor, q ListQuery) ([]*store.Repo, int, error) {
	u, err := a.Require()
	if err != nil {
		return nil, 0, err
	}
	return s.list(ctx, q, true, u.ID)
}

// OfUser lists a user's (or organization's) public repositories.
func (s *Service) OfUser(ctx context.Context, username string, q ListQuery) ([]*store.Repo, int, error) {
	owner, err := s.env.Store.UserByName(ctx, username)
	if err != nil {
		return nil, 0, err
	}
	return s.list(ctx, q, false, owner.ID)
}

// OfOrg lists the repositories of an organization the actor can see: all
// of them for members, the public ones for everyone else.
func (s *Service) OfOrg(ctx context.Context, a core.Actor, org string, q ListQuery) ([]*store.Repo, int, error) {
	o, role, err := s.env.OrgAccess(ctx, a, org, "")
	if err != nil {
		return nil, 0, err
	}
	return s.list(ctx, q, role != "", o.ID)
}

// Creation is the input of Create.
type Creation struct {
	Name          string
	Description   core.Opt[string]
	Visibility    core.Opt[string] // public or private
	Private       core.Opt[bool]   // GitHub's form of Visibility
	DefaultBranch core.Opt[string]
	AutoInit      bool
}

// visibility reads visibility, or GitHub's boolean private.
func visibility(v core.Validation, vis core.Opt[string], private core.Opt[bool]) *bool {
	if vis.Given() {
		switch vis.V {
		case "public":
			return new(false)
		case "private":
			return new(true)
		default:
			v.Add("visibility", `is not included in the list ("public", "private")`)
			return nil
		}
	}
	if private.Given() {
		return new(private.V)
	}
	return nil
}

const badRepoName = "is invalid (letters, digits, '-', '_' and '.', 1-100 characters, not ending in .git)"

// CheckName validates a repository name for field of v and returns it
// trimmed.
func CheckName(v core.Validation, field, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		v.Add(field, "can't be blank")
	case !store.ValidRepoName(name):
		v.Add(field, badRepoName)
	}
	return name
}

// Limit is how many repositories owner may own: its own limit, else the
// site's (--max-repos).
func (s *Service) Limit(owner *store.User) int {
	if owner.MaxRepos != nil {
		return *owner.MaxRepos
	}
	return s.env.Cfg.MaxReposPerUser
}

// limitReached is the refusal of a repository over owner's limit.
func limitReached(limit int) error {
	return core.Invalid("base", fmt.Sprintf("repository limit reached: an account can own at most %d repositories", limit))
}

// Create makes a repository owned by the actor (org empty) or by the
// organization org (members may).
func (s *Service) Create(ctx context.Context, a core.Actor, org string, in Creation) (*store.Repo, error) {
	actor, err := a.Require()
	if err != nil {
		return nil, err
	}
	owner := actor
	if org != "" {
		if owner, _, err = s.env.OrgAccess(ctx, a, org, store.RoleMember); err != nil {
			return nil, err
		}
	}
	return s.CreateFor(ctx, actor, owner, in)
}

// CreateFor makes a repository owned by owner (already authorized);
// creator signs the initial commit. The row and the bare repository on
// disk are made in one transaction: if git fails, no row remains.
func (s *Service) CreateFor(ctx context.Context, creator, owner *store.User, in Creation) (*store.Repo, error) {
	v := core.Validation{}
	name := CheckName(v, "name", in.Name)
	private := visibility(v, in.Visibility, in.Private)
	desc := core.OptionalLine(v, "description", in.Description, 1000, nil)
	branch := "master"
	if in.DefaultBranch.Given() && in.DefaultBranch.V != "" {
		branch = in.DefaultBranch.V
		if !store.ValidBranchName(branch) {
			v.Add("default_branch", "is not a valid branch name")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	n, err := s.env.Store.CountOwnedRepos(ctx, owner.ID)
	if err != nil {
		return nil, err
	}
	if limit := s.Limit(owner); n >= limit {
		return nil, limitReached(limit)
	}
	nr := store.NewRepo{OwnerID: owner.ID, Name: name, DefaultBranch: branch}
	if private != nil {
		nr.Private = *private
	}
	if desc != nil {
		nr.Description = *desc
	}
	var repo *store.Repo
	var path string
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		repo, err = tx.CreateRepo(ctx, nr)
		if err != nil {
			return err
		}
		path = s.env.RepoPath(repo.ID)
		if err := s.env.Git.Init(ctx, path, branch); err != nil {
			return fmt.Errorf("create bare repository: %w", err)
		}
		if in.AutoInit {
			readme := "# " + name + "\n"
			if repo.Description != nil {
				readme += "\n" + *repo.Description + "\n"
			}
			if _, err := s.env.Git.InitialCommit(ctx, path, branch, readme, core.Signature(creator)); err != nil {
				return fmt.Errorf("initial commit: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		if path != "" {
			os.RemoveAll(path)
		}
		if errors.Is(err, store.ErrRepoExists) {
			return nil, core.Invalid("name", "has already been taken")
		}
		return nil, err
	}
	if in.AutoInit {
		if size, err := s.env.Git.Size(ctx, path); err == nil {
			_ = s.env.Store.RepoPushed(ctx, repo.ID, time.Now(), size)
		}
		if repo, err = s.env.Store.RepoByID(ctx, repo.ID); err != nil {
			return nil, err
		}
	}
	return repo, nil
}

// Update is the input of Update; absent fields stay as they are.
type Update struct {
	Name          core.Opt[string]
	Description   core.Opt[string]
	Visibility    core.Opt[string]
	Private       core.Opt[bool]
	DefaultBranch core.Opt[string]
}

// Update edits a repository: admins. A default branch must exist (an
// empty repository may name its future branch).
func (s *Service) Update(ctx context.Context, a core.Actor, owner, name string, in Update) (*store.Repo, error) {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermAdmin)
	if err != nil {
		return nil, err
	}
	v := core.Validation{}
	var u store.RepoUpdate
	if in.Name.Set {
		n := strings.TrimSpace(in.Name.V)
		if !store.ValidRepoName(n) {
			v.Add("name", badRepoName)
		} else if n != repo.Name {
			u.Name = &n
		}
	}
	u.Description = core.OptionalLine(v, "description", in.Description, 1000, nil)
	u.Private = visibility(v, in.Visibility, in.Private)
	path := s.env.RepoPath(repo.ID)
	if in.DefaultBranch.Set {
		b := in.DefaultBranch.V
		if in.DefaultBranch.Null || !store.ValidBranchName(b) {
			v.Add("default_branch", "is not a valid branch name")
		} else if b != repo.DefaultBranch {
			branches, err := s.env.Git.Branches(ctx, path)
			if err != nil {
				return nil, err
			}
			found := len(branches) == 0
			for _, br := range branches {
				if br.Name == b {
					found = true
				}
			}
			if !found {
				v.Add("default_branch", "does not exist")
			}
			u.DefaultBranch = &b
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		repo, err = tx.UpdateRepo(ctx, repo.ID, u)
		if err != nil {
			return err
		}
		if u.DefaultBranch != nil {
			return s.env.Git.SetHEAD(ctx, path, *u.DefaultBranch)
		}
		return nil
	})
	if errors.Is(err, store.ErrRepoExists) {
		return nil, core.Invalid("name", "has already been taken")
	}
	return repo, err
}

// Transfer gives a repository (already authorized) to newOwner under
// name ("" keeps its name), within newOwner's repository limit. The
// files stay: they are kept by id.
func (s *Service) Transfer(ctx context.Context, repo *store.Repo, newOwner *store.User, name string) (*store.Repo, error) {
	v := core.Validation{}
	if strings.TrimSpace(name) == "" {
		name = repo.Name
	}
	name = CheckName(v, "name", name)
	if newOwner.ID == repo.OwnerID {
		v.Add("owner", "already owns "+repo.FullName())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	limit := s.Limit(newOwner)
	moved, err := s.env.Store.TransferRepo(ctx, repo.ID, newOwner.ID, name, limit)
	switch {
	case errors.Is(err, store.ErrRepoExists):
		return nil, core.Invalid("name", fmt.Sprintf("is taken: %s already has a repository named %s", newOwner.Username, name))
	case errors.Is(err, store.ErrRepoLimit):
		return nil, core.Invalid("owner", fmt.Sprintf("has reached its repository limit (%d)", limit))
	}
	return moved, err
}

// Maintain repacks one repository now, as the scheduled maintenance does
// for all, and records its new size.
func (s *Service) Maintain(ctx context.Context, repo *store.Repo) (gitserver.MaintainResult, error) {
	res, err := s.env.Git.Maintain(ctx, s.env.RepoPath(repo.ID))
	if err != nil {
		return res, fmt.Errorf("maintain %s: %w", repo.FullName(), err)
	}
	if err := s.env.Store.SetRepoSize(ctx, repo.ID, res.BytesAfter); err != nil {
		return res, err
	}
	return res, nil
}

// Delete removes a repository and its files: admins.
func (s *Service) Delete(ctx context.Context, a core.Actor, owner, name string) error {
	repo, _, err := s.env.RepoAccess(ctx, a, owner, name, store.PermAdmin)
	if err != nil {
		return err
	}
	return s.Remove(ctx, repo.ID)
}

// Remove deletes a repository already authorized: the row, then the files.
func (s *Service) Remove(ctx context.Context, id int64) error {
	if err := s.env.Store.DeleteRepo(ctx, id); err != nil {
		return err
	}
	s.env.RemoveRepoFiles(ctx, id)
	return nil
}

// Pushed queues the repository for MaintainSoon when the push left it
// wanting maintenance (gitserver.WantsMaintenance): a first push of a
// long history has no reachability index, and every clone would walk the
// whole history until the daily job ran. It only looks at a few files,
// so the push does not wait for it.
func (s *Service) Pushed(ctx context.Context, repo *store.Repo, _ *store.User, _ []gitserver.RefUpdate) {
	if !s.env.Git.WantsMaintenance(s.env.RepoPath(repo.ID)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued[repo.ID] {
		return
	}
	select {
	case s.soon <- repo.ID:
		s.queued[repo.ID] = true
	default: // a full backlog: the daily job will come
	}
}

// MaintainSoon maintains, one at a time, the repositories pushes queued,
// until ctx ends. It runs beside serving: maintenance takes the
// repository's lock only to install its result.
func (s *Service) MaintainSoon(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.soon:
			s.mu.Lock()
			delete(s.queued, id)
			s.mu.Unlock()
			path := s.env.RepoPath(id)
			if _, err := os.Stat(path); err != nil {
				continue // deleted meanwhile
			}
			res, err := s.env.Git.Maintain(ctx, path)
			switch {
			case errors.Is(err, gitserver.ErrMaintenanceRunning), ctx.Err() != nil:
			case err != nil:
				s.env.Log.WarnContext(ctx, "maintenance after a push", "repo", id, "err", err)
			default:
				s.env.Log.InfoContext(ctx, "maintained after a push", "repo", id, "packs_merged", res.PacksMerged,
					"loose_objects_packed", res.LooseObjectsPacked, "bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter)
			}
		}
	}
}

// MaintainAll repacks every repository in turn (the scheduled job
// "repository-maintenance"). One failing repository does not stop the
// others; the run fails if any did.
func (s *Service) MaintainAll(ctx context.Context) (string, error) {
	ids, err := s.env.Store.AllRepoIDs(ctx)
	if err != nil {
		return "", err
	}
	var done, failed, loose, merged, rebuilt int
	var before, after int64
	var firstErr error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("stopped after %d of %d repositories: %w", done, len(ids), err)
		}
		path := s.env.RepoPath(id)
		if _, err := os.Stat(path); err != nil {
			continue // deleted since the list was read
		}
		res, err := s.env.Git.Maintain(ctx, path)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("repository %d: %w", id, err)
			}
			continue
		}
		done++
		loose += res.LooseObjectsPacked
		merged += res.PacksMerged
		rebuilt += res.IndexesRebuilt
		before += res.BytesBefore
		after += res.BytesAfter
	}
	msg := fmt.Sprintf("Maintained %d %s: %d loose objects packed, %d packs merged, %s → %s",
		done, text.Plural(done, "repository", "repositories"), loose, merged, text.Bytes(before), text.Bytes(after))
	if rebuilt > 0 {
		msg += fmt.Sprintf("; %d damaged or missing pack %s rebuilt", rebuilt, text.Plural(rebuilt, "index", "indexes"))
	}
	if failed > 0 {
		return msg, fmt.Errorf("%d %s failed, first: %w", failed, text.Plural(failed, "repository", "repositories"), firstErr)
	}
	return msg, nil
}
