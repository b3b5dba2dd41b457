package apps

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"

	"tapioca/gitserver"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

// Planning turns a mirror's new default-branch tip into deliveries: a
// full scan (every file as created) or the file diff from the last
// commit queued, in path order, in batches. Each batch is one
// transaction that inserts its deliveries and advances the watch's plan
// (the path it reached), so a stop mid-scan resumes after the last
// committed path and never queues a file twice.

const (
	// MaxContent is the largest file whose content a delivery carries.
	MaxContent = 1 << 20
	batchFiles = 200
	batchBytes = 4 << 20
	// replanEvery is the planner's safety net for wake-ups it missed.
	replanEvery = 30 * time.Second
)

// Change types, as deliveries name them.
const (
	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// FilePayload is the JSON body of a file delivery.
type FilePayload struct {
	Event        string  `json:"event"` // file.created, file.updated, file.deleted
	RepositoryID string  `json:"repository_id"`
	GitHubURL    string  `json:"github_url"`
	Owner        string  `json:"owner"`
	Name         string  `json:"name"`
	ChangeType   string  `json:"change_type"` // created, updated, deleted
	Path         string  `json:"path"`
	CommitSHA    string  `json:"commit_sha"`
	Size         int64   `json:"size"` // bytes; 0 for a deletion
	Content      *string `json:"content"`
	Encoding     *string `json:"encoding"` // utf-8 or base64; null without content
	// ContentOmitted says the file is over MaxContent: content is null.
	ContentOmitted bool   `json:"content_omitted"`
	Trigger        string `json:"trigger"`  // scan or push
	Sequence       int64  `json:"sequence"` // the repository's delivery order, from 1
	QueuedAt       string `json:"queued_at"`
}

func (s *Service) wakePlanner() {
	select {
	case s.planWake <- struct{}{}:
	default:
	}
}

// Planner queues deliveries whenever a mirror syncs, a scan is asked
// for, or at the latest every 30 seconds, until ctx ends.
func (s *Service) Planner(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.planWake:
		case <-timer.C:
		}
		if err := s.PlanAll(ctx); err != nil && ctx.Err() == nil {
			s.env.Log.Warn("plan deliveries", "err", err)
		}
		timer.Reset(replanEvery)
	}
}

// PlanAll queues what every watched repository has to deliver.
func (s *Service) PlanAll(ctx context.Context) error {
	ws, err := s.env.Store.ListWatches(ctx, store.WatchFilter{ToPlan: true})
	if err != nil {
		return err
	}
	var errs []error
	for _, w := range ws {
		if err := s.plan(ctx, w); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("watched repository %s: %w", w.PublicID, err))
		}
	}
	return errors.Join(errs...)
}

// errBatchFull stops a diff walk when a batch is full.
var errBatchFull = errors.New("batch full")

// plan queues one watch's deliveries to the mirror's current tip, batch
// by batch.
func (s *Service) plan(ctx context.Context, w *store.Watch) error {
	p := w.Plan
	if p.To == "" {
		p = store.WatchPlan{To: w.HeadCommit, From: w.DeliveredCommit, Scan: w.ScanRequested, Gen: w.Plan.Gen}
		if p.Scan {
			p.From = ""
		}
	}
	next := w.NextSeq
	if p.To == "" {
		// An empty upstream: nothing to deliver until its first commit.
		return s.env.Store.CommitPlan(ctx, w.ID, p.Gen, next, nil, p, true)
	}
	st, err := gitserver.OpenObjectStore(s.mirrors.Path(w.MirrorID))
	if err != nil {
		return err
	}
	defer st.Close()
	if p.From != "" && st.HasEncodedObject(plumbing.NewHash(p.From)) != nil {
		// The last commit queued is gone (the mirror was made again
		// from an upstream that rewrote its history): start afresh.
		s.env.Log.Warn("watched repository: last delivered commit missing from the mirror; scanning again",
			"repository", w.PublicID, "commit", p.From)
		p = store.WatchPlan{To: p.To, Scan: true, Gen: p.Gen}
	}
	trigger := "push"
	if p.Scan {
		trigger = "scan"
	}
	for {
		var batch []store.NewAppDelivery
		size := 0
		last := p.After
		err := gitserver.DiffFiles(ctx, st, hashOf(p.From), plumbing.NewHash(p.To), p.After, func(c gitserver.FileChange) error {
			if len(batch) == batchFiles || size >= batchBytes {
				return errBatchFull
			}
			d, err := s.delivery(st, w, c, p.To, next+int64(len(batch)), trigger)
			if err != nil {
				return err
			}
			batch = append(batch, d)
			size += len(d.Body)
			last = c.Path
			return nil
		})
		done := err == nil
		if err != nil && !errors.Is(err, errBatchFull) {
			return err
		}
		p.After = last
		if err := s.env.Store.CommitPlan(ctx, w.ID, p.Gen, next, batch, p, done); err != nil {
			if errors.Is(err, store.ErrPlanStale) {
				return nil // rescanned meanwhile: the next round starts from the new state
			}
			return err
		}
		next += int64(len(batch))
		if len(batch) > 0 {
			s.wakeDeliverer()
		}
		s.env.CrashPoint("apps-plan-batch")
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func hashOf(s string) plumbing.Hash {
	if s == "" {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(s)
}

// delivery builds one file's delivery: its body is fixed now, so every
// attempt sends (and signs) the same bytes.
func (s *Service) delivery(st *gitserver.ObjectStore, w *store.Watch, c gitserver.FileChange, commit string, seq int64, trigger string) (store.NewAppDelivery, error) {
	change := map[gitserver.FileChangeKind]string{gitserver.FileAdded: ChangeCreated,
		gitserver.FileModified: ChangeUpdated, gitserver.FileDeleted: ChangeDeleted}[c.Kind]
	p := FilePayload{Event: "file." + change, RepositoryID: w.PublicID, GitHubURL: w.GitHubURL, Owner: w.Owner, Name: w.Name,
		ChangeType: change, Path: c.Path, CommitSHA: commit, Trigger: trigger, Sequence: seq, QueuedAt: payload.Time(time.Now())}
	if c.Kind != gitserver.FileDeleted {
		size, err := st.EncodedObjectSize(c.Hash)
		if err != nil {
			return store.NewAppDelivery{}, fmt.Errorf("file %s: %w", c.Path, err)
		}
		p.Size = size
		if size > MaxContent {
			p.ContentOmitted = true
		} else {
			_, data, err := st.Read(c.Hash)
			if err != nil {
				return store.NewAppDelivery{}, fmt.Errorf("file %s: %w", c.Path, err)
			}
			content, enc := encodeContent(data)
			p.Content, p.Encoding = &content, &enc
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return store.NewAppDelivery{}, err
	}
	return store.NewAppDelivery{GUID: store.NewGUID(), Seq: seq, Event: change, Path: c.Path, Commit: commit, Body: body}, nil
}

// encodeContent carries text as it is and anything else (invalid UTF-8,
// or a NUL byte, which no text file has) as base64.
func encodeContent(data []byte) (content, encoding string) {
	if utf8.Valid(data) && !containsNUL(data) {
		return string(data), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(data), "base64"
}

func containsNUL(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}
