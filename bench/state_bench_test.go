package bench_test

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/models"
)

// BenchmarkStatePerAgent measures the heap each detector retains per agent:
// for every detector of detector.Registry alone (and "engine", the session
// compounder and containment policy with no detector, which holds the
// engine's labelled copy of the inventory, "all", the default engine, and
// "all-idle", the default engine after every open session was ended),
// an engine is warmed up with 10 fleet events per agent (about one session
// each), collected, and the retained heap divided by the agents is reported
// as B/agent, net of what the fleet generator itself holds after producing
// the same events (measured first, without an engine). evicted/agent is
// the entries the default memory budget evicted per agent (non-zero: the
// state did not fit) and accounted-B/agent the bytes the budget accounts
// for the engine's tables (detector.Budget.Used) per agent, to compare
// with the measured B/agent. The measured loop is one more event per iteration on
// the warm engine. The
// agent counts are TETHER_BENCH_STATE_AGENTS (comma separated; default
// 1000,10000,100000); TETHER_BENCH_STATE_HEAPPROFILE=FILE writes the warm
// engine's heap profile (the last sub-benchmark run wins);
// TETHER_BENCH_STATE_TABLES=1 logs the accounted bytes per agent of each
// table.
func BenchmarkStatePerAgent(b *testing.B) {
	counts := []int{1000, 10_000, 100_000}
	if v := os.Getenv("TETHER_BENCH_STATE_AGENTS"); v != "" {
		counts = counts[:0]
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				b.Fatalf("TETHER_BENCH_STATE_AGENTS: bad count %q", s)
			}
			counts = append(counts, n)
		}
	}
	names := []string{"all", "all-idle", "engine"}
	for _, r := range detector.Registry {
		names = append(names, r.Name)
	}
	for _, agents := range counts {
		fleetBytes := -1.0 // the generator's own heap, measured once per count
		for _, name := range names {
			b.Run(fmt.Sprintf("agents=%d/%s", agents, name), func(b *testing.B) {
				opts := detector.DefaultOptions()
				switch name {
				case "all", "all-idle":
				case "engine":
					opts.Detectors = nil
				default:
					for i, r := range detector.Registry {
						if r.Name == name {
							opts.Detectors = opts.Detectors[i : i+1]
						}
					}
				}
				if fleetBytes < 0 {
					fleetBytes = fleetHeap(agents)
				}
				measureState(b, opts, agents, fleetBytes, name == "all-idle")
			})
		}
	}
}

// warmPerAgent is the warm-up events per agent of BenchmarkStatePerAgent.
const warmPerAgent = 10

// stateFleet is the fleet of BenchmarkStatePerAgent.
func stateFleet(agents int) *fleet.Fleet {
	return fleet.New(fleet.Options{Agents: agents, Rogue: max(1, agents/10), Seed: 3,
		Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
}

// fleetHeap returns the heap the fleet generator retains after producing
// the warm-up events of agents agents (sessions scripted ahead, the
// inventory), to be subtracted from the engine's measurement.
func fleetHeap(agents int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fl := stateFleet(agents)
	_ = fl.Inventory()
	for range warmPerAgent * agents {
		fl.Next()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(fl)
	return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}

// measureState warms an engine built from opts with 10 events for each of
// agents fleet agents and reports the retained heap per agent, net of
// fleetBytes. With idle, every session still open after the warm-up is
// ended (a session_end event) before the measurement: the agents are idle.
func measureState(b *testing.B, opts detector.Options, agents int, fleetBytes float64, idle bool) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fl := stateFleet(agents)
	opts.Inventory = fl.Inventory()
	eng := detector.New(opts)
	var out detector.Output
	var open map[string]*models.Event // with idle: the last event of each open session
	if idle {
		open = make(map[string]*models.Event)
	}
	for range warmPerAgent * agents {
		ev := fl.Next()
		eng.Process(ev, &out)
		out.Reset()
		switch {
		case open == nil:
		case ev.Kind == models.KindSessionEnd:
			delete(open, ev.SessionID)
		default:
			open[ev.SessionID] = ev
		}
	}
	if idle {
		ids := slices.Sorted(maps.Keys(open))
		for _, id := range ids {
			last := open[id]
			eng.Process(&models.Event{SchemaVersion: last.SchemaVersion, ID: last.ID + "-end", Kind: models.KindSessionEnd,
				Time: last.Time.Add(time.Second), AgentID: last.AgentID, SessionID: id, RootAgentID: last.RootAgentID,
				ParentAgentID: last.ParentAgentID, Principal: last.Principal, Step: last.Step + 1}, &out)
			out.Reset()
		}
		open = nil
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if path := os.Getenv("TETHER_BENCH_STATE_HEAPPROFILE"); path != "" {
		// the warm engine's heap, by allocation site (go tool pprof
		// -sample_index=inuse_space); run with -memprofilerate 512 for detail
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	if os.Getenv("TETHER_BENCH_STATE_TABLES") != "" {
		// the accounted bytes per agent of each table (Engine.StateBytes)
		tb := eng.StateBytes()
		for _, k := range slices.Sorted(maps.Keys(tb)) {
			b.Logf("accounted %-28s %8.1f B/agent", k, float64(tb[k])/float64(agents))
		}
	}
	perAgent := (float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) - fleetBytes) / float64(agents)
	accounted := float64(opts.MemoryBudget.Used()) / float64(agents)
	var evicted uint64
	for _, n := range eng.Stats().Evictions {
		evicted += n
	}
	evs := make([]*models.Event, 4096)
	for i := range evs {
		evs[i] = fl.Next()
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		eng.Process(evs[i%len(evs)], &out)
		out.Reset()
		i++
	}
	b.ReportMetric(perAgent, "B/agent")
	b.ReportMetric(accounted, "accounted-B/agent")
	b.ReportMetric(float64(evicted)/float64(agents), "evicted/agent")
	runtime.KeepAlive(eng)
	runtime.KeepAlive(fl)
}

// BenchmarkStateMillion measures the default engine holding a million
// agents (TETHER_BENCH_1M=1; TETHER_BENCH_STATE_COPIES sets the copies,
// default 1000): a fleet of 1,000 agents is run for 10 events per agent
// (about one session each; the sessions still open are then ended) and
// replayed that many times with every agent,
// session and credential id renamed per copy and the event time shifted
// past the previous copy, so each copy's agents are new and every agent
// ends idle after its burst of activity, as most agents of a large fleet
// are at any moment. (The fleet generator itself cannot reach a million
// agents: it scripts each agent's session ahead, ≈ 15 KB per agent.) The
// inventory of all agents is built (and labelled) before the first
// reading, so B/agent is the detectors' state alone; evicted/agent counts
// what the default budget evicted; peak-RSS-MiB is the process's peak
// resident set (the inventory and the generator included).
func BenchmarkStateMillion(b *testing.B) {
	if os.Getenv("TETHER_BENCH_1M") == "" {
		b.Skip("needs about 4 GB of memory: set TETHER_BENCH_1M=1 to run it")
	}
	const base = 1000
	copies := 1000
	if v := os.Getenv("TETHER_BENCH_STATE_COPIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("TETHER_BENCH_STATE_COPIES: bad count %q", v)
		}
		copies = n
	}
	fl := stateFleet(base)
	evs := fl.Take(warmPerAgent * base)
	// end the sessions still open: the agents go idle after their burst
	open := map[string]*models.Event{}
	for _, ev := range evs {
		if ev.Kind == models.KindSessionEnd {
			delete(open, ev.SessionID)
		} else {
			open[ev.SessionID] = ev
		}
	}
	last := evs[len(evs)-1].Time
	for _, id := range slices.Sorted(maps.Keys(open)) {
		o := open[id]
		last = last.Add(time.Millisecond)
		evs = append(evs, &models.Event{SchemaVersion: o.SchemaVersion, ID: o.ID + "-end", Kind: models.KindSessionEnd, Time: last,
			AgentID: o.AgentID, SessionID: id, RootAgentID: o.RootAgentID, ParentAgentID: o.ParentAgentID, Principal: o.Principal, Step: o.Step + 1})
	}
	span := evs[len(evs)-1].Time.Sub(evs[0].Time) + time.Minute
	// The inventory: base specs labelled once (so the engine needs no
	// labelled copy), then one renamed spec per agent and copy sharing
	// their tool slices.
	baseInv := toolcap.LabelInventory(fl.Inventory())
	inv := &models.Inventory{Agents: make([]models.AgentSpec, 0, len(baseInv.Agents)*copies)}
	for k := range copies {
		for _, a := range baseInv.Agents {
			a.ID = renamed(a.ID, k)
			inv.Agents = append(inv.Agents, a)
		}
	}
	if err := inv.Index(); err != nil {
		b.Fatal(err)
	}
	agents := base * copies
	opts := detector.DefaultOptions()
	opts.Inventory = inv
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	eng := detector.New(opts)
	var out detector.Output
	start := time.Now()
	n := 0
	for k := range copies {
		names := map[string]string{}
		name := func(id string) string {
			if id == "" {
				return ""
			}
			v, ok := names[id]
			if !ok {
				v = renamed(id, k)
				names[id] = v
			}
			return v
		}
		shift := time.Duration(k) * span
		for _, src := range evs {
			ev := *src
			ev.ID = name(ev.ID)
			ev.Time = ev.Time.Add(shift)
			ev.AgentID, ev.RootAgentID, ev.ParentAgentID, ev.ChildAgentID = name(ev.AgentID), name(ev.RootAgentID), name(ev.ParentAgentID), name(ev.ChildAgentID)
			ev.SessionID, ev.ParentSessionID, ev.ChildSessionID = name(ev.SessionID), name(ev.ParentSessionID), name(ev.ChildSessionID)
			ev.CredentialID = name(ev.CredentialID)
			eng.Process(&ev, &out)
			out.Reset()
			n++
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := opts.MemoryBudget.Used()
	var evicted uint64
	for _, v := range eng.Stats().Evictions {
		evicted += v
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ev := *evs[i%len(evs)]
		ev.Time = ev.Time.Add(time.Duration(copies) * span)
		eng.Process(&ev, &out)
		out.Reset()
		i++
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(agents), "B/agent")
	b.ReportMetric(float64(evicted)/float64(agents), "evicted/agent")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "warm-events/s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(opts.MemoryBudget.Bytes())/(1<<20), "budget-MiB")
	b.ReportMetric(float64(used)/float64(agents), "accounted-B/agent")
	runtime.KeepAlive(eng)
	runtime.KeepAlive(inv)
}

// renamed is id for copy k of BenchmarkStateMillion's fleet.
func renamed(id string, k int) string { return id + "~" + strconv.Itoa(k) }

// peakRSS returns the process's peak resident set in bytes (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
