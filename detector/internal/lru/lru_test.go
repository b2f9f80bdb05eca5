package lru

import (
	"slices"
	"sync/atomic"
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

func TestSetMaxCountsAndPushBack(t *testing.T) {
	var evictions atomic.Uint64
	l := New[int](4)
	l.CountInto(&evictions)
	var evicted []string
	l.OnEvict(func(k string, _ *int) { evicted = append(evicted, k) })
	for _, k := range []string{"a", "b", "c", "d"} {
		*must(l.Put(k)) = len(k)
	}
	l.Get("a") // order: a d c b
	l.SetMax(2)
	if l.Len() != 2 || l.Max() != 2 || !slices.Equal(evicted, []string{"b", "c"}) || evictions.Load() != 2 {
		t.Fatalf("SetMax(2): len %d max %d evicted %v count %d", l.Len(), l.Max(), evicted, evictions.Load())
	}
	*must(l.Put("e")) = 5 // evicts d
	if evictions.Load() != 3 || l.Peek("d") != nil {
		t.Fatalf("Put over the cap: count %d", evictions.Load())
	}
	l.Delete("e")
	if evictions.Load() != 3 {
		t.Fatal("Delete counted as an eviction")
	}
	r := New[int](8)
	for _, k := range []string{"x", "y", "z"} {
		if _, ok := r.PushBack(k); !ok {
			t.Fatalf("PushBack(%q) refused", k)
		}
	}
	if _, ok := r.PushBack("y"); ok {
		t.Fatal("PushBack accepted a duplicate")
	}
	var keys []string
	for k := range r.All() {
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"x", "y", "z"}) {
		t.Fatalf("PushBack order %v", keys)
	}
	r.Peek("z") // no recency change
	*must(r.Put("w")) = 1
	r.SetMax(3) // evicts z, the least recent
	if r.Peek("z") != nil || r.Peek("x") == nil {
		t.Fatal("Peek changed recency or SetMax evicted the wrong entry")
	}
}

func TestKeyedCache(t *testing.T) {
	type key struct{ a, s string }
	c := NewKeyed[key, int](1)
	*must(c.Put(key{"a", "1"})) = 1
	*must(c.Put(key{"a", "2"})) = 2
	if c.Get(key{"a", "1"}) != nil || *c.Get(key{"a", "2"}) != 2 {
		t.Fatal("keyed cache did not evict")
	}
}
