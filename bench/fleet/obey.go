package fleet

import (
	"fmt"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/control"
)

// Runtime is the agents' side of containment: the gate an agent runtime
// puts in front of every action, consulting the control.State that the
// sink/control consumer library keeps up to date. A halted agent (or a
// sub-agent of a halted lineage), a suspended session or a revoked
// credential emits nothing more; an agent that must ask for approval (after
// require_approval or a demotion) asks instead of calling a sink or
// destructive tool. Not safe for concurrent use (the State is).
type Runtime struct {
	state *control.State
	inv   *models.Inventory
	// dropped tool calls whose results must not appear either
	dropped map[string]struct{}
	// Counters of what the gate did.
	Passed, Stopped, ApprovalsAsked int
}

// NewRuntime returns a gate over state for the agents of inv.
func NewRuntime(state *control.State, inv *models.Inventory) *Runtime {
	return &Runtime{state: state, inv: inv, dropped: map[string]struct{}{}}
}

// Gate decides what the agent actually does instead of ev: ev itself, a
// replacement (an approval request instead of a gated call), or nothing
// (ok false) when containment stopped it.
func (r *Runtime) Gate(ev *models.Event) (*models.Event, bool) {
	if ev.Kind == models.KindAgentSpawn {
		r.state.Spawned(ev.AgentID, ev.ChildAgentID)
	}
	if ev.ToolCallID != "" {
		if _, ok := r.dropped[ev.ToolCallID]; ok && ev.Kind == models.KindToolResult {
			delete(r.dropped, ev.ToolCallID)
			return nil, false
		}
	}
	if r.state.Stopped(ev.AgentID, ev.SessionID) || (ev.CredentialID != "" && r.state.Revoked(ev.CredentialID)) {
		r.Stopped++
		if ev.Kind == models.KindToolCall {
			r.dropped[ev.ToolCallID] = struct{}{}
		}
		return nil, false
	}
	if ev.Kind == models.KindToolCall && r.state.NeedsApproval(ev.AgentID) && r.gated(ev) {
		r.dropped[ev.ToolCallID] = struct{}{}
		r.ApprovalsAsked++
		ask := *ev
		ask.ID = ev.ID + "-approval"
		ask.Kind, ask.Operation, ask.Role = models.KindMessage, "", models.RoleAssistant
		ask.ToolName, ask.ToolCallID, ask.Arguments, ask.Destination, ask.Bytes, ask.Resource, ask.DataClasses = "", "", nil, "", 0, "", nil
		ask.Content = fmt.Sprintf("Requesting human approval before calling %s (containment: approval required).", ev.ToolName)
		if err := validator.Validate(&ask, ev.Time); err != nil {
			panic(fmt.Sprintf("fleet: approval request is invalid: %v", err)) // a bug in the gate
		}
		return &ask, true
	}
	r.Passed++
	return ev, true
}

// gated reports whether ev calls a sink or destructive tool.
func (r *Runtime) gated(ev *models.Event) bool {
	if ev.Destination != "" {
		return true
	}
	if spec := r.inv.Agent(ev.AgentID); spec != nil {
		if t := spec.Tool(ev.ToolName); t != nil {
			return t.Has(models.LabelPublicSink) || t.Has(models.LabelDestructive)
		}
	}
	return false
}
