package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector"
)

// BenchmarkFlood measures one engine (default options and budget) under a
// flood of unregistered agents, one op = one new agent's session_start and
// tool call. It reports the heap retained after the flood (the detector
// state, bounded by the caps and the budget however long the flood), the
// findings per agent and the evictions per agent:
//
//	go test ./bench/flood -run '^$' -bench Flood -benchtime 400000x
func BenchmarkFlood(b *testing.B) {
	e := detector.New(detector.DefaultOptions())
	defer e.Close()
	var out detector.Output
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	findings, a := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		base := t0.Add(time.Duration(a) * 150 * time.Microsecond) // ≈ 6,700 new agents per second
		for i := range 2 {
			e.Process(floodEvent(a, i, base), &out)
			findings += len(out.Findings)
			out.Reset()
		}
		a++
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var evictions uint64
	for _, n := range e.Stats().Evictions {
		evictions += n
	}
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "retained-MiB")
	b.ReportMetric(float64(findings)/float64(b.N), "findings/agent")
	b.ReportMetric(float64(evictions)/float64(b.N), "evictions/agent")
}
