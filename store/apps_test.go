package store

import (
	"context"
	"errors"
	"testing"
)

// A watch whose mirror was removed by the last watcher's unregistration
// since the caller ensured it is not found (the caller makes a new
// mirror), not an opaque constraint failure.
func TestCreateWatchOnRemovedMirror(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	app, err := s.CreateApp(ctx, NewApp{Name: "bot", URL: "https://example.com/h", Secret: "x", TokenHash: "h", TokenHint: "t"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.EnsureMirror(ctx, "https://github.com/o/r.git")
	if err != nil {
		t.Fatal(err)
	}
	nw := NewWatch{AppID: app.ID, MirrorID: m.ID, GitHubURL: "https://github.com/o/r", Owner: "o", Name: "r"}
	if err := s.DeleteUnwatchedMirror(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWatch(ctx, nw); !errors.Is(err, ErrNotFound) {
		t.Fatalf("watch on a removed mirror: %v, want ErrNotFound", err)
	}
	m2, err := s.EnsureMirror(ctx, "https://github.com/o/r.git")
	if err != nil {
		t.Fatal(err)
	}
	nw.MirrorID = m2.ID
	w, err := s.CreateWatch(ctx, nw)
	if err != nil {
		t.Fatal(err)
	}
	if w.MirrorID != m2.ID {
		t.Fatalf("watch on mirror %d, want %d", w.MirrorID, m2.ID)
	}
	if _, err := s.CreateWatch(ctx, nw); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second watch: %v, want ErrDuplicate", err)
	}
	if err := s.DeleteUnwatchedMirror(ctx, m2.ID); !errors.Is(err, ErrMirrorWatched) {
		t.Fatalf("deleting a watched mirror: %v, want ErrMirrorWatched", err)
	}
}
