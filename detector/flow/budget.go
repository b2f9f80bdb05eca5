package flow

import "sync/atomic"

// sessionEntryBytes is the per-session size estimate behind
// SetMemoryBudget: a session with a few dozen observed and trusted values
// (a fleet session measures about 600 bytes in BenchmarkStatePerAgent,
// bench/; sessions reading long documents several KiB; the worst case at
// the value caps is about 190 KiB, see the package doc).
const sessionEntryBytes = 2 << 10

// budgetCap is the memory budget's part of the detector: its session cap
// (0: none, Options.MaxSessions alone) and the sessions evicted so far.
type budgetCap struct {
	sessions  int
	evictions atomic.Uint64
}

// sessionCap returns the effective session cap: the smaller of
// Options.MaxSessions and the budget's (0: unbounded).
func (d *Detector) sessionCap() int {
	switch n := d.opts.MaxSessions; {
	case d.budget.sessions == 0:
		return n
	case n <= 0:
		return d.budget.sessions
	default:
		return min(n, d.budget.sessions)
	}
}

// SetMemoryBudget implements detector.Bounded: bytes / 2 KiB sessions,
// capped by Options.MaxSessions; the least recently active sessions above
// the cap are evicted (counted).
func (d *Detector) SetMemoryBudget(bytes int64) {
	d.budget.sessions = int(max(bytes/sessionEntryBytes, 1))
	for n := d.sessionCap(); len(d.sessions) > n; {
		d.drop(d.lru.Back().Value.(*session).id)
		d.budget.evictions.Add(1)
	}
}

// Evictions implements detector.Bounded: sessions evicted (least recently
// active first) to stay within the caps. Safe for concurrent use.
func (d *Detector) Evictions() uint64 { return d.budget.evictions.Load() }
