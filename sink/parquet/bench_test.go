package parquet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// BenchmarkWrite writes a batch of 1,000 events, 100 findings and 10
// commands as three files (uncompressed, not fsynced): the row filling and
// Arrow/Parquet encoding of Write.
func BenchmarkWrite(b *testing.B) {
	batch := &sink.Batch{}
	for i := range 1000 {
		batch.Events = append(batch.Events, &models.Event{SchemaVersion: 1, ID: fmt.Sprint("e", i), Kind: models.KindToolCall,
			Time: t0.Add(time.Duration(i) * time.Millisecond), AgentID: "a", SessionID: "s", Step: i, ToolName: "http.get",
			Arguments: []byte(`{"url":"https://example.org/x"}`), DataClasses: []string{"pii"}})
	}
	for i := range 100 {
		batch.Findings = append(batch.Findings, finding(i, models.Feature{Name: "z", Observed: 1}))
	}
	for i := range 10 {
		batch.Commands = append(batch.Commands, command(i))
	}
	w, err := New(Options{Dir: b.TempDir(), Commands: true, Events: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch.Events))/b.Elapsed().Seconds(), "events/s")
}
