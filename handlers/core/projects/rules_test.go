package projects

import (
	"testing"

	"tapioca/store"
)

func TestSlugify(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"My Project", "my-project"},
		{"  Odoo 17 -- Staging!  ", "odoo-17-staging"},
		{"Ünïcode name", "n-code-name"},
		{"???", ""},
	} {
		if got := Slugify(c.in); got != c.want {
			t.Errorf("Slugify(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMatchBranch(t *testing.T) {
	for _, c := range []struct {
		pattern, branch string
		want            bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"release/*", "release/1.0", true},
		{"release/*", "release/1.0/hotfix", false},
		{"release/**", "release/1.0/hotfix", true},
		{"*", "feature/x", false},
		{"**", "feature/x", true},
		{"v?.x", "v1.x", true},
		{"a.b", "axb", false}, // dots are literal
		{"fé*", "féature", true},
	} {
		if got := MatchBranch(c.pattern, c.branch); got != c.want {
			t.Errorf("MatchBranch(%q, %q) = %v, want %v", c.pattern, c.branch, got, c.want)
		}
	}
}

func TestRoute(t *testing.T) {
	ms := []*store.BranchMapping{
		{ID: 1, Pattern: "**", InstanceID: 10, Priority: 0},
		{ID: 2, Pattern: "main", InstanceID: 20, Priority: 5},
		{ID: 3, Pattern: "main", InstanceID: 30, Priority: 5},
		{ID: 4, Pattern: "release/*", InstanceID: 40, Priority: 9},
	}
	linked := map[int64]bool{10: true, 20: true, 30: true}
	for _, c := range []struct {
		branch string
		want   int64 // mapping id; 0 = none
	}{
		{"main", 2},      // highest priority, the first set on a tie
		{"feature/a", 1}, // only the catch-all
		{"release/1", 1}, // mapping 4's instance is not linked
	} {
		got := Route(ms, linked, c.branch)
		var id int64
		if got != nil {
			id = got.ID
		}
		if id != c.want {
			t.Errorf("Route(%q) = mapping %d, want %d", c.branch, id, c.want)
		}
	}
	if Route(ms[1:2], linked, "dev") != nil {
		t.Error("an unmapped branch was routed")
	}
}
