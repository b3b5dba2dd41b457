package events

import (
	"container/heap"
	"context"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver"
	"tapioca/handlers/core/payload"
	"tapioca/store"
)

const (
	// pushCommitsListed is how many commits a push payload lists (the
	// newest, oldest first); size counts them all up to pushCommitsWalked.
	pushCommitsListed = 20
	pushCommitsWalked = 10000
	// MaxCreateEvents bounds the create events of one push: a push that
	// creates thousands of refs would otherwise queue two deliveries per
	// ref and hook. Past it, new refs fire no create event, and new tags
	// no push event either (GitHub, too, is silent about many tags pushed
	// at once); new branches still fire their push.
	MaxCreateEvents = 20
)

// Push records push, create and delete events for ref updates that have
// already moved the refs (a push, a branch made through the API, a
// merge). It runs after the change, so it cannot fail it: problems are
// logged.
func (e *Emitter) Push(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) {
	ctx = context.WithoutCancel(ctx)
	if !e.wantsPushEvents(ctx, repo) {
		return // no commit walk when nobody listens
	}
	evs := e.pushEvents(ctx, repo, pusher, updates)
	if len(evs) == 0 {
		return
	}
	if creates := countCreated(updates); creates > MaxCreateEvents {
		e.env.Log.InfoContext(ctx, "push created many refs: events past the first ones coalesced", "repo", repo.ID, "created", creates, "limit", MaxCreateEvents)
	}
	st := e.env.Store
	err := st.Tx(ctx, func(tx *store.Store) error {
		for _, ev := range evs {
			if err := e.Emit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.env.Log.ErrorContext(ctx, "record push events", "repo", repo.ID, "err", err)
	}
}

func (e *Emitter) wantsPushEvents(ctx context.Context, repo *store.Repo) bool {
	hooks, err := e.env.Store.ListWebhooks(ctx, repo.OwnerID)
	if err != nil {
		return true // let Emit find out properly
	}
	for _, h := range hooks {
		if h.Active && (h.Subscribed("push") || h.Subscribed("create") || h.Subscribed("delete")) {
			return true
		}
	}
	return false
}

// pushEvents turns ref updates into events: create then push for a new
// branch or tag, delete then push for a deleted one, push for a moved one.
// Refs outside refs/heads and refs/tags fire nothing.
func (e *Emitter) pushEvents(ctx context.Context, repo *store.Repo, pusher *store.User, updates []gitserver.RefUpdate) []Event {
	path := e.env.RepoPath(repo.ID)
	gr, err := gitserver.Open(path)
	if err != nil {
		e.env.Log.WarnContext(ctx, "push events: open repository", "repo", repo.ID, "err", err)
	}
	// Tips of the branches before this push: a new branch lists only the
	// commits no other branch had.
	var before []plumbing.Hash
	if branches, err := e.env.Git.Branches(ctx, path); err == nil {
		updated := map[string]gitserver.RefUpdate{}
		for _, u := range updates {
			updated[u.Name] = u
		}
		for _, b := range branches {
			if u, ok := updated["refs/heads/"+b.Name]; ok {
				if !u.Old.IsZero() {
					before = append(before, u.Old)
				}
				continue
			}
			before = append(before, b.Hash)
		}
	}
	authors := map[string]string{}
	authorName := func(name, email string) string {
		if v, ok := authors[email]; ok {
			return v
		}
		v, err := e.env.AuthorName(ctx, name, email)
		if err != nil {
			v = name
		}
		authors[email] = v
		return v
	}
	commitOut := func(c *object.Commit) payload.PushCommit {
		return payload.PushCommit{ID: c.Hash.String(), TreeID: c.TreeHash.String(), Message: c.Message,
			Author: authorName(c.Author.Name, c.Author.Email), AuthorName: c.Author.Name, AuthorEmail: c.Author.Email,
			Timestamp: payload.Time(c.Author.When)}
	}

	var evs []Event
	n := 0 // refs created so far
	for _, u := range updates {
		refType := ""
		short := ""
		switch {
		case strings.HasPrefix(u.Name, "refs/heads/"):
			refType, short = "branch", strings.TrimPrefix(u.Name, "refs/heads/")
		case strings.HasPrefix(u.Name, "refs/tags/"):
			refType, short = "tag", strings.TrimPrefix(u.Name, "refs/tags/")
		default:
			continue
		}
		created, deleted := u.Old.IsZero(), u.New.IsZero()
		coalesced := false
		if created {
			n++
			coalesced = n > MaxCreateEvents
		}
		if coalesced && refType == "tag" {
			continue
		}
		if created && !coalesced {
			evs = append(evs, Event{Name: "create", Repo: repo, Sender: pusher, Payload: map[string]any{
				"ref": short, "ref_type": refType, "master_branch": repo.DefaultBranch,
				"description": repo.Description, "pusher_type": "user",
			}})
		}
		if deleted {
			evs = append(evs, Event{Name: "delete", Repo: repo, Sender: pusher, Payload: map[string]any{
				"ref": short, "ref_type": refType, "pusher_type": "user",
			}})
		}
		commits := []payload.PushCommit{}
		var head any
		size := 0
		if gr != nil && !deleted {
			if c := peelCommit(gr, u.New); c != nil {
				head = commitOut(c)
			}
			if refType == "branch" {
				exclude := before
				if !created {
					exclude = []plumbing.Hash{u.Old}
				}
				list, total := newCommits(ctx, gr, u.New, exclude)
				size = total
				for i := len(list) - 1; i >= 0; i-- {
					commits = append(commits, commitOut(list[i]))
				}
			}
		}
		p := map[string]any{
			"ref": u.Name, "before": u.Old.String(), "after": u.New.String(),
			"created": created, "deleted": deleted, "forced": !created && !deleted && !u.FastForward,
			"base_ref": nil, "commits": commits, "head_commit": head, "size": size,
			"compare": u.Old.String()[:12] + "..." + u.New.String()[:12],
		}
		if pusher != nil {
			// No email: account emails are private, and the hook's owner
			// may not be the pusher.
			p["pusher"] = map[string]any{"name": pusher.Username}
		}
		evs = append(evs, Event{Name: "push", Repo: repo, Sender: pusher, Payload: p})
	}
	return evs
}

// peelCommit returns the commit h names, through annotated tags.
func peelCommit(r *git.Repository, h plumbing.Hash) *object.Commit {
	for range 10 {
		if c, err := object.GetCommit(r.Storer, h); err == nil {
			return c
		}
		t, err := object.GetTag(r.Storer, h)
		if err != nil {
			return nil
		}
		h = t.Target
	}
	return nil
}

// newCommits is `git rev-list tip --not exclude...`: the commits reachable
// from tip and from none of exclude, newest first, at most
// pushCommitsListed of them, and how many there are (counting up to
// pushCommitsWalked). It walks by commit date, as git does.
func newCommits(ctx context.Context, r *git.Repository, tip plumbing.Hash, exclude []plumbing.Hash) ([]*object.Commit, int) {
	const seen, bad = 1, 2
	flags := map[plumbing.Hash]uint8{}
	q := &commitQueue{}
	push := func(h plumbing.Hash, uninteresting bool) {
		f := flags[h]
		if uninteresting {
			if f&bad != 0 {
				return
			}
			flags[h] = f | seen | bad
		} else {
			if f&seen != 0 {
				return
			}
			flags[h] = seen
		}
		c, err := object.GetCommit(r.Storer, h)
		if err != nil {
			return // missing or not a commit: nothing beyond it to walk
		}
		heap.Push(q, c)
	}
	for _, h := range exclude {
		push(h, true)
	}
	push(tip, false)
	var found []*object.Commit
	for walked := 0; q.Len() > 0 && walked < pushCommitsWalked && ctx.Err() == nil; walked++ {
		if q.allBad(flags, bad) {
			break
		}
		c := heap.Pop(q).(*object.Commit)
		isBad := flags[c.Hash]&bad != 0
		if !isBad {
			found = append(found, c)
		}
		for _, p := range c.ParentHashes {
			push(p, isBad)
		}
	}
	var out []*object.Commit
	total := 0
	for _, c := range found {
		if flags[c.Hash]&bad != 0 {
			continue
		}
		total++
		if len(out) < pushCommitsListed {
			out = append(out, c)
		}
	}
	return out, total
}

// commitQueue is a max-heap of commits by committer date.
type commitQueue []*object.Commit

func (q commitQueue) Len() int           { return len(q) }
func (q commitQueue) Less(i, j int) bool { return q[i].Committer.When.After(q[j].Committer.When) }
func (q commitQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)        { *q = append(*q, x.(*object.Commit)) }
func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

func (q commitQueue) allBad(flags map[plumbing.Hash]uint8, bad uint8) bool {
	for _, c := range q {
		if flags[c.Hash]&bad == 0 {
			return false
		}
	}
	return true
}

func countCreated(updates []gitserver.RefUpdate) int {
	n := 0
	for _, u := range updates {
		if u.Old.IsZero() && (strings.HasPrefix(u.Name, "refs/heads/") || strings.HasPrefix(u.Name, "refs/tags/")) {
			n++
		}
	}
	return n
}
