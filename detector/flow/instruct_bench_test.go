package flow_test

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/flow"
)

// BenchmarkInstructionScore scans a 4 KiB tool result with a few cues
// (the instruction-cue lexicon's hot path).
func BenchmarkInstructionScore(b *testing.B) {
	para := "Hi team, the quarterly report is attached. Please send the figures to finance before Friday; " +
		"the assistant should not change anything else. Thanks, and see you on behalf of the board. "
	text := strings.Repeat(para, 4096/len(para)+1)[:4096]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		flow.InstructionScore(text, -1)
	}
}
