package values_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/values"
)

// benchTexts: 64 KiB of prose (value-sparse: a link and an e-mail address
// every ~4 KiB), the same prose with them every ~400 bytes (links), and
// AgentDojo-style transaction records (value-dense).
func benchTexts() []struct{ name, text string } {
	const size = 64 << 10
	words := []string{"The", "quarterly", "review", "moved", "to", "next", "week,", "and", "the", "team", "asked",
		"whether", "budget", "figures", "for", "the", "project", "could", "be", "shared", "before", "Friday.",
		"Please", "bring", "your", "notes", "and", "the", "draft", "of", "the", "customer", "summary."}
	prose := func(every int) string {
		var b strings.Builder
		for k := 0; b.Len() < size; k++ {
			b.WriteString(words[(k*7+k/3)%len(words)])
			b.WriteByte(' ')
			if k%every == every-1 {
				fmt.Fprintf(&b, "See https://docs.example.com/d/%d or write to planning%d@example.com. ", k, k)
			}
		}
		return b.String()[:size]
	}
	var dense strings.Builder
	for k := 0; dense.Len() < size; k++ {
		fmt.Fprintf(&dense, "- amount: %d.0\n  date: '2022-01-%02d'\n  recipient: CH93007620116238529%02d\n  sender: person%d@corp-mail.com\n  subject: Order ORD-%06d, call +1-555-010-%04d\n", 100+k, 1+k%28, k%100, k, k, k%10000)
	}
	return []struct{ name, text string }{{"prose", prose(600)}, {"links", prose(60)}, {"records", dense.String()[:size]}}
}

// BenchmarkExtract measures Extract in steady state (the arena reused, as
// the flow detector does per event) on 64 KiB texts: MB/s, and
// instructions per byte with bench/instructions.sh ./detector/values
// 'Extract/prose' N divided by 65,536.
func BenchmarkExtract(b *testing.B) {
	for _, tc := range benchTexts() {
		b.Run(tc.name, func(b *testing.B) {
			var arena []byte
			n := 0
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			for b.Loop() {
				arena = arena[:0]
				values.Extract(tc.text, 0, &arena, func(string, values.Class, int) { n++ })
			}
			b.ReportMetric(float64(n)/float64(b.N), "values/op")
		})
	}
}

// BenchmarkFields measures Fields on the same texts, one line at a time
// (the values outputs classifies are lines or parts of them).
func BenchmarkFields(b *testing.B) {
	for _, tc := range benchTexts() {
		lines := strings.Split(tc.text, "\n")
		b.Run(tc.name, func(b *testing.B) {
			var s values.Set
			b.SetBytes(int64(len(tc.text)))
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
	for _, tc := range benchTexts() {
		lines := strings.Split(tc.text, "\n")
		b.Run(tc.name, func(b *testing.B) {
			var s oClassSet
			b.SetBytes(int64(len(tc.text)))
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
