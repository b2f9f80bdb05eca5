// Package bench_test holds Tether's end-to-end benchmarks over simulated
// fleet traffic.
package bench_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/ingest/agentdojo"
	"github.com/tetherhq/tether/models"
)

// BenchmarkFleetPipeline measures events per second through one
// detector.Engine (all default detectors and the containment policy) fed
// with fleet traffic, by fleet size. Events are generated in chunks with the
// timer stopped, so only detection is measured; the fleet's rogue agents
// make the engine raise findings and commands as in production.
func BenchmarkFleetPipeline(b *testing.B) {
	const chunk = 8192
	for _, agents := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			fl := fleet.New(fleet.Options{Agents: agents, Rogue: max(1, agents/10), Seed: 1,
				Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
			opts := detector.DefaultOptions()
			opts.Inventory = fl.Inventory()
			eng := detector.New(opts)
			var out detector.Output
			// Warm the engine up so every agent has state: the steady state
			// is what a long-running consumer sees.
			for _, ev := range fl.Take(agents * 200) {
				eng.Process(ev, &out)
				out.Reset()
			}
			evs := make([]*models.Event, chunk)
			findings := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				if i%chunk == 0 {
					b.StopTimer()
					for j := range evs {
						evs[j] = fl.Next()
					}
					b.StartTimer()
				}
				eng.Process(evs[i%chunk], &out)
				findings += len(out.Findings)
				out.Reset()
				i++
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(findings)/float64(b.N)*1e6, "findings/Mevent")
		})
	}
}

// BenchmarkRecordPath measures the consumer's per-record hot path without
// the broker: decode and validate the record bytes (models.Decoder), then
// run every default detector (detector.Engine), on fleet events marshalled
// up front. Sub-benchmarks scale the fleet (agents=…: the engine is warmed
// up with 10 events per agent, and the measured records cycle over
// every agent; B/agent is the retained heap per agent after the warm-up)
// and the size of tool-call arguments (argbytes=…, 1k agents). agents=1M
// needs more than 16 GB of memory (the fleet generator scripts every
// agent's session ahead, about 15 KB per agent, and B/agent includes it;
// BenchmarkStateMillion measures a million agents' state alone) and runs
// only with TETHER_BENCH_1M=1.
func BenchmarkRecordPath(b *testing.B) {
	const warmPerAgent = 10 // warm-up events per agent: about one session
	for _, tc := range []struct {
		name     string
		agents   int
		argBytes int
	}{
		{"agents=10", 10, 0},
		{"agents=1k", 1000, 0},
		{"agents=10k", 10_000, 0},
		{"agents=100k", 100_000, 0},
		{"agents=1M", 1_000_000, 0},
		{"argbytes=100", 1000, 100},
		{"argbytes=10k", 1000, 10_000},
		{"argbytes=100k", 1000, 100_000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.agents >= 1_000_000 && os.Getenv("TETHER_BENCH_1M") == "" {
				b.Skip("agents=1M needs more than 16 GB of memory: set TETHER_BENCH_1M=1 to run it")
			}
			fl := fleet.New(fleet.Options{Agents: tc.agents, Rogue: max(1, tc.agents/10), Seed: 2,
				Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
			// Enough records that every agent appears in the measured
			// cycle (events interleave across agents in event time).
			n := max(16384, 4*tc.agents)
			if tc.argBytes > 0 {
				n = 4096
			}
			// The measured records come after the warm-up in event time.
			warm := fleet.New(fleet.Options{Agents: tc.agents, Rogue: max(1, tc.agents/10), Seed: 2,
				Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
			for range warmPerAgent * tc.agents {
				fl.Next()
			}
			recs := make([][]byte, n)
			for i := range recs {
				ev := fl.Next()
				if tc.argBytes > 0 && ev.Kind == models.KindToolCall {
					ev.Arguments = sizedArguments(tc.argBytes, i)
				}
				r, err := json.Marshal(ev)
				if err != nil {
					b.Fatal(err)
				}
				recs[i] = r
			}
			runRecordPath(b, fl.Inventory(), warm.Next, warmPerAgent*tc.agents, recs, tc.agents)
		})
	}
}

// BenchmarkRecordPathAgentDojo is BenchmarkRecordPath on the AgentDojo
// runs (../shared/datasets/agentdojo, or TETHER_AGENTDOJO), converted as
// `tether import agentdojo` does: long tool results, injected
// instructions. It is skipped when the data set is absent.
func BenchmarkRecordPathAgentDojo(b *testing.B) {
	dir := "../../shared/datasets/agentdojo"
	if v := os.Getenv("TETHER_AGENTDOJO"); v != "" {
		dir = v
	}
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("AgentDojo data set not found at %s (set TETHER_AGENTDOJO): %v", filepath.Clean(dir), err)
	}
	im := agentdojo.New(agentdojo.DefaultOptions())
	if err := im.AddPath(dir); err != nil {
		b.Fatal(err)
	}
	res, err := im.Convert()
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, len(res.Events))
	for i := range res.Events {
		if recs[i], err = json.Marshal(&res.Events[i]); err != nil {
			b.Fatal(err)
		}
	}
	runRecordPath(b, res.Inventory, nil, 0, recs, 0)
}

// runRecordPath warms an engine up with nWarm events from warm (generated
// one at a time, so that only the engine's state stays on the heap), then
// decodes and judges recs in a cycle, reporting events/s (and B/agent, the
// heap retained per agent by the warm engine, when agents > 0).
func runRecordPath(b *testing.B, inv *models.Inventory, warm func() *models.Event, nWarm int, recs [][]byte, agents int) {
	opts := detector.DefaultOptions()
	opts.Inventory = inv
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	eng := detector.New(opts)
	var out detector.Output
	for range nWarm {
		eng.Process(warm(), &out)
		out.Reset()
	}
	perAgent := 0.0
	if agents > 0 {
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		perAgent = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(agents)
	}
	runtime.KeepAlive(warm) // its state is in both readings
	var bytes int
	for _, r := range recs {
		bytes += len(r)
	}
	dec := models.NewDecoder(models.DefaultDecodeOptions())
	// The decoder's id table warms up too (the engine's warm-up events
	// do not go through it): a long-running consumer has seen the ids.
	for _, r := range recs {
		if _, err := dec.Decode(r, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(bytes / len(recs)))
	i := measureRecordPath(b, dec, eng, recs)
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
	if agents > 0 {
		b.ReportMetric(perAgent, "B/agent")
	}
	runtime.KeepAlive(eng)
}

// measureRecordPath is the measured loop of runRecordPath: decode and
// judge recs in a cycle, returning the number of records. It is a
// function of its own so that a profiler can count it alone (callgrind
// --toggle-collect='*measureRecordPath*', bench/README.md).
//
//go:noinline
func measureRecordPath(b *testing.B, dec *models.Decoder, eng *detector.Engine, recs [][]byte) int {
	var out detector.Output
	n := len(recs)
	i := 0
	for b.Loop() {
		ev, err := dec.Decode(recs[i%n], time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		eng.Process(ev, &out)
		out.Reset()
		i++
	}
	return i
}

// sizedArguments returns a JSON object of about n bytes of prose-like
// text: what a large tool call (a document, an e-mail body) carries.
func sizedArguments(n, seed int) json.RawMessage {
	words := []string{"quarterly", "report", "customer", "account", "summary", "ledger", "invoice",
		"meeting", "notes", "review", "draft", "status", "update", "project", "team", "budget"}
	var sb strings.Builder
	sb.WriteString(`{"to":"ops-team","body":"`)
	for k := seed; sb.Len() < n-2; k++ {
		sb.WriteString(words[(k*7+k/3)%len(words)])
		sb.WriteByte(' ')
	}
	sb.WriteString(`"}`)
	return json.RawMessage(sb.String())
}
