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
// state did not fit). The measured loop is one more event per iteration on
// the warm engine. The
// agent counts are TETHER_BENCH_STATE_AGENTS (comma separated; default
// 1000,10000,100000); TETHER_BENCH_STATE_HEAPPROFILE=FILE writes the warm
// engine's heap profile (the last sub-benchmark run wins).
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
	perAgent := (float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) - fleetBytes) / float64(agents)
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
	b.ReportMetric(float64(evicted)/float64(agents), "evicted/agent")
	runtime.KeepAlive(eng)
	runtime.KeepAlive(fl)
}
