package lru

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"unsafe"
)

// blob is a value whose heap size the test controls.
type blob struct{ b []byte }

func blobBytes(_ string, v *blob) int { return Slice(v.b) }

// entrySize is the accounted size of a blob entry holding n bytes (a size
// class, so that the arithmetic below is exact).
func entrySize(n int) int64 {
	return int64(Alloc(int(unsafe.Sizeof(node[string, blob]{})))) + int64(mapSlot[string]()) + int64(Alloc(n))
}

func TestMeterEvictsOnlyAboveTheLimit(t *testing.T) {
	one := entrySize(256)
	for _, tc := range []struct {
		name    string
		limit   int64
		entries int
		evicted int
	}{
		{"far below", 100 * one, 10, 0},
		{"exactly at the limit", 10 * one, 10, 0},
		{"one byte short", 10*one - 1, 10, 1},
		{"one entry over", 9 * one, 10, 1},
		{"half", 5 * one, 10, 5},
		{"no limit", 0, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev atomic.Uint64
			m := NewMeter(tc.limit, nil)
			c := New[blob](0)
			c.CountInto(&ev)
			c.Metered(m, "t/blobs", blobBytes)
			total := 0
			for i := range tc.entries {
				v, _ := c.Put(fmt.Sprint("k", i))
				v.b = make([]byte, 256)
				total += m.Settle()
			}
			if total != tc.evicted || int(ev.Load()) != tc.evicted || c.Len() != tc.entries-tc.evicted {
				t.Fatalf("evicted %d (counted %d), %d left; want %d evicted", total, ev.Load(), c.Len(), tc.evicted)
			}
			if want := int64(c.Len()) * one; m.Bytes() != want || c.Bytes() != want || m.shared.Load() != want {
				t.Fatalf("accounted %d (cache %d, shared %d), want %d", m.Bytes(), c.Bytes(), m.shared.Load(), want)
			}
			if tc.evicted > 0 && (c.Peek("k0") != nil || c.Peek(fmt.Sprint("k", tc.entries-1)) == nil) {
				t.Fatal("evicted other than the least recently used")
			}
		})
	}
}

func TestMeterAcrossCaches(t *testing.T) {
	one := entrySize(256)
	m := NewMeter(4*one, nil)
	a, b := New[blob](0), New[blob](0)
	a.Metered(m, "x/a", blobBytes)
	b.Metered(m, "x/b", blobBytes)
	put := func(c *LRU[blob], k string, n int) {
		v, _ := c.Put(k)
		v.b = make([]byte, n)
		m.Settle()
	}
	put(a, "a1", 256)
	put(b, "b1", 256)
	put(a, "a2", 256)
	put(b, "b2", 256)
	a.Get("a1") // b1 is now the least recently used of all
	m.Settle()
	put(b, "b3", 256)
	if b.Peek("b1") != nil || a.Len() != 2 || b.Len() != 2 {
		t.Fatalf("after an entry over the limit: a %d, b %d entries, b1 kept: %v", a.Len(), b.Len(), b.Peek("b1") != nil)
	}
	// An entry that grows while in use is re-sized at Settle: the
	// oldest entry of the other cache goes.
	v := a.Get("a1")
	v.b = make([]byte, 512)
	if n := m.Settle(); n != 1 || a.Peek("a2") != nil {
		t.Fatalf("growth: %d evicted, a2 kept %v", n, a.Peek("a2") != nil)
	}
	if got := m.Tables(); got["x/a"] != a.Bytes() || got["x/b"] != b.Bytes() || got["x/a"]+got["x/b"] != m.Bytes() || m.Bytes() > m.limit {
		t.Fatalf("tables %v, meter %d, limit %d", got, m.Bytes(), m.limit)
	}
	// Delete and Remove take bytes off.
	before := m.Bytes()
	a.Delete("a1")
	m.Settle()
	if m.Bytes() != before-entrySize(512) {
		t.Fatalf("after Delete: %d bytes, want %d", m.Bytes(), before-entrySize(512))
	}
	m.Remove("x/b")
	if m.Bytes() != 0 || len(m.members) != 1 {
		t.Fatalf("after Remove: %d bytes, %d members", m.Bytes(), len(m.members))
	}
}

func TestMeterSharedLimit(t *testing.T) {
	one := entrySize(256)
	var shared atomic.Int64
	m1, m2 := NewMeter(4*one, &shared), NewMeter(4*one, &shared)
	c1, c2 := New[blob](0), New[blob](0)
	c1.Metered(m1, "t/one", blobBytes)
	c2.Metered(m2, "t/two", blobBytes)
	for i := range 3 {
		v, _ := c1.Put(fmt.Sprint(i))
		v.b = make([]byte, 256)
		m1.Settle()
	}
	v, _ := c2.Put("x")
	v.b = make([]byte, 256)
	if n := m2.Settle(); n != 0 || shared.Load() != 4*one {
		t.Fatalf("at the shared limit: %d evicted, shared %d", n, shared.Load())
	}
	v, _ = c2.Put("y")
	v.b = make([]byte, 256)
	// Over the shared limit: the meter that settles evicts its own
	// entries, even its newest, until the total fits.
	if n := m2.Settle(); n != 1 || shared.Load() != 4*one || c1.Len() != 3 {
		t.Fatalf("over the shared limit: %d evicted, shared %d, other meter %d entries", n, shared.Load(), c1.Len())
	}
	m1.Close()
	if shared.Load() != m2.Bytes() {
		t.Fatalf("after Close: shared %d, want %d", shared.Load(), m2.Bytes())
	}
}

func TestAdoptTakesThePlaceOfTheOldCache(t *testing.T) {
	one := entrySize(256)
	var ev atomic.Uint64
	m := NewMeter(3*one, nil)
	old := New[blob](0)
	old.CountInto(&ev)
	old.Metered(m, "t/blobs", blobBytes)
	v, _ := old.Put("old")
	v.b = make([]byte, 256)
	m.Settle()
	restored := New[blob](0)
	for _, k := range []string{"r1", "r2", "r3", "r4"} { // most recent first
		v, _ := restored.PushBack(k)
		v.b = make([]byte, 256)
	}
	restored.Adopt(old)
	if m.Bytes() != 4*one || len(m.members) != 1 {
		t.Fatalf("after Adopt: %d bytes (want %d), %d members", m.Bytes(), 4*one, len(m.members))
	}
	if n := m.Settle(); n != 1 || restored.Peek("r4") != nil || ev.Load() != 1 {
		t.Fatalf("a restored table over the limit: %d evicted (counted %d), r4 kept %v", n, ev.Load(), restored.Peek("r4") != nil)
	}
}

func TestAlloc(t *testing.T) {
	for _, tc := range [][2]int{{0, 0}, {1, 8}, {8, 8}, {9, 16}, {33, 48}, {1025, 1152}, {32768, 32768}, {32769, 40960}} {
		if got := Alloc(tc[0]); got != tc[1] {
			t.Errorf("Alloc(%d) = %d, want %d", tc[0], got, tc[1])
		}
	}
	if !slices.IsSorted(sizeClasses[:]) {
		t.Fatal("size classes not sorted")
	}
	if String("") != 0 || Slice([]uint64(nil)) != 0 || Map[string, int](0) != 0 || Slice(make([]uint64, 3)) != 24 {
		t.Fatal("String, Slice or Map of nothing")
	}
}

func TestMeterClockWrapKeepsOrder(t *testing.T) {
	one := entrySize(256)
	m := NewMeter(3*one, nil)
	a, b := New[blob](0), New[blob](0)
	a.Metered(m, "w/a", blobBytes)
	b.Metered(m, "w/b", blobBytes)
	m.clock = math.MaxUint32 - 2
	for i, c := range []*LRU[blob]{a, b, a} { // stamps MaxUint32-2, -1, then halved
		v, _ := c.Put(fmt.Sprint(i))
		v.b = make([]byte, 256)
		m.Settle()
	}
	if m.clock >= math.MaxUint32/2+2 {
		t.Fatalf("clock %d not halved", m.clock)
	}
	v, _ := b.Put("3")
	v.b = make([]byte, 256)
	if n := m.Settle(); n != 1 || a.Peek("0") != nil || b.Peek("1") == nil {
		t.Fatalf("after the wrap: %d evicted, 0 kept %v, 1 kept %v", n, a.Peek("0") != nil, b.Peek("1") != nil)
	}
}

func TestAllocTables(t *testing.T) {
	for n := 1; n <= 40<<10; n++ {
		i, _ := slices.BinarySearch(sizeClasses[:], n)
		want := (n + 8<<10 - 1) &^ (8<<10 - 1)
		if i < len(sizeClasses) {
			want = sizeClasses[i]
		}
		if got := Alloc(n); got != want {
			t.Fatalf("Alloc(%d) = %d, want %d", n, got, want)
		}
	}
}
