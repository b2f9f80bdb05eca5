package flow_test

import (
	"testing"

	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/internal/benchtext"
)

// BenchmarkExtract measures the value extractor alone on 64 KiB of text
// (MB/s; instructions per byte: bench/instructions.sh ./detector/flow
// 'Extract/prose' N, divided by 65,536).
func BenchmarkExtract(b *testing.B) {
	for _, tc := range benchtext.Texts() {
		b.Run(tc.Name, func(b *testing.B) {
			n := 0
			b.SetBytes(int64(len(tc.Text)))
			b.ReportAllocs()
			for b.Loop() {
				flow.Extract(tc.Text, 0, func(string, flow.Class) { n++ })
			}
			b.ReportMetric(float64(n)/float64(b.N), "values/op")
		})
	}
}
