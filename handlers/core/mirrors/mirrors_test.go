package mirrors

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"tapioca/gitserver"
	"tapioca/handlers/core/coretest"
	"tapioca/store"
)

// TestBackoff: the wait after failures doubles from the interval up to
// the maximum, within the ±10% jitter.
func TestBackoff(t *testing.T) {
	e := New(coretest.New(t).Env, nil, Config{Interval: time.Minute, MaxBackoff: time.Hour})
	m := &store.Mirror{Interval: time.Minute}
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute}, {7, time.Hour}, {40, time.Hour},
	} {
		for range 20 {
			got := e.backoff(m, c.failures)
			if got < c.want*9/10 || got > c.want*11/10 {
				t.Fatalf("after %d failures: %s, want %s ±10%%", c.failures, got, c.want)
			}
		}
	}
}

// failingFetcher fails every sync with err.
type failingFetcher struct{ err error }

func (f failingFetcher) Fetch(context.Context, string, string, Credentials) (*gitserver.FetchResult, error) {
	return nil, f.err
}
func (f failingFetcher) List(context.Context, string, Credentials) (*gitserver.RemoteRefs, error) {
	return nil, f.err
}

// TestSyncRecordsFailures: a failed sync is recorded with its message,
// counted, and pushes the next scheduled sync back; the error comes back
// to the caller as it was.
func TestSyncRecordsFailures(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	e := New(f.Env, failingFetcher{gitserver.ErrUpstreamNotReadable}, Config{Interval: time.Minute})
	m, err := e.Ensure(ctx, "https://example.com/o/r.git")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Schedule(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := e.Sync(ctx, m.ID, nil); !errors.Is(err, gitserver.ErrUpstreamNotReadable) {
			t.Fatalf("sync %d: %v", i, err)
		}
		got, err := f.Env.Store.MirrorByID(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		wait := time.Until(*got.NextSyncAt)
		if got.Status != store.MirrorError || got.Failures != i || got.LastError == "" || got.LastPolledAt == nil ||
			got.LastSyncedAt != nil || wait < time.Duration(1<<(i-1))*time.Minute*8/10 {
			t.Fatalf("after failure %d: %+v (next in %s)", i, got, wait)
		}
	}
	if err := e.SetToken(ctx, m.ID, "tok"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Env.Store.MirrorByID(ctx, m.ID)
	if got.Status != store.MirrorPending || got.Failures != 0 || got.LastError != "" || got.Token == "tok" {
		t.Fatalf("after a new token: %+v", got)
	}
	if due, _ := f.Env.Store.DueMirrors(ctx, time.Now()); len(due) != 0 {
		t.Fatalf("due right after failing: %d", len(due))
	}
}

// TestRemoveIdle: the mirror-poll job removes a mirror only when nothing
// keeps it (no watch, no project, no schedule) and nobody polled it
// within IdleAfter; its files go with it.
func TestRemoveIdle(t *testing.T) {
	f := coretest.New(t)
	ctx := context.Background()
	e := New(f.Env, failingFetcher{gitserver.ErrUpstreamNotReadable}, Config{Interval: time.Minute})
	ensure := func(url string) *store.Mirror {
		t.Helper()
		m, err := e.Ensure(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(e.Path(m.ID), 0o755); err != nil {
			t.Fatal(err)
		}
		return m
	}
	polled := ensure("https://example.com/o/polled.git")
	_, _ = e.Sync(ctx, polled.ID, nil) // a poll run's sync: it fails, and is recorded
	scheduled := ensure("https://example.com/o/scheduled.git")
	if err := e.Schedule(ctx, scheduled.ID); err != nil {
		t.Fatal(err)
	}
	watched := ensure("https://example.com/o/watched.git")
	app, err := f.Env.Store.CreateApp(ctx, store.NewApp{Name: "bot", URL: "https://example.com/h", Secret: "x", TokenHash: "h", TokenHint: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Env.Store.CreateWatch(ctx, store.NewWatch{AppID: app.ID, MirrorID: watched.ID,
		GitHubURL: "https://example.com/o/watched", Owner: "o", Name: "watched"}); err != nil {
		t.Fatal(err)
	}

	// Polled just now: kept for IdleAfter.
	if n, err := e.RemoveIdle(ctx, time.Now().Add(-IdleAfter)); err != nil || n != 0 {
		t.Fatalf("recently polled: removed %d (%v)", n, err)
	}
	// As if a week had passed: only the poll's cache goes.
	if n, err := e.RemoveIdle(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("a week later: removed %d (%v), want 1", n, err)
	}
	if _, err := f.Env.Store.MirrorByID(ctx, polled.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the idle mirror is still recorded: %v", err)
	}
	if _, err := os.Stat(e.Path(polled.ID)); !os.IsNotExist(err) {
		t.Fatalf("the idle mirror's files are still there: %v", err)
	}
	for _, m := range []*store.Mirror{scheduled, watched} {
		if _, err := f.Env.Store.MirrorByID(ctx, m.ID); err != nil {
			t.Fatalf("%s was removed: %v", m.URL, err)
		}
		if _, err := os.Stat(e.Path(m.ID)); err != nil {
			t.Fatalf("%s lost its files: %v", m.URL, err)
		}
	}
}
