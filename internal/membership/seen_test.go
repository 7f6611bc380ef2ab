package membership

import (
	"strconv"
	"testing"
)

func TestSeenSetKeepsEveryNamePastTheListSize(t *testing.T) {
	var s seenSet
	for i := range 3 * seenListMax {
		name := "g" + strconv.Itoa(i)
		if s.has(name) {
			t.Fatalf("%s seen before it was added", name)
		}
		s.add(name)
		for j := 0; j <= i; j++ {
			if !s.has("g" + strconv.Itoa(j)) {
				t.Fatalf("after adding %d names, g%d is missing", i+1, j)
			}
		}
	}
	if s.has("other") {
		t.Error("a name never added is seen")
	}
}
