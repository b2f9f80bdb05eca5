package lru

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Meter accounts the bytes held by the caches of one owner (a detector
// engine: every table of its detectors) and keeps them within a byte limit
// shared with other meters: after each event (Settle) it re-sizes the
// entries touched since the previous Settle and, while the shared total is
// above the limit, evicts the least recently used entry across all its
// caches (each counted in its cache's counter, CountInto). Below the limit
// nothing is evicted, whatever the number of entries.
//
// Sizes are computed, not guessed once: an entry is the cache node and
// its map slot (from the Go types' sizes, rounded up to the allocator's
// size classes) plus what the cache's size function returns for its key
// and value (strings, slices and maps it owns, see String, Slice, Map).
// An entry is re-sized when it is used (Get or Put) — when the next
// entry of its cache is used, or at Settle — so state that grows while an
// entry is in use is accounted at the end of the event at the latest.
//
// A Meter is driven by its owner's goroutine (Settle, and every Get or
// Put of its caches); Adopt may run on several goroutines at once (the
// detectors of an engine restore their state in parallel).
type Meter struct {
	limit  int64
	shared *atomic.Int64 // the total of every meter drawing from the limit

	mu      sync.Mutex // guards members and bytes in Adopt
	members []member
	clock   uint32 // bumped by Settle: the recency stamp of entries used since
	bytes   int64  // this meter's accounted bytes
	posted  int64  // the part of bytes added to shared
}

// member is a cache as its meter sees it.
type member interface {
	flush() int64                    // re-sizes the last touched entry, returns the change
	oldest() (stamp uint32, ok bool) // the least recent entry's stamp
	halveStamps()                    // halves every entry's stamp (clock wrap)
	evictOldest()                    // evicts it (counted), taking its bytes off the meter
	tableName() string
	accounted() int64
}

// NewMeter returns a meter keeping shared (the accounted bytes of every
// meter given the same counter; nil: this meter's alone) at most limit
// bytes (≤ 0: no limit, sizes are still accounted).
func NewMeter(limit int64, shared *atomic.Int64) *Meter {
	if shared == nil {
		shared = new(atomic.Int64)
	}
	return &Meter{limit: limit, shared: shared}
}

// Bytes returns the meter's accounted bytes as of its last Settle (or of
// the last entry used, when called from the owner's goroutine).
func (m *Meter) Bytes() int64 { return m.bytes }

// Tables returns the accounted bytes per cache name (several caches of one
// name add up). Owner's goroutine only.
func (m *Meter) Tables() map[string]int64 {
	out := make(map[string]int64, len(m.members))
	for _, c := range m.members {
		out[c.tableName()] += c.accounted()
	}
	return out
}

// Settle ends an event: it re-sizes the entries used since the previous
// Settle, posts the change to the shared total and, while that is above
// the limit, evicts the least recently used entry of this meter's caches
// (the entries used by the event just ended included, last). It returns
// how many entries it evicted.
func (m *Meter) Settle() int {
	for _, c := range m.members {
		m.bytes += c.flush()
	}
	if m.clock++; m.clock == math.MaxUint32 {
		// Before the 32-bit clock wraps (every 4 billion events): halve
		// it and every stamp, which keeps their order.
		for _, c := range m.members {
			c.halveStamps()
		}
		m.clock /= 2
	}
	m.post()
	n := 0
	for m.limit > 0 && m.shared.Load() > m.limit {
		var victim member
		var best uint32
		for _, c := range m.members {
			if s, ok := c.oldest(); ok && (victim == nil || s < best) {
				victim, best = c, s
			}
		}
		if victim == nil {
			break // nothing left to evict: the other meters hold the bytes
		}
		victim.evictOldest()
		m.post()
		n++
	}
	return n
}

func (m *Meter) post() {
	if d := m.bytes - m.posted; d != 0 {
		m.shared.Add(d)
		m.posted = m.bytes
	}
}

// Close withdraws the meter's bytes from the shared total (its owner is
// gone). The meter must not be used afterwards.
func (m *Meter) Close() {
	m.shared.Add(-m.posted)
	m.posted, m.bytes = 0, 0
}

// register adds c to the meter, replacing old when it is a member.
func (m *Meter) register(c, old member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes += c.accounted()
	if old != nil {
		for i, o := range m.members {
			if o == old {
				m.bytes -= old.accounted()
				m.members[i] = c
				return
			}
		}
	}
	m.members = append(m.members, c)
}

// Remove takes the caches whose names start with prefix out of the
// meter and their bytes off its account (a detector replaced by a new one
// that registers its own caches). Owner's goroutine only.
func (m *Meter) Remove(prefix string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.members = slices.DeleteFunc(m.members, func(c member) bool {
		if strings.HasPrefix(c.tableName(), prefix) {
			m.bytes -= c.accounted()
			return true
		}
		return false
	})
}

// Metered makes the meter m account the cache's entries under name, each
// as its node and map slot plus sizeOf(key, value) bytes (the key's and
// value's own allocations; see String, Slice, Map), and lets m evict them
// when over its limit. Entries already present are sized now.
func (l *Cache[K, V]) Metered(m *Meter, name string, sizeOf func(key K, v *V) int) {
	if m == nil {
		return
	}
	l.meter, l.name, l.sizeOf, l.fixed = m, name, sizeOf, l.fixedBytes()
	l.resizeAll()
	m.register(l, nil)
}

// Adopt gives l, a cache rebuilt from a state encoding, the place of old
// (the cache it replaces): old's entry cap (evicting l's least recently
// used entries above it, counted), eviction counter and meter; l's entries
// are sized and replace old's in the meter's accounting. Safe to call for
// different caches of one meter at once.
func (l *Cache[K, V]) Adopt(old *Cache[K, V]) {
	if l.evictions == nil {
		l.evictions = old.evictions
	}
	l.SetMax(old.max)
	if old.meter == nil {
		return
	}
	l.meter, l.name, l.sizeOf, l.fixed = old.meter, old.name, old.sizeOf, old.fixed
	l.resizeAll()
	l.meter.register(l, old)
}

// Bytes returns the accounted bytes of the cache's entries (0 without a
// meter).
func (l *Cache[K, V]) Bytes() int64 { return l.bytes }

func (l *Cache[K, V]) resizeAll() {
	l.bytes, l.last = 0, nil
	for n := l.head; n != nil; n = n.next {
		n.size = l.entryBytes(n.key, &n.val)
		l.bytes += int64(n.size)
	}
}

func (l *Cache[K, V]) halveStamps() {
	for n := l.head; n != nil; n = n.next {
		n.stamp /= 2
	}
}

// Resize re-sizes key's entry now (for a value changed through Peek).
func (l *Cache[K, V]) Resize(key K) {
	if n := l.items[key]; n != nil && l.meter != nil {
		size := l.entryBytes(key, &n.val)
		d := int64(size) - int64(n.size)
		n.size = size
		l.bytes += d
		l.meter.bytes += d
	}
}

// entryBytes is the accounted size of one entry (at most 4 GiB).
func (l *Cache[K, V]) entryBytes(key K, v *V) uint32 {
	return uint32(min(l.fixed+l.sizeOf(key, v), math.MaxUint32))
}

// fixedBytes is the part of every entry's size that is the cache's own:
// the node and its map slot.
func (l *Cache[K, V]) fixedBytes() int {
	return Alloc(int(unsafe.Sizeof(node[K, V]{}))) + mapSlot[K]()
}

// mapSlot is the bytes one entry takes in the cache's map[K]*node: key and
// pointer plus a control byte, at the average load of a Go map that
// doubles when 7/8 full (about 2/3).
func mapSlot[K comparable]() int {
	var k K
	return (int(unsafe.Sizeof(k)) + int(unsafe.Sizeof(uintptr(0))) + 1) * 3 / 2
}

// touch marks n used by the current event: the entry used before it in
// this cache is re-sized now (n is re-sized at the next touch or Settle).
func (l *Cache[K, V]) touch(n *node[K, V]) {
	if l.meter == nil {
		return
	}
	n.stamp = l.meter.clock
	if l.last != n {
		l.meter.bytes += l.flush()
		l.last = n
	}
}

// forget removes n's bytes from the accounting (n is being removed).
func (l *Cache[K, V]) forget(n *node[K, V]) {
	if l.meter == nil {
		return
	}
	if l.last == n {
		l.last = nil
	}
	l.bytes -= int64(n.size)
	l.meter.bytes -= int64(n.size)
	n.size = 0
}

func (l *Cache[K, V]) flush() int64 {
	n := l.last
	if n == nil {
		return 0
	}
	l.last = nil
	size := l.entryBytes(n.key, &n.val)
	d := int64(size) - int64(n.size)
	n.size = size
	l.bytes += d
	return d
}

func (l *Cache[K, V]) oldest() (uint32, bool) {
	if l.tail == nil {
		return 0, false
	}
	return l.tail.stamp, true
}

func (l *Cache[K, V]) evictOldest() {
	n := l.tail
	l.evict(n)
	n.prev, n.next = nil, nil
}

func (l *Cache[K, V]) tableName() string { return l.name }
func (l *Cache[K, V]) accounted() int64  { return l.bytes }

// String returns the bytes s's contents take on the heap (0 for "").
func String(s string) int { return Alloc(len(s)) }

// Slice returns the bytes s's backing array takes on the heap.
func Slice[T any](s []T) int {
	var t T
	return Alloc(cap(s) * int(unsafe.Sizeof(t)))
}

// Map returns the bytes a Go map of n entries of key K and value V takes
// (0 for none: an empty map is counted as absent): the map header and its
// groups of 8 slots with their control word — one group up to 8 entries,
// beyond that tables grown to the next power of two whenever 7/8 full.
func Map[K comparable, V any](n int) int {
	if n <= 0 {
		return 0
	}
	var k K
	var v V
	group := 8 + 8*(int(unsafe.Sizeof(k))+int(unsafe.Sizeof(v)))
	if n <= 8 {
		return Alloc(48) + Alloc(group)
	}
	slots := 16
	for slots*7/8 < n {
		slots *= 2
	}
	// tables of at most 1024 slots, each with a header, behind a directory
	tables := max(slots/1024, 1)
	return Alloc(48) + tables*(Alloc(min(slots, 1024)/8*group)+Alloc(64)) + Alloc(8*tables)
}

// Alloc returns the bytes the Go allocator hands out for an object of n
// bytes: n rounded up to its size class (up to 32 KiB), else to 8 KiB
// pages.
func Alloc(n int) int {
	if n <= 0 {
		return 0
	}
	if n <= 1024 {
		return int(classBy8[(n+7)>>3])
	}
	if n <= 32<<10 {
		return int(classBy128[(n+127)>>7])
	}
	return (n + 8<<10 - 1) &^ (8<<10 - 1)
}

// classBy8 and classBy128 map (n+7)/8 for n ≤ 1 KiB and (n+127)/128 up to
// 32 KiB to n's size class, as the runtime's own tables do.
var classBy8, classBy128 = func() (a [1024/8 + 1]uint16, b [32<<10/128 + 1]uint16) {
	class := func(n int) uint16 {
		i, _ := slices.BinarySearch(sizeClasses[:], n)
		return uint16(sizeClasses[i])
	}
	for i := range a {
		a[i] = class(i * 8)
	}
	for i := range b {
		b[i] = class(i * 128)
	}
	return a, b
}()

// sizeClasses are the Go runtime's small object size classes
// (runtime/sizeclasses.go).
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048,
	2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880,
	12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}
