package values_test

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/internal/benchtext"
	"github.com/tetherhq/tether/detector/values"
)

// BenchmarkExtract measures Extract in steady state (the arena reused, as
// the flow detector does per event) on 64 KiB texts: MB/s, and
// instructions per byte with bench/instructions.sh ./detector/values
// 'Extract/prose' N divided by 65,536.
func BenchmarkExtract(b *testing.B) {
	for _, tc := range benchtext.Texts() {
		b.Run(tc.Name, func(b *testing.B) {
			var arena []byte
			n := 0
			b.SetBytes(int64(len(tc.Text)))
			b.ReportAllocs()
			for b.Loop() {
				arena = arena[:0]
				values.Extract(tc.Text, 0, &arena, func(string, values.Class, int) { n++ })
			}
			b.ReportMetric(float64(n)/float64(b.N), "values/op")
		})
	}
}

// BenchmarkFields measures Fields on the same texts, one line at a time
// (the values outputs classifies are lines or parts of them).
func BenchmarkFields(b *testing.B) {
	for _, tc := range benchtext.Texts() {
		lines := strings.Split(tc.Text, "\n")
		b.Run(tc.Name, func(b *testing.B) {
			var s values.Set
			b.SetBytes(int64(len(tc.Text)))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					s |= values.Fields(l)
				}
			}
			if s == 0 {
				b.Fatal("no class found")
			}
		})
	}
}

// BenchmarkFieldsLegacy is BenchmarkFields with outputs' classify as it was
// before detector/values (legacy_test.go), for comparison.
func BenchmarkFieldsLegacy(b *testing.B) {
	for _, tc := range benchtext.Texts() {
		lines := strings.Split(tc.Text, "\n")
		b.Run(tc.Name, func(b *testing.B) {
			var s oClassSet
			b.SetBytes(int64(len(tc.Text)))
			for b.Loop() {
				for _, l := range lines {
					s |= oClassify(l)
				}
			}
			if s == 0 {
				b.Fatal("no class found")
			}
		})
	}
}
