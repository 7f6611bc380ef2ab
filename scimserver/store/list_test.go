package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSelectPagePutsTheSortedPageWhereAFullSortWould(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	for _, n := range []int{0, 1, 2, 3, 5, 10, 101, 1000} {
		for _, page := range [][2]int{{0, 1}, {0, 100}, {1, 3}, {n / 2, n/2 + 100}, {n - 1, n + 99}, {n - 3, n}} {
			lo, hi := max(page[0], 0), min(page[1], n)
			if lo >= hi {
				continue
			}
			rows := rnd.Perm(n)
			want := slices.Sorted(slices.Values(rows))[lo:hi]
			selectPage(rows, lo, hi, func(a, b int) int { return a - b })
			if !slices.Equal(rows[lo:hi], want) {
				t.Errorf("n=%d page [%d,%d): got %v, want %v", n, lo, hi, rows[lo:hi], want)
			}
			if got := slices.Sorted(slices.Values(rows)); !slices.Equal(got, slices.Sorted(slices.Values(rnd.Perm(n)))) {
				t.Errorf("n=%d: rows are no longer a permutation", n)
			}
		}
	}
}

func TestNthElementSplitsAroundTheNthSmallest(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 5))
	for range 200 {
		n := 1 + rnd.IntN(300)
		k := rnd.IntN(n)
		s := rnd.Perm(n)
		nthElement(s, k, func(a, b int) int { return a - b })
		if s[k] != k {
			t.Fatalf("n=%d k=%d: s[k]=%d", n, k, s[k])
		}
		for i := range k {
			if s[i] > k {
				t.Fatalf("n=%d k=%d: s[%d]=%d before the nth", n, k, i, s[i])
			}
		}
		for i := k + 1; i < n; i++ {
			if s[i] < k {
				t.Fatalf("n=%d k=%d: s[%d]=%d after the nth", n, k, i, s[i])
			}
		}
	}
}
