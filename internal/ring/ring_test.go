package ring

import (
	"slices"
	"testing"
)

func TestRingKeepsTheLastEntriesInOrder(t *testing.T) {
	r := Ring[int]{Size: 3}
	for i := 1; i <= 5; i++ {
		r.Add(i)
	}
	if got := r.List(); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("List = %v, want [3 4 5]", got)
	}
	var empty Ring[int]
	empty.Add(1)
	if len(empty.List()) != 0 {
		t.Fatal("a ring of size 0 kept an entry")
	}
}
