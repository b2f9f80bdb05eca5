package clickhouse

import (
	"testing"
	"time"
)

// BenchmarkRows builds the insert values of one event, finding and
// command (the per-row work of Write before the driver encodes blocks).
func BenchmarkRows(b *testing.B) {
	batch := sample(time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.UTC))
	b.ReportAllocs()
	for b.Loop() {
		_ = EventRow(batch.Events[0], DefaultMaxTextBytes)
		_ = FindingRow(&batch.Findings[0])
		_ = CommandRow(&batch.Commands[0])
	}
}
