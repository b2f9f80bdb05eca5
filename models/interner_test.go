package models

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// internAll interns every value once as one record would, returning the
// strings handed out.
func internAll(in *interner, vals [][]byte) []string {
	c := internCtx{t: in.table()}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = c.intern(v).s
	}
	in.account(&c)
	return out
}

func idValues(n int) [][]byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = fmt.Appendf(nil, "agent-%06d-0b1f6c2e", i)
	}
	return vals
}

func TestInternerGrowsWithWorkingSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ids      int
		minSlots int // the table must reach at least this size
		maxSlots int // and not exceed this one
	}{
		{"fits the first table", 500, internMinSlots, internMinSlots},
		{"ten thousand ids", 10_000, 16_384, 32_768},
		{"beyond the cap", 300_000, internMaxSlots, internMaxSlots},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.ids > 100_000 {
				t.Skip("about two million lookups to reach the cap")
			}
			var in interner
			vals := idValues(tc.ids)
			for range 6 { // a cycle over the working set, as a fleet's records are
				for i := 0; i < len(vals); i += 8 {
					got := internAll(&in, vals[i:min(i+8, len(vals))])
					for k, s := range got {
						if s != string(vals[i+k]) {
							t.Fatalf("interned %q as %q", vals[i+k], s)
						}
					}
				}
			}
			if n := len(in.table().slots); n < tc.minSlots || n > tc.maxSlots {
				t.Errorf("table has %d slots, want %d..%d", n, tc.minSlots, tc.maxSlots)
			}
		})
	}
}

func TestInternerNoAllocationsOnceWarm(t *testing.T) {
	var in interner
	vals := idValues(20_000)
	for range 40 { // long enough for every growth window to close
		for i := 0; i < len(vals); i += 8 {
			internAll(&in, vals[i:i+8])
		}
	}
	c := internCtx{t: in.table()}
	misses := 0
	allocs := testing.AllocsPerRun(10, func() {
		for _, v := range vals {
			c.intern(v)
		}
	})
	misses = int(c.misses)
	// Four slots per set: a few sets still hold more values than slots.
	if frac := float64(misses) / float64(c.lookups); frac > 0.02 {
		t.Errorf("%.1f %% of lookups missed a warm table of %d slots for %d ids", 100*frac, len(in.table().slots), len(vals))
	}
	// A miss allocates the string and its slot's pointer target.
	if perValue := allocs / float64(len(vals)); perValue > 0.04 {
		t.Errorf("%.3f allocations per interned value once warm", perValue)
	}
}

// TestInternerConcurrent runs lookups and growth from several goroutines
// (the consumer shares one Decoder between partitions); run with -race.
func TestInternerConcurrent(t *testing.T) {
	var in interner
	vals := idValues(30_000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for r := range 6 {
				for i := (g * 997 * (r + 1)) % len(vals); i+8 <= len(vals); i += 8 {
					for k, s := range internAll(&in, vals[i:i+8]) {
						if s != string(vals[i+k]) {
							t.Errorf("interned %q as %q", vals[i+k], s)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestInternedValidityMatchesRules: the flags an interned value carries
// agree with checkID and checkName, which Decode then skips for it.
func TestInternedValidityMatchesRules(t *testing.T) {
	var in interner
	for _, v := range []string{"agent-1", "a b", "tab\x7fdel", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}", "x", " lead", "trail ", "Model 4 (preview)"} {
		c := internCtx{t: in.table()}
		for round := range 2 { // a miss, then a hit
			e := c.intern([]byte(v))
			if want := checkID("f", v, "") == nil; e.id != want {
				t.Errorf("%q (round %d): id flag %v, checkID says %v", v, round, e.id, want)
			}
			if want := checkName("f", v, "") == nil; e.name != want {
				t.Errorf("%q (round %d): name flag %v, checkName says %v", v, round, e.name, want)
			}
		}
	}
}

// TestDecodeRefusesBadInternedIDs: a value refused as an id is refused
// every time it is decoded, also once the interner holds it.
func TestDecodeRefusesBadInternedIDs(t *testing.T) {
	d := NewDecoder(DefaultDecodeOptions())
	for _, tc := range []struct {
		field, value string
		ok           bool
	}{
		{"gen_ai.agent.id", "agent 7", false},
		{"gen_ai.agent.id", "agent\u007f7", false},
		{"gen_ai.agent.name", "Agent Seven", true},
		{"gen_ai.agent.name", "Agent\u007fSeven", false},
		{"tether.principal", "alice@example.com", true},
		{"tether.principal", "alice @example.com", false},
		{"gen_ai.request.model", "model\u007f", false},
	} {
		rec := fmt.Sprintf(`{"schema_version":1,"event_id":"e1","kind":"reasoning","time":"2026-03-02T00:00:00Z","gen_ai.agent.id":"a1","gen_ai.conversation.id":"s1","%s":"%s"}`, tc.field, tc.value)
		if tc.field == "gen_ai.agent.id" {
			rec = fmt.Sprintf(`{"schema_version":1,"event_id":"e1","kind":"reasoning","time":"2026-03-02T00:00:00Z","gen_ai.agent.id":"%s","gen_ai.conversation.id":"s1"}`, tc.value)
		}
		for round := range 3 { // the value is interned by the first
			_, err := d.Decode([]byte(rec), time.Time{})
			if (err == nil) != tc.ok {
				t.Errorf("%s=%q, decode %d: err %v, want ok=%v", tc.field, tc.value, round, err, tc.ok)
			}
		}
	}
}
