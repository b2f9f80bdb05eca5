package lru

import (
	"slices"
	"testing"
)

func TestLRU(t *testing.T) {
	l := New[int](2)
	*must(l.Put("a")) = 1
	*must(l.Put("b")) = 2
	l.Get("a")            // b is now least recent
	*must(l.Put("c")) = 3 // evicts b
	if l.Get("b") != nil || *l.Get("a") != 1 || *l.Get("c") != 3 || l.Len() != 2 {
		t.Fatalf("lru state wrong")
	}
	l.Delete("a")
	if l.Len() != 1 || l.Get("a") != nil {
		t.Fatalf("delete failed")
	}
	if v, created := l.Put("d"); !created || *v != 0 {
		t.Fatalf("reused node not zeroed")
	}
}

func TestOnEvictAndAll(t *testing.T) {
	l := New[int](2)
	var evicted []string
	l.OnEvict(func(k string, v *int) { evicted = append(evicted, k); *v = -1 })
	*must(l.Put("a")) = 1
	*must(l.Put("b")) = 2
	*must(l.Put("c")) = 3 // evicts a
	if !slices.Equal(evicted, []string{"a"}) {
		t.Fatalf("evicted %v, want [a]", evicted)
	}
	var keys []string
	var vals []int
	for k, v := range l.All() {
		keys, vals = append(keys, k), append(vals, *v)
	}
	if !slices.Equal(keys, []string{"c", "b"}) || !slices.Equal(vals, []int{3, 2}) {
		t.Fatalf("All = %v %v, want [c b] [3 2]", keys, vals)
	}
	l.Delete("b")
	if len(evicted) != 1 {
		t.Fatalf("Delete called OnEvict")
	}
}

func must(v *int, _ bool) *int { return v }
