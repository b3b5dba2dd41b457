package pushes

import (
	"slices"
	"testing"

	"tapioca/store"
)

func TestLandedChain(t *testing.T) {
	t.Parallel()
	row := func(id int64, old, new string) store.RefIntent {
		return store.RefIntent{ID: id, Old: old, New: new}
	}
	cases := []struct {
		name   string
		rows   []store.RefIntent
		onDisk string
		want   []int64
	}{
		{"landed", []store.RefIntent{row(1, "a", "b")}, "b", []int64{1}},
		{"did not land", []store.RefIntent{row(1, "a", "b")}, "a", nil},
		{"two in a row", []store.RefIntent{row(1, "a", "b"), row(2, "b", "c")}, "c", []int64{1, 2}},
		{"second refused", []store.RefIntent{row(1, "a", "b"), row(2, "a", "x")}, "b", []int64{1}},
		{"refused one in between", []store.RefIntent{row(1, "a", "b"), row(2, "a", "x"), row(3, "b", "c")}, "c", []int64{1, 3}},
		{"deleted", []store.RefIntent{row(1, "a", "0")}, "0", []int64{1}},
		{"none match", []store.RefIntent{row(1, "a", "b"), row(2, "b", "c")}, "z", nil},
	}
	for _, tc := range cases {
		if got := LandedChain(tc.rows, tc.onDisk); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
