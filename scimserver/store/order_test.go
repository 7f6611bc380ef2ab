package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestOrderPagesAreSortedWhateverTheEventOrder(t *testing.T) {
	var ord order
	const key = "Users/ns"
	want := make([]string, 500)
	for i := range want {
		want[i] = fmt.Sprintf("id-%04d", i)
	}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// The initial list arrives in no order, with a duplicate (a relist).
	for _, id := range shuffled[:400] {
		ord.insert(key, id, true)
	}
	ord.insert(key, shuffled[0], true)
	// Then live events: adds, a repeated add, deletes.
	for _, id := range shuffled[400:] {
		ord.insert(key, id, false)
	}
	ord.insert(key, shuffled[450], false)
	ord.remove(key, "id-0003")
	ord.remove(key, "id-0499")
	ord.remove(key, "not-there")
	want = slices.DeleteFunc(want, func(id string) bool { return id == "id-0003" || id == "id-0499" })

	ids, total := ord.page(key, 0, 5, false)
	if total != len(want) || !slices.Equal(ids, want[:5]) {
		t.Fatalf("first page %v of %d, want %v of %d", ids, total, want[:5], len(want))
	}
	if ids, _ := ord.page(key, 495, 600, false); !slices.Equal(ids, want[495:]) {
		t.Fatalf("last page %v, want %v", ids, want[495:])
	}
	if ids, _ := ord.page(key, 0, 3, true); !slices.Equal(ids, []string{"id-0498", "id-0497", "id-0496"}) {
		t.Fatalf("first descending page %v", ids)
	}
	if ids, total := ord.page(key, 1000, 1100, false); len(ids) != 0 || total != len(want) {
		t.Fatalf("a page past the end: %v of %d", ids, total)
	}
	if ids, total := ord.page("Users/other", 0, 10, false); len(ids) != 0 || total != 0 {
		t.Fatalf("another directory: %v of %d", ids, total)
	}
}
