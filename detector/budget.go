package detector

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/lru"
)

// Budget is the process-wide memory budget for detector state, in bytes,
// shared by every Engine built from the same Options (one per partition a
// consumer owns). Every table of every bounded detector (per agent, per
// session, per credential, per tool…), the session compounder's and the
// containment policy's accounts the bytes of its entries, computed from
// their contents (lru.Meter: node, map slot, strings, slices and maps
// owned, rounded to the allocator's size classes). Nothing is evicted
// while the accounted total of all engines is at most Bytes, however many
// agents that is; when an event takes it above, the engine that processed
// the event evicts its own least recently used entries, across all its
// tables, until the total is within the budget again, and counts each
// eviction (Engine.Stats, tether_detector_evictions_total). A detector's
// own Max… options stay optional per-engine entry ceilings (0 by default:
// the budget alone bounds the state); without a budget (Options.MemoryBudget
// nil) tables hold what those ceilings allow, unbounded by default.
//
// Engines join the budget in New and leave it in Close, withdrawing their
// bytes. A Budget is safe for concurrent use.
type Budget struct {
	bytes   int64
	used    atomic.Int64 // accounted bytes of every engine, as of their last event
	engines atomic.Int64
}

// NewBudget returns a budget of the given bytes (at least 1 MiB).
func NewBudget(bytes int64) *Budget {
	return &Budget{bytes: max(bytes, 1<<20)}
}

// Bytes returns the whole budget (0 for a nil Budget: unbounded but for
// the detectors' own ceilings).
func (b *Budget) Bytes() int64 {
	if b == nil {
		return 0
	}
	return b.bytes
}

// Used returns the bytes the engines' state holds, as accounted after each
// engine's last event (0 for a nil Budget).
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Engines returns how many engines draw from the budget.
func (b *Budget) Engines() int { return int(b.engines.Load()) }

// Bounded is implemented by detectors whose tables the memory budget
// bounds. (Its method takes an internal type: only this module's detectors
// implement it; a custom Factory's detector bounds itself.)
type Bounded interface {
	// SetMeter makes every table of the detector account its entries'
	// bytes to m under "<detector name>/<table>" and lets m evict their
	// least recently used entries (counted in Evictions) when the budget
	// is exceeded. Tables rebuilt by UnmarshalState take their
	// predecessors' place (lru.Cache.Adopt).
	SetMeter(m *lru.Meter)
	// Evictions returns how many entries the detector has evicted from
	// its bounded tables. Unlike every other method it is safe to call
	// concurrently with Observe (metrics read it).
	Evictions() uint64
}

// DefaultMemoryBudget returns the default process-wide budget for detector
// state: half of the Go memory limit when one is set (GOMEMLIMIT or
// debug.SetMemoryLimit; the other half is garbage-collector headroom and
// everything else), otherwise an eighth of the memory available to the
// process (the cgroup limit when there is one, else MemTotal): the Go
// heap peaks at about twice the live state under the default GOGC, and the
// rest of the process (batches, sinks, client buffers) needs room too.
// 1 GiB when neither can be read.
func DefaultMemoryBudget() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		return lim / 2
	}
	if m := machineMemory(); m > 0 {
		return m / 8
	}
	return 1 << 30
}

// machineMemory returns the memory available to the process: the smaller
// of the cgroup v2 limit and MemTotal, or 0 when unknown.
func machineMemory() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:")); ok {
				kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
				if err == nil {
					total = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && lim > 0 && (total == 0 || lim < total) {
			total = lim
		}
	}
	return total
}

// Stats are an engine's counters for metrics. Engine.Stats may be called
// from any goroutine while the engine processes events.
type Stats struct {
	// Evictions counts entries evicted from bounded tables, by detector
	// name ("session" and "containment" included).
	Evictions map[string]uint64
	// CommandsHeld counts containment commands held back by the rate
	// limits (each also summarised in a containment_rate_limited finding).
	CommandsHeld uint64
}

// Add adds o's counters to s.
func (s *Stats) Add(o Stats) {
	if s.Evictions == nil {
		s.Evictions = make(map[string]uint64, len(o.Evictions))
	}
	for k, v := range o.Evictions {
		s.Evictions[k] += v
	}
	s.CommandsHeld += o.CommandsHeld
}
