// Package lru holds the bounded least-recently-used map the detectors use
// for their per-agent, per-session and per-credential state.
package lru

import "iter"

// LRU is a map from string keys to values of type V holding at most max
// entries; when full, inserting a new key evicts the least recently used
// one. Every operation is O(1) and it is not safe for concurrent use.
//
// Ownership: the LRU owns its values; callers get pointers into its nodes.
// A pointer stays valid until its key is deleted or evicted: on eviction
// the node is reused for the new key (so a full LRU inserts without
// allocating) and its value is zeroed. Callers that keep a value's address
// beyond that (for instance in other structures) must store a pointer type
// as V.
type LRU[V any] struct {
	max        int
	items      map[string]*node[V]
	head, tail *node[V] // head: most recently used
	onEvict    func(key string, v *V)
}

type node[V any] struct {
	key        string
	val        V
	prev, next *node[V]
}

// New returns an empty LRU holding at most max entries.
func New[V any](max int) *LRU[V] {
	return &LRU[V]{max: max, items: make(map[string]*node[V])}
}

// OnEvict sets a function called with an entry that Put is about to evict,
// before its value is zeroed (not on Delete).
func (l *LRU[V]) OnEvict(f func(key string, v *V)) { l.onEvict = f }

// Len returns the number of entries.
func (l *LRU[V]) Len() int { return len(l.items) }

// Get returns the value of key, marking it most recently used, or nil.
func (l *LRU[V]) Get(key string) *V {
	n := l.items[key]
	if n == nil {
		return nil
	}
	l.toFront(n)
	return &n.val
}

// Put returns the value of key, marking it most recently used; if key is
// absent it inserts a zero value (evicting the least recently used entry
// when full). created reports whether it was inserted.
func (l *LRU[V]) Put(key string) (v *V, created bool) {
	if n := l.items[key]; n != nil {
		l.toFront(n)
		return &n.val, false
	}
	var n *node[V]
	if len(l.items) >= l.max && l.tail != nil {
		n = l.tail
		if l.onEvict != nil {
			l.onEvict(n.key, &n.val)
		}
		l.unlink(n)
		delete(l.items, n.key)
		var zero V
		n.val = zero
	} else {
		n = &node[V]{}
	}
	n.key = key
	l.items[key] = n
	l.pushFront(n)
	return &n.val, true
}

// Delete removes key.
func (l *LRU[V]) Delete(key string) {
	if n := l.items[key]; n != nil {
		l.unlink(n)
		delete(l.items, key)
	}
}

// All yields the entries from most to least recently used, without
// changing their order (state encodings use it). The LRU must not be
// modified during the iteration.
func (l *LRU[V]) All() iter.Seq2[string, *V] {
	return func(yield func(string, *V) bool) {
		for n := l.head; n != nil; n = n.next {
			if !yield(n.key, &n.val) {
				return
			}
		}
	}
}

func (l *LRU[V]) toFront(n *node[V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *LRU[V]) pushFront(n *node[V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *LRU[V]) unlink(n *node[V]) {
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
