package risk_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/risk"
)

// TestFleetEgress runs the simulated fleet (100 agents, 10 going rogue and
// sending bulk reads to outside destinations) through the default engine:
// the risk detector's new_egress at full severity must point at the rogue
// agents and hardly ever at benign ones.
func TestFleetEgress(t *testing.T) {
	o := fleet.DefaultOptions()
	o.Agents, o.Rogue = 100, 10
	o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := fleet.New(o)
	eo := detector.DefaultOptions()
	eo.Inventory = f.Inventory()
	e := detector.New(eo)
	rogues := f.Rogues()
	var out detector.Output
	benign, rogue := 0, 0
	for range 200_000 {
		out.Reset()
		e.Process(f.Next(), &out)
		for _, fd := range out.Findings {
			if fd.Detector != risk.Name || fd.Kind != risk.KindNewEgress || fd.Severity < risk.SevEgress {
				continue
			}
			if slices.Contains(rogues, fd.RootAgentID) {
				rogue++
			} else {
				benign++
				t.Logf("benign: %s", fd.Explanation)
			}
		}
	}
	t.Logf("new_egress at %d: %d on rogue agents, %d on benign agents", risk.SevEgress, rogue, benign)
	if rogue < 5 || benign*5 > rogue {
		t.Errorf("new_egress: %d rogue, %d benign findings; want rogue ≥ 5 and ≥ 5× benign", rogue, benign)
	}
}
