package bench_test

import (
	"fmt"
	"os"
	"runtime"
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
// compounder and containment policy with no detector, and "all", the default
// engine), an engine is warmed up with 10 fleet events per agent (about one
// session each), collected, and the retained heap divided by the agents is
// reported as B/agent, with the entries the memory budget evicted per agent
// (evicted/agent: non-zero means the state did not fit the default budget).
// The measured loop is one more event per iteration on the warm engine. The
// agent counts are TETHER_BENCH_STATE_AGENTS (comma separated; default
// 1000,10000,100000).
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
	names := []string{"all", "engine"}
	for _, r := range detector.Registry {
		names = append(names, r.Name)
	}
	for _, agents := range counts {
		for _, name := range names {
			b.Run(fmt.Sprintf("agents=%d/%s", agents, name), func(b *testing.B) {
				opts := detector.DefaultOptions()
				switch name {
				case "all":
				case "engine":
					opts.Detectors = nil
				default:
					for i, r := range detector.Registry {
						if r.Name == name {
							opts.Detectors = opts.Detectors[i : i+1]
						}
					}
				}
				measureState(b, opts, agents)
			})
		}
	}
}

// measureState warms an engine built from opts with 10 events for each of
// agents fleet agents and reports the retained heap per agent.
func measureState(b *testing.B, opts detector.Options, agents int) {
	const warmPerAgent = 10
	fo := fleet.Options{Agents: agents, Rogue: max(1, agents/10), Seed: 3,
		Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	fl := fleet.New(fo)
	opts.Inventory = fl.Inventory()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	eng := detector.New(opts)
	var out detector.Output
	for range warmPerAgent * agents {
		eng.Process(fl.Next(), &out)
		out.Reset()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perAgent := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(agents)
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
