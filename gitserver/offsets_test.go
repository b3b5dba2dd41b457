package gitserver

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
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
		{"just under 4 GiB", 20000, math.MaxUint32},
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
			if tc.limit > math.MaxUint32 {
				return
			}
			// Packs under 4 GiB keep their offsets in 4 bytes.
			r = rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.limit)))
			small := make([]uint32, tc.n)
			for i := range small {
				small[i] = uint32(12 + r.Int64N(tc.limit-32))
			}
			want32 := slices.Sorted(slices.Values(small))
			if got := radixSortOffsets(small, tc.limit); !slices.Equal(got, want32) {
				t.Fatalf("uint32 offsets not sorted like slices.Sort")
			}
			for _, probe := range want32[:min(len(want32), 50)] {
				next, ok := nextOffset(want32, int64(probe))
				i := sort.Search(len(want32), func(i int) bool { return want32[i] > probe })
				if ok != (i < len(want32)) || ok && next != int64(want32[i]) {
					t.Fatalf("nextOffset(%d) = %d, %v", probe, next, ok)
				}
			}
		})
	}
}

// TestRadixSortHigh sorts offset<<32|position keys as slices.Sort does
// (the offsets, in the high half, are distinct).
func TestRadixSortHigh(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 10, 255, 256, 5000, 70000} {
		r := rand.New(rand.NewPCG(uint64(n), 3))
		seen := map[uint32]bool{}
		keys := make([]uint64, 0, n)
		for len(keys) < n {
			off := r.Uint32()
			if seen[off] {
				continue
			}
			seen[off] = true
			keys = append(keys, uint64(off)<<32|uint64(len(keys)))
		}
		want := slices.Sorted(slices.Values(keys))
		radixSortHigh(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("%d keys: not sorted like slices.Sort", n)
		}
	}
}
