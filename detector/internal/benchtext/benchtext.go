// Package benchtext holds the inputs of the value-scanning benchmarks
// (detector/values and detector/flow), so both measure the same texts.
package benchtext

import (
	"fmt"
	"strings"
)

// Size is the length of every text Texts returns: 64 KiB.
const Size = 64 << 10

// Text is one named benchmark input.
type Text struct {
	Name, Text string
}

// Texts returns the benchmark inputs, Size bytes each: prose
// (value-sparse: sentences of plain words, a link and an e-mail address
// every ~4 KiB), links (the same prose with them every ~400 bytes) and
// records (value-dense: AgentDojo-style transaction records, a value every
// ~40 bytes).
func Texts() []Text {
	words := []string{"The", "quarterly", "review", "moved", "to", "next", "week,", "and", "the", "team", "asked",
		"whether", "budget", "figures", "for", "the", "project", "could", "be", "shared", "before", "Friday.",
		"Please", "bring", "your", "notes", "and", "the", "draft", "of", "the", "customer", "summary."}
	prose := func(every int) string {
		var b strings.Builder
		for k := 0; b.Len() < Size; k++ {
			b.WriteString(words[(k*7+k/3)%len(words)])
			b.WriteByte(' ')
			if k%every == every-1 {
				fmt.Fprintf(&b, "See https://docs.example.com/d/%d or write to planning%d@example.com. ", k, k)
			}
		}
		return b.String()[:Size]
	}
	var dense strings.Builder
	for k := 0; dense.Len() < Size; k++ {
		fmt.Fprintf(&dense, "- amount: %d.0\n  date: '2022-01-%02d'\n  recipient: CH93007620116238529%02d\n  sender: person%d@corp-mail.com\n  subject: Order ORD-%06d, call +1-555-010-%04d\n", 100+k, 1+k%28, k%100, k, k, k%10000)
	}
	return []Text{{"prose", prose(600)}, {"links", prose(60)}, {"records", dense.String()[:Size]}}
}
