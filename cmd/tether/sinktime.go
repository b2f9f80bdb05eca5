package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/control"
	"github.com/tetherhq/tether/sink/memstore"
	"github.com/tetherhq/tether/sink/ocsf"
	"github.com/tetherhq/tether/sink/parquet"
)

// sinkSeconds is tether_sink_write_seconds: how long each sink of the
// daemon's chain takes per write, for the urgent part of a batch (its
// containment commands and the findings they name) and for the bulk.
func sinkSeconds() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tether_sink_write_seconds",
		Help: "Time one sink of the chain takes to make a write durable, by sink and part (urgent: containment commands and the findings they name; bulk: the rest of a batch).",
		// 100 µs .. ~13 s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"sink", "part"})
}

// consumerChain wraps each writer of m for the consumer: its writes are
// observed in h, and it takes the role (sink.Store or sink.Publish) its
// kind has in the command journal's phases.
func consumerChain(m sink.Multi, h *prometheus.HistogramVec) sink.Multi {
	out := make(sink.Multi, len(m))
	for i, w := range m {
		name := sinkName(w)
		role := sink.Publish
		switch name {
		case "clickhouse", "parquet", "security_lake", "console":
			role = sink.Store
		}
		out[i] = sink.InRole{Role: role, W: timedWriter{w: w, urgent: h.WithLabelValues(name, "urgent"), bulk: h.WithLabelValues(name, "bulk")}}
	}
	return out
}

// sinkName is the sink label of w.
func sinkName(w sink.Writer) string {
	if _, ok := clickHouseOf(w); ok {
		return "clickhouse"
	}
	switch w.(type) {
	case *parquet.Writer:
		return "parquet"
	case *ocsf.LakeWriter:
		return "security_lake"
	case *ocsf.Publisher:
		return "ocsf_topic"
	case *control.Publisher:
		return "control"
	case *control.Recorder:
		return "recorder"
	case *memstore.Store:
		return "console"
	}
	return fmt.Sprintf("%T", w)
}

// timedWriter observes the duration of each successful write of w: as
// urgent when it publishes commands (their early write), else as bulk
// (the writer's, including the stores' copy of journaled commands).
type timedWriter struct {
	w            sink.Writer
	urgent, bulk prometheus.Observer
}

// Write implements sink.Writer.
func (t timedWriter) Write(ctx context.Context, b *sink.Batch) error {
	start := time.Now()
	if err := t.w.Write(ctx, b); err != nil {
		return err
	}
	if len(b.Commands) > 0 && sink.PhaseOf(ctx) != sink.PhaseStore {
		t.urgent.Observe(time.Since(start).Seconds())
	} else {
		t.bulk.Observe(time.Since(start).Seconds())
	}
	return nil
}
