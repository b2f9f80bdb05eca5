package detector

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
)

// Budget is the process-wide memory budget for detector state, shared by
// every Engine built from the same Options (one per partition a consumer
// owns). Each live engine gets an equal share, Bytes / engines; an engine
// splits its share across its detectors by a fixed split (shares), and each
// detector turns its part into entry caps of its tables from its documented
// per-entry size estimates (each package's doc comment). Above a cap a table evicts its
// least recently active entry and counts it (Engine.Stats). A detector's
// own Max… options stay per-engine ceilings: the cap is the smaller of the
// two. By default they are 0 (no fixed count): the budget alone sizes every
// per-agent and per-session table, so there is no cliff at a fixed number
// of agents; without a budget (Options.MemoryBudget nil) such tables are
// unbounded.
//
// Engines join the budget in New and leave it in Close; when the number of
// engines changes, every engine applies its new share at its next event
// (on its own goroutine: no locks on the event path), evicting down to
// smaller caps. A Budget is safe for concurrent use.
type Budget struct {
	bytes   int64
	engines atomic.Int64
	gen     atomic.Uint64 // bumped whenever the share changes
}

// NewBudget returns a budget of the given bytes (at least 1 MiB).
func NewBudget(bytes int64) *Budget {
	return &Budget{bytes: max(bytes, 1<<20)}
}

// Bytes returns the whole budget (0 for a nil Budget: unbounded but for
// the detectors' own caps).
func (b *Budget) Bytes() int64 {
	if b == nil {
		return 0
	}
	return b.bytes
}

// Share returns one engine's share: Bytes divided by the live engines.
func (b *Budget) Share() int64 {
	if b == nil {
		return 0
	}
	return b.bytes / max(b.engines.Load(), 1)
}

// Engines returns how many engines draw from the budget.
func (b *Budget) Engines() int { return int(b.engines.Load()) }

func (b *Budget) join() {
	b.engines.Add(1)
	b.gen.Add(1)
}

func (b *Budget) leave() {
	b.engines.Add(-1)
	b.gen.Add(1)
}

// shares is how an engine's share of the budget is split across the
// detectors, the session compounder and the containment policy, in
// per-mille (summing to 1000), by name. The split follows each detector's
// measured state per agent with a session in flight (BenchmarkStatePerAgent
// in bench/: flow ≈ 600 B, profile ≈ 450 B, risk ≈ 330 B, baseline ≈ 240
// B, semantic ≈ 210 B, identity ≈ 200 B, capability ≈ 65 B) so that as
// agents grow every table reaches its cap at about the same time. A
// detector missing here (a custom Factory) is not budgeted; its own
// options bound it. outputs (per-tool baselines, not per agent) takes
// 40‰, taken from flow, risk and baseline.
var shares = map[string]int64{
	"identity":    120,
	"baseline":    90,
	"flow":        200,
	"profile":     190,
	"semantic":    90,
	"capability":  30,
	"risk":        120,
	"outputs":     40,
	"session":     60,
	"containment": 60,
}

// Bounded is implemented by detectors whose tables the memory budget sizes.
type Bounded interface {
	// SetMemoryBudget sets the bytes the detector's state may hold: its
	// tables' entry caps become the smaller of their configured maximum
	// and their part of bytes divided by the documented per-entry size,
	// and a table above its new cap evicts its least recently active
	// entries (counted).
	SetMemoryBudget(bytes int64)
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
