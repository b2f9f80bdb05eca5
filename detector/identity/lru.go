package identity

// lru is a map from string keys to values of type V holding at most max
// entries; when full, inserting a new key evicts the least recently used
// one (its node is reused, so a full lru inserts without allocating). It is
// not safe for concurrent use.
type lru[V any] struct {
	max        int
	items      map[string]*lruNode[V]
	head, tail *lruNode[V] // head: most recently used
}

type lruNode[V any] struct {
	key        string
	val        V
	prev, next *lruNode[V]
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, items: make(map[string]*lruNode[V])}
}

// len returns the number of entries.
func (l *lru[V]) len() int { return len(l.items) }

// get returns the value of key, marking it most recently used, or nil.
func (l *lru[V]) get(key string) *V {
	n := l.items[key]
	if n == nil {
		return nil
	}
	l.toFront(n)
	return &n.val
}

// put returns the value of key, inserting a zero value (and evicting the
// least recently used entry when full) if key is absent. created reports
// whether it was inserted.
func (l *lru[V]) put(key string) (v *V, created bool) {
	if n := l.items[key]; n != nil {
		l.toFront(n)
		return &n.val, false
	}
	var n *lruNode[V]
	if len(l.items) >= l.max && l.tail != nil {
		n = l.tail
		l.unlink(n)
		delete(l.items, n.key)
		var zero V
		n.val = zero
	} else {
		n = &lruNode[V]{}
	}
	n.key = key
	l.items[key] = n
	l.pushFront(n)
	return &n.val, true
}

// del removes key.
func (l *lru[V]) del(key string) {
	if n := l.items[key]; n != nil {
		l.unlink(n)
		delete(l.items, key)
	}
}

func (l *lru[V]) toFront(n *lruNode[V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *lru[V]) pushFront(n *lruNode[V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *lru[V]) unlink(n *lruNode[V]) {
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
