package baseline

import (
	"fmt"

	"github.com/tetherhq/tether/models"
)

// RequestOracle is what the baseline detector reads of the user's request:
// whether the request of ev's session asks for the kind of action ev's tool
// performs. The flow detector implements it (flow.Detector.Requested) and
// the engine links the two when both run; it is asked about first uses of
// a tool only.
type RequestOracle interface {
	Requested(ev *models.Event) bool
}

// SetRequestOracle links the user-request judgement (nil: none).
func (d *Detector) SetRequestOracle(r RequestOracle) { d.requests = r }

// requestedCap lowers a new_tool finding of a declared tool to
// Options.RequestedNewToolSeverity when the user's request asks for the
// tool's kind of action: the agent's history grows as the user asked, which
// is recorded, not a deviation. An undeclared tool (or an unregistered
// agent's) keeps its severity: nothing vouches for it.
func (d *Detector) requestedCap(f *models.Finding, ev *models.Event, agent *models.AgentSpec) {
	if d.requests == nil || d.opts.RequestedNewToolSeverity == 0 || agent == nil || agent.Tool(ev.ToolName) == nil ||
		f.Severity <= d.opts.RequestedNewToolSeverity || !d.requests.Requested(ev) {
		return
	}
	f.Severity = d.opts.RequestedNewToolSeverity
	f.Explanation += fmt.Sprintf("; the user's request asks for this kind of action: recorded at %d, not a deviation", f.Severity)
}
