package main

import (
	"strings"
	"testing"
	"time"
)

// TestFloodSmall runs a small flood under a small budget: the state is
// evicted (counted), the unregistered agents are aggregated into one burst
// finding per window, and commands stay few.
func TestFloodSmall(t *testing.T) {
	r := run(config{agents: 5000, events: 3, span: 30 * time.Second, partitions: 2, budget: 4 << 20})
	if r.events != 5000*3+2 || r.partitions != 2 || r.budget != 4<<20 {
		t.Fatalf("ran %d events on %d engines with budget %d", r.events, r.partitions, r.budget)
	}
	individual, bursts := r.findings["identity/unregistered_agent"], r.findings["identity/unregistered_agent_burst"]
	// 20 individually per engine and window; the agent that closes the
	// window is evicted by then and reported again.
	if individual > 2*21 || bursts != 2 {
		t.Errorf("%d unregistered_agent and %d burst findings, want ≤ 42 and 2", individual, bursts)
	}
	if r.commands > individual+bursts {
		t.Errorf("%d commands for %d findings", r.commands, individual+bursts)
	}
	for _, d := range []string{"identity", "baseline", "profile"} {
		if r.stats.Evictions[d] == 0 {
			t.Errorf("no %s evictions under a 4 MiB budget: %v", d, r.stats.Evictions)
		}
	}
	var b strings.Builder
	report(&b, config{agents: 5000}, r)
	for _, want := range []string{"peak RSS", "identity/unregistered_agent_burst", "evictions: baseline="} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "2GiB": 2 << 30, "4096": 4096, "1KiB": 1024} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1MiB", "0"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}
