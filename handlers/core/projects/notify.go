package projects

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/handlers/core"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Notification headers.
const (
	HeaderEvent     = "X-Tapioca-Event"
	HeaderDelivery  = "X-Tapioca-Delivery"
	HeaderSignature = "X-Tapioca-Signature-256"
	// EventDeploy names a notification.
	EventDeploy = "deploy"
	// maxRetryDelay bounds the wait between attempts.
	maxRetryDelay = time.Hour
)

// Sign is the X-Tapioca-Signature-256 value: sha256=<hex HMAC-SHA256 of
// the exact body> with the instance's secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notification is the JSON body an instance receives.
type Notification struct {
	Event         string        `json:"event"` // deploy
	Project       NotifyProject `json:"project"`
	Instance      NotifyRef     `json:"instance"`
	Repository    NotifyRepo    `json:"repository"`
	Branch        string        `json:"branch"`
	OldSHA        string        `json:"oldSha"` // 40 zeros for a new branch
	NewSHA        string        `json:"newSha"`
	CommitMessage string        `json:"commitMessage"`
	Pusher        *NotifyPusher `json:"pusher"` // null for an upstream's sync
	Source        string        `json:"source"` // push or sync
	CreatedAt     string        `json:"createdAt"`
}

// NotifyProject names the project in a notification.
type NotifyProject struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Slug      string `json:"slug"`
	Namespace string `json:"namespace"`
}

// NotifyRef names an instance in a notification.
type NotifyRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// NotifyRepo names the connected repository in a notification.
type NotifyRepo struct {
	Provider string `json:"provider"`
	URL      string `json:"repoUrl"`
	Owner    string `json:"repoOwner"`
	Name     string `json:"repoName"`
}

// NotifyPusher is who pushed.
type NotifyPusher struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// move is one branch that moved.
type move struct {
	branch   string
	old, new string
	message  string
}

// Pushed is told about every push the forge records (the pushes
// service's Record, which a crash replays from the ref journal): each
// project following the repository notifies the instance its mappings
// route each moved branch to. A replay notifies nobody twice.
func (s *Service) Pushed(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	rs, err := s.env.Store.ProjectReposFollowing(ctx, repo.ID)
	if err != nil {
		s.env.Log.WarnContext(ctx, "projects: connections of a pushed repository", "repo", repo.ID, "err", err)
		return
	}
	if len(rs) == 0 {
		return
	}
	path := s.env.RepoPath(repo.ID)
	var moves []move
	for _, u := range updates {
		branch, ok := strings.CutPrefix(u.Name, "refs/heads/")
		if !ok || u.New.IsZero() {
			continue // tags and deletions deploy nothing
		}
		moves = append(moves, move{branch: branch, old: u.Old.String(), new: u.New.String(), message: commitMessage(path, u.New)})
	}
	if len(moves) == 0 {
		return
	}
	for _, r := range rs {
		queued := false
		err := s.env.Store.Tx(ctx, func(tx *store.Store) error {
			var err error
			queued, err = s.queue(ctx, tx, r, pusher, "push", moves)
			return err
		})
		if err != nil {
			s.env.Log.ErrorContext(ctx, "projects: queue notifications", "project", r.ProjectID, "err", err)
		}
		s.queued(queued)
	}
}

// queued runs once notifications are committed to the outbox.
func (s *Service) queued(any bool) {
	if any {
		s.env.CrashPoint("project-delivery-queued")
		s.wakeDeliverer()
	}
}

// queue writes the notifications of moves into the outbox and reports
// whether it wrote any.
func (s *Service) queue(ctx context.Context, tx *store.Store, r *store.ProjectRepo, pusher *store.User, source string, moves []move) (bool, error) {
	if len(moves) == 0 {
		return false, nil
	}
	p, err := tx.ProjectByID(ctx, r.ProjectID)
	if err != nil || p.Archived {
		return false, err
	}
	ms, err := tx.BranchMappings(ctx, p.ID)
	if err != nil || len(ms) == 0 {
		return false, err
	}
	insts, err := tx.LinkedInstances(ctx, p.ID)
	if err != nil {
		return false, err
	}
	linked := map[int64]bool{}
	byID := map[int64]*store.Instance{}
	for _, i := range insts {
		linked[i.ID], byID[i.ID] = true, i
	}
	queued := false
	for _, mv := range moves {
		m := Route(ms, linked, mv.branch)
		if m == nil {
			continue
		}
		inst := byID[m.InstanceID]
		n := Notification{Event: EventDeploy, Branch: mv.branch, OldSHA: mv.old, NewSHA: mv.new, CommitMessage: mv.message,
			Project:    NotifyProject{ID: p.PublicID, Name: p.Name, Slug: p.Slug, Namespace: p.OwnerName},
			Instance:   NotifyRef{ID: inst.PublicID, Name: inst.Name, Slug: inst.Slug},
			Repository: NotifyRepo{Provider: r.Provider, URL: r.RepoURL, Owner: r.RepoOwner, Name: r.RepoName},
			Source:     source, CreatedAt: payload.Time(time.Now())}
		if pusher != nil {
			n.Pusher = &NotifyPusher{ID: pusher.ID, Username: pusher.Username}
		}
		body, err := json.Marshal(n)
		if err != nil {
			return false, err
		}
		ok, err := tx.EnqueueProjectDelivery(ctx, store.NewProjectDelivery{ProjectID: p.ID, InstanceID: inst.ID,
			Branch: mv.branch, Old: mv.old, New: mv.new, Body: body})
		if err != nil {
			return false, err
		}
		queued = queued || ok
	}
	return queued, nil
}

// planUpstream notifies about the branches of a project's upstream that
// moved since it was last told (the tips it recorded), and records the
// new tips in the same transaction. The first plan after connecting only
// records them.
func (s *Service) planUpstream(ctx context.Context, projectID int64) error {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	r, err := s.env.Store.ProjectRepoOf(ctx, projectID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.MirrorID == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	path := s.mirrors.Path(r.MirrorID)
	bs, err := s.env.Git.Branches(ctx, path)
	if errors.Is(err, gitserver.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tips := map[string]string{}
	for _, b := range bs {
		tips[b.Name] = b.Hash.String()
	}
	old := map[string]string{}
	if r.Tips != "" {
		if err := json.Unmarshal([]byte(r.Tips), &old); err != nil {
			return fmt.Errorf("project %d tips: %w", projectID, err)
		}
	}
	var moves []move
	if r.Tips != "" {
		for _, b := range bs {
			was, ok := old[b.Name]
			if ok && was == b.Hash.String() {
				continue
			}
			if !ok {
				was = plumbing.ZeroHash.String()
			}
			moves = append(moves, move{branch: b.Name, old: was, new: b.Hash.String(), message: commitMessage(path, b.Hash)})
		}
	}
	enc, err := json.Marshal(tips)
	if err != nil {
		return err
	}
	queued := false
	err = s.env.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if queued, err = s.queue(ctx, tx, r, nil, "sync", moves); err != nil {
			return err
		}
		return tx.SetProjectTips(ctx, projectID, string(enc))
	})
	if err != nil {
		return err
	}
	s.queued(queued)
	return nil
}

// planMirror plans every project following a mirror that synced.
func (s *Service) planMirror(ctx context.Context, mirrorID int64) {
	rs, err := s.env.Store.ProjectReposOfMirror(ctx, mirrorID)
	if err != nil {
		s.env.Log.Warn("projects: connections of a mirror", "mirror", mirrorID, "err", err)
		return
	}
	for _, r := range rs {
		if err := s.env.Store.RecordProjectSync(ctx, r.ProjectID, store.ProjectSync{Status: store.MirrorSynced}); err != nil {
			s.env.Log.Warn("projects: record sync", "project", r.ProjectID, "err", err)
		}
		if err := s.planUpstream(ctx, r.ProjectID); err != nil && ctx.Err() == nil {
			s.env.Log.Warn("projects: plan notifications", "project", r.ProjectID, "err", err)
		}
	}
}

func (s *Service) wakeDeliverer() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Resume makes notifications a dead process left in flight due again
// (one process per data directory: at start-up every lease is a dead
// one).
func (s *Service) Resume(ctx context.Context) error {
	n, err := s.env.Store.ReleaseProjectLeases(ctx, time.Now().AddDate(100, 0, 0))
	if n > 0 {
		s.env.Log.Warn("resuming project notifications interrupted by a stop", "count", n)
	}
	return err
}

// Worker plans the notifications of mirrors that synced and delivers the
// outbox until ctx ends. In-flight attempts are abandoned at shutdown
// and their leases given back without counting them.
func (s *Service) Worker(ctx context.Context) {
	lease := s.cfg.Timeout + time.Minute
	st := s.env.Store
	core.Dispatch(ctx, s.env.Log, core.Outbox[*store.ProjectDelivery]{
		Name:    "project notifications",
		Workers: s.cfg.Workers,
		Claim: func(ctx context.Context, now time.Time, n int) ([]*store.ProjectDelivery, error) {
			return st.ClaimProjectDeliveries(ctx, now, lease, n)
		},
		NextDue: func(ctx context.Context, _ time.Time) (time.Time, bool, error) { return st.NextProjectDeliveryDue(ctx) },
		Deliver: func(ctx context.Context, d *store.ProjectDelivery) (*store.ProjectDelivery, bool) {
			s.deliver(ctx, d)
			return nil, false
		},
		Sweep: func(ctx context.Context) {
			if _, err := st.ReleaseProjectLeases(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.env.Log.Warn("project notification lease sweep", "err", err)
			}
		},
		Wake:   s.wake,
		Woken:  s.wakeDeliverer,
		AlsoCh: s.plan,
		Also:   s.planMirror,
	})
}

// deliver makes one attempt and records it.
func (s *Service) deliver(ctx context.Context, d *store.ProjectDelivery) {
	st, log := s.env.Store, s.env.Log
	bg := context.WithoutCancel(ctx)
	inst, err := st.InstanceByID(ctx, d.InstanceID)
	var secret string
	if err == nil {
		secret, err = s.env.Secrets.Open(inst.Secret)
	}
	if err != nil {
		log.Warn("project notification: load the instance", "delivery", d.ID, "err", err)
		s.release(bg, d)
		return
	}
	headers := map[string]string{
		"Content-Type":  "application/json",
		"User-Agent":    s.cfg.UserAgent,
		HeaderEvent:     EventDeploy,
		HeaderDelivery:  d.GUID,
		HeaderSignature: Sign(secret, d.Body),
	}
	status, _, _, sendErr := s.sender.Post(ctx, inst.HookURL, headers, d.Body)
	if ctx.Err() != nil {
		s.release(bg, d) // shutting down: the attempt does not count
		return
	}
	res := store.ProjectAttempt{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StatusCode: status,
		Succeeded: sendErr == nil && status >= 200 && status < 300}
	switch {
	case sendErr != nil:
		res.Error = sendErr.Error()
	case !res.Succeeded:
		res.Error = "the instance answered " + strconv.Itoa(status)
	}
	if !res.Succeeded && d.Attempts < s.cfg.MaxAttempts {
		at := time.Now().Add(s.retryDelay(d.Attempts))
		res.RetryAt = &at
	}
	if err := st.FinishProjectAttempt(bg, res); err != nil {
		log.Warn("project notification: record attempt", "delivery", d.ID, "err", err)
	}
	if !res.Succeeded {
		log.Info("project notification failed", "delivery", d.ID, "instance", inst.Slug, "attempt", d.Attempts, "err", res.Error)
	}
}

func (s *Service) release(ctx context.Context, d *store.ProjectDelivery) {
	if err := s.env.Store.ReleaseProjectLease(ctx, d.ID, d.LeaseToken); err != nil {
		s.env.Log.Warn("project notification: release lease", "delivery", d.ID, "err", err)
	}
}

// retryDelay is the wait after failed attempt n (1-based): ×3 per
// attempt, ±20% jitter, at most an hour.
func (s *Service) retryDelay(n int) time.Duration {
	d := float64(s.cfg.RetryBase) * math.Pow(3, float64(max(n, 1)-1))
	d = min(d, float64(maxRetryDelay))
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// Deliveries lists the newest notifications: site administrators only
// (the dashboard).
func (s *Service) Deliveries(ctx context.Context, a core.Actor, limit int) ([]*store.ProjectDelivery, error) {
	if !a.SiteAdmin() {
		if a.User == nil {
			return nil, core.ErrNoIdentity
		}
		return nil, core.Forbidden("Only site administrators can see project notifications")
	}
	return s.env.Store.ListProjectDeliveries(ctx, limit)
}
