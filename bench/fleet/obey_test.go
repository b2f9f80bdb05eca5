package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/control"
)

// TestRuntimeObeys drives fleet traffic through the runtime gate: after a
// lineage halt of a root agent neither it nor its worker emits anything;
// after require_approval another agent asks instead of calling a sink.
func TestRuntimeObeys(t *testing.T) {
	fl := New(Options{Agents: 12, Rogue: 0, Seed: 3, SpawnRate: 0.5, Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	state := control.NewState()
	rt := NewRuntime(state, fl.Inventory())
	ids := fl.AgentIDs()
	halted, gated := ids[0], ""
	// Warm up until the halted agent has spawned its worker and another
	// root agent has called a sink or destructive tool.
	worker := ""
	for range 200_000 {
		raw := fl.Next()
		ev, ok := rt.Gate(raw)
		if !ok {
			t.Fatalf("event %s stopped before any command", raw.ID)
		}
		if ev.Kind == models.KindAgentSpawn && ev.AgentID == halted {
			worker = ev.ChildAgentID
		}
		if gated == "" && ev.Kind == models.KindToolCall && ev.AgentID != halted && ev.AgentID == ev.Root() && rt.gated(ev) {
			gated = ev.AgentID
		}
		if worker != "" && gated != "" {
			break
		}
	}
	if worker == "" || gated == "" {
		t.Fatalf("no worker of %s (%q) or no agent calling a sink (%q) in the warm-up", halted, worker, gated)
	}
	state.Apply(models.ContainmentCommand{AgentID: halted, Action: models.ActionHaltLineage, Scope: models.ScopeLineage})
	state.Apply(models.ContainmentCommand{AgentID: gated, SessionID: "any", Action: models.ActionRequireApproval, Scope: models.ScopeSession})
	asked := 0
	for range 50_000 {
		ev, ok := rt.Gate(fl.Next())
		if !ok {
			continue
		}
		switch {
		case ev.Root() == halted:
			t.Fatalf("halted lineage of %s emitted %s by %s", halted, ev.Kind, ev.AgentID)
		case ev.AgentID == gated && ev.Kind == models.KindToolCall && rt.gated(ev):
			t.Fatalf("%s called %s without approval", gated, ev.ToolName)
		case ev.AgentID == gated && ev.Kind == models.KindMessage && strings.HasSuffix(ev.ID, "-approval"):
			asked++
		}
	}
	if rt.Stopped == 0 || asked == 0 || rt.ApprovalsAsked != asked {
		t.Fatalf("stopped %d, approvals asked %d (counted %d): the gate did not act", rt.Stopped, asked, rt.ApprovalsAsked)
	}
}
