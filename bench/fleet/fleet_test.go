package fleet

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestDeterministic(t *testing.T) {
	tests := []struct {
		name      string
		a, b      int64
		wantEqual bool
	}{
		{"same seed", 7, 7, true},
		{"different seed", 7, 8, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa := New(Options{Agents: 8, Rogue: 2, Seed: tc.a, Start: start})
			fb := New(Options{Agents: 8, Rogue: 2, Seed: tc.b, Start: start})
			ja, _ := json.Marshal(fa.Take(2000))
			jb, _ := json.Marshal(fb.Take(2000))
			if got := string(ja) == string(jb); got != tc.wantEqual {
				t.Fatalf("streams equal = %v, want %v", got, tc.wantEqual)
			}
			if tc.wantEqual && !slices.Equal(fa.Rogues(), fb.Rogues()) {
				t.Fatalf("rogues differ: %v vs %v", fa.Rogues(), fb.Rogues())
			}
		})
	}
}

func TestEventsValidAndOrdered(t *testing.T) {
	f := New(Options{Agents: 12, Rogue: 3, Seed: 3, Start: start})
	dec := models.NewDecoder(models.DefaultDecodeOptions())
	seen := map[string]bool{}
	var prev time.Time
	for i, ev := range f.Take(20_000) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// Decode against the event's own time as the broker timestamp.
		got, err := dec.Decode(b, ev.Time)
		if err != nil {
			t.Fatalf("event %d does not decode: %v\n%s", i, err, b)
		}
		if seen[got.ID] {
			t.Fatalf("duplicate event id %s", got.ID)
		}
		seen[got.ID] = true
		if ev.Time.Before(prev) {
			t.Fatalf("event %d at %s is before the previous one at %s", i, ev.Time, prev)
		}
		prev = ev.Time
		if f.Inventory().Agent(ev.AgentID) == nil {
			t.Fatalf("event %d from agent %q which is not in the inventory", i, ev.AgentID)
		}
		if spec := f.Inventory().Agent(ev.AgentID); ev.ToolName != "" && spec.Tool(ev.ToolName) == nil {
			t.Fatalf("agent %s calls %s which is not in its manifest", ev.AgentID, ev.ToolName)
		}
		if string(ev.Key()) != ev.RootAgentID || f.Inventory().Agent(ev.RootAgentID) == nil {
			t.Fatalf("event %d has root %q", i, ev.RootAgentID)
		}
	}
}

func TestInventory(t *testing.T) {
	f := New(Options{Agents: 8, Rogue: 1, Seed: 1, Start: start})
	inv := f.Inventory()
	if got := len(inv.Agents); got != 16 {
		t.Fatalf("inventory has %d agents, want 8 roots + 8 workers", got)
	}
	labels := map[models.Label]bool{}
	for _, a := range inv.Agents {
		if a.Owner == "" || a.Purpose == "" || a.Autonomy.Rank() == 0 || len(a.Tools) == 0 {
			t.Errorf("agent %s is incompletely declared: %+v", a.ID, a)
		}
		for _, tool := range a.Tools {
			for _, l := range tool.Labels {
				labels[l] = true
			}
		}
	}
	// execution and money are newer labels the simulated catalogue does not
	// use (its payment tool predates them and keeps destructive).
	for _, l := range []models.Label{models.LabelPrivateData, models.LabelUntrustedContent, models.LabelPublicSink, models.LabelDestructive} {
		if !labels[l] {
			t.Errorf("no tool carries label %s", l)
		}
	}
	// The inventory round-trips through its YAML form.
	b, err := inv.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.ParseInventory(bytes.NewReader(b)); err != nil {
		t.Fatalf("inventory does not parse back: %v", err)
	}
}

// TestRogueBehaviour checks the ground truth: rogue agents only deviate
// after their warm-up, and then use granted tools their peers never use and
// act under an expired credential in some sessions; benign agents never do.
func TestRogueBehaviour(t *testing.T) {
	tests := []struct {
		name          string
		agents, rogue int
		seed          int64
	}{
		{"default-sized", 24, 3, 1},
		{"small", 4, 1, 42},
		{"all rogue", 4, 4, 5},
		{"none rogue", 6, 0, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New(Options{Agents: tc.agents, Rogue: tc.rogue, Seed: tc.seed, Start: start})
			if got := len(f.Rogues()); got != tc.rogue {
				t.Fatalf("%d rogues, want %d", got, tc.rogue)
			}
			type stats struct {
				expired, outside, destructive int
				firstDeviation                time.Time
			}
			per := map[string]*stats{}
			for _, ev := range f.Take(tc.agents * 600) {
				root := ev.Root()
				st := per[root]
				if st == nil {
					st = &stats{}
					per[root] = st
				}
				spec := f.Inventory().Agent(root)
				deviates := false
				if ev.CredentialExpiry != nil && ev.Time.After(*ev.CredentialExpiry) {
					st.expired++
					deviates = true
				}
				if ev.Kind == models.KindToolCall {
					tool := f.Inventory().Agent(ev.AgentID).Tool(ev.ToolName)
					if tool.Has(models.LabelDestructive) && ev.ToolName != "deploy.rollback" {
						st.destructive++
						deviates = true
					}
					if slices.Contains(outsideDestinations, ev.Destination) {
						st.outside++
						deviates = true
					}
				}
				if deviates && st.firstDeviation.IsZero() {
					st.firstDeviation = ev.Time
					if since, ok := f.RogueSince(root); !ok || ev.Time.Before(since) {
						t.Errorf("agent %s (%s) deviates at %s before going rogue (%v, %v)", root, spec.Purpose, ev.Time, since, ok)
					}
				}
			}
			for id, st := range per {
				rogue := f.IsRogue(id)
				deviated := st.expired+st.outside+st.destructive > 0
				if rogue != deviated {
					t.Errorf("agent %s rogue=%v but deviated=%v (%+v)", id, rogue, deviated, *st)
				}
			}
		})
	}
}
