// Package lru holds the bounded least-recently-used map the detectors use
// for their per-agent, per-session and per-credential state, and the Meter
// that accounts their bytes against the memory budget. It is the one
// eviction scheme of the detector packages: every table bounded by
// detector.Options.MemoryBudget is a metered LRU, and every eviction is
// counted.
package lru

import (
	"iter"
	"math"
	"sync/atomic"
)

// Cache is a map from keys of type K to values of type V holding at most
// max entries; when full, inserting a new key evicts the least recently
// used one. Every operation is O(1) (SetMax: O(evicted)) and it is not safe
// for concurrent use, except that the eviction counter it was given
// (CountInto) may be read concurrently.
//
// Ownership: the cache owns its values; callers get pointers into its
// nodes. A pointer stays valid until its key is deleted or evicted: on
// eviction the node is reused for the new key (so a full cache inserts
// without allocating) and its value is zeroed. Callers that keep a value's
// address beyond that (for instance in other structures, or across a Put
// that may evict) must store a pointer type as V.
type Cache[K comparable, V any] struct {
	max        int
	items      map[K]*node[K, V]
	head, tail *node[K, V] // head: most recently used
	onEvict    func(key K, v *V)
	evictions  *atomic.Uint64

	// byte accounting (Meter): nil meter: none
	meter  *Meter
	sizeOf func(key K, v *V) int // the bytes an entry's value holds beyond the node
	bytes  int64                 // the accounted bytes of every entry
	last   *node[K, V]           // the entry touched last, sized at the next touch or Settle
	name   string                // for Meter.Tables
	fixed  int                   // fixedBytes
}

// LRU is a Cache keyed by strings (agent, session and credential ids).
type LRU[V any] = Cache[string, V]

type node[K comparable, V any] struct {
	key        K
	val        V
	prev, next *node[K, V]
	stamp      uint32 // the meter's clock when last used
	size       uint32 // accounted bytes (with a meter)
}

// New returns an empty string-keyed LRU holding at most max entries
// (≤ 0: unbounded).
func New[V any](max int) *LRU[V] { return NewKeyed[string, V](max) }

// NewKeyed returns an empty Cache holding at most max entries (≤ 0:
// unbounded).
func NewKeyed[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{max: maxOf(max), items: make(map[K]*node[K, V])}
}

func maxOf(n int) int {
	if n <= 0 {
		return math.MaxInt
	}
	return n
}

// OnEvict sets a function called with an entry that is about to be evicted
// (by Put or SetMax), before its value is zeroed; not on Delete.
func (l *Cache[K, V]) OnEvict(f func(key K, v *V)) { l.onEvict = f }

// CountInto makes the cache add every eviction (by Put or SetMax, not
// Delete) to c, which may be shared by several caches and read
// concurrently (metrics).
func (l *Cache[K, V]) CountInto(c *atomic.Uint64) { l.evictions = c }

// Len returns the number of entries.
func (l *Cache[K, V]) Len() int { return len(l.items) }

// Max returns the entry cap.
func (l *Cache[K, V]) Max() int { return l.max }

// SetMax changes the entry cap (≤ 0: unbounded), evicting least recently used
// entries (counted, OnEvict called) until the cache holds at most max.
func (l *Cache[K, V]) SetMax(max int) {
	l.max = maxOf(max)
	for len(l.items) > l.max {
		n := l.tail
		l.evict(n)
		n.prev, n.next = nil, nil
	}
}

// Get returns the value of key, marking it most recently used, or nil.
func (l *Cache[K, V]) Get(key K) *V {
	n := l.items[key]
	if n == nil {
		return nil
	}
	l.toFront(n)
	l.touch(n)
	return &n.val
}

// Peek returns the value of key without changing its recency, or nil.
func (l *Cache[K, V]) Peek(key K) *V {
	if n := l.items[key]; n != nil {
		return &n.val
	}
	return nil
}

// Put returns the value of key, marking it most recently used; if key is
// absent it inserts a zero value (evicting the least recently used entry
// when full). created reports whether it was inserted.
func (l *Cache[K, V]) Put(key K) (v *V, created bool) {
	if n := l.items[key]; n != nil {
		l.toFront(n)
		l.touch(n)
		return &n.val, false
	}
	var n *node[K, V]
	if len(l.items) >= l.max && l.tail != nil {
		n = l.tail
		l.evict(n)
	} else {
		n = &node[K, V]{}
	}
	n.key = key
	l.items[key] = n
	l.pushFront(n)
	l.touch(n)
	return &n.val, true
}

// evict removes n (counted, OnEvict called) and zeroes its value, leaving
// the node for reuse.
func (l *Cache[K, V]) evict(n *node[K, V]) {
	if l.onEvict != nil {
		l.onEvict(n.key, &n.val)
	}
	if l.evictions != nil {
		l.evictions.Add(1)
	}
	l.forget(n)
	l.unlink(n)
	delete(l.items, n.key)
	var zero V
	n.val = zero
}

// Delete removes key.
func (l *Cache[K, V]) Delete(key K) {
	if n := l.items[key]; n != nil {
		l.forget(n)
		l.unlink(n)
		delete(l.items, key)
	}
}

// All yields the entries from most to least recently used, without
// changing their order (state encodings use it). The cache must not be
// modified during the iteration.
func (l *Cache[K, V]) All() iter.Seq2[K, *V] {
	return func(yield func(K, *V) bool) {
		for n := l.head; n != nil; n = n.next {
			if !yield(n.key, &n.val) {
				return
			}
		}
	}
}

// PushBack inserts key as the least recently used entry, for rebuilding a
// cache from an encoding listed most recent first. It reports false, and
// inserts nothing, when key is present. It may exceed the cap; call SetMax
// afterwards to enforce it. An entry pushed into a metered cache is not
// accounted until Adopt or Resize sizes it.
func (l *Cache[K, V]) PushBack(key K) (v *V, ok bool) {
	if l.items[key] != nil {
		return nil, false
	}
	n := &node[K, V]{key: key, prev: l.tail}
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	l.items[key] = n
	return &n.val, true
}

func (l *Cache[K, V]) toFront(n *node[K, V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *Cache[K, V]) pushFront(n *node[K, V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *Cache[K, V]) unlink(n *node[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
