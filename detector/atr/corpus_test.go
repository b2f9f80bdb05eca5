package atr

import (
	"os"
	"testing"
)

// TestCorpus loads the fetched ATR corpus (ATR_DIR, from
// bench/atr/setup.sh) and logs the lane sizes and the rules derived from
// benchmark corpora; skipped without it.
func TestCorpus(t *testing.T) {
	dir := os.Getenv("ATR_DIR")
	if dir == "" {
		t.Skip("ATR_DIR not set (bench/atr/setup.sh)")
	}
	rs, st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, lane := range []string{"stable", "test", "all"} {
		n, dojo, asb := 0, 0, 0
		for _, r := range rs {
			if r.InLane(lane) {
				n++
				if r.DerivedFrom("agentdojo") {
					dojo++
				}
				if r.DerivedFrom("agent security bench", "agent-security-bench") {
					asb++
				}
			}
		}
		t.Logf("lane %s: %d rules, %d name AgentDojo, %d name Agent Security Bench", lane, n, dojo, asb)
	}
	if st.Loaded == 0 {
		t.Error("no rule loaded")
	}
}
