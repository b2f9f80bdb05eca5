package memstore

import (
	"context"
	"testing"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/sink"
)

// BenchmarkWrite measures the console store's cost on the daemon's hot
// path: batches of 2,000 simulated fleet events (24 agents), under the
// default bounds, reported per event. Run it with -benchtime 100x: 100
// distinct batches are prepared, and more iterations would replay them
// (the cheaper de-duplication path).
//
//	go test -run XXX -bench BenchmarkWrite -benchtime 100x ./sink/memstore
func BenchmarkWrite(b *testing.B) {
	fo := fleet.DefaultOptions()
	fo.Agents = 24
	fl := fleet.New(fo)
	o := DefaultOptions()
	o.Inventory = fl.Inventory()
	s := New(o)
	const batch = 2000
	batches := make([]*sink.Batch, 100)
	for i := range batches {
		batches[i] = &sink.Batch{Events: fl.Take(batch)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = s.Write(context.Background(), batches[i%len(batches)])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*batch), "ns/event")
	st := s.Stats()
	b.ReportMetric(float64(st.EventBytes)/(1<<20), "MiB-events-kept")
}
