package flow_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/flow"
)

// benchTexts are the extractor's benchmark inputs, 64 KiB each: prose
// (value-sparse: sentences of plain words, a link and an e-mail address
// every ~4 KiB), links (the same prose with them every ~400 bytes) and
// records (value-dense: AgentDojo-style transaction records, a value every
// ~40 bytes).
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

// BenchmarkExtract measures the value extractor alone on 64 KiB of text
// (MB/s; instructions per byte: bench/instructions.sh ./detector/flow
// 'Extract/prose' N, divided by 65,536).
func BenchmarkExtract(b *testing.B) {
	for _, tc := range benchTexts() {
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			b.SetBytes(int64(len(tc.text)))
			b.ReportAllocs()
			for b.Loop() {
				flow.Extract(tc.text, 0, func(string, flow.Class) { n++ })
			}
			b.ReportMetric(float64(n)/float64(b.N), "values/op")
		})
	}
}
