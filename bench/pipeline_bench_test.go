// Package bench_test holds Tether's end-to-end benchmarks over simulated
// fleet traffic.
package bench_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
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
// run every default detector (detector.Engine). Records are fleet events
// marshalled up front; sub-benchmarks by fleet size.
func BenchmarkRecordPath(b *testing.B) {
	const n = 16384
	for _, agents := range []int{10, 1000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			fl := fleet.New(fleet.Options{Agents: agents, Rogue: max(1, agents/10), Seed: 2,
				Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
			opts := detector.DefaultOptions()
			opts.Inventory = fl.Inventory()
			eng := detector.New(opts)
			dec := models.NewDecoder(models.DefaultDecodeOptions())
			recs := make([][]byte, n)
			var bytes int
			for i := range recs {
				r, err := json.Marshal(fl.Next())
				if err != nil {
					b.Fatal(err)
				}
				recs[i] = r
				bytes += len(r)
			}
			var out detector.Output
			i := 0
			b.ReportAllocs()
			b.SetBytes(int64(bytes / n))
			for b.Loop() {
				ev, err := dec.Decode(recs[i%n], time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				eng.Process(ev, &out)
				out.Reset()
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
