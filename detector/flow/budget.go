package flow

import (
	"unsafe"

	"github.com/tetherhq/tether/detector/internal/lru"
)

// table returns an empty session table capped by Options.MaxSessions (0:
// no cap but the memory budget), counting its evictions.
func (d *Detector) table() *lru.LRU[*session] {
	t := lru.New[*session](d.opts.MaxSessions)
	t.CountInto(&d.evictions)
	return t
}

// SetMeter implements detector.Bounded: a session is accounted with its
// ids, text, request and the index derived from it, value sets (keys,
// entries and the ids of the events and tools they name) and pending
// calls.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.sessions.Metered(m, Name+"/sessions", func(id string, p **session) int {
		if *p == nil {
			return lru.String(id)
		}
		return (*p).heapBytes()
	})
}

// Evictions implements detector.Bounded: sessions evicted (least recently
// active first) to stay within the budget or MaxSessions. Safe for
// concurrent use.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// heapBytes is the heap s holds. Its value sets are re-summed only when
// they changed since the last call.
func (s *session) heapBytes() int {
	n := lru.Alloc(int(unsafe.Sizeof(*s))) + lru.String(s.id) + lru.String(s.parent) +
		lru.Slice(s.text) + lru.Slice(s.request) + s.req.heapBytes() + lru.Slice(s.heard.keys) +
		lru.Map[pendingKey, pending](len(s.directed))
	for k, p := range s.directed {
		n += lru.String(k.name) + lru.String(p.location)
	}
	return n + s.values.heapBytes(entryBytes) + s.trusted.heapBytes(nil) + s.amounts.heapBytes(nil) + s.reported.heapBytes(nil)
}

// entryBytes is the heap the ids an observed value's sources name take
// (each counted, though several sources often share one event's id).
func entryBytes(e *entry) int {
	return lru.String(e.untrusted.event) + lru.String(e.untrusted.tool) + lru.String(e.private.event) + lru.String(e.private.tool) +
		lru.String(e.seen.event) + lru.String(e.seen.tool) + lru.String(e.instr.event) + lru.String(e.instr.tool)
}

// heapBytes is the heap the set holds: map, key and value arrays, keys
// and, with val, what each value references. Cached until the next put.
func (s *valueSet[T]) heapBytes(val func(*T) int) int {
	if s.sized {
		return s.bytes
	}
	n := lru.Map[string, int32](len(s.m)) + lru.Slice(s.keys) + lru.Slice(s.vals)
	for i := range s.keys {
		n += lru.String(s.keys[i])
		if val != nil {
			n += val(&s.vals[i])
		}
	}
	s.bytes, s.sized = n, true
	return n
}

// heapBytes is the heap the request index holds (its lower-cased copy and
// word, name, amount and call-verdict sets; the words are counted as
// their map slots, their bytes as the copy's).
func (x *requestIndex) heapBytes() int {
	return lru.Slice(x.lower) + lru.Map[string, struct{}](len(x.words)) + lru.Map[string, struct{}](len(x.names)) +
		lru.Map[string, struct{}](len(x.amounts)) + lru.Map[string, bool](len(x.called))
}
