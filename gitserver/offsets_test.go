package gitserver

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRadixSortOffsets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		n     int
		limit int64
	}{
		{"empty", 0, 1 << 20},
		{"few, sorted by slices.Sort", 100, 1 << 20},
		{"one pass", 5000, 1 << 16},
		{"two passes", 50000, 300 << 20},
		{"past 4 GiB", 50000, 5 << 30},
		{"past 2^48", 3000, 1 << 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.limit)))
			offs := make([]int64, tc.n)
			for i := range offs {
				offs[i] = 12 + r.Int64N(tc.limit-32)
			}
			if tc.n > 10 {
				offs[3] = offs[7] // a duplicate keeps its place in the count
			}
			want := slices.Sorted(slices.Values(offs))
			got := radixSortOffsets(offs, tc.limit)
			if !slices.Equal(got, want) {
				t.Fatalf("not sorted like slices.Sort")
			}
			if len(got) > 0 && &got[0] != &offs[0] {
				t.Fatalf("sorted into a new slice, not in place")
			}
		})
	}
}
